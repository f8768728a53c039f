"""Framework-neutral parts of checkpoints: the format marker, meta validation, atomic writes."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from course_lib.errors import CheckpointError

CHECKPOINT_FORMAT = "course-checkpoint-v1"


def check_meta(value: Any, where: str = "meta") -> None:
    """Meta must survive a JSON round trip unchanged: str, int, float, bool, None, lists, dicts."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            check_meta(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(
                    f"Checkpoint meta {where} has a non-string key {key!r}; use string keys."
                )
            check_meta(item, f"{where}[{key!r}]")
        return
    raise ValueError(
        f"Checkpoint meta {where} is a {type(value).__name__} ({value!r}); meta may hold only "
        "str, int, float, bool, None, lists and dicts — convert it first (e.g. float(x), "
        "x.tolist())."
    )


def existing_checkpoint(path: str | os.PathLike[str]) -> Path:
    """``path`` as a Path if the file exists, else a FileNotFoundError that says how to make it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"No checkpoint at {path}; train the model and create it with "
            f"save_checkpoint(model, {str(path)!r})."
        )
    return path


def unreadable(path: Path, detail: str) -> CheckpointError:
    """The error for a file that is not a course checkpoint (truncated, foreign, other library)."""
    return CheckpointError(
        f"{path} is not a readable course checkpoint (truncated or written by something else); "
        f"delete it and re-create it with save_checkpoint. Detail: {detail}."
    )


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(file)`` on a temp file next to ``path``, then rename it over ``path``.

    An interrupted save never leaves a half-written file behind (the old one stays intact).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
