"""Lesson 00 and its exercises in JupyterLab, in headless Chromium, as a learner runs them.

Each test opens a notebook at ``/lab/tree/<path>``, checks that the course kernel started without
a "Select Kernel" dialog, runs Run > Run All Cells from the menu bar, waits (bounded per cell and
per notebook), saves a screenshot of the whole notebook to ``build/screenshots/<notebook>.png``
and then checks what the page shows. Marker ``browser``: ``pytest -m "not browser"`` leaves them
out, ``COURSE_SKIP_BROWSER=1`` skips them.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from contextlib import redirect_stdout, suppress

import pytest

from course_lib import doctor
from course_lib.exercises import ExerciseCheckError, lesson00, skip_if_not_implemented
from tests.browser.conftest import ROOT, SCREENSHOTS
from tests.browser.jupyterlab import (
    TRACEBACK,
    Cell,
    notebook_cells,
    open_notebook,
    read_cells,
    run_all,
    screenshot,
)

pytestmark = pytest.mark.browser

CELL_TIMEOUT_S = 120  # smoke mode: the slowest lesson 00 cell takes a few seconds
NOTEBOOK_TIMEOUT_S = 300


def _run_in_lab(lab_page, lab_server, path: str) -> list[Cell]:
    """Open ``path`` in JupyterLab, Run All, screenshot it; return its cells as shown."""
    file = ROOT / path
    before = file.read_bytes()
    cells = notebook_cells(file)
    page = lab_page()
    open_notebook(page, lab_server.url(path), len(cells))
    shot = SCREENSHOTS / f"{file.stem}.png"
    try:
        run_all(page, cells, CELL_TIMEOUT_S, NOTEBOOK_TIMEOUT_S)
    except BaseException:
        with suppress(Exception):  # a screenshot of a stalled run shows where; keep its error
            screenshot(page, shot)
        raise
    screenshot(page, shot)
    height = int.from_bytes(shot.read_bytes()[20:24], "big")  # the PNG header's height field
    assert height > page.viewport_size["height"], f"{shot} shows only one screen ({height} px)"
    read_cells(page, cells)
    assert file.read_bytes() == before, f"running {path} in JupyterLab changed the file"
    return cells


def _code(cells: list[Cell], text: str) -> Cell:
    """The one code cell whose source contains ``text``."""
    found = [c for c in cells if c.kind == "code" and text in c.source]
    assert len(found) == 1, f"{len(found)} code cells contain {text!r}"
    return found[0]


def _assert_ran_without_errors(cells: list[Cell]) -> None:
    code = [c for c in cells if c.kind == "code"]
    errors = [f"{c.where()}: {e['ename']}: {e['evalue']}" for c in code for e in c.errors]
    assert not errors, "cells raised in JupyterLab:\n" + "\n".join(errors)
    tracebacks = [c.where() for c in code if TRACEBACK in c.stderr]
    assert not tracebacks, f"tracebacks shown in {tracebacks}"
    not_run = [f"{c.where()} shows {c.prompt!r}" for c in code if not c.ran]
    assert not not_run, "Run All did not run every cell:\n" + "\n".join(not_run)


def _feedback(check: Callable, name: str, impl: Callable) -> str:
    """What ``check`` says about a learner's function called ``name`` that does ``impl``."""

    def learner_function(*args, **kwargs):
        return impl(*args, **kwargs)

    learner_function.__name__ = name
    out = io.StringIO()
    try:
        with redirect_stdout(out):
            check(learner_function)
    except ExerciseCheckError as err:
        return str(err)
    return out.getvalue().strip()


def _todo(*args, **kwargs):
    raise NotImplementedError("Replace this line with your solution (see the TODO above).")


@pytest.mark.parametrize(
    ("path", "framework"),
    [("notebooks/00_setup_pytorch.ipynb", "torch"), ("notebooks/00_setup_keras.ipynb", "keras")],
)
def test_lesson_00_runs_in_jupyterlab(lab_page, lab_server, path, framework):
    cells = _run_in_lab(lab_page, lab_server, path)
    _assert_ran_without_errors(cells)
    check = _code(cells, "doctor.check_environment")
    assert "[FAIL]" not in check.text, f"the environment check reports a failure:\n{check.text}"
    names = ["python", *(r.name for r in doctor.requirements()[1])]
    missing = [n for n in names if not re.search(rf"^\[OK\]\s+{re.escape(n)}\s", check.text, re.M)]
    assert not missing, f"no [OK] line for {missing} in:\n{check.text}"
    verdict = re.search(r"^(\d+)/(\d+) checks OK$", check.text, re.M)
    assert verdict and verdict[1] == verdict[2], f"not every check is OK:\n{check.text}"


def test_student_copy_shows_the_first_checks_feedback(lab_page, lab_server):
    """Run All stops at the first check: it must say the function is not implemented yet."""
    cells = _run_in_lab(lab_page, lab_server, "exercises/00_setup_exercises.ipynb")
    check = _code(cells, "check_standardize_images(standardize_images)")
    expected = _feedback(lesson00.check_standardize_images, "standardize_images", _todo)
    assert [(c.index, e["ename"]) for c in cells for e in c.errors] == [
        (check.index, "ExerciseCheckError")
    ], "the first check cell, and only it, must raise"
    assert check.errors[0]["evalue"] == expected
    assert expected in check.stderr, f"the page does not show the feedback:\n{check.stderr}"
    code = [c for c in cells if c.kind == "code"]
    assert all(c.ran for c in code if c.index <= check.index), [c.prompt for c in code]
    assert not any(c.ran for c in code if c.index > check.index), "Run All went on after an error"
    hint = io.StringIO()
    with redirect_stdout(hint), skip_if_not_implemented():
        _todo()
    tried = _code(cells, "result = standardize_images(batch)")
    assert hint.getvalue().strip() in tried.text, tried.text


def test_solutions_pass_every_check(lab_page, lab_server):
    cells = _run_in_lab(lab_page, lab_server, "exercises/solutions/00_setup_solutions.ipynb")
    _assert_ran_without_errors(cells)
    for call, check, name, reference in [
        (
            "check_standardize_images(standardize_images)",
            lesson00.check_standardize_images,
            "standardize_images",
            lesson00._reference_standardize_images,
        ),
        (
            "check_sample_episode(sample_episode)",
            lesson00.check_sample_episode,
            "sample_episode",
            lesson00._reference_sample_episode,
        ),
    ]:
        passed = _feedback(check, name, reference)
        assert passed.startswith("✓") and "checks passed" in passed, passed
        assert passed in _code(cells, call).text, _code(cells, call).text
