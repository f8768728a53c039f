"""Inter-process locks: when several kernels need the same cache entry, one builds, the rest wait.

A workshop room starts twenty kernels at once on one shared cache; without a lock each would
build the same glyph set or pretrained network. :func:`exclusive` holds an advisory lock on a
small ``.<name>.lock`` file next to the entry (``filelock``: ``flock`` on Linux and macOS, a
locked file on Windows). The operating system drops the lock when its holder dies, so a killed
kernel never leaves a stale lock behind. :func:`build_once` is the usual pattern around it: load
if present, else lock, look again (another process may have built it meanwhile), then build.

The lock is per thread and re-entrant: a thread that holds it may take it again (a build that
saves its entry through a helper that locks too), while other threads and processes wait.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from course_lib.errors import CacheError

T = TypeVar("T")

WAIT_FOREVER = -1.0
"""A build takes as long as it takes (minutes for a teaching-mode pretrain); its holder's death
releases the lock, so waiting without a limit cannot hang on a dead process."""


def lock_path(target: str | os.PathLike[str]) -> Path:
    """The lock file that guards ``target``: ``.<name>.lock`` in the same folder."""
    target = Path(target)
    return target.with_name(f".{target.name}.lock")


@contextlib.contextmanager
def exclusive(
    target: str | os.PathLike[str],
    *,
    what: str = "",
    timeout: float = WAIT_FOREVER,
    quiet: bool = False,
) -> Iterator[None]:
    """Hold the inter-process lock of ``target`` for the ``with`` block.

    If another process holds it, say so once (naming ``what`` is being built) and wait;
    ``quiet=True`` waits without a word (for locks held only for milliseconds, such as a
    record update). A ``timeout`` in seconds (>= 0) turns a long wait into a :class:`CacheError`.
    """
    from filelock import FileLock, Timeout

    path = lock_path(target)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(path), is_singleton=True)  # one object per path: re-entrant
        try:
            lock.acquire(timeout=0)
        except Timeout:
            label = what or Path(target).name
            if not quiet:
                print(
                    f"Waiting for another process (a kernel started at the same time?) that is "
                    f"building {label}; it will be reused when ready.",
                    file=sys.stderr,
                    flush=True,
                )
            lock.acquire(timeout=timeout)
    except Timeout as err:
        raise CacheError(
            f"Gave up after {timeout:g} s waiting for the lock {path}: another process is still "
            "building the same cache entry. Wait for it to finish, or stop it and try again."
        ) from err
    except OSError as err:
        raise CacheError(
            f"Cannot create the lock file {path} ({err.strerror or err}). Its folder must be "
            "writable: fix its permissions, or point COURSE_CACHE_DIR (caches) or "
            "COURSE_BUILD_DIR (run records) at a writable folder."
        ) from err
    try:
        yield
    finally:
        lock.release()


def build_once(
    target: str | os.PathLike[str],
    load: Callable[[], T | None],
    build: Callable[[], T],
    *,
    what: str = "",
) -> T:
    """``load()`` if it finds an intact entry (not ``None``), else build it under the lock.

    After taking the lock ``load()`` runs again: a process that waited reuses what the first one
    built instead of building it a second time. ``build()`` writes the entry and returns it.
    """
    found = load()
    if found is not None:
        return found
    with exclusive(target, what=what):
        found = load()
        if found is not None:
            return found
        return build()
