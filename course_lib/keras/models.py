"""Small models, freezing by block name, parameter summaries and checkpoints (Keras 3).

Mirrors :mod:`course_lib.torch.models`: the same names, arguments, block names and parameter
counts, so a lesson reads the same in both frameworks. Every model is a ``keras.Sequential`` whose
top-level layers are named blocks (``block1`` … ``block4`` and ``head`` for :func:`small_cnn`,
``layer1`` … and ``head`` for :func:`mlp`); freezing, summaries and checkpoints work on blocks.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

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

_META_KEY = "__course_meta__"

# BatchNormalization defaults differ between the frameworks: Keras momentum=0.99 (weight of the OLD
# running average), epsilon=1e-3; PyTorch momentum=0.1 (weight of the NEW batch, i.e. 0.9 in Keras
# terms), eps=1e-5. Both halves of the course use PyTorch's values so the models behave alike.
_BN_MOMENTUM = 0.9
_BN_EPSILON = 1e-5


def _conv_block(name: str, filters: int, pool: bool) -> keras.Sequential:
    layers = [
        keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name="conv"),
        keras.layers.BatchNormalization(momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON, name="bn"),
        keras.layers.ReLU(name="relu"),
    ]
    if pool:
        layers.append(keras.layers.MaxPooling2D(2, name="pool"))
    return keras.Sequential(layers, name=name)


def small_cnn(
    num_classes: int, *, width: int = 32, in_channels: int = 1, dropout: float = 0.0
) -> keras.Model:
    """A 4-block CNN for small channels-last images (N, H, W, in_channels); returns logits.

    Blocks ``block1``–``block3`` are Conv3x3 → BatchNorm → ReLU → MaxPool(2) with ``width``,
    ``2*width`` and ``2*width`` channels; ``block4`` has ``4*width`` channels and no pooling;
    ``head`` is global average pooling → Dense(num_classes). Global pooling makes any H, W ≥ 8 work.
    ``dropout`` > 0 puts a Dropout layer in the head, before the Dense layer.
    """
    num_classes = checks.positive_int("num_classes", num_classes)
    width = checks.positive_int("width", width)
    in_channels = checks.positive_int("in_channels", in_channels)
    dropout = checks.fraction("dropout", dropout)
    head_layers: list[keras.layers.Layer] = [keras.layers.GlobalAveragePooling2D(name="pool")]
    if dropout:
        head_layers.append(keras.layers.Dropout(dropout, name="dropout"))
    head_layers.append(keras.layers.Dense(num_classes, name="dense"))
    return keras.Sequential(
        [
            keras.Input((None, None, in_channels)),
            _conv_block("block1", width, pool=True),
            _conv_block("block2", 2 * width, pool=True),
            _conv_block("block3", 2 * width, pool=True),
            _conv_block("block4", 4 * width, pool=False),
            keras.Sequential(head_layers, name="head"),
        ],
        name="small_cnn",
    )


def mlp(
    in_features: int | tuple[int, int] = 1,
    hidden: tuple[int, ...] = (40, 40),
    out_features: int = 1,
    *,
    dropout: float = 0.0,
) -> keras.Model:
    """A fully connected network: ``layer1``, ``layer2``, … (Dense + ReLU) then ``head`` (Dense).

    ``in_features`` as an image size ``(H, W)`` puts a ``flatten`` layer first, so the net takes
    images ``(N, H, W, 1)``. ``dropout`` > 0 adds a Dropout layer at the end of every hidden layer
    (each hidden layer is then a small Sequential block, Dense → Dropout, so freezing by name
    still works).
    """
    layers: list[Any] = []
    if isinstance(in_features, tuple):
        height, width = (checks.positive_int("in_features[i]", n) for n in in_features)
        layers += [keras.Input((height, width, 1)), keras.layers.Flatten(name="flatten")]
        in_features = height * width
    else:
        layers.append(keras.Input((checks.positive_int("in_features", in_features),)))
    out_features = checks.positive_int("out_features", out_features)
    dropout = checks.fraction("dropout", dropout)
    hidden = checks.positive_ints("hidden", hidden)
    for i, units in enumerate(hidden, start=1):
        dense = keras.layers.Dense(
            units, activation="relu", name=f"layer{i}" if not dropout else "dense"
        )
        if dropout:
            block = [dense, keras.layers.Dropout(dropout, name="dropout")]
            layers.append(keras.Sequential(block, name=f"layer{i}"))
        else:
            layers.append(dense)
    layers.append(keras.layers.Dense(out_features, name="head"))
    return keras.Sequential(layers, name="mlp")


# --- blocks, freezing and summaries ---------------------------------------------------------------


def _blocks(model: keras.Model) -> list[keras.layers.Layer]:
    return [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def layer_names(model: keras.Model) -> list[str]:
    """The names of the model's top-level blocks, in order (e.g. ``block1`` … ``head``)."""
    return [layer.name for layer in _blocks(model)]


def _unknown(name: Any, valid: Sequence[str]) -> UnknownNameError:
    return UnknownNameError(f"Unknown layer {name!r}; valid layers: {', '.join(valid)}.")


def freeze(model: keras.Model, up_to: str | None = None) -> None:
    """Freeze the top-level blocks from the first through ``up_to`` (inclusive); None = all.

    Keras reads ``trainable`` when a model is compiled: call ``model.compile(...)`` again after
    freezing or unfreezing, or the change has no effect on training. A frozen BatchNormalization
    layer in Keras also runs in inference mode (its moving statistics stop updating).
    """
    blocks = _blocks(model)
    names = [b.name for b in blocks]
    if up_to is None:
        stop = len(blocks)
    elif up_to in names:
        stop = names.index(up_to) + 1
    else:
        raise _unknown(up_to, names)
    for block in blocks[:stop]:
        block.trainable = False


def unfreeze(model: keras.Model, layers: str | list[str] | None = None) -> None:
    """Make the named top-level blocks trainable again; None = all. Recompile afterwards."""
    blocks = {b.name: b for b in _blocks(model)}
    if layers is None:
        chosen = list(blocks)
    else:
        chosen = [layers] if isinstance(layers, str) else list(layers)
        for name in chosen:
            if name not in blocks:
                raise _unknown(name, list(blocks))
    for name in chosen:
        blocks[name].trainable = True


def _running_stats(block: keras.layers.Layer) -> set[int]:
    """ids of BatchNormalization moving statistics: state, not parameters (buffers in PyTorch)."""
    ids: set[int] = set()
    for layer in [block, *block._flatten_layers(include_self=False, recursive=True)]:
        if isinstance(layer, keras.layers.BatchNormalization):
            ids.update({id(layer.moving_mean), id(layer.moving_variance)})
    return ids


def _require_built(model: keras.Model) -> None:
    if not model.built:
        raise ValueError(
            "The model is not built yet, so it has no weights; call it on a batch or create it "
            "with keras.Input(...) first."
        )


def _size(variable: Any) -> int:
    return int(np.prod(variable.shape, dtype=np.int64))


def _model_input(model: keras.Model) -> keras.KerasTensor:
    _require_built(model)
    return keras.Input(shape=tuple(model.inputs[0].shape[1:]))


def replace_head(model: keras.Model, num_classes: int) -> keras.Model:
    """Give ``model`` a new, randomly initialised output layer for ``num_classes``; returns it.

    Everything before the last Dense layer (the backbone, and the head's pooling) is kept with
    its weights and trainable flags: the new model shares those layers. Use the returned model.
    """
    num_classes = checks.positive_int("num_classes", num_classes)
    blocks = _blocks(model)
    if not blocks or blocks[-1].name != "head":
        raise _unknown("head", layer_names(model))
    head = blocks[-1]
    if isinstance(head, keras.layers.Dense):  # mlp
        new_head: keras.layers.Layer = keras.layers.Dense(num_classes, name="head")
    else:  # small_cnn: pool -> dense
        new_head = keras.Sequential(
            [*head.layers[:-1], keras.layers.Dense(num_classes, name="dense")], name="head"
        )
    return keras.Sequential([_model_input(model), *blocks[:-1], new_head], name=model.name)


def copy_model(model: keras.Model) -> keras.Model:
    """An independent copy of ``model``: same weights, BatchNorm statistics and frozen flags.

    Training the copy leaves the original untouched (e.g. one trained head, several ways to
    fine-tune it).
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"copy_model needs a keras.Model, got {type(model).__name__}.")
    _require_built(model)
    with warnings.catch_warnings():  # "compile_from_config" noise for a compiled model
        warnings.simplefilter("ignore")
        clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    # Every layer, blocks and the layers inside them, in the same order in both models.
    for original, copied in zip(model._flatten_layers(), clone._flatten_layers(), strict=True):
        copied.trainable = original.trainable
    return clone


@keras.saving.register_keras_serializable(package="course_lib")
class GlobalPool(keras.layers.Layer):
    """Average image features ``(N, H, W, C)`` over height and width to ``(N, C)``; pass
    feature vectors ``(N, F)`` through unchanged."""

    def call(self, x: Any) -> Any:
        return keras.ops.mean(x, axis=(1, 2)) if len(x.shape) == 4 else x

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], input_shape[-1]) if len(input_shape) == 4 else input_shape


def pooled_outputs(model: keras.Model, layers: Sequence[str]) -> keras.Model:
    """One pass through ``model``'s blocks up to the last of ``layers``, keeping the pooled output
    of each side by side (shares the weights); ``.keep`` and ``.widths`` say which columns are
    which block's: the features of several layers for the price of one."""
    names = layer_names(model)
    keep = checks.feature_layers(layers, names)
    inputs = _model_input(model)
    x, pooled = inputs, []
    for block in _blocks(model)[: names.index(keep[-1]) + 1]:
        x = block(x)
        if block.name in keep:
            pooled.append(GlobalPool(name=f"pool_{block.name}")(x))
    joined = pooled[0] if len(pooled) == 1 else keras.layers.Concatenate(name="pooled")(pooled)
    extractor = keras.Model(inputs, joined, name=f"{model.name}_pooled")
    extractor.keep = tuple(keep)
    extractor.widths = tuple(int(p.shape[-1]) for p in pooled)
    return extractor


def feature_extractor(model: keras.Model, layer: str | None = None) -> keras.Model:
    """The model up to its features (shares the weights): inputs -> one vector per input.

    ``layer=None``: everything before the final Dense layer (what the head's classifier sees).
    ``layer="block2"``: the blocks up to and including that one, then a global average over
    height and width — earlier, more generic features (lesson 01: which layer to transfer from).
    """
    if layer is not None:
        body = _blocks_through(model, layer)
        return keras.Sequential(
            [_model_input(model), *body, GlobalPool(name="pool")], name=f"{model.name}_{layer}"
        )
    blocks = _blocks(model)
    if not blocks or blocks[-1].name != "head":
        raise _unknown("head", layer_names(model))
    head = blocks[-1]
    body = list(blocks[:-1])
    if not isinstance(head, keras.layers.Dense):
        body += list(head.layers[:-1])
    return keras.Sequential([_model_input(model), *body], name=f"{model.name}_features")


def _blocks_through(model: keras.Model, layer: object) -> list[keras.layers.Layer]:
    """The top-level blocks from the first through ``layer`` (not the head: it classifies)."""
    return _blocks(model)[: checks.feature_layer(layer, layer_names(model)) + 1]


def _kind(block: keras.layers.Layer) -> str:
    if block.name == "head":
        return "head"
    sublayers = block._flatten_layers(include_self=True, recursive=True)
    if any(isinstance(layer, keras.layers.Conv2D) for layer in sublayers):
        return "conv block"
    if any(isinstance(layer, keras.layers.Dense) for layer in sublayers):
        return "dense"
    return type(block).__name__.lower()  # e.g. "flatten", as PyTorch's table says


def trainable_summary(model: keras.Model) -> str:
    """A table of the top-level blocks: learnable parameters, how many train, and their state.

    BatchNormalization moving mean/variance are not counted (PyTorch keeps them as buffers), so
    both frameworks print the same numbers.
    """
    _require_built(model)
    rows = []
    for block in _blocks(model):
        stats = _running_stats(block)
        params = sum(_size(v) for v in block.weights if id(v) not in stats)
        trainable = sum(_size(v) for v in block.trainable_weights if id(v) not in stats)
        rows.append(LayerRow(block.name, _kind(block), params, trainable))
    return format_summary(rows)


# --- checkpoints ---------------------------------------------------------------------------------


def save_checkpoint(model: keras.Model, path: str | os.PathLike[str], **meta: Any) -> Path:
    """Save every weight of ``model`` (BatchNorm statistics included) and ``meta`` to ``path``.

    The file is one ``.npz`` archive (arrays by index plus a JSON entry), written to a temporary
    file next to ``path`` and renamed over it, so a crash never leaves a half-written checkpoint.
    ``meta`` may hold str, int, float, bool, None, lists and dicts (else ValueError). A full disk
    or a folder that cannot be written raises :class:`~course_lib.errors.CacheError` saying what
    to do. Returns the path.
    """
    _require_built(model)
    for key, value in meta.items():
        check_meta(value, repr(key))
    weights = model.weights
    header = {
        "format": CHECKPOINT_FORMAT,
        "framework": "keras",
        "meta": meta,
        "weights": [{"path": v.path, "shape": list(v.shape)} for v in weights],
    }
    header_text = json.dumps(header)
    arrays = {f"w{i:04d}": np.asarray(v.numpy()) for i, v in enumerate(weights)}
    arrays[_META_KEY] = np.array(header_text)
    return atomic_write(Path(path), lambda f: np.savez(f, **arrays))


def load_checkpoint(model: keras.Model, path: str | os.PathLike[str]) -> dict[str, Any]:
    """Restore weights saved by :func:`save_checkpoint` into ``model``; returns the saved meta.

    The model must have the same architecture; nothing is changed unless every weight fits.
    """
    path = existing_checkpoint(path)
    try:
        # allow_pickle=False: loading never runs code from the file. A plain .npy file gives an
        # array, which is not a context manager (TypeError/AttributeError below).
        with np.load(path, allow_pickle=False) as archive:
            header = json.loads(str(archive[_META_KEY][()]))
            if not isinstance(header, dict) or header.get("format") != CHECKPOINT_FORMAT:
                raise unreadable(path, f"no {CHECKPOINT_FORMAT!r} marker")
            if header.get("framework") != "keras":
                framework = header.get("framework")
                raise unreadable(path, f"saved by framework {framework!r}, not keras")
            saved = header["weights"]
            meta = header.get("meta", {})
            if not isinstance(saved, list) or not isinstance(meta, dict):
                raise unreadable(path, "weight list or meta missing")
            arrays = [archive[f"w{i:04d}"] for i in range(len(saved))]
    except CheckpointError:
        raise
    except Exception as exc:  # zip, npy, JSON and key errors all mean "not our file"
        raise unreadable(path, type(exc).__name__) from exc

    weights = model.weights
    if len(arrays) != len(weights):
        raise CheckpointError(
            f"{path} holds {len(arrays)} weights but the model has {len(weights)}: the checkpoint "
            f"is from a different architecture; build the same model it was saved from."
        )
    for i, (variable, array, entry) in enumerate(zip(weights, arrays, saved, strict=True)):
        if tuple(variable.shape) != array.shape:
            saved_path = entry.get("path") if isinstance(entry, dict) else "?"
            raise CheckpointError(
                f"{path}: weight {i} ({saved_path}) has shape {array.shape} in the "
                f"checkpoint but {tuple(variable.shape)} in the model ({variable.path}): the "
                f"checkpoint is from a different architecture (another width or class count?)."
            )
    for variable, array in zip(weights, arrays, strict=True):
        variable.assign(array.astype(variable.dtype, copy=False))
    return meta
