"""The 1,000 ImageNet class names, offline, and the top classes of a batch of logits.

``classes.txt`` holds torchvision's names (``ResNet50_Weights.IMAGENET1K_V1.meta["categories"]``),
copied once so that the Keras half needs no torch and nothing downloads a label file
(``keras.applications.imagenet_utils.decode_predictions`` does). ``tests/unit/test_imagenet.py``
checks the copy against torchvision.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from course_lib.errors import ArgumentError

CLASSES_FILE = Path(__file__).with_name("classes.txt")


@functools.cache
def class_names() -> tuple[str, ...]:
    """The ImageNet-1k class names, index = the network's output unit."""
    return tuple(CLASSES_FILE.read_text(encoding="utf-8").splitlines())


def top_classes(logits: np.ndarray, top: int = 5) -> list[list[tuple[str, float]]]:
    """For each image, its ``top`` classes as ``(name, probability)``, most likely first.

    ``logits``: the ImageNet network's outputs, ``(N, 1000)`` (e.g. ``cl.predict(model, x)``).
    """
    logits = np.asarray(logits, dtype=np.float64)
    names = class_names()
    if logits.ndim != 2 or logits.shape[1] != len(names):
        raise ArgumentError(
            f"top_classes needs ImageNet logits of shape (N, {len(names)}), got shape "
            f"{logits.shape}; pass the outputs of imagenet_backbone() without num_classes."
        )
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or not 1 <= top <= 1000:
        raise ArgumentError(f"top must be an integer from 1 to 1000, got {top!r}.")
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = shifted / shifted.sum(axis=1, keepdims=True)
    order = np.argsort(-probs, axis=1, kind="stable")[:, : int(top)]
    return [[(names[c], float(p[c])) for c in row] for p, row in zip(probs, order, strict=True)]
