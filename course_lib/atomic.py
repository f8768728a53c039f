"""Atomic file writes: a temp file next to the target, then a rename — never a half-written file.

Orphan temps. A writer killed mid-write (``kill -9``, a restarted kernel, a power cut) leaves its
temp file ``.<name>.<pid>@<machine>.<random>.tmp`` behind. Every :func:`atomic_write` first
removes the orphans of its own target, and :func:`remove_orphans_once` sweeps a whole cache
folder once per process. A temp is an orphan, and removed, when

* it names this machine (host name and PID namespace) and its writer's PID is no longer running:
  the writer is gone, whatever the age of the file; or
* it names another machine (a cache folder shared over the network), or comes from an older
  version of the course that did not record the writer, and it has not been modified for
  :data:`STALE_AFTER_S` seconds.

A live writer is never touched: on this machine its PID is running; elsewhere it writes its
temp as it goes (``torch.save``, ``np.savez``, text: far more often than every ten minutes),
which keeps the file's modification time fresh. A reused PID only delays a removal (the temp
looks alive), it never removes a live one. Cache entries get one more guard: they are saved
under the entry's lock (:mod:`course_lib.locks`), so the cleanup inside their save never runs
beside another machine's save of the same entry. Downloads' ``.part`` files are resumable, not
orphans: they end in ``.part`` and are never matched.

Disk full, quota exceeded, read-only or write-protected folder: the write raises a
:class:`CacheError` that names the file, the free space of its folder and the fix, the same for
every caller (``torch.save`` and ``np.savez`` checkpoints, caches, results).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import glob
import hashlib
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from course_lib.errors import CacheError

STALE_AFTER_S = 600.0
"""A temp not modified for this long, whose writer cannot be checked, counts as an orphan."""

_FREE_SPACE = "Free some space there"
_PERMISSION = "Give yourself write permission there"
_WRITE_ERRNOS = {  # errno: (what happened, the first fix)
    errno.ENOSPC: ("the disk is full", _FREE_SPACE),
    errno.EDQUOT: ("the disk quota is exceeded", _FREE_SPACE),
    errno.EROFS: ("the file system is read-only", "Use a writable file system"),
    errno.EACCES: ("there is no permission to write there", _PERMISSION),
    errno.EPERM: ("there is no permission to write there", _PERMISSION),
}
_TORCH_WRITE_FAILURES = ("inline_container", "No space left", "file write failed")
_RANDOM = r"[a-z0-9_]{8}"  # what tempfile.mkstemp puts in a name
_WRITER = r"(?:(?P<pid>\d+)@(?P<machine>[0-9a-f]{8})\.)?"  # absent in temps of older versions
_swept: set[Path] = set()


def _temp_name(name: str | None) -> re.Pattern[str]:
    """How the temps of target ``name`` (of any target: ``None``) are named."""
    target = re.escape(name) if name is not None else ".+?"
    return re.compile(rf"^\.{target}\.{_WRITER}{_RANDOM}\.tmp$")


@functools.cache
def _machine() -> str:
    """A short tag for this host and PID namespace: PIDs in a temp's name are checked only here."""
    namespace = ""
    with contextlib.suppress(OSError):
        namespace = os.readlink("/proc/self/ns/pid")
    return hashlib.sha256(f"{socket.gethostname()}|{namespace}".encode()).hexdigest()[:8]


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists (unknown counts as running: the temp is kept)."""
    if os.name == "nt":  # os.kill(pid, 0) would terminate it on Windows: keep to the age rule
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, under another user
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """A process that has exited but whose parent has not collected it yet (Linux)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def _is_orphan(temp: Path, pattern: re.Pattern[str], machine: str, now: float) -> bool:
    match = pattern.match(temp.name)
    if match is None:
        return False
    if match["pid"] is not None and match["machine"] == machine:
        return not _running(int(match["pid"]))
    try:
        return now - temp.stat().st_mtime > STALE_AFTER_S
    except OSError:  # gone already: another process cleaned it
        return False


def remove_orphans(folder: str | os.PathLike[str], name: str | None = None) -> int:
    """Delete orphan temps (see the module docstring) in ``folder``; returns the bytes freed.

    With ``name`` only the temps of that target file, else every course temp in the folder.
    """
    folder = Path(folder)
    wildcard = f".{glob.escape(name)}.*.tmp" if name is not None else ".*.tmp"
    pattern, machine, now, freed = _temp_name(name), _machine(), time.time(), 0
    for temp in folder.glob(wildcard):
        if _is_orphan(temp, pattern, machine, now):
            with contextlib.suppress(OSError):
                size = temp.stat().st_size
                temp.unlink()
                freed += size
    return freed


def remove_orphans_once(folder: str | os.PathLike[str]) -> int:
    """:func:`remove_orphans` for a whole folder, the first time this process uses it."""
    folder = Path(folder)
    if folder in _swept or not folder.is_dir():
        return 0
    _swept.add(folder)
    return remove_orphans(folder)


class _RecordingFile:
    """The temp file, remembering the first disk error a write hit.

    ``torch.save`` turns a failed write into ``RuntimeError: [enforce fail at
    inline_container.cc]``; the recorded ``OSError`` says what really happened (disk full, ...).
    """

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        try:
            return self._file.write(data)
        except OSError as err:
            self.error = self.error or err
            raise

    def flush(self) -> None:
        try:
            self._file.flush()
        except OSError as err:
            self.error = self.error or err
            raise

    def __getattr__(self, name: str) -> object:
        return getattr(self._file, name)


def _open_temp(fd: int) -> IO[bytes]:
    return os.fdopen(fd, "wb")


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(file)`` on a temp file next to ``path``, then rename it over ``path``.

    An interrupted write never leaves a half-written file behind (an old file stays intact), and
    the temps of earlier writers that were killed are removed first. A full disk or a folder
    that cannot be written raises :class:`CacheError` that says how much room is left and what
    to do.
    """
    path = Path(path)
    tmp: Path | None = None
    recorder: _RecordingFile | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_orphans(path.parent, path.name)
        prefix = f".{path.name}.{os.getpid()}@{_machine()}."
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
        tmp = Path(name)
        with _open_temp(fd) as f:
            recorder = _RecordingFile(f)
            write(recorder)  # type: ignore[arg-type]
            recorder.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        written = _discard(tmp)
        error = disk_error(
            path, err, recorded=recorder.error if recorder else None, written=written
        )
        if error is not None:
            raise error from err
        raise
    return path


def _discard(tmp: Path | None) -> int | None:
    """Remove the temp of a failed write; returns how many bytes it had reached, if known."""
    if tmp is None:
        return None
    size = None
    with contextlib.suppress(OSError):
        size = tmp.stat().st_size
    with contextlib.suppress(OSError):
        tmp.unlink()
    return size


def disk_error(
    path: Path, err: BaseException, *, recorded: OSError | None = None, written: int | None = None
) -> CacheError | None:
    """The :class:`CacheError` for ``err`` if the disk or folder stopped a write to ``path``.

    ``None`` when ``err`` is something else (bad data, a bug): the caller re-raises it.
    ``recorded`` is an ``OSError`` seen underneath (torch hides it), ``written`` the bytes done.
    """
    if isinstance(err, CacheError):
        return None
    for candidate in (err, recorded):
        if isinstance(candidate, OSError) and candidate.errno in _WRITE_ERRNOS:
            return _cache_error(path, candidate, written)
    if isinstance(err, RuntimeError) and any(m in str(err) for m in _TORCH_WRITE_FAILURES):
        return _cache_error(path, err, written)
    return None


def _free_space(folder: Path) -> str:
    """The free space of the file system that holds ``folder`` (or its nearest existing parent)."""
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            with contextlib.suppress(OSError):
                return _size(shutil.disk_usage(candidate).free)
            break
    return "an unknown amount of space"


def _size(n: float) -> str:
    if n < 1000:
        return f"{int(n):,} bytes"
    for unit in ("KB", "MB", "GB"):
        n /= 1000
        if n < 1000:
            return f"{n:.1f} {unit}"
    return f"{n / 1000:,.1f} TB"


def _cache_error(path: Path, cause: BaseException, written: int | None) -> CacheError:
    if isinstance(cause, OSError):
        problem, fix = _WRITE_ERRNOS[cause.errno]
        detail = f"{errno.errorcode[cause.errno]}: {cause.strerror}"
    else:
        problem, fix = "the file system refused the write (usually a full disk)", _FREE_SPACE
        detail = f"{type(cause).__name__}: {str(cause).splitlines()[0]}"
    progress = f" after writing {_size(written)}" if written else ""
    return CacheError(
        f"Cannot write {path}: {problem} ({detail}){progress}. Its folder has "
        f"{_free_space(path.parent)} free. {fix}, or set COURSE_CACHE_DIR (datasets, "
        "pretrained networks, downloads) or COURSE_BUILD_DIR (results, figures) to a folder "
        "with room and write permission, then run it again."
    )


def atomic_write_text(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))
