"""The course's own "pretrained" network: ``small_cnn`` trained on the glyph *source* alphabets.

ImageNet weights cannot be downloaded offline, so lessons 01, 02, 04 and 06 start from a network
the course trains itself, honestly, on many classes (the source alphabets) and then transfer it to
characters of held-out alphabets. It is built once per framework and mode, cached in
``<cache dir>/pretrained/`` and reused:

* ``glyph_cnn_<framework>_<key>.pt|npz`` — the checkpoint (written atomically);
* ``… .json`` next to it — the sha256 of that file, the training spec and what it reached
  (source validation accuracy, training time). A missing, truncated or modified checkpoint fails
  the hash or the load and is rebuilt, with a warning.

Kernels that start together train it once: the checkpoint's lock (:mod:`course_lib.locks`) lets
one train and write both files while the others wait, then load them.

This module is framework-neutral: ``course_lib.torch.pretrained_cnn`` and
``course_lib.keras.pretrained_cnn`` call :func:`get_or_build` with their own package, whose
mirrored ``small_cnn``, ``fit`` and checkpoint functions do the framework's part.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from course_lib import config
from course_lib.atomic import atomic_write_text, remove_orphans_once
from course_lib.checkpoints import file_sha256
from course_lib.errors import CheckpointError
from course_lib.frameworks import check_framework
from course_lib.locks import exclusive

PRETRAIN_VERSION = 1  # bump when the architecture, data or recipe changes: old caches are ignored
SPLIT_SEED = 0  # the source/target alphabet split every lesson uses
_EXTENSIONS = {"torch": "pt", "keras": "npz"}


@dataclass(frozen=True)
class PretrainSpec:
    """Everything that decides the pretrained weights (part of the cache key)."""

    framework: str
    mode: str
    width: int
    epochs: int
    lr: float
    batch_size: int
    seed: int
    samples_per_char: int
    image_size: int
    version: int = PRETRAIN_VERSION

    @property
    def key(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class PretrainedInfo:
    """Where the pretrained network lives and what it reached on the source alphabets."""

    path: Path
    sha256: str
    num_classes: int
    source_val_accuracy: float
    train_s: float
    built_now: bool
    spec: PretrainSpec

    def __str__(self) -> str:
        how = "trained just now" if self.built_now else "loaded from the cache"
        return (
            f"small_cnn(width={self.spec.width}) pretrained on {self.num_classes:,} source "
            f"characters ({self.spec.epochs} epochs, {self.train_s:.0f} s, {how}): source "
            f"validation accuracy {self.source_val_accuracy:.1%}"
        )


@dataclass(frozen=True)
class SourceData:
    """The source alphabets' images, relabelled 0..C-1, split into train and validation."""

    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray]
    num_classes: int


def pretrain_spec(framework: str, mode: str | None = None, seed: int = 0) -> PretrainSpec:
    """The spec for ``framework`` in ``mode``: sizes from ``SIZES["pretrain"]`` and ``["data"]``."""
    mode = config.resolve_mode(mode)
    s, d = config.sizes("pretrain", mode), config.sizes("data", mode)
    return PretrainSpec(
        framework=check_framework(framework),
        mode=mode,
        width=int(s.width),
        epochs=int(s.epochs),
        lr=float(s.lr),
        batch_size=int(config.sizes("training", mode).batch_size),
        seed=int(seed),
        samples_per_char=int(d.glyph_samples_per_char),
        image_size=int(d.glyph_image_size),
    )


def source_data(spec: PretrainSpec, val_fraction: float = 0.1) -> SourceData:
    """The glyph source alphabets for ``spec``: relabelled classes, a seeded validation split."""
    from course_lib.data import glyph_split, load_glyphs

    glyphs = load_glyphs(
        spec.mode, samples_per_char=spec.samples_per_char, image_size=spec.image_size, seed=0
    )
    source = glyphs.select_groups(list(glyph_split(glyphs, seed=SPLIT_SEED).source))
    _, labels = np.unique(source.labels, return_inverse=True)
    order = config.rng(spec.seed).permutation(len(labels))
    n_val = max(1, round(val_fraction * len(order)))
    val, train = order[:n_val], order[n_val:]
    return SourceData(
        train=(source.images[train], labels[train]),
        val=(source.images[val], labels[val]),
        num_classes=int(labels.max()) + 1,
    )


def pretrained_dir() -> Path:
    """``<cache dir>/pretrained`` (created if needed; killed builds' temps removed once)."""
    folder = config.cache_dir() / "pretrained"
    folder.mkdir(parents=True, exist_ok=True)
    remove_orphans_once(folder)
    return folder


def checkpoint_path(spec: PretrainSpec) -> Path:
    """``<cache dir>/pretrained/glyph_cnn_<framework>_<mode>_<key>.<ext>``."""
    folder = pretrained_dir()
    ext = _EXTENSIONS[spec.framework]
    return folder / f"glyph_cnn_{spec.framework}_{spec.mode}_{spec.key}.{ext}"


def _record_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _read_record(path: Path) -> dict[str, Any]:
    """The record next to a checkpoint, checked against the file; ValueError when it fails."""
    record_file = _record_path(path)
    if not path.exists() or not record_file.exists():
        raise ValueError("not built yet")
    try:
        record = json.loads(record_file.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"unreadable record {record_file.name}: {err}") from err
    if record.get("sha256") != file_sha256(path):
        raise ValueError("the checkpoint does not match its recorded sha256 (partly written?)")
    return record


def _load_cached(spec: PretrainSpec, cl: Any, path: Path) -> tuple[Any, PretrainedInfo]:
    """The cached model and its info; ValueError, KeyError or CheckpointError when it fails."""
    record = _read_record(path)
    model = cl.small_cnn(int(record["num_classes"]), width=spec.width)
    cl.load_checkpoint(model, path)
    return model, PretrainedInfo(
        path=path,
        sha256=record["sha256"],
        num_classes=int(record["num_classes"]),
        source_val_accuracy=float(record["source_val_accuracy"]),
        train_s=float(record["train_s"]),
        built_now=False,
        spec=spec,
    )


_UNUSABLE = (ValueError, KeyError, CheckpointError)


def get_or_build(
    spec: PretrainSpec, cl: Any, *, rebuild: bool = False, progress: bool = True
) -> tuple[Any, PretrainedInfo]:
    """Load the cached pretrained model for ``spec``, or train, save and record it.

    ``cl`` is ``course_lib.torch`` or ``course_lib.keras``: their mirrored ``small_cnn``, ``fit``,
    ``save_checkpoint`` and ``load_checkpoint`` do the framework's part. Trained once even when
    several processes ask at the same time: the checkpoint's lock lets one train while the
    others wait and then load what it wrote.
    """
    path = checkpoint_path(spec)
    if not rebuild:
        with contextlib.suppress(*_UNUSABLE):
            return _load_cached(spec, cl, path)
    what = f"the pretrained {spec.framework} network ({spec.mode} mode)"
    with exclusive(path, what=what):
        if not rebuild:
            try:
                return _load_cached(spec, cl, path)  # trained by another process meanwhile
            except _UNUSABLE as err:
                if str(err) != "not built yet":
                    warnings.warn(
                        f"Pretrained checkpoint {path} is damaged ({err}); rebuilding it.",
                        stacklevel=3,
                    )
        return _build(spec, cl, path, progress)


def _build(spec: PretrainSpec, cl: Any, path: Path, progress: bool) -> tuple[Any, PretrainedInfo]:
    """Train on the source alphabets, then write the checkpoint and its record (under the lock)."""
    data = source_data(spec)
    if progress:
        n_train = len(data.train[1])
        print(
            f"Pretraining small_cnn(width={spec.width}) on the glyph source alphabets: "
            f"{data.num_classes:,} characters, {n_train:,} images, {spec.epochs} epochs "
            f"({spec.framework}, {spec.mode} mode). Built once, then cached in {path.parent}.",
            flush=True,
        )
    config.seed_everything(spec.seed)
    model = cl.small_cnn(data.num_classes, width=spec.width)
    history = cl.fit(
        model, data.train, data.val, epochs=spec.epochs, lr=spec.lr,
        batch_size=spec.batch_size, seed=spec.seed, quiet=not progress,
    )  # fmt: skip
    accuracy, seconds = history["val_accuracy"][-1], history.wall_s
    meta = {"spec": asdict(spec), "num_classes": data.num_classes}
    cl.save_checkpoint(model, path, **meta)
    record = {
        **meta,
        "sha256": file_sha256(path),
        "source_val_accuracy": float(accuracy),
        "train_s": round(float(seconds), 2),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    atomic_write_text(_record_path(path), json.dumps(record, indent=2))
    info = PretrainedInfo(
        path=path,
        sha256=record["sha256"],
        num_classes=data.num_classes,
        source_val_accuracy=float(accuracy),
        train_s=float(seconds),
        built_now=True,
        spec=spec,
    )
    if progress:
        print(info, flush=True)
    return model, info


def loader_for(framework: str) -> Callable[..., tuple[Any, PretrainedInfo]]:
    """``pretrained_cnn`` for one framework package (both packages get the same function)."""
    framework = check_framework(framework)

    def pretrained_cnn(
        mode: str | None = None, *, seed: int = 0, rebuild: bool = False, progress: bool = True
    ) -> tuple[Any, PretrainedInfo]:
        """The course's pretrained network: ``small_cnn`` trained on the glyph source alphabets.

        Trained once per framework and mode (minutes in teaching mode, with a progress bar), then
        loaded from the cache; a damaged checkpoint is rebuilt with a warning. Returns
        ``(model, info)``; ``print(info)`` shows the source accuracy it reached.
        """
        cl = importlib.import_module(f"course_lib.{framework}")
        spec = pretrain_spec(framework, mode, seed)
        return get_or_build(spec, cl, rebuild=rebuild, progress=progress)

    return pretrained_cnn
