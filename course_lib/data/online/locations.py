"""Where downloaded files land: exactly where torch.hub, Keras and the course look for them."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from course_lib import config
from course_lib.data.online.entries import TARGETS, ManifestEntry, entry


def torch_hub_dir() -> Path:
    """``torch.hub.get_dir()`` without importing torch (honours TORCH_HOME, XDG_CACHE_HOME)."""
    if "torch" in sys.modules:  # already imported: ask it, so torch.hub.set_dir() is honoured too
        import torch.hub

        return Path(torch.hub.get_dir())
    if os.environ.get("TORCH_HOME"):
        home = Path(os.environ["TORCH_HOME"]).expanduser()
    else:
        home = Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "torch"
    return home / "hub"


def keras_home() -> Path:
    """Keras' home directory: ``$KERAS_HOME``, else ``~/.keras`` (``/tmp/.keras`` if not writable).

    Keras reads ``KERAS_HOME`` once, when it is imported; if it is imported already we ask it.
    """
    if "keras" in sys.modules:
        with contextlib.suppress(ImportError, AttributeError):
            from keras.src.backend import config as keras_config

            return Path(keras_config.keras_home()).expanduser()
    if "KERAS_HOME" in os.environ:
        return Path(os.environ["KERAS_HOME"]).expanduser()
    base = Path("~").expanduser()
    return (base if os.access(base, os.W_OK) else Path("/tmp")) / ".keras"


def target_dir(target: str) -> Path:
    """The directory files of kind ``target`` (see :data:`TARGETS`) land in."""
    if target == "torch_hub":
        return torch_hub_dir() / "checkpoints"
    if target == "keras_models":
        home = keras_home()
        with contextlib.suppress(OSError):
            home.mkdir(parents=True, exist_ok=True)
        # keras.utils.get_file falls back to /tmp/.keras when its home is not writable.
        return (home if os.access(home, os.W_OK) else Path("/tmp/.keras")) / "models"
    if target == "datasets":
        return config.cache_dir() / "datasets"
    raise ValueError(f"Unknown target {target!r}; valid targets are {', '.join(TARGETS)}.")


def local_path(name: str | ManifestEntry) -> Path:
    """Where the file of ``name`` lives (or will live once fetched)."""
    e = entry(name)
    return target_dir(e.target) / e.file_name
