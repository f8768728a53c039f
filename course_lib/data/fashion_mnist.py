"""Fashion-MNIST: 70,000 real 28x28 photos of clothing in 10 classes, from local files only.

The files come from Debian's package ``dataset-fashion-mnist`` (MIT licence, 31 MB:
``sudo apt-get install dataset-fashion-mnist``; CI installs it next to Chromium), from the folder
``$COURSE_FASHION_MNIST_DIR`` (the four ``*-ubyte.gz`` files, or torchvision's ``raw`` folder), or
from where ``keras.datasets.fashion_mnist.load_data()`` stored them after an online run. Nothing
here downloads: without the files, :func:`load_fashion_mnist` fails at once with a message that
names the fixes. The decoded images are cached as NumPy arrays (``data/cache.py``); their content
is checked against pinned sha256 digests first.

The images are light-on-dark already (the garment bright on a black background), which is the
course's "ink = 1" convention: they are kept as they are, scaled to [0, 1].
"""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import numpy as np

from course_lib.data.cache import cached_arrays
from course_lib.data.types import LabelledImages
from course_lib.errors import ArgumentError, DownloadError, OfflineError

DIR_ENV = "COURSE_FASHION_MNIST_DIR"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
SPLITS: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
SHA256: dict[str, str] = {  # of the uncompressed files (Debian's .gz differ from upstream's)
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}


def search_dirs() -> list[Path]:
    """Where the files are looked for: ``$COURSE_FASHION_MNIST_DIR`` alone when set, else
    Debian's folder and Keras' download folder."""
    if os.environ.get(DIR_ENV):
        return [Path(os.environ[DIR_ENV]).expanduser()]
    from course_lib.data.online.locations import keras_home

    return [DEBIAN_DIR, keras_home() / "datasets" / "fashion-mnist"]


def _find(name: str) -> Path | None:
    """The file ``name`` (gzipped or not) in the first search folder that has it."""
    for folder in search_dirs():
        for candidate in (folder / f"{name}.gz", folder / name):
            if candidate.is_file():
                return candidate
    return None


def missing_files() -> list[str]:
    """The Fashion-MNIST files not found in :func:`search_dirs` (empty: all four are there)."""
    return [name for name in SHA256 if _find(name) is None]


def _missing_error(name: str) -> OfflineError:
    looked = ", ".join(str(d) for d in search_dirs())
    return OfflineError(
        f"Fashion-MNIST is not on this machine: no {name}(.gz) in {looked}. Install Debian's "
        "package: `sudo apt-get install dataset-fashion-mnist` (31 MB, from the package "
        "mirror), or, online (full mode), let a framework download it once: "
        "`keras.datasets.fashion_mnist.load_data()` stores the files where the course finds "
        "them, or `torchvision.datasets.FashionMNIST(root, download=True)` and then "
        f"`export {DIR_ENV}=<root>/FashionMNIST/raw`. {DIR_ENV} may also name any folder that "
        "holds the four *-ubyte.gz files."
    )


def _read(name: str) -> bytes:
    """The uncompressed bytes of file ``name``, checked against :data:`SHA256`."""
    path = _find(name)
    if path is None:
        raise _missing_error(name)
    with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
        raw = f.read()
    found = hashlib.sha256(raw).hexdigest()
    if found != SHA256[name]:
        raise DownloadError(
            f"{path} is not the Fashion-MNIST file {name}: its content has sha256 "
            f"{found[:16]}…, expected {SHA256[name][:16]}… (damaged, or another dataset). "
            "Reinstall it (`sudo apt-get install --reinstall dataset-fashion-mnist`) or point "
            f"{DIR_ENV} at intact files."
        )
    return raw


def _decode(images_raw: bytes, labels_raw: bytes) -> dict[str, np.ndarray]:
    """IDX format: big-endian int32 header (magic, count, rows, cols), then uint8 values."""
    _, count, rows, cols = np.frombuffer(images_raw[:16], ">i4")
    images = np.frombuffer(images_raw[16:], np.uint8).reshape(count, rows, cols)
    labels = np.frombuffer(labels_raw[8:], np.uint8).astype(np.int64)
    return {"images": images, "labels": labels}


def load_fashion_mnist(split: str = "train") -> LabelledImages:
    """Fashion-MNIST ``split`` (``"train"``: 60,000 images, ``"test"``: 10,000), 10 classes.

    Images float32 ``(N, 28, 28)`` in [0, 1], garment bright on black (ink = 1); labels int64;
    class names in :data:`CLASS_NAMES`. Read from local files (see the module docstring), decoded
    once, then cached.
    """
    if split not in SPLITS:
        raise ArgumentError(f"split must be 'train' or 'test', got {split!r}.")
    images_name, labels_name = SPLITS[split]
    arrays = cached_arrays(
        "fashion_mnist",
        {"split": split, "sha256": [SHA256[images_name], SHA256[labels_name]]},
        lambda: _decode(_read(images_name), _read(labels_name)),
    )
    images = arrays["images"].astype(np.float32) / np.float32(255)
    return LabelledImages("fashion_mnist", images, arrays["labels"], CLASS_NAMES)
