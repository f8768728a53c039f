"""Framework-neutral datasets, all embedded or generated: nothing here needs the internet.

``load_dataset(name)`` is the one entry point; the per-dataset functions take more options.
Real downloads for ``full`` mode (CIFAR-10, ImageNet weights) live in :mod:`course_lib.data.online`.
"""

from __future__ import annotations

from typing import Any

from course_lib.data.digits import load_digits
from course_lib.data.episodes import (
    Episode,
    EpisodeSampler,
    few_shot_split,
    few_shot_split_with_val,
)
from course_lib.data.fashion_mnist import load_fashion_mnist
from course_lib.data.resize import resize
from course_lib.data.sinusoids import SinusoidTasks, sample_sinusoid_tasks
from course_lib.data.types import LabelledImages
from course_lib.errors import UnknownNameError

DATASETS: dict[str, str] = {
    "glyphs": "Omniglot-like characters rendered from the fonts inside matplotlib (many alphabets)",
    "digits": "scikit-learn's real handwritten digits, 1,797 images of 8x8, 10 classes",
    "sinusoids": "MAML regression tasks y = A sin(x - phase)",
    "fashion_mnist": "Fashion-MNIST, 70,000 real 28x28 photos of clothes, 10 classes (local files)",
}


def load_dataset(name: str, **options: Any) -> Any:
    """Load an embedded dataset by name: ``glyphs``, ``digits``, ``sinusoids`` or ``fashion_mnist``.

    ``options`` go to :func:`load_glyphs`, :func:`load_digits`, :func:`sample_sinusoid_tasks` or
    :func:`load_fashion_mnist`.
    """
    key = name.strip().lower() if isinstance(name, str) else name
    if key == "glyphs":
        from course_lib.data.glyphs import load_glyphs

        return load_glyphs(**options)
    if key == "digits":
        return load_digits(**options)
    if key == "sinusoids":
        return sample_sinusoid_tasks(**options)
    if key == "fashion_mnist":
        return load_fashion_mnist(**options)
    known = "; ".join(f"{k}: {v}" for k, v in DATASETS.items())
    raise UnknownNameError(
        f"Unknown dataset {name!r}. Known datasets — {known}. "
        "For CIFAR-10 (full mode, needs internet) use "
        "course_lib.data.online.load_cifar10()."
    )


def __getattr__(attr: str) -> Any:  # lazy: building glyph tables imports fontTools/PIL
    if attr in {"GlyphSplit", "load_glyphs", "glyph_split", "list_alphabets"}:
        from course_lib.data import glyphs

        return getattr(glyphs, attr)
    raise AttributeError(f"module 'course_lib.data' has no attribute {attr!r}")


__all__ = [
    "DATASETS",
    "Episode",
    "EpisodeSampler",
    "GlyphSplit",
    "LabelledImages",
    "SinusoidTasks",
    "few_shot_split",
    "few_shot_split_with_val",
    "glyph_split",
    "list_alphabets",
    "load_dataset",
    "load_digits",
    "load_fashion_mnist",
    "load_glyphs",
    "resize",
    "sample_sinusoid_tasks",
]
