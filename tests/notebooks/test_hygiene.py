"""Every lesson notebook is committed clean and follows the course's notebook conventions."""

from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
# Exercise notebooks: the solutions (exercises/solutions/) and the generated student copies.
EXERCISES = sorted(
    p for p in (ROOT / "exercises").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
)
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + EXERCISES


def _code(cell):
    return cell.cell_type == "code"


def test_there_are_notebooks_to_check():
    """The tests below are parametrized over these lists: empty, they would not run at all."""
    lessons = [p for p in NOTEBOOKS if p.parent.name == "notebooks"]
    solutions = [p for p in EXERCISES if p.parent.name == "solutions"]
    students = [p for p in EXERCISES if p.parent.name == "exercises"]
    assert lessons and solutions and students, (len(lessons), len(solutions), len(students))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_clean(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert all(cell.get("id") for cell in nb.cells), "every cell needs an id (nbformat 4.5)"
    for i, cell in enumerate(nb.cells):
        if not _code(cell):
            continue
        checked = "# NBVAL_CHECK_OUTPUT" in cell.source
        if not checked:
            assert cell.execution_count is None, f"cell {i} has an execution count: clear it"
        if cell.outputs:
            assert checked, f"cell {i} has outputs but is not marked # NBVAL_CHECK_OUTPUT"
            size = sum(len(str(o)) for o in cell.outputs)
            assert size < 5000, f"cell {i} stores {size} characters of output"


@pytest.mark.parametrize(
    "path", [p for p in NOTEBOOKS if p.parent.name == "notebooks"], ids=lambda p: p.name
)
def test_lesson_conventions(path):
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    for mode in ("smoke", "teaching", "full"):
        assert mode in first.source, f"first cell must state the run time in {mode} mode"
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged 'parameters' (papermill)"
    assert "mode = None" in params[0].source and "seed = " in params[0].source
    assert nb.metadata.kernelspec.name == "post-training-course"
    checked = [c for c in nb.cells if _code(c) and "# NBVAL_CHECK_OUTPUT" in c.source]
    assert all(c.outputs for c in checked), "NBVAL_CHECK_OUTPUT cells must store their output"
    assert nb.cells[-1].cell_type == "markdown", "end with a summary"


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_exercise_conventions(path):
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    for mode in ("smoke", "teaching", "full"):
        assert mode in first.source, f"first cell must state the run time in {mode} mode"
    assert "../notebooks/" in first.source, "link back to the lesson (from exercises/)"
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and "mode = None" in params[0].source, "one 'parameters' cell"
    assert nb.metadata.kernelspec.name == "post-training-course"
    assert nb.cells[-1].cell_type == "markdown", "end with what's next"
    if path.parent.name == "solutions":
        return
    # A generated student copy: no answers, no outputs, and it says where it comes from.
    assert nb.metadata.get("course", {}).get("generated_from", "").startswith("solutions/")
    for i, cell in enumerate(nb.cells):
        assert "### BEGIN SOLUTION" not in cell.source, f"cell {i} still holds a solution"
        if cell.cell_type == "code":
            assert not cell.outputs, f"cell {i} of a student copy has outputs"
