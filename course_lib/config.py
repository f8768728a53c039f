"""Modes, the one size table, seeding, the cache and build directories, and the online check.

Every number that changes between ``smoke``, ``teaching`` and ``full`` lives in ``SIZES`` below;
notebooks read it through :func:`sizes` instead of hard-coding their own.
"""

from __future__ import annotations

import os
import random
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from course_lib.errors import CacheError, CourseError, ModeError, UnknownNameError

MODES: tuple[str, ...] = ("smoke", "teaching", "full")
DEFAULT_MODE = "teaching"
MODE_ENV = "COURSE_MODE"
CACHE_ENV = "COURSE_CACHE_DIR"
BUILD_ENV = "COURSE_BUILD_DIR"
OFFLINE_ENV = "COURSE_OFFLINE"

# ---------------------------------------------------------------------------------------------
# The size table: lesson -> mode -> knob -> value. "data" holds the sizes of the embedded datasets.
# smoke: every code path in seconds (CI); teaching: the lesson's claim on a 2-core CPU in minutes;
# full: true scale on a GPU with real downloads.
#
# Label budgets (labelled examples per class, or support points per task) are named k_<role>:
#   k_few / k_more / k_most  a lesson's increasing budgets, compared side by side (e.g. K = 1 / 5);
#   k_<what>                 the budget of one part of a lesson: k_demo, k_digits, k_imagenet,
#                            k_fashion, k_mlp, k_l2sp, k_sinusoid, k_new, k_source, k_close, k_far;
#   k_<what>_more            a second, larger budget of that part (k_digits_more, k_sinusoid_more).
# No other knob starts with "k" or contains "_k" (tests/unit/test_config.py checks the scheme).
# Library arguments keep their own names (EpisodeSampler(k_shot=...), glyph_tasks(new_k=...)).
# ---------------------------------------------------------------------------------------------
# fmt: off
_SETUP_TEACHING = {"grid_alphabets": 8, "grid_chars": 10, "digits_grid": 40, "sinusoid_tasks": 5,
                   "sinusoid_points": 10, "episode_ways": 5, "episode_shots": 5,
                   "episode_queries": 5, "train_epochs": 8, "train_width": 16}
SIZES: dict[str, dict[str, dict[str, int | float]]] = {
    "data": {
        "smoke":    {"glyph_samples_per_char": 4, "glyph_image_size": 28},
        "teaching": {"glyph_samples_per_char": 20, "glyph_image_size": 28},
        "full":     {"glyph_samples_per_char": 20, "glyph_image_size": 28},
    },
    "training": {  # defaults of the data adapters and fit() in both frameworks
        "smoke":    {"batch_size": 64},
        "teaching": {"batch_size": 128},
        "full":     {"batch_size": 256},
    },
    "pretrain": {  # the glyph-pretrained small_cnn (course_lib.pretrained), shared by lessons
        "smoke":    {"width": 32, "epochs": 1, "lr": 3e-3},  # same width: same tables in every mode
        "teaching": {"width": 32, "epochs": 8, "lr": 3e-3},
        "full":     {"width": 32, "epochs": 8, "lr": 3e-3},
    },
    "00_setup": {
        "smoke":    {"grid_alphabets": 4, "grid_chars": 6, "digits_grid": 20, "sinusoid_tasks": 3,
                     "sinusoid_points": 10, "episode_ways": 5, "episode_shots": 1,
                     "episode_queries": 2, "train_epochs": 1, "train_width": 8},
        "teaching": _SETUP_TEACHING,
        "full":     _SETUP_TEACHING,  # nothing in lesson 00 grows with a GPU
    },
}
# Lessons 01 and 02: 20-way tasks from the held-out alphabets (the same in every mode, so the
# parameter tables nbval checks do not change), K labelled images per class (k_few, k_more;
# k_digits on the handwritten digits, lesson 02's k_demo too), budgets in optimizer
# steps (a fixed number of epochs would give K = 15 fifteen times the training of K = 1).
# Section 12 of lesson 01 (ImageNet network, CIFAR-10, k_imagenet): a code-path check outside full
# mode. Lesson 01's val_per_class: validation images per class of section 4's split, the only
# images its learning curves are drawn on.
_IMAGENET_CHECK = {"imagenet_images": 20, "k_imagenet": 1, "imagenet_eval": 20, "imagenet_size": 32,
                   "imagenet_batch": 10, "imagenet_probe_steps": 2, "imagenet_scratch_steps": 1}
# Sections 1-4 of lesson 01, the ImageNet network on Fashion-MNIST: fashion_pool training photos to
# draw K = k_fashion (+ fashion_val validation) per class from, fashion_test test photos, all
# resized to fashion_size px; probe_layers: the blocks whose pooled features are probed;
# fashion_steps optimizer steps of fashion_batch images (a divisor of K x 10: no ragged last
# batch to upset BatchNorm) per strategy, its rate from fashion_rates (chosen on validation).
_FASHION_TEACHING = {"fashion_size": 32, "fashion_pool": 1000, "fashion_test": 1000,
                     "k_fashion": 5, "fashion_val": 10, "fashion_steps": 100, "fashion_batch": 10,
                     "fashion_rates": (1e-3, 1e-2),
                     "probe_layers": ("block2", "block3", "block4", "block5", "block6", "top")}
_TRANSFER_TEACHING = {"n_way": 20, "k_few": 1, "k_more": 5, "val_per_class": 5, "seeds": 3,
                      "batch_size": 16, "probe_steps": 100, "scratch_steps": 200, "k_digits": 5,
                      "pca_classes": 10, "digits_images": 1797, **_IMAGENET_CHECK,
                      **_FASHION_TEACHING}
# Lesson 02: every strategy of the comparison gets total_steps optimizer steps (the careful
# recipes: probe_steps for the head, the rest for the backbone; the linear probe: probe_steps),
# its rate chosen on val_per_class (digits: digits_val_per_class) validation images per class of
# the first seed; k_demo: the step-by-step walk-through on the digits.
_FINETUNE_TEACHING = {"n_way": 20, "k_demo": 5, "k_few": 1, "k_more": 5, "seeds": 3,
                      "val_per_class": 5, "batch_size": 16, "probe_steps": 50, "total_steps": 150,
                      "k_digits": 5, "digits_val_per_class": 20, "digits_images": 1797,
                      "recipe_images": 4, "recipe_batch": 2, "recipe_epochs": 1, "recipe_steps": 1,
                      "recipe_image_size": 32}
SIZES.update({
    "01_transfer": {
        "smoke":    {"n_way": 20, "k_few": 1, "k_more": 1, "val_per_class": 1, "seeds": 1,
                     "batch_size": 16, "probe_steps": 2, "scratch_steps": 2, "k_digits": 2,
                     "pca_classes": 5, "digits_images": 200} | _IMAGENET_CHECK
                    | _FASHION_TEACHING | {"fashion_pool": 200, "fashion_test": 100, "k_fashion": 2,
                                           "fashion_val": 2, "fashion_steps": 2,
                                           "fashion_rates": (1e-2,),
                                           "probe_layers": ("block2", "top")},
        "teaching": _TRANSFER_TEACHING,
        "full":     _TRANSFER_TEACHING | {"imagenet_images": 50_000, "k_imagenet": 5,
                                          "imagenet_eval": 2_000, "imagenet_size": 224,
                                          "imagenet_batch": 32, "imagenet_probe_steps": 300,
                                          "imagenet_scratch_steps": 300},
    },
    "02_finetune": {
        "smoke":    {"n_way": 20, "k_demo": 2, "k_few": 1, "k_more": 1, "seeds": 1,
                     "val_per_class": 2, "batch_size": 16, "probe_steps": 2, "total_steps": 5,
                     "k_digits": 2, "digits_val_per_class": 3, "digits_images": 200,
                     "recipe_images": 4, "recipe_batch": 2, "recipe_epochs": 1, "recipe_steps": 1,
                     "recipe_image_size": 32},
        "teaching": _FINETUNE_TEACHING,
        "full":     _FINETUNE_TEACHING | {"recipe_images": 50_000, "recipe_batch": 32,
                                          "recipe_epochs": 10, "recipe_steps": 0,
                                          "recipe_image_size": 224},
    },
})
# Lesson 03: 100 unseen characters, k_mlp images each to train on, validation and test images of
# the same characters; an MLP that overfits them. n_way and hidden stay fixed across modes (nbval
# checks the parameter table). l2sp_* and k_l2sp: section 9, fine-tuning the pretrained CNN as in
# lesson 02 (val_per_class images per character choose the penalty strength, the rest test it).
# k_digits, digits_steps: section 6, augmentation on scikit-learn's handwritten digits.
_REGULARIZATION_TEACHING = {"n_way": 100, "k_mlp": 6, "val_per_class": 7, "hidden": 256,
                            "epochs": 40, "seeds": 3, "patience": 8, "l2sp_n_way": 20,
                            "k_l2sp": 1, "l2sp_steps": 150, "l2sp_seeds": 3, "k_digits": 5,
                            "digits_steps": 200}
SIZES["03_regularization"] = {
    "smoke":    _REGULARIZATION_TEACHING | {"k_mlp": 1, "val_per_class": 1, "epochs": 2, "seeds": 1,
                                            "patience": 1, "l2sp_steps": 2, "l2sp_seeds": 1,
                                            "digits_steps": 2},
    "teaching": _REGULARIZATION_TEACHING,
    "full":     _REGULARIZATION_TEACHING | {"seeds": 5, "l2sp_seeds": 5},
}
# Lesson 04, part A: the sinusoid family of the MAML paper (meta-batch, K = k_sinusoid support
# points, inner rate, Adam 1e-3 fixed in every mode); meta_iterations per method (the paper:
# 70,000); eval_tasks unseen tasks, eval_query points each, adapted for up to eval_steps SGD steps.
# k_sinusoid_more: the second support size.
# Part B: n_way-way episodes with k_few / k_more shots and n_query queries per class drawn from
# the held-out alphabets, test_episodes of each (within_episodes inside single alphabets);
# prototypical networks train on proto_episodes episodes of the source alphabets (proto_way-way,
# 1-shot), first-order MAML for maml_iterations of maml_batch episodes, maml_*_steps inner steps.
_META_TEACHING = {"k_sinusoid": 5, "k_sinusoid_more": 10, "meta_batch": 25, "query": 10,
                  "meta_iterations": 15_000, "pretrain_iterations": 15_000, "reptile_steps": 5,
                  "eval_tasks": 600, "eval_query": 100, "eval_steps": 10,
                  "n_way": 5, "k_few": 1, "k_more": 5, "n_query": 10, "test_episodes": 600,
                  "within_episodes": 660, "proto_way": 20, "proto_query": 5,
                  "proto_episodes": 600, "maml_iterations": 400, "maml_batch": 4,
                  "maml_train_steps": 1, "maml_test_steps": 3}
SIZES["04_meta_learning"] = {
    "smoke":    _META_TEACHING | {"meta_iterations": 20, "pretrain_iterations": 20,
                                  "eval_tasks": 20, "eval_query": 20, "k_more": 2, "n_query": 2,
                                  "test_episodes": 10, "within_episodes": 11, "proto_query": 2,
                                  "proto_episodes": 3, "maml_iterations": 2, "maml_batch": 2},
    "teaching": _META_TEACHING,
    "full":     _META_TEACHING | {"meta_iterations": 70_000, "pretrain_iterations": 70_000},
}
# Lesson 05: three tasks on the glyphs (course_lib.multitask.glyph_tasks): new_chars characters
# of the held-out alphabets with k_new labelled images each, source_chars source characters with
# k_source each, and the alphabet of every image; test_per_char test images per character, and
# val_per_char validation images of each new character (the training curves are drawn on them).
# Every run trains `steps` Adam steps at `lr`, batch_size images per task and step; the trunk is
# the small CNN at `width` (fixed across modes: nbval checks the parameter table).
_MULTITASK_TEACHING = {"new_chars": 100, "k_new": 2, "source_chars": 300, "k_source": 12,
                       "val_per_char": 5, "test_per_char": 8, "steps": 500, "lr": 3e-3,
                       "batch_size": 32, "width": 16, "seeds": 3}
SIZES["05_multitask"] = {
    "smoke":    _MULTITASK_TEACHING | {"k_new": 1, "k_source": 2, "val_per_char": 1,
                                       "test_per_char": 2, "steps": 3, "seeds": 1},
    "teaching": _MULTITASK_TEACHING,
    "full":     _MULTITASK_TEACHING | {"steps": 2000, "seeds": 5},
}
# Lesson 06, the capstone: two new problems, every strategy under one budget. The close one: all
# characters of one held-out script (course_lib.capstone.CLOSE_ALPHABET) with k_close labels each;
# the far one: the handwritten digits with k_far labels each (digits_images of the 1,797).
# k_close and k_far are >= 2 in every mode: the closeness measurement is leave-one-out on the K
# training images (capstone.closeness), which needs two images per class.
# Every trained strategy gets `steps` optimizer steps of batch_size images; multi-task adds
# source_chars source characters with k_source images each as a second task.
_CAPSTONE_TEACHING = {"k_close": 5, "k_far": 10, "seeds": 3, "steps": 200, "batch_size": 16,
                      "source_chars": 100, "k_source": 10, "digits_images": 1797}
# Smoke: 20 steps, not fewer: the smoke pretrain is one epoch (near-random features), and with 2
# steps the linear probe sat within float noise of chance (12.8 % / 19.4 % on two builds of the
# same checkpoint), which the exercise's "above chance" check rightly rejects.
SIZES["06_capstone"] = {
    "smoke":    _CAPSTONE_TEACHING | {"k_close": 2, "k_far": 2, "seeds": 1, "steps": 20,
                                      "source_chars": 10, "k_source": 2, "digits_images": 200},
    "teaching": _CAPSTONE_TEACHING,
    "full":     _CAPSTONE_TEACHING | {"seeds": 5},
}
# fmt: on


def resolve_mode(mode: str | None = None) -> str:
    """Return the execution mode: ``mode`` if given, else ``$COURSE_MODE``, else ``teaching``."""
    source = "argument"
    if mode is None:
        mode = os.environ.get(MODE_ENV) or DEFAULT_MODE
        source = f"${MODE_ENV}" if os.environ.get(MODE_ENV) else "default"
    if not isinstance(mode, str):
        raise ModeError(
            f"mode must be a string, got {type(mode).__name__} {mode!r}; "
            f"use one of {', '.join(MODES)}."
        )
    normalized = mode.strip().lower()
    if normalized not in MODES:
        raise ModeError(
            f"Unknown mode {mode!r} (from {source}); valid modes are "
            f"{', '.join(MODES)}. Example: COURSE_MODE=smoke or mode='smoke'."
        )
    return normalized


class Sizes(Mapping):
    """Read-only knobs of one lesson in one mode; read them as ``s.epochs`` or ``s["epochs"]``."""

    def __init__(self, lesson: str, mode: str, values: Mapping[str, int | float]):
        self._lesson, self._mode, self._values = lesson, mode, dict(values)

    def __getitem__(self, key: str) -> int | float:
        try:
            return self._values[key]
        except KeyError:
            raise UnknownNameError(
                f"Lesson {self._lesson!r} has no size knob {key!r} in mode {self._mode!r}; "
                f"known knobs: {', '.join(sorted(self._values))}. Add it to SIZES in "
                "course_lib/config.py for every mode."
            ) from None

    def __getattr__(self, key: str) -> int | float:
        if key.startswith("_"):
            raise AttributeError(key)
        return self[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        knobs = ", ".join(f"{k}={v}" for k, v in self._values.items())
        return f"Sizes({self._lesson!r}, mode={self._mode!r}: {knobs})"


def sizes(lesson: str, mode: str | None = None) -> Sizes:
    """Return the size knobs of ``lesson`` (e.g. ``"00_setup"``) in ``mode``."""
    mode = resolve_mode(mode)
    if lesson not in SIZES:
        raise UnknownNameError(
            f"No size table for lesson {lesson!r}; known: {', '.join(sorted(SIZES))}."
        )
    return Sizes(lesson, mode, SIZES[lesson][mode])


# ---------------------------------------------------------------------------------------------
# Seeding
# ---------------------------------------------------------------------------------------------
def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and every framework already imported (torch, TensorFlow/Keras).

    Frameworks that are not imported yet are left alone on purpose: importing TensorFlow into a
    PyTorch kernel (or the reverse) costs seconds and can crash the process.
    """
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    seed = int(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    if "torch" in sys.modules:
        import torch

        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True, warn_only=True)
    if "tensorflow" in sys.modules or "keras" in sys.modules:
        import keras

        keras.utils.set_random_seed(seed)


def rng(seed: int) -> np.random.Generator:
    """A NumPy generator for ``seed`` — the one way the course draws random numbers."""
    return np.random.default_rng(seed)


# ---------------------------------------------------------------------------------------------
# Directories
# ---------------------------------------------------------------------------------------------
def _ensure_writable(path: Path, what: str, env: str) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as err:
        raise CacheError(
            f"The {what} {path} is not writable ({err.strerror or err}). "
            f"Set {env} to a writable directory, e.g. {env}=/tmp/course-cache."
        ) from err
    return path


def cache_dir() -> Path:
    """The cache directory (datasets, checkpoints, downloads); ``$COURSE_CACHE_DIR`` wins."""
    if os.environ.get(CACHE_ENV):
        path = Path(os.environ[CACHE_ENV]).expanduser()
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        path = Path(base) / "post-training-course"
    return _ensure_writable(path, "cache directory", CACHE_ENV)


def repo_root() -> Path | None:
    """The course checkout containing this package, or ``None`` when installed elsewhere."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "notebooks").is_dir() else None


def course_folder(name: str) -> Path:
    """A folder of the course checkout (``notebooks``, ``exercises``); a clear error without one."""
    root = repo_root()
    if root is None or not (root / name).is_dir():
        raise CourseError(
            f"Cannot find the course's {name}/ folder: run `course` from a checkout of the "
            "course (the package must be installed with `pip install -e .`)."
        )
    return root / name


def build_dir() -> Path:
    """Where runs write executed notebooks, results and figures; ``$COURSE_BUILD_DIR`` wins."""
    if os.environ.get(BUILD_ENV):
        path = Path(os.environ[BUILD_ENV]).expanduser()
    else:
        path = (repo_root() or Path.cwd()) / "build"
    return _ensure_writable(path, "build directory", BUILD_ENV)


# ---------------------------------------------------------------------------------------------
# Online check
# ---------------------------------------------------------------------------------------------
PROBE_HOSTS: tuple[tuple[str, int], ...] = (
    ("download.pytorch.org", 443),
    ("storage.googleapis.com", 443),
    ("www.cs.toronto.edu", 443),
)
_online_cache: dict[str, tuple[float, bool]] = {}


def _can_connect(host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def is_online(timeout: float = 2.0, *, refresh: bool = False) -> bool:
    """True when the download hosts answer; never takes much longer than ``timeout`` seconds.

    ``COURSE_OFFLINE=1`` forces offline (workshop Wi-Fi). The answer is cached for a minute.
    """
    if os.environ.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes"}:
        return False
    cached = _online_cache.get("online")
    if cached and not refresh and time.monotonic() - cached[0] < 60:
        return cached[1]
    # DNS lookups ignore socket timeouts: probe in daemon threads, stop waiting at the deadline.
    answers: list[bool] = []
    threads = [
        threading.Thread(
            target=lambda h=h, p=p: answers.append(_can_connect(h, p, timeout)), daemon=True
        )
        for h, p in PROBE_HOSTS
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not any(answers) and len(answers) < len(threads):
        time.sleep(0.02)
    online = any(answers)
    _online_cache["online"] = (time.monotonic(), online)
    return online
