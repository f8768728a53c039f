"""The framework-neutral half of meta-learning (lesson 04): the outer loop, tables, intervals.

The lessons write the inner loop and the meta-update themselves (that is the lesson); this module
runs them: :func:`meta_train` draws a fresh batch of tasks per iteration and shows progress,
:func:`episode_accuracies` tests a few-shot classifier on many episodes, and
:func:`adaptation_table` and :func:`mean_ci95` turn measured numbers into what the lesson prints.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from course_lib import checks, config
from course_lib.data.episodes import Episode, EpisodeSampler
from course_lib.errors import ArgumentError, ArgumentTypeError
from course_lib.training import LossWatch, check_positive_int, resolve_quiet

ADAPTATION_STEPS: tuple[int, ...] = (0, 1, 5, 10)
"""The adaptation step counts the MAML paper reports (and the lesson tabulates)."""

PAPER_MSE_K5: dict[str, dict[int, float]] = {
    "MAML (paper)": {1: 0.67, 5: 0.38, 10: 0.35},
    "pretrained (paper)": {1: 2.41, 5: 2.23, 10: 2.19},
}
"""Finn et al. 2017, sinusoid regression, K = 5: mean squared error after 1 / 5 / 10 gradient
steps, as read (approximately) from the paper's figure 2."""


def check_layer_sizes(sizes: Sequence[int]) -> list[int]:
    """The widths of an MLP, input first, e.g. ``(1, 40, 40, 1)``; a ValueError if malformed."""
    if isinstance(sizes, int | str) or not isinstance(sizes, Sequence) or len(sizes) < 2:
        raise ArgumentError(
            f"sizes must list the layer widths, input first and output last, e.g. (1, 40, 40, 1); "
            f"got {sizes!r}."
        )
    return [check_positive_int(f"sizes[{i}]", n) for i, n in enumerate(sizes)]


def check_task_weights(weight_shapes: Sequence[tuple[int, ...]], x_shape: tuple[int, ...]) -> None:
    """Check per-task weights (``[W1, b1, ...]``, each with a leading task axis) against the
    inputs ``x`` (tasks, points, features), given their shapes; a ValueError says how to fix it.
    Both frameworks' ``batched_forward`` call this."""
    if len(x_shape) != 3:
        raise ArgumentError(f"x must be (tasks, points, features), got shape {tuple(x_shape)}.")
    if not weight_shapes or len(weight_shapes) % 2:
        raise ArgumentError("weights must be [W1, b1, W2, b2, ...] as made by mlp_weights().")
    first = tuple(weight_shapes[0])
    if len(first) != 3 or first[0] != x_shape[0]:
        raise ArgumentError(
            f"weights need a leading task axis of {x_shape[0]} (one copy per task), got "
            f"W1 of shape {first}; use per_task(weights, {x_shape[0]})."
        )


def check_curve_args(lr: Any, steps: Any) -> tuple[float, int]:
    """``adaptation_curve``'s inner learning rate and step count, checked as ``fit`` checks
    its own (the same rule in both frameworks): ``(lr, steps)``."""
    return checks.learning_rate("lr", lr), check_positive_int("steps", steps)


def check_prediction_args(
    lr: Any, steps: Any, task: Any, num_tasks: int
) -> tuple[float, list[int], int]:
    """``adapted_predictions``' arguments: ``(lr, sorted step counts >= 0, task index)``."""
    if isinstance(steps, str) or not isinstance(steps, Sequence) or not steps:
        raise ArgumentError(
            f"steps must list the step counts to show, e.g. (0, 1, 10), got {steps!r}."
        )
    counts = sorted(checks.nonnegative_int(f"steps[{i}]", n) for i, n in enumerate(steps))
    task = checks.nonnegative_int("task", task)
    if task >= num_tasks:
        raise ArgumentError(f"task must be in 0..{num_tasks - 1}, got {task!r}.")
    return checks.learning_rate("lr", lr), counts, task


def warn_if_diverged(values: np.ndarray, lr: float, what: str) -> None:
    """Warn when adapting with the inner rate ``lr`` made ``values`` NaN or infinite (a learner
    may try a high rate on purpose, so a warning, not an error)."""
    values = np.asarray(values, dtype=np.float64)
    if np.isfinite(values).all():
        return
    checks.warn(
        f"{what} became NaN or infinite: the inner learning rate lr={lr:g} makes the "
        f"adaptation diverge. Try 10x smaller (lr={lr / 10:.3g})."
    )


@dataclass
class MetaHistory:
    """What :func:`meta_train` recorded: the loss of every iteration and the wall time."""

    losses: list[float] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def iterations(self) -> int:
        return len(self.losses)

    def smoothed(self, window: int = 100) -> np.ndarray:
        """The running mean of the loss over ``window`` iterations (for plots)."""
        losses = np.asarray(self.losses, dtype=float)
        window = max(1, min(window, len(losses)))
        return np.convolve(losses, np.ones(window) / window, mode="valid")


def meta_train(
    step: Callable[[Any], Any],
    sample: Callable[[np.random.Generator], Any],
    iterations: int,
    *,
    seed: int = 0,
    desc: str = "meta-training",
    quiet: bool | None = None,
) -> MetaHistory:
    """Call ``step(sample(rng))`` ``iterations`` times: one meta-update per batch of tasks.

    ``sample(rng)`` draws a batch of tasks (e.g. ``lambda rng: data.sample_sinusoid_tasks(25, 5,
    seed=rng)``); ``step(tasks)`` updates the meta-parameters and returns the loss (a number or a
    scalar tensor). The batches are drawn from one generator seeded with ``seed``.
    """
    iterations = check_positive_int("iterations", iterations)
    for name, fn in (("step", step), ("sample", sample)):
        if not callable(fn):
            raise ArgumentTypeError(f"{name} must be a function, got {type(fn).__name__}.")
    rng = config.rng(seed)
    history = MetaHistory()
    watch = LossWatch(None, what="meta-training loss")
    start = time.perf_counter()
    with tqdm(
        total=iterations,
        desc=desc,
        unit="it",
        disable=resolve_quiet(quiet),
        mininterval=0.5,
        dynamic_ncols=True,
    ) as bar:
        for i in range(iterations):
            loss = watch.check(float(step(sample(rng))), f"iteration {i + 1}/{iterations}")
            history.losses.append(loss)
            if (i + 1) % 100 == 0 or i + 1 == iterations:
                bar.set_postfix(loss=f"{np.mean(history.losses[-100:]):.3f}", refresh=False)
                bar.update((i + 1) - bar.n)
    history.wall_s = time.perf_counter() - start
    return history


def adaptation_table(
    curves: Mapping[str, Sequence[float]],
    steps: Sequence[int] = ADAPTATION_STEPS,
    *,
    reference: Mapping[str, Mapping[int, float]] | None = None,
    label: str = "MSE after N steps",
) -> str:
    """A text table: one row per method, the value after each number of adaptation ``steps``.

    ``curves[name][n]`` is the value after ``n`` steps. ``reference`` rows (e.g.
    :data:`PAPER_MSE_K5`) are printed below, with a dash where they give no number.
    """
    if not curves:
        raise ArgumentError("curves is empty: pass {method name: values after 0, 1, ... steps}.")
    for name, curve in curves.items():
        if len(curve) <= max(steps):
            raise ArgumentError(
                f"curve {name!r} has {len(curve)} values but the table needs step {max(steps)}; "
                f"evaluate at least {max(steps)} adaptation steps."
            )
    rows = {name: [f"{curve[s]:.3f}" for s in steps] for name, curve in curves.items()}
    for name, values in (reference or {}).items():
        rows[name] = [f"{values[s]:.2f}" if s in values else "–" for s in steps]
    width = max(len(label), *(len(name) for name in rows))
    lines = [f"{label:<{width}}" + "".join(f"{s:>8}" for s in steps)]
    lines += [f"{name:<{width}}" + "".join(f"{v:>8}" for v in row) for name, row in rows.items()]
    return "\n".join(lines)


def episode_accuracies(
    predict: Callable[[Episode], Any],
    sampler: EpisodeSampler,
    episodes: int,
    *,
    desc: str = "test episodes",
    quiet: bool | None = None,
) -> np.ndarray:
    """The query accuracy of ``predict`` on each of ``episodes`` episodes drawn from ``sampler``.

    ``predict(episode)`` returns one predicted label (``0 .. n_way-1``) per query image; it may
    look up precomputed features with ``episode.support_idx`` / ``episode.query_idx``.
    """
    episodes = check_positive_int("episodes", episodes)
    if not isinstance(sampler, EpisodeSampler):
        raise ArgumentTypeError(
            f"sampler must be a data.EpisodeSampler, got {type(sampler).__name__}."
        )
    accuracies = np.empty(episodes)
    for i in tqdm(
        range(episodes),
        desc=desc,
        unit="episode",
        disable=resolve_quiet(quiet),
        mininterval=0.5,
        dynamic_ncols=True,
    ):
        episode = sampler.sample()
        predicted = np.asarray(predict(episode)).reshape(-1)
        if predicted.shape != episode.query_y.shape:
            raise ArgumentError(
                f"predict returned {predicted.shape[0]} labels for {len(episode.query_y)} query "
                "images; return one label per query image (e.g. logits.argmax(axis=1))."
            )
        accuracies[i] = np.mean(predicted == episode.query_y)
    return accuracies


def mean_ci95(values: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """Mean and half-width of the normal 95 % confidence interval (1.96 standard errors)."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or len(values) < 2:
        raise ArgumentError(f"need a 1-D array of at least 2 values, got shape {values.shape}.")
    return float(values.mean()), float(1.96 * values.std(ddof=1) / np.sqrt(len(values)))


def episode_table(
    accuracies: Mapping[str, Mapping[str, Sequence[float] | np.ndarray]],
    *,
    label: str = "accuracy (95 % CI)",
) -> str:
    """A text table of episode accuracies: one row per method, one column per setting.

    ``accuracies[method][setting]`` holds the accuracy of every test episode (e.g. from
    :func:`episode_accuracies`); each cell shows the mean and the 95 % interval in percent.
    """
    if not accuracies:
        raise ArgumentError(
            "accuracies is empty: pass {method: {setting: per-episode accuracies}}."
        )
    settings: list[str] = []
    for per_setting in accuracies.values():
        settings += [s for s in per_setting if s not in settings]
    cells = {
        method: [
            "{:.1f} ± {:.1f}".format(*(100 * v for v in mean_ci95(per_setting[s])))
            if s in per_setting
            else "–"
            for s in settings
        ]
        for method, per_setting in accuracies.items()
    }
    width = max(len(label), *(len(m) for m in cells))
    col = max(13, *(len(s) + 2 for s in settings))
    lines = [f"{label:<{width}}" + "".join(f"{s:>{col}}" for s in settings)]
    lines += [f"{m:<{width}}" + "".join(f"{c:>{col}}" for c in row) for m, row in cells.items()]
    return "\n".join(lines)
