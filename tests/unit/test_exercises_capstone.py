"""Lesson 06 exercise checks: the reference solutions pass, typical mistakes get a hint."""

import math
import time

import pytest

from course_lib.exercises import lesson06
from course_lib.exercises.checks import ExerciseCheckError


# ---------------------------------------------------------------------------------------------
# Exercise 1: compare_strategies
# ---------------------------------------------------------------------------------------------
def compare(strategies, make_split, seeds):
    table = {name: [] for name in strategies}
    for seed in seeds:
        train, test = make_split(seed)
        for name, strategy in strategies.items():
            table[name].append(strategy(train, test, seed))
    return table


def compare_comprehension(strategies, make_split, seeds):
    splits = {seed: make_split(seed) for seed in seeds}
    return {
        name: [float(strategy(*splits[seed], seed)) for seed in seeds]
        for name, strategy in strategies.items()
    }


def split_per_strategy(strategies, make_split, seeds):
    return {
        name: [strategy(*make_split(seed), seed) for seed in seeds]
        for name, strategy in strategies.items()
    }


def one_split_for_all_seeds(strategies, make_split, seeds):
    train, test = make_split(seeds[0])
    return {name: [s(train, test, seed) for seed in seeds] for name, s in strategies.items()}


def percent(strategies, make_split, seeds):
    return {n: [100 * a for a in v] for n, v in compare(strategies, make_split, seeds).items()}


def percent_rounded(strategies, make_split, seeds):
    return {
        n: [round(100 * a, 1) for a in v] for n, v in compare(strategies, make_split, seeds).items()
    }


def rounded(strategies, make_split, seeds):
    return {n: [round(a, 3) for a in v] for n, v in compare(strategies, make_split, seeds).items()}


def sorted_seeds(strategies, make_split, seeds):
    return compare(strategies, make_split, sorted(seeds))


def seed_positions(strategies, make_split, seeds):
    table = {name: [] for name in strategies}
    for i, seed in enumerate(seeds):
        train, test = make_split(seed)
        for name, strategy in strategies.items():
            table[name].append(strategy(train, test, i))
    return table


def split_by_position(strategies, make_split, seeds):
    table = {name: [] for name in strategies}
    for i, seed in enumerate(seeds):
        train, test = make_split(i)
        for name, strategy in strategies.items():
            table[name].append(strategy(train, test, seed))
    return table


def swapped_train_test(strategies, make_split, seeds):
    table = {name: [] for name in strategies}
    for seed in seeds:
        train, test = make_split(seed)
        for name, strategy in strategies.items():
            table[name].append(strategy(test, train, seed))
    return table


def shuffled_between_strategies(strategies, make_split, seeds):
    table = compare(strategies, make_split, seeds)
    names = list(table)
    return {name: table[names[(i + 1) % len(names)]] for i, name in enumerate(names)}


def sorted_names(strategies, make_split, seeds):
    table = compare(strategies, make_split, seeds)
    return {name: table[name] for name in sorted(table)}


def missing_last(strategies, make_split, seeds):
    table = compare(strategies, make_split, seeds)
    table.pop(list(table)[-1])
    return table


def keyed_by_seed(strategies, make_split, seeds):
    table = compare(strategies, make_split, seeds)
    return {seed: [v[i] for v in table.values()] for i, seed in enumerate(seeds)}


def mean_only(strategies, make_split, seeds):
    return {n: sum(v) / len(v) for n, v in compare(strategies, make_split, seeds).items()}


def called_twice(strategies, make_split, seeds):
    table = compare(strategies, make_split, seeds)
    train, test = make_split(seeds[0])
    for strategy in strategies.values():
        strategy(train, test, seeds[0])  # "a quick look" before the loop
    return table


def pops_strategies(strategies, make_split, seeds):
    table = {}
    for seed in seeds:
        train, test = make_split(seed)
        for name in list(strategies):
            table.setdefault(name, []).append(strategies[name](train, test, seed))
    strategies.clear()
    return table


def pops_seeds(strategies, make_split, seeds):
    table = {name: [] for name in strategies}
    while seeds:
        seed = seeds.pop(0)
        train, test = make_split(seed)
        for name, strategy in strategies.items():
            table[name].append(strategy(train, test, seed))
    return table


def assumes_several_seeds(strategies, make_split, seeds):
    table = compare(strategies, make_split, seeds)
    return {n: v if len(v) > 1 else [] for n, v in table.items()}


def test_reference_solutions_pass(capsys):
    lesson06.check_compare_strategies(compare)
    lesson06.check_compare_strategies(compare_comprehension)
    assert capsys.readouterr().out.count("✓ compare: all 8 checks passed") == 1


@pytest.mark.parametrize(
    ("fn", "hint"),
    [
        (split_per_strategy, "make_split` was called once per strategy"),
        (one_split_for_all_seeds, "same split for every seed"),
        (percent, "percentages"),
        (percent_rounded, "percentages"),
        (rounded, "rounded values"),
        (sorted_seeds, "not in the order of `seeds`"),
        (seed_positions, "positions of the seeds"),
        (split_by_position, r"on a split made by make_split\(0\)"),
        (swapped_train_test, "the order is strategy\\(train, test, seed\\)"),
        (shuffled_between_strategies, "holds the accuracies of strategy"),
        (sorted_names, "keep the order of `strategies`"),
        (missing_last, "no entry for 'mine'"),
        (keyed_by_seed, "keyed by the seeds"),
        (mean_only, "is a float, expected a list"),
        (called_twice, "called 4 times for 3 seeds"),
        (pops_strategies, "`strategies` was modified"),
        (pops_seeds, "`seeds` was modified"),
        (assumes_several_seeds, "one strategy and seeds \\[7\\]"),
        (lambda strategies, make_split, seeds: None, "expected a dict"),
    ],
)
def test_compare_mistakes_get_a_hint(fn, hint):
    with pytest.raises(ExerciseCheckError, match=hint):
        lesson06.check_compare_strategies(fn)


def test_compare_that_still_raises_is_reported_as_not_implemented():
    def todo(strategies, make_split, seeds):
        raise NotImplementedError("Replace this line with your solution (see the TODO above).")

    with pytest.raises(ExerciseCheckError, match="not implemented yet") as err:
        lesson06.check_compare_strategies(todo)
    assert err.value.not_implemented


def test_compare_check_is_fast():
    start = time.perf_counter()
    lesson06.check_compare_strategies(compare)
    assert time.perf_counter() - start < 1


# ---------------------------------------------------------------------------------------------
# Exercise 2: the table
# ---------------------------------------------------------------------------------------------
def strategy(train, test, seed):  # only the names of the strategies matter to the check
    return 0.5


STRATEGIES = {"prototypes": strategy, "linear probe": strategy, "mine": strategy}
SEEDS = [0, 1, 2]
TABLE = {
    "prototypes": [0.86, 0.84, 0.85],
    "linear probe": [0.92, 0.9, 0.92],
    "mine": [0.86, 0.85, 0.85],
}


def check_table(table, strategies=STRATEGIES, seeds=SEEDS, num_classes=10):
    lesson06.check_strategy_table(table, strategies, seeds, num_classes)


def with_row(name, values):
    return {**TABLE, name: values}


def test_sane_table_passes(capsys):
    check_table(TABLE)
    check_table({n: tuple(v) for n, v in TABLE.items()})  # any sequence of numbers will do
    own = {"prototypes": strategy, "linear probe": strategy, "cosine prototypes": strategy}
    renamed = {"prototypes": TABLE["prototypes"], "linear probe": TABLE["linear probe"],
               "cosine prototypes": TABLE["mine"]}  # fmt: skip
    check_table(renamed, own)
    check_table({"prototypes": [0.6], "mine": [0.7]}, {"prototypes": 0, "mine": 0}, [5], 2)
    out = capsys.readouterr().out
    assert out.count("✓ strategy table: all 6 checks passed") == 4


@pytest.mark.parametrize(
    ("table", "kwargs", "hint"),
    [
        ({k: v for k, v in TABLE.items() if k != "mine"}, {}, "no row for 'mine'"),
        (with_row("extra", [0.5] * 3), {}, "rows \\['extra'\\] that are not in the strategies"),
        (
            {k: TABLE[k] for k in lesson06.BASELINES},
            {"strategies": {k: strategy for k in lesson06.BASELINES}},
            "only the given baselines",
        ),
        (with_row("mine", [0.86, 0.85]), {}, "holds 2 values for 3 seeds"),
        (with_row("mine", 0.85), {}, "is a float: each row is a list"),
        (with_row("mine", [{"accuracy": 0.85}] * 3), {}, "holds a dict"),
        (with_row("mine", [0.86, math.nan, 0.85]), {}, "nan for seed 1"),
        (with_row("mine", [86.0, 85.0, 85.3]), {}, "probably a percentage"),
        (with_row("mine", [-0.2, 0.85, 0.85]), {}, "between 0 and 1"),
        (with_row("mine", [0.1, 0.11, 0.09]), {}, "'mine' averages 10.0 %.*than chance"),
        (
            with_row("linear probe", [0.52, 0.49, 0.5]),
            {"num_classes": 2},
            r"than chance \(50 % for 2 classes",
        ),
        ([0.86, 0.84, 0.85], {}, "expected a collections.abc.Mapping"),
    ],
)
def test_table_mistakes_get_a_hint(table, kwargs, hint):
    with pytest.raises(ExerciseCheckError, match=hint):
        check_table(table, **kwargs)


def test_table_not_built_is_reported_as_not_implemented():
    with pytest.raises(ExerciseCheckError, match="not implemented yet") as err:
        check_table(None)
    assert err.value.not_implemented


def test_a_table_from_the_reference_compare_passes_the_table_check(capsys):
    def make_split(seed):
        return f"train {seed}", f"test {seed}"

    strategies = {
        "prototypes": lambda train, test, seed: 0.8 + seed / 100,
        "linear probe": lambda train, test, seed: 0.9,
        "mine": lambda train, test, seed: 0.85,
    }
    table = compare(strategies, make_split, SEEDS)
    check_table(table, strategies)
    assert "✓ strategy table" in capsys.readouterr().out


def test_checks_want_the_function_not_its_result():
    with pytest.raises(ExerciseCheckError, match="expects your function itself"):
        lesson06.check_compare_strategies(TABLE)
