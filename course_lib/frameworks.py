"""Safe loading of TensorFlow and PyTorch, alone or together in one process.

TensorFlow and PyTorch in ONE process segfault once triton (pulled in by ``torchvision`` or the
first optimizer step) loads after TensorFlow — in either import order. Importing ``torchvision``
before the first TensorFlow import avoids it. Lesson kernels use one framework each and never pay
for the other; processes that use both (the tests, ``course doctor``) call
:func:`guard_both_frameworks` first.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import warnings

FRAMEWORKS: tuple[str, ...] = ("torch", "keras")


def quiet_tensorflow() -> None:
    """Select the TensorFlow backend for Keras and silence TensorFlow's C++ start-up logging."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # oneDNN's custom CPU kernels print start-up lines into notebooks and change results with the
    # order of floating-point sums; the course prefers quiet, repeatable runs (1 opts back in).
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


def guard_both_frameworks() -> None:
    """Make TensorFlow + PyTorch safe in this process; call before importing TensorFlow."""
    quiet_tensorflow()
    if importlib.util.find_spec("torchvision") is None:
        return
    if "tensorflow" in sys.modules and "triton" not in sys.modules:
        warnings.warn(
            "TensorFlow was imported before torchvision; using PyTorch in this process may "
            "segfault. Import course_lib.frameworks and call guard_both_frameworks() (or "
            "import torchvision) before the first TensorFlow/Keras import.",
            stacklevel=2,
        )
    import torchvision  # noqa: F401  (loads triton through torch._dynamo: the verified workaround)


def prepare_tensorflow() -> None:
    """Call before importing TensorFlow/Keras: quiets logs, guards if torch is already loaded."""
    quiet_tensorflow()
    if "torch" in sys.modules and "tensorflow" not in sys.modules:
        guard_both_frameworks()


def check_framework(framework: str) -> str:
    """Validate a framework name (``torch`` or ``keras``) and return it normalized."""
    key = framework.strip().lower() if isinstance(framework, str) else framework
    aliases = {"pytorch": "torch", "tensorflow": "keras", "tf": "keras"}
    key = aliases.get(key, key)
    if key not in FRAMEWORKS:
        raise ValueError(f"Unknown framework {framework!r}; use one of {', '.join(FRAMEWORKS)}.")
    return key
