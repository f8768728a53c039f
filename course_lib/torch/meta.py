"""Meta-learning in PyTorch: a small network as a list of weight tensors, one copy per task.

MAML adapts a *copy* of the weights to every task of a batch. Stacking the copies along a leading
task axis runs all tasks in one batched matrix product, and because task ``i``'s loss depends only
on copy ``i``, the gradient of the *summed* loss gives every task its own gradient at once.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from course_lib.data.sinusoids import SinusoidTasks
from course_lib.errors import ArgumentTypeError
from course_lib.meta import (
    check_curve_args,
    check_layer_sizes,
    check_prediction_args,
    check_task_weights,
    warn_if_diverged,
)
from course_lib.training import check_positive_int

Weights = list[torch.Tensor]


def mlp_weights(sizes: Sequence[int] = (1, 40, 40, 1)) -> Weights:
    """``[W1, b1, W2, b2, ...]`` of a ReLU MLP (``W`` is ``(in, out)``), initialised like
    ``nn.Linear``; leaf tensors that require gradients (give them to an optimizer)."""
    weights: Weights = []
    for n_in, n_out in itertools.pairwise(check_layer_sizes(sizes)):
        layer = nn.Linear(n_in, n_out)
        weights += [layer.weight.detach().T.contiguous(), layer.bias.detach().clone()]
    return [w.requires_grad_() for w in weights]


def per_task(weights: Weights, num_tasks: int) -> Weights:
    """One copy of ``weights`` per task, stacked on a new leading axis (gradients flow back)."""
    check_positive_int("num_tasks", num_tasks)
    return [w.expand(num_tasks, *w.shape) for w in weights]


def batched_forward(weights: Weights, x: torch.Tensor) -> torch.Tensor:
    """The MLP on every task at once: ``x`` (tasks, points, in) -> (tasks, points, out)."""
    check_task_weights([tuple(w.shape) for w in weights], tuple(x.shape))
    layers = len(weights) // 2
    for i in range(layers):
        x = torch.baddbmm(weights[2 * i + 1].unsqueeze(1), x, weights[2 * i])
        if i < layers - 1:
            x = torch.relu(x)
    return x


def task_losses(weights: Weights, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The mean squared error of every task, shape (tasks,)."""
    return ((batched_forward(weights, x) - y) ** 2).mean(dim=(1, 2))


def sinusoid_tensors(tasks: SinusoidTasks) -> tuple[torch.Tensor, ...]:
    """``(x_support, y_support, x_query, y_query)`` of a task batch as tensors."""
    if not isinstance(tasks, SinusoidTasks):
        raise ArgumentTypeError(
            f"tasks must come from data.sample_sinusoid_tasks(), got {type(tasks).__name__}."
        )
    arrays = (tasks.x_support, tasks.y_support, tasks.x_query, tasks.y_query)
    return tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in arrays)


def _sgd_steps(weights: Weights, x: torch.Tensor, y: torch.Tensor, lr: float) -> Weights:
    grads = torch.autograd.grad(task_losses(weights, x, y).sum(), weights)
    return [(w - lr * g).detach().requires_grad_() for w, g in zip(weights, grads, strict=True)]


def adaptation_curve(
    weights: Weights, tasks: SinusoidTasks, lr: float = 0.01, steps: int = 10
) -> np.ndarray:
    """Mean query MSE over ``tasks`` after 0, 1, ..., ``steps`` plain SGD steps on each task's
    support set, starting from ``weights`` (the evaluation of the MAML paper)."""
    lr, steps = check_curve_args(lr, steps)
    xs, ys, xq, yq = sinusoid_tensors(tasks)
    fast = [w.detach().expand(len(tasks), *w.shape).requires_grad_() for w in weights]
    curve = []
    for step in range(steps + 1):
        with torch.no_grad():
            curve.append(task_losses(fast, xq, yq).mean().item())
        if step < steps:
            fast = _sgd_steps(fast, xs, ys, lr)
    warn_if_diverged(np.asarray(curve), lr, "The adaptation curve (query MSE)")
    return np.asarray(curve)


def adapted_predictions(
    weights: Weights,
    tasks: SinusoidTasks,
    x_grid: np.ndarray,
    lr: float = 0.01,
    steps: Sequence[int] = (0, 1, 10),
    task: int = 0,
) -> dict[int, np.ndarray]:
    """The prediction on ``x_grid`` for task ``task`` after each number of SGD ``steps``."""
    lr, steps, task = check_prediction_args(lr, steps, task, len(tasks))
    xs, ys, _, _ = (t[task : task + 1] for t in sinusoid_tensors(tasks))
    grid = torch.as_tensor(np.asarray(x_grid, dtype=np.float32).reshape(1, -1, 1))
    fast = [w.detach().unsqueeze(0).requires_grad_() for w in weights]
    out, done = {}, 0
    for target in steps:
        for _ in range(target - done):
            fast = _sgd_steps(fast, xs, ys, lr)
        done = target
        with torch.no_grad():
            out[target] = batched_forward(fast, grid)[0, :, 0].numpy()
    warn_if_diverged(np.stack(list(out.values())), lr, "The adapted predictions")
    return out
