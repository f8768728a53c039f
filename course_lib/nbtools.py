"""Keep committed notebooks clean: no outputs but the ``# NBVAL_CHECK_OUTPUT`` cells the tests
compare with a fresh run (:func:`checked_output_mismatches`; ``pytest --nbval-lax`` would too).

``course notebooks clean`` strips outputs; ``course notebooks refresh`` re-executes notebooks in
smoke mode and stores the fresh outputs of the checked cells (after an intended change).
"""

from __future__ import annotations

import re
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


# What nbval (in --nbval-lax mode, on the checked cells) leaves out of the comparison: metadata,
# counts and names, random widget ids, tracebacks, and images (pixels differ between machines).
_SKIPPED_KEYS = frozenset(
    {
        "metadata",
        "traceback",
        "prompt_number",
        "output_type",
        "name",
        "execution_count",
        "application/vnd.jupyter.widget-view+json",
        "image/png",
        "image/jpeg",
    }
)
# nbval's pattern: a line overwritten after a carriage return (a progress bar) keeps its end.
_CARRIAGE_RETURN = re.compile(r"^.*\r(?=[^\n])", re.MULTILINE)


def _comparable(outputs: Iterable[dict]) -> dict[str, list]:
    """Outputs as nbval compares them: key (stream name, MIME type, ename...) -> its values.

    Streams of one name are joined into one text (lines a carriage return overwrote are
    dropped), so how the kernel split its output into messages does not matter.
    """
    streams: dict[str, str] = {}
    flat: dict[str, list] = {}
    for output in outputs:
        if output.get("output_type") == "stream":
            streams[output["name"]] = streams.get(output["name"], "") + output.get("text", "")
            continue
        for key, value in output.items():
            if key in _SKIPPED_KEYS:
                continue
            if key == "data":
                for mime, data in value.items():
                    if mime not in _SKIPPED_KEYS:
                        flat.setdefault(mime, []).append(data)
            else:
                flat.setdefault(key, []).append(value)
    for name, text in streams.items():  # stream names never clash with MIME types
        flat.setdefault(name, []).append(_CARRIAGE_RETURN.sub("", text))
    return flat


def checked_output_mismatches(
    committed: nbformat.NotebookNode, executed: nbformat.NotebookNode
) -> list[str]:
    """Where the fresh outputs of the ``# NBVAL_CHECK_OUTPUT`` cells differ from the stored ones.

    ``committed`` is the notebook as committed (its checked cells store the expected outputs),
    ``executed`` a run of it (papermill keeps the cell ids). Compares what ``pytest --nbval-lax``
    compares: the stream texts, ``text/plain`` and the other non-image MIME types, and error
    names and values. Returns one message per differing cell; empty when all agree.
    """
    fresh = {c.get("id"): c for c in executed.cells if c.cell_type == "code"}
    problems = []
    for i, cell in enumerate(committed.cells):
        if not _is_checked(cell):
            continue
        ran = fresh.get(cell.get("id"))
        if ran is None:
            problems.append(f"checked cell {i} (id {cell.get('id')!r}) is not in the executed copy")
            continue
        expected, got = _comparable(cell.outputs), _comparable(ran.outputs)
        if expected != got:
            problems.append(
                f"checked cell {i} (id {cell.get('id')!r}) printed something else:\n"
                f"--- stored in the notebook\n{_show(expected)}\n--- this run\n{_show(got)}\n"
                "(after an intended change: `course notebooks refresh` stores the new outputs)"
            )
    return problems


def _show(flat: dict[str, list]) -> str:
    return "\n".join(f"[{key}]\n{value}" for key, values in flat.items() for value in values)


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
