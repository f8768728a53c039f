"""Checks for lesson 01's exercises (NumPy only): classify frozen features, standardise them.

``exercises/01_transfer_exercises.ipynb`` calls :func:`check_nearest_class_mean` and
:func:`check_standardize_features` on the learner's functions, with fresh inputs drawn from a
seed the notebook never shows; the feedback says what is wrong without printing the answer.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from course_lib.exercises.checks import (
    ExerciseCheckError,
    call,
    expect,
    expect_close,
    expect_finite,
    expect_shape,
    expect_type,
    fn_name,
    fresh_rng,
    require_callable,
    run_checks,
)

EPS = 1e-6  # added to each feature's std, so a constant feature gives zeros instead of NaN


def _clusters(
    key: str,
    classes: list[int],
    per_class: int | list[int],
    dim: int,
    spread: float = 0.6,
    *,
    shuffle: bool = False,
):
    """Features around one random centre per class: (features, labels).

    ``per_class`` is one count for every class or one count per class (an unbalanced split);
    ``shuffle`` mixes the rows, as a real split comes: not sorted by class.
    """
    rng = fresh_rng(key)
    centres = rng.normal(0, 2, (len(classes), dim))
    counts = [per_class] * len(classes) if isinstance(per_class, int) else list(per_class)
    index = np.repeat(np.arange(len(classes)), counts)
    if shuffle:
        index = rng.permutation(index)
    labels = np.asarray(classes)[index]
    return centres[index] + rng.normal(0, spread, (len(labels), dim)), labels


# ---------------------------------------------------------------------------------------------
# Exercise 1: nearest_class_mean(train_features, train_labels, test_features) -> labels
# ---------------------------------------------------------------------------------------------
def _reference_ncm(train_f: np.ndarray, train_y: np.ndarray, test_f: np.ndarray) -> np.ndarray:
    classes = np.unique(train_y)
    means = np.stack([train_f[train_y == c].mean(axis=0) for c in classes])
    return classes[((test_f[:, None, :] - means[None]) ** 2).sum(axis=-1).argmin(axis=1)]


def _blockwise_ncm(train_f: np.ndarray, train_y: np.ndarray, test_f: np.ndarray) -> np.ndarray:
    """The "rows sorted by class, K of each" mistake: means of consecutive blocks of rows."""
    classes = np.unique(train_y)
    means = train_f.reshape(len(classes), -1, train_f.shape[1]).mean(axis=1)
    return classes[((test_f[:, None, :] - means[None]) ** 2).sum(axis=-1).argmin(axis=1)]


_BLOCKWISE = (
    "the class means look like averages of consecutive blocks of rows (reshape(C, K, D)), as "
    "if train_features came sorted by class with the same number of rows per class. A real "
    "split is shuffled and unbalanced: pick each class's rows by their label (a boolean mask "
    "on train_labels), whatever their position and number."
)


def check_nearest_class_mean(fn: Callable[..., np.ndarray]) -> None:
    """Check a learner's ``nearest_class_mean``; print one line if it passes, else explain."""
    __tracebackhide__ = True
    require_callable(fn, "check_nearest_class_mean")
    name = fn_name(fn)

    def one_label_per_test_row() -> None:
        train_f, train_y = _clusters("shape-train", [0, 1, 2], 4, 6)
        test_f, _ = _clusters("shape-train", [0, 1, 2], 3, 6)
        out = call(fn, train_f, train_y, test_f)
        expect_type(out, np.ndarray, f"`{name}(...)`", "Return a NumPy array of labels.")
        expect_shape(
            out,
            (len(test_f),),
            f"`{name}(...)` for {len(test_f)} test rows",
            "Return one label per row of test_features: shape (N_test,).",
        )
        expect(
            np.issubdtype(out.dtype, np.integer),
            f"`{name}` returned dtype {out.dtype}; labels must be integers (the class labels "
            "of train_labels, e.g. via argmin over distances).",
        )

    def ncm(train_f: np.ndarray, train_y: np.ndarray, test_f: np.ndarray) -> np.ndarray:
        try:
            return np.asarray(call(fn, train_f, train_y, test_f))
        except ExerciseCheckError as err:
            if err.crashed and "reshape" in str(err):
                raise ExerciseCheckError(_BLOCKWISE) from None
            raise

    def separable_clusters_are_classified() -> None:
        # shuffled and unbalanced, as a real split: 3, 7, 5 and 5 rows (20 = 4 x 5 in all)
        train_f, train_y = _clusters("easy", [0, 1, 2, 3], [3, 7, 5, 5], 8, 0.1, shuffle=True)
        test_f, test_y = _clusters("easy", [0, 1, 2, 3], 5, 8, spread=0.1, shuffle=True)
        out = ncm(train_f, train_y, test_f)
        wrong = int((out != test_y).sum())
        if wrong and np.array_equal(out, _blockwise_ncm(train_f, train_y, test_f)):
            raise ExerciseCheckError(_BLOCKWISE)
        expect(
            wrong == 0,
            f"on four well-separated clusters (the training rows shuffled, 3 to 7 per class), "
            f"{wrong} of {len(test_y)} test rows got the wrong class. Average the training "
            "features of each class (axis 0), then pick the class whose mean is closest to each "
            "test row.",
        )

    def original_labels_are_returned() -> None:
        train_f, train_y = _clusters("labels", [3, 7, 9], [4, 2, 6], 5, 0.1, shuffle=True)
        test_f, _ = _clusters("labels", [3, 7, 9], 2, 5, spread=0.1)
        out = ncm(train_f, train_y, test_f)
        unknown = sorted(set(out.tolist()) - {3, 7, 9})
        expect(
            not unknown,
            f"with classes 3, 7 and 9 your function returned labels {unknown}: return the "
            "class labels themselves (np.unique(train_labels)[index]), not the position of "
            "the closest mean.",
        )

    def matches_the_reference() -> None:
        counts = [2, 5, 3, 1, 4]  # unbalanced, shuffled: 15 rows = 5 x 3 in all
        train_f, train_y = _clusters("values", [0, 1, 2, 3, 4], counts, 10, 1.5, shuffle=True)
        test_f, _ = _clusters("values-test", [0, 1, 2, 3, 4], 6, 10, spread=1.5)
        out = ncm(train_f, train_y, test_f)
        expected = _reference_ncm(train_f, train_y, test_f)
        wrong = int((out != expected).sum())
        if wrong and np.array_equal(out, _blockwise_ncm(train_f, train_y, test_f)):
            raise ExerciseCheckError(_BLOCKWISE)
        expect(
            wrong == 0,
            f"on overlapping clusters, {wrong} of {len(out)} test rows differ from the "
            "nearest class mean under the Euclidean distance. Use the mean (not the median "
            "or the first example) of each class, and compare squared distances over all "
            "feature dimensions.",
        )

    def inputs_unchanged() -> None:
        train_f, train_y = _clusters("inplace", [0, 1], 4, 3)
        test_f, _ = _clusters("inplace", [0, 1], 2, 3)
        before = train_f.copy(), train_y.copy(), test_f.copy()
        call(fn, train_f, train_y, test_f)
        for what, a, b in zip(
            ("train_features", "train_labels", "test_features"),
            (train_f, train_y, test_f),
            before,
            strict=True,
        ):
            expect(
                np.array_equal(a, b),
                f"`{name}` modified its input `{what}`; compute into new arrays instead.",
            )

    run_checks(
        name,
        [
            ("returns one integer label per test row", one_label_per_test_row),
            ("well-separated classes are all classified right", separable_clusters_are_classified),
            ("the labels returned are the training labels", original_labels_are_returned),
            ("the nearest mean under Euclidean distance", matches_the_reference),
            ("the inputs are left unchanged", inputs_unchanged),
        ],
    )


# ---------------------------------------------------------------------------------------------
# Exercise 2: standardize_features(train_features, test_features) -> (train_out, test_out)
# ---------------------------------------------------------------------------------------------
def _reference_standardize(train_f: np.ndarray, test_f: np.ndarray):
    mean, std = train_f.mean(axis=0), train_f.std(axis=0) + EPS
    return (train_f - mean) / std, (test_f - mean) / std


def _features(key: str, n: int, dim: int, shift: float = 0.0) -> np.ndarray:
    rng = fresh_rng(key)
    return rng.normal(3.0 + shift, rng.uniform(0.5, 4.0, dim), (n, dim))


def check_standardize_features(fn: Callable[..., tuple[np.ndarray, np.ndarray]]) -> None:
    """Check a learner's ``standardize_features``; print one line if it passes, else explain."""
    __tracebackhide__ = True
    require_callable(fn, "check_standardize_features")
    name = fn_name(fn)

    def two_arrays_of_input_shapes() -> None:
        out = call(fn, _features("shape", 12, 5), _features("shape-test", 7, 5))
        expect(
            isinstance(out, tuple) and len(out) == 2,
            f"`{name}` must return a tuple (train_out, test_out), got {type(out).__name__}.",
        )
        expect_shape(np.asarray(out[0]), (12, 5), "train_out", "Same shape as train_features.")
        expect_shape(np.asarray(out[1]), (7, 5), "test_out", "Same shape as test_features.")

    def train_has_mean0_std1_per_feature() -> None:
        train_f, test_f = _features("moments", 40, 6), _features("moments-t", 9, 6, shift=4.0)
        train_out, _ = call(fn, train_f.copy(), test_f.copy())
        train_out = np.asarray(train_out, dtype=np.float64)
        means, stds = train_out.mean(axis=0), train_out.std(axis=0)
        worst = int(np.argmax(np.abs(means) + np.abs(stds - 1)))
        hint = "Use one mean and one std per feature: axis=0 (over the rows)."
        both = np.concatenate([train_f, test_f])
        pooled = (train_f - both.mean(axis=0)) / (both.std(axis=0) + EPS)
        if abs(train_out.mean()) < 1e-3 and abs(train_out.std() - 1) < 1e-3:
            hint = (
                "The array as a whole has mean 0 and std 1, but each feature (column) needs "
                "its own mean and std: axis=0."
            )
        elif np.abs(means).max() < 1e-3 and np.allclose(stds, np.sqrt(39 / 40), atol=1e-3):
            hint = (
                "Each feature has mean 0 but a std a little below 1: you divided by the "
                "sample std (ddof=1, the default of torch.std and pandas). Use the plain std, "
                "ddof=0 (NumPy's default)."
            )
        elif np.allclose(train_out, pooled, atol=1e-4):
            hint = (
                "The statistics came from train and test features together: the test set "
                "must not shape the preprocessing (that leaks it). Use the mean and std of "
                "train_features alone, and apply them to both."
            )
        expect(
            abs(means[worst]) < 1e-3 and abs(stds[worst] - 1) < 1e-3,
            f"train_out feature {worst} has mean {means[worst]:.3g} and std {stds[worst]:.3g}; "
            f"every feature must have mean 0 and std 1. {hint}",
        )

    def test_uses_training_statistics() -> None:
        train_f = _features("leak", 50, 4)
        test_f = _features("leak-t", 30, 4, shift=5.0)  # a shifted test set
        _, test_out = call(fn, train_f, test_f)
        test_out = np.asarray(test_out, dtype=np.float64)
        expected = _reference_standardize(train_f, test_f)[1]
        if np.abs(test_out.mean(axis=0)).max() < 1e-3:
            raise_hint = (
                "test_out has mean 0 per feature: it was standardised with the TEST "
                "set's own statistics. Use the mean and std of train_features for both "
                "— the test set must not shape the preprocessing (that leaks it)."
            )
            expect(False, raise_hint)
        expect_close(
            test_out,
            expected,
            "test_out",
            atol=1e-4,
            unit="values",
            hint="Subtract the training mean and divide by the training std (+ eps).",
        )

    def constant_feature_gives_zeros() -> None:
        train_f = _features("constant", 10, 3)
        train_f[:, 1] = 2.5
        test_f = _features("constant-t", 4, 3)
        test_f[:, 1] = 2.5
        train_out, test_out = call(fn, train_f, test_f)
        for what, out in (("train_out", train_out), ("test_out", test_out)):
            out = np.asarray(out, dtype=np.float64)
            expect_finite(out, what, "A constant feature has std 0: add eps=1e-6 to the std.")
            expect(
                np.abs(out[:, 1]).max() < 1e-4,
                f"{what}: the constant feature 1 must come out as zeros.",
            )

    def inputs_unchanged() -> None:
        train_f, test_f = _features("inplace", 8, 3), _features("inplace-t", 5, 3)
        before = train_f.copy(), test_f.copy()
        call(fn, train_f, test_f)
        expect(
            np.array_equal(train_f, before[0]) and np.array_equal(test_f, before[1]),
            f"`{name}` modified its inputs; compute into new arrays (no `-=` or `/=`).",
        )

    run_checks(
        name,
        [
            ("returns (train_out, test_out) of the input shapes", two_arrays_of_input_shapes),
            ("each training feature has mean 0 and std 1", train_has_mean0_std1_per_feature),
            ("the test set uses the training statistics", test_uses_training_statistics),
            ("a constant feature gives zeros, not NaN", constant_feature_gives_zeros),
            ("the inputs are left unchanged", inputs_unchanged),
        ],
    )
