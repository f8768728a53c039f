"""Argument checks shared by both halves of the course (``course_lib.torch`` and
``course_lib.keras``) and by the framework-neutral modules.

One function per kind of argument, so a lesson cell gets the same answer whichever framework it
runs: the same values pass (NumPy scalars are numbers like any other; ``True`` is not a count),
and the same values fail with the same error class. Each check returns the value converted to a
plain Python type, and raises :class:`~course_lib.errors.ArgumentError` (a ``ValueError``) or
:class:`~course_lib.errors.ArgumentTypeError` (a ``TypeError`` too) with a message that names the
argument, shows the value and says what would fit.
"""

from __future__ import annotations

import numbers
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from course_lib.errors import ArgumentError, ArgumentTypeError, UnknownNameError

MAX_LEARNING_RATE = 10.0
"""Learning rates at or above this are typing slips (``1e3`` for ``1e-3``), not experiments."""


def _is_int(value: Any) -> bool:
    """A whole number: ``int`` or a NumPy integer; ``bool`` is not a count."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    """A real number: ``int``, ``float`` or a NumPy scalar of either; ``bool`` is not a number."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def positive_int(name: str, value: Any) -> int:
    """``value`` as an ``int`` >= 1 (``10``, ``np.int64(10)``), else an :class:`ArgumentError`."""
    if not _is_int(value) or value < 1:
        raise ArgumentError(
            f"{name} must be a positive integer (a whole number >= 1, e.g. 10), got {value!r}."
        )
    return int(value)


def nonnegative_int(name: str, value: Any) -> int:
    """``value`` as an ``int`` >= 0, else an :class:`ArgumentError`."""
    if not _is_int(value) or value < 0:
        raise ArgumentError(f"{name} must be a non-negative integer (0, 1, 2, ...), got {value!r}.")
    return int(value)


def positive_ints(name: str, value: Any) -> tuple[int, ...]:
    """A sequence of positive integers (layer widths such as ``(40, 40)``) as a tuple; may be
    empty. A bare number or a string is an :class:`ArgumentError`."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ArgumentError(
            f"{name} must be a tuple of positive integers such as (40, 40), got {value!r}."
        )
    return tuple(positive_int(f"{name}[{i}]", v) for i, v in enumerate(value))


def fraction(name: str, value: Any) -> float:
    """``value`` as a ``float`` in [0, 1) (dropout rates, label smoothing, shifts), else an
    :class:`ArgumentError`."""
    if not _is_real(value) or not 0 <= value < 1:
        raise ArgumentError(f"{name} must be a number in [0, 1) such as 0.1, got {value!r}.")
    return float(value)


def nonnegative_float(name: str, value: Any) -> float:
    """``value`` as a ``float`` >= 0 (e.g. a weight decay), else an :class:`ArgumentError`."""
    if not _is_real(value) or not value >= 0:
        raise ArgumentError(f"{name} must be a number >= 0 such as 1e-4, got {value!r}.")
    return float(value)


def learning_rate(name: str, value: Any) -> float:
    """``value`` as a ``float`` in (0, :data:`MAX_LEARNING_RATE`), else an
    :class:`ArgumentError`."""
    if not _is_real(value) or not 0 < value < MAX_LEARNING_RATE:
        raise ArgumentError(
            f"{name} must be a positive learning rate such as 1e-3 (below "
            f"{MAX_LEARNING_RATE:g}), got {value!r}."
        )
    return float(value)


def optional_callable(name: str, value: Any, example: str) -> None:
    """``None`` or a callable, else an :class:`ArgumentTypeError` showing ``example``."""
    if value is not None and not callable(value):
        raise ArgumentTypeError(
            f"{name} must be a function such as {example}, got {type(value).__name__}."
        )


# ---------------------------------------------------------------------------------------------
# Arrays: images and labels (one cheap pass each, once per call)
# ---------------------------------------------------------------------------------------------
_PACKAGE = str(Path(__file__).resolve().parent)


def warn(message: str) -> None:
    """A ``UserWarning`` shown at the learner's line: the first caller outside ``course_lib``."""
    level, frame = 2, sys._getframe(1)  # 2: the caller of this function
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        level, frame = level + 1, frame.f_back
    warnings.warn(message, UserWarning, stacklevel=level)


def _examples(values: np.ndarray, limit: int = 5) -> str:
    """Up to ``limit`` distinct values, sorted, as a list (``[-1, 10]``)."""
    unique = np.unique(values.reshape(-1))
    shown = [v.item() if hasattr(v, "item") else v for v in unique[:limit]]
    return f"{shown}" + (" ..." if len(unique) > limit else "")


def finite_array(name: str, values: np.ndarray) -> None:
    """An :class:`ArgumentError` when ``values`` hold NaN or infinite numbers (floats only)."""
    if not np.issubdtype(values.dtype, np.floating) or np.isfinite(values).all():
        return
    bad = ~np.isfinite(values)
    rows = np.flatnonzero(bad.reshape(len(values), -1).any(axis=1)) if values.ndim else []
    has_nan, has_inf = bool(np.isnan(values).any()), bool(np.isinf(values).any())
    kinds = " and ".join(k for k, found in (("NaN", has_nan), ("Inf", has_inf)) if found)
    raise ArgumentError(
        f"{name} hold {int(bad.sum())} {kinds} value(s), in {len(rows)} of {len(values)} "
        f"samples (the first: sample {int(rows[0])}); a network fed NaN/Inf returns NaN. "
        "Expected finite numbers: drop those samples (keep = np.isfinite(x).reshape(len(x), "
        "-1).all(axis=1); x, y = x[keep], y[keep]) or replace them (np.nan_to_num(x))."
    )


HUGE_INPUT = 1e6
"""Inputs beyond this in absolute value are warned about: a network's float32 sums overflow."""


def value_range(name: str, values: np.ndarray, *, images: bool) -> None:
    """Warn (once per call, one pass) about inputs a learner may not mean: values beyond
    :data:`HUGE_INPUT`, and ``images`` that look like raw 8-bit pixels (0..255, not [0, 1])."""
    if values.size == 0 or not np.issubdtype(values.dtype, np.number):
        return
    low, high = float(values.min()), float(values.max())
    if max(abs(low), abs(high)) > HUGE_INPUT:
        warn(
            f"{name} reach {max(abs(low), abs(high)):.3g}: values this large make a network's "
            "outputs and loss huge or NaN. Scale them first (images to [0, 1], features to a "
            "few units: (x - x.mean(axis=0)) / x.std(axis=0))."
        )
    elif images and low >= 0 and 2 < high <= 255:
        warn(
            f"{name} run from {low:g} to {high:g}: they look like raw 8-bit pixels, but the "
            "course's networks expect values in [0, 1] (ink = 1). Divide by 255 "
            "(x.astype(np.float32) / 255) unless you mean it."
        )


def grayscale_images(name: str, images: Any) -> np.ndarray:
    """``images`` as a NumPy array of shape ``(N, H, W)``, else an :class:`ArgumentError` that
    says how to get there from what was given (channels first or last, one image)."""
    images = np.asarray(images)
    if images.ndim == 3:
        return images
    shape = tuple(images.shape)
    fix = "stack them into one array of shape (N, H, W)"
    if images.ndim == 4 and shape[1] == 1:
        fix = "this looks channels-first (N, 1, H, W): take the channel away with images[:, 0]"
    elif images.ndim == 4 and shape[-1] == 1:
        fix = "take the channel axis away with images[..., 0]"
    elif images.ndim == 4 and shape[-1] == 3:
        fix = "these look like colour images; make them grayscale with images.mean(axis=-1)"
    elif images.ndim == 2:
        fix = "for a single image (H, W) use images[None]"
    raise ArgumentError(f"{name} must be grayscale images (N, H, W), got shape {shape}; {fix}.")


def class_labels(
    name: str, labels: Any, num_classes: int | None = None, *, classes_from: str = ""
) -> np.ndarray:
    """``labels`` as int64 class indices ``(N,)`` in ``0 .. num_classes-1``.

    Rejected, each with the fix: strings, floats (whole numbers too: say ``astype`` to mean
    it), one-hot or other 2-D arrays, negative values, and (with ``num_classes``) values past the
    last class; ``classes_from`` says where the number of classes comes from.
    """
    labels = np.asarray(labels)
    if labels.dtype.kind in "USO":
        kind = "objects" if labels.dtype.kind == "O" else "strings"
        raise ArgumentTypeError(
            f"{name} must be integer class indices 0, 1, 2, ..., got {kind} such as "
            f"{_examples(labels.astype(str), 3)}. Turn names into indices, e.g. "
            "class_names, y = np.unique(y, return_inverse=True)."
        )
    if labels.ndim != 1:
        if labels.ndim == 2 and labels.shape[1] == 1:
            fix = "use y[:, 0]"
        elif labels.ndim == 2:
            fix = "for one-hot or probability rows use y.argmax(axis=1)"
        else:
            fix = f"give one integer class index per sample, shape ({len(labels)},)"
        raise ArgumentError(
            f"{name} must be one class index per sample, shape (N,), got shape "
            f"{tuple(labels.shape)}; {fix}."
        )
    if labels.dtype.kind == "b" or not np.issubdtype(labels.dtype, np.integer):
        whole = labels.dtype.kind == "b" or bool(np.all(np.mod(labels, 1) == 0))
        fix = (
            "they are whole numbers, so y.astype(np.int64) gives the classes"
            if whole
            else "some are not whole numbers, so they are not classes (for regression targets "
            "use loss='mse')"
        )
        raise ArgumentTypeError(
            f"{name} must be integer class indices, got {labels.dtype} values such as "
            f"{_examples(labels, 3)}; {fix}."
        )
    labels = labels.astype(np.int64, copy=False)
    if labels.size and labels.min() < 0:
        negative = labels[labels < 0]
        note = " (-1 marks a missing label only in multi-task data, MultiTaskData)"
        raise ArgumentError(
            f"{name} must be class indices >= 0, got {_examples(negative)} in "
            f"{len(negative)} of {len(labels)} samples{note if -1 in negative else ''}; "
            "drop those samples or relabel them 0 .. num_classes-1."
        )
    if num_classes is not None and labels.size and labels.max() >= num_classes:
        beyond = labels[labels >= num_classes]
        raise ArgumentError(
            f"{name} {_examples(beyond)} ({len(beyond)} of {len(labels)} samples) are outside "
            f"0..{num_classes - 1}: {classes_from or f'there are {num_classes} classes'}. "
            f"Relabel them to 0..{num_classes - 1}, or make room for {int(labels.max()) + 1} "
            "classes."
        )
    return labels


def feature_layer(layer: Any, names: Sequence[str]) -> int:
    """The position of block ``layer`` among a model's top-level ``names``, for features taken
    after it; the head is the classifier, not a feature layer."""
    if not isinstance(layer, str) or layer not in names:
        raise UnknownNameError(f"Unknown layer {layer!r}; valid layers: {', '.join(names)}.")
    if layer == "head":
        raise ArgumentError(
            "layer='head' is the classifier, not a feature layer: use layer=None for what the "
            f"head sees, or a block before it ({', '.join(n for n in names if n != 'head')})."
        )
    return list(names).index(layer)


def feature_layers(layers: Any, names: Sequence[str]) -> list[str]:
    """Several blocks to take pooled features after (``features(model, x, layer=[...])``): a
    non-empty list of distinct block names, each checked like :func:`feature_layer`; returned in
    the network's order."""
    if isinstance(layers, str) or not isinstance(layers, Sequence) or not layers:
        raise ArgumentTypeError(
            f"layer must be one block name or a non-empty list of them, got {layers!r}."
        )
    positions = [feature_layer(layer, names) for layer in layers]
    if len(set(positions)) != len(positions):
        raise ArgumentError(f"layer lists a block twice: {list(layers)}; name each block once.")
    return [names[i] for i in sorted(positions)]


BATCHNORM_MODES = {
    "train": "BatchNorm layers of trainable blocks normalise with each batch's statistics, "
    "update their running statistics and train their scale and shift (training from scratch, "
    "or plenty of data)",
    "frozen": "every BatchNorm layer normalises with its running statistics, which stay as they "
    "are, and its scale and shift do not train, whether or not its block is frozen "
    "(fine-tuning a pretrained network on a few images per class)",
}
"""``fit(..., batchnorm=...)``: what each value does (the error message lists them)."""


def batchnorm_mode(value: Any) -> str:
    """``fit``'s ``batchnorm``: ``"train"`` or ``"frozen"``, else an :class:`ArgumentError`
    saying what each does."""
    if not isinstance(value, str) or value not in BATCHNORM_MODES:
        modes = "; ".join(f"{name!r}: {what}" for name, what in BATCHNORM_MODES.items())
        raise ArgumentError(f"batchnorm must be 'train' or 'frozen', got {value!r}. {modes}.")
    return value
