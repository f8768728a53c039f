"""``load_glyphs``: the glyph dataset for a mode, its arguments checked, built once and cached."""

from __future__ import annotations

import numpy as np

from course_lib import config
from course_lib.data.cache import cached_arrays
from course_lib.data.glyphs.cache_key import _image_params
from course_lib.data.glyphs.catalogue import _catalog
from course_lib.data.glyphs.distort import _build_images
from course_lib.data.types import LabelledImages

MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 16, 64
MAX_SAMPLES_PER_CHAR = 1000


def _check_int(name: str, value: object, lo: int, hi: int | None, hint: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer, got {type(value).__name__} {value!r}. {hint}")
    if value < lo or (hi is not None and value > hi):
        bounds = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        raise ValueError(f"{name} must be {bounds}, got {value}. {hint}")
    return int(value)


def load_glyphs(
    mode: str | None = None,
    *,
    samples_per_char: int | None = None,
    image_size: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> LabelledImages:
    """The glyph dataset: every kept character drawn ``samples_per_char`` times with distortions.

    Sizes default to ``config.sizes("data", mode)`` (``glyph_samples_per_char``,
    ``glyph_image_size``). Samples come class by class (all samples of class 0, then class 1,
    ...); ``class_names`` are the characters, ``class_groups`` their alphabet indices and
    ``group_names`` the alphabet names. The same ``seed`` gives byte-identical images. The first
    call builds and caches the arrays (seconds to a minute); later calls load them from the cache.
    """
    sizes = config.sizes("data", mode)
    if samples_per_char is None:
        samples_per_char = int(sizes["glyph_samples_per_char"])
    if image_size is None:
        image_size = int(sizes["glyph_image_size"])
    samples_per_char = _check_int(
        "samples_per_char",
        samples_per_char,
        1,
        MAX_SAMPLES_PER_CHAR,
        "Example: load_glyphs(samples_per_char=20).",
    )
    image_size = _check_int(
        "image_size",
        image_size,
        MIN_IMAGE_SIZE,
        MAX_IMAGE_SIZE,
        "Example: load_glyphs(image_size=28) (Omniglot-like 28x28 images).",
    )
    seed = _check_int("seed", seed, 0, None, "Example: load_glyphs(seed=0).")

    cat = _catalog(progress)
    params = _image_params(cat, samples_per_char, image_size, seed)
    arrays = cached_arrays(
        "glyphs", params, lambda: _build_images(cat, samples_per_char, image_size, seed, progress)
    )
    images = arrays["images"].astype(np.float32)
    images /= 255.0
    return LabelledImages(
        name="glyphs",
        images=images,
        labels=arrays["labels"].astype(np.int64),
        class_names=tuple(chr(int(cp)) for cp in cat["codepoints"]),
        class_groups=cat["groups"].astype(np.int64),
        group_names=tuple(str(g) for g in cat["group_names"]),
    )
