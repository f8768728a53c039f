"""Resize a batch of grayscale images: the ImageNet network wants more pixels than 8 or 28."""

from __future__ import annotations

from typing import overload

import numpy as np

from course_lib.data.types import LabelledImages
from course_lib.errors import ArgumentError, ArgumentTypeError

MIN_SIZE, MAX_SIZE = 4, 512


def _bilinear(images: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of ``(N, H, W)`` to ``(N, size, size)``, pixel centres aligned."""
    _, h, w = images.shape
    ys = (np.arange(size) + 0.5) * h / size - 0.5
    xs = (np.arange(size) + 0.5) * w / size - 0.5
    y0 = np.clip(np.floor(ys).astype(int), 0, h - 1)
    x0 = np.clip(np.floor(xs).astype(int), 0, w - 1)
    y1, x1 = np.clip(y0 + 1, 0, h - 1), np.clip(x0 + 1, 0, w - 1)
    wy = np.clip(ys - y0, 0, 1)[None, :, None]
    wx = np.clip(xs - x0, 0, 1)[None, None, :]
    top = images[:, y0][:, :, x0] * (1 - wx) + images[:, y0][:, :, x1] * wx
    bottom = images[:, y1][:, :, x0] * (1 - wx) + images[:, y1][:, :, x1] * wx
    return (top * (1 - wy) + bottom * wy).astype(np.float32)


@overload
def resize(images: LabelledImages, size: int) -> LabelledImages: ...
@overload
def resize(images: np.ndarray, size: int) -> np.ndarray: ...
def resize(images: LabelledImages | np.ndarray, size: int) -> LabelledImages | np.ndarray:
    """Square images ``size`` x ``size`` pixels, bilinear: an array ``(N, H, W)`` or a whole
    :class:`LabelledImages` (labels and names kept). E.g. Fashion-MNIST's 28 px to 64 px for the
    ImageNet network, which sees little in 28 px (its first layers halve the size five times)."""
    if isinstance(size, bool) or not isinstance(size, int | np.integer):
        raise ArgumentTypeError(f"size must be an integer number of pixels, got {size!r}.")
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ArgumentError(f"size must be {MIN_SIZE} to {MAX_SIZE} pixels, got {size}.")
    if isinstance(images, LabelledImages):
        return images.with_images(_bilinear(images.images, int(size)))
    if not isinstance(images, np.ndarray):
        raise ArgumentTypeError(
            "resize takes a LabelledImages or a NumPy array (N, H, W), "
            f"got {type(images).__name__}."
        )
    if images.ndim != 3:
        raise ArgumentError(
            f"resize takes grayscale images (N, H, W), got shape {images.shape}"
            + (
                "; for one image use image[None] and take [0] of the result."
                if images.ndim == 2
                else "."
            )
        )
    return _bilinear(np.asarray(images, dtype=np.float32), int(size))
