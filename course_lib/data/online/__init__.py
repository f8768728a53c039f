"""Real downloads for ``full`` mode and ``course fetch``: CIFAR-10 and ImageNet weights.

Everything the course may download is listed in :data:`MANIFEST` (URL, size, checksums, where the
file must land). Weights land exactly where the frameworks look for them, so that afterwards
``torchvision.models.resnet50(weights="IMAGENET1K_V1")`` and
``keras.applications.VGG16(weights="imagenet", include_top=False)`` find them without downloading.

Offline (or with ``COURSE_OFFLINE=1``) a missing file raises
:class:`~course_lib.errors.OfflineError` within a few seconds, with a message that says what to do,
instead of a hang or a socket traceback. Downloads resume from a ``.part`` file, are verified (size
and hash) and renamed into place atomically.

One job per module: :mod:`.entries` (the manifest), :mod:`.locations` (where files land),
:mod:`.verify` (size and checksums, ``is_cached``, ``status``), :mod:`.offline` (failing fast
without a network), :mod:`.download` (``fetch``, ``fetch_all``), :mod:`.unpack` (safe archive
extraction) and :mod:`.cifar10` (``load_cifar10``).
"""

from __future__ import annotations

from course_lib.data.online.cifar10 import (
    CIFAR10_CLASSES,
    CIFAR10_DIR,
    cifar10_root,
    load_cifar10,
)
from course_lib.data.online.download import DEFAULT_TIMEOUT, fetch, fetch_all
from course_lib.data.online.entries import MANIFEST, TARGETS, ManifestEntry, entry, manifest, names
from course_lib.data.online.locations import keras_home, local_path, target_dir, torch_hub_dir
from course_lib.data.online.verify import is_cached, status

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR10_DIR",
    "DEFAULT_TIMEOUT",
    "MANIFEST",
    "TARGETS",
    "ManifestEntry",
    "cifar10_root",
    "entry",
    "fetch",
    "fetch_all",
    "is_cached",
    "keras_home",
    "load_cifar10",
    "local_path",
    "manifest",
    "names",
    "status",
    "target_dir",
    "torch_hub_dir",
]
