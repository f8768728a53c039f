"""CIFAR-10 as NumPy arrays, read from the verified download with a restricted unpickler."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from course_lib.data.online.download import fetch
from course_lib.data.online.locations import local_path
from course_lib.errors import DownloadError

CIFAR10_DIR = "cifar-10-batches-py"
CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
_CIFAR10_SPLITS = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}


def cifar10_root(*, fetch_if_missing: bool = True) -> Path:
    """The ``root`` for ``torchvision.datasets.CIFAR10(root=..., download=False)``.

    It holds ``cifar-10-batches-py/``; fetched first unless ``fetch_if_missing=False``.
    """
    if fetch_if_missing:
        fetch("cifar10")
    return local_path("cifar10").parent


class _BatchUnpickler(pickle.Unpickler):
    """Loads CIFAR batches only: plain containers and NumPy arrays, no other classes."""

    _ALLOWED: ClassVar[frozenset[tuple[str, str]]] = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"),
            ("numpy.core.numeric", "_frombuffer"),
            ("numpy._core.numeric", "_frombuffer"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("_codecs", "encode"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"CIFAR batch refers to {module}.{name}, which is not allowed")


def _load_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    # The official batches are Python 2 pickles: encoding="bytes" is what they need (keys are
    # b"data", b"labels"). They come from an archive whose sha256 was verified before unpacking,
    # and the unpickler above refuses anything but arrays and plain containers.
    with open(path, "rb") as f:
        batch = _BatchUnpickler(f, encoding="bytes").load()
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
        raise DownloadError(
            f"{path} is not a CIFAR-10 batch (data {data.shape}, "
            f"{len(labels)} labels). Delete {path.parent} and fetch again."
        )
    return data, labels


def load_cifar10(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 ``split`` ("train" or "test") as uint8 images ``(N, 32, 32, 3)`` and int64 labels.

    Fetches the archive first if needed, so offline it fails fast with advice. Class names are
    in :data:`CIFAR10_CLASSES`.
    """
    if split not in _CIFAR10_SPLITS:
        raise ValueError(f"split must be one of {', '.join(_CIFAR10_SPLITS)}, got {split!r}.")
    folder = cifar10_root() / CIFAR10_DIR
    parts = [_load_batch(folder / f) for f in _CIFAR10_SPLITS[split]]
    data = np.concatenate([d for d, _ in parts])
    images = np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return images, np.concatenate([lab for _, lab in parts])
