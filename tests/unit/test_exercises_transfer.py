"""Lesson 01 and 02 exercise checks: the reference solutions pass, typical mistakes get a hint."""

import numpy as np
import pytest

from course_lib.exercises import lesson01, lesson02
from course_lib.exercises.checks import ExerciseCheckError


def ncm(train_f, train_y, test_f):
    classes = np.unique(train_y)
    means = np.stack([train_f[train_y == c].mean(0) for c in classes])
    return classes[((test_f[:, None] - means[None]) ** 2).sum(-1).argmin(1)]


def standardize(train_f, test_f):
    mean, std = train_f.mean(0), train_f.std(0) + 1e-6
    return (train_f - mean) / std, (test_f - mean) / std


def rates(blocks, head_lr, factor):
    return {name: head_lr / factor**i for i, name in enumerate(reversed(blocks))}


def schedule(blocks, n):
    if not 1 <= n <= len(blocks):
        raise ValueError("n_stages out of range")
    top = list(reversed(blocks))
    return [[b] for b in top[: n - 1]] + [top[n - 1 :]]


@pytest.mark.parametrize(
    ("check", "fn"),
    [
        (lesson01.check_nearest_class_mean, ncm),
        (lesson01.check_standardize_features, standardize),
        (lesson02.check_discriminative_rates, rates),
        (lesson02.check_unfreeze_schedule, schedule),
    ],
)
def test_reference_solutions_pass(check, fn, capsys):
    check(fn)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("✓")


def _fails(check, fn, match):
    with pytest.raises(ExerciseCheckError, match=match):
        check(fn)


def test_nearest_class_mean_mistakes():
    def positions(train_f, train_y, test_f):  # index of the class, not its label
        classes = np.unique(train_y)
        means = np.stack([train_f[train_y == c].mean(0) for c in classes])
        return ((test_f[:, None] - means[None]) ** 2).sum(-1).argmin(1)

    def first_example(train_f, train_y, test_f):  # a prototype that is not the mean
        classes = np.unique(train_y)
        protos = np.stack([train_f[train_y == c][0] for c in classes])
        return classes[((test_f[:, None] - protos[None]) ** 2).sum(-1).argmin(1)]

    _fails(lesson01.check_nearest_class_mean, positions, "return the class labels themselves")
    _fails(lesson01.check_nearest_class_mean, first_example, "differ from the nearest class mean")
    _fails(lesson01.check_nearest_class_mean, lambda a, b, c: 0, "Return a NumPy array")


def ncm_reshape(train_f, train_y, test_f):  # assumes rows sorted by class, K of each
    classes = np.unique(train_y)
    means = train_f.reshape(len(classes), -1, train_f.shape[1]).mean(1)
    return classes[((test_f[:, None] - means[None]) ** 2).sum(-1).argmin(1)]


def ncm_add_at(train_f, train_y, test_f):
    classes, index = np.unique(train_y, return_inverse=True)
    sums = np.zeros((len(classes), train_f.shape[1]))
    np.add.at(sums, index, train_f)
    means = sums / np.bincount(index)[:, None]
    return classes[((test_f[:, None] - means[None]) ** 2).sum(-1).argmin(1)]


def ncm_masks(train_f, train_y, test_f):
    classes = np.unique(train_y)
    means = np.stack([train_f[train_y == c].mean(axis=0) for c in classes])
    distances = np.linalg.norm(test_f[:, None, :] - means[None, :, :], axis=-1)
    return classes[distances.argmin(axis=1)]


def test_nearest_class_means_by_reshape_fail_on_a_shuffled_unbalanced_split():
    _fails(lesson01.check_nearest_class_mean, ncm_reshape, r"reshape\(C, K, D\)")


@pytest.mark.parametrize("fn", [ncm_add_at, ncm_masks])
def test_correct_nearest_class_mean_variants_pass(fn, capsys):
    lesson01.check_nearest_class_mean(fn)
    assert "all 5 checks passed" in capsys.readouterr().out


def test_standardize_features_ddof_and_pooled_statistics_get_their_own_hint():
    def sample_std(train_f, test_f):
        mean, std = train_f.mean(0), train_f.std(0, ddof=1) + 1e-6
        return (train_f - mean) / std, (test_f - mean) / std

    def pooled(train_f, test_f):
        both = np.concatenate([train_f, test_f])
        mean, std = both.mean(0), both.std(0) + 1e-6
        return (train_f - mean) / std, (test_f - mean) / std

    for fn, hint in ((sample_std, r"ddof=1"), (pooled, "train and test features together")):
        with pytest.raises(ExerciseCheckError, match=hint) as err:
            lesson01.check_standardize_features(fn)
        assert "axis=0" not in str(err.value)


def test_standardize_features_mistakes():
    def leaks(train_f, test_f):
        return standardize(train_f, test_f)[0], standardize(test_f, test_f)[0]

    def whole_array(train_f, test_f):
        m, s = train_f.mean(), train_f.std()
        return (train_f - m) / s, (test_f - m) / s

    def no_eps(train_f, test_f):
        m, s = train_f.mean(0), train_f.std(0)
        with np.errstate(all="ignore"):
            return (train_f - m) / s, (test_f - m) / s

    _fails(lesson01.check_standardize_features, leaks, "leaks it")
    _fails(lesson01.check_standardize_features, whole_array, "needs its own mean and std")
    _fails(lesson01.check_standardize_features, no_eps, "add eps=1e-6")


def test_discriminative_rates_mistakes():
    def upside_down(blocks, head_lr, factor):
        return {name: head_lr / factor**i for i, name in enumerate(blocks)}

    def multiplied(blocks, head_lr, factor):
        return {name: head_lr * factor**i for i, name in enumerate(reversed(blocks))}

    _fails(lesson02.check_discriminative_rates, upside_down, "head_lr = 2e-3")
    _fails(lesson02.check_discriminative_rates, multiplied, "LARGER rate")
    _fails(lesson02.check_discriminative_rates, lambda b, h, f: [h], "Return a dict")


def test_rates_by_floor_division_get_a_hint_not_a_zero_division_error():
    def floored(blocks, head_lr, factor):
        rates, rate = {}, head_lr
        for name in reversed(blocks):
            rates[name] = rate
            rate = rate // factor
        return rates

    _fails(lesson02.check_discriminative_rates, floored, r"floor division `//`")


def test_unfreeze_schedule_that_ignores_its_blocks_fails():
    lesson_blocks = ["block1", "block2", "block3", "block4"]

    def fixed_names(blocks, n):
        if not 1 <= n <= len(blocks):
            raise ValueError("n_stages out of range")
        top = lesson_blocks[::-1]
        return [[b] for b in top[: n - 1]] + [top[n - 1 :]]

    def fixed_count(blocks, n):  # uses the names, but assumes 4 of them
        if not 1 <= n <= 4:
            raise ValueError("n_stages out of range")
        top = list(reversed(blocks))[:4]
        return [[b] for b in top[: n - 1]] + [top[n - 1 :]]

    _fails(lesson02.check_unfreeze_schedule, fixed_names, "not in `blocks`")
    _fails(lesson02.check_unfreeze_schedule, fixed_count, "assume 4 blocks")


def test_unfreeze_schedule_dividing_by_n_stages_first_gets_a_hint():
    def divides_first(blocks, n):
        per_stage = len(blocks) // n  # ZeroDivisionError for n = 0
        return schedule(blocks, n) if per_stage >= 0 else []

    _fails(lesson02.check_unfreeze_schedule, divides_first, "divides by n_stages")


def test_unfreeze_schedule_mistakes():
    def bottom_first(blocks, n):
        return [[b] for b in blocks[: n - 1]] + [blocks[n - 1 :]]

    def no_check(blocks, n):
        top = list(reversed(blocks))
        return [[b] for b in top[: n - 1]] + [top[n - 1 :]]

    _fails(lesson02.check_unfreeze_schedule, bottom_first, "from the TOP")
    _fails(lesson02.check_unfreeze_schedule, no_check, "must raise a ValueError")


def test_not_implemented_is_reported_as_such():
    def todo(*args):
        raise NotImplementedError

    for check in (lesson01.check_nearest_class_mean, lesson02.check_unfreeze_schedule):
        with pytest.raises(ExerciseCheckError, match="not implemented yet"):
            check(todo)
