"""Does the input fit? Checks ``fit``, ``evaluate`` and ``predict`` share in both frameworks.

The layout of the inputs (rank, channels last), the targets a loss trains on, and whether a
network takes the inputs and its outputs fit the targets: each check reads shapes or makes one
cheap pass, once per call, and raises a course error that names what was expected and the fix.
A framework half describes its network as an :class:`InputSpec`; what it cannot describe, one
sample through the network finds (:func:`model_input_error` words the framework's complaint).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from course_lib import checks
from course_lib.errors import ArgumentError, ArgumentTypeError


def check_input_layout(x: np.ndarray) -> None:
    """Inputs of a rank the course takes, channels last, and numbers."""
    if x.dtype.kind not in "biuf":
        raise ArgumentTypeError(
            f"inputs must be numbers (float images or features), got {x.dtype} values."
        )
    if x.ndim not in (2, 3, 4):
        raise ArgumentError(
            f"inputs must be images (N, H, W), channels-last images (N, H, W, C) or features "
            f"(N, F); got shape {x.shape}."
        )
    if x.ndim == 4 and x.shape[1] in (1, 3) and x.shape[3] not in (1, 3):
        raise ArgumentError(
            f"inputs of shape {x.shape} look channels-first (N, C, H, W); the course takes "
            "images (N, H, W) or channels-last (N, H, W, C): use x.transpose(0, 2, 3, 1), or "
            "x[:, 0] for one channel."
        )


def check_targets(y: np.ndarray, loss: str) -> np.ndarray:
    """The targets ``loss`` trains on: int64 class indices ``(N,)`` for ``"cross_entropy"``
    (floats, strings, one-hot rows and negative values are errors), float32 for ``"mse"``."""
    if loss == "cross_entropy":
        return checks.class_labels("labels", y)
    return np.asarray(y, dtype=np.float32)


@dataclass(frozen=True)
class InputSpec:
    """What a network takes per sample, in the course's channels-last terms (``None``: any)."""

    shape: tuple[int | None, ...] | None = None
    """``(H, W, C)`` for images (``(None, None, 1)``: any size, one channel), ``(F,)`` for
    features; ``None`` when the framework half cannot tell."""
    values: int | None = None
    """For a network that flattens its input first: the values per sample it takes."""
    min_size: int = 1
    """The smallest height and width it handles (``2 ** k`` after ``k`` 2x2 poolings)."""


def _sample_shape(x_shape: Sequence[int]) -> tuple[int, ...]:
    """Per-sample shape, images as ``(H, W, C)`` (``(N, H, W)`` has one channel)."""
    sample = tuple(int(n) for n in x_shape[1:])
    return (*sample, 1) if len(sample) == 2 else sample


def check_model_input(x_shape: Sequence[int], spec: InputSpec) -> None:
    """An :class:`ArgumentError` when inputs of ``x_shape`` cannot go through a network that
    takes ``spec``: wrong channels (or channels first), size, too small, features for images."""
    sample = _sample_shape(x_shape)
    if spec.values is not None and int(np.prod(sample)) != spec.values:
        raise ArgumentError(
            f"The network flattens each sample into {spec.values} values, but inputs of shape "
            f"{tuple(x_shape)} give {int(np.prod(sample))}: resize the images, or build the "
            f"network for them (e.g. cl.mlp({sample[:2]}, ...))."
        )
    if spec.shape is not None and len(spec.shape) == 1:
        _check_features(tuple(x_shape), sample, spec.shape[0])
    elif spec.shape is not None and len(spec.shape) == 3:
        _check_images(tuple(x_shape), sample, spec)


def _check_features(x_shape: tuple[int, ...], sample: tuple[int, ...], want: int | None) -> None:
    if want is None or sample == (want,):
        return
    if len(sample) == 1:
        raise ArgumentError(
            f"The network takes {want} features per sample (N, {want}), got {sample[0]} "
            f"(inputs {x_shape}): give it {want} features, or build it for {sample[0]} "
            f"(e.g. cl.mlp({sample[0]}, ...))."
        )
    raise ArgumentError(
        f"The network takes features (N, {want}), got images {x_shape}: flatten them "
        f"(x.reshape(len(x), -1)) for a network built for {int(np.prod(sample))} features, or "
        f"use a network for images (cl.small_cnn(...), or cl.mlp({sample[:2]}, ...))."
    )


def _check_images(x_shape: tuple[int, ...], sample: tuple[int, ...], spec: InputSpec) -> None:
    assert spec.shape is not None
    height, width, channels = spec.shape
    if len(sample) == 1:
        raise ArgumentError(
            f"The network takes images (N, H, W), got features of shape {x_shape}; reshape "
            "them into images, or train a network for features (cl.mlp(...))."
        )
    if channels is not None and sample[2] != channels:
        if len(x_shape) == 4 and x_shape[1] == channels:
            fix = "they look channels-first: use x.transpose(0, 2, 3, 1)"
        elif channels == 1 and sample[2] == 3:
            fix = "make them grayscale (x.mean(axis=-1)), or build the network with in_channels=3"
        else:
            fix = f"build the network with in_channels={sample[2]}"
        raise ArgumentError(
            f"The network takes images with {channels} channel(s), (N, H, W"
            f"{', ' + str(channels) if channels != 1 else ''}), got {sample[2]} channel(s) in "
            f"inputs of shape {x_shape}; {fix}."
        )
    if (height, width) != (None, None) and sample[:2] != (height, width):
        raise ArgumentError(
            f"The network was built for {height}x{width} images, got {sample[0]}x{sample[1]} "
            f"(inputs {x_shape}): resize them to {height}x{width}, or build a network for "
            f"{sample[0]}x{sample[1]}."
        )
    if min(sample[:2]) < spec.min_size:
        size = spec.min_size
        raise ArgumentError(
            f"Images of {sample[0]}x{sample[1]} are too small for this network: its "
            f"{int(math.log2(size))} 2x2 poolings need at least {size}x{size}. Resize them to "
            f"at least {size}x{size} (e.g. data.load_digits(image_size=...) or an upsampling)."
        )


def model_input_error(x_shape: Sequence[int], err: BaseException) -> ArgumentError:
    """The course error for a network that failed on one sample of inputs ``x_shape``."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    telling = [
        line for line in lines if any(w in line.lower() for w in ("shape", "size", "expected"))
    ]
    reason = (telling or lines or [type(err).__name__])[0][:200]
    return ArgumentError(
        f"The network cannot take inputs of shape {tuple(x_shape)} (one sample: "
        f"{_sample_shape(x_shape)}, channels last): {type(err).__name__}: {reason}. Give it "
        "the shape it was built for (images (N, H, W) or (N, H, W, C), features (N, F)); if the "
        "shape is right, the error is in the network itself (see the exception above)."
    )


def check_outputs(out_shape: Sequence[int], y: np.ndarray, loss: str) -> np.ndarray:
    """The targets ``y`` against a network's outputs of ``out_shape`` (one batch): labels in
    ``0 .. classes-1`` for ``"cross_entropy"``, as many values per sample for ``"mse"``.
    Returns ``y``, regression targets shaped like the outputs (``(N,)`` -> ``(N, 1)``: no
    silent broadcasting to ``(N, N)``)."""
    out_shape = tuple(int(n) for n in out_shape)
    if loss == "cross_entropy":
        if len(out_shape) != 2:
            raise ArgumentError(
                f"cross_entropy needs logits (N, classes), one row of class scores per sample, "
                f"but the network outputs shape {out_shape}; end it with a layer of one unit "
                "per class."
            )
        checks.class_labels(
            "labels",
            y,
            out_shape[1],
            classes_from=f"the network outputs {out_shape[1]} class scores per sample",
        )
        return y
    per_target = int(np.prod(y.shape[1:]))
    per_output = int(np.prod(out_shape[1:]))
    if per_target != per_output:
        raise ArgumentError(
            f"The targets have {per_target} value(s) per sample (shape {y.shape}) but the "
            f"network outputs {per_output} (shape {out_shape} for a batch): give targets of "
            f"shape (N, {per_output}), or a network with {per_target} output(s)."
        )
    return y.reshape(len(y), *out_shape[1:])
