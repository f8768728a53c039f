"""The framework-neutral half of training: arguments, metrics, history, progress and callbacks.

``course_lib.torch.fit`` and ``course_lib.keras.fit`` differ only in how they run a step; what they
check, measure, record and show lives here once, so the two frameworks report the same numbers
under the same names.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from course_lib import checks, config, inputs
from course_lib.data.types import LabelledImages
from course_lib.errors import (
    ArgumentError,
    ArgumentTypeError,
    NonFiniteLossError,
    UnknownNameError,
)

OPTIMIZERS: tuple[str, ...] = ("adam", "adamw", "sgd")
LOSSES: tuple[str, ...] = ("cross_entropy", "mse")
SGD_MOMENTUM = 0.9
ADAM_EPSILON = 1e-8  # PyTorch's default; Keras' is 1e-7, so the Keras half passes this one
QUIET_ENV = "COURSE_QUIET"

Callback = Callable[[int, dict[str, float]], "bool | None"]
"""Called after every epoch with ``(epoch, logs)``; returning ``True`` stops training."""


# ---------------------------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------------------------
def check_positive_int(name: str, value: Any) -> int:
    """``value`` as an int, or an ArgumentError (a ValueError) that names the argument."""
    return checks.positive_int(name, value)


def check_fraction(name: str, value: Any) -> float:
    """``value`` as a float in [0, 1), or an ArgumentError that names the argument (dropout
    rates, label smoothing)."""
    return checks.fraction(name, value)


def check_optional_callable(name: str, value: Any, example: str) -> None:
    """``None`` or a callable; else an ArgumentTypeError (a TypeError) with an example."""
    checks.optional_callable(name, value, example)


def check_augmentation_args(rotation: Any, shift: Any, zoom: Any) -> tuple[float, float, float]:
    """Validate ``augmentation(rotation, shift, zoom)`` for both frameworks; returns floats."""
    if (
        isinstance(rotation, bool)
        or not isinstance(rotation, int | float)
        or not 0 <= rotation <= 180
    ):
        raise ArgumentError(f"rotation must be degrees in [0, 180] such as 10, got {rotation!r}.")
    return float(rotation), check_fraction("shift", shift), check_fraction("zoom", zoom)


def check_regularization_args(loss: str, penalty: Any, augment: Any, label_smoothing: Any) -> None:
    """Validate ``fit``'s regularization arguments (lesson 03) in both frameworks."""
    check_optional_callable("penalty", penalty, "lambda model: 1e-4 * l2_term(model)")
    check_optional_callable("augment", augment, "cl.augmentation(rotation=10)")
    if check_fraction("label_smoothing", label_smoothing) and loss != "cross_entropy":
        raise ArgumentError("label_smoothing softens class targets: it needs loss='cross_entropy'.")


def check_fit_args(
    epochs: int, lr: float | Mapping[str, float], optimizer: object, loss: str, weight_decay: float
) -> None:
    """Validate the arguments both ``fit`` functions share; errors say how to fix them."""
    check_positive_int("epochs", epochs)
    if isinstance(lr, Mapping):
        if not lr:
            raise ArgumentError("lr is an empty dict; give a rate per block, e.g. {'head': 1e-3}.")
        for name, rate in lr.items():
            checks.learning_rate(f"lr[{name!r}]", rate)
        if not isinstance(optimizer, str):
            raise ArgumentError(
                "lr per block needs an optimizer name ('adam', 'adamw', 'sgd'); an optimizer "
                "object you built carries its own learning rates."
            )
    else:
        checks.learning_rate("lr", lr)
    if loss not in LOSSES:
        raise UnknownNameError(f"Unknown loss {loss!r}; use one of {', '.join(LOSSES)}.")
    checks.nonnegative_float("weight_decay", weight_decay)
    if isinstance(optimizer, str):
        if optimizer not in OPTIMIZERS:
            raise UnknownNameError(
                f"Unknown optimizer {optimizer!r}; use one of {', '.join(OPTIMIZERS)}, or pass "
                "an optimizer object you built yourself."
            )
        if weight_decay and optimizer != "adamw":
            raise ArgumentError(
                f"weight_decay={weight_decay} needs optimizer='adamw' (decoupled weight decay, "
                "the same in both frameworks); lesson 03 shows L2 penalties for the others."
            )


def block_rates(
    lr: Mapping[str, float], blocks: Sequence[str], trainable: Sequence[str]
) -> dict[str, float]:
    """Check a per-block learning-rate dict against the model: known names, every trainable block.

    Returns ``{block: rate}`` for the trainable blocks, in model order (frozen blocks may be
    listed; they are skipped).
    """
    unknown = [name for name in lr if name not in blocks]
    if unknown:
        raise UnknownNameError(
            f"lr names unknown blocks {unknown}; the model's blocks are {', '.join(blocks)}."
        )
    missing = [name for name in trainable if name not in lr]
    if missing:
        raise ArgumentError(
            f"lr gives no rate for the trainable blocks {missing}: add them to the dict, or "
            "freeze them first (freeze/unfreeze)."
        )
    return {name: float(lr[name]) for name in blocks if name in trainable}


def resolve_batch_size(batch_size: int | None, mode: str | None = None) -> int:
    """``batch_size`` if given, else the size table's ``training.batch_size`` for the mode."""
    if batch_size is None:
        return int(config.sizes("training", mode).batch_size)
    return check_positive_int("batch_size", batch_size)


def resolve_quiet(quiet: bool | None) -> bool:
    """``quiet`` if given, else ``$COURSE_QUIET`` (``1`` silences progress bars, e.g. in tests)."""
    if quiet is None:
        return os.environ.get(QUIET_ENV, "").strip().lower() in {"1", "true", "yes"}
    return bool(quiet)


# ---------------------------------------------------------------------------------------------
# Arrays in, arrays out
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Arrays:
    """Inputs and targets as NumPy arrays, checked: what both data adapters start from."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.x)


def as_arrays(data: Any) -> Arrays:
    """Accept a :class:`LabelledImages` or an ``(inputs, targets)`` pair; check and convert.

    Inputs: images ``(N, H, W)`` or ``(N, H, W, C)`` (channels last), or features ``(N, F)``;
    finite numbers (NaN/Inf is an error; raw 0..255 pixels a warning). Targets: integer class
    labels ``(N,)`` or float regression targets ``(N, ...)``. An :class:`Arrays` passes as it is.
    """
    if isinstance(data, Arrays):
        return data
    if isinstance(data, LabelledImages):
        x, y = data.images, data.labels
    elif isinstance(data, tuple | list) and len(data) == 2:
        x, y = data
    else:
        raise ArgumentTypeError(
            "data must be a LabelledImages (e.g. from course_lib.data.load_digits()) or a pair "
            f"(inputs, targets) of arrays, got {type(data).__name__}."
        )
    x, y = np.asarray(x), np.asarray(y)
    inputs.check_input_layout(x)
    if len(x) == 0:
        raise ArgumentError("data is empty: there is nothing to train or evaluate on.")
    if y.ndim == 0 or len(y) != len(x):
        raise ArgumentError(
            f"{len(x)} inputs but targets of shape {y.shape}; they must match one to one."
        )
    if y.dtype.kind not in "biuf":
        checks.class_labels("labels", y)  # strings, objects: an error that says what to do
    x = x.astype(np.float32, copy=False)
    checks.finite_array("inputs", x)
    checks.value_range("images" if x.ndim >= 3 else "inputs", x, images=x.ndim >= 3)
    if np.issubdtype(y.dtype, np.integer):
        y = y.astype(np.int64, copy=False)
    else:
        y = y.astype(np.float32, copy=False)
        checks.finite_array("targets", y)
    return Arrays(x, y)


def prepare_data(data: Any, loss: str) -> Arrays:
    """:func:`as_arrays` plus :func:`~course_lib.inputs.check_targets`: data ``fit`` can train
    on with ``loss``."""
    arrays = as_arrays(data)
    return Arrays(arrays.x, inputs.check_targets(arrays.y, loss))


# ---------------------------------------------------------------------------------------------
# A loss that turns NaN or infinite stops training
# ---------------------------------------------------------------------------------------------
def _rate_advice(lr: float | Mapping[str, float] | None) -> str:
    if lr is None:
        return "a learning rate is too high (the optimizer's, or an inner loop's: try 10x smaller)"
    if isinstance(lr, Mapping):
        smaller = {name: float(f"{rate / 10:.3g}") for name, rate in lr.items()}
        return f"the learning rates are too high (lr={dict(lr)}: try {smaller})"
    return f"the learning rate is too high (lr={lr:g}: try 10x smaller, lr={lr / 10:.3g})"


class LossWatch:
    """Raises :class:`NonFiniteLossError` when a training loss becomes NaN or infinite.

    ``check(value, where)`` after every step (or epoch) that computes the loss anyway: a float
    comparison, no extra work. The error names where it happened, the last finite loss, the
    learning rate ``lr`` (``None``: an optimizer of the caller's) and the likely causes.
    """

    def __init__(self, lr: float | Mapping[str, float] | None, what: str = "training loss"):
        self.lr, self.what = lr, what
        self.last: tuple[float, str] | None = None

    def check(self, value: float, where: str) -> float:
        """``value`` if finite, else the error (``where``: e.g. ``"epoch 2/5, step 3/4"``)."""
        value = float(value)
        if math.isfinite(value):
            self.last = (value, where)
            return value
        before = (
            f"the last finite loss was {self.last[0]:.4g} ({self.last[1]})"
            if self.last
            else "it was not finite from the start"
        )
        raise NonFiniteLossError(
            f"The {self.what} became {value} at {where}; {before}. Training stopped: the "
            f"model's weights may hold NaN now, so build it afresh. Likely causes: "
            f"{_rate_advice(self.lr)}, or NaN/Inf or huge values in the inputs or targets "
            "(check np.isfinite(x).all() and np.abs(x).max())."
        )


# ---------------------------------------------------------------------------------------------
# Metrics: both frameworks hand over outputs and targets, the numbers are computed here
# ---------------------------------------------------------------------------------------------
def output_metrics(outputs: np.ndarray, targets: np.ndarray, loss: str) -> dict[str, float]:
    """``{"loss", "accuracy"}`` for class logits, ``{"loss"}`` (mean squared error) otherwise."""
    outputs = np.asarray(outputs, dtype=np.float64)
    targets = np.asarray(targets)
    if loss not in LOSSES:
        raise UnknownNameError(f"Unknown loss {loss!r}; use one of {', '.join(LOSSES)}.")
    if len(outputs) != len(targets):
        raise ArgumentError(
            f"{len(outputs)} outputs but {len(targets)} targets; they must match one to one."
        )
    inputs.check_outputs(outputs.shape, targets, loss)
    if loss == "cross_entropy":
        shifted = outputs - outputs.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        labels = targets.astype(np.int64)
        nll = -log_probs[np.arange(len(labels)), labels]
        return {"loss": float(nll.mean()), "accuracy": float((outputs.argmax(1) == labels).mean())}
    return {"loss": float(np.mean((outputs - targets.reshape(outputs.shape)) ** 2))}


class RunningMetrics:
    """Sample-weighted running means of the training loss (and accuracy) over one epoch."""

    def __init__(self, loss: str):
        self.loss = loss
        self._sums: dict[str, float] = {}
        self._count = 0

    def update(self, batch_loss: float, batch_size: int, correct: int | None = None) -> None:
        self._count += batch_size
        self._sums["loss"] = self._sums.get("loss", 0.0) + batch_loss * batch_size
        if correct is not None:
            self._sums["accuracy"] = self._sums.get("accuracy", 0.0) + correct

    def result(self) -> dict[str, float]:
        return {k: v / max(self._count, 1) for k, v in self._sums.items()}


# ---------------------------------------------------------------------------------------------
# History
# ---------------------------------------------------------------------------------------------
@dataclass
class History:
    """Per-epoch metrics with the same keys in both frameworks.

    ``history["loss"]`` is the list of training losses, one per epoch; validation metrics carry a
    ``val_`` prefix. ``history.epochs`` holds the same numbers one dict per epoch.
    """

    epochs: list[dict[str, float]] = field(default_factory=list)
    wall_s: float = 0.0
    stopped_early: bool = False

    def append(self, logs: dict[str, float]) -> None:
        self.epochs.append({k: float(v) for k, v in logs.items()})

    def keys(self) -> list[str]:
        return list(self.epochs[0]) if self.epochs else []

    def __getitem__(self, key: str) -> list[float]:
        if self.epochs and key not in self.epochs[0]:
            raise UnknownNameError(
                f"History has no metric {key!r}; it has {', '.join(self.keys())}."
            )
        return [e[key] for e in self.epochs]

    def __len__(self) -> int:
        return len(self.epochs)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    @property
    def last(self) -> dict[str, float]:
        """The metrics of the final epoch."""
        return dict(self.epochs[-1]) if self.epochs else {}

    def best(self, key: str = "val_loss") -> tuple[int, float]:
        """``(epoch, value)`` of the best epoch for ``key`` (lowest loss, highest otherwise)."""
        values = self[key]
        if not values:
            raise ArgumentError("History is empty: train for at least one epoch first.")
        pick = np.argmin if "loss" in key else np.argmax
        i = int(pick(values))
        return i + 1, values[i]

    def as_dict(self) -> dict[str, list[float]]:
        return {k: self[k] for k in self.keys()}

    def __repr__(self) -> str:
        return f"History({len(self)} epochs: {describe(self.last) or 'empty'})"


def split_pooled(
    joined: np.ndarray, keep: Sequence[str], widths: Sequence[int]
) -> dict[str, np.ndarray]:
    """``features(layer=[...])``: the side-by-side pooled outputs of one pass, one array per
    block (``keep``, with its ``widths``)."""
    parts = np.split(joined, np.cumsum(widths)[:-1], axis=1)
    return {name: np.ascontiguousarray(part) for name, part in zip(keep, parts, strict=True)}


def describe(logs: dict[str, float]) -> str:
    """``loss 0.412 · accuracy 0.871 · val_loss 0.520`` — for progress bars and printouts."""
    return " · ".join(f"{k} {v:.3f}" for k, v in logs.items())


# ---------------------------------------------------------------------------------------------
# Progress and callbacks
# ---------------------------------------------------------------------------------------------
def progress_bar(steps_per_epoch: int, epochs: int, quiet: bool) -> tqdm:
    """One bar for a whole ``fit`` call: steps across all epochs, metrics in the postfix."""
    return tqdm(
        total=steps_per_epoch * epochs,
        desc=f"epoch 1/{epochs}",
        unit="step",
        disable=quiet,
        leave=True,
        mininterval=0.5,
        dynamic_ncols=True,
    )


def end_epoch(
    history: History,
    logs: dict[str, float],
    epoch: int,
    epochs: int,
    bar: tqdm,
    callbacks: Sequence[Callback],
) -> bool:
    """Record an epoch, update the bar, run the callbacks; ``True`` means stop training."""
    history.append(logs)
    bar.set_description(f"epoch {epoch + 1}/{epochs}", refresh=False)
    bar.set_postfix_str(describe(logs), refresh=True)
    stop = False
    for callback in callbacks:
        stop = bool(callback(epoch, dict(history.epochs[-1]))) or stop
    history.stopped_early = stop and epoch + 1 < epochs
    return stop


def bind_callbacks(
    callbacks: Sequence[Callback], snapshot: Callable[[], Any], restore: Callable[[Any], None]
) -> None:
    """Hand ``fit``'s model-state functions to callbacks that want them (``bind``)."""
    for callback in callbacks:
        if hasattr(callback, "bind"):
            callback.bind(snapshot, restore)


def finish_callbacks(callbacks: Sequence[Callback], history: History) -> None:
    """Let callbacks act once training ended (``on_fit_end``, e.g. restore the best weights)."""
    for callback in callbacks:
        if hasattr(callback, "on_fit_end"):
            callback.on_fit_end(history)


def check_callbacks(callbacks: Iterable[Callback] | None) -> list[Callback]:
    callbacks = list(callbacks or [])
    for cb in callbacks:
        if not callable(cb):
            raise ArgumentTypeError(
                f"callbacks must be callables taking (epoch, logs), got {type(cb).__name__}; "
                "see course_lib.training.EarlyStopping for an example."
            )
    return callbacks


class EarlyStopping:
    """Stop when ``monitor`` has not improved for ``patience`` epochs (works in both frameworks).

    With ``restore_best=True`` the model gets back the weights of its best epoch when ``fit``
    ends (``fit`` hands the callback a snapshot and a restore function through ``bind``).

    >>> stopper = EarlyStopping("val_loss", patience=3, restore_best=True)
    >>> history = cl.fit(model, train, val, epochs=50, callbacks=[stopper])
    >>> stopper.best_epoch
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 3,
        min_delta: float = 0.0,
        restore_best: bool = False,
    ):
        self.monitor = monitor
        self.patience = check_positive_int("patience", patience)
        self.min_delta = float(min_delta)
        self.restore_best = bool(restore_best)
        self.lower_is_better = "loss" in monitor
        self.best_value = math.inf if self.lower_is_better else -math.inf
        self.best_epoch = 0
        self.restored = False
        self._waited = 0
        self._snapshot: Callable[[], Any] | None = None
        self._restore: Callable[[Any], None] | None = None
        self._best_state: Any = None

    def bind(self, snapshot: Callable[[], Any], restore: Callable[[Any], None]) -> None:
        """Called by ``fit``: how to copy the model's state, and how to put a copy back."""
        self._snapshot, self._restore = snapshot, restore

    def on_fit_end(self, history: History) -> None:
        """Called by ``fit`` at the end: restore the best epoch's weights if asked to."""
        if self.restore_best and self._best_state is not None and self._restore is not None:
            self._restore(self._best_state)
            self.restored = True

    def __call__(self, epoch: int, logs: dict[str, float]) -> bool:
        if self.monitor not in logs:
            raise UnknownNameError(
                f"EarlyStopping monitors {self.monitor!r} but the logs have "
                f"{', '.join(logs)}; pass validation data to fit() to get val_ metrics."
            )
        value = logs[self.monitor]
        better = (
            value < self.best_value - self.min_delta
            if self.lower_is_better
            else value > self.best_value + self.min_delta
        )
        if better:
            self.best_value, self.best_epoch, self._waited = value, epoch + 1, 0
            if self.restore_best and self._snapshot is not None:
                self._best_state = self._snapshot()
            return False
        self._waited += 1
        return self._waited >= self.patience
