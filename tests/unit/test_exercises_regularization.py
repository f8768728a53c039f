"""Lesson 03 exercise checks: the reference solutions pass, typical mistakes get a hint."""

import numpy as np
import pytest
import torch

from course_lib.exercises import lesson03
from course_lib.exercises.checks import ExerciseCheckError


def l1(weights, strength):
    return strength * sum(abs(w).sum() for w in weights)


def shift(
    images,
    max_shift,
    rng,
    *,
    wrap=False,
    one_draw=False,
    exclusive=False,
    inplace=False,
    down_right_only=False,
):
    out = images if inplace else np.zeros_like(images)
    h, w = images.shape[1:3]
    high = max_shift if exclusive else max_shift + 1
    low = 0 if down_right_only else -max_shift
    first = tuple(int(v) for v in rng.integers(low, high, size=2))
    for i, image in enumerate(images.copy()):
        dy, dx = first if one_draw else tuple(int(v) for v in rng.integers(low, high, size=2))
        if wrap:
            out[i] = np.roll(image, (dy, dx), axis=(0, 1))
            continue
        src = image[max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
        out[i] = 0
        out[i, max(0, dy) : max(0, dy) + src.shape[0], max(0, dx) : max(0, dx) + src.shape[1]] = src
    return out


class Stopper:
    def __init__(self, patience, tie_counts=False, no_reset=False):
        self.patience, self.best_value, self.best_epoch, self.waited = patience, np.inf, 0, 0
        self.tie_counts, self.no_reset = tie_counts, no_reset

    def __call__(self, epoch, logs):
        value = logs["val_loss"]
        better = value <= self.best_value if self.tie_counts else value < self.best_value
        if better:
            self.best_value, self.best_epoch = value, epoch + 1
            if not self.no_reset:
                self.waited = 0
            return False
        self.waited += 1
        return self.waited >= self.patience


def test_reference_solutions_pass(capsys):
    lesson03.check_l1_penalty(l1)
    lesson03.check_random_shift(shift)
    lesson03.check_patience_stopper(Stopper)
    assert capsys.readouterr().out.count("checks passed") == 3


@pytest.mark.parametrize(
    ("fn", "hint"),
    [
        (lambda ws, s: s * sum((w**2).sum() for w in ws), "L2 penalty"),
        (lambda ws, s: s * sum(w.sum() for w in ws), "cancel"),
        (lambda ws, s: s * abs(ws[0]).sum(), "every array"),
        (lambda ws, s: sum(abs(w).sum() for w in ws), "strength"),
        (lambda ws, s: [s * abs(w).sum() for w in ws], "one number"),
    ],
)
def test_l1_mistakes_get_a_hint(fn, hint):
    with pytest.raises(ExerciseCheckError, match=hint):
        lesson03.check_l1_penalty(fn)


def l1_float(weights, strength):
    return float(strength * sum(abs(w).sum() for w in weights))


def l1_item(weights, strength):
    return strength * sum(abs(w).sum().item() for w in weights)


def l1_numpy(weights, strength):
    return strength * sum(np.abs(np.asarray(w)).sum() for w in weights)


@pytest.mark.parametrize(
    ("fn", "hint"),
    [
        (l1_float, "returned a float"),
        (l1_item, "returned a float"),
        (l1_numpy, "NumPy"),
    ],
)
@pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad")
def test_l1_that_cl_fit_cannot_differentiate_gets_a_hint(fn, hint):
    """A Python float or NumPy number passes every NumPy check, but adds no gradient in cl.fit."""
    with pytest.raises(ExerciseCheckError, match=hint):
        lesson03.check_l1_penalty(fn)


@pytest.mark.parametrize(
    "fn",
    [
        l1,
        lambda ws, s: s * sum(torch.as_tensor(w).abs().sum() for w in ws),
        lambda ws, s: sum(s * abs(w).sum() for w in ws),
    ],
)
def test_correct_l1_variants_pass(fn, capsys):
    lesson03.check_l1_penalty(fn)
    assert "all 5 checks passed" in capsys.readouterr().out


def test_l1_written_with_keras_ops_passes():
    tf = pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")

    def l1_keras(weights, strength):
        return strength * sum(keras.ops.sum(keras.ops.abs(w)) for w in weights)

    def l1_keras_float(weights, strength):
        return float(l1_keras(weights, strength))

    lesson03.check_l1_penalty(l1_keras)
    assert tf.is_tensor(l1_keras([tf.Variable([1.0, -2.0])], 0.5))
    with pytest.raises(ExerciseCheckError, match="returned a float"):
        lesson03.check_l1_penalty(l1_keras_float)


@pytest.mark.parametrize(
    ("options", "hint"),
    [
        ({"wrap": True}, "np.roll wraps"),
        ({"one_draw": True}, "EACH image"),
        ({"exclusive": True}, r"max_shift \+ 1"),
        ({"inplace": True}, "work on a copy"),
        ({"down_right_only": True}, "none moved up"),
    ],
)
def test_shift_mistakes_get_a_hint(options, hint):
    with pytest.raises(ExerciseCheckError, match=hint):
        lesson03.check_random_shift(lambda images, m, rng: shift(images, m, rng, **options))


@pytest.mark.parametrize(
    ("options", "hint"),
    [({"tie_counts": True}, "equal to the best"), ({"no_reset": True}, "restart the wait")],
)
def test_stopper_mistakes_get_a_hint(options, hint):
    with pytest.raises(ExerciseCheckError, match=hint):
        lesson03.check_patience_stopper(lambda patience: Stopper(patience, **options))
