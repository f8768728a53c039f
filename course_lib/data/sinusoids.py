"""The MAML sinusoid regression task family (Finn et al. 2017, section 5.1)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

AMPLITUDE_RANGE = (0.1, 5.0)
PHASE_RANGE = (0.0, np.pi)
X_RANGE = (-5.0, 5.0)


@dataclass(frozen=True)
class SinusoidTasks:
    """A batch of tasks ``y = amplitude * sin(x - phase)``; arrays are float32.

    ``x_support``, ``y_support``: (tasks, k_support, 1);
    ``x_query``, ``y_query``: (tasks, k_query, 1).
    """

    amplitude: np.ndarray
    phase: np.ndarray
    x_support: np.ndarray
    y_support: np.ndarray
    x_query: np.ndarray
    y_query: np.ndarray

    def __len__(self) -> int:
        return len(self.amplitude)

    def curve(self, task: int, x: np.ndarray) -> np.ndarray:
        """The true function of task ``task`` evaluated at ``x``."""
        return self.amplitude[task] * np.sin(x - self.phase[task])


def sample_sinusoid_tasks(
    num_tasks: int, k_support: int, k_query: int = 10, *, seed: int | np.random.Generator = 0
) -> SinusoidTasks:
    """Draw ``num_tasks`` tasks: amplitude U[0.1, 5], phase U[0, pi], x U[-5, 5]."""
    for name, value, low in (
        ("num_tasks", num_tasks, 1),
        ("k_support", k_support, 1),
        ("k_query", k_query, 0),
    ):
        if not isinstance(value, int | np.integer) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
    gen = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    amplitude = gen.uniform(*AMPLITUDE_RANGE, size=num_tasks)
    phase = gen.uniform(*PHASE_RANGE, size=num_tasks)
    x = gen.uniform(*X_RANGE, size=(num_tasks, k_support + k_query, 1))
    y = amplitude[:, None, None] * np.sin(x - phase[:, None, None])
    x, y = x.astype(np.float32), y.astype(np.float32)
    return SinusoidTasks(
        amplitude.astype(np.float32),
        phase.astype(np.float32),
        x[:, :k_support],
        y[:, :k_support],
        x[:, k_support:],
        y[:, k_support:],
    )
