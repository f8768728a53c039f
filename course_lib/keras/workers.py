"""Traced graphs shared between Keras models of one structure.

TensorFlow traces a new graph for every freshly built or compiled model: about 2 s on a 2-core
CPU for the course's small CNN, longer than the 100 optimizer steps a few-shot fit takes. The
lessons train dozens of fresh copies of one network (strategies x label budgets x seeds), so
``fit``, ``predict`` and ``evaluate`` keep one compiled *worker* per model structure: the
model's variables (weights, BatchNorm statistics, dropout seeds) are copied in, the worker runs,
and the results are copied back. The numbers are the ones the model itself would produce; the
graph is traced once per structure instead of once per model.
"""

from __future__ import annotations

import re
import warnings
from collections import OrderedDict
from collections.abc import Callable, Hashable

import keras

MAX_WORKERS = 12  # a lesson uses a handful of structures (scratch, probe, unfreezing stages)
_workers: OrderedDict[tuple[Hashable, ...], keras.Model] = OrderedDict()


def _layer_names(model: keras.Model) -> list[str]:
    return [model.name, *(layer.name for layer in model._flatten_layers(include_self=False))]


def structure_key(model: keras.Model) -> str | None:
    """The model's architecture, shapes and trainable flags, with layer names replaced by their
    order of appearance (fresh models get fresh names); ``None`` if Keras cannot serialize it."""
    try:
        config = model.to_json()
    except (NotImplementedError, TypeError, ValueError):
        return None  # e.g. a subclassed model without get_config: no sharing
    canonical: dict[str, str] = {}
    for name in _layer_names(model):
        canonical.setdefault(name, f"layer{len(canonical)}")
    pattern = "|".join(re.escape(name) for name in sorted(canonical, key=len, reverse=True))
    config = re.sub(f'"({pattern})"', lambda m: f'"{canonical[m.group(1)]}"', config)
    state = [(tuple(v.shape), str(v.dtype), bool(v.trainable)) for v in model.variables]
    return f"{config}|{state}"


def copy_variables(source: keras.Model, target: keras.Model) -> None:
    """Assign every variable of ``source`` (weights, statistics, seeds) to ``target``."""
    if source is target:
        return
    for src, dst in zip(source.variables, target.variables, strict=True):
        dst.assign(src.value)


def worker_for(
    model: keras.Model, purpose: Hashable, setup: Callable[[keras.Model], None] | None = None
) -> keras.Model:
    """The worker for ``model``'s structure and ``purpose``, holding ``model``'s current
    variables; built and passed to ``setup`` the first time.

    ``purpose`` is the cache key next to the structure, so it must hold everything ``setup``
    reads that shapes the worker's compiled step (an option missing from the key would hand one
    fit the step compiled for another). Best make it one frozen record that configures the
    worker itself (``purpose.configure(worker)``, e.g. :class:`~course_lib.keras.training.
    FitOptions`): then leave ``setup`` out, and what compiles is what the key says.

    A model Keras cannot clone is its own worker (``setup`` runs on it every time).
    """
    if setup is None:
        setup = purpose.configure  # type: ignore[attr-defined]
    structure = structure_key(model)
    if structure is None:
        setup(model)
        return model
    key = (structure, purpose)
    worker = _workers.get(key)
    if worker is None:
        with warnings.catch_warnings():  # "compile_from_config" noise for a compiled model
            warnings.simplefilter("ignore")
            worker = keras.models.clone_model(model)
        for original, copied in zip(model._flatten_layers(), worker._flatten_layers(), strict=True):
            copied.trainable = original.trainable
        setup(worker)
        _workers[key] = worker
        while len(_workers) > MAX_WORKERS:
            _workers.popitem(last=False)
    _workers.move_to_end(key)
    copy_variables(model, worker)
    return worker


def has_worker(model: keras.Model, purpose: Hashable) -> bool:
    """Whether a worker for ``model``'s structure and ``purpose`` exists already."""
    structure = structure_key(model)
    return structure is not None and (structure, purpose) in _workers


def reset_optimizer(optimizer: keras.optimizers.Optimizer, learning_rate: float) -> None:
    """Zero a built optimizer's state (step count, moments) and set its learning rate: the same
    as a freshly made optimizer, without tracing a new train step."""
    if not optimizer.built:
        optimizer.learning_rate = learning_rate
        return
    for variable in optimizer.variables:
        variable.assign(keras.ops.zeros(variable.shape, variable.dtype))
    optimizer.learning_rate = learning_rate


def clear() -> None:
    """Forget every worker (frees their memory)."""
    _workers.clear()
