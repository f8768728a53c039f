"""Build-once, load-fast caching of NumPy arrays, written atomically and verified on load.

Several processes asking for the same missing entry at once (a workshop's kernels starting
together) build it once: the first takes the entry's lock (:mod:`course_lib.locks`) and builds,
the others wait and then load what it wrote. Temps of killed builds are removed
(:func:`course_lib.atomic.remove_orphans_once`) the first time a process uses the folder.
"""

from __future__ import annotations

import hashlib
import json
import warnings
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from course_lib import config
from course_lib.atomic import atomic_write, remove_orphans_once
from course_lib.locks import exclusive

CACHE_FORMAT = 1
_META_KEY = "__meta__"


def _digest(arrays: Mapping[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        h.update(key.encode())
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def cache_path(name: str, params: Mapping[str, object]) -> Path:
    """The file that holds dataset ``name`` built with ``params`` (a short hash names it)."""
    key = json.dumps({"format": CACHE_FORMAT, "name": name, **params}, sort_keys=True, default=str)
    return (
        config.cache_dir() / "data" / f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.npz"
    )


def save_arrays(path: Path, arrays: Mapping[str, np.ndarray], meta: Mapping[str, object]) -> None:
    """Write ``arrays`` to ``path`` atomically (temp file + rename), checksum in the metadata."""
    meta = {**meta, "sha256": _digest(arrays)}
    header = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    atomic_write(path, lambda f: np.savez(f, **arrays, **{_META_KEY: header}))


def load_arrays(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """Load arrays saved by :func:`save_arrays`; raise ``ValueError`` if the file is damaged."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise ValueError(f"cannot read {path.name}: {err}") from err
    if _META_KEY not in arrays:
        raise ValueError(f"{path.name} has no metadata (not written by the course)")
    meta = json.loads(arrays.pop(_META_KEY).tobytes().decode())
    if meta.get("sha256") != _digest(arrays):
        raise ValueError(f"{path.name} fails its checksum (partly written or modified)")
    return arrays, meta


def _read_intact(path: Path) -> tuple[dict[str, np.ndarray] | None, str | None]:
    """``(arrays, None)`` if intact, ``(None, why)`` if damaged, ``(None, None)`` if missing."""
    if not path.exists():
        return None, None
    try:
        return load_arrays(path)[0], None
    except ValueError as err:
        return None, str(err)


def cached_arrays(
    name: str, params: Mapping[str, object], build: Callable[[], Mapping[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """The arrays of dataset ``name``: from the cache if intact, else ``build()`` and cache them.

    A damaged cache file (truncated, foreign, modified) is reported and rebuilt, never trusted.
    Built once even when several processes ask at the same time: the others wait and load it.
    """
    path = cache_path(name, params)
    remove_orphans_once(path.parent)
    arrays, _ = _read_intact(path)
    if arrays is not None:
        return arrays
    with exclusive(path, what=f"the cached dataset {name!r}"):
        arrays, damage = _read_intact(path)  # another process may have built it while we waited
        if arrays is not None:
            return arrays
        if damage is not None:
            message = f"Cached dataset {path} is damaged ({damage}); rebuilding it."
            warnings.warn(message, stacklevel=2)
        arrays = {k: np.asarray(v) for k, v in build().items()}
        save_arrays(path, arrays, {"name": name, "params": dict(params)})
    return arrays
