"""scikit-learn's bundled handwritten digits (1,797 real 8x8 images, 10 classes) — no download."""

from __future__ import annotations

import numpy as np

from course_lib.data.resize import resize
from course_lib.data.types import LabelledImages


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
        images = resize(images, image_size)
    return LabelledImages(
        "digits", images, bunch.target.astype(np.int64), tuple(str(d) for d in range(10))
    )
