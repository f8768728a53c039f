"""What the course may download: the manifest (URL, size, checksums, target) and lookup by name."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from course_lib.errors import UnknownNameError

TARGETS: tuple[str, ...] = ("torch_hub", "keras_models", "datasets")
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class ManifestEntry:
    """One downloadable file: where it comes from, how to check it, where it must land.

    ``target`` is one of :data:`TARGETS`: ``torch_hub`` (``torch.hub.get_dir()/checkpoints``),
    ``keras_models`` (``$KERAS_HOME/models``) or ``datasets`` (``config.cache_dir()/datasets``).
    At least one of ``sha256``, ``md5``, ``sha256_prefix`` must be given; all given are checked.
    ``extract`` unpacks a tar archive next to the file; ``extracted`` lists paths (relative to the
    target directory) that must exist afterwards.
    """

    name: str
    url: str
    sha256: str | None
    size: int | None
    target: str
    description: str
    md5: str | None = None
    sha256_prefix: str | None = None
    filename: str | None = None
    extract: bool = False
    extracted: tuple[str, ...] = ()
    source: str = ""

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ValueError(f"{self.name}: target must be one of {TARGETS}, got {self.target!r}.")
        checks = {
            "sha256": (self.sha256, 64),
            "md5": (self.md5, 32),
            "sha256_prefix": (self.sha256_prefix, None),
        }
        if not any(value for value, _ in checks.values()):
            raise ValueError(f"{self.name}: give at least one of sha256, md5, sha256_prefix.")
        for field_name, (value, length) in checks.items():
            if value is None:
                continue
            if not value or set(value) - _HEX or (length is not None and len(value) != length):
                raise ValueError(
                    f"{self.name}: {field_name} must be lowercase hex"
                    f"{f' of {length} digits' if length else ''}, got {value!r}."
                )
        if self.sha256 and self.sha256_prefix and not self.sha256.startswith(self.sha256_prefix):
            raise ValueError(f"{self.name}: sha256 does not start with sha256_prefix.")

    @property
    def file_name(self) -> str:
        """The file's name on disk (``filename`` or the last part of the URL)."""
        return self.filename or Path(urllib.parse.urlsplit(self.url).path).name


# ---------------------------------------------------------------------------------------------
# The manifest. Every checksum below was read from the source named next to it; none is invented.
# ---------------------------------------------------------------------------------------------
MANIFEST: tuple[ManifestEntry, ...] = (
    ManifestEntry(
        name="cifar10",
        url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        # sha256: keras-team/keras, keras/src/datasets/cifar10.py, load_data(file_hash=...)
        # (same value in keras 3.15.1 installed here).
        sha256="6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
        # size: stated with this md5 in public reports ("exactly 170,498,071 bytes with MD5 c58f…").
        size=170_498_071,
        target="datasets",
        description="CIFAR-10, python version (60,000 32x32 colour images, 10 classes)",
        # md5: torchvision/datasets/cifar.py, CIFAR10.tgz_md5 (what torchvision itself checks).
        md5="c58f30108f718f92721af3b95e74349a",
        extract=True,
        extracted=tuple(
            f"cifar-10-batches-py/{f}"
            for f in (
                "data_batch_1",
                "data_batch_2",
                "data_batch_3",
                "data_batch_4",
                "data_batch_5",
                "test_batch",
                "batches.meta",
            )
        ),
        source="sha256: keras/src/datasets/cifar10.py; md5: torchvision/datasets/cifar.py",
    ),
    ManifestEntry(
        name="resnet50_imagenet",
        url="https://download.pytorch.org/models/resnet50-0676ba61.pth",
        # PyTorch publishes only the 8-digit prefix (in the file name; torch.hub's check_hash
        # compares it). The full sha256 and size are not published by PyTorch; they are the values
        # that several independent public repositories report for this file (e.g. a PyTorch->Keras
        # ResNet conversion script passing hash_pytorch=<this>, and reproduction notes giving
        # "102530333 bytes / 0676ba61b679…"). They agree with the official prefix, and the size
        # with torchvision/models/resnet.py's "_file_size": 97.781 (MiB) for IMAGENET1K_V1.
        sha256="0676ba61b6795bbe1773cffd859882e5e297624d384b6993f7c9e683e722fb8a",
        size=102_530_333,
        target="torch_hub",
        description="torchvision ResNet-50 ImageNet weights (ResNet50_Weights.IMAGENET1K_V1)",
        sha256_prefix="0676ba61",
        source="prefix: torchvision/models/resnet.py URL (official); full sha256/size: third-party",
    ),
    ManifestEntry(
        name="vgg16_imagenet_notop",
        url=(
            "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
            "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
        ),
        # No public sha256 found; keras itself checks this md5:
        # keras/src/applications/vgg16.py, get_file(WEIGHTS_PATH_NO_TOP, file_hash=...).
        sha256=None,
        # size: keras' own download progress line "58889256/58889256" in public notebook outputs.
        size=58_889_256,
        target="keras_models",
        description="Keras VGG16 ImageNet weights without the classifier (include_top=False)",
        md5="6d6bbae143d832006294945121d1f1fc",
        source="md5: keras/src/applications/vgg16.py (WEIGHTS_PATH_NO_TOP file_hash)",
    ),
)

# The lookup every function goes through; tests replace entries here (monkeypatch.setitem).
_MANIFEST: dict[str, ManifestEntry] = {e.name: e for e in MANIFEST}


def manifest() -> tuple[ManifestEntry, ...]:
    """Every file the course can download."""
    return tuple(_MANIFEST.values())


def names() -> tuple[str, ...]:
    """The names of the manifest entries (what ``course fetch`` accepts)."""
    return tuple(_MANIFEST)


def entry(name: str | ManifestEntry) -> ManifestEntry:
    """The manifest entry called ``name`` (an entry is passed through unchanged)."""
    if isinstance(name, ManifestEntry):
        return name
    try:
        return _MANIFEST[name]
    except (KeyError, TypeError):
        raise UnknownNameError(
            f"No download called {name!r}; valid names are "
            f"{', '.join(_MANIFEST)}. Example: course fetch cifar10"
        ) from None
