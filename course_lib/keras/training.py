"""Data pipelines, ``fit`` and ``evaluate`` for the Keras lessons.

Mirrors :mod:`course_lib.torch.training`. Training is Keras' own ``model.compile`` +
``model.fit`` (compiled train step, trainable flags honoured), run on a worker copy that models
of one structure share (:mod:`course_lib.keras.workers`: one graph trace, not one per model).
Argument checks, metrics, the history, the progress bar and callbacks come from the
framework-neutral :mod:`course_lib.training`, so both frameworks report the same numbers under
the same names.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from course_lib.checks import batchnorm_mode
from course_lib.errors import ArgumentError, ArgumentTypeError, CourseError
from course_lib.inputs import InputSpec, check_model_input, check_outputs, model_input_error
from course_lib.keras import workers
from course_lib.training import (
    ADAM_EPSILON,
    SGD_MOMENTUM,
    Arrays,
    Callback,
    History,
    LossWatch,
    RunningMetrics,
    as_arrays,
    bind_callbacks,
    block_rates,
    check_callbacks,
    check_fit_args,
    check_regularization_args,
    end_epoch,
    finish_callbacks,
    output_metrics,
    prepare_data,
    progress_bar,
    resolve_batch_size,
    resolve_quiet,
    split_pooled,
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
    dataset = tf.data.Dataset.from_tensor_slices((_channels_last(arrays.x), arrays.y))
    if shuffle:
        dataset = dataset.shuffle(len(arrays), seed=int(seed), reshuffle_each_iteration=True)
    return dataset.batch(resolve_batch_size(batch_size)).prefetch(tf.data.AUTOTUNE)


def _channels_last(x: np.ndarray) -> np.ndarray:
    """Course layout as Keras' tensor layout: ``(N, H, W)`` gets its channel, ``(N, H, W, 1)``."""
    return x[..., None] if x.ndim == 3 else x


_POOLS = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)


def _input_spec(model: keras.Model) -> InputSpec:
    """What ``model`` takes per sample: its declared input shape, and the smallest image size
    its 2x2 poolings allow; nothing when it has no declared input (a subclassed model)."""
    try:
        shape = tuple(model.inputs[0].shape[1:])
    except (AttributeError, IndexError, TypeError, ValueError):
        return InputSpec()
    layers = model._flatten_layers(include_self=False, recursive=True)
    pools = sum(
        1
        for layer in layers
        if isinstance(layer, _POOLS)
        and tuple(layer.pool_size) == (2, 2)
        and tuple(layer.strides) == (2, 2)
        and layer.padding == "valid"
    )
    if len(shape) == 3:
        return InputSpec(shape=shape, min_size=2**pools)
    return InputSpec(shape=shape) if len(shape) == 1 else InputSpec()


def _check_takes(model: keras.Model, arrays: Arrays, loss: str) -> Arrays:
    """Check, before any step, that ``model`` takes the inputs and that its outputs fit the
    targets for ``loss``: the declared input shape, then one sample through the network.
    Returns ``arrays`` with regression targets shaped like the outputs."""
    check_model_input(arrays.x.shape, _input_spec(model))
    try:
        out = model(_channels_last(arrays.x[:1]), training=False)
    except CourseError:  # the network's own check (e.g. its channels) already says it
        raise
    except Exception as err:  # whatever the network raised: say what it was given
        raise model_input_error(arrays.x.shape, err) from err
    if isinstance(out, dict | list | tuple):
        return arrays
    return Arrays(arrays.x, check_outputs(tuple(out.shape), arrays.y, loss))


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
        raise ArgumentError(
            "Nothing to train: every parameter is frozen. Call unfreeze(model, ...) on at least "
            "one block (e.g. unfreeze(model, 'head')) before fit()."
        )
    if isinstance(optimizer, keras.optimizers.Optimizer):
        return optimizer
    if not isinstance(optimizer, str):
        raise ArgumentTypeError(
            f"optimizer must be a name ('adam', 'adamw', 'sgd') or a keras.optimizers.Optimizer, "
            f"got {type(optimizer).__name__}."
        )
    return _named_optimizer(optimizer, lr, weight_decay)


def _block_rates(model: keras.Model, lr: Mapping[str, float]) -> dict[str, float]:
    """``{block: rate}`` for the model's trainable blocks, checked (unknown or missing names)."""
    from course_lib.keras.models import _blocks

    blocks = _blocks(model)
    trainable = [block.name for block in blocks if block.trainable_variables]
    if not trainable:
        _make_optimizer(model, "adam", 1e-3, 0.0)  # raises "Nothing to train"
    return block_rates(lr, [block.name for block in blocks], trainable)


def _attach_custom_step(
    model: keras.Model,
    groups: list[tuple[keras.optimizers.Optimizer, list[Any]]],
    loss_fn: keras.losses.Loss,
    penalty: Callable[[keras.Model], Any] | None,
    compiled: bool,
) -> None:
    """Give ``model`` a train step of the course's own: ``model.course_step(x, y) -> (loss,
    outputs)`` applying each optimizer of ``groups`` to its variables (Keras has no parameter
    groups) and adding ``penalty(model)`` to the objective; a compiled ``tf.function`` unless
    ``compiled=False`` (a few steps run faster eagerly); the optimizers go to
    ``model.course_optimizers``. The reported loss is the data loss; the gradient is that of
    data loss + Keras' own regularization losses + penalty."""
    all_variables = [v for _, variables in groups for v in variables]

    def step(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as tape:
            outputs = model(x, training=True)
            value = loss_fn(y, outputs)
            objective = value + tf.add_n(model.losses) if model.losses else value
            if penalty is not None:
                objective = objective + penalty(model)
        grads = tape.gradient(objective, all_variables)
        start = 0
        for opt, variables in groups:
            opt.apply(grads[start : start + len(variables)], variables)
            start += len(variables)
        return value, outputs

    model.course_step = tf.function(step, reduce_retracing=True) if compiled else step
    model.course_optimizers = [opt for opt, _ in groups]


def _block_groups(
    model: keras.Model, rates: Mapping[str, float], optimizer: str, weight_decay: float
) -> list[tuple[keras.optimizers.Optimizer, list[Any]]]:
    """One optimizer per block of ``rates``, built on that block's trainable variables."""
    from course_lib.keras.models import _blocks

    blocks = {block.name: block for block in _blocks(model)}
    groups = []
    for name, rate in rates.items():
        variables = blocks[name].trainable_variables
        opt = _named_optimizer(optimizer, rate, weight_decay)
        opt.build(variables)
        groups.append((opt, variables))
    return groups


EAGER_MAX_STEPS = 12  # measured: tracing costs ~2 s, an eager step ~0.15 s more than a traced one


class _SmoothedCrossEntropy(keras.losses.Loss):
    """Cross-entropy on integer labels with label smoothing (Keras' sparse loss has none)."""

    def __init__(self, label_smoothing: float):
        super().__init__(name="smoothed_cross_entropy")
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        labels = keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32")
        target = keras.ops.one_hot(labels, keras.ops.shape(y_pred)[-1])
        return keras.losses.categorical_crossentropy(
            target, y_pred, from_logits=True, label_smoothing=self.label_smoothing
        )


def _loss_fn(loss: str, label_smoothing: float = 0.0) -> keras.losses.Loss:
    if loss == "cross_entropy":
        if label_smoothing:
            return _SmoothedCrossEntropy(label_smoothing)
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return keras.losses.MeanSquaredError()


def _metrics(loss: str) -> list[keras.metrics.Metric]:
    return (
        [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        if loss == "cross_entropy"
        else []
    )


_PLACEHOLDER_RATE = 1e-3
"""The learning rate a shared worker's optimizers are built with. Rates are not part of the
compiled step (they live in optimizer variables): :func:`workers.reset_optimizer` sets the
caller's rates before every fit, so a worker serves every rate."""


@dataclass(frozen=True)
class FitOptions:
    """Everything of a :func:`fit` call that shapes the compiled train step, in one record.

    The same record configures the step (:meth:`configure`) and, for a shared worker, is the
    cache key next to the model's structure (:func:`workers.worker_for`): an option cannot shape
    the step without being part of the key. ``fit``'s other parameters cannot change the step;
    ``tests/unit/test_keras_workers.py`` lists them, with the reason for each, and fails when
    ``fit`` gains a parameter that is on neither list.
    """

    optimizer: str | keras.optimizers.Optimizer
    """An optimizer name (``"adam"``, ``"adamw"``, ``"sgd"``) or the caller's own object."""
    weight_decay: float
    """AdamW's decoupled weight decay: a constant of the compiled update."""
    loss: str
    """``"cross_entropy"`` or ``"mse"``: the loss function and the metrics."""
    label_smoothing: float
    """Soft cross-entropy targets (a constant of the loss)."""
    blocks: tuple[str, ...] | None
    """For ``lr`` per block: the trainable blocks, in model order, one optimizer each (the
    course's own step). ``None``: one optimizer for every variable. The rates themselves are
    optimizer variables, set afresh by every fit."""
    penalty: Callable[[keras.Model], Any] | None
    """A function added to the objective inside the step (the course's own step)."""
    eager: bool
    """Run the step eagerly instead of tracing it (a handful of steps runs faster so)."""
    batchnorm: str = "train"
    """``"frozen"``: every BatchNormalization layer is ``trainable = False`` for the fit
    (inference mode in the step, no gamma/beta among the trained variables). The model's
    trainable flags are in the key already; the option is here too, as every option that
    shapes the step is."""

    @property
    def shareable(self) -> bool:
        """Whether a worker configured with these options may serve every model of a structure.

        Not with the caller's own optimizer object (its state is the caller's), nor with a
        ``penalty`` function (a traced step would keep the values it read when it was traced).
        """
        return self.penalty is None and isinstance(self.optimizer, str)

    @property
    def custom_step(self) -> bool:
        """Whether the step is the course's ``GradientTape`` step (``model.course_step``) rather
        than Keras' ``model.fit``."""
        return self.blocks is not None or self.penalty is not None

    def loss_fn(self) -> keras.losses.Loss:
        return _loss_fn(self.loss, self.label_smoothing)

    def with_eager(self, eager: bool) -> FitOptions:
        return replace(self, eager=eager)

    def configure(self, model: keras.Model, lr: float | Mapping[str, float] | None = None) -> None:
        """Give ``model`` the train step these options describe: Keras' ``compile``, or the
        course's own step (:func:`_attach_custom_step`) for per-block rates or a ``penalty``.

        ``lr``: the starting rate (a float, or ``{block: rate}`` with :attr:`blocks`); ``None``
        (a shared worker) builds with a placeholder that ``reset_optimizer`` overwrites.
        """
        if lr is None:
            lr = (
                _PLACEHOLDER_RATE
                if self.blocks is None
                else dict.fromkeys(self.blocks, _PLACEHOLDER_RATE)
            )
        loss_fn = self.loss_fn()
        if self.custom_step:
            if self.blocks is not None:
                rates = {block: float(lr[block]) for block in self.blocks}
                groups = _block_groups(model, rates, str(self.optimizer), self.weight_decay)
            else:
                opt = _make_optimizer(model, self.optimizer, lr, self.weight_decay)
                opt.build(model.trainable_variables)
                groups = [(opt, model.trainable_variables)]
            _attach_custom_step(model, groups, loss_fn, self.penalty, compiled=not self.eager)
            return
        model.compile(
            optimizer=_make_optimizer(model, self.optimizer, lr, self.weight_decay),
            loss=loss_fn,
            metrics=_metrics(self.loss),
            run_eagerly=self.eager,
        )


def fit_options(
    model: keras.Model,
    lr: float | Mapping[str, float],
    optimizer: str | keras.optimizers.Optimizer,
    weight_decay: float,
    loss: str,
    eager: bool,
    penalty: Callable[[keras.Model], Any] | None = None,
    label_smoothing: float = 0.0,
    batchnorm: str = "train",
) -> FitOptions:
    """The :class:`FitOptions` of a fit of ``model`` with these (checked) arguments; raises
    when ``lr`` per block does not fit the model, or nothing is trainable."""
    if isinstance(lr, Mapping):
        blocks: tuple[str, ...] | None = tuple(_block_rates(model, lr))
        optimizer = str(optimizer)
    else:
        blocks = None
        _make_optimizer(model, optimizer, lr, weight_decay)  # checks the name, "Nothing to train"
    return FitOptions(
        optimizer=optimizer,
        weight_decay=weight_decay,
        loss=loss,
        label_smoothing=label_smoothing,
        blocks=blocks,
        penalty=penalty,
        eager=eager,
        batchnorm=batchnorm,
    )


def _trainer(
    model: keras.Model, options: FitOptions, lr: float | Mapping[str, float]
) -> keras.Model:
    """The model that runs the training: a shared worker of ``model``'s structure (traced once,
    see :mod:`course_lib.keras.workers`), cached under ``options``, holding ``model``'s variables
    and a fresh optimizer state at the rates ``lr``; or ``model`` itself, configured afresh,
    when the options are not :attr:`~FitOptions.shareable`."""
    if not options.shareable:
        options.configure(model, lr)
        return model
    traced = options.with_eager(False)
    if options.eager and workers.has_worker(model, traced):
        options = traced  # traced already: use it
    worker = workers.worker_for(model, options)  # the key configures the worker
    if options.blocks is not None:
        for opt, block in zip(worker.course_optimizers, options.blocks, strict=True):
            workers.reset_optimizer(opt, float(lr[block]))
    else:
        workers.reset_optimizer(worker.optimizer, lr)
    return worker


@contextmanager
def _batchnorm_frozen(model: keras.Model, frozen: bool) -> Iterator[None]:
    """For ``fit(..., batchnorm="frozen")``: every BatchNormalization layer, nested ones too,
    ``trainable = False`` while the block runs (inference mode, gamma/beta not trained), then
    every layer's and variable's flag as before, also when the block raises. Does nothing
    unless ``frozen``."""
    if not frozen:
        yield
        return
    layers = [
        layer
        for layer in model._flatten_layers(include_self=True, recursive=True)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    flags = [(layer.trainable, [(v, v.trainable) for v in layer.weights]) for layer in layers]
    for layer in layers:
        layer.trainable = False
    try:
        yield
    finally:
        for layer, (flag, variables) in zip(layers, flags, strict=True):
            layer.trainable = flag
            for variable, trainable in variables:
                variable.trainable = trainable


class _CourseProgress(keras.callbacks.Callback):
    """Feeds Keras' epochs into the course's history, progress bar, validation and callbacks.

    ``source`` is the caller's model: when there is validation data or a callback, it gets the
    worker's variables after every epoch, so they see the model as trained so far.
    """

    def __init__(self, source, history, bar, epochs, val, loss, batch_size, callbacks, watch):
        super().__init__()
        self.source, self.history_, self.bar, self.epochs = source, history, bar, epochs
        self.val, self.loss, self.batch_size, self.callbacks = val, loss, batch_size, callbacks
        self.watch, self.epoch = watch, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        steps = self.params["steps"]
        if not isinstance(self, _CourseProgressPerBatch):
            self.bar.update(steps)
        # Keras' logs hold the epoch's mean: a NaN step leaves it NaN (one check per epoch).
        where = f"epoch {epoch + 1}/{self.epochs}" + (
            f", one of its steps 1..{steps}" if steps else ""
        )
        self.watch.check(float(logs["loss"]), where)
        keys = ("loss", "accuracy") if self.loss == "cross_entropy" else ("loss",)
        if self.finish_epoch(epoch, {k: float(logs[k]) for k in keys}):
            self.model.stop_training = True

    def finish_epoch(self, epoch: int, train_logs: dict[str, float]) -> bool:
        """Add validation metrics, record the epoch, run callbacks; ``True`` = stop."""
        if self.val is not None or self.callbacks:
            workers.copy_variables(self.model, self.source)
        logs = dict(train_logs)
        if self.val is not None:
            metrics = evaluate(self.source, self.val, loss=self.loss, batch_size=self.batch_size)
            logs |= {f"val_{k}": v for k, v in metrics.items()}
        return end_epoch(self.history_, logs, epoch, self.epochs, self.bar, self.callbacks)


class _CourseProgressPerBatch(_CourseProgress):
    """The same, with the bar moving every batch. Only when the bar is shown: a batch hook makes
    Keras hand over the logs after every step, which costs ~5 ms a step."""

    def on_train_batch_end(self, batch, logs=None):
        self.bar.update()
        where = f"epoch {self.epoch + 1}/{self.epochs}, step {batch + 1}/{self.params['steps']}"
        self.watch.check(float(logs["loss"]), where)  # the logs come anyway: no extra cost


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
    penalty: Callable[[keras.Model], Any] | None = None,
    augment: Callable[[Any], Any] | None = None,
    label_smoothing: float = 0.0,
    batchnorm: str = "train",
) -> History:
    """Train ``model`` on ``train`` for ``epochs``; returns a :class:`History`.

    ``train``/``val``: a :func:`data_loader`, a :class:`LabelledImages` or ``(inputs, targets)``
    (arrays are shuffled with ``seed``). ``optimizer``: ``"adam"``, ``"adamw"`` (with
    ``weight_decay``), ``"sgd"`` (momentum 0.9) or your own ``keras.optimizers.Optimizer``.
    Regularization (lesson 03): ``penalty(model)`` returns a scalar added to every batch's loss
    (e.g. an L1 or L2 term you write; then the step is the course's own ``GradientTape`` step);
    ``augment(images)`` transforms each training batch ``(B, H, W, C)`` in the data pipeline (see
    :func:`augmentation`); ``label_smoothing`` softens the cross-entropy targets. The history's
    ``loss`` is the data loss without ``penalty`` (Keras adds its own ``kernel_regularizer``
    terms to it when training with ``model.fit``).
    ``lr`` may be a dict of rates per block, e.g. ``{"head": 1e-3, "block4": 1e-4}``
    (discriminative learning rates; every trainable block needs one): Keras has no parameter
    groups, so then each block gets its own optimizer in a compiled train step. Only
    trainable layers train, with the flags as they are now, and every call starts a fresh
    optimizer state. Keras' compiled train step runs on a copy that models of the same
    structure share (traced once, not once per model; :mod:`course_lib.keras.workers`).
    History keys: ``loss``, ``accuracy`` (classification) and the same with ``val_`` when ``val``
    is given. ``callbacks`` are called as ``cb(epoch, logs)``; one returning ``True`` stops.
    Bad data is an error before any step (NaN/Inf inputs, labels that are not class indices of
    the network's outputs, images it cannot take); a loss that becomes NaN or infinite stops
    training with a :class:`~course_lib.errors.NonFiniteLossError` naming the step and the rate.
    BatchNormalization layers of frozen blocks run in inference mode (Keras' ``trainable =
    False``). ``batchnorm="frozen"`` does that for every BatchNormalization layer, whether or not
    its block is frozen: each normalises with its moving statistics, which do not change, and
    its gamma and beta do not train; the other layers train as usual. Use it to fine-tune a
    pretrained network on a few images per class, where the statistics of tiny batches would
    spoil the pretrained ones. Afterwards every ``trainable`` flag is as before the call.
    ``batchnorm="train"`` (the default): BatchNorm layers of trainable blocks train as usual.
    """
    check_fit_args(epochs, lr, optimizer, loss, weight_decay)
    check_regularization_args(loss, penalty, augment, label_smoothing)
    callbacks = check_callbacks(callbacks)
    batchnorm = batchnorm_mode(batchnorm)
    train, val = _fit_data(model, train, loss), _fit_data(model, val, loss)
    train_data = data_loader(train, batch_size, shuffle=True, seed=seed)
    if augment is not None:  # each batch, each epoch, drawn afresh
        train_data = train_data.map(lambda x, y: (augment(x), y))
    generators = _seed_generators(augment)
    generator_starts = [np.array(g.state.numpy()) for g in generators]
    val_data = None if val is None else data_loader(val, batch_size)
    steps = int(train_data.cardinality())
    # A handful of steps runs faster eagerly than after ~2 s of tracing a graph.
    eager = steps * epochs <= EAGER_MAX_STEPS
    # trainable flags first: compiling and the worker cache key read them
    with _batchnorm_frozen(model, batchnorm == "frozen"):
        options = fit_options(
            model, lr, optimizer, weight_decay, loss, eager, penalty, label_smoothing, batchnorm
        )
        trainer = _trainer(model, options, lr)
        history = History()
        watch = LossWatch(lr if isinstance(optimizer, str) else None)
        bind_callbacks(callbacks, *_state_functions(model))
        start = time.perf_counter()
        quiet = resolve_quiet(quiet)
        with progress_bar(max(steps, 1), epochs, quiet) as bar:
            progress = (_CourseProgress if quiet else _CourseProgressPerBatch)(
                model, history, bar, epochs, val_data, loss, batch_size, callbacks, watch
            )
            # One iterator over the repeated data (reshuffled every pass), not one per epoch:
            # a new iterator costs ~10 ms, and a few-shot fit may have 100 epochs of 2 steps.
            # (A dataset of unknown length is iterated afresh each epoch.)
            known = steps > 0
            if not options.custom_step:
                trainer.fit(
                    train_data.repeat() if known else train_data,
                    epochs=epochs,
                    steps_per_epoch=steps if known else None,
                    verbose=0,
                    shuffle=False,
                    callbacks=[progress],
                )
            else:
                progress.set_model(trainer)
                batches = iter(train_data.repeat()) if known else None
                for epoch in range(epochs):
                    running = RunningMetrics(loss)
                    epoch_batches = itertools.islice(batches, steps) if known else train_data
                    for step, (xb, yb) in enumerate(epoch_batches):
                        value, outputs = trainer.course_step(xb, yb)
                        where = f"epoch {epoch + 1}/{epochs}, step {step + 1}/{max(steps, 1)}"
                        value = watch.check(float(value), where)
                        correct = (
                            int(np.sum(np.argmax(outputs, axis=1) == yb.numpy()))
                            if loss == "cross_entropy"
                            else None
                        )
                        running.update(value, len(yb), correct)
                        bar.update()
                    if progress.finish_epoch(epoch, running.result()):
                        break
        workers.copy_variables(trainer, model)
    # tf.data prefetches augmented batches ahead of training, so how far the augmentation's
    # random generators advanced depends on timing: move them on by a fixed jump instead, so
    # that the next fit with the same augmentation draws the same images run after run.
    for generator, begin in zip(generators, generator_starts, strict=True):
        generator.state.assign(begin + np.array([0, AUGMENTATION_JUMP], dtype=begin.dtype))
    finish_callbacks(callbacks, history)
    history.wall_s = time.perf_counter() - start
    return history


AUGMENTATION_JUMP = 2**20
"""How far ``fit`` moves each random generator of an augmentation on (more than any fit draws)."""


def _seed_generators(augment: Any) -> list[Any]:
    """The random generators of the Keras layers in ``augment`` (none for a plain function)."""
    if not isinstance(augment, keras.layers.Layer):
        return []
    layers = augment._flatten_layers(include_self=True, recursive=True)
    return [g for layer in layers for g in getattr(layer, "_seed_generators", [])]


def _fit_data(model: keras.Model, data: Any, loss: str) -> Any:
    """``data`` as :class:`Arrays` checked for ``loss`` and ``model``; a ``tf.data.Dataset``
    (or ``None``) stays as it is."""
    if data is None or isinstance(data, tf.data.Dataset):
        return data
    return _check_takes(model, prepare_data(data, loss), loss)


def _state_functions(model: keras.Model) -> tuple[Callable[[], Any], Callable[[Any], None]]:
    """Snapshot / restore every variable of ``model`` (for EarlyStopping)."""

    def snapshot() -> list[np.ndarray]:
        return [np.array(v.numpy()) for v in model.variables]

    def restore(state: list[np.ndarray]) -> None:
        for variable, value in zip(model.variables, state, strict=True):
            variable.assign(value)

    return snapshot, restore


def predict(model: keras.Model, data: Any, batch_size: int | None = None) -> np.ndarray:
    """The model's outputs (e.g. logits) for ``data`` as a NumPy array, in inference mode.

    ``data``: images ``(N, H, W)``, a :class:`LabelledImages`, ``(inputs, targets)`` or a dataset.
    """
    outputs, _ = _outputs_and_targets(model, data, batch_size)
    return outputs


def features(
    model: keras.Model,
    data: Any,
    batch_size: int | None = None,
    *,
    layer: str | Sequence[str] | None = None,
) -> np.ndarray | dict[str, np.ndarray]:
    """One feature vector per image, ``(N, features)``: what the model's last Dense layer sees
    (``layer=None``), or the globally pooled output of block ``layer`` (e.g. ``"block2"``).

    For ``small_cnn`` the default is the pooled output of ``block4`` (``4 * width`` numbers).
    ``layer=["block3", "top"]``: ``{block: features}`` for each, from one pass over ``data``.
    """
    from course_lib.keras.models import feature_extractor, pooled_outputs

    if layer is None or isinstance(layer, str):
        return predict(feature_extractor(model, layer), data, batch_size)
    extractor = pooled_outputs(model, layer)
    joined = predict(extractor, data, batch_size)
    return split_pooled(joined, extractor.keep, extractor.widths)


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
    if not isinstance(data, tf.data.Dataset):
        data = as_arrays(data)
        check_model_input(data.x.shape, _input_spec(model))
    worker = workers.worker_for(model, "predict", lambda worker: None)  # traced once
    outputs, targets = [], []
    for i, (xb, yb) in enumerate(data_loader(data, batch_size)):
        try:
            outputs.append(np.asarray(worker.predict_on_batch(xb)))
        except Exception as err:  # the first batch fails: the network does not take the inputs
            if i or isinstance(err, CourseError):
                raise
            shape = data.x.shape if isinstance(data, Arrays) else (None, *xb.shape[1:])
            raise model_input_error(shape, err) from err
        targets.append(yb.numpy())
    return np.concatenate(outputs), np.concatenate(targets)


def evaluate(
    model: keras.Model, data: Any, *, loss: str = "cross_entropy", batch_size: int | None = None
) -> dict[str, float]:
    """Metrics of ``model`` on ``data`` in inference mode: ``{"loss", "accuracy"}`` (or MSE)."""
    outputs, targets = _outputs_and_targets(model, data, batch_size)
    return output_metrics(outputs, targets, loss)
