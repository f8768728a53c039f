"""Real downloads for ``full`` mode and ``course fetch``: CIFAR-10 and ImageNet weights.

Everything the course may download is listed in :data:`MANIFEST` (URL, size, checksums, where the
file must land). Weights land exactly where the frameworks look for them, so that afterwards
``torchvision.models.resnet50(weights="IMAGENET1K_V1")`` and
``keras.applications.VGG16(weights="imagenet", include_top=False)`` find them without downloading.

Offline (or with ``COURSE_OFFLINE=1``) a missing file raises
:class:`~course_lib.errors.OfflineError` within a few seconds, with a message that says what to do,
instead of a hang or a socket traceback. Downloads resume from a ``.part`` file, are verified (size
and hash) and renamed into place atomically.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import pickle
import shutil
import socket
import sys
import tarfile
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from course_lib import config
from course_lib.errors import DownloadError, OfflineError, UnknownNameError

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

CIFAR10_DIR = "cifar-10-batches-py"
CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
_CIFAR10_SPLITS = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
DEFAULT_TIMEOUT = 30.0  # seconds of silence on the socket before a download counts as broken
_CHUNK = 1 << 20


# ---------------------------------------------------------------------------------------------
# Manifest access and locations
# ---------------------------------------------------------------------------------------------
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


def cifar10_root(*, fetch_if_missing: bool = True) -> Path:
    """The ``root`` for ``torchvision.datasets.CIFAR10(root=..., download=False)``.

    It holds ``cifar-10-batches-py/``; fetched first unless ``fetch_if_missing=False``.
    """
    if fetch_if_missing:
        fetch("cifar10")
    return local_path("cifar10").parent


# ---------------------------------------------------------------------------------------------
# Verification (with a stamp so a 170 MB file is hashed once, not on every call)
# ---------------------------------------------------------------------------------------------
def _expected(e: ManifestEntry) -> str:
    return ";".join(
        f"{k}={v}"
        for k, v in (
            ("size", e.size),
            ("sha256", e.sha256),
            ("md5", e.md5),
            ("prefix", e.sha256_prefix),
        )
        if v
    )


def _hash_file(path: Path, algorithms: Iterable[str]) -> dict[str, str]:
    """Hex digests of ``path`` for each algorithm, in one pass over the file."""
    hashers = {a: hashlib.new(a) for a in algorithms}
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            for h in hashers.values():
                h.update(chunk)
    return {a: h.hexdigest() for a, h in hashers.items()}


def _check_file(e: ManifestEntry, path: Path) -> str | None:
    """``None`` if ``path`` matches the entry's size and checksums, else what is wrong."""
    size = path.stat().st_size
    if e.size is not None and size != e.size:
        return f"size {size:,} bytes, expected {e.size:,}"
    algorithms = [a for a, v in (("sha256", e.sha256 or e.sha256_prefix), ("md5", e.md5)) if v]
    got = _hash_file(path, algorithms)
    if e.sha256 and got["sha256"] != e.sha256:
        return f"sha256 {got['sha256']}, expected {e.sha256}"
    if e.sha256_prefix and not got["sha256"].startswith(e.sha256_prefix):
        return f"sha256 {got['sha256']}, expected one starting with {e.sha256_prefix}"
    if e.md5 and got["md5"] != e.md5:
        return f"md5 {got['md5']}, expected {e.md5}"
    return None


def _stamp_path(e: ManifestEntry) -> Path:
    return config.cache_dir() / "downloads" / f"{e.name}.verified.json"


def _stamp_key(e: ManifestEntry, path: Path) -> dict[str, object]:
    st = path.stat()
    return {
        "path": str(path.resolve()),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "expected": _expected(e),
    }


def _write_stamp(e: ManifestEntry, path: Path) -> None:
    stamp = _stamp_path(e)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    tmp = stamp.with_name(stamp.name + ".tmp")
    tmp.write_text(json.dumps(_stamp_key(e, path)))
    os.replace(tmp, stamp)


def _verified(e: ManifestEntry, path: Path) -> bool:
    """True if ``path`` matches the entry; the answer is remembered until the file changes."""
    if not path.is_file():
        return False
    with contextlib.suppress(OSError, ValueError):
        if json.loads(_stamp_path(e).read_text()) == _stamp_key(e, path):
            return True
    if _check_file(e, path) is not None:
        return False
    _write_stamp(e, path)
    return True


def _extracted(e: ManifestEntry, path: Path) -> bool:
    return all((path.parent / rel).is_file() for rel in e.extracted)


def is_cached(name: str | ManifestEntry) -> bool:
    """True if the file of ``name`` is present, verified and (for archives) unpacked."""
    e = entry(name)
    path = local_path(e)
    return _verified(e, path) and (not e.extract or _extracted(e, path))


# ---------------------------------------------------------------------------------------------
# Downloading
# ---------------------------------------------------------------------------------------------
def _advice(e: ManifestEntry, path: Path) -> str:
    return (
        f"Run `course fetch {e.name}` on a connected machine and copy {path} to the same place "
        "here (or set COURSE_CACHE_DIR / TORCH_HOME / KERAS_HOME to where the copy is), "
        "or use COURSE_MODE=teaching, which needs no downloads."
    )


def _offline_error(e: ManifestEntry, path: Path, why: str) -> OfflineError:
    return OfflineError(f"Cannot download {e.name} ({e.url}): {why}. {_advice(e, path)}")


def _resolves(host: str, port: int, timeout: float) -> bool:
    """True if ``host`` resolves within ``timeout`` s (DNS ignores socket timeouts: a thread)."""
    answer: list[bool] = []

    def lookup() -> None:
        try:
            socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            answer.append(True)
        except OSError:
            answer.append(False)

    t = threading.Thread(target=lookup, daemon=True)
    t.start()
    t.join(timeout)
    return bool(answer and answer[0])


@contextlib.contextmanager
def _lock(e: ManifestEntry) -> Iterator[None]:
    """Hold an exclusive lock on the entry so two processes never write the same ``.part``."""
    lock = config.cache_dir() / "downloads" / f"{e.name}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; the hash check still catches a mix-up
        yield
        return
    with open(lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _progress_bar(total: int | None, initial: int, desc: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    kwargs = dict(
        total=total,
        initial=initial,
        desc=desc,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        disable=not enabled,
    )
    try:
        return tqdm(**kwargs)
    except ImportError:  # a notebook without ipywidgets: fall back to the text bar
        from tqdm.std import tqdm as text_tqdm

        return text_tqdm(**kwargs)


_NETWORK_ERRORS = (
    urllib.error.URLError,
    socket.timeout,
    TimeoutError,
    ConnectionError,
    http.client.HTTPException,
    OSError,
)


def _open(e: ManifestEntry, offset: int, timeout: float) -> http.client.HTTPResponse:
    headers = {"User-Agent": "post-training-course (urllib)", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(e.url, headers=headers)
    return urllib.request.urlopen(request, timeout=timeout)  # the manifest's URLs only


def _download_part(e: ManifestEntry, part: Path, *, progress: bool, timeout: float) -> None:
    """Bring ``part`` to the full file, resuming with an HTTP Range request if it exists."""
    offset = part.stat().st_size if part.exists() else 0
    if e.size is not None and offset > e.size:
        part.unlink()
        offset = 0
    if e.size is not None and offset == e.size:
        return  # complete already; verification decides
    try:
        response = _open(e, offset, timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # our partial file does not fit the server's: start over
            part.unlink()
            return _download_part(e, part, progress=progress, timeout=timeout)
        raise DownloadError(
            f"Cannot download {e.name}: {e.url} answered HTTP {err.code} "
            f"{err.reason}. Check the URL in course_lib/data/online.py."
        ) from None
    except _NETWORK_ERRORS as err:
        why = f"cannot reach the server ({_reason(err)})"
        raise _offline_error(e, local_path(e), why) from None
    with response:
        restart = False
        if not (offset and response.status == 206):
            offset = 0  # the server ignored Range (200): this body is the whole file
        elif not response.headers.get("Content-Range", "").startswith(f"bytes {offset}-"):
            restart = True  # a range we did not ask for: start over without Range
        if restart:
            part.unlink()
        else:
            _copy_body(e, response, part, offset, progress)
    if restart:
        _download_part(e, part, progress=progress, timeout=timeout)


def _copy_body(
    e: ManifestEntry, response: http.client.HTTPResponse, part: Path, offset: int, progress: bool
) -> None:
    """Append the response body to ``part`` (from scratch when ``offset`` is 0)."""
    length = response.headers.get("Content-Length")
    total = e.size or (offset + int(length) if length and length.isdigit() else None)
    written = offset
    with (
        open(part, "ab" if offset else "wb") as f,
        _progress_bar(total, offset, e.name, progress) as bar,
    ):
        while True:
            try:
                chunk = response.read1(_CHUNK)  # what has arrived: a timeout loses none
            except _NETWORK_ERRORS as err:
                f.flush()
                raise _offline_error(
                    e,
                    local_path(e),
                    f"the connection broke after {written:,} bytes "
                    f"({_reason(err)}); the partial file {part} is kept and the next "
                    "fetch resumes from it",
                ) from None
            if not chunk:
                break
            f.write(chunk)
            written += len(chunk)
            bar.update(len(chunk))
            if e.size is not None and written > e.size:
                break  # too long: verification reports it


def _reason(err: BaseException) -> str:
    reason = getattr(err, "reason", None) or err
    return f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__


def _safe_members(archive: tarfile.TarFile, name: str) -> list[tarfile.TarInfo]:
    """The archive's members, refusing absolute paths, ``..``, links and device files."""
    members = archive.getmembers()
    for m in members:
        parts = Path(m.name).parts
        if m.name.startswith(("/", "\\")) or Path(m.name).is_absolute() or ".." in parts:
            raise DownloadError(
                f"Refusing to unpack {name}: member {m.name!r} points outside the target directory."
            )
        if not (m.isfile() or m.isdir()):
            raise DownloadError(
                f"Refusing to unpack {name}: member {m.name!r} is not a plain file or directory."
            )
    return members


def _unpack(e: ManifestEntry, path: Path) -> None:
    """Unpack the verified archive next to itself: into a temp dir first, then move into place."""
    dest = path.parent
    tmp = Path(tempfile.mkdtemp(dir=dest, prefix=f".{e.name}-unpack-"))
    try:
        with tarfile.open(path) as archive:
            members = _safe_members(archive, path.name)
            if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4 / 3.12: the safe filter
                archive.extractall(tmp, members=members, filter="data")
            else:
                archive.extractall(tmp, members=members)  # members checked above
        for item in tmp.iterdir():
            final = dest / item.name
            if final.is_dir() and not final.is_symlink():
                shutil.rmtree(final)
            elif final.exists() or final.is_symlink():
                final.unlink()
            os.replace(item, final)
    except (tarfile.TarError, EOFError) as err:
        raise DownloadError(f"Cannot unpack {path}: {err}. Delete it and fetch again.") from err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    missing = [rel for rel in e.extracted if not (dest / rel).is_file()]
    if missing:
        raise DownloadError(f"{path.name} unpacked, but {', '.join(missing)} are missing.")


def fetch(
    name: str | ManifestEntry, *, progress: bool = True, timeout: float = DEFAULT_TIMEOUT
) -> Path:
    """Download (or find) the file of ``name``, verify it and return its path.

    Returns at once if it is cached and verified. Offline, raises :class:`OfflineError` within a
    few seconds with advice; a wrong checksum raises :class:`DownloadError` and leaves nothing
    behind. ``timeout`` is the socket timeout for each read, in seconds.
    """
    e = entry(name)
    path = local_path(e)
    if is_cached(e):
        return path
    with _lock(e):
        if _verified(e, path):  # another process may have finished it while we waited
            if e.extract and not _extracted(e, path):
                _unpack(e, path)
            return path
        damaged = path.exists()  # present but wrong: a truncated copy or another version
        if not config.is_online():
            why = "this machine is offline"
            if os.environ.get(config.OFFLINE_ENV):
                why += f" ({config.OFFLINE_ENV}={os.environ[config.OFFLINE_ENV]})"
            if damaged:
                why += f", and the file at {path} fails verification"
            raise _offline_error(e, path, why)
        if damaged:
            path.unlink()
        url = urllib.parse.urlsplit(e.url)
        port = url.port or (443 if url.scheme == "https" else 80)
        if not _resolves(url.hostname or "", port, timeout=min(timeout, 5.0)):
            raise _offline_error(e, path, f"the host {url.hostname} cannot be resolved")
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(path.name + ".part")
        _download_part(e, part, progress=progress, timeout=timeout)
        problem = _check_file(e, part)
        if problem is not None:
            part.unlink(missing_ok=True)
            raise DownloadError(
                f"Downloaded {e.name} from {e.url} but it is wrong: got {problem}. "
                "The partial file was deleted; run the fetch again, and if this "
                "repeats the upstream file has changed (update the manifest)."
            )
        os.replace(part, path)
        _write_stamp(e, path)
        if e.extract:
            _unpack(e, path)
    return path


def fetch_all(
    names: Iterable[str] | None = None, *, progress: bool = True, timeout: float = DEFAULT_TIMEOUT
) -> list[Path]:
    """Fetch several entries (all by default), e.g. before a workshop; returns their paths.

    Offline, stops at the first entry that needs the network. Other failures do not stop the
    rest; they are reported together at the end as one :class:`DownloadError`.
    """
    wanted = [entry(n) for n in (list(_MANIFEST) if names is None else names)]
    paths: list[Path] = []
    failures: list[str] = []
    for e in wanted:
        try:
            paths.append(fetch(e, progress=progress, timeout=timeout))
        except DownloadError as err:
            failures.append(f"{e.name}: {err}")
    if failures:
        raise DownloadError("Some downloads failed:\n" + "\n".join(failures))
    return paths


def status() -> list[dict[str, object]]:
    """One row per entry: name, size, cached, path, description (for ``course fetch --list``)."""
    return [
        {
            "name": e.name,
            "size": e.size,
            "cached": is_cached(e),
            "path": str(local_path(e)),
            "description": e.description,
        }
        for e in manifest()
    ]


# ---------------------------------------------------------------------------------------------
# CIFAR-10 as NumPy arrays
# ---------------------------------------------------------------------------------------------
class _BatchUnpickler(pickle.Unpickler):
    """Loads CIFAR batches only: plain containers and NumPy arrays, no other classes."""

    _ALLOWED: ClassVar[frozenset[tuple[str, str]]] = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"),
            ("numpy.core.numeric", "_frombuffer"),
            ("numpy._core.numeric", "_frombuffer"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("_codecs", "encode"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"CIFAR batch refers to {module}.{name}, which is not allowed")


def _load_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    # The official batches are Python 2 pickles: encoding="bytes" is what they need (keys are
    # b"data", b"labels"). They come from an archive whose sha256 was verified before unpacking,
    # and the unpickler above refuses anything but arrays and plain containers.
    with open(path, "rb") as f:
        batch = _BatchUnpickler(f, encoding="bytes").load()
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
        raise DownloadError(
            f"{path} is not a CIFAR-10 batch (data {data.shape}, "
            f"{len(labels)} labels). Delete {path.parent} and fetch again."
        )
    return data, labels


def load_cifar10(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 ``split`` ("train" or "test") as uint8 images ``(N, 32, 32, 3)`` and int64 labels.

    Fetches the archive first if needed, so offline it fails fast with advice. Class names are
    in :data:`CIFAR10_CLASSES`.
    """
    if split not in _CIFAR10_SPLITS:
        raise ValueError(f"split must be one of {', '.join(_CIFAR10_SPLITS)}, got {split!r}.")
    folder = cifar10_root() / CIFAR10_DIR
    parts = [_load_batch(folder / f) for f in _CIFAR10_SPLITS[split]]
    data = np.concatenate([d for d, _ in parts])
    images = np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return images, np.concatenate([lab for _, lab in parts])
