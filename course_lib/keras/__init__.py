"""Keras 3 (TensorFlow backend) half of the course library (``from course_lib import keras as cl``).

Mirrors :mod:`course_lib.torch`: the same public names with the same arguments.
"""

from __future__ import annotations

import logging

import numpy as np

from course_lib.frameworks import prepare_tensorflow as _prepare_tensorflow
from course_lib.frameworks import startup_noise_filtered as _startup_noise_filtered

_prepare_tensorflow()
with _startup_noise_filtered():  # TensorFlow's C++ start-up lines would fill every notebook
    import keras
    import tensorflow as tf


class _NoRetracingWarning(logging.Filter):
    """Every new model traces its own train step; from the fifth one TensorFlow warns about
    "retracing", which is expected when a lesson compares several models."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


tf.get_logger().addFilter(_NoRetracingWarning())

from course_lib import checks  # noqa: E402
from course_lib import pretrained as _pretrained  # noqa: E402
from course_lib.keras.augment import augmentation  # noqa: E402
from course_lib.keras.imagenet import imagenet_backbone  # noqa: E402
from course_lib.keras.meta import (  # noqa: E402
    adaptation_curve,
    adapted_predictions,
    batched_forward,
    mlp_weights,
    per_task,
    sinusoid_tensors,
    task_losses,
)
from course_lib.keras.models import (  # noqa: E402
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
from course_lib.keras.multitask import (  # noqa: E402
    evaluate_multitask,
    fit_multitask,
    predict_multitask,
)
from course_lib.keras.training import (  # noqa: E402
    data_loader,
    evaluate,
    features,
    fit,
    predict,
    recalibrate_batchnorm,
)
from course_lib.training import EarlyStopping, History  # noqa: E402

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

FRAMEWORK = "keras"


def device() -> str:
    """The device lessons train on, as a string: ``"gpu:0"`` if TensorFlow sees a GPU, else
    ``"cpu"``. Pass it to ``tf.device(...)``; ``course_lib.torch.device()`` returns a string
    too (``"cuda"`` or ``"cpu"``)."""
    return "gpu:0" if tf.config.list_physical_devices("GPU") else "cpu"


def framework_info() -> str:
    """One line: framework version and device."""
    name = "GPU" if device().startswith("gpu") else "CPU"
    return f"Keras {keras.__version__} (TensorFlow {tf.__version__}) on {name}"


def to_batch(images: np.ndarray) -> tf.Tensor:
    """(N, H, W) images -> a float32 tensor in Keras' channels-last layout (N, H, W, 1)."""
    images = checks.grayscale_images("images", images).astype(np.float32, copy=False)
    return tf.convert_to_tensor(images[..., None])


pretrained_cnn = _pretrained.loader_for(FRAMEWORK)
