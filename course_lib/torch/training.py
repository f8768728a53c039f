"""Data loaders, ``fit`` and ``evaluate`` for the PyTorch lessons.

Mirrors :mod:`course_lib.keras.training`. The loop is the plain PyTorch loop a learner would write
(``zero_grad`` → forward → loss → ``backward`` → ``step``); argument checks, metrics, the history,
the progress bar and callbacks come from the framework-neutral :mod:`course_lib.training`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from course_lib.checks import batchnorm_mode
from course_lib.errors import ArgumentError, ArgumentTypeError, CourseError
from course_lib.inputs import InputSpec, check_model_input, check_outputs, model_input_error
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


def _channels_first(x: np.ndarray) -> torch.Tensor:
    """Course layout (``(N, H, W)``, ``(N, H, W, C)`` or features) as PyTorch's tensor layout."""
    tensor = torch.from_numpy(np.ascontiguousarray(x))
    if tensor.ndim == 3:
        return tensor.unsqueeze(1)  # (N, H, W) -> (N, 1, H, W)
    if tensor.ndim == 4:
        return tensor.permute(0, 3, 1, 2).contiguous()  # channels last -> channels first
    return tensor


class _ArrayDataset(Dataset):
    """Tensors indexed a whole batch at a time (``__getitems__``): no per-sample Python loop."""

    def __init__(self, arrays: Arrays):
        self.x = _channels_first(arrays.x)
        self.y = torch.from_numpy(np.ascontiguousarray(arrays.y))

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[i], self.y[i]

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.as_tensor(indices)
        return self.x[index], self.y[index]


def _whole_batch(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    return batch


def data_loader(
    data: Any, batch_size: int | None = None, *, shuffle: bool = False, seed: int = 0
) -> DataLoader:
    """A ``DataLoader`` over a :class:`LabelledImages` or ``(inputs, targets)`` arrays.

    Images come out channels first ``(B, 1, H, W)``. ``batch_size`` defaults to the size table
    (``sizes("training").batch_size``); ``shuffle=True`` reshuffles every epoch in an order fixed
    by ``seed``.
    """
    if isinstance(data, DataLoader):
        return data
    dataset = _ArrayDataset(as_arrays(data))
    generator = torch.Generator().manual_seed(int(seed)) if shuffle else None
    return DataLoader(
        dataset,
        batch_size=resolve_batch_size(batch_size),
        shuffle=shuffle,
        generator=generator,
        collate_fn=_whole_batch,
    )


def _make_optimizer(
    model: nn.Module,
    optimizer: str | torch.optim.Optimizer,
    lr: float | Mapping[str, float],
    weight_decay: float,
) -> torch.optim.Optimizer:
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    if not isinstance(optimizer, str):
        raise ArgumentTypeError(
            f"optimizer must be a name ('adam', 'adamw', 'sgd') or a torch.optim.Optimizer, "
            f"got {type(optimizer).__name__}."
        )
    blocks = dict(model.named_children())
    trainable = [n for n, b in blocks.items() if any(p.requires_grad for p in b.parameters())]
    # Parameters of the model itself, outside any block (e.g. a bare nn.Linear head).
    own = [p for p in model.parameters(recurse=False) if p.requires_grad]
    if not trainable and not own:
        raise ArgumentError(
            "Nothing to train: every parameter is frozen. Call unfreeze(model, ...) on at least "
            "one block (e.g. unfreeze(model, 'head')) before fit()."
        )
    if own and isinstance(lr, Mapping):
        raise ArgumentError(
            f"lr as a dict names blocks, but this {type(model).__name__} has parameters of its "
            "own, outside any block; pass one learning rate (a float) instead."
        )
    rates = block_rates(lr, list(blocks), trainable) if isinstance(lr, Mapping) else {}
    default = 1e-3 if rates else float(lr)  # with per-block rates every group sets its own
    groups = [
        {"params": [p for p in blocks[name].parameters() if p.requires_grad]}
        | ({"lr": rates[name]} if rates else {})
        for name in trainable
    ] + ([{"params": own}] if own else [])
    if optimizer == "sgd":
        return torch.optim.SGD(groups, lr=default, momentum=SGD_MOMENTUM)
    if optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=default, eps=ADAM_EPSILON, weight_decay=weight_decay)
    return torch.optim.Adam(groups, lr=default, eps=ADAM_EPSILON)


def _loss_fn(loss: str, label_smoothing: float = 0.0) -> nn.Module:
    if loss == "cross_entropy":
        return nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    return nn.MSELoss()


def _frozen_batchnorm_to_eval(model: nn.Module) -> None:
    """BatchNorm layers whose parameters are all frozen keep their running statistics.

    ``model.train()`` would let them re-estimate mean and variance on the new data; Keras keeps a
    layer with ``trainable = False`` in inference mode, and the course does the same in PyTorch.
    """
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            params = list(module.parameters())
            if params and not any(p.requires_grad for p in params):
                module.eval()


def _batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def _every_batchnorm_to_eval(model: nn.Module) -> None:
    """Every BatchNorm layer normalises with its running statistics, and they do not move."""
    for module in _batchnorm_layers(model):
        module.eval()


@contextmanager
def _batchnorm_frozen(model: nn.Module, frozen: bool) -> Iterator[None]:
    """For ``fit(..., batchnorm="frozen")``: every BatchNorm scale and shift without
    ``requires_grad`` while the block runs (so no optimizer moves them, the caller's own
    included), then each parameter's flag and each module's train/eval mode as before, also when
    the block raises. Does nothing unless ``frozen``."""
    if not frozen:
        yield
        return
    params = [p for m in _batchnorm_layers(model) for p in m.parameters(recurse=False)]
    flags = [p.requires_grad for p in params]
    modes = [(m, m.training) for m in model.modules()]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(params, flags, strict=True):
            p.requires_grad_(flag)
        for m, training in modes:
            m.training = training


def _model_device(model: nn.Module) -> torch.device:
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


_POOLS = (nn.MaxPool2d, nn.AvgPool2d)


def _input_spec(model: nn.Module) -> InputSpec:
    """What the course's sequential networks (``small_cnn``, ``mlp``, a bare ``nn.Linear``)
    take per sample, from their first layers; nothing for other modules (call order unknown)."""
    if not isinstance(model, nn.Sequential | nn.Linear):
        return InputSpec()
    from course_lib.torch.imagenet import Preprocess

    if isinstance(model, nn.Sequential) and len(model) and isinstance(model[0], Preprocess):
        return InputSpec(shape=(None, None, None))  # grayscale or RGB: Preprocess checks them
    pools = sum(
        1
        for m in model.modules()
        if isinstance(m, _POOLS) and m.kernel_size in (2, (2, 2)) and m.padding in (0, (0, 0))
    )
    flattens = False
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            return InputSpec(shape=(None, None, module.in_channels), min_size=2**pools)
        if isinstance(module, nn.Flatten):
            flattens = True
        elif isinstance(module, nn.Linear):
            if flattens:
                return InputSpec(values=module.in_features)
            return InputSpec(shape=(module.in_features,))
    return InputSpec()


def _check_takes(model: nn.Module, arrays: Arrays, loss: str) -> Arrays:
    """Check, before any step, that ``model`` takes the inputs and that its outputs fit the
    targets for ``loss``: the layer shapes, then one sample through the network. Returns
    ``arrays`` with regression targets shaped like the outputs."""
    check_model_input(arrays.x.shape, _input_spec(model))
    was_training = model.training
    model.eval()  # no BatchNorm statistics move, no dropout
    try:
        with torch.no_grad():
            out = model(_channels_first(arrays.x[:1]).to(_model_device(model)))
    except CourseError:  # the network's own check (e.g. its channels) already says it
        raise
    except Exception as err:  # whatever the network raised: say what it was given
        raise model_input_error(arrays.x.shape, err) from err
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor):
        return arrays
    return Arrays(arrays.x, check_outputs(tuple(out.shape), arrays.y, loss))


def fit(
    model: nn.Module,
    train: Any,
    val: Any = None,
    *,
    epochs: int = 1,
    lr: float | Mapping[str, float] = 1e-3,
    optimizer: str | torch.optim.Optimizer = "adam",
    weight_decay: float = 0.0,
    loss: str = "cross_entropy",
    batch_size: int | None = None,
    seed: int = 0,
    callbacks: Iterable[Callback] | None = None,
    quiet: bool | None = None,
    penalty: Callable[[nn.Module], torch.Tensor] | None = None,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    label_smoothing: float = 0.0,
    batchnorm: str = "train",
) -> History:
    """Train ``model`` on ``train`` for ``epochs``; returns a :class:`History`.

    ``train``/``val``: a :func:`data_loader`, a :class:`LabelledImages` or ``(inputs, targets)``
    (arrays are shuffled with ``seed``). ``optimizer``: ``"adam"``, ``"adamw"`` (with
    ``weight_decay``), ``"sgd"`` (momentum 0.9) or your own ``torch.optim.Optimizer`` (for
    parameter groups of your own). Regularization (lesson 03): ``penalty(model)`` returns a
    scalar added to every batch's loss before ``backward`` (e.g. an L1 or L2 term you write);
    ``augment(images)`` transforms each training batch ``(B, C, H, W)`` (see
    :func:`augmentation`); ``label_smoothing`` softens the cross-entropy targets. The history's
    ``loss`` is the data loss, without the penalty, so curves compare across techniques.
    ``lr`` may be a dict of rates per block, e.g. ``{"head": 1e-3, "block4": 1e-4}``
    (discriminative learning rates; every trainable block needs one). Only parameters with
    ``requires_grad`` train.
    History keys: ``loss``, ``accuracy`` (classification) and the same with ``val_`` when ``val``
    is given. ``callbacks`` are called as ``cb(epoch, logs)``; one returning ``True`` stops.
    Bad data is an error before any step (NaN/Inf inputs, labels that are not class indices of
    the network's outputs, images it cannot take); a loss that becomes NaN or infinite stops
    training with a :class:`~course_lib.errors.NonFiniteLossError` naming the step and the rate.
    The model moves to :func:`device` (the GPU when there is one). BatchNorm layers of frozen
    blocks stay in evaluation mode, so their running statistics keep their pretrained values
    (what Keras does for ``trainable = False``).
    ``batchnorm="frozen"`` does that for every BatchNorm layer, whether or not its block is
    frozen: each normalises with its running statistics, which do not change, and its scale and
    shift do not train (not even with your own optimizer); the other layers train as usual. Use
    it to fine-tune a pretrained network on a few images per class, where the statistics of tiny
    batches would spoil the pretrained ones. Afterwards every ``requires_grad`` flag and every
    module's train/eval mode are as before the call. ``batchnorm="train"`` (the default):
    BatchNorm layers of trainable blocks train as usual.
    """
    check_fit_args(epochs, lr, optimizer, loss, weight_decay)
    check_regularization_args(loss, penalty, augment, label_smoothing)
    callbacks = check_callbacks(callbacks)
    batchnorm = batchnorm_mode(batchnorm)
    from course_lib.torch import device

    dev = device()
    model.to(dev)  # the GPU when there is one (full mode), else the CPU
    frozen = batchnorm == "frozen"
    with _batchnorm_frozen(model, frozen):  # flags and modes back afterwards
        train, val = _fit_data(model, train, loss), _fit_data(model, val, loss)
        train_loader = data_loader(train, batch_size, shuffle=True, seed=seed)
        val_loader = None if val is None else data_loader(val, batch_size)
        opt = _make_optimizer(model, optimizer, lr, weight_decay)
        loss_fn = _loss_fn(loss, label_smoothing)
        watch = LossWatch(lr if isinstance(optimizer, str) else None)
        steps = len(train_loader)
        history = History()
        bind_callbacks(callbacks, *_state_functions(model))
        start = time.perf_counter()
        with progress_bar(len(train_loader), epochs, resolve_quiet(quiet)) as bar:
            for epoch in range(epochs):
                model.train()
                _frozen_batchnorm_to_eval(model)
                if frozen:  # after every model.train(): no BatchNorm statistics move
                    _every_batchnorm_to_eval(model)
                running = RunningMetrics(loss)
                for step, (xb, yb) in enumerate(train_loader):
                    xb, yb = xb.to(dev), yb.to(dev)
                    if augment is not None:
                        xb = augment(xb)
                    opt.zero_grad()
                    outputs = model(xb)
                    batch_loss = loss_fn(outputs, yb)
                    objective = batch_loss if penalty is None else batch_loss + penalty(model)
                    objective.backward()
                    opt.step()
                    correct = (
                        int((outputs.argmax(1) == yb).sum()) if loss == "cross_entropy" else None
                    )
                    value = watch.check(  # .item() waits for the step: the check adds no sync
                        batch_loss.item(), f"epoch {epoch + 1}/{epochs}, step {step + 1}/{steps}"
                    )
                    running.update(value, len(yb), correct)
                    bar.update()
                logs = running.result()
                if val_loader is not None:
                    logs |= {
                        f"val_{k}": v for k, v in evaluate(model, val_loader, loss=loss).items()
                    }
                if end_epoch(history, logs, epoch, epochs, bar, callbacks):
                    break
    finish_callbacks(callbacks, history)
    history.wall_s = time.perf_counter() - start
    return history


def _fit_data(model: nn.Module, data: Any, loss: str) -> Any:
    """``data`` as :class:`Arrays` checked for ``loss`` and ``model``; a ``DataLoader`` (or
    ``None``) stays as it is."""
    if data is None or isinstance(data, DataLoader):
        return data
    return _check_takes(model, prepare_data(data, loss), loss)


def _state_functions(model: nn.Module) -> tuple[Callable[[], Any], Callable[[Any], None]]:
    """Snapshot / restore every weight and statistic of ``model`` (for EarlyStopping)."""

    def snapshot() -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in model.state_dict().items()}

    return snapshot, model.load_state_dict


def predict(model: nn.Module, data: Any, batch_size: int | None = None) -> np.ndarray:
    """The model's outputs (e.g. logits) for ``data`` as a NumPy array, in evaluation mode.

    ``data``: images ``(N, H, W)``, a :class:`LabelledImages`, ``(inputs, targets)`` or a loader.
    """
    outputs, _ = _outputs_and_targets(model, data, batch_size)
    return outputs


def features(
    model: nn.Module,
    data: Any,
    batch_size: int | None = None,
    *,
    layer: str | Sequence[str] | None = None,
) -> np.ndarray | dict[str, np.ndarray]:
    """One feature vector per image, ``(N, features)``: what the model's last linear layer sees
    (``layer=None``), or the globally pooled output of block ``layer`` (e.g. ``"block2"``).

    For ``small_cnn`` the default is the pooled output of ``block4`` (``4 * width`` numbers).
    ``layer=["block3", "top"]``: ``{block: features}`` for each, from one pass over ``data``.
    """
    from course_lib.torch.models import feature_extractor, pooled_outputs

    if layer is None or isinstance(layer, str):
        return predict(feature_extractor(model, layer), data, batch_size)
    extractor = pooled_outputs(model, layer)
    joined = predict(extractor, data, batch_size)
    return split_pooled(joined, extractor.keep, extractor.widths)


def recalibrate_batchnorm(model: nn.Module, data: Any, batch_size: int | None = None) -> None:
    """Re-estimate the running statistics of every trainable BatchNorm layer on ``data``.

    After a short training run (a few optimizer steps, e.g. on 5 images per class) the running
    mean and variance lag behind the final weights and evaluation-mode accuracy can collapse.
    This pass, with the final weights and no gradient step, sets them to the average over
    ``data``. Layers of frozen blocks keep their statistics.
    """
    layers = [
        m
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
        and m.track_running_stats
        and any(p.requires_grad for p in m.parameters())
    ]
    if not layers:
        return
    momenta = [m.momentum for m in layers]
    was_training = model.training
    dev = _model_device(model)
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches
    model.train()
    _frozen_batchnorm_to_eval(model)
    with torch.no_grad():
        for xb, _ in data_loader(data, batch_size):
            model(xb.to(dev))
    for m, momentum in zip(layers, momenta, strict=True):
        m.momentum = momentum
    model.train(was_training)


def _outputs_and_targets(
    model: nn.Module, data: Any, batch_size: int | None
) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(data, np.ndarray):
        data = (data, np.zeros(len(data), dtype=np.int64))
    if not isinstance(data, DataLoader):
        data = as_arrays(data)
        check_model_input(data.x.shape, _input_spec(model))
    loader = data_loader(data, batch_size)
    dev = _model_device(model)
    was_training = model.training
    model.eval()
    outputs, targets = [], []
    try:
        with torch.no_grad():
            for i, (xb, yb) in enumerate(loader):
                try:
                    outputs.append(model(xb.to(dev)).cpu().numpy())
                except Exception as err:  # the first batch fails: the network does not take it
                    if i or isinstance(err, CourseError):
                        raise
                    shape = data.x.shape if isinstance(data, Arrays) else (None, *xb.shape[1:])
                    raise model_input_error(shape, err) from err
                targets.append(yb.numpy())
    finally:
        model.train(was_training)
    return np.concatenate(outputs), np.concatenate(targets)


def evaluate(
    model: nn.Module, data: Any, *, loss: str = "cross_entropy", batch_size: int | None = None
) -> dict[str, float]:
    """Metrics of ``model`` on ``data`` in evaluation mode: ``{"loss", "accuracy"}`` (or MSE)."""
    outputs, targets = _outputs_and_targets(model, data, batch_size)
    return output_metrics(outputs, targets, loss)
