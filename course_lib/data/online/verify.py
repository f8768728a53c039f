"""Whether a downloaded file is present and right: size and checksums, remembered in a stamp.

A 170 MB file is hashed once, not on every call: the stamp records the size and modification time
it was verified at. :func:`is_cached` and :func:`status` answer from it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

from course_lib import config
from course_lib.atomic import atomic_write_text
from course_lib.data.online.entries import ManifestEntry, entry, manifest
from course_lib.data.online.locations import local_path

_CHUNK = 1 << 20


def _expected(e: ManifestEntry) -> str:
    return ";".join(
        f"{k}={v}"
        for k, v in (
            ("size", e.size),
            ("sha256", e.sha256),
            ("md5", e.md5),
            ("prefix", e.sha256_prefix),
        )
        if v
    )


def _hash_file(path: Path, algorithms: Iterable[str]) -> dict[str, str]:
    """Hex digests of ``path`` for each algorithm, in one pass over the file."""
    hashers = {a: hashlib.new(a) for a in algorithms}
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            for h in hashers.values():
                h.update(chunk)
    return {a: h.hexdigest() for a, h in hashers.items()}


def _check_file(e: ManifestEntry, path: Path) -> str | None:
    """``None`` if ``path`` matches the entry's size and checksums, else what is wrong."""
    size = path.stat().st_size
    if e.size is not None and size != e.size:
        return f"size {size:,} bytes, expected {e.size:,}"
    algorithms = [a for a, v in (("sha256", e.sha256 or e.sha256_prefix), ("md5", e.md5)) if v]
    got = _hash_file(path, algorithms)
    if e.sha256 and got["sha256"] != e.sha256:
        return f"sha256 {got['sha256']}, expected {e.sha256}"
    if e.sha256_prefix and not got["sha256"].startswith(e.sha256_prefix):
        return f"sha256 {got['sha256']}, expected one starting with {e.sha256_prefix}"
    if e.md5 and got["md5"] != e.md5:
        return f"md5 {got['md5']}, expected {e.md5}"
    return None


def _stamp_path(e: ManifestEntry) -> Path:
    return config.cache_dir() / "downloads" / f"{e.name}.verified.json"


def _stamp_key(e: ManifestEntry, path: Path) -> dict[str, object]:
    st = path.stat()
    return {
        "path": str(path.resolve()),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "expected": _expected(e),
    }


def _write_stamp(e: ManifestEntry, path: Path) -> None:
    # Atomic with a temp of its own: processes checking the same file at once may all write it.
    atomic_write_text(_stamp_path(e), json.dumps(_stamp_key(e, path)))


def _verified(e: ManifestEntry, path: Path) -> bool:
    """True if ``path`` matches the entry; the answer is remembered until the file changes."""
    if not path.is_file():
        return False
    with contextlib.suppress(OSError, ValueError):
        if json.loads(_stamp_path(e).read_text()) == _stamp_key(e, path):
            return True
    if _check_file(e, path) is not None:
        return False
    _write_stamp(e, path)
    return True


def _extracted(e: ManifestEntry, path: Path) -> bool:
    return all((path.parent / rel).is_file() for rel in e.extracted)


def is_cached(name: str | ManifestEntry) -> bool:
    """True if the file of ``name`` is present, verified and (for archives) unpacked."""
    e = entry(name)
    path = local_path(e)
    return _verified(e, path) and (not e.extract or _extracted(e, path))


def status() -> list[dict[str, object]]:
    """One row per entry: name, size, cached, path, description (for ``course fetch --list``)."""
    return [
        {
            "name": e.name,
            "size": e.size,
            "cached": is_cached(e),
            "path": str(local_path(e)),
            "description": e.description,
        }
        for e in manifest()
    ]
