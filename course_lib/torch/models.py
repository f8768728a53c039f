"""Models, freezing and checkpoints for the PyTorch lessons.

Mirrors :mod:`course_lib.keras.models`: the same names, arguments, block names and parameter
counts, so a lesson reads the same whichever framework it uses.
"""

from __future__ import annotations

import copy
import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from course_lib import checks
from course_lib.checkpoints import (
    CHECKPOINT_FORMAT,
    atomic_write,
    check_meta,
    existing_checkpoint,
    unreadable,
)
from course_lib.errors import CheckpointError, UnknownNameError
from course_lib.summary import LayerRow, format_summary


def _conv_block(c_in: int, c_out: int, *, pool: bool) -> nn.Sequential:
    layers: list[tuple[str, nn.Module]] = [
        ("conv", nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False)),
        ("bn", nn.BatchNorm2d(c_out)),
        ("relu", nn.ReLU()),
    ]
    if pool:
        layers.append(("pool", nn.MaxPool2d(2)))
    return nn.Sequential(OrderedDict(layers))


def small_cnn(
    num_classes: int, *, width: int = 32, in_channels: int = 1, dropout: float = 0.0
) -> nn.Module:
    """A four-block CNN for (N, in_channels, 28, 28) images: ``block1``..``block4`` and ``head``.

    Blocks 1-3: 3x3 conv (no bias) -> BatchNorm -> ReLU -> 2x2 max-pool; block 4 has no pooling.
    Channels: width, 2*width, 2*width, 4*width. The head averages globally, so any H, W >= 8 works.
    ``dropout`` > 0 puts a Dropout layer in the head, before the last Linear layer.
    """
    num_classes = checks.positive_int("num_classes", num_classes)
    width = checks.positive_int("width", width)
    in_channels = checks.positive_int("in_channels", in_channels)
    dropout = checks.fraction("dropout", dropout)
    w = width
    # Blocks first, then the head: modules draw their initial weights in this order (seeded runs
    # must keep their numbers).
    blocks = [
        ("block1", _conv_block(in_channels, w, pool=True)),
        ("block2", _conv_block(w, 2 * w, pool=True)),
        ("block3", _conv_block(2 * w, 2 * w, pool=True)),
        ("block4", _conv_block(2 * w, 4 * w, pool=False)),
    ]
    head: list[tuple[str, nn.Module]] = [
        ("pool", nn.AdaptiveAvgPool2d(1)),
        ("flatten", nn.Flatten()),
    ]
    if dropout:
        head.append(("dropout", nn.Dropout(dropout)))
    head.append(("linear", nn.Linear(4 * w, num_classes)))
    return nn.Sequential(OrderedDict([*blocks, ("head", nn.Sequential(OrderedDict(head)))]))


def mlp(
    in_features: int | tuple[int, int] = 1,
    hidden: tuple[int, ...] = (40, 40),
    out_features: int = 1,
    *,
    dropout: float = 0.0,
) -> nn.Module:
    """A fully connected net: ``layer1``, ``layer2``, ... (Linear + ReLU) and a Linear ``head``.

    ``in_features`` as an image size ``(H, W)`` puts a ``flatten`` block first, so the net takes
    images ``(N, 1, H, W)``. ``dropout`` > 0 adds a Dropout layer at the end of every hidden layer.
    """
    blocks: list[tuple[str, nn.Module]] = []
    if isinstance(in_features, tuple):
        height, width = (checks.positive_int("in_features[i]", n) for n in in_features)
        blocks.append(("flatten", nn.Flatten()))
        in_features = height * width
    in_features = checks.positive_int("in_features", in_features)
    out_features = checks.positive_int("out_features", out_features)
    dropout = checks.fraction("dropout", dropout)
    hidden = checks.positive_ints("hidden", hidden)
    n_in = in_features
    for i, n_out in enumerate(hidden, start=1):
        layer: list[tuple[str, nn.Module]] = [
            ("linear", nn.Linear(n_in, n_out)),
            ("relu", nn.ReLU()),
        ]
        if dropout:
            layer.append(("dropout", nn.Dropout(dropout)))
        blocks.append((f"layer{i}", nn.Sequential(OrderedDict(layer))))
        n_in = n_out
    blocks.append(("head", nn.Linear(n_in, out_features)))
    return nn.Sequential(OrderedDict(blocks))


def layer_names(model: nn.Module) -> list[str]:
    """The names of the model's top-level blocks, in order."""
    return [name for name, _ in model.named_children()]


def _unknown_layer(model: nn.Module, name: object) -> UnknownNameError:
    valid = ", ".join(layer_names(model))
    return UnknownNameError(f"Unknown layer {name!r}; valid layers: {valid}.")


def _set_trainable(module: nn.Module, trainable: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(trainable)


def freeze(model: nn.Module, up_to: str | None = None) -> None:
    """Stop training the top-level blocks from the first through ``up_to``; ``None`` = all.

    Only ``requires_grad`` changes here. :func:`~course_lib.torch.fit` also keeps the BatchNorm
    layers of frozen blocks in evaluation mode, so their running statistics stay as they were (as
    Keras does for ``trainable = False``); a hand-written loop that calls ``model.train()`` would
    let them drift to the new data's statistics.
    """
    names = layer_names(model)
    if up_to is not None and up_to not in names:
        raise _unknown_layer(model, up_to)
    last = len(names) if up_to is None else names.index(up_to) + 1
    children = dict(model.named_children())
    for name in names[:last]:
        _set_trainable(children[name], False)


def unfreeze(model: nn.Module, layers: str | list[str] | None = None) -> None:
    """Train the named top-level blocks again (one name or a list); ``None`` = all blocks."""
    children = dict(model.named_children())
    if layers is None:
        selected = list(children)
    elif isinstance(layers, str):
        selected = [layers]
    else:
        selected = list(layers)
    for name in selected:
        if name not in children:
            raise _unknown_layer(model, name)
    for name in selected:
        _set_trainable(children[name], True)


def replace_head(model: nn.Module, num_classes: int) -> nn.Module:
    """Give ``model`` a new, randomly initialised output layer for ``num_classes``; returns it.

    Everything before the last linear layer (the backbone, and the head's pooling) is kept with
    its weights and trainable flags. Use the returned model (Keras has to build a new one).
    """
    num_classes = checks.positive_int("num_classes", num_classes)
    children = dict(model.named_children())
    if "head" not in children:
        raise _unknown_layer(model, "head")
    head = children["head"]
    device = next(head.parameters()).device
    if isinstance(head, nn.Linear):  # mlp
        model.head = nn.Linear(head.in_features, num_classes).to(device)
    else:  # small_cnn: pool -> flatten -> linear
        head.linear = nn.Linear(head.linear.in_features, num_classes).to(device)
    return model


def copy_model(model: nn.Module) -> nn.Module:
    """An independent copy of ``model``: same weights, BatchNorm statistics and frozen flags.

    Training the copy leaves the original untouched (e.g. one trained head, several ways to
    fine-tune it).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"copy_model needs a torch.nn.Module, got {type(model).__name__}.")
    return copy.deepcopy(model)


class GlobalPool(nn.Module):
    """Average image features ``(N, C, H, W)`` over height and width to ``(N, C)``; pass
    feature vectors ``(N, F)`` through unchanged."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return global_pool(x)


def global_pool(x: torch.Tensor) -> torch.Tensor:
    """What :class:`GlobalPool` computes, for code that pools several outputs of one pass."""
    return x.mean(dim=(2, 3)) if x.dim() == 4 else x


class PooledOutputs(nn.Sequential):
    """The blocks in order; the output is the global average of each block named in ``keep``,
    side by side, ``(N, sum of their widths)``; ``widths`` holds each one's width after a pass."""

    def __init__(self, blocks: OrderedDict[str, nn.Module], keep: Sequence[str]):
        super().__init__(blocks)
        self.keep = tuple(keep)
        self.widths: tuple[int, ...] = ()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = []
        for name, block in self.named_children():
            x = block(x)
            if name in self.keep:
                pooled.append(global_pool(x))
        self.widths = tuple(p.shape[1] for p in pooled)
        return torch.cat(pooled, dim=1)


def pooled_outputs(model: nn.Module, layers: Sequence[str]) -> PooledOutputs:
    """One pass through ``model``'s blocks up to the last of ``layers``, keeping the pooled output
    of each (shares the weights): the features of several layers for the price of one."""
    names = layer_names(model)
    keep = checks.feature_layers(layers, names)
    children = dict(model.named_children())
    last = names.index(keep[-1])
    return PooledOutputs(OrderedDict((n, children[n]) for n in names[: last + 1]), keep)


def feature_extractor(model: nn.Module, layer: str | None = None) -> nn.Module:
    """The model up to its features (shares the weights): inputs -> one vector per input.

    ``layer=None``: everything before the final linear layer (what the head's classifier sees).
    ``layer="block2"``: the blocks up to and including that one, then a global average over
    height and width — earlier, more generic features (lesson 01: which layer to transfer from).
    """
    children = dict(model.named_children())
    if layer is not None:
        return nn.Sequential(*_blocks_through(model, layer), GlobalPool())
    if "head" not in children:
        raise _unknown_layer(model, "head")
    body = [module for name, module in children.items() if name != "head"]
    head = children["head"]
    if isinstance(head, nn.Sequential):
        body += [module for name, module in head.named_children() if name != "linear"]
    return nn.Sequential(*body)


def _blocks_through(model: nn.Module, layer: object) -> list[nn.Module]:
    """The top-level blocks from the first through ``layer`` (not the head: it classifies)."""
    names = layer_names(model)
    children = dict(model.named_children())
    return [children[name] for name in names[: checks.feature_layer(layer, names) + 1]]


def _kind(name: str, module: nn.Module) -> str:
    if name == "head":
        return "head"
    modules = list(module.modules())
    if any(isinstance(m, nn.Conv2d) for m in modules):
        return "conv block"
    if any(isinstance(m, nn.Linear) for m in modules):
        return "dense"
    return type(module).__name__.lower()


def trainable_summary(model: nn.Module) -> str:
    """A table of the top-level blocks: type, learnable parameters, trainable ones, state.

    BatchNorm running statistics are buffers, not parameters, so they are not counted (as in
    :mod:`course_lib.keras.models`, which leaves out the moving mean and variance).
    """
    rows = []
    for name, module in model.named_children():
        params = list(module.parameters())
        rows.append(
            LayerRow(
                name=name,
                kind=_kind(name, module),
                params=sum(p.numel() for p in params),
                trainable=sum(p.numel() for p in params if p.requires_grad),
            )
        )
    return format_summary(rows)


def save_checkpoint(model: nn.Module, path: str | os.PathLike[str], **meta: Any) -> Path:
    """Save the model's weights and JSON-like ``meta`` to ``path`` atomically; returns the path.

    The file is written next to ``path`` under a temporary name and then renamed, so an
    interrupted save never leaves a half-written checkpoint behind. A full disk or a folder that
    cannot be written raises :class:`~course_lib.errors.CacheError` saying what to do.
    """
    for key, value in meta.items():
        check_meta(value, repr(key))
    payload = {
        "format": CHECKPOINT_FORMAT,
        "framework": "torch",
        "state_dict": model.state_dict(),
        "meta": meta,
    }
    return atomic_write(Path(path), lambda f: torch.save(payload, f))


def _few(keys: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


def load_checkpoint(model: nn.Module, path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load weights saved by :func:`save_checkpoint` into ``model``; returns the saved meta."""
    path = existing_checkpoint(path)
    try:
        payload = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as exc:
        raise unreadable(path, type(exc).__name__) from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise unreadable(path, f"no {CHECKPOINT_FORMAT!r} marker")
    if payload.get("framework") != "torch":
        raise unreadable(path, f"saved by framework {payload.get('framework')!r}, not torch")
    state = payload.get("state_dict")
    meta = payload.get("meta", {})
    if not isinstance(state, dict) or not isinstance(meta, dict):
        raise unreadable(path, "state_dict or meta missing")

    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong_shape = [
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and isinstance(state[k], torch.Tensor) and state[k].shape != v.shape
    ]
    if missing or unexpected or wrong_shape:
        parts = []
        if missing:
            parts.append(f"missing keys: {_few(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_few(unexpected)}")
        if wrong_shape:
            parts.append(f"shape mismatches (saved != model): {_few(wrong_shape)}")
        raise CheckpointError(
            f"{path} was saved from a different architecture ({'; '.join(parts)}); build the "
            "same model (same function and arguments) before loading, or re-create the "
            "checkpoint with save_checkpoint."
        )
    model.load_state_dict(state)
    return meta
