import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from course_lib import nbtools


def _notebook():
    nb = new_notebook(cells=[
        new_markdown_cell("# title"),
        new_code_cell("print(1)", execution_count=4, outputs=[new_output("stream", text="1\n")]),
        new_code_cell("# NBVAL_CHECK_OUTPUT\nx = 2\nx", execution_count=9,
                      outputs=[new_output("execute_result", data={"text/plain": "2"},
                                          execution_count=9)]),
    ])
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"c{i}"
    nb.cells[1].metadata["papermill"] = {"duration": 1.0}
    return nb


def test_clean_keeps_only_checked_outputs_with_a_stable_count():
    nb = nbtools.clean(_notebook())
    assert nb.cells[1].outputs == [] and nb.cells[1].execution_count is None
    assert "papermill" not in nb.cells[1].metadata
    checked = nb.cells[2]
    assert checked.execution_count == 2 and checked.outputs[0]["execution_count"] == 2
    nbformat.validate(nb)


def test_clean_takes_fresh_outputs_from_an_executed_copy():
    executed = _notebook()
    executed.cells[2].outputs[0]["data"]["text/plain"] = "3"
    nb = nbtools.clean(_notebook(), executed)
    assert nb.cells[2].outputs[0]["data"]["text/plain"] == "3"
    executed.cells[2]["id"] = "renamed"
    with pytest.raises(ValueError, match="missing from the executed"):
        nbtools.clean(_notebook(), executed)


def test_clean_files_reports_only_changed_files(tmp_path):
    path = tmp_path / "a.ipynb"
    nbformat.write(_notebook(), path)
    assert nbtools.clean_files([path]) == [path]
    assert nbtools.clean_files([path]) == []
