"""Checks for lesson 05's exercises: a multi-task loss with missing labels, a shared-trunk network.

``exercises/05_multitask_exercises.ipynb`` calls :func:`check_multitask_loss` and
:func:`check_two_head_net`. The loss gets NumPy arrays, so a solution written with NumPy and one
that turns them into tensors first (``F.cross_entropy(..., ignore_index=MISSING)``) both pass; the
result goes through ``float``. The network comes in two versions, as the notebook's ``framework``
parameter picks: a PyTorch ``nn.Module`` (``TwoHeadNet``) or a functional ``keras.Model``
(``two_head_net``); :func:`check_two_head_net` checks whichever it is given, with the same
properties (one trunk, one linear head per task, raw logits, gradients, the training mode). It
builds small nets (width 2 or 4, a batch of 4 images): about a second on a CPU with PyTorch, a few
with Keras.
"""

from __future__ import annotations

import functools
import math
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np

from course_lib.exercises.checks import (
    ExerciseCheckError,
    call,
    expect,
    expect_shape,
    expect_type,
    fn_name,
    fresh_rng,
    require_callable,
    run_checks,
)
from course_lib.multitask import MISSING


# ---------------------------------------------------------------------------------------------
# Exercise 1: multitask_loss(logits, labels, weights) -> sum_t w_t * mean CE over labelled images
# ---------------------------------------------------------------------------------------------
def _logsumexp(z: np.ndarray) -> np.ndarray:
    top = z.max(axis=1, keepdims=True)
    return (top + np.log(np.exp(z - top).sum(axis=1, keepdims=True)))[:, 0]


def _per_image_ce(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Cross-entropy of every row of ``z`` against ``y`` (no MISSING in ``y``)."""
    z = np.asarray(z, dtype=np.float64)
    return _logsumexp(z) - z[np.arange(len(y)), y]


def _task_loss(z: np.ndarray, y: np.ndarray) -> float:
    keep = y != MISSING
    return float(_per_image_ce(z[keep], y[keep]).mean()) if keep.any() else 0.0


def _reference_multitask_loss(
    logits: Mapping[str, np.ndarray], labels: Mapping[str, np.ndarray], weights: Mapping[str, float]
) -> float:
    return float(sum(weights[t] * _task_loss(logits[t], labels[t]) for t in labels))


def _task(
    key: str, n: int, num_classes: int, missing: float = 0.0, scale: float = 2.0
) -> tuple[np.ndarray, np.ndarray]:
    """Logits ``(n, num_classes)`` and labels ``(n,)``, a fraction ``missing`` of them MISSING."""
    r = fresh_rng(key)
    z = r.normal(scale=scale, size=(n, num_classes))
    y = r.integers(0, num_classes, size=n)
    if missing:
        y[r.permutation(n)[: round(missing * n)]] = MISSING
    return z, y


def _close(a: float, b: float) -> bool:
    return math.isfinite(a) and math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)


def check_multitask_loss(fn: Callable[..., Any]) -> None:
    """Check ``multitask_loss(logits, labels, weights) -> float``: the sum over tasks of
    ``weights[t]`` times the mean softmax cross-entropy over the images labelled for ``t``."""
    __tracebackhide__ = True
    require_callable(fn, "check_multitask_loss")
    name = fn_name(fn)

    def loss(logits: dict, labels: dict, weights: dict, *, quiet: bool = False) -> float:
        """The learner's loss as a float (copies of the inputs, so a check cannot be fooled)."""
        args = (
            {t: z.copy() for t, z in logits.items()},
            {t: y.copy() for t, y in labels.items()},
            dict(weights),
        )
        with warnings.catch_warnings():
            if quiet:  # overflow / empty-mean warnings: the check's message says it better
                warnings.simplefilter("ignore", RuntimeWarning)
            with np.errstate(all="ignore" if quiet else "warn"):
                out = call(fn, *args)
        if isinstance(out, Mapping):
            raise ExerciseCheckError(
                f"`{name}(...)` returned a {type(out).__name__} (one value per task?): return "
                "ONE number, the weighted sum of the tasks' losses."
            )
        if hasattr(out, "detach"):  # a torch tensor
            out = out.detach().cpu().numpy()
        try:
            array = np.asarray(out, dtype=np.float64)
        except (TypeError, ValueError):
            array = None
        expect(
            array is not None and array.ndim == 0,
            f"`{name}(...)` must return one number (a float or a 0-d array), got "
            f"{type(out).__name__}"
            + (f" of shape {array.shape}" if array is not None else "")
            + ". Average each task's per-image losses, weight them and add them up; "
            "float(...) turns a 1-element array or tensor into a number.",
        )
        value = float(array)
        return value

    def one_number() -> None:
        z, y = _task("loss-number", 6, 4)
        loss({"task": z}, {"task": y}, {"task": 1.0})

    def one_task_mean_cross_entropy() -> None:
        z, y = _task("loss-one-task", 10, 5)
        got = loss({"digit": z}, {"digit": y}, {"digit": 1.0})
        want = _reference_multitask_loss({"digit": z}, {"digit": y}, {"digit": 1.0})
        ce = _per_image_ce(z, y)
        if _close(got, ce.sum()):
            raise ExerciseCheckError(
                "that is the SUM of the per-image losses: take their mean, so that the loss "
                "does not grow with the number of images."
            )
        if _close(got, -want):
            raise ExerciseCheckError(
                "the loss has the wrong sign: cross-entropy is MINUS the log-probability of the "
                "true class, log-sum-exp(z) - z[y], which is >= 0."
            )
        if _close(got, float(-z[np.arange(len(y)), y].mean())):
            raise ExerciseCheckError(
                "that is minus the true class's logit alone: turn the logits into "
                "log-probabilities first (subtract each row's log-sum-exp)."
            )
        by_column = (np.log(np.exp(z).sum(axis=0)) - z)[np.arange(len(y)), y].mean()
        if _close(got, float(by_column)):
            raise ExerciseCheckError(
                "the softmax was taken over the images (axis 0): take it over each image's "
                "classes, along axis 1 (one row of logits per image)."
            )
        expect(
            _close(got, want),
            f"`{name}(...)` for one task (10 images, all labelled, 5 classes, weight 1) returned "
            f"{got:.6g}; that is not the mean softmax cross-entropy of those images. Per image: "
            "log(sum_c exp(z_c)) - z_y; then the mean.",
        )

    def missing_labels_are_skipped() -> None:
        z, y = _task("loss-missing", 12, 6, missing=0.5)
        got = loss({"task": z}, {"task": y}, {"task": 1.0})
        want = _reference_multitask_loss({"task": z}, {"task": y}, {"task": 1.0})
        keep = y != MISSING
        ce_all = _per_image_ce(z, np.where(keep, y, z.shape[1] - 1))
        if _close(got, float(ce_all.mean())):
            raise ExerciseCheckError(
                f"the images labelled MISSING = {MISSING} were counted as if their label were "
                "the LAST class (z[i, -1] indexes from the end, it raises no error): keep only "
                f"the images with a label, `y != {MISSING}`, before computing the loss."
            )
        if _close(got, float(_per_image_ce(z[keep], y[keep]).sum() / len(y))):
            raise ExerciseCheckError(
                f"the loss of the {keep.sum()} labelled images was divided by all {len(y)} "
                "images: average over the labelled images only (images without a label are not "
                "examples of this task)."
            )
        expect(
            _close(got, want),
            f"`{name}(...)` for one task, 12 images of which 6 are labelled MISSING, returned "
            f"{got:.6g}; that is not the mean cross-entropy of the 6 labelled images.",
        )

    def weighted_sum_over_tasks() -> None:
        sizes = {"new": (9, 7, 0.6), "source": (9, 4, 0.2), "alphabet": (9, 3, 0.0)}
        logits, labels = {}, {}
        for task, (n, c, missing) in sizes.items():
            logits[task], labels[task] = _task(f"loss-weights-{task}", n, c, missing)
        weights = {"alphabet": 0.25, "source": 0.5, "new": 2.0}  # not in the order of the tasks
        got = loss(logits, labels, weights)
        want = _reference_multitask_loss(logits, labels, weights)
        per_task = {t: _task_loss(logits[t], labels[t]) for t in labels}
        if _close(got, sum(per_task.values())):
            raise ExerciseCheckError(
                "the weights were ignored: multiply each task's loss by weights[task] before "
                "adding them up."
            )
        if _close(got, want / len(per_task)) or _close(got, want / sum(weights.values())):
            raise ExerciseCheckError(
                "the weighted sum was divided by the number of tasks or by the sum of the "
                "weights: the loss is the plain weighted sum, sum_t weights[t] * loss_t."
            )
        by_position = sum(w * per_task[t] for t, w in zip(per_task, weights.values(), strict=True))
        if _close(got, by_position):
            raise ExerciseCheckError(
                "the weights were matched to the tasks by position: the dicts need not list the "
                "tasks in the same order, so look each weight up by its task, weights[task]."
            )
        pooled = [
            _per_image_ce(logits[t][y != MISSING], y[y != MISSING]) for t, y in labels.items()
        ]
        pooled_mean = sum(
            weights[t] * ce.sum() for t, ce in zip(labels, pooled, strict=True)
        ) / sum(ce.size for ce in pooled)
        if _close(got, float(pooled_mean)):
            raise ExerciseCheckError(
                "all tasks' labelled images were averaged together: take each task's mean over "
                "its own labelled images, then the weighted sum of those means."
            )
        expect(
            _close(got, want),
            f"`{name}(...)` for three tasks with weights {weights} returned {got:.6g}; that is "
            "not the weighted sum of the tasks' mean cross-entropies.",
        )

    def unlabelled_task_contributes_zero() -> None:
        z_a, y_a = _task("loss-empty-a", 8, 5, missing=0.25)
        z_b, _ = _task("loss-empty-b", 8, 3)
        y_b = np.full(8, MISSING)
        logits, labels = {"a": z_a, "b": z_b}, {"a": y_a, "b": y_b}
        weights = {"a": 1.0, "b": 1.0}
        got = loss(logits, labels, weights, quiet=True)
        expect(
            math.isfinite(got),
            f"with a task whose 8 images are all MISSING, `{name}(...)` returned {got}: the "
            "mean over no image is NaN (0 / 0). A task with no labelled image in the batch "
            "contributes 0: skip it.",
        )
        expect(
            _close(got, _reference_multitask_loss(logits, labels, weights)),
            f"with task 'b' all MISSING, `{name}(...)` returned {got:.6g}: that should be task "
            "'a''s loss alone ('b' contributes 0).",
        )
        alone = loss({"b": z_b}, {"b": y_b}, {"b": 1.0}, quiet=True)
        expect(
            alone == 0.0,
            f"for a single task with no labelled image, `{name}(...)` returned {alone}; expected "
            "0.",
        )

    def large_logits_are_stable() -> None:
        z, y = _task("loss-stable", 10, 6, missing=0.3, scale=5.0)
        big = (z + 1000.0).astype(np.float32)  # what a network can output; exp(1000) = inf
        got = loss({"task": big}, {"task": y}, {"task": 1.0}, quiet=True)
        want = _reference_multitask_loss({"task": big}, {"task": y}, {"task": 1.0})
        expect(
            math.isfinite(got),
            f"for logits around 1000, `{name}(...)` returned {got}: exp(1000) overflows to "
            "inf. Subtract each row's maximum from its logits before exp (the softmax does not "
            "change), i.e. compute log-sum-exp stably.",
        )
        expect(
            math.isclose(got, want, rel_tol=1e-4, abs_tol=1e-3),
            f"for logits around 1000, `{name}(...)` returned {got:.6g}; adding the same number "
            "to every logit must not change the loss. Subtract each row's maximum, and add it "
            "back in the log-sum-exp.",
        )

    def inputs_left_alone() -> None:
        z, y = _task("loss-inplace", 8, 4, missing=0.25)
        logits, labels = {"task": z}, {"task": y}
        before = (z.copy(), y.copy())
        with np.errstate(all="ignore"):
            call(fn, logits, labels, {"task": 1.0})
        expect(
            np.array_equal(z, before[0]),
            "the logits changed in place (e.g. z -= z.max(...)): compute the shifted logits in "
            "a new array, z - z.max(axis=1, keepdims=True).",
        )
        expect(
            np.array_equal(y, before[1]),
            f"the labels changed in place: select the labelled images into new arrays, "
            f"y[y != {MISSING}].",
        )
        expect(
            list(logits) == ["task"]
            and logits["task"] is z
            and list(labels) == ["task"]
            and labels["task"] is y,
            "the dict `logits` or `labels` was modified (an entry replaced or added): keep "
            "your intermediate arrays in variables of your own.",
        )

    run_checks(
        name,
        [
            ("one number", one_number),
            ("one task: the mean softmax cross-entropy", one_task_mean_cross_entropy),
            ("MISSING labels are left out of the mean", missing_labels_are_skipped),
            ("the weighted sum over tasks, weights looked up by task", weighted_sum_over_tasks),
            ("a task with no labelled image contributes 0", unlabelled_task_contributes_zero),
            ("large logits (around 1000) give a finite, correct loss", large_logits_are_stable),
            ("the inputs are not modified", inputs_left_alone),
        ],
    )


# ---------------------------------------------------------------------------------------------
# Exercise 2: TwoHeadNet(num_classes, width) -> nn.Module, forward(x) -> {task: logits}
# ---------------------------------------------------------------------------------------------
_TASK_SETS: tuple[dict[str, int], ...] = (
    {"digit": 4},
    {"colour": 3, "shape": 6},
    {"new": 7, "source": 5, "alphabet": 3},
)


def _images(key: str, n: int = 4) -> Any:
    import torch

    return torch.from_numpy(fresh_rng(key).normal(size=(n, 1, 28, 28)).astype(np.float32))


def _count(module: Any) -> int:
    return sum(p.numel() for p in module.parameters())


def _trunk_size(width: int) -> int:
    """Parameters of the trunk the exercise asks for (the small CNN without its last Linear)."""
    from course_lib.torch import feature_extractor, small_cnn

    return _count(feature_extractor(small_cnn(1, width=width)))


def _heads_size(num_classes: Mapping[str, int], width: int) -> int:
    return sum(4 * width * c + c for c in num_classes.values())


def _expect_raw_logits(found: Mapping[str, np.ndarray]) -> None:
    """Logits of freshly initialised Linear/Dense heads take both signs; an activation after
    the heads (sigmoid, ReLU, softmax, exp) leaves none below 0.

    ``found`` holds the outputs of several nets and tasks (``{task: logits}``): one class column
    can come out positive for every image (the trunk's features are all >= 0, and similar for
    random images), but each column is so with probability about 1/2, so over some 30 columns a
    raw head gives a negative value somewhere.
    """
    __tracebackhide__ = True
    if any((logits < 0).any() for logits in found.values()):
        return
    task, logits = next(iter(found.items()))
    kind = "all between 0 and 1 (a sigmoid?)" if (logits <= 1).all() else "none below 0"
    if (logits == 0).mean() > 0.2:
        kind = "many exactly 0, none below (a ReLU?)"
    raise ExerciseCheckError(
        f"output[{task!r}] holds no negative value ({kind}): an activation was applied after "
        "the head. Return the logits, the raw outputs of the linear head; the multi-task loss "
        "applies the softmax itself, and a squashed or clipped output cannot express what it "
        "needs to (a ReLU gives no gradient at all below 0)."
    )


def _is_keras(obj: Any) -> bool:
    """Whether ``obj`` (or, for a class, the class itself) comes from Keras."""
    kind = obj if isinstance(obj, type) else type(obj)
    return any(c.__module__.split(".")[0] == "keras" for c in kind.__mro__)


def _builds_keras(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` builds a Keras model (a Keras class, or a function that returns one)."""
    if isinstance(fn, type):
        return _is_keras(fn)
    try:
        with _torch_rng_kept():
            return _is_keras(fn({"probe": 2}, width=2))
    except Exception:  # not implemented, or broken: the check proper reports it
        return "torch" not in sys.modules


@contextmanager
def _torch_rng_kept() -> Iterator[None]:
    if "torch" not in sys.modules:
        yield
        return
    import torch

    with torch.random.fork_rng(devices=[]):
        yield


def check_two_head_net(fn: Callable[..., Any]) -> None:
    """Check ``fn(num_classes, width=...)``, a network with one shared trunk and one linear head
    per task whose call returns ``{task: logits}``, logits ``(N, num_classes[task])``.

    PyTorch: ``fn`` is a class such as ``TwoHeadNet`` (or a function) that builds an
    ``nn.Module`` with one ``nn.Linear`` head per task. Keras: ``fn`` is a function such as
    ``two_head_net`` that builds a functional ``keras.Model`` with a dict of outputs, one
    ``Dense`` layer per task (as lesson 05's Keras notebook builds it).
    """
    __tracebackhide__ = True
    require_callable(fn, "check_two_head_net")
    if _builds_keras(fn):
        _check_two_head_net_keras(fn)
    else:
        _check_two_head_net_torch(fn)


def _check_two_head_net_torch(fn: Callable[..., Any]) -> None:
    __tracebackhide__ = True
    import torch
    from torch import nn

    name = fn_name(fn)

    def build(num_classes: dict[str, int], width: int, seed: int = 0) -> nn.Module:
        torch.manual_seed(seed)
        net = call(fn, dict(num_classes), width=width)
        expect_type(
            net,
            nn.Module,
            f"`{name}({num_classes}, width={width})`",
            "Write a class that derives from nn.Module (call super().__init__() first in "
            "__init__) and build it with the task dict. (With Keras: a function that returns "
            "keras.Model(images, {task: logits, ...}).)",
        )
        return net

    def outputs(net: nn.Module, x: torch.Tensor, num_classes: dict[str, int]) -> dict:
        out = call(net, x)
        what = f"the output of the net for tasks {list(num_classes)}"
        expect_type(
            out,
            Mapping,
            what,
            "forward(x) returns a dict with one entry per task: {task: logits}, e.g. a dict "
            "comprehension over self.heads.items().",
        )
        missing = [t for t in num_classes if t not in out]
        extra = [t for t in out if t not in num_classes]
        expect(
            not missing and not extra,
            f"{what} has the keys {list(out)}; expected exactly the tasks {list(num_classes)}"
            + (f" (missing {missing})" if missing else "")
            + (f" (unexpected {extra})" if extra else "")
            + ". Build one head per key of `num_classes`, named like the task; do not write "
            "task names into the class.",
        )
        return dict(out)

    def with_torch_rng(check: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            with torch.random.fork_rng(devices=[]):  # seeds inside, the notebook's RNG untouched
                check()

        return run

    def a_module() -> None:
        build({"colour": 3, "shape": 6}, width=2)

    def one_output_per_task() -> None:
        for i, num_classes in enumerate(_TASK_SETS):
            net = build(num_classes, width=2, seed=i)
            outputs(net, _images(f"net-keys{i}"), num_classes)

    def logits_of_every_task() -> None:
        found: dict[str, np.ndarray] = {}
        for i, num_classes in enumerate(_TASK_SETS):
            net = build(num_classes, width=2, seed=i)
            x = _images(f"net-shapes{i}")
            out = outputs(net, x, num_classes)
            for task, c in num_classes.items():
                logits = out[task]
                expect_type(
                    logits,
                    torch.Tensor,
                    f"output[{task!r}]",
                    "Each entry is the tensor of logits its head returns.",
                )
                expect_shape(
                    logits,
                    (len(x), c),
                    f"output[{task!r}] for {len(x)} images (1, 28, 28) and {c} classes",
                    "One row per image, one column per class of that task: head[task] is "
                    "nn.Linear(4 * width, num_classes[task]) on the trunk's features.",
                )
                expect(
                    torch.isfinite(logits).all().item(),
                    f"output[{task!r}] holds NaN or infinite values.",
                )
                rows = logits.detach().double().sum(dim=1)
                expect(
                    not (
                        (logits >= 0).all()
                        and (logits <= 1).all()
                        and torch.allclose(rows, torch.ones_like(rows), atol=1e-4)
                    ),
                    f"output[{task!r}] looks like probabilities (every row sums to 1): return "
                    "the logits, the raw outputs of the Linear head; the loss applies the "
                    "softmax itself.",
                )
                found[task] = logits.detach().numpy()
        _expect_raw_logits(found)

    def one_trunk_plus_one_head_per_task() -> None:
        narrow, wide = (_count(build(_TASK_SETS[0], width=w)) for w in (2, 4))
        expect(
            narrow != wide,
            f"`{name}` builds the same network for width=2 and width=4: pass `width` on to "
            "the trunk (cl.small_cnn(1, width=width)) and size the heads with it.",
        )
        for width in (2, 4):
            for i, num_classes in enumerate(_TASK_SETS):
                got = _count(build(num_classes, width=width, seed=i))
                trunk, heads = _trunk_size(width), _heads_size(num_classes, width)
                k = len(num_classes)
                where = f"`{name}({num_classes}, width={width})`"
                if got == trunk + heads:
                    continue
                if got == k * trunk + heads and k > 1:
                    raise ExerciseCheckError(
                        f"{where} has {k} trunks, one per head ({got} parameters): hard "
                        "parameter sharing means ONE trunk, built once in __init__, whose "
                        "features go to every head."
                    )
                if got == heads:
                    raise ExerciseCheckError(
                        f"{where} has only the heads' {got} parameters: the trunk is not "
                        "registered. Build it once in __init__ and keep it as an attribute, "
                        "self.trunk = ..., not inside forward or in a plain list or dict."
                    )
                if got == trunk:
                    raise ExerciseCheckError(
                        f"{where} has only the trunk's {got} parameters: the heads are not "
                        "registered. Keep them in an nn.ModuleDict (a plain dict hides them "
                        "from .parameters(), so the optimizer would never train them)."
                    )
                raise ExerciseCheckError(
                    f"{where} has {got} parameters; one trunk "
                    f"cl.feature_extractor(cl.small_cnn(1, width={width})) has {trunk} and the "
                    f"heads nn.Linear(4 * width, num_classes[task]) have {heads} together. Use "
                    "that trunk, at the given width, and one Linear head per task."
                )

    def trunk_shared_heads_separate() -> None:
        num_classes = {"left": 3, "right": 3}  # same size: one head for both would fit too
        net = build(num_classes, width=2, seed=7)
        frozen = [n for n, p in net.named_parameters() if not p.requires_grad]
        expect(
            not frozen,
            f"parameters {frozen[:3]} are frozen (requires_grad=False): in this exercise the "
            "trunk and the heads all train.",
        )
        names, params = zip(*net.named_parameters(), strict=True)
        net.train()
        out = outputs(net, _images("net-grad"), num_classes)
        r = fresh_rng("net-grad-weights")

        def reached(task: str) -> set[str]:
            logits = out[task]
            expect(
                logits.requires_grad,
                f"output[{task!r}] is not connected to the parameters (computed under "
                "torch.no_grad() or detached?): the loss must be able to train the net.",
            )
            proj = torch.from_numpy(r.normal(size=tuple(logits.shape)).astype(np.float32))
            grads = torch.autograd.grad(
                (logits * proj).sum(), params, retain_graph=True, allow_unused=True
            )
            return {n for n, g in zip(names, grads, strict=True) if g is not None and g.any()}

        left, right = reached("left"), reached("right")
        untouched = [n for n in names if n not in left | right]
        expect(
            bool(left & right) or not untouched,
            f"the trunk's parameters ({untouched[:2]}, ...) get no gradient from either head: "
            "the features were detached (.detach(), torch.no_grad() or a NumPy round trip) "
            "before the heads. Feed the trunk's output tensor to the heads as it is.",
        )
        expect(
            bool(left & right),
            "no parameter gets a gradient from both heads: each head has its own trunk. Hard "
            "parameter sharing: ONE trunk, its features fed to every head, so that every "
            "task's loss trains it.",
        )
        expect(
            bool(left - right) and bool(right - left),
            "every parameter that one head's logits depend on also gets a gradient from the "
            "other head: the two tasks share their head too. Give each task its own "
            "nn.Linear in an nn.ModuleDict, self.heads[task].",
        )
        expect(
            not untouched,
            f"parameters {untouched[:3]} get no gradient from any head: every parameter of "
            "the net should be used by forward (trunk -> features -> each head).",
        )

    def batch_statistics_while_training() -> None:
        net = build({"colour": 3, "shape": 6}, width=2, seed=11)
        x = _images("net-modes", n=6)
        net.train()
        trained = outputs(net, x, {"colour": 3, "shape": 6})
        idle = [n or "the net" for n, m in net.named_modules() if not m.training]
        expect(
            not idle,
            f"after net.train(), forward(x) left {idle[:3]} in evaluation mode: forward must "
            "not call .eval() (or .train(False)) on the trunk. In evaluation mode BatchNorm "
            "normalises with its running statistics instead of the batch's and never updates "
            "them, so the trunk would train with layers that do not learn their statistics. "
            "The caller sets the mode (cl.fit_multitask calls net.train(), evaluation "
            "net.eval()); forward only computes.",
        )
        net.eval()
        with torch.no_grad():
            evaluated = outputs(net, x, {"colour": 3, "shape": 6})
        busy = [n or "the net" for n, m in net.named_modules() if m.training]
        expect(
            not busy,
            f"after net.eval(), forward(x) put {busy[:3]} back in training mode: forward must "
            "not call .train(); the caller sets the mode.",
        )
        expect(
            any(not torch.allclose(trained[t], evaluated[t]) for t in trained),
            "the outputs in training mode equal those in evaluation mode: the trunk's "
            "BatchNorm layers do not use the batch's statistics while training. Call the "
            "trunk as it is in forward, without changing its mode.",
        )

    run_checks(
        name,
        [
            ("builds a torch nn.Module", with_torch_rng(a_module)),
            ("forward returns a dict with one entry per task", with_torch_rng(one_output_per_task)),
            (
                "logits of shape (N, num_classes[task]) for 1, 2 and 3 tasks",
                with_torch_rng(logits_of_every_task),
            ),
            (
                "one trunk plus one Linear head per task (parameter count)",
                with_torch_rng(one_trunk_plus_one_head_per_task),
            ),
            (
                "the trunk is shared, each head is the task's own (gradients)",
                with_torch_rng(trunk_shared_heads_separate),
            ),
            (
                "forward leaves the training/evaluation mode to the caller (BatchNorm)",
                with_torch_rng(batch_statistics_while_training),
            ),
        ],
    )


# ---------------------------------------------------------------------------------------------
# Exercise 2, Keras: two_head_net(num_classes, width) -> keras.Model with outputs {task: logits}
# ---------------------------------------------------------------------------------------------
def _keras_images(key: str, n: int = 4) -> np.ndarray:
    """Channels-last images (N, 28, 28, 1), as the Keras lessons feed them."""
    return fresh_rng(key).normal(size=(n, 28, 28, 1)).astype(np.float32)


def _keras_count(weights: list) -> int:
    return int(sum(np.prod(w.shape) for w in weights))


@functools.lru_cache(maxsize=8)
def _keras_trunk_size(width: int) -> int:
    from course_lib.keras.models import feature_extractor, small_cnn

    return _keras_count(feature_extractor(small_cnn(1, width=width)).trainable_weights)


def _check_two_head_net_keras(fn: Callable[..., Any]) -> None:
    """The Keras version of :func:`check_two_head_net`: the same properties, in Keras' terms."""
    __tracebackhide__ = True
    import keras
    import tensorflow as tf

    name = fn_name(fn)

    def build(num_classes: dict[str, int], width: int) -> keras.Model:
        net = call(fn, dict(num_classes), width=width)
        expect_type(
            net,
            keras.Model,
            f"`{name}({num_classes}, width={width})`",
            "Return the model: keras.Model(images, {task: logits, ...}), as lesson 05's "
            "multi_head_net does.",
        )
        return net

    def outputs(net: keras.Model, x: np.ndarray, num_classes: dict[str, int], **kw: Any) -> dict:
        out = call(net, x, **kw)
        what = f"the output of the model for tasks {list(num_classes)}"
        expect_type(
            out,
            Mapping,
            what,
            "The model's outputs are a dict with one entry per task: keras.Model(images, "
            "{task: ... for task in num_classes}).",
        )
        missing = [t for t in num_classes if t not in out]
        extra = [t for t in out if t not in num_classes]
        expect(
            not missing and not extra,
            f"{what} has the keys {list(out)}; expected exactly the tasks {list(num_classes)}"
            + (f" (missing {missing})" if missing else "")
            + (f" (unexpected {extra})" if extra else "")
            + ". Build one output per key of `num_classes`, named like the task; do not write "
            "task names into the function.",
        )
        return dict(out)

    def a_functional_model() -> None:
        net = build({"colour": 3, "shape": 6}, width=2)
        try:
            declared = net.output
        except (AttributeError, ValueError):
            declared = None
        expect(
            isinstance(declared, Mapping),
            f"`{name}` returned a {type(net).__name__} without a dict of declared outputs: "
            "cl.fit_multitask trains a functional model whose outputs are a dict {task: "
            "logits}. Build it from keras.Input((28, 28, 1)) as lesson 05 does: "
            "keras.Model(images, {task: ... for task in num_classes}).",
        )

    def one_output_per_task() -> None:
        for i, num_classes in enumerate(_TASK_SETS):
            net = build(num_classes, width=2)
            outputs(net, _keras_images(f"net-keys{i}"), num_classes)
            names = {layer.name for layer in net.layers}
            unnamed = [t for t in num_classes if t not in names]
            expect(
                not unnamed,
                f"the model has no layer named {unnamed[:1]}: name each task's Dense layer "
                "after its task, keras.layers.Dense(..., name=task), as lesson 05 does, so "
                "that net.get_layer(task) finds its head.",
            )

    def logits_of_every_task() -> None:
        found: dict[str, np.ndarray] = {}
        for i, num_classes in enumerate(_TASK_SETS):
            x = _keras_images(f"net-shapes{i}")
            out = outputs(build(num_classes, width=2), x, num_classes)
            for task, c in num_classes.items():
                logits = np.asarray(out[task])
                expect_shape(
                    logits,
                    (len(x), c),
                    f"output[{task!r}] for {len(x)} images (28, 28, 1) and {c} classes",
                    "One row per image, one column per class of that task: "
                    "keras.layers.Dense(num_classes[task]) on the trunk's features.",
                )
                expect(bool(np.isfinite(logits).all()), f"output[{task!r}] holds NaN or inf.")
                rows = logits.astype(np.float64).sum(axis=1)
                expect(
                    not ((logits >= 0).all() and np.allclose(rows, 1.0, atol=1e-4)),
                    f"output[{task!r}] looks like probabilities (every row sums to 1): return "
                    "the logits, the raw outputs of the Dense layer (no activation); the loss "
                    "applies the softmax itself (from_logits=True).",
                )
                found[task] = logits
        _expect_raw_logits(found)

    def one_trunk_plus_one_head_per_task() -> None:
        for width in (2, 4):
            for num_classes in _TASK_SETS:
                net = build(num_classes, width=width)
                frozen = [
                    w.path
                    for w in net.non_trainable_weights
                    if not w.path.split("/")[-1].startswith("moving_")
                ]
                expect(
                    not frozen,
                    f"weights {frozen[:3]} are frozen (trainable=False): in this exercise the "
                    "trunk and the heads all train.",
                )
                got = _keras_count(net.trainable_weights)
                trunk, heads = _keras_trunk_size(width), _heads_size(num_classes, width)
                k = len(num_classes)
                where = f"`{name}({num_classes}, width={width})`"
                if got == trunk + heads:
                    continue
                if got == k * trunk + heads and k > 1:
                    raise ExerciseCheckError(
                        f"{where} has {k} trunks, one per output ({got} weights): hard "
                        "parameter sharing means ONE trunk, built once and called once on the "
                        "images, whose features go to every Dense output."
                    )
                if got == _keras_trunk_size(8) + _heads_size(num_classes, 8) and width != 8:
                    raise ExerciseCheckError(
                        f"{where} builds the width-8 network whatever `width` is: pass `width` "
                        "on to the trunk (cl.small_cnn(1, width=width))."
                    )
                raise ExerciseCheckError(
                    f"{where} has {got} trainable weights; one trunk "
                    f"cl.feature_extractor(cl.small_cnn(1, width={width})) has {trunk} and the "
                    f"heads Dense(num_classes[task]) on its 4 * width features have {heads} "
                    "together. Use that trunk, at the given width, and one Dense layer per task."
                )

    def trunk_shared_heads_separate() -> None:
        num_classes = {"left": 3, "right": 3}
        net = build(num_classes, width=2)
        variables = list(net.trainable_variables)
        paths = [v.path for v in variables]
        x = tf.constant(_keras_images("net-grad"))
        r = fresh_rng("net-grad-weights")
        with tf.GradientTape(persistent=True) as tape:
            out = outputs(net, x, num_classes, training=True)
            totals = {
                t: tf.reduce_sum(
                    tf.convert_to_tensor(out[t])
                    * r.normal(size=tuple(out[t].shape)).astype(np.float32)
                )
                for t in num_classes
            }
        reached = {}
        for task, total in totals.items():
            grads = tape.gradient(total, variables)
            reached[task] = {
                p for p, g in zip(paths, grads, strict=True)
                if g is not None and bool(tf.reduce_any(tf.convert_to_tensor(g) != 0))
            }  # fmt: skip
        del tape
        left, right = reached["left"], reached["right"]
        untouched = [p for p in paths if p not in left | right]
        expect(
            bool(left | right),
            "no weight of the model gets a gradient from its outputs: the outputs are cut off "
            "from the weights (tf.stop_gradient, or a NumPy round trip).",
        )
        expect(
            bool(left & right) or not untouched,
            f"the trunk's weights ({untouched[:2]}, ...) get no gradient from either output: "
            "the features were cut off (tf.stop_gradient, or a NumPy round trip) before the "
            "Dense layers. Feed the trunk's output to every Dense layer as it is.",
        )
        expect(
            bool(left & right),
            "no weight gets a gradient from both outputs: each output has its own trunk. Hard "
            "parameter sharing: ONE trunk, its features fed to every Dense output, so that "
            "every task's loss trains it.",
        )
        expect(
            bool(left - right) and bool(right - left),
            "every weight that one output depends on also gets a gradient from the other: "
            "the two tasks share their head too. Give each task its own Dense layer.",
        )
        expect(
            not untouched,
            f"weights {untouched[:3]} get no gradient from any output: every layer of the "
            "model should be used (trunk -> features -> each Dense output).",
        )

    def batch_statistics_while_training() -> None:
        num_classes = {"colour": 3, "shape": 6}
        net = build(num_classes, width=2)
        x = _keras_images("net-modes", n=6)
        trained = outputs(net, x, num_classes, training=True)
        inferred = outputs(net, x, num_classes, training=False)
        expect(
            any(
                not np.allclose(np.asarray(trained[t]), np.asarray(inferred[t]), atol=1e-6)
                for t in num_classes
            ),
            "the outputs with training=True equal those with training=False: the trunk's "
            "BatchNormalization layers never use the batch's statistics, so they would not "
            "learn them while training (a trunk called with training=False inside a Lambda "
            "layer or a subclassed call(), or a frozen trunk). Call the trunk as "
            "trunk(images) and let Keras pass the mode on.",
        )

    run_checks(
        name,
        [
            ("builds a functional keras.Model with a dict of outputs", a_functional_model),
            ("one output per task", one_output_per_task),
            ("logits of shape (N, num_classes[task]) for 1, 2 and 3 tasks", logits_of_every_task),
            (
                "one trunk plus one Dense layer per task (weight count)",
                one_trunk_plus_one_head_per_task,
            ),
            ("the trunk is shared, each output has its own Dense layer (gradients)",
             trunk_shared_heads_separate),
            ("the trunk follows training=True/False (BatchNorm)", batch_statistics_while_training),
        ],
    )  # fmt: skip
