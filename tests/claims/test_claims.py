"""Claim tests: every lesson, seeded, in teaching mode; each of its claims must hold.

The thresholds live in the lessons (they write them into their results files); this suite checks
that each claim holds on a real run and that every lesson makes at least one.
"""

import json
import shutil

import pytest

from course_lib import runner

pytestmark = pytest.mark.claims


@pytest.fixture(scope="session")
def claims_results(tmp_path_factory):
    """One folder for the results files of every claims run in this session."""
    return tmp_path_factory.mktemp("claims_results")


JOBS = [(lesson, fw) for lesson in runner.discover_lessons() for fw in ("torch", "keras")]


@pytest.mark.parametrize(("lesson", "framework"), JOBS, ids=lambda v: getattr(v, "id", v))
def test_lesson_claims_hold_in_teaching_mode(
    lesson, framework, tmp_path, monkeypatch, claims_results
):
    monkeypatch.setenv("COURSE_BUILD_DIR", str(tmp_path))
    out = tmp_path / "notebooks" / lesson.notebooks[framework].name
    runner.execute_notebook(lesson.notebooks[framework], out, mode="teaching", seed=0)
    path = tmp_path / "results" / f"{lesson.id}_{framework}.json"
    shutil.copy(path, claims_results / path.name)  # for the cross-framework test below
    results = json.loads(path.read_text())
    assert results["mode"] == "teaching"
    assert results["claims"], f"{lesson.id} ({framework}) states no claim"
    failed = [c for c in results["claims"] if not c["holds"]]
    assert not failed, "claims that do not hold:\n" + "\n".join(
        f"  {c['statement']}: {c['value']} vs {c.get('direction', '>=')} {c['threshold']}"
        for c in failed
    )


# Lesson 02: the comparison table must tell the same story in both frameworks.
AGREEMENT_POINTS = 5.0


def test_lesson_02_frameworks_agree_on_every_cell_of_the_comparison(claims_results):
    files = {fw: claims_results / f"02_finetune_{fw}.json" for fw in ("torch", "keras")}
    missing = [fw for fw, path in files.items() if not path.exists()]
    if missing:
        pytest.skip(f"lesson 02 claims did not run for {missing} in this session")
    torch_m, keras_m = (json.loads(files[fw].read_text())["metrics"] for fw in ("torch", "keras"))
    cells = [name for name in torch_m if name.startswith("glyphs_")]
    assert len(cells) == 15, cells  # 5 strategies x 3 label budgets
    apart = {n: 100 * abs(torch_m[n] - keras_m[n]) for n in cells}
    too_far = {n: round(d, 1) for n, d in apart.items() if d > AGREEMENT_POINTS}
    assert not too_far, f"torch and Keras differ by more than {AGREEMENT_POINTS} points: {too_far}"


# Lesson 03: the techniques must come out in the same order in both frameworks wherever one
# framework separates two of them clearly. Most techniques sit within a point or two of the
# baseline (the seed-to-seed std is 1-2 points), so their order among themselves is noise; a
# difference of more than RANKING_POINTS (about 3 standard errors of a 3-seed mean difference) is
# not, and the other framework must order that pair the same way.
RANKING_POINTS = 4.0


def _validation_accuracies(path):
    metrics = json.loads(path.read_text())["metrics"]
    return {
        name.removeprefix("table_").removesuffix("_val"): value
        for name, value in metrics.items()
        if name.startswith("table_") and name.endswith("_val")
    }


def test_lesson_03_frameworks_agree_on_the_ranking_of_the_techniques(claims_results):
    files = {fw: claims_results / f"03_regularization_{fw}.json" for fw in ("torch", "keras")}
    missing = [fw for fw, path in files.items() if not path.exists()]
    if missing:
        pytest.skip(f"lesson 03 claims did not run for {missing} in this session")
    val = {fw: _validation_accuracies(path) for fw, path in files.items()}
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


def test_lesson_04_frameworks_agree_on_prototypical_network_accuracy(claims_results):
    files = {fw: claims_results / f"04_meta_learning_{fw}.json" for fw in ("torch", "keras")}
    missing = [fw for fw, path in files.items() if not path.exists()]
    if missing:
        pytest.skip(f"lesson 04 claims did not run for {missing} in this session")
    torch_m, keras_m = (json.loads(files[fw].read_text())["metrics"] for fw in ("torch", "keras"))
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
