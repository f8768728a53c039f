"""Lesson 04 exercise checks: the reference solutions pass, typical mistakes get a hint."""

import numpy as np
import pytest
import torch

from course_lib.exercises import lesson04
from course_lib.exercises.checks import ExerciseCheckError


def update(weights, grads, lr):
    return [w - lr * g for w, g in zip(weights, grads, strict=True)]


def update_inplace(weights, grads, lr):
    for w, g in zip(weights, grads, strict=True):
        w -= lr * g
    return weights


def update_list_inplace(weights, grads, lr):
    for i, g in enumerate(grads):
        weights[i] = weights[i] - lr * g
    return weights


def logits(support, support_y, query, n_way):
    prototypes = np.stack([support[support_y == k].mean(axis=0) for k in range(n_way)])
    return -((query[:, None, :] - prototypes[None]) ** 2).sum(axis=-1)


def logits_torch(support, support_y, query, n_way):
    support, query = torch.as_tensor(support), torch.as_tensor(query)
    support_y = torch.as_tensor(support_y)
    prototypes = torch.stack([support[support_y == k].mean(dim=0) for k in range(n_way)])
    return -(torch.cdist(query, prototypes) ** 2)


def logits_with(prototype, *, squared=True, sign=-1):
    def fn(support, support_y, query, n_way):
        prototypes = np.stack([prototype(support, support_y, k) for k in range(n_way)])
        dist = ((query[:, None, :] - prototypes[None]) ** 2).sum(axis=-1)
        return sign * (dist if squared else np.sqrt(dist))

    return fn


def mean_proto(support, support_y, k):
    return support[support_y == k].mean(axis=0)


def first_proto(support, support_y, k):
    return support[support_y == k][0]


def sorted_proto(support, support_y, k):
    k_shot = len(support_y) // (support_y.max() + 1)
    return support[k * k_shot : (k + 1) * k_shot].mean(axis=0)


def sample(labels, n_way, k_shot, n_query, rng, *, all_classes=False, first=False, shared=False):
    classes, counts = np.unique(labels, return_counts=True)
    eligible = classes if all_classes else classes[counts >= k_shot + n_query]
    chosen = rng.choice(eligible, n_way, replace=False)
    support, query = [], []
    for c in chosen:
        members = np.flatnonzero(labels == c)
        if first:
            picked = members[: k_shot + n_query]
        else:
            picked = rng.choice(members, k_shot + n_query, replace=False)
        support.append(picked[:k_shot])
        query.append(picked[:n_query] if shared else picked[k_shot:])
    return np.concatenate(support), np.concatenate(query)


def sample_interleaved(labels, n_way, k_shot, n_query, rng):
    s_idx, q_idx = sample(labels, n_way, k_shot, n_query, rng)
    return s_idx.reshape(n_way, k_shot).T.ravel(), q_idx


def sample_global_rng(labels, n_way, k_shot, n_query, rng):
    return sample(labels, n_way, k_shot, n_query, np.random.default_rng())


def test_reference_solutions_pass(capsys):
    lesson04.check_inner_loop_update(update)
    lesson04.check_prototype_logits(logits)
    lesson04.check_prototype_logits(logits_torch)
    lesson04.check_sample_episode(sample)
    assert capsys.readouterr().out.count("checks passed") == 4


def test_inner_loop_update_accepts_tensors_as_the_lesson_passes_them():
    weights = [torch.ones(2, 3, requires_grad=True), torch.zeros(3, requires_grad=True)]
    grads = [torch.full((2, 3), 2.0), torch.ones(3)]
    out = update(weights, grads, 0.5)
    assert torch.allclose(out[0], torch.zeros(2, 3))
    assert torch.allclose(out[1], -0.5 * torch.ones(3))


@pytest.mark.parametrize(
    ("fn", "hint"),
    [
        (lambda ws, gs, lr: [w + lr * g for w, g in zip(ws, gs, strict=True)], r"UP the gradient"),
        (lambda ws, gs, lr: [w - g for w, g in zip(ws, gs, strict=True)], "learning rate"),
        (lambda ws, gs, lr: [-lr * g for g in gs], "the step alone"),
        (
            lambda ws, gs, lr: [w - lr * g for w, g in zip(ws[:2], gs, strict=False)],
            "update every weight",
        ),
        (lambda ws, gs, lr: ws[0] - lr * gs[0], "Return a list"),
        (update_inplace, "changed in place"),
        (update_list_inplace, "NEW list"),
    ],
)
def test_inner_loop_mistakes_get_a_hint(fn, hint):
    with pytest.raises(ExerciseCheckError, match=hint):
        lesson04.check_inner_loop_update(fn)


@pytest.mark.parametrize(
    ("fn", "hint"),
    [
        (logits_with(mean_proto, sign=1), "MINUS the squared distance"),
        (logits_with(mean_proto, squared=False), "SQUARED"),
        (logits_with(mean_proto, squared=False, sign=1), "SQUARED"),
        (logits_with(first_proto), "MEAN of all"),
        (logits_with(sorted_proto), "any order"),
        (lambda s, y, q, n: logits(s, y, q, n).T, r"one column per class"),
        (logits_with(lambda s, y, k: s.mean(axis=0)), r"differ by more than"),
    ],
)
def test_prototype_mistakes_get_a_hint(fn, hint):
    with pytest.raises(ExerciseCheckError, match=hint):
        lesson04.check_prototype_logits(fn)


def test_prototype_logits_that_change_the_inputs_fail():
    def centring(support, support_y, query, n_way):
        out = logits(support, support_y, query, n_way)
        support -= support.mean(axis=0)
        return out

    with pytest.raises(ExerciseCheckError, match="`support` changed"):
        lesson04.check_prototype_logits(centring)


@pytest.mark.parametrize(
    ("options", "hint"),
    [
        ({"all_classes": True}, "at least k_shot \\+ n_query examples"),
        ({"first": True}, "not its first ones"),
        ({"shared": True}, "share"),
    ],
)
def test_episode_mistakes_get_a_hint(options, hint):
    with pytest.raises(ExerciseCheckError, match=hint):
        lesson04.check_sample_episode(lambda *args: sample(*args, **options))


@pytest.mark.parametrize(
    ("fn", "hint"),
    [
        (sample_interleaved, "not grouped by class"),
        (sample_global_rng, "draw every random number from `rng`"),
        (lambda labels, n, k, q, rng: sample(labels, n, k, q, rng)[0], "Return"),
        (
            lambda labels, n, k, q, rng: tuple(labels[i] for i in sample(labels, n, k, q, rng)),
            "look like class labels",
        ),
        (
            lambda labels, n, k, q, rng: (sample(labels, n, k, q, rng)[0], np.zeros(0, int)),
            "query_idx has 0 indices",
        ),
    ],
)
def test_more_episode_mistakes_get_a_hint(fn, hint):
    with pytest.raises(ExerciseCheckError, match=hint):
        lesson04.check_sample_episode(fn)


def test_checks_want_the_function_not_its_result():
    for check in (
        lesson04.check_inner_loop_update,
        lesson04.check_prototype_logits,
        lesson04.check_sample_episode,
    ):
        with pytest.raises(ExerciseCheckError, match="expects your function itself"):
            check(None)
