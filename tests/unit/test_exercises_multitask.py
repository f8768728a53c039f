"""Lesson 05 exercise checks: the reference solutions pass, typical mistakes get a hint."""


import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib import torch as cl
from course_lib.exercises import lesson05
from course_lib.exercises.checks import ExerciseCheckError
from course_lib.multitask import MISSING


# ---------------------------------------------------------------------------------------------
# Exercise 1: multitask_loss
# ---------------------------------------------------------------------------------------------
def ce_stable(z, y):
    z = z - z.max(axis=1, keepdims=True)
    return np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y]


def ce_naive(z, y):
    return np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y]


def loss(logits, labels, weights):
    total = 0.0
    for task, y in labels.items():
        keep = y != MISSING
        if keep.any():
            total += weights[task] * ce_stable(logits[task][keep], y[keep]).mean()
    return total


def loss_softmax_then_log(logits, labels, weights):
    total = 0.0
    for task, y in labels.items():
        keep = y != MISSING
        if keep.any():
            z = logits[task][keep]
            p = np.exp(z - z.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            total += weights[task] * -np.log(p[np.arange(keep.sum()), y[keep]]).mean()
    return np.float32(total)


def loss_torch(logits, labels, weights):
    total = torch.zeros(())
    for task, y in labels.items():
        if (y != MISSING).any():
            ce = F.cross_entropy(
                torch.from_numpy(logits[task]).double(),
                torch.from_numpy(y),
                ignore_index=MISSING,
            )
            total = total + weights[task] * ce
    return total


def loss_with(
    *,
    skip_missing=True,
    mean_over_all=False,
    use_weights=True,
    stable=True,
    skip_empty=True,
    by_position=False,
    reduce="mean",
):
    def fn(logits, labels, weights):
        total = 0.0
        ws = dict(zip(labels, weights.values(), strict=True)) if by_position else weights
        for task, y in labels.items():
            z = logits[task]
            keep = y != MISSING if skip_missing else np.ones(len(y), bool)
            if skip_empty and not keep.any():
                continue
            ce = (ce_stable if stable else ce_naive)(z[keep], y[keep])
            value = ce.sum() / len(y) if mean_over_all else getattr(ce, reduce)()
            total += (ws[task] if use_weights else 1.0) * value
        return total

    return fn


def loss_inplace(logits, labels, weights):
    for z in logits.values():
        z -= z.max(axis=1, keepdims=True)
    return loss(logits, labels, weights)


def test_reference_solutions_pass(capsys):
    lesson05.check_multitask_loss(loss)
    lesson05.check_multitask_loss(loss_torch)
    lesson05.check_multitask_loss(loss_softmax_then_log)
    lesson05.check_two_head_net(TwoHeadNet)
    lesson05.check_two_head_net(make_two_head_net)
    assert capsys.readouterr().out.count("checks passed") == 5


@pytest.mark.parametrize(
    ("fn", "hint"),
    [
        (loss_with(skip_missing=False), "LAST class"),
        (loss_with(mean_over_all=True), "divided by all 12"),
        (loss_with(use_weights=False), "weights were ignored"),
        (loss_with(by_position=True), "by position"),
        (loss_with(stable=False), "exp\\(1000\\) overflows"),
        (loss_with(skip_empty=False), "contributes 0: skip it"),
        (loss_with(reduce="sum"), "SUM of the per-image losses"),
        (lambda lg, lb, w: -loss(lg, lb, w), "wrong sign"),
        (
            lambda lg, lb, w: loss(lg, lb, w) / len(lb),
            "divided by the number of tasks",
        ),
        (
            lambda lg, lb, w: {t: loss({t: lg[t]}, {t: lb[t]}, w) for t in lb},
            "ONE number",
        ),
        (
            lambda lg, lb, w: np.array([loss(lg, lb, w)]),
            r"one number .* of shape \(1,\)",
        ),
        (
            lambda lg, lb, w: ce_stable(*next(iter(zip(lg.values(), lb.values(), strict=True)))),
            "one number",
        ),
        (
            lambda lg, lb, w: sum(
                w[t] * -lg[t][lb[t] != MISSING, lb[t][lb[t] != MISSING]].mean() for t in lb
            ),
            "log-probabilities",
        ),
        (loss_inplace, "changed in place"),
    ],
)
def test_loss_mistakes_get_a_hint(fn, hint):
    with pytest.raises(ExerciseCheckError, match=hint):
        lesson05.check_multitask_loss(fn)


def test_pooled_mean_over_tasks_gets_a_hint():
    def pooled(logits, labels, weights):
        parts = [
            weights[t] * ce_stable(logits[t][labels[t] != MISSING], labels[t][labels[t] != MISSING])
            for t in labels
        ]
        return np.concatenate(parts).mean()

    with pytest.raises(ExerciseCheckError, match="averaged together"):
        lesson05.check_multitask_loss(pooled)


def test_loss_torch_without_ignore_index_names_the_crash():
    def no_ignore(logits, labels, weights):
        return sum(
            weights[t] * F.cross_entropy(torch.from_numpy(logits[t]), torch.from_numpy(labels[t]))
            for t in labels
        )

    with pytest.raises(ExerciseCheckError, match="raised IndexError"):
        lesson05.check_multitask_loss(no_ignore)


def test_loss_that_still_raises_is_reported_as_not_implemented():
    def todo(logits, labels, weights):
        raise NotImplementedError

    with pytest.raises(ExerciseCheckError, match="not implemented yet") as err:
        lesson05.check_multitask_loss(todo)
    assert err.value.not_implemented


# ---------------------------------------------------------------------------------------------
# Exercise 2: TwoHeadNet
# ---------------------------------------------------------------------------------------------
class TwoHeadNet(nn.Module):
    def __init__(self, num_classes, width=8):
        super().__init__()
        self.trunk = cl.feature_extractor(cl.small_cnn(1, width=width))
        self.heads = nn.ModuleDict({t: nn.Linear(4 * width, c) for t, c in num_classes.items()})

    def forward(self, x):
        features = self.trunk(x)
        return {t: head(features) for t, head in self.heads.items()}


def make_two_head_net(num_classes, width=8):
    return TwoHeadNet(num_classes, width=width)


class TrunkPerHead(nn.Module):
    def __init__(self, num_classes, width=8):
        super().__init__()
        self.trunks = nn.ModuleDict(
            {t: cl.feature_extractor(cl.small_cnn(1, width=width)) for t in num_classes}
        )
        self.heads = nn.ModuleDict({t: nn.Linear(4 * width, c) for t, c in num_classes.items()})

    def forward(self, x):
        return {t: head(self.trunks[t](x)) for t, head in self.heads.items()}


class PlainDictHeads(TwoHeadNet):
    def __init__(self, num_classes, width=8):
        nn.Module.__init__(self)
        self.trunk = cl.feature_extractor(cl.small_cnn(1, width=width))
        self.heads = {t: nn.Linear(4 * width, c) for t, c in num_classes.items()}


class TrunkInForward(nn.Module):
    def __init__(self, num_classes, width=8):
        super().__init__()
        self.width = width
        self.heads = nn.ModuleDict({t: nn.Linear(4 * width, c) for t, c in num_classes.items()})

    def forward(self, x):
        trunk = cl.feature_extractor(cl.small_cnn(1, width=self.width))
        return {t: head(trunk(x)) for t, head in self.heads.items()}


class SharedHead(TwoHeadNet):
    """One head for every task: passes the shapes only when the tasks have as many classes."""

    def __init__(self, num_classes, width=8):
        super().__init__(num_classes, width)
        first = next(iter(self.heads.values()))
        if len(set(num_classes.values())) == 1:
            self.heads = nn.ModuleDict({t: first for t in num_classes})


class DetachedTrunk(TwoHeadNet):
    def forward(self, x):
        features = self.trunk(x).detach()
        return {t: head(features) for t, head in self.heads.items()}


class NoGrad(TwoHeadNet):
    def forward(self, x):
        with torch.no_grad():
            return super().forward(x)


class Probabilities(TwoHeadNet):
    def forward(self, x):
        return {t: z.softmax(dim=1) for t, z in super().forward(x).items()}


class FixedWidth(TwoHeadNet):
    def __init__(self, num_classes, width=8):
        super().__init__(num_classes, width=8)


class HardCodedTasks(TwoHeadNet):
    def forward(self, x):
        out = super().forward(x)
        return {"new": out[next(iter(out))], **out}


class ReturnsList(TwoHeadNet):
    def forward(self, x):
        return list(super().forward(x).values())


class FrozenTrunk(TwoHeadNet):
    def __init__(self, num_classes, width=8):
        super().__init__(num_classes, width)
        for p in self.trunk.parameters():
            p.requires_grad_(False)


class UnusedExtra(TwoHeadNet):
    def __init__(self, num_classes, width=8):
        super().__init__(num_classes, width)
        self.spare = nn.Linear(1, 1, bias=False)  # registered, never used in forward


class NoSuperInit(nn.Module):
    def __init__(self, num_classes, width=8):
        self.trunk = cl.feature_extractor(cl.small_cnn(1, width=width))


@pytest.mark.parametrize(
    ("fn", "hint"),
    [
        (TrunkPerHead, "one per head"),
        (PlainDictHeads, "nn.ModuleDict"),
        (TrunkInForward, "trunk is not registered"),
        (SharedHead, "share their head too"),
        (DetachedTrunk, "features were detached"),
        (NoGrad, "not connected to the parameters"),
        (Probabilities, "looks like probabilities"),
        (FixedWidth, "pass `width` on"),
        (HardCodedTasks, "do not write task names into the class"),
        (ReturnsList, "one entry per task"),
        (FrozenTrunk, "frozen"),
        (NoSuperInit, "raised AttributeError"),
        (lambda num_classes, width=8: cl.small_cnn(sum(num_classes.values())), "one entry per"),
        (lambda num_classes, width=8: None, "derives from nn.Module"),
    ],
)
def test_net_mistakes_get_a_hint(fn, hint):
    with pytest.raises(ExerciseCheckError, match=hint):
        lesson05.check_two_head_net(fn)


class SigmoidLogits(TwoHeadNet):
    def forward(self, x):
        return {t: torch.sigmoid(z) for t, z in super().forward(x).items()}


class ReluLogits(TwoHeadNet):
    def forward(self, x):
        return {t: torch.relu(z) for t, z in super().forward(x).items()}


class ReluHeads(TwoHeadNet):
    def __init__(self, num_classes, width=8):
        super().__init__(num_classes, width)
        self.heads = nn.ModuleDict(
            {t: nn.Sequential(nn.Linear(4 * width, c), nn.ReLU()) for t, c in num_classes.items()}
        )


class EvalTrunk(TwoHeadNet):
    def forward(self, x):
        self.trunk.eval()  # "the trunk is only a feature extractor": BatchNorm stops learning
        return super().forward(x)


class TrainInForward(TwoHeadNet):
    def forward(self, x):
        self.train()
        return super().forward(x)


@pytest.mark.parametrize(
    ("fn", "hint"),
    [
        (SigmoidLogits, r"no negative value \(all between 0 and 1"),
        (ReluLogits, r"no negative value \(many exactly 0"),
        (ReluHeads, r"no negative value"),
        (EvalTrunk, r"left \['trunk'.*in evaluation mode"),
        (TrainInForward, r"back in training mode"),
    ],
)
def test_net_that_squashes_its_logits_or_sets_its_mode_gets_a_hint(fn, hint):
    with pytest.raises(ExerciseCheckError, match=hint):
        lesson05.check_two_head_net(fn)


def test_unused_parameters_are_reported():
    with pytest.raises(ExerciseCheckError, match="parameters"):
        lesson05.check_two_head_net(UnusedExtra)


def test_net_that_still_raises_is_reported_as_not_implemented():
    class Todo(nn.Module):
        def __init__(self, num_classes, width=8):
            super().__init__()
            raise NotImplementedError

    class TodoForward(TwoHeadNet):
        def forward(self, x):
            raise NotImplementedError

    for fn in (Todo, TodoForward):
        with pytest.raises(ExerciseCheckError, match="not implemented yet") as err:
            lesson05.check_two_head_net(fn)
        assert err.value.not_implemented


def test_net_check_leaves_the_torch_rng_alone():
    torch.manual_seed(123)
    want = torch.rand(3)
    torch.manual_seed(123)
    lesson05.check_two_head_net(TwoHeadNet)
    assert torch.equal(torch.rand(3), want)


def test_reference_net_trains_with_fit_multitask():
    from course_lib.multitask import MultiTaskData

    r = np.random.default_rng(0)
    images = r.normal(size=(12, 28, 28)).astype(np.float32)
    labels = {"a": np.array([0, 1, 2, MISSING] * 3), "b": r.integers(0, 2, size=12)}
    data = MultiTaskData(images, labels, {"a": 3, "b": 2})
    net = TwoHeadNet({"a": 3, "b": 2}, width=2)
    cl.fit_multitask(net, data, steps=2, batch_size=4, quiet=True)
    assert set(cl.evaluate_multitask(net, data)) == {"a", "b"}


def test_checks_want_the_function_not_its_result():
    for check in (lesson05.check_multitask_loss, lesson05.check_two_head_net):
        with pytest.raises(ExerciseCheckError, match="expects your function itself"):
            check(None)


# ---------------------------------------------------------------------------------------------
# Exercise 2, Keras: two_head_net (a functional model with a dict of outputs, as lesson 05's)
# ---------------------------------------------------------------------------------------------
def keras_two_head_net(num_classes, width=8, *, activation=None, frozen=False):
    from course_lib import keras as kcl

    keras = pytest.importorskip("keras")
    trunk = kcl.feature_extractor(kcl.small_cnn(1, width=width))
    trunk.trainable = not frozen
    images = keras.Input((28, 28, 1))
    features = trunk(images)
    outputs = {
        task: keras.layers.Dense(n, activation=activation, name=task)(features)
        for task, n in num_classes.items()
    }
    return keras.Model(images, outputs)


def test_keras_reference_net_passes(capsys):
    def two_head_net(num_classes, width=8):
        return keras_two_head_net(num_classes, width)

    lesson05.check_two_head_net(two_head_net)
    assert "✓ two_head_net: all 6 checks passed" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("options", "hint"),
    [
        ({"activation": "sigmoid"}, r"no negative value \(all between 0 and 1"),
        ({"activation": "relu"}, r"no negative value \(many exactly 0"),
        ({"activation": "softmax"}, "looks like probabilities"),
        ({"frozen": True}, "frozen"),
    ],
)
def test_keras_net_mistakes_get_a_hint(options, hint):
    def two_head_net(num_classes, width=8):
        return keras_two_head_net(num_classes, width, **options)

    with pytest.raises(ExerciseCheckError, match=hint):
        lesson05.check_two_head_net(two_head_net)


def test_keras_net_that_still_raises_is_reported_as_not_implemented():
    pytest.importorskip("keras")

    def two_head_net(num_classes, width=8):
        raise NotImplementedError

    with pytest.raises(ExerciseCheckError, match="not implemented yet") as err:
        lesson05.check_two_head_net(two_head_net)
    assert err.value.not_implemented


def test_keras_reference_net_trains_with_fit_multitask():
    from course_lib import keras as kcl
    from course_lib.multitask import MultiTaskData

    r = np.random.default_rng(0)
    images = r.normal(size=(12, 28, 28)).astype(np.float32)
    labels = {"a": np.array([0, 1, 2, MISSING] * 3), "b": r.integers(0, 2, size=12)}
    data = MultiTaskData(images, labels, {"a": 3, "b": 2})
    net = keras_two_head_net({"a": 3, "b": 2}, width=2)
    kcl.fit_multitask(net, data, steps=2, batch_size=4, quiet=True)
    assert set(kcl.evaluate_multitask(net, data)) == {"a", "b"}
