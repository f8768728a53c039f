"""Unpacking a verified archive safely (no absolute paths, ``..``, links or devices) in place."""

from __future__ import annotations

import glob
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from course_lib.data.online.entries import ManifestEntry
from course_lib.errors import DownloadError


def _safe_members(archive: tarfile.TarFile, name: str) -> list[tarfile.TarInfo]:
    """The archive's members, refusing absolute paths, ``..``, links and device files."""
    members = archive.getmembers()
    for m in members:
        parts = Path(m.name).parts
        if m.name.startswith(("/", "\\")) or Path(m.name).is_absolute() or ".." in parts:
            raise DownloadError(
                f"Refusing to unpack {name}: member {m.name!r} points outside the target directory."
            )
        if not (m.isfile() or m.isdir()):
            raise DownloadError(
                f"Refusing to unpack {name}: member {m.name!r} is not a plain file or directory."
            )
    return members


def _unpack(e: ManifestEntry, path: Path) -> None:
    """Unpack the verified archive next to itself: into a temp dir first, then move into place.

    The caller holds the entry's lock (``fetch``), so a temp dir already there was left by an
    unpack that was killed: it is removed first.
    """
    dest = path.parent
    for orphan in dest.glob(f".{glob.escape(e.name)}-unpack-*"):
        shutil.rmtree(orphan, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(dir=dest, prefix=f".{e.name}-unpack-"))
    try:
        with tarfile.open(path) as archive:
            members = _safe_members(archive, path.name)
            if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4 / 3.12: the safe filter
                archive.extractall(tmp, members=members, filter="data")
            else:
                archive.extractall(tmp, members=members)  # members checked above
        for item in tmp.iterdir():
            final = dest / item.name
            if final.is_dir() and not final.is_symlink():
                shutil.rmtree(final)
            elif final.exists() or final.is_symlink():
                final.unlink()
            os.replace(item, final)
    except (tarfile.TarError, EOFError) as err:
        raise DownloadError(f"Cannot unpack {path}: {err}. Delete it and fetch again.") from err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    missing = [rel for rel in e.extracted if not (dest / rel).is_file()]
    if missing:
        raise DownloadError(f"{path.name} unpacked, but {', '.join(missing)} are missing.")
