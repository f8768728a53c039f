"""Keep committed notebooks clean: no outputs but the ``# NBVAL_CHECK_OUTPUT`` cells nbval checks.

``course notebooks clean`` strips outputs; ``course notebooks refresh`` re-executes notebooks in
smoke mode and stores the fresh outputs of the checked cells (after an intended change).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path

import nbformat

CHECK_MARK = "# NBVAL_CHECK_OUTPUT"
_PAPERMILL_KEYS = ("papermill",)


def _is_checked(cell: nbformat.NotebookNode) -> bool:
    return cell.cell_type == "code" and CHECK_MARK in cell.source


def clean(
    nb: nbformat.NotebookNode, executed: nbformat.NotebookNode | None = None
) -> nbformat.NotebookNode:
    """Strip outputs and execution counts; checked cells keep theirs (or take ``executed``'s)."""
    fresh = {}
    if executed is not None:
        fresh = {c.get("id"): c.outputs for c in executed.cells if c.cell_type == "code"}
    code_cells = 0
    for cell in nb.cells:
        for key in _PAPERMILL_KEYS:
            cell.metadata.pop(key, None)
        if cell.cell_type != "code":
            continue
        code_cells += 1
        # nbval skips the comparison of cells without an execution count, so checked cells keep a
        # stable one (their position among the code cells); every other cell has none.
        cell.execution_count = code_cells if _is_checked(cell) else None
        cell.metadata.pop("execution", None)
        if not _is_checked(cell):
            cell.outputs = []
            continue
        if executed is not None:
            if cell.get("id") not in fresh:
                raise ValueError(
                    f"checked cell {cell.get('id')!r} is missing from the executed "
                    "notebook; was it run from this source?"
                )
            cell.outputs = fresh[cell["id"]]
        for output in cell.outputs:
            if "execution_count" in output:
                output["execution_count"] = cell.execution_count
    for key in _PAPERMILL_KEYS:
        nb.metadata.pop(key, None)
    return nb


def clean_files(paths: Iterable[Path]) -> list[Path]:
    """Clean notebooks in place; return the ones that changed."""
    changed = []
    for path in paths:
        before = Path(path).read_text(encoding="utf-8")
        nb = clean(nbformat.reads(before, as_version=4))
        after = nbformat.writes(nb) + "\n"
        if after != before:
            Path(path).write_text(after, encoding="utf-8")
            changed.append(Path(path))
    return changed


def refresh_files(paths: Iterable[Path], mode: str = "smoke", seed: int = 0) -> list[Path]:
    """Execute each notebook and store the new outputs of its checked cells; return the paths."""
    from course_lib.runner import execute_notebook

    done = []
    for path in paths:
        path = Path(path)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / path.name
            execute_notebook(path, out, mode=mode, seed=seed)
            executed = nbformat.read(out, as_version=4)
        nb = clean(nbformat.read(path, as_version=4), executed)
        path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
        done.append(path)
    return done
