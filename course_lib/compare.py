"""Compare training strategies over label budgets and seeds: the loop, the table, the numbers.

Lessons 01 and 02 ask one question many times: "with K labelled images per class, which way of
using the pretrained network works best?" The strategies themselves (freeze, new head, unfreeze…)
are the lesson and stay in the notebook; this framework-neutral module runs them over every K and
seed with one progress bar, and keeps the scores for tables, bar charts and claims.

>>> grid = run_comparison({"probe": probe, "scratch": scratch}, make_split, ks=[1, 5], seeds=[0, 1])
>>> print(grid.table())
>>> grid.gain("probe", "scratch", k=5)   # mean accuracy difference, in points

Lesson 03 asks a different question: "what does each regularization technique do to the gap
between training and validation accuracy?" :class:`TechniqueTable` keeps train / validation / test
accuracy and wall time per technique and seed, and turns them into the lesson's summary table.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from course_lib import checks
from course_lib.errors import UnknownNameError
from course_lib.training import check_positive_int, resolve_quiet

Strategy = Callable[[Any, Any, int], float]
"""``strategy(train, test, seed) -> test accuracy`` (a fraction in [0, 1])."""


@dataclass
class Comparison:
    """Scores of several strategies, per label budget K, one number per seed."""

    strategies: list[str]
    ks: list[int]
    seeds: list[int]
    scores: dict[str, dict[int, list[float]]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0

    def _check(self, name: str, k: int) -> None:
        if name not in self.scores:
            raise UnknownNameError(
                f"No strategy {name!r} in this comparison; it has {', '.join(self.strategies)}."
            )
        if k not in self.scores[name]:
            raise UnknownNameError(
                f"No K = {k!r} in this comparison; it has K = {', '.join(map(str, self.ks))}."
            )

    def values(self, name: str, k: int) -> np.ndarray:
        """The accuracies of ``name`` at ``k`` labels per class, one per seed (fractions)."""
        self._check(name, k)
        return np.asarray(self.scores[name][k], dtype=float)

    def mean(self, name: str, k: int) -> float:
        """Mean accuracy of ``name`` at ``k`` over seeds, in percent."""
        return float(100 * self.values(name, k).mean())

    def std(self, name: str, k: int) -> float:
        """Standard deviation over seeds (ddof=1; 0 for one seed), in percent."""
        v = self.values(name, k)
        return float(100 * v.std(ddof=1)) if v.size > 1 else 0.0

    def gain(self, better: str, worse: str, k: int) -> float:
        """How many accuracy points ``better`` is ahead of ``worse`` at ``k`` (mean over seeds)."""
        return self.mean(better, k) - self.mean(worse, k)

    def best(self, names: Sequence[str], k: int) -> str:
        """The strategy among ``names`` with the highest mean accuracy at ``k``."""
        return max(names, key=lambda n: self.mean(n, k))

    def table(self) -> str:
        """A plain-text table: one row per strategy, one column per K, ``mean ± std`` in %."""
        name_w = max(len("strategy"), *(len(n) for n in self.strategies))
        head = f"{'strategy':<{name_w}} | " + " | ".join(f"{f'K = {k}':>13}" for k in self.ks)
        lines = [head, "-" * len(head)]
        for name in self.strategies:
            cells = " | ".join(
                f"{self.mean(name, k):6.1f} ± {self.std(name, k):4.1f}" for k in self.ks
            )
            lines.append(f"{name:<{name_w}} | {cells}")
        lines.append(
            f"(test accuracy in %, mean ± std over {len(self.seeds)} seed(s); "
            f"{self.wall_s:.0f} s in all)"
        )
        return "\n".join(lines)

    def as_metrics(self, prefix: str = "") -> dict[str, float]:
        """``{"<prefix><strategy>_k<K>": mean accuracy (fraction)}`` for a results file."""
        return {
            f"{prefix}{name.replace(' ', '_').replace('-', '_')}_k{k}": self.mean(name, k) / 100
            for name in self.strategies
            for k in self.ks
        }


TABLE_KEYS = ("train", "val", "gap", "test", "wall_s")


def _scale(key: str) -> float:
    """Accuracies and the gap are reported in points (percent), wall time in seconds."""
    return 1.0 if key == "wall_s" else 100.0


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")


@dataclass
class TechniqueTable:
    """Accuracies and wall time of several techniques over seeds (lesson 03's summary table).

    >>> table = TechniqueTable()
    >>> table.add("baseline", seed=0, train=1.0, val=0.71, test=0.72, wall_s=2.0)
    >>> table.mean("baseline", "gap")   # train - val, in points
    """

    rows: dict[str, dict[int, dict[str, float]]] = field(default_factory=dict)

    def add(
        self, name: str, seed: int, *, train: float, val: float, test: float, wall_s: float
    ) -> None:
        """Record one run; accuracies are fractions in [0, 1]. A repeated (name, seed) replaces."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty string, got {name!r}.")
        accuracies = {"train": train, "val": val, "test": test}
        for key, value in accuracies.items():
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(
                    f"{key} accuracy of {name!r} must be a fraction in [0, 1], got {value!r}; "
                    "pass cl.evaluate(model, data)['accuracy']."
                )
        if not float(wall_s) >= 0.0:
            raise ValueError(f"wall_s must be >= 0 seconds, got {wall_s!r}.")
        row = {k: float(v) for k, v in accuracies.items()} | {"wall_s": float(wall_s)}
        self.rows.setdefault(name, {})[int(seed)] = row | {"gap": row["train"] - row["val"]}

    @property
    def names(self) -> list[str]:
        return list(self.rows)

    def values(self, name: str, key: str) -> np.ndarray:
        """``key`` of ``name``, one number per seed: accuracies and gap as fractions, wall in s."""
        if name not in self.rows:
            raise UnknownNameError(
                f"No technique {name!r} in this table; it has {', '.join(self.rows) or 'none'}."
            )
        if key not in TABLE_KEYS:
            raise UnknownNameError(f"No column {key!r}; columns: {', '.join(TABLE_KEYS)}.")
        return np.array([row[key] for row in self.rows[name].values()], dtype=float)

    def mean(self, name: str, key: str) -> float:
        """Mean over seeds; accuracies and the gap in points (percent), wall time in seconds."""
        return float(_scale(key) * self.values(name, key).mean())

    def std(self, name: str, key: str) -> float:
        """Standard deviation over seeds (ddof=1; 0 for one seed), in the units of :meth:`mean`."""
        v = self.values(name, key) * _scale(key)
        return float(v.std(ddof=1)) if v.size > 1 else 0.0

    def gap_shrink(self, name: str, baseline: str) -> float:
        """How much of ``baseline``'s mean gap ``name`` closes, as a fraction (0.5 = half)."""
        base = self.mean(baseline, "gap")
        if base <= 0:
            raise ValueError(f"{baseline!r} has no positive gap ({base:.1f} points) to shrink.")
        return 1.0 - self.mean(name, "gap") / base

    def ranking(self, key: str = "val") -> list[str]:
        """Technique names, best first: highest mean accuracy (or smallest gap / wall time)."""
        sign = 1.0 if key in ("gap", "wall_s") else -1.0
        return sorted(self.rows, key=lambda n: sign * self.mean(n, key))

    def table(self) -> str:
        """Plain text: one row per technique, ``mean ± std`` per column."""
        name_w = max(len("technique"), *(len(n) for n in self.rows))
        heads = {"train": "train %", "val": "val %", "gap": "gap (points)", "test": "test %",
                 "wall_s": "wall (s)"}
        head = f"{'technique':<{name_w}} | " + " | ".join(f"{heads[k]:>12}" for k in TABLE_KEYS)
        lines = [head, "-" * len(head)]
        for name in self.rows:
            cells = " | ".join(
                f"{self.mean(name, k):6.1f} ± {self.std(name, k):4.1f}" for k in TABLE_KEYS
            )
            lines.append(f"{name:<{name_w}} | {cells}")
        seeds = max(len(r) for r in self.rows.values()) if self.rows else 0
        lines.append(f"(mean ± std over {seeds} seed(s); gap = train - val accuracy)")
        return "\n".join(lines)

    def as_metrics(self, prefix: str = "") -> dict[str, float]:
        """``{"<prefix><technique>_<column>": mean}`` (fractions; wall time in seconds)."""
        return {
            f"{prefix}{_slug(name)}_{key}": self.mean(name, key) / _scale(key)
            for name in self.rows
            for key in TABLE_KEYS
        }


def _check_ints(name: str, values: Sequence[int], minimum: int) -> list[int]:
    if isinstance(values, int | str) or not isinstance(values, Sequence) or not values:
        raise ValueError(f"{name} must be a non-empty list of integers, got {values!r}.")
    out = []
    for v in values:
        out.append(
            checks.nonnegative_int(name, v) if minimum == 0 else checks.positive_int(name, v)
        )
    return out


def run_comparison(
    strategies: Mapping[str, Strategy],
    make_split: Callable[[int, int], tuple[Any, Any]],
    *,
    ks: Sequence[int],
    seeds: Sequence[int],
    quiet: bool | None = None,
) -> Comparison:
    """Run every strategy on ``make_split(k, seed) -> (train, test)`` for every K and seed.

    Each strategy is called as ``strategy(train, test, seed)`` and returns the test accuracy;
    every strategy sees the same split for a given K and seed. One progress bar counts the runs.
    A K or seed given twice runs once.
    """
    if not isinstance(strategies, Mapping) or not strategies:
        raise TypeError("strategies must be a non-empty dict {name: strategy(train, test, seed)}.")
    for name, fn in strategies.items():
        if not callable(fn):
            raise TypeError(f"strategy {name!r} must be callable, got {type(fn).__name__}.")
    # Repeated values run once (smoke mode may set every K to the same small number).
    ks = list(dict.fromkeys(_check_ints("ks", ks, 1)))
    seeds = list(dict.fromkeys(_check_ints("seeds", seeds, 0)))
    grid = Comparison(list(strategies), ks, seeds)
    grid.scores = {name: {k: [] for k in ks} for name in strategies}
    grid.seconds = dict.fromkeys(strategies, 0.0)
    start = time.perf_counter()
    total = len(ks) * len(seeds) * len(strategies)
    with tqdm(total=total, desc="runs", unit="run", disable=resolve_quiet(quiet)) as bar:
        for k in ks:
            for seed in seeds:
                train, test = make_split(k, seed)
                for name, fn in strategies.items():
                    bar.set_postfix_str(f"K={k} seed={seed} {name}")
                    t = time.perf_counter()
                    accuracy = float(fn(train, test, seed))
                    if not 0.0 <= accuracy <= 1.0:
                        raise ValueError(
                            f"strategy {name!r} returned {accuracy!r}; return the test accuracy "
                            "as a fraction in [0, 1], e.g. cl.evaluate(model, test)['accuracy']."
                        )
                    grid.seconds[name] += time.perf_counter() - t
                    grid.scores[name][k].append(accuracy)
                    bar.update()
    grid.wall_s = time.perf_counter() - start
    return grid


def epochs_for_steps(steps: int, n_train: int, batch_size: int) -> int:
    """Epochs that give about ``steps`` optimizer steps on ``n_train`` examples (at least 1).

    A budget in steps treats K = 1 and K = 20 alike: with 20 images an epoch is 2 steps, with
    400 it is 25, and a fixed number of epochs would give the larger set 12x more training.
    """
    steps = check_positive_int("steps", steps)
    n_train, batch_size = (
        check_positive_int("n_train", n_train),
        check_positive_int("batch_size", batch_size),
    )
    per_epoch = -(-n_train // batch_size)
    return max(1, round(steps / per_epoch))
