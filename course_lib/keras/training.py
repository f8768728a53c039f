"""Data pipelines, ``fit`` and ``evaluate`` for the Keras lessons.

Mirrors :mod:`course_lib.torch.training`. Training is Keras' own ``model.compile`` +
``model.fit`` (compiled train step, trainable flags honoured); argument checks, metrics, the
history, the progress bar and callbacks come from the framework-neutral
:mod:`course_lib.training`, so both frameworks report the same numbers under the same names.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from course_lib.training import (
    ADAM_EPSILON,
    SGD_MOMENTUM,
    Callback,
    History,
    as_arrays,
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
    if optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=SGD_MOMENTUM)
    if optimizer == "adamw":
        return keras.optimizers.AdamW(
            learning_rate=lr, epsilon=ADAM_EPSILON, weight_decay=weight_decay
        )
    return keras.optimizers.Adam(learning_rate=lr, epsilon=ADAM_EPSILON)


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
        course_logs = {k: float(logs[k]) for k in keys}
        if self.val is not None:
            metrics = evaluate(self.model, self.val, loss=self.loss, batch_size=self.batch_size)
            course_logs |= {f"val_{k}": v for k, v in metrics.items()}
        if end_epoch(self.history_, course_logs, epoch, self.epochs, self.bar, self.callbacks):
            self.model.stop_training = True


def fit(
    model: keras.Model,
    train: Any,
    val: Any = None,
    *,
    epochs: int = 1,
    lr: float = 1e-3,
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
    ``weight_decay``), ``"sgd"`` (momentum 0.9) or your own ``keras.optimizers.Optimizer``. Only
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
    model.compile(
        optimizer=_make_optimizer(model, optimizer, lr, weight_decay),
        loss=_loss_fn(loss),
        metrics=metrics,
    )
    steps = int(train_data.cardinality())
    history = History()
    start = time.perf_counter()
    with progress_bar(max(steps, 1), epochs, resolve_quiet(quiet)) as bar:
        progress = _CourseProgress(history, bar, epochs, val_data, loss, batch_size, callbacks)
        model.fit(train_data, epochs=epochs, verbose=0, shuffle=False, callbacks=[progress])
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
