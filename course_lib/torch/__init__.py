"""PyTorch half of the course library (``from course_lib import torch as cl``).

Mirrors :mod:`course_lib.keras`: the same public names with the same arguments.
"""

from __future__ import annotations

import numpy as np
import torch

from course_lib import checks
from course_lib import pretrained as _pretrained
from course_lib.torch.augment import augmentation
from course_lib.torch.imagenet import imagenet_backbone
from course_lib.torch.meta import (
    adaptation_curve,
    adapted_predictions,
    batched_forward,
    mlp_weights,
    per_task,
    sinusoid_tensors,
    task_losses,
)
from course_lib.torch.models import (
    copy_model,
    feature_extractor,
    freeze,
    layer_names,
    load_checkpoint,
    mlp,
    pooled_outputs,
    replace_head,
    save_checkpoint,
    small_cnn,
    trainable_summary,
    unfreeze,
)
from course_lib.torch.multitask import evaluate_multitask, fit_multitask, predict_multitask
from course_lib.torch.training import (
    data_loader,
    evaluate,
    features,
    fit,
    predict,
    recalibrate_batchnorm,
)
from course_lib.training import EarlyStopping, History

__all__ = [
    "FRAMEWORK",
    "EarlyStopping",
    "History",
    "adaptation_curve",
    "adapted_predictions",
    "augmentation",
    "batched_forward",
    "copy_model",
    "data_loader",
    "device",
    "evaluate",
    "evaluate_multitask",
    "feature_extractor",
    "features",
    "fit",
    "fit_multitask",
    "framework_info",
    "freeze",
    "imagenet_backbone",
    "layer_names",
    "load_checkpoint",
    "mlp",
    "mlp_weights",
    "per_task",
    "pooled_outputs",
    "predict",
    "predict_multitask",
    "pretrained_cnn",
    "recalibrate_batchnorm",
    "replace_head",
    "save_checkpoint",
    "sinusoid_tensors",
    "small_cnn",
    "task_losses",
    "to_batch",
    "trainable_summary",
    "unfreeze",
]

FRAMEWORK = "torch"


def device() -> str:
    """The device lessons train on, as a string: ``"cuda"`` (the first GPU) if there is one, else
    ``"cpu"``. Pass it to ``.to(...)`` (``model.to(cl.device())``); ``course_lib.keras.device()``
    returns a string too, in TensorFlow's spelling."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def framework_info() -> str:
    """One line: framework version and device."""
    name = torch.cuda.get_device_name(0) if device() == "cuda" else "CPU"
    return f"PyTorch {torch.__version__} on {name} ({torch.get_num_threads()} threads)"


def to_batch(images: np.ndarray) -> torch.Tensor:
    """(N, H, W) images -> a float32 tensor in PyTorch's channels-first layout (N, 1, H, W)."""
    images = checks.grayscale_images("images", images).astype(np.float32, copy=False)
    return torch.from_numpy(images).unsqueeze(1)


pretrained_cnn = _pretrained.loader_for(FRAMEWORK)
