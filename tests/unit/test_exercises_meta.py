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
        (update_list_inplace, "return a new list"),
    ],
)
def test_inner_loop_mistakes_get_a_hint(fn, hint):
    with pytest.raises(ExerciseCheckError, match=hint) as err:
        lesson04.check_inner_loop_update(fn)
    assert "zip(weights, grads)" not in str(err.value), "a hint, not the answer"


# Mistakes that NumPy inputs cannot show: the step must stay differentiable on real tensors, so
# that MAML's query loss has a gradient with respect to θ (otherwise it is None).
def update_no_grad(weights, grads, lr):
    with torch.no_grad():
        return [w - lr * g for w, g in zip(weights, grads, strict=True)]


def update_detached(weights, grads, lr):
    return [torch.as_tensor(w - lr * g).detach() for w, g in zip(weights, grads, strict=True)]


def update_first_order(weights, grads, lr):
    return [
        w - lr * (g.detach() if isinstance(g, torch.Tensor) else g)
        for w, g in zip(weights, grads, strict=True)
    ]


def update_through_numpy(weights, grads, lr):
    return [np.asarray(w) - lr * np.asarray(g) for w, g in zip(weights, grads, strict=True)]


@pytest.mark.parametrize(
    ("fn", "hint"),
    [
        (update_no_grad, r"not connected to θ: the step ran under torch.no_grad\(\)"),
        (update_detached, r"not connected to θ"),
        (update_first_order, r"first-order approximation"),
        (update_through_numpy, r"NumPy"),
    ],
)
def test_inner_loop_that_cuts_the_meta_gradient_gets_a_hint(fn, hint):
    with pytest.raises(ExerciseCheckError, match=hint):
        lesson04.check_inner_loop_update(fn)


def test_inner_loop_with_stop_gradient_gets_a_hint():
    tf = pytest.importorskip("tensorflow")

    def stopped(weights, grads, lr):
        return [tf.stop_gradient(w - lr * g) for w, g in zip(weights, grads, strict=True)]

    def keras_style(weights, grads, lr):  # a correct Keras learner's step
        return [tf.subtract(w, lr * g) for w, g in zip(weights, grads, strict=True)]

    with pytest.raises(ExerciseCheckError, match=r"tf.stop_gradient"):
        lesson04.check_inner_loop_update(stopped)
    lesson04.check_inner_loop_update(keras_style)


@pytest.mark.parametrize(
    "fn",
    [
        update,
        lambda ws, gs, lr: list(map(lambda w, g: w - lr * g, ws, gs)),
        lambda ws, gs, lr: [torch.as_tensor(w) - lr * torch.as_tensor(g) for w, g in zip(ws, gs)],  # noqa: B905
        lambda ws, gs, lr: tuple(w + (-lr) * g for w, g in zip(ws, gs, strict=True)),
    ],
)
def test_correct_inner_loop_variants_pass(fn, capsys):
    lesson04.check_inner_loop_update(fn)
    assert "all 5 checks passed" in capsys.readouterr().out


def _meta_gradients(step):
    """One MAML step on an nn.Module, written two ways: explicit weight lists with
    torch.autograd.grad(create_graph=True), and torch.func.functional_call with the module."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(1, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    xs, xq = torch.linspace(-2, 2, 5)[:, None], torch.linspace(-1.5, 1.5, 5)[:, None]
    names, theta = zip(*net.named_parameters(), strict=True)

    def loss(params, x):
        out = torch.func.functional_call(net, dict(zip(names, params, strict=True)), (x,))
        return ((out - torch.sin(x)) ** 2).mean()

    grads = torch.autograd.grad(loss(theta, xs), theta, create_graph=True)
    fast = step(list(theta), list(grads), 0.1)
    return torch.autograd.grad(loss(fast, xq), theta, allow_unused=True)


def test_a_real_maml_step_needs_what_the_check_asks():
    """What the check guards: with the reference step every weight of θ gets a meta-gradient;
    with a step under no_grad the query loss does not even reach θ."""
    assert all(g is not None and g.abs().sum() > 0 for g in _meta_gradients(update))
    with pytest.raises(RuntimeError, match="does not require grad"):
        _meta_gradients(update_no_grad)


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


def sample_classes_with_replacement(labels, n_way, k_shot, n_query, rng):
    classes, counts = np.unique(labels, return_counts=True)
    support, query = [], []
    for c in rng.choice(classes[counts >= k_shot + n_query], n_way):  # replace=True: a mistake
        picked = rng.choice(np.flatnonzero(labels == c), k_shot + n_query, replace=False)
        support.append(picked[:k_shot])
        query.append(picked[k_shot:])
    return np.concatenate(support), np.concatenate(query)


def test_classes_drawn_with_replacement_are_named_as_such():
    with pytest.raises(ExerciseCheckError, match="same class was chosen more than once") as err:
        lesson04.check_sample_episode(sample_classes_with_replacement)
    assert "example(s) twice" not in str(err.value)


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
