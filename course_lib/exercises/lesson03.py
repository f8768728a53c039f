"""Checks for lesson 03's exercises: an L1 penalty, a shift augmentation, an early stopper.

``exercises/03_regularization_exercises.ipynb`` calls :func:`check_l1_penalty`,
:func:`check_random_shift` and :func:`check_patience_stopper`. The inputs are NumPy arrays and
plain logs, so a solution written with NumPy/torch operations (``abs(w).sum()``) and one written
with ``keras.ops`` both pass. The penalty is also computed on real weight tensors (torch;
TensorFlow too when the notebook has loaded it) and must be a tensor whose gradient reaches every
weight, as ``cl.fit(penalty=...)`` needs: a Python ``float`` passes every NumPy check and trains
nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from course_lib.exercises.checks import (
    ExerciseCheckError,
    call,
    expect,
    expect_close,
    expect_shape,
    fn_name,
    for_some_framework,
    fresh_rng,
    require_callable,
    run_checks,
    tensor_frameworks,
)


def _weights(key: str) -> list[np.ndarray]:
    r = fresh_rng(key)
    return [r.normal(size=(6, 4)), r.normal(size=(4, 3)), r.normal(size=(3,))]


def check_l1_penalty(fn: Callable[..., Any]) -> None:
    """Check ``l1_penalty(weights, strength) -> strength * sum of |w| over every array``."""
    __tracebackhide__ = True
    require_callable(fn, "check_l1_penalty")
    name = fn_name(fn)

    def a_number() -> None:
        out = call(fn, _weights("l1-number"), 0.1)
        expect(
            np.ndim(out) == 0 and math.isfinite(float(out)),
            f"`{name}(...)` must return one number (a scalar), got {type(out).__name__} of "
            f"shape {np.shape(out)}. Sum over every element of every array.",
        )

    def the_right_value() -> None:
        weights = _weights("l1-value")
        got = float(call(fn, weights, 0.01))
        want = 0.01 * sum(np.abs(w).sum() for w in weights)
        if math.isclose(got, 0.01 * sum((w**2).sum() for w in weights), rel_tol=1e-6):
            raise ExerciseCheckError("that is the L2 penalty (squares); L1 sums |w|.")
        if math.isclose(got, 0.01 * sum(w.sum() for w in weights), rel_tol=1e-6):
            raise ExerciseCheckError(
                "the sum of the weights themselves lets negative and positive weights cancel; "
                "L1 sums their absolute values, abs(w)."
            )
        if math.isclose(got, 0.01 * np.abs(weights[0]).sum(), rel_tol=1e-6):
            raise ExerciseCheckError("only the first array counts: sum over every array.")
        if math.isclose(got, sum(np.abs(w).sum() for w in weights), rel_tol=1e-6):
            raise ExerciseCheckError("multiply the sum by `strength`.")
        expect(
            math.isclose(got, want, rel_tol=1e-6),
            f"for three random arrays and strength 0.01 the penalty is off by "
            f"{abs(got - want):.3g} ({abs(got - want) / want:.1%}).",
        )

    def scales_with_strength() -> None:
        weights = _weights("l1-scale")
        low, high = float(call(fn, weights, 1e-3)), float(call(fn, weights, 1e-2))
        expect(
            math.isclose(high, 10 * low, rel_tol=1e-6),
            "ten times the strength must give ten times the penalty.",
        )

    def zero_for_zero_weights() -> None:
        out = float(call(fn, [np.zeros((3, 3)), np.zeros(2)], 0.5))
        expect(out == 0.0, f"all-zero weights have no L1 penalty; got {out!r}.")

    def differentiable_on_tensors() -> None:
        for_some_framework(
            {fw: lambda fw=fw: _check_l1_gradient(fn, fw) for fw in tensor_frameworks()}
        )

    run_checks(
        name,
        [
            ("returns one number", a_number),
            ("strength x the sum of |w| over every array", the_right_value),
            ("proportional to strength", scales_with_strength),
            ("zero weights, zero penalty", zero_for_zero_weights),
            ("on a model's tensors, a penalty cl.fit can differentiate", differentiable_on_tensors),
        ],
    )


_NOT_DIFFERENTIABLE = (
    "cl.fit adds the penalty to the loss and differentiates the sum; a Python float (float(), "
    ".item()) or a NumPy value (np.abs, np.asarray, .numpy()) has no gradient, so the penalty "
    "would change the printed loss and nothing else: the weights never feel it. Keep the "
    "computation in tensor operations (abs(w).sum() works on torch tensors; keras.ops on "
    "Keras/TensorFlow ones) and return the tensor."
)


def _check_l1_gradient(fn: Callable[..., Any], framework: str) -> None:
    """The penalty on real weight tensors: a tensor whose gradient is strength * sign(w)."""
    name = fn_name(fn)
    values = _weights("l1-grad")
    strength = 0.01

    def penalty(weights: list) -> Any:
        try:
            return call(fn, weights, strength)
        except ExerciseCheckError as err:
            if err.crashed and "numpy" in str(err).lower():
                raise ExerciseCheckError(
                    f"`{name}` used NumPy on the weight tensors: {_NOT_DIFFERENTIABLE}",
                    crashed=True,
                ) from None
            raise

    if framework == "torch":
        import torch

        weights = [torch.tensor(w, requires_grad=True) for w in values]
        out = penalty(weights)
        expect(
            isinstance(out, torch.Tensor) and out.requires_grad,
            f"for torch weight tensors `{name}` returned "
            + (
                "a tensor with no gradient (detached, or computed under torch.no_grad())"
                if isinstance(out, torch.Tensor)
                else f"a {type(out).__name__}"
            )
            + f". {_NOT_DIFFERENTIABLE}",
        )
        grads = torch.autograd.grad(out.sum(), weights, allow_unused=True)
        grads = [None if g is None else g.detach().numpy() for g in grads]
    else:
        import tensorflow as tf

        weights = [tf.Variable(w) for w in values]
        with tf.GradientTape() as tape:
            out = penalty(weights)
            expect(
                tf.is_tensor(out),
                f"for TensorFlow weight variables `{name}` returned a {type(out).__name__}. "
                f"{_NOT_DIFFERENTIABLE}",
            )
            total = tf.reduce_sum(out)
        grads = [None if g is None else np.asarray(g) for g in tape.gradient(total, weights)]
    missing = [i for i, g in enumerate(grads) if g is None]
    expect(
        not missing,
        f"weight array(s) {missing} get no gradient from the penalty: {_NOT_DIFFERENTIABLE}",
    )
    for i, (g, w) in enumerate(zip(grads, values, strict=True)):
        expect_close(
            g,
            strength * np.sign(w),
            f"the penalty's gradient for weight array {i}",
            atol=1e-6,
            hint="The gradient of strength * |w| is strength * sign(w), element by element.",
        )


def _blobs(n: int, size: int = 12) -> np.ndarray:
    """Images with one bright square well inside the border: shifts keep all of its ink."""
    images = np.zeros((n, size, size), dtype=np.float32)
    images[:, 4:8, 5:8] = 1.0
    images[:, 5, 6] = 2.0  # asymmetric, so a flip would not pass for a shift
    return images


def check_random_shift(fn: Callable[..., Any]) -> None:
    """Check ``random_shift(images, max_shift, rng) -> images shifted by up to max_shift px``."""
    __tracebackhide__ = True
    require_callable(fn, "check_random_shift")
    name = fn_name(fn)

    def same_shape_and_dtype() -> None:
        images = _blobs(5)
        out = np.asarray(call(fn, images.copy(), 2, np.random.default_rng(0)))
        expect_shape(out, images.shape, f"`{name}(images, 2, rng)`", "Return all the images.")
        expect(out.dtype == images.dtype, f"keep the dtype {images.dtype}, got {out.dtype}.")

    def input_left_alone() -> None:
        images = _blobs(4)
        before = images.copy()
        call(fn, images, 2, np.random.default_rng(1))
        expect(
            np.array_equal(images, before),
            "the input array changed: work on a copy (e.g. np.zeros_like) so the training set "
            "stays as it was.",
        )

    def zero_shift_is_identity() -> None:
        images = _blobs(3)
        try:
            out = np.asarray(call(fn, images.copy(), 0, np.random.default_rng(2)))
        except ExerciseCheckError as err:
            if "high <= 0" in str(err):
                raise ExerciseCheckError(
                    "rng.integers(-max_shift, max_shift) fails for max_shift=0 (and never "
                    "draws +max_shift): its upper bound is exclusive, use max_shift + 1."
                ) from None
            raise
        expect_close(out, images, "with max_shift=0 the images", atol=0, unit="pixels")

    def each_image_a_whole_pixel_shift() -> None:
        images = _blobs(40)
        out = np.asarray(call(fn, images.copy(), 2, np.random.default_rng(3)))
        shifts = set()
        for i, (src, dst) in enumerate(zip(images, out, strict=True)):
            found = None
            for dy in range(-2, 3):
                for dx in range(-2, 3):
                    if np.array_equal(np.roll(src, (dy, dx), axis=(0, 1)), dst):
                        found = (dy, dx)
            if found is None:
                raise ExerciseCheckError(
                    f"image {i} is not its original moved by whole pixels (at most 2 down/up "
                    "and 2 left/right), with the ink unchanged. Copy the pixels to the shifted "
                    "position; don't rescale or blur."
                )
            shifts.add(found)
        expect(
            len(shifts) > 5,
            f"40 images got only {len(shifts)} different shift(s): draw a new (dy, dx) for EACH "
            "image from rng.integers(-max_shift, max_shift + 1).",
        )
        expect(
            any(abs(dy) == 2 or abs(dx) == 2 for dy, dx in shifts),
            "no image moved by the full max_shift = 2: the upper bound of rng.integers is "
            "exclusive, use max_shift + 1.",
        )
        for axis, (minus, plus) in ((0, ("up", "down")), (1, ("left", "right"))):
            moves = {shift[axis] for shift in shifts}
            for sign, word in ((-1, minus), (1, plus)):
                expect(
                    any(sign * m > 0 for m in moves),
                    f"of 40 images, none moved {word}: the offsets must range from "
                    "-max_shift to +max_shift in both directions. Check how you draw them, and "
                    "that your copy handles negative offsets too (a negative slice start "
                    "counts from the end).",
                )

    def empty_border_filled_with_zeros() -> None:
        images = np.tile(np.arange(1, 65, dtype=np.float32).reshape(8, 8), (6, 1, 1))
        out = np.asarray(call(fn, images.copy(), 3, np.random.default_rng(4)))
        moved = [img for img, src in zip(out, images, strict=True) if not np.array_equal(img, src)]
        expect(bool(moved), "with max_shift=3 some of 6 images must move.")
        expect(
            all((img == 0).any() for img in moved),
            "pixels that come in from outside the image must be 0 (background); np.roll wraps "
            "them around from the other side. Zero the rows/columns that came in from outside.",
        )

    def same_rng_same_result() -> None:
        images = _blobs(8)
        a = np.asarray(call(fn, images.copy(), 2, np.random.default_rng(5)))
        b = np.asarray(call(fn, images.copy(), 2, np.random.default_rng(5)))
        expect(
            np.array_equal(a, b),
            "the same rng seed must give the same shifts: draw every random number from `rng`.",
        )

    run_checks(
        name,
        [
            ("same shape and dtype", same_shape_and_dtype),
            ("the input is not modified", input_left_alone),
            ("max_shift=0 changes nothing", zero_shift_is_identity),
            (
                "every image moved by whole pixels, each its own draw",
                each_image_a_whole_pixel_shift,
            ),
            ("new pixels are background (0)", empty_border_filled_with_zeros),
            ("reproducible with the same rng", same_rng_same_result),
        ],
    )


def _run(stopper: Any, losses: list[float]) -> int:
    """Feed ``val_loss`` values epoch by epoch; the number of epochs run before it said stop."""
    for epoch, value in enumerate(losses):
        if stopper(epoch, {"loss": 0.1, "val_loss": value}):
            return epoch + 1
    return len(losses)


def check_patience_stopper(cls: Callable[..., Any]) -> None:
    """Check ``PatienceStopper(patience)``: ``stopper(epoch, logs) -> True`` to stop, and its
    ``best_epoch`` (1-based) and ``best_value`` of ``val_loss``."""
    __tracebackhide__ = True
    require_callable(cls, "check_patience_stopper")
    name = fn_name(cls)

    def never_stops_while_improving() -> None:
        stopper = call(cls, 2)
        ran = _run(stopper, [1.0, 0.9, 0.8, 0.7, 0.6, 0.5])
        expect(ran == 6, f"val_loss fell every epoch, yet it stopped after epoch {ran}.")

    def stops_after_patience_epochs_without_improvement() -> None:
        for patience in (1, 3):
            stopper = call(cls, patience)
            ran = _run(stopper, [1.0, 0.8, 0.9, 0.95, 0.85, 0.99, 1.2, 1.3])
            expect(
                ran == 2 + patience,
                f"patience={patience}: the best epoch is 2, so it must stop after epoch "
                f"{2 + patience} ({patience} epoch(s) without improvement); it stopped after "
                f"{ran}. Count epochs since the best one, and reset the count when it improves.",
            )

    def the_count_restarts_after_an_improvement() -> None:
        stopper = call(cls, 2)
        ran = _run(stopper, [1.0, 1.1, 0.9, 1.0, 0.8, 0.85, 0.86, 0.7])
        expect(
            ran == 7,
            f"improvements at epochs 3 and 5 restart the wait: with patience 2 it must stop "
            f"after epoch 7, but it stopped after {ran}.",
        )

    def remembers_the_best_epoch() -> None:
        stopper = call(cls, 2)
        _run(stopper, [1.0, 0.7, 0.8, 0.75, 0.9])
        best_epoch = getattr(stopper, "best_epoch", None)
        best_value = getattr(stopper, "best_value", None)
        expect(
            best_epoch == 2,
            f"best_epoch must be 2 (1-based: the epoch with val_loss 0.7), got {best_epoch!r}.",
        )
        expect(
            best_value is not None and math.isclose(float(best_value), 0.7),
            f"best_value must be 0.7, got {best_value!r}.",
        )

    def an_equal_value_is_not_an_improvement() -> None:
        stopper = call(cls, 2)
        ran = _run(stopper, [1.0, 0.5, 0.5, 0.5, 0.5])
        expect(
            ran == 4,
            f"a val_loss equal to the best is no improvement: stop after epoch 4, not {ran}.",
        )

    run_checks(
        name,
        [
            ("never stops while val_loss improves", never_stops_while_improving),
            (
                "stops after `patience` epochs without improvement",
                stops_after_patience_epochs_without_improvement,
            ),
            ("an improvement restarts the wait", the_count_restarts_after_an_improvement),
            ("remembers best_epoch and best_value", remembers_the_best_epoch),
            ("a tie is not an improvement", an_equal_value_is_not_an_improvement),
        ],
    )
