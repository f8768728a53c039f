"""scikit-learn's bundled handwritten digits (1,797 real 8x8 images, 10 classes) — no download."""

from __future__ import annotations

import numpy as np

from course_lib.data.types import LabelledImages


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of a (N, H, W) float batch to (N, size, size), pixel centres aligned."""
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


def load_digits(image_size: int = 8) -> LabelledImages:
    """The real handwritten digits from scikit-learn, float32 in [0, 1], ink = 1.

    ``image_size`` > 8 upsamples bilinearly (e.g. 28 to feed a network pretrained on glyphs).
    """
    if not isinstance(image_size, int) or not 8 <= image_size <= 256:
        raise ValueError(f"image_size must be an integer from 8 to 256, got {image_size!r}.")
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images = (bunch.images / 16.0).astype(np.float32)
    if image_size != 8:
        images = _resize(images, image_size)
    return LabelledImages(
        "digits", images, bunch.target.astype(np.int64), tuple(str(d) for d in range(10))
    )
