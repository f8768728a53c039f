"""Meta-learning in Keras (TensorFlow): a small network as a list of weights, one copy per task.

Mirrors :mod:`course_lib.torch.meta`. MAML adapts a *copy* of the weights to every task of a
batch; stacking the copies along a leading task axis runs all tasks in one batched matrix product,
and because task ``i``'s loss depends only on copy ``i``, the gradient of the *summed* loss gives
every task its own gradient at once. Nested ``tf.GradientTape``s give the second-order terms.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

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

Weights = list


def mlp_weights(sizes: Sequence[int] = (1, 40, 40, 1)) -> Weights:
    """``[W1, b1, W2, b2, ...]`` of a ReLU MLP (``W`` is ``(in, out)``), initialised like
    ``keras.layers.Dense`` (Glorot-uniform kernels, zero biases), as ``keras.Variable``s
    (give them to an optimizer)."""
    weights: Weights = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(check_layer_sizes(sizes)), start=1):
        kernel = keras.initializers.GlorotUniform()((n_in, n_out))
        weights += [
            keras.Variable(kernel, name=f"W{i}"),
            keras.Variable(np.zeros(n_out, np.float32), name=f"b{i}"),
        ]
    return weights


def per_task(weights: Weights, num_tasks: int) -> Weights:
    """One copy of ``weights`` per task, stacked on a new leading axis (gradients flow back)."""
    check_positive_int("num_tasks", num_tasks)
    return [tf.repeat(tf.convert_to_tensor(w)[None], num_tasks, axis=0) for w in weights]


def batched_forward(weights: Weights, x: tf.Tensor) -> tf.Tensor:
    """The MLP on every task at once: ``x`` (tasks, points, in) -> (tasks, points, out)."""
    x = tf.convert_to_tensor(x)
    check_task_weights([tuple(w.shape) for w in weights], tuple(x.shape))
    layers = len(weights) // 2
    for i in range(layers):
        x = tf.matmul(x, weights[2 * i]) + weights[2 * i + 1][:, None, :]
        if i < layers - 1:
            x = tf.nn.relu(x)
    return x


def task_losses(weights: Weights, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """The mean squared error of every task, shape (tasks,)."""
    return tf.reduce_mean((batched_forward(weights, x) - y) ** 2, axis=[1, 2])


def sinusoid_tensors(tasks: SinusoidTasks) -> tuple[tf.Tensor, ...]:
    """``(x_support, y_support, x_query, y_query)`` of a task batch as tensors."""
    if not isinstance(tasks, SinusoidTasks):
        raise ArgumentTypeError(
            f"tasks must come from data.sample_sinusoid_tasks(), got {type(tasks).__name__}."
        )
    arrays = (tasks.x_support, tasks.y_support, tasks.x_query, tasks.y_query)
    return tuple(tf.constant(a) for a in arrays)


def _sgd_steps(weights: Weights, x: tf.Tensor, y: tf.Tensor, lr: float) -> Weights:
    with tf.GradientTape() as tape:
        tape.watch(weights)
        loss = tf.reduce_sum(task_losses(weights, x, y))
    grads = tape.gradient(loss, weights)
    return [w - lr * g for w, g in zip(weights, grads, strict=True)]


def adaptation_curve(
    weights: Weights, tasks: SinusoidTasks, lr: float = 0.01, steps: int = 10
) -> np.ndarray:
    """Mean query MSE over ``tasks`` after 0, 1, ..., ``steps`` plain SGD steps on each task's
    support set, starting from ``weights`` (the evaluation of the MAML paper)."""
    lr, steps = check_curve_args(lr, steps)
    xs, ys, xq, yq = sinusoid_tensors(tasks)
    fast = per_task(weights, len(tasks))
    curve = []
    for step in range(steps + 1):
        curve.append(float(tf.reduce_mean(task_losses(fast, xq, yq))))
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
    grid = tf.constant(np.asarray(x_grid, dtype=np.float32).reshape(1, -1, 1))
    fast = per_task(weights, 1)
    out, done = {}, 0
    for target in steps:
        for _ in range(target - done):
            fast = _sgd_steps(fast, xs, ys, lr)
        done = target
        out[target] = batched_forward(fast, grid)[0, :, 0].numpy()
    warn_if_diverged(np.stack(list(out.values())), lr, "The adapted predictions")
    return out
