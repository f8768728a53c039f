"""Checks for lesson 06's exercise: a fair strategy table, and a strategy of the learner's own.

``exercises/06_capstone_exercises.ipynb`` calls :func:`check_compare_strategies` and
:func:`check_strategy_table`.

- :func:`check_compare_strategies` runs the learner's ``compare_strategies(strategies,
  make_split, seeds)`` on fake strategies and a fake ``make_split`` it builds itself: every split
  it hands out is a new object with its own token (two calls with the same seed give two
  different splits, as a random split would), and every strategy records which split and which
  seed it was given and returns an accuracy of its own. So the check can tell whether all
  strategies saw the same split for a seed, whether each seed got its own split, and whether the
  accuracies went into the table unchanged. It trains nothing and runs in milliseconds.
- :func:`check_strategy_table` checks the sanity of a real table (the open-ended part): one row
  per strategy, one accuracy per seed, fractions, no NaN, every strategy above chance, and a
  strategy of the learner's own next to the lesson's baselines (:data:`BASELINES`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from course_lib.exercises.checks import (
    ExerciseCheckError,
    call,
    expect,
    expect_type,
    fn_name,
    fresh_rng,
    require_callable,
    run_checks,
)

BASELINES: tuple[str, ...] = ("prototypes", "linear probe")
"""The strategies the exercise notebook gives; the learner adds (at least) one of their own."""

ABOVE_CHANCE = 0.03
"""A strategy whose mean accuracy is within this of chance (1 / num_classes) learned nothing."""


# ---------------------------------------------------------------------------------------------
# Exercise 1: compare_strategies(strategies, make_split, seeds) -> {name: [accuracy per seed]}
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class _Part:
    """One half of a fake split: which call of make_split made it, with which seed."""

    role: str  # "train" | "test"
    token: int  # the make_split call that made it: unique per call, like a random split
    seed: Any

    def __len__(self) -> int:
        return 20 if self.role == "train" else 80

    def __repr__(self) -> str:
        return f"<fake {self.role} set #{self.token}>"


@dataclass
class _Bench:
    """Fake strategies and a fake make_split that record what the learner's function did."""

    key: str
    names: tuple[str, ...]
    splits: list[tuple[Any, _Part, _Part]] = field(default_factory=list)  # (seed, train, test)
    calls: dict[str, list[tuple[Any, Any, Any, float]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = fresh_rng(f"compare-{self.key}")
        self.calls = {name: [] for name in self.names}
        self.strategies = {name: self._strategy(name) for name in self.names}

    def make_split(self, seed: Any) -> tuple[_Part, _Part]:
        token = len(self.splits) + 1
        train, test = _Part("train", token, seed), _Part("test", token, seed)
        self.splits.append((seed, train, test))
        return train, test

    def _strategy(self, name: str) -> Callable[[Any, Any, Any], float]:
        def strategy(train: Any, test: Any, seed: Any) -> float:
            # an accuracy with many decimals, new for every call: rounding or mixing shows
            accuracy = float(self.rng.uniform(0.35, 0.95))
            self.calls[name].append((train, test, seed, accuracy))
            return accuracy

        strategy.__name__ = name.replace(" ", "_")
        return strategy

    def returned(self, name: str, seed: Any) -> float | None:
        """What strategy ``name`` returned for ``seed`` (its first call with that seed)."""
        return next((acc for _, _, s, acc in self.calls[name] if s == seed), None)


_NAMES = ("prototypes", "linear probe", "fine-tune", "mine")
_SEEDS = [4, 1, 9]  # not 0, 1, 2 and not sorted: a position is not a seed, and order matters


def _numbers(values: Any) -> bool:
    return all(
        isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
        for v in values
    )


def check_compare_strategies(fn: Callable[..., Any]) -> None:
    """Check ``compare_strategies(strategies, make_split, seeds) -> {name: [accuracy, ...]}``:
    one split per seed, shared by every strategy, the accuracies as the strategies returned them,
    in the order of ``seeds``, the names in the order of ``strategies``."""
    __tracebackhide__ = True
    require_callable(fn, "check_compare_strategies")
    name = fn_name(fn)

    def run(key: str, names: Sequence[str] = _NAMES, seeds: Sequence[Any] = _SEEDS) -> tuple:
        bench = _Bench(key, tuple(names))
        table = call(fn, dict(bench.strategies), bench.make_split, list(seeds))
        return bench, table

    def a_dict_of_strategies() -> None:
        _, table = run("dict")
        if isinstance(table, Mapping) and set(table) == set(_SEEDS):
            raise ExerciseCheckError(
                f"`{name}` returned a dict keyed by the seeds ({list(table)}): key it by the "
                "strategies' names, {name: [one accuracy per seed]}."
            )
        expect_type(
            table, dict, f"the result of `{name}`",
            "Return a dict {strategy name: [accuracy for each seed]}.",
        )  # fmt: skip
        missing = [n for n in _NAMES if n not in table]
        extra = [k for k in table if k not in _NAMES]
        if missing:
            raise ExerciseCheckError(
                f"the result has no entry for {missing[0]!r} (its keys: {list(table)}): one "
                "entry per strategy of `strategies`, under the same name."
            )
        expect(
            not extra,
            f"the result has keys {extra} that are not names of `strategies`: one entry per "
            "strategy, keyed by the strategy's name (the key of `strategies`).",
        )
        expect(
            list(table) == list(_NAMES),
            f"the strategies come out in the order {list(table)}; keep the order of "
            "`strategies` (a dict keeps its insertion order, so fill the result in that order).",
        )

    def one_list_per_strategy() -> None:
        _, table = run("lists")
        for strategy, values in table.items():
            expect_type(
                values, list, f"result[{strategy!r}]",
                "Give each strategy a list with one accuracy per seed.",
            )  # fmt: skip
            expect(
                len(values) == len(_SEEDS),
                f"result[{strategy!r}] holds {len(values)} values for {len(_SEEDS)} seeds: one "
                "accuracy per seed, in one list per strategy.",
            )
            expect(
                _numbers(values),
                f"result[{strategy!r}] holds {type(values[0]).__name__} values "
                f"({values[0]!r}, ...): each item is the number the strategy returned.",
            )

    def called_once_per_seed() -> None:
        bench, _ = run("calls")
        for strategy, calls in bench.calls.items():
            got = [seed for *_, seed, _ in calls]
            expect(
                bool(got),
                f"strategy {strategy!r} was never called: call every strategy of `strategies`.",
            )
            if sorted(got, key=repr) == sorted(range(len(_SEEDS)), key=repr):
                raise ExerciseCheckError(
                    f"strategy {strategy!r} was called with seed {got}, the positions of the "
                    f"seeds, but the seeds are {_SEEDS}: pass the seed itself (for seed in "
                    "seeds), not its index."
                )
            expect(
                len(got) == len(_SEEDS),
                f"strategy {strategy!r} was called {len(got)} times for {len(_SEEDS)} seeds: "
                "call each strategy exactly once per seed (a training run is expensive).",
            )
            expect(
                sorted(got, key=repr) == sorted(_SEEDS, key=repr),
                f"strategy {strategy!r} was called with seeds {got}, but the seeds are "
                f"{_SEEDS}: call it once with each seed, strategy(train, test, seed).",
            )

    def same_split_for_every_strategy() -> None:
        bench, _ = run("same-split")
        for seed in _SEEDS:
            seen = {
                strategy: [(train, test) for train, test, s, _ in calls if s == seed]
                for strategy, calls in bench.calls.items()
            }
            for strategy, pairs in seen.items():
                train, test = pairs[0]
                expect(
                    isinstance(train, _Part) and isinstance(test, _Part),
                    f"strategy {strategy!r} was given {train!r} and {test!r}: pass it the two "
                    "sets that `train, test = make_split(seed)` returns, as they are.",
                )
                expect(
                    train.role == "train" and test.role == "test",
                    f"strategy {strategy!r} got the {train.role} set first and the {test.role} "
                    "set second: the order is strategy(train, test, seed).",
                )
                expect(
                    train.token == test.token,
                    f"strategy {strategy!r} got its train and test sets from two different "
                    "calls of `make_split`: both come from one call, train, test = "
                    "make_split(seed).",
                )
            tokens = {pairs[0][0].token for pairs in seen.values()}
            expect(
                len(tokens) == 1,
                f"for seed {seed}, the {len(seen)} strategies were given {len(tokens)} "
                "different splits: `make_split` was called once per strategy, and a new call "
                "draws a new split, so the strategies were not compared on the same images. "
                "Make the split once per seed, before the loop over the strategies, and give "
                "that same train, test to every strategy.",
            )

    def own_split_for_every_seed() -> None:
        bench, _ = run("split-per-seed")
        for strategy, calls in bench.calls.items():
            for train, _, seed, _ in calls:
                if train.seed == seed:
                    continue
                used = {t.token for t, *_ in calls}
                if len(used) == 1:
                    raise ExerciseCheckError(
                        f"strategy {strategy!r} was given the same split for every seed (made "
                        f"by make_split({train.seed!r})): a seed's split must come from "
                        "make_split(seed), so make a new split inside the loop over the seeds."
                    )
                raise ExerciseCheckError(
                    f"strategy {strategy!r} was called with seed {seed!r} on a split made by "
                    f"make_split({train.seed!r}): give each strategy the split of the seed it "
                    "is called with."
                )

    def accuracies_as_returned() -> None:
        bench, table = run("values")
        for strategy in _NAMES:
            got = [float(v) for v in table[strategy]]
            want = [bench.returned(strategy, seed) for seed in _SEEDS]
            if all(abs(g - 100 * w) <= 0.5 for g, w in zip(got, want, strict=True)):
                raise ExerciseCheckError(
                    f"result[{strategy!r}] holds percentages ({got[0]:.4g}, ...): keep the "
                    "accuracies as the strategies return them, fractions in [0, 1] (the table's "
                    "printout can show percent)."
                )
            if (
                all(
                    any(math.isclose(g, round(w, d), abs_tol=1e-12) for d in range(5))
                    for g, w in zip(got, want, strict=True)
                )
                and got != want
            ):
                raise ExerciseCheckError(
                    f"result[{strategy!r}] holds rounded values ({got}): keep the accuracies "
                    "exactly as the strategies return them; round only when you print."
                )
            if got == want:
                continue
            if sorted(got) == sorted(want):
                raise ExerciseCheckError(
                    f"result[{strategy!r}] holds the right accuracies, but not in the order of "
                    f"`seeds`: the i-th value must be the accuracy for seeds[i] (here seeds = "
                    f"{_SEEDS}, not sorted)."
                )
            others = [
                other for other in _NAMES
                if other != strategy
                and sorted(got) == sorted(bench.returned(other, s) for s in _SEEDS)
            ]  # fmt: skip
            if others:
                raise ExerciseCheckError(
                    f"result[{strategy!r}] holds the accuracies of strategy {others[0]!r}: put "
                    "each accuracy under the name of the strategy that returned it."
                )
            expect(
                False,
                f"result[{strategy!r}] = {got}: these are not the accuracies that strategy "
                "returned for the seeds. Store each strategy's return value, unchanged, in the "
                "list for its name, one per seed in the order of `seeds`.",
            )

    def one_strategy_one_seed() -> None:
        bench, table = run("single", names=("only",), seeds=[7])
        expect(
            isinstance(table, dict) and list(table) == ["only"],
            f"for one strategy 'only' and seeds [7], `{name}` returned {table!r}: expected a "
            "dict with the single key 'only'.",
        )
        values = table["only"]
        expect(
            isinstance(values, list)
            and len(values) == 1
            and _numbers(values)
            and float(values[0]) == bench.returned("only", 7),
            f"for one strategy and seeds [7], result['only'] = {values!r}: expected a list with "
            "that one strategy's accuracy for seed 7. Does your code assume several strategies "
            "or several seeds?",
        )

    def inputs_left_alone() -> None:
        bench = _Bench("inputs", _NAMES)
        strategies, seeds = dict(bench.strategies), list(_SEEDS)
        before = (list(strategies.items()), list(seeds))
        call(fn, strategies, bench.make_split, seeds)
        expect(
            list(strategies.items()) == before[0],
            "the dict `strategies` was modified (an entry removed, replaced or added): read "
            "it, and build the result in a new dict.",
        )
        expect(
            seeds == before[1],
            f"the list `seeds` was modified (it is now {seeds}): loop over it as it is.",
        )

    run_checks(
        name,
        [
            ("a dict with one entry per strategy, in the order of `strategies`",
             a_dict_of_strategies),
            ("one list of len(seeds) numbers per strategy", one_list_per_strategy),
            ("each strategy is called once per seed, with that seed", called_once_per_seed),
            ("all strategies get the same split for a given seed",
             same_split_for_every_strategy),
            ("each seed gets its own split, train, test = make_split(seed)",
             own_split_for_every_seed),
            ("the accuracies as the strategies returned them, in the order of `seeds`",
             accuracies_as_returned),
            ("works for one strategy and one seed", one_strategy_one_seed),
            ("the inputs are not modified", inputs_left_alone),
        ],
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Exercise 2: the learner's own table, {name: [accuracy per seed]}, checked for sanity
# ---------------------------------------------------------------------------------------------
def check_strategy_table(
    table: Any,
    strategies: Mapping[str, Any],
    seeds: Sequence[Any],
    num_classes: int,
    *,
    baselines: Sequence[str] = BASELINES,
) -> None:
    """Check a real strategy table, ``compare_strategies(strategies, make_split, seeds)``.

    One entry per strategy of ``strategies`` (the dict of functions the table was built from),
    each a list of ``len(seeds)`` accuracies: fractions in [0, 1], no NaN, each strategy's mean
    above chance (``1 / num_classes``), and a strategy of the learner's own (a name not in
    ``baselines``) among them.
    """
    __tracebackhide__ = True
    if table is None:
        raise ExerciseCheckError(
            "`table` is None: the table is not built yet, because a function it needs is not "
            "implemented yet (`compare_strategies`, or one of the strategies: "
            f"{', '.join(map(repr, strategies))}) — or the cell that builds `table` has not "
            "run. Fill in the TODOs, run the cell that builds the table, then this check again.",
            not_implemented=True,
        )
    chance = 1.0 / num_classes
    names = list(strategies)

    def rows() -> dict[str, np.ndarray]:
        return {n: np.asarray(table[n], dtype=np.float64) for n in names}

    def one_entry_per_strategy() -> None:
        if hasattr(table, "scores") and hasattr(table, "strategies"):
            raise ExerciseCheckError(
                f"`table` is a {type(table).__name__} (from run_comparison?): check the dict "
                "your `compare_strategies` returns, {strategy name: [accuracy per seed]}."
            )
        expect_type(
            table, Mapping, "`table`",
            "Pass the dict that compare_strategies(STRATEGIES, make_split, seeds) returns.",
        )  # fmt: skip
        missing = [n for n in names if n not in table]
        if missing:
            raise ExerciseCheckError(
                f"the table has no row for {missing[0]!r} (its rows: {list(table)}): build it "
                "from all the strategies you pass to this check, under the same names."
            )
        extra = [k for k in table if k not in strategies]
        expect(
            not extra,
            f"the table has rows {extra} that are not in the strategies you passed "
            f"({names}): pass this check the same dict you built the table from.",
        )

    def a_strategy_of_your_own() -> None:
        own = [n for n in names if n not in baselines]
        expect(
            bool(own),
            f"the strategies are only the given baselines ({', '.join(baselines)}): add one "
            'of your own to the dict, e.g. "mine": my_strategy, and build the table again.',
        )

    def one_accuracy_per_seed() -> None:
        for n in names:
            values = table[n]
            expect(
                isinstance(values, (Sequence, np.ndarray)) and not isinstance(values, str),
                f"table[{n!r}] is a {type(values).__name__}: each row is a list with one "
                "accuracy per seed.",
            )
            expect(
                len(values) == len(seeds),
                f"table[{n!r}] holds {len(values)} values for {len(seeds)} seeds ({list(seeds)}):"
                " one accuracy per seed. Was the table built with these seeds?",
            )
            expect(
                _numbers(values),
                f"table[{n!r}] holds a {type(values[0]).__name__} ({values[0]!r}, ...): each "
                "value is one number, the test accuracy. A strategy returns "
                "cl.evaluate(model, test)['accuracy'] or float((predicted == test.labels)"
                ".mean()), not a dict, array or tensor.",
            )

    def no_nan() -> None:
        for n, v in rows().items():
            bad = np.flatnonzero(~np.isfinite(v))
            if bad.size:
                raise ExerciseCheckError(
                    f"table[{n!r}] is {v[bad[0]]} for seed {seeds[bad[0]]}: a strategy that "
                    "returns NaN evaluated an empty test set, or its training diverged (a NaN "
                    "loss); run it alone on that seed's split and look."
                )

    def fractions() -> None:
        for n, v in rows().items():
            if (v > 1).any():
                raise ExerciseCheckError(
                    f"table[{n!r}] holds {v.max():.4g}: an accuracy above 1 is probably a "
                    "percentage. Keep every strategy's accuracy a fraction in [0, 1], as "
                    "cl.evaluate returns it (the printout can show percent)."
                )
            expect(
                (v >= 0).all(),
                f"table[{n!r}] holds {v.min():.4g}: an accuracy is a fraction of the test "
                "images classified correctly, between 0 and 1. Does the strategy return a "
                "loss, or a difference?",
            )

    def above_chance() -> None:
        for n, v in rows().items():
            expect(
                v.mean() > chance + ABOVE_CHANCE,
                f"{n!r} averages {100 * v.mean():.1f} % over the seeds, no better than "
                f"chance ({100 * chance:.0f} % for {num_classes} classes): it learned nothing. "
                "Look for a label mix-up (predictions compared with the wrong labels, or classes "
                "numbered differently in train and test), a head that was never trained (fit "
                "called on another model, or with 0 steps), or features of the wrong images.",
            )

    run_checks(
        "strategy table",
        [
            ("one row per strategy, under its name", one_entry_per_strategy),
            ("a strategy of your own next to the baselines", a_strategy_of_your_own),
            ("one accuracy per seed in every row", one_accuracy_per_seed),
            ("no NaN or infinite accuracy", no_nan),
            ("accuracies are fractions in [0, 1]", fractions),
            ("every strategy is above chance", above_chance),
        ],
    )
