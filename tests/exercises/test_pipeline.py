"""CI proof of the exercise pipeline: solutions pass their checks, untouched copies fail them."""

import re

import nbformat
import pytest
from nbclient import NotebookClient

from course_lib import nbtools, runner
from course_lib.exercises import build
from tests.notebook_runs import MODE, SOLUTION_SEED, SOLUTIONS, environment, solution_params

CHECK_CELL = re.compile(r"^check_\w+\(", re.MULTILINE)  # a cell that calls a lesson's check
# A solution whose parameters cell says `framework = "torch"` has a Keras version of an exercise
# too: the runs above use its default (PyTorch), the tests below run it again with Keras.
FRAMEWORK_PARAMETER = re.compile(r'^framework = "torch"', re.MULTILINE)


def _parameters_cell(nb):
    return next(c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", []))


def _with_framework(src):
    return FRAMEWORK_PARAMETER.search(_parameters_cell(nbformat.read(src, as_version=4)).source)


KERAS_SOLUTIONS = [pytest.param(src, id=src.name) for src in SOLUTIONS if _with_framework(src)]


def _check_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code" and CHECK_CELL.search(c.source)]


def _errors(cell):
    return [o for o in cell.get("outputs", []) if o.output_type == "error"]


def _text(cell):
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.output_type == "stream")


def test_there_are_solution_notebooks():
    assert SOLUTIONS, "no exercises/solutions/*_solutions.ipynb found"


@pytest.mark.parametrize("src", SOLUTIONS, ids=lambda p: p.name)
def test_solution_has_regions_and_check_cells(src):
    nb = nbformat.read(src, as_version=4)
    regions = sum(build.count_regions(c.source) for c in nb.cells if c.cell_type == "code")
    assert regions >= 1, f"{src.name} has no `{build.BEGIN}` region: nothing for learners to do"
    assert _check_cells(nb), f"{src.name} has no cell calling a check_...(...) function"


def test_committed_student_copies_are_up_to_date():
    stale = build.build_all(check=True)
    assert not stale, f"stale student copies {stale}: run `course exercises build` and commit"


def test_every_student_copy_has_a_solution_notebook():
    exercises = build.exercises_dir()
    expected = {build.student_path(src).name for src in SOLUTIONS}
    found = {p.name for p in exercises.glob("*.ipynb")}
    assert found == expected, "every exercises/*.ipynb must be generated from exercises/solutions/"


@pytest.mark.parametrize("src", solution_params())
def test_solution_runs_top_to_bottom_and_passes_its_checks(src, notebook_runs):
    run = notebook_runs.solution(src)  # one papermill run per solution serves every test here
    assert not run.error, run.error  # papermill stops at the first cell that raises
    nb = run.notebook()
    errors = [o for cell in nb.cells if cell.cell_type == "code" for o in _errors(cell)]
    assert not errors, f"{errors[0].ename}: {errors[0].evalue}"
    checks = _check_cells(nb)
    assert checks
    for cell in checks:
        assert re.search(r"✓ .*: all \d+ checks passed", _text(cell)), cell.source


@pytest.mark.parametrize("src", solution_params())
def test_solution_checked_cells_print_what_the_notebook_stores(src, notebook_runs):
    committed = nbformat.read(src, as_version=4)
    problems = nbtools.checked_output_mismatches(committed, notebook_runs.solution(src).notebook())
    assert not problems, "\n\n".join(problems)


def test_lesson_05_offers_both_frameworks():
    assert any("05_multitask" in p.id for p in KERAS_SOLUTIONS)


@pytest.mark.parametrize("src", KERAS_SOLUTIONS)
def test_solution_runs_and_passes_its_checks_with_keras(src, tmp_path):
    """The same solution notebook with `framework="keras"` injected: the Keras version of its
    framework-specific exercise passes the same check cell."""
    output = tmp_path / "notebooks" / src.name
    with environment(COURSE_BUILD_DIR=str(tmp_path)):
        runner.execute_notebook(
            src,
            output,
            mode=MODE,
            seed=SOLUTION_SEED,
            extra_parameters={"framework": "keras"},
            timeout=300,
        )
    nb = nbformat.read(output, as_version=4)
    errors = [o for cell in nb.cells if cell.cell_type == "code" for o in _errors(cell)]
    assert not errors, f"{errors[0].ename}: {errors[0].evalue}"
    assert "framework: keras" in "".join(_text(c) for c in nb.cells if c.cell_type == "code")
    for cell in _check_cells(nb):
        assert re.search(r"✓ .*: all \d+ checks passed", _text(cell)), cell.source


def _student_copy(src, framework):
    nb = nbformat.read(build.student_path(src), as_version=4)
    if framework != "torch":
        cell = _parameters_cell(nb)
        cell.source = FRAMEWORK_PARAMETER.sub(f'framework = "{framework}"', cell.source)
    return nb


@pytest.mark.parametrize(
    ("src", "framework"),
    [pytest.param(src, "torch", id=src.name) for src in SOLUTIONS]
    + [pytest.param(p.values[0], "keras", id=f"{p.id}-keras") for p in KERAS_SOLUTIONS],
)
def test_untouched_student_copy_fails_only_its_checks_with_not_implemented(src, framework):
    nb = _student_copy(src, framework)
    client = NotebookClient(
        nb,
        kernel_name=runner.kernel_name(),
        allow_errors=True,
        timeout=300,
        resources={"metadata": {"path": str(src.parent.parent)}},
    )
    client.execute()
    check_ids = {c.id for c in _check_cells(nb)}
    assert check_ids
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        errors = _errors(cell)
        if cell.id in check_ids:
            assert len(errors) == 1, f"check cell {i} ({cell.source!r}) did not fail"
            assert errors[0].ename == "ExerciseCheckError", errors[0].ename
            assert "not implemented yet" in errors[0].evalue, errors[0].evalue
        else:
            assert not errors, (
                f"cell {i} fails in the untouched student copy: "
                f"{errors[0].ename}: {errors[0].evalue}. Guard code that calls an exercise "
                "with `with skip_if_not_implemented():`."
            )
