"""EfficientNet-Lite0 as a table: stages, channel counts, block names and the input rule.

Both framework halves build their network from this table, block for block, so the two models
have the same blocks, the same parameter names and the same weights. The names follow the
course's other networks: top-level blocks a lesson can freeze, unfreeze or give their own
learning rate (``preprocess``, ``stem``, ``block1`` … ``block7``, ``top``, ``head``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from course_lib import checks
from course_lib.errors import ArgumentError, ArgumentTypeError

T = TypeVar("T")


@dataclass(frozen=True)
class Stage:
    """One stage of MBConv blocks (inverted residuals): ``repeats`` blocks of the same shape."""

    expand: int
    """Expansion ratio of the first 1x1 convolution (1: no expansion convolution)."""
    kernel: int
    """Size of the depthwise convolution's square kernel."""
    stride: int
    """Stride of the stage's first block (the others keep the size)."""
    channels: int
    """Output channels of every block of the stage."""
    repeats: int


STAGES: tuple[Stage, ...] = (
    Stage(expand=1, kernel=3, stride=1, channels=16, repeats=1),
    Stage(expand=6, kernel=3, stride=2, channels=24, repeats=2),
    Stage(expand=6, kernel=5, stride=2, channels=40, repeats=2),
    Stage(expand=6, kernel=3, stride=2, channels=80, repeats=3),
    Stage(expand=6, kernel=5, stride=1, channels=112, repeats=3),
    Stage(expand=6, kernel=5, stride=2, channels=192, repeats=4),
    Stage(expand=6, kernel=3, stride=1, channels=320, repeats=1),
)
"""The seven stages of EfficientNet-Lite0 (``block1`` … ``block7``); 16 MBConv blocks in all."""

STEM_CHANNELS = 32
TOP_CHANNELS = 1280
NUM_CLASSES = 1000
DROPOUT = 0.2
"""Dropout before the classifier, as in the original network."""
BN_EPSILON = 1e-3
"""TensorFlow's BatchNorm epsilon, which the weights were trained with (PyTorch's 1e-5 shifts the
logits by 0.16; measured)."""
RELU_MAX = 6.0
"""Lite networks use ReLU6 (no swish, no squeeze-and-excitation: friendlier to small devices)."""

PIXEL_SCALE = 255.0
PIXEL_MEAN = 127.0
PIXEL_STD = 128.0
"""Inside the model: images in [0, 1] -> ``(255 x - 127) / 128``, the original preprocessing."""

BLOCK_NAMES: tuple[str, ...] = (
    "preprocess",
    "stem",
    *(f"block{i}" for i in range(1, len(STAGES) + 1)),
    "top",
    "head",
)


def block_shapes() -> list[tuple[str, list[tuple[int, int, int, int, int]]]]:
    """Per stage ``blockN``: its MBConv blocks as ``(c_in, c_out, expand, kernel, stride)``."""
    shapes = []
    c_in = STEM_CHANNELS
    for i, stage in enumerate(STAGES, start=1):
        blocks = []
        for r in range(stage.repeats):
            stride = stage.stride if r == 0 else 1
            blocks.append((c_in, stage.channels, stage.expand, stage.kernel, stride))
            c_in = stage.channels
        shapes.append((f"block{i}", blocks))
    return shapes


def wheel_module_names() -> dict[str, str]:
    """The weight file's module names -> the course model's (``_blocks.3._bn1`` ->
    ``block3.mbconv2.depthwise.bn``)."""
    names = {
        "_conv_stem": "stem.conv",
        "_bn0": "stem.bn",
        "_conv_head": "top.conv",
        "_bn1": "top.bn",
        "_fc": "head.linear",
    }
    index = 0
    for stage_name, blocks in block_shapes():
        for r in range(1, len(blocks) + 1):
            wheel, course = f"_blocks.{index}.", f"{stage_name}.mbconv{r}."
            names |= {
                wheel + "_expand_conv": course + "expand.conv",
                wheel + "_bn0": course + "expand.bn",
                wheel + "_depthwise_conv": course + "depthwise.conv",
                wheel + "_bn1": course + "depthwise.bn",
                wheel + "_project_conv": course + "project.conv",
                wheel + "_bn2": course + "project.bn",
            }
            index += 1
    return names


def course_state(wheel_state: Mapping[str, T]) -> dict[str, T]:
    """The weight file's state dict under the course model's names (values untouched)."""
    names = wheel_module_names()
    renamed = {}
    for key, value in wheel_state.items():
        module, _, suffix = key.rpartition(".")
        if module not in names:
            raise ValueError(f"unexpected entry {key!r} in the EfficientNet-Lite0 weights")
        renamed[f"{names[module]}.{suffix}"] = value
    return renamed


def check_channels(channels: int | None, shape: tuple) -> None:
    """Images for the ImageNet network have 1 (grayscale) or 3 (RGB) channels; else an error."""
    if channels is None or channels in (1, 3):
        return
    raise ArgumentError(
        f"The ImageNet network takes grayscale images (N, H, W) or RGB images (N, H, W, 3) "
        f"with values in [0, 1]; got {channels} channels (batch shape {tuple(shape)}). "
        "Keep the colour channels only (e.g. images[..., :3] drops an alpha channel), or "
        "convert to grayscale (images.mean(axis=-1))."
    )


def check_backbone_args(
    num_classes: object, pretrained: object, dropout: object
) -> tuple[int, bool, float]:
    """``imagenet_backbone``'s arguments, checked once for both frameworks: ``(classes, whether
    the head is new, dropout)``; ``num_classes=None`` keeps the 1,000 ImageNet classes."""
    fresh_head = num_classes is not None
    classes = checks.positive_int(
        "num_classes", NUM_CLASSES if num_classes is None else num_classes
    )
    rate = checks.fraction("dropout", dropout)
    if not isinstance(pretrained, bool):
        raise ArgumentTypeError(f"pretrained must be True or False, got {pretrained!r}.")
    return classes, fresh_head, rate
