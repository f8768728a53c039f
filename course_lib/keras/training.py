"""Data pipelines, ``fit`` and ``evaluate`` for the Keras lessons.

Mirrors :mod:`course_lib.torch.training`. Training is Keras' own ``model.compile`` +
``model.fit`` (compiled train step, trainable flags honoured); argument checks, metrics, the
history, the progress bar and callbacks come from the framework-neutral
:mod:`course_lib.training`, so both frameworks report the same numbers under the same names.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from course_lib.training import (
    ADAM_EPSILON,
    SGD_MOMENTUM,
    Callback,
    History,
    RunningMetrics,
    as_arrays,
    block_rates,
    check_callbacks,
    check_fit_args,
    end_epoch,
    output_metrics,
    progress_bar,
    resolve_batch_size,
    resolve_quiet,
)


def data_loader(
    data: Any, batch_size: int | None = None, *, shuffle: bool = False, seed: int = 0
) -> tf.data.Dataset:
    """A ``tf.data.Dataset`` over a :class:`LabelledImages` or ``(inputs, targets)`` arrays.

    Images come out channels last ``(B, H, W, 1)``. ``batch_size`` defaults to the size table
    (``sizes("training").batch_size``); ``shuffle=True`` reshuffles every epoch in an order fixed
    by ``seed``.
    """
    if isinstance(data, tf.data.Dataset):
        return data
    arrays = as_arrays(data)
    x = arrays.x[..., None] if arrays.x.ndim == 3 else arrays.x  # (N, H, W) -> (N, H, W, 1)
    dataset = tf.data.Dataset.from_tensor_slices((x, arrays.y))
    if shuffle:
        dataset = dataset.shuffle(len(x), seed=int(seed), reshuffle_each_iteration=True)
    return dataset.batch(resolve_batch_size(batch_size)).prefetch(tf.data.AUTOTUNE)


def _named_optimizer(name: str, lr: float, weight_decay: float) -> keras.optimizers.Optimizer:
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=SGD_MOMENTUM)
    if name == "adamw":
        return keras.optimizers.AdamW(
            learning_rate=lr, epsilon=ADAM_EPSILON, weight_decay=weight_decay
        )
    return keras.optimizers.Adam(learning_rate=lr, epsilon=ADAM_EPSILON)


def _make_optimizer(
    model: keras.Model, optimizer: str | keras.optimizers.Optimizer, lr: float, weight_decay: float
) -> keras.optimizers.Optimizer:
    if not model.trainable_weights:
        raise ValueError(
            "Nothing to train: every parameter is frozen. Call unfreeze(model, ...) on at least "
            "one block (e.g. unfreeze(model, 'head')) before fit()."
        )
    if isinstance(optimizer, keras.optimizers.Optimizer):
        return optimizer
    if not isinstance(optimizer, str):
        raise TypeError(
            f"optimizer must be a name ('adam', 'adamw', 'sgd') or a keras.optimizers.Optimizer, "
            f"got {type(optimizer).__name__}."
        )
    return _named_optimizer(optimizer, lr, weight_decay)


def _per_block_step(
    model: keras.Model,
    lr: Mapping[str, float],
    optimizer: str,
    weight_decay: float,
    loss: str,
    compiled: bool = True,
) -> Callable[[tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]]:
    """A train step with one optimizer per block (Keras has no parameter groups); a compiled
    ``tf.function`` unless ``compiled=False`` (a few steps run faster eagerly)."""
    from course_lib.keras.models import _blocks

    blocks = {block.name: block for block in _blocks(model)}
    trainable = [name for name, block in blocks.items() if block.trainable_variables]
    if not trainable:
        _make_optimizer(model, optimizer, 1e-3, weight_decay)  # raises "Nothing to train"
    groups = []
    for name, rate in block_rates(lr, list(blocks), trainable).items():
        variables = blocks[name].trainable_variables
        opt = _named_optimizer(optimizer, rate, weight_decay)
        opt.build(variables)
        groups.append((opt, variables))
    all_variables = [v for _, variables in groups for v in variables]
    loss_fn = _loss_fn(loss)

    def step(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as tape:
            outputs = model(x, training=True)
            value = loss_fn(y, outputs)
            if model.losses:
                value += tf.add_n(model.losses)
        grads = tape.gradient(value, all_variables)
        start = 0
        for opt, variables in groups:
            opt.apply(grads[start : start + len(variables)], variables)
            start += len(variables)
        return value, outputs

    return tf.function(step, reduce_retracing=True) if compiled else step


EAGER_MAX_STEPS = 12  # measured: tracing costs ~2 s, an eager step ~0.15 s more than a traced one


def _loss_fn(loss: str) -> keras.losses.Loss:
    if loss == "cross_entropy":
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return keras.losses.MeanSquaredError()


class _CourseProgress(keras.callbacks.Callback):
    """Feeds Keras' epochs into the course's history, progress bar, validation and callbacks."""

    def __init__(self, history, bar, epochs, val, loss, batch_size, callbacks):
        super().__init__()
        self.history_, self.bar, self.epochs = history, bar, epochs
        self.val, self.loss, self.batch_size, self.callbacks = val, loss, batch_size, callbacks

    def on_train_batch_end(self, batch, logs=None):
        self.bar.update()

    def on_epoch_end(self, epoch, logs=None):
        keys = ("loss", "accuracy") if self.loss == "cross_entropy" else ("loss",)
        if self.finish_epoch(epoch, {k: float(logs[k]) for k in keys}):
            self.model.stop_training = True

    def finish_epoch(self, epoch: int, train_logs: dict[str, float]) -> bool:
        """Add validation metrics, record the epoch, run callbacks; ``True`` = stop."""
        logs = dict(train_logs)
        if self.val is not None:
            metrics = evaluate(self.model, self.val, loss=self.loss, batch_size=self.batch_size)
            logs |= {f"val_{k}": v for k, v in metrics.items()}
        return end_epoch(self.history_, logs, epoch, self.epochs, self.bar, self.callbacks)


def fit(
    model: keras.Model,
    train: Any,
    val: Any = None,
    *,
    epochs: int = 1,
    lr: float | Mapping[str, float] = 1e-3,
    optimizer: str | keras.optimizers.Optimizer = "adam",
    weight_decay: float = 0.0,
    loss: str = "cross_entropy",
    batch_size: int | None = None,
    seed: int = 0,
    callbacks: Iterable[Callback] | None = None,
    quiet: bool | None = None,
) -> History:
    """Train ``model`` on ``train`` for ``epochs``; returns a :class:`History`.

    ``train``/``val``: a :func:`data_loader`, a :class:`LabelledImages` or ``(inputs, targets)``
    (arrays are shuffled with ``seed``). ``optimizer``: ``"adam"``, ``"adamw"`` (with
    ``weight_decay``), ``"sgd"`` (momentum 0.9) or your own ``keras.optimizers.Optimizer``.
    ``lr`` may be a dict of rates per block, e.g. ``{"head": 1e-3, "block4": 1e-4}``
    (discriminative learning rates; every trainable block needs one): Keras has no parameter
    groups, so then each block gets its own optimizer in a compiled train step. Only
    trainable layers train (the model is compiled afresh, so new ``trainable`` flags count).
    History keys: ``loss``, ``accuracy`` (classification) and the same with ``val_`` when ``val``
    is given. ``callbacks`` are called as ``cb(epoch, logs)``; one returning ``True`` stops.
    """
    check_fit_args(epochs, lr, optimizer, loss, weight_decay)
    callbacks = check_callbacks(callbacks)
    train_data = data_loader(train, batch_size, shuffle=True, seed=seed)
    val_data = None if val is None else data_loader(val, batch_size)
    metrics = (
        [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        if loss == "cross_entropy"
        else []
    )
    per_block = isinstance(lr, Mapping)
    # A handful of steps runs faster eagerly than after ~2 s of tracing a graph.
    eager = int(train_data.cardinality()) * epochs <= EAGER_MAX_STEPS
    if per_block:
        step = _per_block_step(model, lr, optimizer, weight_decay, loss, compiled=not eager)
    else:
        model.compile(
            optimizer=_make_optimizer(model, optimizer, lr, weight_decay),
            loss=_loss_fn(loss),
            metrics=metrics,
            run_eagerly=eager,
        )
    steps = int(train_data.cardinality())
    history = History()
    start = time.perf_counter()
    with progress_bar(max(steps, 1), epochs, resolve_quiet(quiet)) as bar:
        progress = _CourseProgress(history, bar, epochs, val_data, loss, batch_size, callbacks)
        if not per_block:
            model.fit(train_data, epochs=epochs, verbose=0, shuffle=False, callbacks=[progress])
        else:
            progress.set_model(model)
            for epoch in range(epochs):
                running = RunningMetrics(loss)
                for xb, yb in train_data:
                    value, outputs = step(xb, yb)
                    correct = (
                        int(np.sum(np.argmax(outputs, axis=1) == yb.numpy()))
                        if loss == "cross_entropy"
                        else None
                    )
                    running.update(float(value), len(yb), correct)
                    bar.update()
                if progress.finish_epoch(epoch, running.result()):
                    break
    history.wall_s = time.perf_counter() - start
    return history


def predict(model: keras.Model, data: Any, batch_size: int | None = None) -> np.ndarray:
    """The model's outputs (e.g. logits) for ``data`` as a NumPy array, in inference mode.

    ``data``: images ``(N, H, W)``, a :class:`LabelledImages`, ``(inputs, targets)`` or a dataset.
    """
    outputs, _ = _outputs_and_targets(model, data, batch_size)
    return outputs


def features(model: keras.Model, data: Any, batch_size: int | None = None) -> np.ndarray:
    """What the model's last Dense layer sees: one feature vector per image, ``(N, features)``.

    For ``small_cnn`` that is the globally pooled output of ``block4`` (``4 * width`` numbers).
    """
    from course_lib.keras.models import feature_extractor

    return predict(feature_extractor(model), data, batch_size)


def _all_layers(layer: keras.layers.Layer) -> list[keras.layers.Layer]:
    nested = getattr(layer, "layers", [])
    return [layer] + [inner for child in nested for inner in _all_layers(child)]


def recalibrate_batchnorm(model: keras.Model, data: Any, batch_size: int | None = None) -> None:
    """Re-estimate the moving statistics of every trainable BatchNormalization layer on ``data``.

    After a short training run (a few optimizer steps, e.g. on 5 images per class) the moving
    mean and variance lag behind the final weights and inference-mode accuracy can collapse.
    This pass, with the final weights and no gradient step, sets them to the average over
    ``data``. Layers of frozen blocks (``trainable = False``) keep their statistics.
    """
    layers = [
        layer
        for layer in _all_layers(model)
        if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable
    ]
    if not layers:
        return
    momenta = [layer.momentum for layer in layers]
    try:
        for k, (xb, _) in enumerate(data_loader(data, batch_size)):
            for layer in layers:  # moving = m * moving + (1 - m) * batch: a running average
                layer.momentum = k / (k + 1)
            model(xb, training=True)
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum


def _outputs_and_targets(
    model: keras.Model, data: Any, batch_size: int | None
) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(data, np.ndarray):
        data = (data, np.zeros(len(data), dtype=np.int64))
    outputs, targets = [], []
    for xb, yb in data_loader(data, batch_size):
        outputs.append(np.asarray(model.predict_on_batch(xb)))
        targets.append(yb.numpy())
    return np.concatenate(outputs), np.concatenate(targets)


def evaluate(
    model: keras.Model, data: Any, *, loss: str = "cross_entropy", batch_size: int | None = None
) -> dict[str, float]:
    """Metrics of ``model`` on ``data`` in inference mode: ``{"loss", "accuracy"}`` (or MSE)."""
    outputs, targets = _outputs_and_targets(model, data, batch_size)
    return output_metrics(outputs, targets, loss)
