"""Every lesson notebook, run once in smoke mode with papermill (tests/notebook_runs.py), checked.

What each run must show: no cell errored; the ``# NBVAL_CHECK_OUTPUT`` cells printed what the
committed notebook stores (the comparison ``pytest --nbval-lax`` made); the injected parameters
reached the results file (mode over ``$COURSE_MODE``, seed over the parameters cell); results
with metrics, claims and figures. Lesson 00 (Keras) runs through ``course run``, lesson 06 after
fake earlier results were planted in its build folder; their own tests read those same runs.
"""

import json

import nbformat
import pytest

from course_lib import nbtools
from tests.notebook_runs import CALLER_MODE, MODE, SEED, lesson_params


def _errors(nb):
    return [
        (i, o)
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for o in cell.get("outputs", [])
        if o.output_type == "error"
    ]


@pytest.mark.parametrize(("lesson", "framework"), lesson_params())
def test_lesson_runs_top_to_bottom(lesson, framework, notebook_runs):
    run = notebook_runs.lesson(lesson, framework)
    assert not run.error, run.error
    errors = _errors(run.notebook())
    assert not errors, f"cell {errors[0][0]}: {errors[0][1].ename}: {errors[0][1].evalue}"


@pytest.mark.parametrize(("lesson", "framework"), lesson_params())
def test_checked_cells_print_what_the_notebook_stores(lesson, framework, notebook_runs):
    run = notebook_runs.lesson(lesson, framework)
    committed = nbformat.read(lesson.notebooks[framework], as_version=4)
    problems = nbtools.checked_output_mismatches(committed, run.notebook())
    assert not problems, "\n\n".join(problems)


@pytest.mark.parametrize(("lesson", "framework"), lesson_params())
def test_injected_parameters_reach_the_results_file(lesson, framework, notebook_runs):
    run = notebook_runs.lesson(lesson, framework)
    assert not run.error, run.error
    results = run.results(lesson.id, framework)
    # $COURSE_MODE was "teaching" and the parameters cell says seed = 0: the injected values won.
    assert (results["mode"], results["seed"]) == (MODE, SEED) != (CALLER_MODE, 0)
    assert results["lesson"] == lesson.id and results["framework"] == framework
    assert results["metrics"] and results["claims"]
    assert results["figures"], "every lesson saves at least one figure"
    for figure in results["figures"]:
        assert (run.build / figure).is_file(), figure


@pytest.mark.parametrize(("lesson", "framework"), lesson_params(("00_setup",), ("keras",)))
def test_course_run_writes_notebook_results_runs_and_report(lesson, framework, notebook_runs):
    """`course run 00 --mode smoke --framework keras --seed 3`: the run every check above reads."""
    run = notebook_runs.lesson(lesson, framework)
    assert run.exit_code == 0, run.error
    assert "without encryption" not in run.console  # ipykernel's start-up warning is silenced
    assert "[1/1] 00_setup_keras.ipynb" in run.console
    assert "1/1 notebook(s) ok" in run.console
    assert (run.build / "notebooks" / "00_setup_keras.ipynb").is_file()
    runs = json.loads((run.build / "runs.json").read_text())
    assert runs["00_setup_keras"]["ok"] and runs["00_setup_keras"]["wall_s"] > 0
    assert runs["00_setup_keras"]["mode"] == MODE
    assert "00_setup" in (run.build / "report.html").read_text()


@pytest.mark.parametrize(("lesson", "framework"), lesson_params(("06_capstone",)))
def test_capstone_reads_the_earlier_results_and_recomputes_nothing(
    lesson, framework, notebook_runs
):
    """Lesson 06 lists every claim of the results files it finds, and leaves those files alone.

    Its run found fake results of lessons 01 and 05 and a stale capstone file of its own.
    """
    run = notebook_runs.lesson(lesson, framework)
    assert not run.error, run.error
    assert run.planted, "nothing was planted before the capstone ran"
    results_dir = run.build / "results"
    assert {name: (results_dir / name).read_bytes() for name in run.planted} == run.planted
    text = "".join(
        o.get("text", "")
        for cell in run.notebook().cells
        if cell.cell_type == "code" and "claims_table" in cell.source
        for o in cell.outputs
    )
    assert "a claim from lesson 01 that holds" in text and "21.5" in text
    assert "a claim from lesson 05" in text and "12.5" in text
    assert "a stale capstone claim" not in text
    assert "2 of 3 claims hold" in text
    results = run.results(lesson.id, framework)
    assert results["metrics"]["earlier_results_files"] == 2
    assert results["metrics"]["earlier_claims_holding"] == 2
    assert len(results["claims"]) == 3
    assert "a stale capstone claim" not in {c["statement"] for c in results["claims"]}
