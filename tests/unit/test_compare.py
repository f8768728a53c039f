"""course_lib.compare: the strategy-comparison loop, its table and numbers, and step budgets."""

import numpy as np
import pytest

from course_lib import plots
from course_lib.compare import (
    Comparison,
    TechniqueTable,
    epochs_for_steps,
    run_comparison,
    run_tuned_comparison,
)
from course_lib.errors import UnknownNameError


def _grid():
    calls = []

    def make_split(k, seed):
        calls.append((k, seed))
        return k, seed

    def good(train, test, seed):  # accuracy grows with K, a little noise per seed
        return min(1.0, 0.5 + 0.1 * train + 0.01 * seed)

    def bad(train, test, seed):
        return 0.4

    grid = run_comparison(
        {"good": good, "bad": bad}, make_split, ks=[1, 3], seeds=[0, 1, 2], quiet=True
    )
    return grid, calls


def test_every_strategy_sees_the_same_split_once_per_k_and_seed():
    grid, calls = _grid()
    assert calls == [(1, 0), (1, 1), (1, 2), (3, 0), (3, 1), (3, 2)]
    assert grid.scores["good"][1] == pytest.approx([0.6, 0.61, 0.62])
    assert grid.scores["bad"][3] == [0.4, 0.4, 0.4]
    assert set(grid.seconds) == {"good", "bad"} and grid.wall_s >= 0


def test_means_stds_gains_best_and_metrics_are_in_points():
    grid, _ = _grid()
    assert grid.mean("good", 1) == pytest.approx(61.0)
    assert grid.std("good", 1) == pytest.approx(100 * np.std([0.6, 0.61, 0.62], ddof=1))
    assert grid.std("bad", 1) == pytest.approx(0.0, abs=1e-9)
    assert grid.gain("good", "bad", 3) == pytest.approx(41.0)
    assert grid.best(["good", "bad"], 1) == "good"
    metrics = grid.as_metrics("glyphs_")
    assert metrics["glyphs_good_k3"] == pytest.approx(0.81)
    assert len(metrics) == 4


def test_table_has_a_row_per_strategy_and_a_column_per_k():
    grid, _ = _grid()
    table = grid.table()
    assert "K = 1" in table and "K = 3" in table
    assert "good" in table and "61.0 ±" in table and "mean ± std over 3 seed(s)" in table


def test_unknown_strategy_or_k_names_what_exists():
    grid, _ = _grid()
    with pytest.raises(UnknownNameError, match="it has good, bad"):
        grid.mean("naive", 1)
    with pytest.raises(UnknownNameError, match="K = 1, 3"):
        grid.mean("good", 5)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"strategies": {}}, TypeError, "non-empty dict"),
        ({"strategies": {"a": 3}}, TypeError, "must be callable"),
        ({"ks": []}, ValueError, "non-empty list"),
        ({"ks": [0]}, ValueError, "positive integer"),
        ({"seeds": [-1]}, ValueError, "non-negative"),
        ({"strategies": {"a": lambda tr, te, s: 87.5}}, ValueError, r"fraction in \[0, 1\]"),
    ],
)
def test_bad_input_is_a_clear_error(kwargs, error, match):
    args = {"strategies": {"a": lambda tr, te, s: 0.5}, "ks": [1], "seeds": [0]} | kwargs
    with pytest.raises(error, match=match):
        run_comparison(
            args["strategies"],
            lambda k, s: (None, None),
            ks=args["ks"],
            seeds=args["seeds"],
            quiet=True,
        )


def test_epochs_for_steps_gives_about_the_step_budget():
    assert epochs_for_steps(200, 20, 16) == 100  # 2 steps per epoch
    assert epochs_for_steps(200, 300, 16) == 11  # 19 steps per epoch
    assert epochs_for_steps(1, 10_000, 16) == 1  # at least one epoch
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        epochs_for_steps(0, 10, 16)


def test_comparison_grid_and_feature_space_plots():
    grid, _ = _grid()
    fig = plots.plot_comparison_grid(grid, title="t")
    ax = fig.axes[0]
    assert len(ax.patches) == 4  # 2 strategies x 2 K
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "K = 1 labels per class",
        "K = 3 labels per class",
    ]
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 10)
    fig = plots.plot_feature_space({"a": rng.random((30, 8)), "b": rng.random((30, 4))}, labels)
    assert [a.get_title() for a in fig.axes] == ["a", "b"]
    with pytest.raises(ValueError, match="must be \\(N, D\\)"):
        plots.plot_feature_space({"a": rng.random((5, 8))}, labels)
    with pytest.raises(TypeError, match="non-empty dict"):
        plots.plot_feature_space({}, labels)


def test_comparison_is_a_plain_dataclass():
    c = Comparison(["a"], [1], [0], scores={"a": {1: [0.5]}})
    assert c.mean("a", 1) == 50.0


def test_a_k_or_seed_given_twice_runs_once():
    calls = []
    grid = run_comparison(
        {"a": lambda tr, te, s: calls.append(1) or 0.5},
        lambda k, s: (k, s),
        ks=[1, 1, 1],
        seeds=[0, 0],
        quiet=True,
    )
    assert grid.ks == [1] and grid.seeds == [0] and len(calls) == 1


# --- TechniqueTable (lesson 03's summary table) ----------------------------------------------
def _table():
    table = TechniqueTable()
    for seed, (val, test) in enumerate([(0.70, 0.72), (0.72, 0.70), (0.74, 0.74)]):
        table.add("baseline", seed, train=1.0, val=val, test=test, wall_s=2.0)
        table.add("augmentation", seed, train=0.98, val=val + 0.14, test=test + 0.13, wall_s=6.0)
    return table


def test_technique_table_means_gaps_and_ranking():
    table = _table()
    assert table.names == ["baseline", "augmentation"]
    assert table.mean("baseline", "val") == pytest.approx(72.0)
    assert table.std("baseline", "val") == pytest.approx(2.0)
    assert table.mean("baseline", "gap") == pytest.approx(28.0)
    assert table.mean("augmentation", "gap") == pytest.approx(12.0)
    assert table.gap_shrink("augmentation", "baseline") == pytest.approx(1 - 12 / 28)
    assert table.mean("augmentation", "wall_s") == pytest.approx(6.0)
    assert table.ranking("val") == ["augmentation", "baseline"]
    assert table.ranking("gap") == ["augmentation", "baseline"]
    assert table.ranking("wall_s") == ["baseline", "augmentation"]
    metrics = table.as_metrics("table_")
    assert metrics["table_augmentation_val"] == pytest.approx(0.86)
    assert metrics["table_baseline_wall_s"] == pytest.approx(2.0)
    text = table.table()
    assert "augmentation" in text and "86.0 ±  2.0" in text and "3 seed(s)" in text


def test_technique_table_repeated_seed_replaces_the_run():
    table = TechniqueTable()
    table.add("L2", 0, train=1.0, val=0.5, test=0.5, wall_s=1.0)
    table.add("L2", 0, train=1.0, val=0.6, test=0.6, wall_s=1.0)
    assert table.values("L2", "val").tolist() == [0.6]
    assert table.std("L2", "val") == 0.0


def test_technique_table_rejects_bad_input_with_a_fix():
    table = _table()
    with pytest.raises(ValueError, match="fraction in \\[0, 1\\]"):
        table.add("x", 0, train=86.0, val=0.5, test=0.5, wall_s=1.0)
    with pytest.raises(ValueError, match="wall_s"):
        table.add("x", 0, train=1.0, val=0.5, test=0.5, wall_s=-1.0)
    with pytest.raises(UnknownNameError, match="it has baseline, augmentation"):
        table.mean("dropout", "val")
    with pytest.raises(UnknownNameError, match="columns: train"):
        table.mean("baseline", "accuracy")
    flat = TechniqueTable()
    flat.add("b", 0, train=0.5, val=0.5, test=0.5, wall_s=1.0)
    with pytest.raises(ValueError, match="no positive gap"):
        flat.gap_shrink("b", "b")


# --- run_tuned_comparison: rates chosen on validation, test scored once -----------------------

GRID = [1e-4, 1e-3, 1e-2]


def _tuned(**kwargs):
    """Fake data: a 'model' is a dict; validation prefers lr 1e-3, test would prefer 1e-2."""
    calls = []

    def make_split(k, seed):
        return ("train", k, seed), "val", "test"

    def evaluate(model, part):
        good = {"val": 1e-3, "test": 1e-2}[part]
        return 0.9 if model["lr"] == good else 0.5 + model.get("bonus", 0.0)

    def probe(train, seed, lr):
        calls.append(("probe", train[1], seed, lr))
        return {"lr": lr}

    def careful(train, seed, lr, start):
        calls.append(("careful", train[1], seed, lr, start["lr"]))
        return {"lr": lr, "bonus": 0.05 if start["lr"] == 1e-3 else 0.0}

    trainers = {"probe": probe, "careful": careful, "probe again": probe}
    args = {
        "evaluate": evaluate,
        "rates": GRID,
        "ks": [1, 5],
        "seeds": [0, 1, 2],
        "starts_from": {"careful": "probe"},
        "rate_of": {"probe again": "careful"},
        "quiet": True,
    } | kwargs
    return run_tuned_comparison(trainers, make_split, **args), calls


def test_rates_are_chosen_on_validation_of_the_first_seed_and_reused():
    grid, calls = _tuned()
    assert grid.rates["probe"] == {1: 1e-3, 5: 1e-3}  # validation's favourite, not test's
    assert grid.tuning["probe"][1] == {1e-4: 0.5, 1e-3: 0.9, 1e-2: 0.5}
    assert grid.scores["probe"][1] == [0.5, 0.5, 0.5]  # test scored with the chosen rate
    assert grid.val_scores["probe"][5] == [0.9, 0.9, 0.9]
    # the first seed tries every rate, the others only the chosen one
    assert [c[3] for c in calls if c[:3] == ("probe", 1, 0)] == GRID
    assert [c[3] for c in calls if c[:3] == ("probe", 1, 1)] == [1e-3]


def test_a_strategy_starts_from_the_chosen_model_of_another():
    grid, calls = _tuned()
    starts = {c[4] for c in calls if c[0] == "careful"}
    assert starts == {1e-3}  # always the probe trained with its chosen rate
    assert grid.rates["careful"][1] == 1e-3
    # careful's test accuracy includes the bonus of a good start
    assert grid.scores["careful"][1] == pytest.approx([0.55] * 3)


def test_rate_of_reuses_another_strategys_rate_and_does_not_retrain():
    grid, calls = _tuned()
    assert grid.rates["probe again"] == grid.rates["careful"]
    assert grid.tuning["probe again"][1] == {1e-3: 0.9}
    # the same trainer with the same split, seed and rate ran once: the probe's run is reused
    assert len([c for c in calls if c[0] == "probe"]) == 2 * (3 + 1 + 1)
    assert grid.scores["probe again"][5] == grid.scores["probe"][5]


def test_ties_go_to_the_first_rate_and_best_on_validation():
    grid, _ = _tuned(evaluate=lambda model, part: 0.7)
    assert grid.rates["probe"][1] == GRID[0]
    assert grid.best_on_validation(["probe", "careful"], 1) == "probe"
    assert (
        "K = 1: validation accuracy" in grid.rates_table() and "1e-04:  70.0*" in grid.rates_table()
    )
    assert "rates chosen on validation" in grid.table()


def test_best_on_validation_needs_a_tuned_comparison():
    plain, _ = _grid()
    with pytest.raises(UnknownNameError, match="no validation scores"):
        plain.best_on_validation(["good", "bad"], 1)
    assert "no rates were tuned" in plain.rates_table()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"rates": []}, ValueError, "non-empty list of learning rates"),
        ({"rates": [0.0]}, ValueError, r"number in \(0, 1\)"),
        ({"rates": 1e-3}, ValueError, "non-empty list"),
        ({"evaluate": None}, TypeError, "evaluate must be callable"),
        ({"starts_from": {"careful": "nobody"}}, UnknownNameError, "not in probe, careful"),
        ({"starts_from": {"probe": "careful"}}, ValueError, "must come before"),
        ({"rate_of": {"probe": "probe again"}}, ValueError, "must come before"),
        ({"evaluate": lambda m, p: 90.0}, ValueError, r"fraction\s+in \[0, 1\]"),
    ],
)
def test_tuned_comparison_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        _tuned(**kwargs)
