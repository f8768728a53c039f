"""EfficientNet-Lite0 pretrained on ImageNet, in Keras 3: ``imagenet_backbone``.

Mirrors :mod:`course_lib.torch.imagenet` block for block (the table in
:mod:`course_lib.imagenet.architecture`): the same block names, parameter counts and weights, and
logits that agree to 1e-4. Keras has no Lite network (see :mod:`course_lib.imagenet`), so it is
written out here in Keras layers. The weights are PyTorch's, converted once to Keras' layouts
and cached (:func:`course_lib.imagenet.keras_weights`); this module never imports torch.
"""

from __future__ import annotations

import keras

from course_lib.imagenet import architecture as arch
from course_lib.imagenet.weights import keras_weights

# The course's BatchNorm momentum in Keras' convention (PyTorch's default 0.1 = Keras' 0.9, as in
# course_lib.keras.models); epsilon is TensorFlow's 1e-3, which the weights were trained with.
_BN_MOMENTUM = 0.9


@keras.saving.register_keras_serializable(package="course_lib")
class Preprocess(keras.layers.Layer):
    """Images in [0, 1], grayscale ``(N, H, W, 1)`` or RGB ``(N, H, W, 3)`` -> the network's
    input: three channels, ``(255 x - 127) / 128``."""

    def call(self, x):
        arch.check_channels(x.shape[-1], tuple(x.shape))
        shape = keras.ops.shape(x)
        x = keras.ops.broadcast_to(x, (*shape[:-1], 3))  # one channel repeated; three kept
        return (x * arch.PIXEL_SCALE - arch.PIXEL_MEAN) / arch.PIXEL_STD

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 3)


def _conv_bn(
    name: str,
    filters: int,
    kernel: int = 1,
    stride: int = 1,
    *,
    depthwise: bool = False,
    relu: bool = True,
) -> keras.Sequential:
    """conv (no bias, 'same' padding) -> BatchNorm (eps 1e-3) -> ReLU6: ``conv``, ``bn``,
    ``relu``. Keras' 'same' padding is TensorFlow's (extra row and column bottom and right)."""
    if depthwise:
        conv = keras.layers.DepthwiseConv2D(
            kernel, stride, padding="same", use_bias=False, name="conv"
        )
    else:
        conv = keras.layers.Conv2D(
            filters, kernel, stride, padding="same", use_bias=False, name="conv"
        )
    layers = [
        conv,
        keras.layers.BatchNormalization(momentum=_BN_MOMENTUM, epsilon=arch.BN_EPSILON, name="bn"),
    ]
    if relu:
        layers.append(keras.layers.ReLU(max_value=arch.RELU_MAX, name="relu"))
    return keras.Sequential(layers, name=name)


def _mbconv(name: str, c_in: int, c_out: int, expand: int, kernel: int, stride: int) -> keras.Model:
    """An inverted residual block: 1x1 ``expand`` -> depthwise ``depthwise`` -> 1x1 ``project``,
    plus the input when the shape is kept (stride 1, as many channels out as in)."""
    inputs = keras.Input((None, None, c_in))
    mid = c_in * expand
    x = _conv_bn("expand", mid)(inputs) if expand != 1 else inputs
    x = _conv_bn("depthwise", mid, kernel, stride, depthwise=True)(x)
    x = _conv_bn("project", c_out, relu=False)(x)
    if stride == 1 and c_in == c_out:
        x = keras.layers.Add(name="add")([inputs, x])
    return keras.Model(inputs, x, name=name)


def _stage(name: str, blocks: list[tuple[int, int, int, int, int]]) -> keras.Sequential:
    return keras.Sequential(
        [_mbconv(f"mbconv{r}", *shape) for r, shape in enumerate(blocks, start=1)], name=name
    )


def _head(num_classes: int, dropout: float) -> keras.Sequential:
    layers: list[keras.layers.Layer] = [keras.layers.GlobalAveragePooling2D(name="pool")]
    if dropout:
        layers.append(keras.layers.Dropout(dropout, name="dropout"))
    layers.append(keras.layers.Dense(num_classes, name="dense"))
    return keras.Sequential(layers, name="head")


def imagenet_backbone(
    num_classes: int | None = None, *, pretrained: bool = True, dropout: float = arch.DROPOUT
) -> keras.Model:
    """EfficientNet-Lite0 trained on ImageNet-1k: the full classifier, or a new head.

    Blocks: ``preprocess`` (no parameters), ``stem``, ``block1`` … ``block7`` (the MBConv stages),
    ``top`` (1x1 conv to 1280 channels) and ``head`` (pool -> dropout -> ``dense``), so
    ``freeze``, ``unfreeze``, ``fit(lr={block: rate})``, ``features`` and ``replace_head`` work as
    on ``small_cnn``. Input: images in [0, 1], grayscale ``(N, H, W, 1)`` (repeated to three
    channels) or RGB ``(N, H, W, 3)`` — what ``cl.predict``/``cl.fit`` make of ``(N, H, W)`` and
    ``(N, H, W, 3)`` arrays; any size (64-96 px is fast on a CPU, 224 px is ImageNet's).
    ``num_classes=None``: the ImageNet classifier (1,000 logits, names in
    :func:`course_lib.imagenet.class_names`); a number: a fresh, randomly initialised ``dense``.
    ``pretrained=False``: the same network with random weights (training from scratch).
    """
    num_classes, fresh_head, dropout = arch.check_backbone_args(num_classes, pretrained, dropout)
    model = keras.Sequential(
        [
            keras.Input((None, None, None)),
            Preprocess(name="preprocess"),
            _conv_bn("stem", arch.STEM_CHANNELS, 3, 2),
            *(_stage(name, shapes) for name, shapes in arch.block_shapes()),
            _conv_bn("top", arch.TOP_CHANNELS),
            _head(num_classes, dropout),
        ],
        name="efficientnet_lite0",
    )
    if pretrained:
        _load_imagenet_weights(model, keep_head=not fresh_head)
    return model


_BN_ORDER = ("weight", "bias", "running_mean", "running_var")  # gamma, beta, moving mean, var


def _layer(model: keras.Model, module: str) -> keras.layers.Layer:
    """The Keras layer of a course module path (``block2.mbconv1.expand.conv``)."""
    layer = model
    for part in module.split("."):
        layer = layer.get_layer("dense" if part == "linear" else part)
    return layer


def _load_imagenet_weights(model: keras.Model, *, keep_head: bool) -> None:
    """The converted ImageNet weights (cached) into ``model``, layer by layer."""
    arrays = keras_weights()
    modules = dict.fromkeys(key.rpartition(".")[0] for key in arrays)
    for module in modules:
        if module == "head.linear" and not keep_head:
            continue
        layer = _layer(model, module)
        suffixes = _BN_ORDER if module.endswith(".bn") else ("weight", "bias")
        layer.set_weights([arrays[f"{module}.{s}"] for s in suffixes if f"{module}.{s}" in arrays])
