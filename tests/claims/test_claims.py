"""Claim tests: every lesson, seeded, in teaching mode; each claim must hold and be the table's.

The statements, thresholds and directions live in ``course_lib/claims.py`` (one table, with the
reason for each margin); a lesson's results file must report exactly that lesson's claims for its
mode, with the table's statement, threshold and direction (``claims.check_results``), and each
must hold on a real run. The runs set ``$COURSE_STRICT_CLAIMS``, so a free-form claim that is not
in the table stops the notebook with an error that names the table.

Every notebook runs once per session: ``teaching_results(lesson, framework)`` runs it on first use
and keeps its results file; the per-lesson test and the cross-framework tests below share that
run, so those tests never skip and no notebook runs twice.

Under pytest-xdist each worker is a session of its own. The runs then live in a folder shared by
every worker of the test run (the parent of the workers' temporary folders, as the pytest-xdist
documentation recommends), one subfolder per lesson and framework with a lock file: the first
worker that needs a run makes it while the others wait for the lock and read its results file (or
the error it recorded). `make test` runs the claims suite without ``-n``: the lessons' numbers are
measured with the default thread count, as a learner's run is.
"""

import contextlib
import json
import os

import pytest

from course_lib import claims, runner
from course_lib.results import STRICT_CLAIMS_ENV
from tests.notebook_runs import environment

pytestmark = pytest.mark.claims

LESSONS = {lesson.id: lesson for lesson in runner.discover_lessons()}
FRAMEWORKS = ("torch", "keras")


@contextlib.contextmanager
def _exclusive(lock_path):
    """Hold an exclusive lock on ``lock_path`` (released if this process dies)."""
    try:
        import fcntl
    except ImportError:  # Windows: filelock comes with PyTorch
        from filelock import FileLock

        with FileLock(str(lock_path)):
            yield
        return
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run_once(folder, lesson, framework):
    """The results of ``lesson`` in ``framework`` (teaching, seed 0), or the error of its run.

    ``folder`` is this run's build folder; whoever holds its lock first runs the notebook, and
    every later caller, in any worker, reads what that run left there.
    """
    folder.mkdir(parents=True, exist_ok=True)
    results_path = folder / "results" / f"{lesson.id}_{framework}.json"
    error_path = folder / "error.txt"
    with _exclusive(folder / "run.lock"):
        if not results_path.exists() and not error_path.exists():
            notebook = lesson.notebooks[framework]
            try:
                with environment(COURSE_BUILD_DIR=str(folder), **{STRICT_CLAIMS_ENV: "1"}):
                    runner.execute_notebook(
                        notebook, folder / "notebooks" / notebook.name, mode="teaching", seed=0
                    )
            except Exception as err:  # recorded, so no other test or worker runs it again
                error_path.write_text(f"{type(err).__name__}: {err}", encoding="utf-8")
            else:
                if not results_path.exists():
                    error_path.write_text(f"the run wrote no {results_path}", encoding="utf-8")
        if error_path.exists():
            return error_path.read_text(encoding="utf-8")
        return json.loads(results_path.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def teaching_results(tmp_path_factory):
    """``get(lesson_id, framework)`` -> that lesson's results dictionary from its teaching run."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    root = shared / "claims_runs"
    outcomes = {}

    def get(lesson_id, framework):
        key = f"{lesson_id}_{framework}"
        if key not in outcomes:
            outcomes[key] = _run_once(root / key, LESSONS[lesson_id], framework)
        outcome = outcomes[key]
        if isinstance(outcome, str):
            pytest.fail(f"{lesson_id} ({framework}) did not run in teaching mode: {outcome}")
        return outcome

    return get


JOBS = [
    pytest.param(lesson_id, fw, id=f"{lesson_id}-{fw}")
    for lesson_id in LESSONS
    for fw in FRAMEWORKS
]


@pytest.mark.parametrize(("lesson", "framework"), JOBS)
def test_lesson_claims_hold_in_teaching_mode(lesson, framework, teaching_results):
    results = teaching_results(lesson, framework)
    assert results["mode"] == "teaching"
    assert results["claims"], f"{lesson} ({framework}) states no claim"
    problems = claims.check_results(results)
    assert not problems, "claims that differ from course_lib/claims.py:\n" + "\n".join(
        f"  {p}" for p in problems
    )
    failed = [c for c in results["claims"] if not c["holds"]]
    assert not failed, "claims that do not hold:\n" + "\n".join(
        f"  {c['statement']}: {c['value']} vs {c.get('direction', '>=')} {c['threshold']}"
        for c in failed
    )


def _both(teaching_results, lesson):
    return {fw: teaching_results(lesson, fw) for fw in FRAMEWORKS}


# Lesson 02: the comparison table must tell the same story in both frameworks. Each framework
# pretrains its own network and chooses each strategy's rate on its own validation split, so single
# cells differ (2026-12-05, tuned rates: up to 11 points on naive fine-tuning at K = 1, 17-23 points
# on "naive at the careful rate", where the frameworks chose different careful rates). What must
# agree is the order the lesson reads: wherever one framework puts a strategy more than STORY_POINTS
# ahead of another at the same K (about 3 standard errors of a 3-seed mean difference at K = 1), the
# other framework must not put it behind. A broken strategy (10-30 points down) breaks that order.
STORY_POINTS = 5.0

# Pairs the lesson does not order, because no order holds across builds: naive fine-tuning (at
# either rate) against training from scratch at K = 1. It depends on how much of the pretrained
# network one label per class and a random head wipe out, which depends on the pretrained network
# itself: the stop-28 build had Keras naive ahead of scratch, the stop-29 builds (same code, another
# CPU; the Keras pretrained checkpoint differs with the CPU's kernels) had it 4 points behind
# (61.0 vs 65.0 %) while PyTorch stayed 29 points ahead. The lesson says there is no stable order.
UNORDERED = {
    frozenset({"glyphs_from_scratch", "glyphs_naive_fine_tune"}),
    frozenset({"glyphs_from_scratch", "glyphs_naive_at_careful_rate"}),
}


def _glyph_cells(results):
    return {n: v for n, v in results["metrics"].items() if n.startswith("glyphs_")}


def _story_pairs(names):
    """The ordered pairs (a, b) of one label budget's rows whose order the lesson reads."""
    return [
        (a, b)
        for a in names
        for b in names
        if a != b and frozenset({a.rsplit("_k", 1)[0], b.rsplit("_k", 1)[0]}) not in UNORDERED
    ]


def test_lesson_02_story_pairs_leave_out_only_naive_vs_scratch():
    names = [
        f"glyphs_{row}_k1"
        for row in (
            "from_scratch",
            "linear_probe",
            "naive_fine_tune",
            "gradual_unfreezing",
            "discriminative_lrs",
            "naive_at_careful_rate",
        )
    ]
    pairs = _story_pairs(names)
    assert len(pairs) == 6 * 5 - 4
    assert ("glyphs_naive_fine_tune_k1", "glyphs_from_scratch_k1") not in pairs
    assert ("glyphs_gradual_unfreezing_k1", "glyphs_from_scratch_k1") in pairs
    assert ("glyphs_naive_fine_tune_k1", "glyphs_naive_at_careful_rate_k1") in pairs


# "Naive at the careful rate" runs at the rate the careful recipes chose at that K. Where the two
# frameworks chose different careful rates, the row measures naive fine-tuning at different rates
# and its place in the order cannot be compared (2026-12-06, K = 5: PyTorch chose 1e-3, where naive
# reaches 98.3 %; Keras 1e-4, where it reaches 50.8 %). It is compared wherever the rates agree.
BORROWED_RATE = "glyphs_naive_at_careful_rate"


def _incomparable(runs, k: str) -> set[str]:
    """The rows of one label budget whose borrowed rate differs between the frameworks."""
    rates = {fw: results["metrics"][f"rate_{BORROWED_RATE}_k{k}"] for fw, results in runs.items()}
    return set() if len(set(rates.values())) == 1 else {f"{BORROWED_RATE}_k{k}"}


def test_lesson_02_frameworks_tell_the_same_story_in_the_comparison(teaching_results):
    runs = _both(teaching_results, "02_finetune")
    cells = {fw: _glyph_cells(results) for fw, results in runs.items()}
    assert set(cells["torch"]) == set(cells["keras"]), cells
    assert len(cells["torch"]) == 12, sorted(cells["torch"])  # 6 rows x 2 label budgets
    known = {row for pair in UNORDERED for row in pair}
    assert known <= {n.rsplit("_k", 1)[0] for n in cells["torch"]}, "UNORDERED names a lost row"
    by_k: dict[str, list[str]] = {}
    for name in cells["torch"]:
        by_k.setdefault(name.rsplit("_k", 1)[1], []).append(name)
    separated, contradictions = 0, []
    for first, second in (("torch", "keras"), ("keras", "torch")):
        for k, names in by_k.items():
            skip = _incomparable(runs, k)
            for a, b in _story_pairs(names):
                if a in skip or b in skip:
                    continue
                if 100 * (cells[first][a] - cells[first][b]) > STORY_POINTS:
                    separated += 1
                    if cells[second][a] < cells[second][b]:
                        contradictions.append(f"{first}: {a} > {b}; {second}: {a} < {b}")
    assert separated, "no two strategies differ clearly: the comparison says nothing"
    assert not contradictions, "the frameworks order the strategies differently:\n" + "\n".join(
        contradictions
    )


# Lesson 03: the techniques must come out in the same order in both frameworks wherever one
# framework separates two of them clearly. Most techniques sit within a point or two of the
# baseline (the seed-to-seed std is 1-2 points), so their order among themselves is noise; a
# difference of more than RANKING_POINTS (about 3 standard errors of a 3-seed mean difference) is
# not, and the other framework must order that pair the same way.
RANKING_POINTS = 4.0


def _validation_accuracies(results):
    metrics = results["metrics"]
    return {
        name.removeprefix("table_").removesuffix("_val"): value
        for name, value in metrics.items()
        if name.startswith("table_") and name.endswith("_val")
    }


def test_lesson_03_frameworks_agree_on_the_ranking_of_the_techniques(teaching_results):
    runs = _both(teaching_results, "03_regularization")
    val = {fw: _validation_accuracies(results) for fw, results in runs.items()}
    assert set(val["torch"]) == set(val["keras"]) and len(val["torch"]) >= 8, val
    separated, contradictions = 0, []
    for first, second in (("torch", "keras"), ("keras", "torch")):
        for a in val[first]:
            for b in val[first]:
                if 100 * (val[first][a] - val[first][b]) > RANKING_POINTS:
                    separated += 1
                    if val[second][a] <= val[second][b]:
                        contradictions.append(f"{first}: {a} > {b}, {second}: {a} <= {b}")
    assert separated, "no two techniques differ clearly: the ranking says nothing"
    assert not contradictions, "the frameworks rank techniques differently:\n" + "\n".join(
        contradictions
    )


# Lesson 04: the prototypical network must reach the same few-shot accuracy in both frameworks.
PROTO_AGREEMENT_POINTS = 3.0


def test_lesson_04_frameworks_agree_on_prototypical_network_accuracy(teaching_results):
    runs = _both(teaching_results, "04_meta_learning")
    torch_m, keras_m = (runs[fw]["metrics"] for fw in FRAMEWORKS)
    cells = [
        name
        for name in torch_m
        if name.startswith("glyphs_prototypical_network_") and name.endswith("_accuracy")
    ]
    assert len(cells) == 3, cells  # 1-shot, 5-shot, 1-shot within one alphabet
    apart = {n: 100 * abs(torch_m[n] - keras_m[n]) for n in cells}
    too_far = {n: round(d, 1) for n, d in apart.items() if d > PROTO_AGREEMENT_POINTS}
    assert not too_far, (
        f"torch and Keras differ by more than {PROTO_AGREEMENT_POINTS} points: {too_far}"
    )
