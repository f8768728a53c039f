"""Three real photos that ship with the course's dependencies: something for an ImageNet network
to look at offline (matplotlib's portrait of Grace Hopper, scikit-learn's two sample photos)."""

from __future__ import annotations

import functools

import numpy as np

from course_lib.errors import ArgumentError

PHOTO_NAMES = ("grace_hopper", "china", "flower")


def _square(image, size: int) -> np.ndarray:
    """The centre square of a PIL photo, resized: RGB float32 ``(size, size, 3)`` in [0, 1]."""
    from PIL import Image

    image = image.convert("RGB")
    w, h = image.size
    s = min(w, h)
    box = ((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)
    resized = image.crop(box).resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.float32) / 255


@functools.cache
def _photos(size: int) -> np.ndarray:
    import matplotlib.cbook
    from PIL import Image
    from sklearn.datasets import load_sample_images

    hopper = Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg"))
    china, flower = (Image.fromarray(a) for a in load_sample_images().images)
    return np.stack([_square(p, size) for p in (hopper, china, flower)])


def sample_photos(size: int = 224) -> tuple[tuple[str, ...], np.ndarray]:
    """``(names, images)``: the photos of :data:`PHOTO_NAMES` as RGB ``(3, size, size, 3)`` in
    [0, 1] (centre square, bilinear), ready for ``cl.predict(imagenet_backbone(), images)``."""
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or not 16 <= size <= 1024:
        raise ArgumentError(f"size must be an integer from 16 to 1024 pixels, got {size!r}.")
    return PHOTO_NAMES, _photos(int(size)).copy()  # the cache stays as it was read
