"""``fetch``: download a manifest entry, resuming, verified, renamed into place atomically."""

from __future__ import annotations

import contextlib
import http.client
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from course_lib import config
from course_lib.atomic import disk_error
from course_lib.data.online.entries import _MANIFEST, ManifestEntry, entry
from course_lib.data.online.locations import local_path
from course_lib.data.online.offline import _NETWORK_ERRORS, _offline_error, _reason, _resolves
from course_lib.data.online.unpack import _unpack
from course_lib.data.online.verify import (
    _CHUNK,
    _check_file,
    _extracted,
    _verified,
    _write_stamp,
    is_cached,
)
from course_lib.errors import DownloadError
from course_lib.locks import exclusive

DEFAULT_TIMEOUT = 30.0  # seconds of silence on the socket before a download counts as broken


def _lock(e: ManifestEntry) -> contextlib.AbstractContextManager[None]:
    """The entry's inter-process lock: one process downloads (and unpacks), the others wait."""
    target = config.cache_dir() / "downloads" / e.name
    return exclusive(target, what=f"the download {e.name!r}")


def _progress_bar(total: int | None, initial: int, desc: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    kwargs = dict(
        total=total,
        initial=initial,
        desc=desc,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        disable=not enabled,
    )
    try:
        return tqdm(**kwargs)
    except ImportError:  # a notebook without ipywidgets: fall back to the text bar
        from tqdm.std import tqdm as text_tqdm

        return text_tqdm(**kwargs)


def _open(e: ManifestEntry, offset: int, timeout: float) -> http.client.HTTPResponse:
    headers = {"User-Agent": "post-training-course (urllib)", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(e.url, headers=headers)
    return urllib.request.urlopen(request, timeout=timeout)  # the manifest's URLs only


def _download_part(e: ManifestEntry, part: Path, *, progress: bool, timeout: float) -> None:
    """Bring ``part`` to the full file, resuming with an HTTP Range request if it exists."""
    offset = part.stat().st_size if part.exists() else 0
    if e.size is not None and offset > e.size:
        part.unlink()
        offset = 0
    if e.size is not None and offset == e.size:
        return  # complete already; verification decides
    try:
        response = _open(e, offset, timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # our partial file does not fit the server's: start over
            part.unlink()
            return _download_part(e, part, progress=progress, timeout=timeout)
        raise DownloadError(
            f"Cannot download {e.name}: {e.url} answered HTTP {err.code} "
            f"{err.reason}. Check the URL in course_lib/data/online/entries.py."
        ) from None
    except _NETWORK_ERRORS as err:
        why = f"cannot reach the server ({_reason(err)})"
        raise _offline_error(e, local_path(e), why) from None
    with response:
        restart = False
        if not (offset and response.status == 206):
            offset = 0  # the server ignored Range (200): this body is the whole file
        elif not response.headers.get("Content-Range", "").startswith(f"bytes {offset}-"):
            restart = True  # a range we did not ask for: start over without Range
        if restart:
            part.unlink()
        else:
            _copy_body(e, response, part, offset, progress)
    if restart:
        _download_part(e, part, progress=progress, timeout=timeout)


def _copy_body(
    e: ManifestEntry, response: http.client.HTTPResponse, part: Path, offset: int, progress: bool
) -> None:
    """Append the response body to ``part`` (from scratch when ``offset`` is 0)."""
    length = response.headers.get("Content-Length")
    total = e.size or (offset + int(length) if length and length.isdigit() else None)
    try:
        _append(e, response, part, offset, total, progress)
    except OSError as err:
        error = disk_error(part, err, written=part.stat().st_size if part.exists() else None)
        if error is None:
            raise
        raise error from None  # the partial file is kept: the next fetch resumes from it


def _append(
    e: ManifestEntry,
    response: http.client.HTTPResponse,
    part: Path,
    offset: int,
    total: int | None,
    progress: bool,
) -> None:
    written = offset
    with (
        open(part, "ab" if offset else "wb") as f,
        _progress_bar(total, offset, e.name, progress) as bar,
    ):
        while True:
            try:
                chunk = response.read1(_CHUNK)  # what has arrived: a timeout loses none
            except _NETWORK_ERRORS as err:
                f.flush()
                raise _offline_error(
                    e,
                    local_path(e),
                    f"the connection broke after {written:,} bytes "
                    f"({_reason(err)}); the partial file {part} is kept and the next "
                    "fetch resumes from it",
                ) from None
            if not chunk:
                break
            f.write(chunk)
            written += len(chunk)
            bar.update(len(chunk))
            if e.size is not None and written > e.size:
                break  # too long: verification reports it


def fetch(
    name: str | ManifestEntry, *, progress: bool = True, timeout: float = DEFAULT_TIMEOUT
) -> Path:
    """Download (or find) the file of ``name``, verify it and return its path.

    Returns at once if it is cached and verified. Offline, raises :class:`OfflineError` within a
    few seconds with advice; a wrong checksum raises :class:`DownloadError` and leaves nothing
    behind. ``timeout`` is the socket timeout for each read, in seconds.
    """
    e = entry(name)
    path = local_path(e)
    if is_cached(e):
        return path
    with _lock(e):
        if _verified(e, path):  # another process may have finished it while we waited
            if e.extract and not _extracted(e, path):
                _unpack(e, path)
            return path
        damaged = path.exists()  # present but wrong: a truncated copy or another version
        if not config.is_online():
            why = "this machine is offline"
            if os.environ.get(config.OFFLINE_ENV):
                why += f" ({config.OFFLINE_ENV}={os.environ[config.OFFLINE_ENV]})"
            if damaged:
                why += f", and the file at {path} fails verification"
            raise _offline_error(e, path, why)
        if damaged:
            path.unlink()
        url = urllib.parse.urlsplit(e.url)
        port = url.port or (443 if url.scheme == "https" else 80)
        if not _resolves(url.hostname or "", port, timeout=min(timeout, 5.0)):
            raise _offline_error(e, path, f"the host {url.hostname} cannot be resolved")
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(path.name + ".part")
        _download_part(e, part, progress=progress, timeout=timeout)
        problem = _check_file(e, part)
        if problem is not None:
            part.unlink(missing_ok=True)
            raise DownloadError(
                f"Downloaded {e.name} from {e.url} but it is wrong: got {problem}. "
                "The partial file was deleted; run the fetch again, and if this "
                "repeats the upstream file has changed (update the manifest)."
            )
        os.replace(part, path)
        _write_stamp(e, path)
        if e.extract:
            _unpack(e, path)
    return path


def fetch_all(
    names: Iterable[str] | None = None, *, progress: bool = True, timeout: float = DEFAULT_TIMEOUT
) -> list[Path]:
    """Fetch several entries (all by default), e.g. before a workshop; returns their paths.

    Offline, stops at the first entry that needs the network. Other failures do not stop the
    rest; they are reported together at the end as one :class:`DownloadError`.
    """
    wanted = [entry(n) for n in (list(_MANIFEST) if names is None else names)]
    paths: list[Path] = []
    failures: list[str] = []
    for e in wanted:
        try:
            paths.append(fetch(e, progress=progress, timeout=timeout))
        except DownloadError as err:
            failures.append(f"{e.name}: {err}")
    if failures:
        raise DownloadError("Some downloads failed:\n" + "\n".join(failures))
    return paths
