"""Figures the lessons share: image grids, learning curves, comparison bars, feature spaces,
weight histograms, sinusoid tasks and how fast a model adapts to them.

Every function returns a matplotlib figure sized for a notebook column. :func:`save_figure` writes
one to ``build/figures/`` where ``course report`` picks it up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from course_lib.data.sinusoids import X_RANGE, SinusoidTasks
from course_lib.errors import UnknownNameError
from course_lib.training import History

NOTEBOOK_WIDTH = 9.0  # inches: a figure this wide fills a JupyterLab column without scrolling


def image_grid(
    images: np.ndarray,
    titles: Sequence[str] | None = None,
    *,
    ncols: int = 10,
    size: float = 1.0,
    row_labels: Sequence[str] | None = None,
    suptitle: str | None = None,
) -> plt.Figure:
    """Draw ``(N, H, W)`` grayscale images (ink dark) or ``(N, H, W, 3)`` RGB photos in a grid,
    with optional titles and row labels."""
    images = np.asarray(images)
    rgb = images.ndim == 4 and images.shape[-1] == 3
    if not (images.ndim == 3 or rgb) or len(images) == 0:
        raise ValueError(
            f"images must be a non-empty (N, H, W) or (N, H, W, 3) array, got shape {images.shape}."
        )
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"got {len(titles)} titles for {len(images)} images.")
    ncols = max(1, min(ncols, len(images)))
    nrows = -(-len(images) // ncols)
    if row_labels is not None and len(row_labels) != nrows:
        raise ValueError(f"got {len(row_labels)} row labels for {nrows} rows.")
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(ncols * size, nrows * size * 1.15), squeeze=False
    )
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            if rgb:
                ax.imshow(np.clip(images[i], 0, 1))
            else:
                ax.imshow(images[i], cmap="gray_r", vmin=0, vmax=1)
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=8)
    for r, label in enumerate(row_labels or []):
        axes[r, 0].text(
            -0.15, 0.5, label, transform=axes[r, 0].transAxes, ha="right", va="center", fontsize=8
        )
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_sinusoid_tasks(tasks: SinusoidTasks, *, max_tasks: int = 5) -> plt.Figure:
    """The true curves of a few sinusoid tasks with their support points."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    x = np.linspace(*X_RANGE, 200)
    for t in range(min(max_tasks, len(tasks))):
        (line,) = ax.plot(
            x,
            tasks.curve(t, x),
            lw=1.5,
            label=f"A={tasks.amplitude[t]:.2f}, phase={tasks.phase[t]:.2f}",
        )
        ax.scatter(tasks.x_support[t, :, 0], tasks.y_support[t, :, 0], color=line.get_color(), s=18)
    ax.set(xlabel="x", ylabel="y", title="Sinusoid tasks: curves and their K support points")
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return fig


def plot_adaptation_curves(
    curves: Mapping[str, Sequence[float]],
    *,
    reference: Mapping[str, Mapping[int, float]] | None = None,
    ylabel: str = "query MSE",
    title: str = "Unseen tasks: error after N adaptation steps",
) -> plt.Figure:
    """One line per method: the error after 0, 1, 2, ... adaptation steps; ``reference``
    points (e.g. the paper's numbers) as markers in the matching colour order."""
    if not curves:
        raise ValueError("curves is empty: pass {method name: values after 0, 1, ... steps}.")
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for name, curve in curves.items():
        ax.plot(np.arange(len(curve)), curve, marker="o", ms=3, lw=1.6, label=name)
    for name, values in (reference or {}).items():
        steps = sorted(values)
        ax.plot(
            steps,
            [values[s] for s in steps],
            ls="none",
            marker="x",
            ms=7,
            color="0.3",
            label=name if len(reference or {}) == 1 else None,
        )
        ax.annotate(
            name,
            (steps[-1], values[steps[-1]]),
            textcoords="offset points",
            xytext=(4, 4),
            fontsize=7,
            color="0.3",
        )
    ax.set(xlabel="adaptation steps (SGD on the K support points)", ylabel=ylabel, title=title)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_sinusoid_adaptation(
    tasks: SinusoidTasks,
    predictions: Mapping[str, Mapping[int, np.ndarray]],
    x_grid: np.ndarray,
    *,
    task: int = 0,
) -> plt.Figure:
    """The MAML paper's picture: one panel per method with the true curve of task ``task``,
    its K support points and the prediction after each number of adaptation steps."""
    if not predictions:
        raise ValueError("predictions is empty: pass {method name: {steps: prediction}}.")
    fig, axes = plt.subplots(
        1, len(predictions), figsize=(NOTEBOOK_WIDTH, 3.4), sharey=True, squeeze=False
    )
    shades = plt.cm.viridis(np.linspace(0.85, 0.15, max(len(p) for p in predictions.values())))
    for ax, (name, by_steps) in zip(axes[0], predictions.items(), strict=True):
        ax.plot(x_grid, tasks.curve(task, x_grid), color="red", lw=2, label="true function")
        for shade, (steps, y) in zip(shades, sorted(by_steps.items()), strict=False):
            style = "--" if steps == 0 else "-"
            ax.plot(x_grid, y, style, color=shade, lw=1.6, label=f"after {steps} steps")
        ax.scatter(
            tasks.x_support[task, :, 0],
            tasks.y_support[task, :, 0],
            color="black",
            marker="^",
            s=40,
            zorder=3,
            label=f"K = {tasks.x_support.shape[1]} points",
        )
        ax.set(title=name, xlabel="x")
    axes[0, 0].set_ylabel("y")
    axes[0, -1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def plot_episode_accuracies(
    accuracies: Mapping[str, Mapping[str, Sequence[float] | np.ndarray]],
    *,
    title: str = "Few-shot accuracy on unseen characters",
) -> plt.Figure:
    """Grouped bars: the mean episode accuracy of each method in each setting (e.g. "1-shot"),
    with its 95 % confidence interval as an error bar."""
    from course_lib.meta import mean_ci95

    if not accuracies:
        raise ValueError("accuracies is empty: pass {method: {setting: per-episode accuracies}}.")
    settings: list[str] = []
    for per_setting in accuracies.values():
        settings += [s for s in per_setting if s not in settings]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    width = 0.8 / len(accuracies)
    for i, (method, per_setting) in enumerate(accuracies.items()):
        stats = [mean_ci95(per_setting[s]) if s in per_setting else (np.nan, 0.0) for s in settings]
        xs = np.arange(len(settings)) + (i - (len(accuracies) - 1) / 2) * width
        means = [100 * m for m, _ in stats]
        bars = ax.bar(xs, means, width, yerr=[100 * c for _, c in stats], capsize=3, label=method)
        ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=2)
    ax.set_xticks(np.arange(len(settings)), settings)
    ax.set(ylabel="query accuracy (%)", title=title)
    low = min(100 * np.mean(v) for p in accuracies.values() for v in p.values())
    ax.set_ylim(max(0.0, low - 15), 101)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def _as_histories(history: Any) -> dict[str, dict[str, list[float]]]:
    """One run (History or dict of lists) or a mapping label -> run, as label -> dict of lists."""
    if isinstance(history, History):
        return {"": history.as_dict()}
    if isinstance(history, Mapping) and history:
        first = next(iter(history.values()))
        if isinstance(first, History | Mapping):
            return {
                str(label): (h.as_dict() if isinstance(h, History) else dict(h))
                for label, h in history.items()
            }
        return {"": dict(history)}
    raise TypeError(
        "history must be a History from fit(), a dict like {'loss': [...]}, or a dict of those "
        f"keyed by run name; got {type(history).__name__}."
    )


def plot_history(
    history: Any, metrics: Sequence[str] | None = None, *, title: str | None = None
) -> plt.Figure:
    """Learning curves: one panel per metric (``loss``, ``accuracy``), train solid, val dashed.

    ``history``: a :class:`~course_lib.training.History`, or ``{"run name": history, ...}`` to
    overlay several runs (e.g. from scratch vs pretrained).
    """
    runs = _as_histories(history)
    available = [k for k in next(iter(runs.values())) if not k.startswith("val_")]
    metrics = list(metrics) if metrics is not None else available
    for label, run in runs.items():
        for metric in metrics:
            if metric not in run:
                where = f" in run {label!r}" if label else ""
                raise UnknownNameError(
                    f"No metric {metric!r}{where}; the history has {', '.join(run)}."
                )
    fig, axes = plt.subplots(
        1, len(metrics), figsize=(min(NOTEBOOK_WIDTH, 4.5 * len(metrics)), 3.2), squeeze=False
    )
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, metric in zip(axes[0], metrics, strict=True):
        for i, (label, run) in enumerate(runs.items()):
            color = colors[i % len(colors)]
            epochs = np.arange(1, len(run[metric]) + 1)
            prefix = f"{label} " if label else ""
            ax.plot(epochs, run[metric], "-o", ms=3, color=color, label=f"{prefix}train")
            if f"val_{metric}" in run:
                ax.plot(
                    epochs,
                    run[f"val_{metric}"],
                    "--s",
                    ms=3,
                    color=color,
                    label=f"{prefix}validation",
                )
        ax.set(xlabel="epoch", ylabel=metric, title=metric)
        ax.grid(alpha=0.3)
        if len(epochs) <= 12:
            ax.set_xticks(epochs)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_comparison(
    values: Mapping[str, Sequence[float]],
    *,
    ylabel: str = "accuracy",
    title: str | None = None,
    percent: bool = False,
) -> plt.Figure:
    """Bars of the mean per strategy with error bars (std over seeds) and each seed as a dot.

    ``values``: ``{"from scratch": [0.61, 0.58, 0.63], "fine-tuned": [...]}``, one number per seed.
    """
    if not isinstance(values, Mapping) or not values:
        raise TypeError("values must be a non-empty dict like {'strategy': [score per seed]}.")
    scale = 100.0 if percent else 1.0
    names = list(values)
    data = []
    for name in names:
        seeds = np.asarray(values[name], dtype=float).ravel() * scale
        if seeds.size == 0 or not np.all(np.isfinite(seeds)):
            raise ValueError(f"{name!r} needs one or more finite numbers, got {values[name]!r}.")
        data.append(seeds)
    means = np.array([d.mean() for d in data])
    stds = np.array([d.std(ddof=1) if d.size > 1 else 0.0 for d in data])
    fig, ax = plt.subplots(figsize=(min(NOTEBOOK_WIDTH, 1.6 + 1.4 * len(names)), 3.4))
    x = np.arange(len(names))
    ax.bar(x, means, yerr=stds, capsize=5, color="#9ecae1", edgecolor="#3182bd", zorder=2)
    jitter = np.random.default_rng(0)
    for i, d in enumerate(data):
        ax.scatter(i + jitter.uniform(-0.12, 0.12, d.size), d, s=14, color="#08519c", zorder=3)
        ax.annotate(
            f"{means[i]:.1f} ± {stds[i]:.1f}" if percent else f"{means[i]:.3f}",
            (i, means[i] + stds[i]),
            textcoords="offset points",
            xytext=(0, 4),
            ha="center",
            fontsize=8,
        )
    ax.set_xticks(x, names, rotation=15 if len(names) > 4 else 0)
    n = max(d.size for d in data)
    ax.set(
        ylabel=f"{ylabel} (%)" if percent else ylabel,
        title=title or f"{ylabel}: mean ± std over {n} seed{'s' if n > 1 else ''}",
    )
    top = max(float(np.max(means + stds)), max(float(d.max()) for d in data))
    if top > 0:
        ax.set_ylim(top=top * 1.15)  # room for the labels above the bars
    ax.grid(axis="y", alpha=0.3, zorder=0)
    fig.tight_layout()
    return fig


def _grouped_bars(
    names: Sequence[str],
    groups: Sequence[Any],
    group_labels: Sequence[str],
    values: Callable[[str, Any], np.ndarray],
    title: str,
) -> plt.Figure:
    """One group of bars per entry of ``groups``, one bar per name: mean in %, std error bar,
    a dot per seed; ``values(name, group)`` gives the fractions (one per seed)."""
    fig, ax = plt.subplots(figsize=(NOTEBOOK_WIDTH, 4.0))
    width = 0.8 / len(names)
    colors = plt.get_cmap("tab10").colors
    for i, name in enumerate(names):
        x = np.arange(len(groups)) + (i - (len(names) - 1) / 2) * width
        for xi, group in zip(x, groups, strict=True):
            seeds = 100 * np.asarray(values(name, group), dtype=float)
            if seeds.size == 0:
                continue
            std = seeds.std(ddof=1) if seeds.size > 1 else 0.0
            ax.bar(xi, seeds.mean(), width, yerr=std, capsize=3, color=colors[i % 10], zorder=2,
                   label=name if xi == x[0] else None)  # fmt: skip
            ax.scatter(np.full(seeds.size, xi), seeds, s=8, color="black", zorder=3)
    ax.set_xticks(np.arange(len(groups)), list(group_labels))
    ax.set(ylabel="test accuracy (%)", ylim=(0, 105), title=title)
    ax.grid(axis="y", alpha=0.3, zorder=0)
    # Below the axes: inside, the legend would hide the lowest bars.
    ax.legend(
        fontsize=8,
        ncols=min(len(names), 5),
        loc="upper center",
        bbox_to_anchor=(0.5, -0.12),
        frameon=False,
    )
    fig.tight_layout()
    return fig


def plot_comparison_grid(
    comparison: Any, *, title: str | None = None, strategies: Sequence[str] | None = None
) -> plt.Figure:
    """Grouped bars from a :class:`~course_lib.compare.Comparison`: one group per K, one bar per
    strategy (mean accuracy in %, error bar = std over seeds, a dot per seed)."""
    ks = list(comparison.ks)
    return _grouped_bars(
        list(strategies or comparison.strategies),
        ks,
        [f"K = {k} labels per class" for k in ks],
        comparison.values,
        title or f"mean ± std over {len(comparison.seeds)} seeds",
    )


def plot_task_table(table: Any, *, title: str | None = None) -> plt.Figure:
    """Grouped bars from a :class:`~course_lib.multitask.MultiTaskTable`: one group per task,
    one bar per setup (single-task, multi-task, ...), mean ± std over seeds, a dot per seed."""
    setups = list(table.scores)
    if not setups:
        raise ValueError("The table is empty: add() some results first.")

    def values(setup: str, task: str) -> np.ndarray:
        return np.asarray(table.scores[setup].get(task, []))

    seeds = max(len(v) for row in table.scores.values() for v in row.values())
    return _grouped_bars(
        setups,
        list(table.tasks),
        [f"task: {t}" for t in table.tasks],
        values,
        title or f"test accuracy per task, mean ± std over {seeds} seed{'s' * (seeds > 1)}",
    )


def plot_feature_space(
    features: Mapping[str, np.ndarray], labels: np.ndarray, *, title: str | None = None
) -> plt.Figure:
    """Side-by-side 2-D PCA projections of feature sets (``{"random": f1, "pretrained": f2}``),
    points coloured by class."""
    from sklearn.decomposition import PCA

    if not isinstance(features, Mapping) or not features:
        raise TypeError("features must be a non-empty dict {name: (N, D) array}.")
    labels = np.asarray(labels)
    fig, axes = plt.subplots(1, len(features), figsize=(NOTEBOOK_WIDTH, 3.8), squeeze=False)
    for ax, (name, f) in zip(axes[0], features.items(), strict=True):
        f = np.asarray(f, dtype=np.float64)
        if f.ndim != 2 or len(f) != len(labels):
            raise ValueError(
                f"features[{name!r}] must be (N, D) with N = {len(labels)} labels, got {f.shape}."
            )
        xy = PCA(n_components=2, random_state=0).fit_transform(f)
        ax.scatter(xy[:, 0], xy[:, 1], c=labels, cmap="tab20", s=9)
        ax.set(title=name, xticks=[], yticks=[], xlabel="PC 1", ylabel="PC 2")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def sparsity(weights: np.ndarray, threshold: float = 1e-3) -> float:
    """The fraction of weights with ``|w| < threshold`` (lesson 03: how sparse L1 makes a net)."""
    values = np.abs(np.asarray(weights, dtype=np.float64).ravel())
    if values.size == 0:
        raise ValueError("weights is empty: pass the concatenated weight values of a model.")
    return float(np.mean(values < threshold))


def plot_weight_histograms(
    weights: Mapping[str, np.ndarray],
    *,
    threshold: float = 1e-3,
    bins: int = 81,
    title: str | None = None,
) -> plt.Figure:
    """Overlaid histograms of weight values, one per model, counts on a log scale.

    ``weights``: ``{"no penalty": w0, "L1": w1}``, each the flattened weights of one model. The
    legend gives each model's fraction of ``|w| < threshold`` (:func:`sparsity`).
    """
    if not isinstance(weights, Mapping) or not weights:
        raise TypeError("weights must be a non-empty dict {model name: array of weight values}.")
    arrays = {name: np.asarray(w, dtype=np.float64).ravel() for name, w in weights.items()}
    reach = max(float(np.quantile(np.abs(w), 0.999)) for w in arrays.values() if w.size)
    edges = np.linspace(-reach, reach, bins + 1)
    fig, ax = plt.subplots(figsize=(min(NOTEBOOK_WIDTH, 7.0), 3.4))
    for name, w in arrays.items():
        share = sparsity(w, threshold)
        ax.hist(
            np.clip(w, -reach, reach),
            bins=edges,
            histtype="step",
            linewidth=1.6,
            label=f"{name}: {share:.0%} of |w| < {threshold:g}",
        )
    ax.set_yscale("log")
    ax.set(xlabel="weight value", ylabel="count (log scale)", title=title or "weight values")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def save_figure(fig: plt.Figure, name: str, results: Any = None) -> Path:
    """Save ``fig`` as ``build/figures/<name>.png`` for the report; returns the path.

    With ``results`` (a :class:`~course_lib.results.LessonResults`) the figure is filed under the
    lesson and listed in its results file; without, the report shows it under "Other figures".
    """
    if results is not None:
        return results.figure(fig, name)
    from course_lib.results import save_png

    return save_png(fig, name)
