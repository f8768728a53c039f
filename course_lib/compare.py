"""Compare training strategies over label budgets and seeds: the loop, the table, the numbers.

Lessons 01 and 02 ask one question many times: "with K labelled images per class, which way of
using the pretrained network works best?" The strategies themselves (freeze, new head, unfreeze…)
are the lesson and stay in the notebook; this framework-neutral module runs them over every K and
seed with one progress bar, and keeps the scores for tables, bar charts and claims.

>>> grid = run_comparison({"probe": probe, "scratch": scratch}, make_split, ks=[1, 5], seeds=[0, 1])
>>> print(grid.table())
>>> grid.gain("probe", "scratch", k=5)   # mean accuracy difference, in points

:func:`run_tuned_comparison` is the fair version: every strategy gets its own learning rate,
chosen from one shared grid on a *validation* split (of the first seed, per K), and the test set is
scored once, with the chosen rate.

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

Trainer = Callable[..., Any]
"""``trainer(train, seed, lr) -> trained model`` (``lr``: one value of the rate grid); a trainer
named in ``starts_from`` is called ``trainer(train, seed, lr, start=model)`` and must not change
``start`` (copy it)."""


@dataclass
class Comparison:
    """Scores of several strategies, per label budget K, one number per seed."""

    strategies: list[str]
    ks: list[int]
    seeds: list[int]
    scores: dict[str, dict[int, list[float]]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0
    rates: dict[str, dict[int, float]] = field(default_factory=dict)
    """Tuned comparisons: the learning rate chosen for each strategy and K."""
    val_scores: dict[str, dict[int, list[float]]] = field(default_factory=dict)
    """Tuned comparisons: validation accuracy at the chosen rate, one per seed."""
    tuning: dict[str, dict[int, dict[float, float]]] = field(default_factory=dict)
    """Tuned comparisons: validation accuracy of every rate tried on the first seed."""

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

    def best_on_validation(self, names: Sequence[str], k: int) -> str:
        """The strategy among ``names`` with the highest mean *validation* accuracy at ``k``.

        Only for tuned comparisons: picking the best on test accuracy would select on test labels.
        """
        for name in names:
            self._check(name, k)
            if name not in self.val_scores:
                raise UnknownNameError(
                    f"{name!r} has no validation scores; run it with run_tuned_comparison."
                )
        return max(names, key=lambda n: float(np.mean(self.val_scores[n][k])))

    def rates_table(self) -> str:
        """Plain text: the rate chosen per strategy and K, and the validation accuracy per rate."""
        if not self.rates:
            return "(no rates were tuned in this comparison)"
        name_w = max(len("strategy"), *(len(n) for n in self.rates))
        lines = []
        for k in self.ks:
            lines.append(f"K = {k}: validation accuracy (%) per learning rate, first seed")
            for name in self.rates:
                tried = self.tuning.get(name, {}).get(k, {})
                cells = "  ".join(
                    f"{lr:.0e}: {100 * acc:5.1f}{'*' if lr == self.rates[name][k] else ' '}"
                    for lr, acc in tried.items()
                )
                lines.append(f"  {name:<{name_w}}  {cells}")
        lines.append("(* = the rate chosen and used for every seed)")
        return "\n".join(lines)

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
        tuned = "; rates chosen on validation, first seed" if self.rates else ""
        lines.append(
            f"(test accuracy in %, mean ± std over {len(self.seeds)} seed(s){tuned}; "
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
        heads = {
            "train": "train %",
            "val": "val %",
            "gap": "gap (points)",
            "test": "test %",
            "wall_s": "wall (s)",
        }
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


def _check_rates(rates: Sequence[float]) -> list[float]:
    if isinstance(rates, int | float | str) or not isinstance(rates, Sequence) or not rates:
        raise ValueError(f"rates must be a non-empty list of learning rates, got {rates!r}.")
    out = []
    for r in rates:
        if isinstance(r, bool) or not isinstance(r, int | float) or not 0 < r < 1:
            raise ValueError(f"every rate must be a number in (0, 1), got {r!r} in {rates!r}.")
        out.append(float(r))
    return list(dict.fromkeys(out))


def _check_links(
    what: str, links: Mapping[str, str] | None, names: list[str], earlier: bool
) -> dict[str, str]:
    links = dict(links or {})
    for name, other in links.items():
        if name not in names or other not in names:
            raise UnknownNameError(
                f"{what}: {name!r} -> {other!r} names a strategy that is not in {', '.join(names)}."
            )
        if earlier and names.index(other) >= names.index(name):
            raise ValueError(
                f"{what}: {other!r} must come before {name!r} in the strategies dict "
                "(it runs first)."
            )
    return links


def run_tuned_comparison(
    trainers: Mapping[str, Trainer],
    make_split: Callable[[int, int], tuple[Any, Any, Any]],
    *,
    evaluate: Callable[[Any, Any], float],
    rates: Sequence[float],
    ks: Sequence[int],
    seeds: Sequence[int],
    starts_from: Mapping[str, str] | None = None,
    rate_of: Mapping[str, str] | None = None,
    quiet: bool | None = None,
) -> Comparison:
    """Every strategy with its own rate from one grid, chosen on validation; test scored once.

    ``make_split(k, seed) -> (train, val, test)``. For each K, on the first seed every trainer
    runs once per rate in ``rates``; the rate with the highest ``evaluate(model, val)`` is chosen
    (ties: the first in ``rates``) and used for the other seeds. Each seed's score is
    ``evaluate(model, test)`` of the model trained with the chosen rate — test accuracy never
    chooses anything. ``starts_from={"gradual": "probe"}``: the trainer continues the model that
    ``"probe"`` trained with *its* chosen rate on the same split (called with ``start=model``).
    ``rate_of={"naive, careful rate": "gradual"}``: no search, the rate ``"gradual"`` chose at that
    K. A trainer called again with the same split, seed and rate (the same function, no start)
    is not run twice.
    """
    if not isinstance(trainers, Mapping) or not trainers:
        raise TypeError("trainers must be a non-empty dict {name: trainer(train, seed, lr)}.")
    for name, fn in trainers.items():
        if not callable(fn):
            raise TypeError(f"trainer {name!r} must be callable, got {type(fn).__name__}.")
    if not callable(evaluate):
        raise TypeError("evaluate must be callable: evaluate(model, data) -> accuracy.")
    grid_rates = _check_rates(rates)
    ks = list(dict.fromkeys(_check_ints("ks", ks, 1)))
    seeds = list(dict.fromkeys(_check_ints("seeds", seeds, 0)))
    names = list(trainers)
    starts = _check_links("starts_from", starts_from, names, earlier=True)
    follow = _check_links("rate_of", rate_of, names, earlier=True)
    grid = Comparison(names, ks, seeds)
    grid.scores = {name: {k: [] for k in ks} for name in names}
    grid.val_scores = {name: {k: [] for k in ks} for name in names}
    grid.tuning = {name: {} for name in names}
    grid.rates = {name: {} for name in names}
    grid.seconds = dict.fromkeys(names, 0.0)
    per_k = sum(1 if n in follow else len(grid_rates) for n in names) + len(names) * (
        len(seeds) - 1
    )
    start_time = time.perf_counter()

    def score(value: float, name: str) -> float:
        value = float(value)
        if not 0.0 <= value <= 1.0:
            raise ValueError(
                f"evaluate returned {value!r} for {name!r}; return the accuracy as a fraction "
                "in [0, 1], e.g. cl.evaluate(model, data)['accuracy']."
            )
        return value

    with tqdm(total=per_k * len(ks), desc="runs", unit="run", disable=resolve_quiet(quiet)) as bar:
        for k in ks:
            for i, seed in enumerate(seeds):
                train, val, test = make_split(k, seed)
                chosen_models: dict[str, Any] = {}
                memo: dict[tuple[int, float], tuple[float, float]] = {}
                for name, fn in trainers.items():
                    if name in follow:
                        candidates = [grid.rates[follow[name]][k]]
                    elif i == 0:
                        candidates = grid_rates
                    else:
                        candidates = [grid.rates[name][k]]
                    start = chosen_models.get(starts[name]) if name in starts else None
                    tried: dict[float, tuple[float, float]] = {}
                    models: dict[float, Any] = {}
                    reuse = start is None and name not in starts.values()
                    for lr in candidates:
                        bar.set_postfix_str(f"K={k} seed={seed} {name} lr={lr:.0e}")
                        key = (id(fn), lr)
                        if reuse and key in memo:
                            tried[lr] = memo[key]
                            bar.update()
                            continue
                        t = time.perf_counter()
                        if start is None:
                            model = fn(train, seed, lr)
                        else:
                            model = fn(train, seed, lr, start=start)
                        tried[lr] = (
                            score(evaluate(model, val), name),
                            score(evaluate(model, test), name),
                        )
                        grid.seconds[name] += time.perf_counter() - t
                        if start is None:
                            memo[key] = tried[lr]
                        if name in starts.values():
                            models[lr] = model
                        bar.update()
                    # the best validation accuracy; ties go to the rate listed first
                    lr = max(tried, key=lambda r: (tried[r][0], -candidates.index(r)))
                    if lr in models:
                        chosen_models[name] = models[lr]
                    if i == 0:
                        grid.rates[name][k] = lr
                        grid.tuning[name][k] = {r: v for r, (v, _) in tried.items()}
                    grid.val_scores[name][k].append(tried[lr][0])
                    grid.scores[name][k].append(tried[lr][1])
    grid.wall_s = time.perf_counter() - start_time
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
