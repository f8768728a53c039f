"""Multi-task data, batches and tables for lesson 05 (framework-neutral).

One set of images, several tasks, and not every image labelled for every task: a
:class:`MultiTaskData` holds the images and, per task, one label per image, ``MISSING`` (-1)
where that image has no label for the task. :func:`glyph_tasks` builds the lesson's three tasks
from the glyphs (:func:`glyph_tasks_with_val` adds a validation set of the new task);
:func:`task_batches` draws the index batches both frameworks' ``fit_multitask`` train on;
:class:`MultiTaskTable` keeps the per-task accuracies over setups and seeds.

>>> train, test = glyph_tasks(glyphs, new_chars=100, new_k=2, source_chars=300, source_k=12)
>>> train.tasks, train.count("new")          # ('new', 'source', 'alphabet'), 200
>>> for batch in task_batches(train, batch_size=32, steps=3, seed=0): ...
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from course_lib import checks, config
from course_lib.data.types import LabelledImages
from course_lib.errors import ArgumentError, ArgumentTypeError, UnknownNameError
from course_lib.training import History, LossWatch, check_positive_int, describe, resolve_quiet

MISSING = -1
"""The label of an image that has no label for a task (PyTorch ``ignore_index``, Keras
``ignore_class``)."""


@dataclass(frozen=True)
class MultiTaskData:
    """Images ``(N, H, W)`` and, per task, labels ``(N,)`` with ``MISSING`` where unlabelled."""

    images: np.ndarray
    labels: Mapping[str, np.ndarray]
    num_classes: Mapping[str, int]
    class_names: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        checks.grayscale_images("images", self.images)
        checks.finite_array("images", self.images)
        checks.value_range("images", self.images, images=True)
        if not self.labels:
            raise ArgumentError("MultiTaskData needs at least one task in labels.")
        if set(self.labels) != set(self.num_classes):
            raise ArgumentError(
                f"labels has tasks {sorted(self.labels)} but num_classes has "
                f"{sorted(self.num_classes)}: give every task both."
            )
        for task, y in self.labels.items():
            if y.shape != (len(self.images),):
                raise ArgumentError(
                    f"task {task!r}: {y.shape} labels for {len(self.images)} images; give one "
                    f"label per image (MISSING = {MISSING} where it has none)."
                )
            checks.class_labels(
                f"task {task!r}: labels",
                y[y != MISSING],
                self.num_classes[task],
                classes_from=f"num_classes[{task!r}] is {self.num_classes[task]} (and MISSING "
                f"= {MISSING} marks an image without a label)",
            )

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        parts = ", ".join(
            f"{t}: {self.num_classes[t]} classes, {self.count(t)} labelled" for t in self.tasks
        )
        return f"MultiTaskData({len(self)} images; {parts})"

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(self.labels)

    def _check_task(self, task: str) -> None:
        if task not in self.labels:
            raise UnknownNameError(
                f"Unknown task {task!r}; this data has the tasks {', '.join(self.tasks)}."
            )

    def labelled(self, task: str) -> np.ndarray:
        """Indices of the images that have a label for ``task``."""
        self._check_task(task)
        return np.flatnonzero(self.labels[task] != MISSING)

    def count(self, task: str) -> int:
        """How many images have a label for ``task``."""
        return len(self.labelled(task))

    def only(self, tasks: str | Sequence[str]) -> MultiTaskData:
        """The same data with only ``tasks`` (and only images labelled for one of them)."""
        tasks = [tasks] if isinstance(tasks, str) else list(tasks)
        if not tasks:
            raise ArgumentError("only() needs at least one task, e.g. data.only('new').")
        for t in tasks:
            self._check_task(t)
        keep = np.flatnonzero(np.any([self.labels[t] != MISSING for t in tasks], axis=0))
        return MultiTaskData(
            self.images[keep],
            {t: self.labels[t][keep] for t in tasks},
            {t: self.num_classes[t] for t in tasks},
            {t: self.class_names[t] for t in tasks if t in self.class_names},
        )

    def task_images(self, task: str) -> LabelledImages:
        """The images labelled for ``task`` as a single-task :class:`LabelledImages`."""
        idx = self.labelled(task)
        names = self.class_names.get(task) or tuple(map(str, range(self.num_classes[task])))
        return LabelledImages(task, self.images[idx], self.labels[task][idx], names)


def check_multitask_data(data: object, what: str = "train") -> MultiTaskData:
    if not isinstance(data, MultiTaskData):
        raise ArgumentTypeError(
            f"{what} must be a MultiTaskData (see course_lib.multitask.glyph_tasks), got "
            f"{type(data).__name__}."
        )
    return data


def multitask_images(data: MultiTaskData | np.ndarray) -> np.ndarray:
    """The images of ``data`` (a :class:`MultiTaskData`, checked when built, or images
    ``(N, H, W)``, checked here) for ``predict_multitask``."""
    if isinstance(data, MultiTaskData):
        return data.images
    images = checks.grayscale_images("images", data)
    checks.finite_array("images", images)
    checks.value_range("images", images, images=True)
    return images


def check_task_outputs(widths: Mapping[str, int], data: MultiTaskData) -> None:
    """Each task's output of a multi-task model has one class score per class of the task."""
    for task in data.tasks:
        if task in widths and widths[task] != data.num_classes[task]:
            raise ArgumentError(
                f"The model's output {task!r} gives {widths[task]} class scores per image, but "
                f"task {task!r} has {data.num_classes[task]} classes (num_classes): give that "
                f"head {data.num_classes[task]} outputs."
            )


def glyph_tasks(
    glyphs: LabelledImages,
    *,
    new_chars: int,
    new_k: int,
    source_chars: int,
    source_k: int,
    test_per_char: int = 8,
    seed: int = 0,
) -> tuple[MultiTaskData, MultiTaskData]:
    """Lesson 05's three tasks on the glyphs: ``(train, test)``.

    * ``new``: ``new_chars`` characters of the held-out alphabets, only ``new_k`` labelled
      images each to train on (the data-scarce task);
    * ``source``: ``source_chars`` characters of the source alphabets, ``source_k`` each;
    * ``alphabet``: which alphabet an image comes from, labelled on every image.

    ``test`` holds ``test_per_char`` other images of every character, labelled for all tasks.
    Characters and images are drawn with ``seed``.
    """
    train, _, test = _glyph_tasks(glyphs, new_chars, new_k, source_chars, source_k,
                                  test_per_char, 0, seed)  # fmt: skip
    return train, test


def glyph_tasks_with_val(
    glyphs: LabelledImages,
    *,
    new_chars: int,
    new_k: int,
    source_chars: int,
    source_k: int,
    val_per_char: int,
    test_per_char: int = 8,
    seed: int = 0,
) -> tuple[MultiTaskData, MultiTaskData, MultiTaskData]:
    """:func:`glyph_tasks` plus a validation set of the new task: ``(train, val, test)``.

    ``train`` and ``test`` are exactly those of :func:`glyph_tasks` with the same arguments;
    ``val`` holds ``val_per_char`` further images of every *new* character, labelled for
    ``new`` and ``alphabet`` (watch or choose on ``val``, report ``test`` once).
    """
    check_positive_int("val_per_char", val_per_char)
    return _glyph_tasks(glyphs, new_chars, new_k, source_chars, source_k, test_per_char,
                        val_per_char, seed)  # fmt: skip


def _glyph_tasks(
    glyphs: LabelledImages,
    new_chars: int,
    new_k: int,
    source_chars: int,
    source_k: int,
    test_per_char: int,
    val_per_char: int,
    seed: int,
) -> tuple[MultiTaskData, MultiTaskData, MultiTaskData]:
    from course_lib.data.glyphs import glyph_split

    if not isinstance(glyphs, LabelledImages) or glyphs.class_groups is None:
        raise ArgumentTypeError("glyphs must be the LabelledImages of data.load_glyphs().")
    for name, value in (("new_chars", new_chars), ("new_k", new_k),
                        ("source_chars", source_chars), ("source_k", source_k),
                        ("test_per_char", test_per_char)):  # fmt: skip
        check_positive_int(name, value)
    per_char = np.bincount(glyphs.labels, minlength=glyphs.num_classes).min()
    if max(new_k, source_k) + test_per_char > per_char:
        raise ArgumentError(
            f"{max(new_k, source_k)} training + {test_per_char} test images per character, but "
            f"the glyphs have {per_char}: lower them or load more samples per character."
        )
    if new_k + test_per_char + val_per_char > per_char:
        raise ArgumentError(
            f"new task: {new_k} training + {test_per_char} test + {val_per_char} validation "
            f"images per character, but the glyphs have {per_char}: lower them or load more "
            "samples per character."
        )
    split = glyph_split(glyphs)
    in_group = {
        side: np.flatnonzero(
            np.isin(glyphs.class_groups, [glyphs.group_names.index(a) for a in names])
        )
        for side, names in (("new", split.target), ("source", split.source))
    }
    for side, want in (("new", new_chars), ("source", source_chars)):
        if want > len(in_group[side]):
            raise ArgumentError(
                f"{side}_chars={want}, but the {side} alphabets have {len(in_group[side])} "
                "characters."
            )
    r = config.rng(seed)
    chosen = {"new": r.choice(in_group["new"], new_chars, replace=False),
              "source": r.choice(in_group["source"], source_chars, replace=False)}  # fmt: skip
    k = {"new": new_k, "source": source_k}
    parts: dict[str, list] = {"train": [], "val": [], "test": []}
    for side in ("new", "source"):
        for i, c in enumerate(chosen[side]):
            idx = r.permutation(np.flatnonzero(glyphs.labels == c))
            end = test_per_char + k[side]
            for part, take in (("test", idx[:test_per_char]),
                               ("train", idx[test_per_char:end])):  # fmt: skip
                parts[part].append((take, side, i, int(glyphs.class_groups[c])))
            if side == "new" and val_per_char:  # after train and test: they stay as without
                parts["val"].append((idx[end : end + val_per_char], side, i,
                                     int(glyphs.class_groups[c])))  # fmt: skip

    def build(rows: list) -> MultiTaskData:
        idx = np.concatenate([take for take, *_ in rows])
        labels = {t: np.full(len(idx), MISSING, dtype=np.int64) for t in ("new", "source")}
        labels["alphabet"] = np.empty(len(idx), dtype=np.int64)
        start = 0
        for take, side, i, group in rows:
            labels[side][start : start + len(take)] = i
            labels["alphabet"][start : start + len(take)] = group
            start += len(take)
        return MultiTaskData(
            glyphs.images[idx],
            labels,
            {"new": new_chars, "source": source_chars, "alphabet": len(glyphs.group_names)},
            {
                "new": tuple(glyphs.class_names[c] for c in chosen["new"]),
                "source": tuple(glyphs.class_names[c] for c in chosen["source"]),
                "alphabet": tuple(glyphs.group_names),
            },
        )

    val = build(parts["val"]).only(["new", "alphabet"]) if parts["val"] else None
    return build(parts["train"]), val, build(parts["test"])  # type: ignore[return-value]


def task_batches(
    data: MultiTaskData, batch_size: int, steps: int, seed: int = 0
) -> Iterator[np.ndarray]:
    """``steps`` index batches: each task gets ``batch_size`` of its own labelled images a step.

    The images of the tasks' sub-batches are put together into one batch (one forward pass
    through the shared trunk); every head is trained on the images of the batch labelled for
    it. A task labelled on every image (the alphabet) adds no sub-batch of its own while
    another task needs one: it learns from the other tasks' images. Sampling is without
    replacement within a step (a task with fewer labelled images than ``batch_size`` gives all of
    them) and fixed by ``seed``.
    """
    data = check_multitask_data(data, "data")
    check_positive_int("batch_size", batch_size)
    check_positive_int("steps", steps)
    pools = [data.labelled(t) for t in data.tasks]
    sparse = [p for p in pools if len(p) < len(data)]
    pools = sparse or [np.arange(len(data))]
    r = config.rng(seed)
    for _ in range(steps):
        yield np.concatenate([r.choice(p, min(batch_size, len(p)), replace=False) for p in pools])


def task_accuracies(outputs: Mapping[str, np.ndarray], data: MultiTaskData) -> dict[str, float]:
    """Accuracy per task over the images labelled for it (outputs: task -> logits ``(N, C)``)."""
    out = {}
    for task in data.tasks:
        if task not in outputs:
            continue
        idx = data.labelled(task)
        logits = np.asarray(outputs[task])
        if logits.shape != (len(data), data.num_classes[task]):
            raise ArgumentError(
                f"outputs[{task!r}] has shape {logits.shape}; expected ({len(data)}, "
                f"{data.num_classes[task]}): one row of logits per image."
            )
        out[task] = float((logits[idx].argmax(axis=1) == data.labels[task][idx]).mean())
    return out


@dataclass
class MultiTaskTable:
    """Test accuracy per task for several training setups, one number per seed.

    >>> table = MultiTaskTable(("new", "source"))
    >>> table.add("single-task", seed=0, new=0.43, source=0.75)
    >>> table.add("multi-task", seed=0, new=0.55, source=0.67)
    >>> table.gain("multi-task", "single-task", "new")   # points
    """

    tasks: tuple[str, ...]
    scores: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    def add(self, setup: str, seed: int, **accuracies: float) -> None:
        """Record one seed's accuracies (fractions) of ``setup``, for some or all tasks."""
        unknown = set(accuracies) - set(self.tasks)
        if unknown:
            raise UnknownNameError(
                f"Unknown task(s) {sorted(unknown)}; this table has {', '.join(self.tasks)}."
            )
        row = self.scores.setdefault(setup, {})
        for task, value in accuracies.items():
            row.setdefault(task, []).append(float(value))

    def values(self, setup: str, task: str) -> np.ndarray:
        if setup not in self.scores:
            raise UnknownNameError(
                f"No setup {setup!r} in the table; it has {', '.join(self.scores) or 'none'}."
            )
        if task not in self.scores[setup]:
            raise UnknownNameError(f"Setup {setup!r} has no accuracy for task {task!r}.")
        return np.asarray(self.scores[setup][task])

    def mean(self, setup: str, task: str) -> float:
        """Mean accuracy over seeds, in percent."""
        return float(100 * self.values(setup, task).mean())

    def std(self, setup: str, task: str) -> float:
        """Standard deviation over seeds (ddof=1; 0 for one seed), in percent."""
        v = self.values(setup, task)
        return float(100 * v.std(ddof=1)) if v.size > 1 else 0.0

    def gain(self, better: str, worse: str, task: str) -> float:
        """Mean accuracy points ``better`` is ahead of ``worse`` on ``task``."""
        return self.mean(better, task) - self.mean(worse, task)

    def table(self) -> str:
        """One row per setup, one column per task: ``mean ± std`` in %, ``–`` where not trained."""
        name_w = max(len("setup"), *(len(s) for s in self.scores)) if self.scores else 5
        head = f"{'setup':<{name_w}} | " + " | ".join(f"{t:>13}" for t in self.tasks)
        lines = [head, "-" * len(head)]
        seeds = 0
        for setup, row in self.scores.items():
            cells = []
            for task in self.tasks:
                if task in row:
                    cells.append(f"{self.mean(setup, task):6.1f} ± {self.std(setup, task):4.1f}")
                    seeds = max(seeds, len(row[task]))
                else:
                    cells.append(f"{'–':>13}")
            lines.append(f"{setup:<{name_w}} | " + " | ".join(cells))
        lines.append(f"(test accuracy in %, mean ± std over {seeds} seed(s))")
        return "\n".join(lines)

    def as_metrics(self) -> dict[str, float]:
        """``{"<setup>_<task>": mean accuracy (fraction)}`` for a results file."""
        return {
            re.sub(r"[^a-z0-9]+", "_", f"{setup}_{task}".lower()).strip("_"): self.mean(setup, task)
            / 100
            for setup, row in self.scores.items()
            for task in row
        }


StepFn = Callable[[np.ndarray], Mapping[str, float]]
"""``step(indices) -> {"loss": total, "<task>": that task's loss}``: one optimizer step."""


def check_loss_weights(
    tasks: Sequence[str], loss_weights: Mapping[str, float] | None, weighting: object
) -> dict[str, float]:
    """The static weight of every task (1.0 when not given); clear errors for bad weights."""
    if loss_weights is not None and weighting is not None:
        raise ArgumentError(
            "Give loss_weights (static weights) or weighting (a learned scheme), not both."
        )
    if weighting is not None and not callable(weighting):
        raise ArgumentTypeError(
            f"weighting must be callable as weighting(losses) -> total loss, got "
            f"{type(weighting).__name__}."
        )
    weights = {t: 1.0 for t in tasks}
    if loss_weights is None:
        return weights
    if not isinstance(loss_weights, Mapping):
        raise ArgumentTypeError(
            f"loss_weights must be a dict task -> weight, e.g. {{'new': 1.0, 'source': 0.5}}, got "
            f"{type(loss_weights).__name__}."
        )
    unknown = set(loss_weights) - set(tasks)
    if unknown:
        raise UnknownNameError(
            f"loss_weights names unknown task(s) {sorted(unknown)}; the tasks are "
            f"{', '.join(tasks)}."
        )
    for task, w in loss_weights.items():
        if isinstance(w, bool) or not isinstance(w, int | float) or not w >= 0:
            raise ArgumentError(f"loss_weights[{task!r}] must be a number >= 0, got {w!r}.")
        weights[task] = float(w)
    return weights


def check_fit_multitask_args(
    train: object,
    val: object,
    *,
    steps: object,
    lr: object,
    batch_size: object,
    loss_weights: Mapping[str, float] | None,
    weighting: object,
) -> tuple[MultiTaskData, float, dict[str, float]]:
    """Both frameworks' ``fit_multitask`` checks, before any work: ``(train, lr, weights)``."""
    train = check_multitask_data(train)
    if val is not None:
        check_multitask_data(val, "val")
    check_positive_int("steps", steps)
    check_positive_int("batch_size", batch_size)
    weights = check_loss_weights(train.tasks, loss_weights, weighting)
    return train, checks.learning_rate("lr", lr), weights


def run_steps(
    step: StepFn,
    data: MultiTaskData,
    *,
    steps: int,
    batch_size: int,
    seed: int,
    log_every: int | None,
    quiet: bool | None,
    validate: Callable[[], Mapping[str, float]] | None = None,
    task_weights: Callable[[], Mapping[str, float]] | None = None,
    lr: float | None = None,
) -> History:
    """The training loop both frameworks' ``fit_multitask`` share: batches, logs, progress.

    Every ``log_every`` steps (default: ``steps // 20``) the history gets one entry: the
    ``step`` number, the mean total ``loss`` and per-task losses ``loss_<task>`` over those
    steps, the validation accuracy ``val_<task>`` (``validate()``) and the current weight
    ``weight_<task>`` of each task (``task_weights()``, for a learned weighting). A total loss
    that becomes NaN or infinite stops training (:class:`~course_lib.errors.NonFiniteLossError`,
    naming ``lr``).
    """
    check_positive_int("steps", steps)
    log_every = (
        max(1, steps // 20) if log_every is None else check_positive_int("log_every", log_every)
    )
    history = History()
    watch = LossWatch(lr)
    sums: dict[str, float] = {}
    n = 0
    start = time.perf_counter()
    with tqdm(total=steps, desc="steps", unit="step", disable=resolve_quiet(quiet),
              mininterval=0.5, dynamic_ncols=True) as bar:  # fmt: skip
        for i, batch in enumerate(task_batches(data, batch_size, steps, seed), 1):
            losses = step(batch)
            watch.check(float(losses["loss"]), f"step {i}/{steps}")
            for key, value in losses.items():
                sums[key] = sums.get(key, 0.0) + float(value)
            n += 1
            bar.update()
            if i % log_every == 0 or i == steps:
                logs = {"step": float(i)}
                logs |= {("loss" if k == "loss" else f"loss_{k}"): v / n for k, v in sums.items()}
                if validate is not None:
                    logs |= {f"val_{t}": a for t, a in validate().items()}
                if task_weights is not None:
                    logs |= {f"weight_{t}": float(w) for t, w in task_weights().items()}
                history.append(logs)
                bar.set_postfix_str(describe({k: v for k, v in logs.items() if k != "step"}))
                sums, n = {}, 0
    history.wall_s = time.perf_counter() - start
    return history
