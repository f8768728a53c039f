"""Framework-neutral parts of checkpoints: the format marker, meta validation, atomic writes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from course_lib.atomic import atomic_write
from course_lib.errors import CheckpointError

__all__ = [
    "CHECKPOINT_FORMAT",
    "atomic_write",
    "check_meta",
    "existing_checkpoint",
    "file_sha256",
    "unreadable",
]

CHECKPOINT_FORMAT = "course-checkpoint-v1"


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file (a checkpoint, a weights file), read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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
