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
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

FRAMEWORKS: tuple[str, ...] = ("torch", "keras")


# Lines TensorFlow's C++ side writes to stderr while it is imported, before its logging is set up
# (so TF_CPP_MIN_LOG_LEVEL cannot silence them); they would land in every Keras notebook.
_STARTUP_NOISE: tuple[str, ...] = (
    "All log messages before absl::InitializeLog() is called",
    "oneDNN custom operations are on",
    "cpu_feature_guard.cc",
    "To enable the following instructions:",
)


def quiet_tensorflow() -> None:
    """Select the TensorFlow backend for Keras and silence TensorFlow's C++ start-up logging.

    oneDNN stays on (TensorFlow's default): ``make bench`` measured Keras training 1.76x faster
    with it on 2 cores, and runs still repeat exactly with the same seed on the same machine.
    ``TF_ENABLE_ONEDNN_OPTS=0`` turns it off (bit-for-bit the same sums as without oneDNN).
    """
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@contextmanager
def startup_noise_filtered() -> Iterator[None]:
    """Drop TensorFlow's known start-up lines from stderr (file descriptor 2) inside the block.

    Everything else written to stderr meanwhile (real errors included) is passed on afterwards.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (some embedded interpreters): nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", errors="replace")
            kept = [
                line
                for line in text.splitlines(keepends=True)
                if not any(noise in line for noise in _STARTUP_NOISE)
            ]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


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
