"""A real ImageNet network in both frameworks: EfficientNet-Lite0, the same weights in each.

The framework-neutral half: the architecture as a table (:mod:`.architecture`), the weight file
and its Keras copy (:mod:`.weights`), the class names (:mod:`.classes`). The networks themselves
are ``imagenet_backbone`` in :mod:`course_lib.torch` and :mod:`course_lib.keras`.

Why EfficientNet-Lite0: 4.65 M parameters (ResNet-50 has 25.6 M), fast enough on a laptop CPU at
64-96 px, weights from the package index (no download at run time), and a plain structure
(ReLU6, no squeeze-and-excitation) that is short to write down. Why written out here rather than
taken from a library: timm has the PyTorch network (``tf_efficientnet_lite0``) but pulls in
huggingface_hub, safetensors and pyyaml, names its parts differently from the course's blocks,
and Keras has no Lite network at all (``keras.applications`` and keras-hub have the full
EfficientNets, with swish and squeeze-and-excitation). So both halves build the network from one
table, block for block, about 80 lines each, and a learner can read both side by side.
"""

from __future__ import annotations

from course_lib.imagenet.architecture import BLOCK_NAMES, STAGES, Stage
from course_lib.imagenet.classes import class_names, top_classes
from course_lib.imagenet.photos import PHOTO_NAMES, sample_photos
from course_lib.imagenet.weights import (
    WEIGHTS_SHA256,
    keras_weights,
    keras_weights_path,
    read_torch_file,
    verified_weights_file,
)

__all__ = [
    "BLOCK_NAMES",
    "PHOTO_NAMES",
    "STAGES",
    "WEIGHTS_SHA256",
    "Stage",
    "class_names",
    "keras_weights",
    "keras_weights_path",
    "read_torch_file",
    "sample_photos",
    "top_classes",
    "verified_weights_file",
]
