"""Multi-task training for the Keras lessons (lesson 05): one trunk, one output per task.

Mirrors :mod:`course_lib.torch.multitask`. The model is a functional model whose outputs are a
dict ``{task: logits}``. Static weights are Keras' own ``compile(loss={...}, loss_weights={...})``
on a shared worker (:mod:`course_lib.keras.workers`: traced once per structure); a learned
``weighting`` trains with the model in a ``GradientTape`` step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from course_lib.errors import ArgumentError, ArgumentTypeError
from course_lib.keras import workers
from course_lib.multitask import (
    MISSING,
    MultiTaskData,
    check_fit_multitask_args,
    check_multitask_data,
    check_task_outputs,
    multitask_images,
    run_steps,
    task_accuracies,
)
from course_lib.training import ADAM_EPSILON, History, check_positive_int


def _task_loss() -> keras.losses.Loss:
    """Cross-entropy on logits, averaged over the images labelled for the task."""
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=MISSING)


def _check_outputs(model: keras.Model, tasks: tuple[str, ...]) -> None:
    names = list(model.output.keys()) if isinstance(model.output, dict) else None
    if names is None:
        raise ArgumentTypeError(
            "A multi-task model must have a dict of outputs {task: logits}, e.g. "
            "keras.Model(inputs, {task: layers.Dense(n, name=task)(features) for ...})."
        )
    missing = [t for t in tasks if t not in names]
    if missing:
        raise ArgumentError(
            f"The model has no output for task(s) {missing}; it has {sorted(names)}. "
            "Give it one output per task of the data."
        )


def _static_trainer(model: keras.Model, tasks: tuple[str, ...], weights: dict[str, float],
                    lr: float) -> keras.Model:  # fmt: skip
    """A compiled worker of ``model``'s structure holding its variables, fresh Adam state."""

    def compile_worker(worker: keras.Model) -> None:
        worker.compile(
            optimizer=keras.optimizers.Adam(learning_rate=lr, epsilon=ADAM_EPSILON),
            loss={t: _task_loss() for t in tasks},
            loss_weights={t: weights[t] for t in tasks},
        )

    purpose = ("multitask", tasks, tuple(weights[t] for t in tasks))
    worker = workers.worker_for(model, purpose, compile_worker)
    workers.reset_optimizer(worker.optimizer, lr)
    return worker


def fit_multitask(
    model: keras.Model,
    train: MultiTaskData,
    val: MultiTaskData | None = None,
    *,
    steps: int,
    lr: float = 1e-3,
    loss_weights: Mapping[str, float] | None = None,
    weighting: Callable[[dict[str, Any]], Any] | None = None,
    batch_size: int = 32,
    seed: int = 0,
    log_every: int | None = None,
    quiet: bool | None = None,
) -> History:
    """Train a multi-output ``model`` on every task of ``train`` for ``steps`` Adam steps.

    Each step draws ``batch_size`` labelled images per task (:func:`~course_lib.multitask.
    task_batches`), runs them through the model at once and computes each task's cross-entropy
    over the images labelled for it (``ignore_class=MISSING``). Static weights:
    ``model.compile(loss={t: ...}, loss_weights=loss_weights)`` (every weight 1.0 by default).
    ``weighting(losses)``, a ``keras.layers.Layer`` with its own weights, gives the total loss
    of a learned scheme instead; its weights train with the model (if it has a
    ``task_weights()`` method, the history records them). History entries every ``log_every``
    steps: ``loss``, ``loss_<task>``, ``val_<task>`` (accuracy on ``val``), ``weight_<task>``.
    """
    train, lr, weights = check_fit_multitask_args(
        train,
        val,
        steps=steps,
        lr=lr,
        batch_size=batch_size,
        loss_weights=loss_weights,
        weighting=weighting,
    )
    _check_outputs(model, train.tasks)
    check_task_outputs({t: int(model.output[t].shape[-1]) for t in train.tasks}, train)
    if not model.trainable_weights:
        raise ArgumentError("Nothing to train: every layer of the model is frozen.")
    tasks = train.tasks
    images = train.images[..., None]
    labels = {t: train.labels[t] for t in tasks}

    if weighting is None:
        trainer = _static_trainer(model, tasks, weights, lr)

        def step(batch: np.ndarray) -> dict[str, float]:
            logs = trainer.train_on_batch(
                images[batch], {t: labels[t][batch] for t in tasks}, return_dict=True
            )
            if len(tasks) == 1:  # Keras names per-output losses only for several outputs
                return {"loss": logs["loss"], tasks[0]: logs["loss"] / (weights[tasks[0]] or 1.0)}
            return {"loss": logs["loss"], **{t: logs[f"{t}_loss"] for t in tasks}}

    else:
        trainer = model
        optimizer = keras.optimizers.Adam(learning_rate=lr, epsilon=ADAM_EPSILON)
        loss_fn = _task_loss()
        variables = model.trainable_variables + list(getattr(weighting, "trainable_variables", []))

        @tf.function
        def tape_step(x: tf.Tensor, ys: dict[str, tf.Tensor]) -> tuple[tf.Tensor, dict]:
            with tf.GradientTape() as tape:
                outputs = model(x, training=True)
                losses = {t: loss_fn(ys[t], outputs[t]) for t in tasks}
                total = weighting(losses)
            optimizer.apply_gradients(zip(tape.gradient(total, variables), variables, strict=True))
            return total, losses

        def step(batch: np.ndarray) -> dict[str, float]:
            total, losses = tape_step(
                tf.constant(images[batch]), {t: tf.constant(labels[t][batch]) for t in tasks}
            )
            return {"loss": float(total), **{t: float(v) for t, v in losses.items()}}

    def validate() -> dict[str, float]:
        workers.copy_variables(trainer, model)
        return evaluate_multitask(model, val)

    history = run_steps(
        step,
        train,
        steps=steps,
        batch_size=batch_size,
        seed=seed,
        log_every=log_every,
        quiet=quiet,
        validate=None if val is None else validate,
        task_weights=getattr(weighting, "task_weights", None),
        lr=lr,
    )
    workers.copy_variables(trainer, model)
    return history


def predict_multitask(
    model: keras.Model, data: MultiTaskData | np.ndarray, batch_size: int = 512
) -> dict[str, np.ndarray]:
    """``{task: logits (N, C)}`` for ``data`` (a :class:`MultiTaskData` or images ``(N, H, W)``),
    in inference mode."""
    images = multitask_images(data)
    check_positive_int("batch_size", batch_size)
    _check_outputs(model, ())
    parts: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(images), batch_size):
        out = model(images[start : start + batch_size, ..., None], training=False)
        for task, logits in out.items():
            parts.setdefault(task, []).append(keras.ops.convert_to_numpy(logits))
    return {t: np.concatenate(p) for t, p in parts.items()}


def evaluate_multitask(model: keras.Model, data: MultiTaskData) -> dict[str, float]:
    """Accuracy per task of ``data`` (over the images labelled for it)."""
    data = check_multitask_data(data, "data")
    return task_accuracies(predict_multitask(model, data), data)
