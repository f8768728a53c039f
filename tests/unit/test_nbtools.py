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


# --- checked_output_mismatches: what `pytest --nbval-lax` compared, without a second run ---------


def _checked(*outputs, cell_id="c2"):
    cell = new_code_cell("# NBVAL_CHECK_OUTPUT\nprint(1)", execution_count=2, outputs=list(outputs))
    cell["id"] = cell_id
    return new_notebook(cells=[cell])


def test_identical_checked_outputs_agree():
    nb = _notebook()
    assert nbtools.checked_output_mismatches(nb, _notebook()) == []


def test_a_changed_checked_output_is_reported_unchecked_cells_are_not():
    executed = _notebook()
    executed.cells[1].outputs = [new_output("stream", text="something else\n")]  # not checked
    assert nbtools.checked_output_mismatches(_notebook(), executed) == []
    executed.cells[2].outputs[0]["data"]["text/plain"] = "3"
    (problem,) = nbtools.checked_output_mismatches(_notebook(), executed)
    assert "checked cell 2" in problem and "'c2'" in problem
    assert "[text/plain]\n2\n--- this run\n[text/plain]\n3" in problem


def test_streams_compare_as_one_text_per_name_counts_and_images_are_ignored():
    stored = _checked(
        new_output("stream", name="stdout", text="a\nb\n"),
        new_output("display_data", data={"text/plain": "<Figure>", "image/png": "AAAA"}),
    )
    fresh = _checked(
        new_output("stream", name="stdout", text="a\n"),
        new_output("stream", name="stdout", text="b\n"),
        new_output("display_data", data={"text/plain": "<Figure>", "image/png": "BBBB"}),
    )
    fresh.cells[0].execution_count = 7
    assert nbtools.checked_output_mismatches(stored, fresh) == []
    progress = _checked(new_output("stream", name="stdout", text="10%\r100%\na\nb\n"))
    assert (
        nbtools.checked_output_mismatches(
            _checked(new_output("stream", name="stdout", text="100%\na\nb\n")), progress
        )
        == []
    )


@pytest.mark.parametrize(
    "fresh",
    [
        _checked(new_output("stream", name="stdout", text="a\nB\n")),  # one character
        _checked(new_output("stream", name="stderr", text="a\nb\n")),  # another stream
        _checked(
            new_output("stream", name="stdout", text="a\nb\n"),
            new_output("execute_result", data={"text/plain": "1"}, execution_count=2),
        ),
        _checked(),  # printed nothing
        _checked(new_output("stream", name="stdout", text="a\nb\n"), cell_id="other"),
    ],
    ids=["text", "stream-name", "extra-result", "nothing", "cell-missing"],
)
def test_every_difference_nbval_saw_is_reported(fresh):
    stored = _checked(new_output("stream", name="stdout", text="a\nb\n"))
    assert len(nbtools.checked_output_mismatches(stored, fresh)) == 1


def test_a_lesson_agrees_with_itself_and_not_with_a_changed_stored_output():
    from course_lib.runner import discover_lessons

    source = discover_lessons()[0].notebooks["torch"]
    committed = nbformat.read(source, as_version=4)
    assert nbtools.checked_output_mismatches(committed, nbformat.read(source, as_version=4)) == []
    cell = next(c for c in committed.cells if nbtools.CHECK_MARK in c.source)
    cell.outputs[0]["text"] = cell.outputs[0]["text"].replace("True", "False", 1)
    assert len(nbtools.checked_output_mismatches(committed, nbformat.read(source, 4))) == 1
