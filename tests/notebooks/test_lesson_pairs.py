"""The PyTorch and Keras versions of a lesson tell the same story."""

import nbformat
import pytest

from course_lib import runner

LESSONS = runner.discover_lessons()


def _checked_summaries(path):
    nb = nbformat.read(path, as_version=4)
    return [
        "".join(o.get("text", "") for o in cell.outputs)
        for cell in nb.cells
        if cell.cell_type == "code"
        and "# NBVAL_CHECK_OUTPUT" in cell.source
        and "trainable_summary" in cell.source
    ]


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.id)
def test_model_summaries_match_between_frameworks(lesson):
    """Same architecture, same parameter table: the stored outputs must be identical."""
    torch_tables = _checked_summaries(lesson.notebooks["torch"])
    keras_tables = _checked_summaries(lesson.notebooks["keras"])
    assert torch_tables == keras_tables
    if lesson.id == "00_setup":
        assert torch_tables and "131,178" in torch_tables[0]


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.id)
def test_same_sections_in_both_frameworks(lesson):
    def headings(path):
        nb = nbformat.read(path, as_version=4)
        return [
            line.split(" (")[0]
            for cell in nb.cells
            if cell.cell_type == "markdown"
            for line in cell.source.splitlines()
            if line.startswith("## ")
        ]

    torch_h = [h.replace("PyTorch", "<fw>") for h in headings(lesson.notebooks["torch"])]
    keras_h = [h.replace("Keras", "<fw>") for h in headings(lesson.notebooks["keras"])]
    assert torch_h == keras_h
