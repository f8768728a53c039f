"""Lesson 06, the capstone: the playbook, its one cheap measurement, and the strategy table.

A new problem arrives with a handful of labels. Before training anything, three questions decide
which strategies to try first (:func:`playbook`):

1. **How many labels per class?**  Few (≤ 5): reuse the pretrained features, train little.
2. **How close is the source domain?**  Measured in seconds, without training and without
   any test label (:func:`closeness`): classify each of the K labelled training images by the
   nearest mean of the *other* training images (leave-one-out), once on raw pixels and once on
   the pretrained network's features. If the features beat the pixels by many points, the
   source network already "sees" this domain.
3. **Is there a related task with many labels?**  Then a shared trunk can borrow from it
   (lesson 05; :func:`with_source_task` builds the two-task training set).

Everything here is framework-neutral NumPy; the strategies themselves live in the notebook.

>>> closeness(train, cl.features(pretrained, train))  # points: features minus pixels
>>> for advice in playbook(labels_per_class=5, closeness_points=31.0, related_task=True): ...
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from course_lib import config
from course_lib.data.types import LabelledImages
from course_lib.errors import UnknownNameError
from course_lib.multitask import MISSING, MultiTaskData
from course_lib.training import check_positive_int

STRATEGIES: tuple[str, ...] = (
    "from scratch",
    "linear probe",
    "prototypes",
    "gradual unfreezing",
    "regularized fine-tune",
    "multi-task",
)
"""The candidate strategies, in the order of the lessons that taught them (01 01 04 02 03 05)."""

CLOSE_ALPHABET = "Canadian Syllabics"
"""The close problem's script: held out from pretraining, never a task of its own before."""
CLOSE_POINTS = 10.0
"""Features beating pixels by at least this many points (:func:`closeness`) counts as close.

Set from the leave-one-out measurement on lesson 06's two problems (teaching mode, seeds 0-2,
PyTorch and Keras): the close script (K = 5) measured +27.3 to +39.3 points, the far digits
(K = 10) -5.0 to -1.0. 10 sits in that gap with 11 points of margin above the highest far
value and 17 below the lowest close one (the old test-label measurement gave the same picture:
+26 to +32 and -7 to -2, so the value stays 10)."""
FEW_LABELS = 5
"""At most this many labels per class counts as few."""


@dataclass(frozen=True)
class Advice:
    """One strategy the playbook suggests trying, and why (with the lesson that showed it)."""

    strategy: str
    reason: str

    def __str__(self) -> str:
        return f"{self.strategy}: {self.reason}"


def _features_2d(name: str, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(
            f"{name} must be (N, features) or images (N, H, W) with N >= 1, got shape {x.shape}."
        )
    return x.reshape(len(x), -1)


def _labels(name: str, y: np.ndarray, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name} must be {n} integer labels, got shape {y.shape} ({y.dtype}).")
    return y


def nearest_class_mean(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray) -> np.ndarray:
    """Predict each test row's class as the class whose mean training row is nearest (Euclid).

    The prototypes of lesson 04, without any training: works on pixels or on features.
    """
    train_x, test_x = _features_2d("train_x", train_x), _features_2d("test_x", test_x)
    train_y = _labels("train_y", train_y, len(train_x))
    if train_x.shape[1] != test_x.shape[1]:
        raise ValueError(
            f"train_x has {train_x.shape[1]} features per row but test_x has {test_x.shape[1]}: "
            "compute both with the same network (or both on pixels)."
        )
    classes = np.unique(train_y)
    means = np.stack([train_x[train_y == c].mean(0) for c in classes])
    # |a - m|^2 = |a|^2 - 2 a.m + |m|^2, without the (N, C, D) array
    d = (test_x**2).sum(1, keepdims=True) - 2 * test_x @ means.T + (means**2).sum(1)
    return classes[d.argmin(1)]


def nearest_class_mean_accuracy(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray
) -> float:
    """Test accuracy (a fraction) of :func:`nearest_class_mean`."""
    predictions = nearest_class_mean(train_x, train_y, test_x)
    test_y = _labels("test_y", test_y, len(predictions))
    return float((predictions == test_y).mean())


def leave_one_out_accuracy(x: np.ndarray, y: np.ndarray) -> float:
    """Leave-one-out accuracy (a fraction) of :func:`nearest_class_mean` on labelled rows alone.

    Each row is classified by the class means of all *other* rows (its own class's mean is
    recomputed without it), so no held-out labels are needed. Every class needs at least 2 rows.
    """
    x = _features_2d("x", x)
    y = _labels("y", y, len(x))
    classes, index, counts = np.unique(y, return_inverse=True, return_counts=True)
    if len(classes) < 2:
        raise ValueError(f"leave-one-out needs at least 2 classes, got {len(classes)}.")
    if counts.min() < 2:
        lonely = classes[counts.argmin()]
        raise ValueError(
            f"leave-one-out needs at least 2 labelled images per class, but class {lonely} has "
            f"{counts.min()}: with one image, its class has no mean once that image is left out. "
            "Use K >= 2 labels per class."
        )
    sums = np.stack([x[index == c].sum(0) for c in range(len(classes))])
    means = sums / counts[:, None]
    d = (x**2).sum(1, keepdims=True) - 2 * x @ means.T + (means**2).sum(1)
    own = (sums[index] - x) / (counts[index] - 1)[:, None]  # own class's mean without the row
    d[np.arange(len(x)), index] = ((x - own) ** 2).sum(1)
    return float((d.argmin(1) == index).mean())


def closeness(train: LabelledImages, train_features: np.ndarray) -> dict[str, float]:
    """How close the target is to the source, in accuracy points, measured without training.

    Uses only the K labelled training images: leave-one-out nearest-class-mean accuracy
    (:func:`leave_one_out_accuracy`) on raw pixels and on the pretrained features
    (``cl.features(pretrained, train)``). Returns ``{"pixels": %, "features": %,
    "points": features - pixels}``. No test label is read, so the measurement can choose what
    to try without touching the test set the choice is judged on. Needs K >= 2 per class.
    """
    if not isinstance(train, LabelledImages):
        raise TypeError(
            f"train must be a LabelledImages (the K labelled images), got {type(train).__name__}."
        )
    rows = len(np.asarray(train_features))
    if rows != len(train):
        raise ValueError(
            f"train_features has {rows} rows for {len(train)} train images; compute them as "
            "cl.features(pretrained, train)."
        )
    pixels = 100 * leave_one_out_accuracy(train.images, train.labels)
    features = 100 * leave_one_out_accuracy(train_features, train.labels)
    return {"pixels": pixels, "features": features, "points": features - pixels}


def playbook(labels_per_class: int, closeness_points: float, related_task: bool) -> list[Advice]:
    """The strategies to try first, best bet first, each with the reason from an earlier lesson.

    ``closeness_points``: :func:`closeness`'s ``"points"``; ``related_task``: whether a related
    task with many labels is at hand (for multi-task learning).
    """
    k = check_positive_int("labels_per_class", labels_per_class)
    if isinstance(closeness_points, bool) or not isinstance(closeness_points, int | float):
        raise TypeError(
            f"closeness_points must be a number (closeness(...)['points']), got "
            f"{closeness_points!r}."
        )
    if not isinstance(related_task, bool):
        raise TypeError(f"related_task must be True or False, got {related_task!r}.")
    close, few = closeness_points >= CLOSE_POINTS, k <= FEW_LABELS
    advice: list[Advice] = []
    if close:
        advice.append(Advice("linear probe" if few else "gradual unfreezing",
                             "the pretrained features already separate this domain "
                             "(lesson 01); with few labels, train as little as possible"
                             if few else "close domain and enough labels to adapt the top "
                             "blocks gently (lesson 02)"))  # fmt: skip
        advice.append(Advice("gradual unfreezing" if few else "linear probe",
                             "unfreezing top-first with a small rate rarely hurts a close "
                             "domain (lesson 02)" if few else "the cheap baseline to beat: "
                             "frozen features, a new head (lesson 01)"))  # fmt: skip
        if few:
            advice.append(Advice("prototypes", "no training at all, and close behind when the "
                                 "features fit the domain (lesson 04)"))  # fmt: skip
    else:
        if related_task:
            advice.append(Advice("multi-task", "a far domain needs the trunk to change; a "
                                 "related task with many labels keeps it from overfitting the "
                                 "few target labels (lesson 05)"))  # fmt: skip
        advice.append(Advice("from scratch", "the features barely beat raw pixels here, so "
                             "pretraining buys little: scratch is a real contender (lesson 02, "
                             "digits)"))  # fmt: skip
        advice.append(Advice("gradual unfreezing", "if you start from the pretrained network, "
                             "let the backbone adapt: a frozen probe stays behind on a far "
                             "domain (lesson 02)"))  # fmt: skip
    return advice


def shortlist(advice: Sequence[Advice]) -> list[str]:
    """The strategy names of :func:`playbook`'s advice, in order."""
    return [a.strategy for a in advice]


def with_source_task(
    train: LabelledImages, source: LabelledImages, *, chars: int, per_char: int, seed: int = 0
) -> MultiTaskData:
    """The target's training images plus ``chars`` source classes × ``per_char`` images, as
    two tasks ``"target"`` and ``"source"`` (each image labelled for one, ``MISSING`` for the
    other) for ``fit_multitask``. Source classes and images are drawn with ``seed``."""
    for name, part in (("train", train), ("source", source)):
        if not isinstance(part, LabelledImages):
            raise TypeError(f"{name} must be a LabelledImages, got {type(part).__name__}.")
    chars, per_char = check_positive_int("chars", chars), check_positive_int("per_char", per_char)
    if train.image_shape != source.image_shape:
        raise ValueError(
            f"target images are {train.image_shape} but source images are {source.image_shape}; "
            "load both at the same size (e.g. data.load_digits(image_size=28))."
        )
    if chars > source.num_classes:
        raise ValueError(f"chars={chars}, but the source has {source.num_classes} classes.")
    counts = np.bincount(source.labels, minlength=source.num_classes)
    r = config.rng(seed)
    classes = r.choice(source.num_classes, chars, replace=False)
    if counts[classes].min() < per_char:
        raise ValueError(
            f"per_char={per_char}, but some chosen source class has only "
            f"{counts[classes].min()} images; lower per_char."
        )
    picked = np.concatenate(
        [r.permutation(np.flatnonzero(source.labels == c))[:per_char] for c in classes]
    )
    relabel = np.empty(source.num_classes, dtype=np.int64)
    relabel[classes] = np.arange(chars)
    n, m = len(train), len(picked)
    return MultiTaskData(
        np.concatenate([train.images, source.images[picked]]).astype(np.float32),
        {
            "target": np.concatenate([train.labels, np.full(m, MISSING)]).astype(np.int64),
            "source": np.concatenate([np.full(n, MISSING), relabel[source.labels[picked]]]),
        },
        {"target": train.num_classes, "source": chars},
        {
            "target": tuple(train.class_names),
            "source": tuple(source.class_names[c] for c in classes),
        },
    )


def as_task(data: LabelledImages, task: str = "target") -> MultiTaskData:
    """A single-task :class:`MultiTaskData` of ``data`` (to evaluate a multi-head model on it)."""
    if not isinstance(data, LabelledImages):
        raise TypeError(f"data must be a LabelledImages, got {type(data).__name__}.")
    return MultiTaskData(
        data.images,
        {task: data.labels.astype(np.int64)},
        {task: data.num_classes},
        {task: tuple(data.class_names)},
    )


def check_strategies(names: Sequence[str]) -> list[str]:
    """``names`` if every one is a known strategy (see :data:`STRATEGIES`), else a clear error."""
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown:
        raise UnknownNameError(
            f"Unknown strategy {unknown[0]!r}; the capstone's strategies are "
            f"{', '.join(STRATEGIES)}."
        )
    return list(names)


def best_of(means: Mapping[str, float], names: Sequence[str]) -> tuple[str, float]:
    """The name among ``names`` with the highest value in ``means``, and that value."""
    check_strategies(names)
    missing = [n for n in names if n not in means]
    if missing:
        raise UnknownNameError(f"No result for {missing[0]!r}; results exist for {list(means)}.")
    best = max(names, key=lambda n: means[n])
    return best, float(means[best])
