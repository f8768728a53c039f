"""Figures the lessons share: image grids and sinusoid tasks."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from course_lib.data.sinusoids import X_RANGE, SinusoidTasks


def image_grid(
    images: np.ndarray,
    titles: Sequence[str] | None = None,
    *,
    ncols: int = 10,
    size: float = 1.0,
    row_labels: Sequence[str] | None = None,
    suptitle: str | None = None,
) -> plt.Figure:
    """Draw ``(N, H, W)`` grayscale images in a grid, with optional titles and row labels."""
    images = np.asarray(images)
    if images.ndim != 3 or len(images) == 0:
        raise ValueError(f"images must be a non-empty (N, H, W) array, got shape {images.shape}.")
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
