"""Generate both framework notebooks of a lesson from its one source, ``notebooks/src/NN_topic.md``.

A lesson is written once, as a MyST Markdown notebook (jupytext's ``md:myst`` format, the format
Jupyter Book renders). Cells shared by both frameworks carry no framework tag; a cell that exists
for one framework only is tagged ``pytorch`` or ``keras``::

    ```{code-cell}
    :tags: [pytorch]

    from course_lib import torch as cl
    ```

    ```{code-cell}
    :tags: [keras]

    from course_lib import keras as cl
    ```

Markdown cells take tags the same way (``+++ {"tags": ["keras"]}`` above the cell). The tags are
also what a web page needs to show the two variants as PyTorch | Keras tabs.

``course notebooks build`` writes ``notebooks/NN_topic_pytorch.ipynb`` and ``..._keras.ipynb``:
the cells of that framework in source order, cell ids ``c00``, ``c01``, … by position, no outputs
— except the cells marked ``# NBVAL_CHECK_OUTPUT``, which keep the outputs already stored in the
committed notebook for the same cell source (``course notebooks refresh`` re-executes them after
a change). ``--check`` writes nothing and lists the notebooks that differ from their source.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import nbformat

from course_lib import config, nbtools
from course_lib.atomic import atomic_write_text
from course_lib.errors import SourceError

SOURCE_FOLDER = "src"
SOURCE_FORMAT = "md:myst"
FRAMEWORK_TAGS = {"torch": "pytorch", "keras": "keras"}  # framework -> tag = notebook suffix
KERNELSPEC = {
    "display_name": "Python (post-training course)",
    "language": "python",
    "name": "post-training-course",
}


def sources_dir() -> Path:
    """The folder with the lesson sources (the checkout's ``notebooks/src/``)."""
    return config.course_folder("notebooks") / SOURCE_FOLDER


def lesson_sources(directory: Path | None = None) -> list[Path]:
    """Every lesson source ``NN_topic.md`` in ``directory`` (default: ``notebooks/src/``)."""
    directory = Path(directory) if directory is not None else sources_dir()
    return sorted(p for p in directory.glob("[0-9][0-9]_*.md") if p.is_file())


def notebook_path(source: Path, framework: str) -> Path:
    """``notebooks/src/00_setup.md`` -> ``notebooks/00_setup_pytorch.ipynb`` (or ``_keras``)."""
    tag = _tag(framework)
    source = Path(source)
    return source.parent.parent / f"{source.stem}_{tag}.ipynb"


def _tag(framework: str) -> str:
    if framework not in FRAMEWORK_TAGS:
        raise SourceError(
            f"unknown framework {framework!r}: use one of {sorted(FRAMEWORK_TAGS)}."
        )
    return FRAMEWORK_TAGS[framework]


def read_source(source: Path) -> nbformat.NotebookNode:
    """The lesson source as a notebook (every cell, both frameworks), checked for mistakes."""
    import jupytext

    source = Path(source)
    if not source.is_file():
        raise SourceError(f"{source}: no such lesson source. Sources live in notebooks/src/.")
    nb = jupytext.read(source, fmt=SOURCE_FORMAT)
    tags = set(FRAMEWORK_TAGS.values())
    for i, cell in enumerate(nb.cells):
        cell_tags = cell.metadata.get("tags", [])
        if len(tags.intersection(cell_tags)) > 1:
            raise SourceError(
                f"{source.name}, cell {i} ({_first_line(cell)}): tagged for both frameworks "
                f"{sorted(tags.intersection(cell_tags))}; a cell for both carries no framework tag."
            )
    for framework in FRAMEWORK_TAGS:
        if not any("parameters" in c.metadata.get("tags", []) for c in select(nb, framework)):
            raise SourceError(
                f"{source.name}: the {framework} notebook would have no cell tagged "
                "'parameters' (papermill injects mode and seed below it). Tag the shared "
                "parameters cell `:tags: [parameters]`."
            )
    return nb


def _first_line(cell: nbformat.NotebookNode) -> str:
    line = cell.source.strip().split("\n", 1)[0]
    return repr(line[:60])


def select(nb: nbformat.NotebookNode, framework: str) -> list[nbformat.NotebookNode]:
    """The cells of ``nb`` that belong in ``framework``'s notebook: shared ones and its own."""
    other = {t for f, t in FRAMEWORK_TAGS.items() if f != framework}
    return [c for c in nb.cells if not other.intersection(c.metadata.get("tags", []))]


def render_notebook(source: Path, framework: str, previous: Path | None = None) -> str:
    """The text of ``framework``'s notebook generated from ``source`` (nothing is written).

    ``previous`` (default: the notebook's committed path) lends the stored outputs of its
    ``# NBVAL_CHECK_OUTPUT`` cells to the cells with the same source.
    """
    source = Path(source)
    tag = _tag(framework)
    nb = read_source(source)
    cells = []
    for i, cell in enumerate(select(nb, framework)):
        tags = [t for t in cell.metadata.get("tags", []) if t != tag]
        metadata = {"tags": tags} if tags else {}
        if cell.cell_type == "code":
            new = nbformat.v4.new_code_cell(cell.source, metadata=metadata)
        elif cell.cell_type == "markdown":
            new = nbformat.v4.new_markdown_cell(cell.source, metadata=metadata)
        else:
            new = nbformat.v4.new_raw_cell(cell.source, metadata=metadata)
        new["id"] = f"c{i:02d}"
        cells.append(new)
    out = nbformat.v4.new_notebook(
        cells=cells,
        metadata={
            "kernelspec": dict(nb.metadata.get("kernelspec") or KERNELSPEC),
            "language_info": {"name": "python"},
            "course": {
                "generated_from": f"{SOURCE_FOLDER}/{source.name}",
                "framework": tag,
                "note": "Generated by `course notebooks build`; edit the source instead.",
            },
        },
    )
    previous = Path(previous) if previous is not None else notebook_path(source, framework)
    _lend_checked_outputs(out, previous)
    nbtools.clean(out)
    return nbformat.writes(out) + "\n"


def _lend_checked_outputs(nb: nbformat.NotebookNode, previous: Path) -> None:
    """Give each checked cell the outputs stored for the same source in ``previous``."""
    if not previous.is_file():
        return
    stored: dict[str, list] = defaultdict(list)
    for cell in nbformat.read(previous, as_version=4).cells:
        if cell.cell_type == "code" and nbtools.CHECK_MARK in cell.source:
            stored[cell.source].append(cell.outputs)
    for cell in nb.cells:
        if cell.cell_type == "code" and nbtools.CHECK_MARK in cell.source and stored[cell.source]:
            cell.outputs = stored[cell.source].pop(0)


def build_all(check: bool = False, directory: Path | None = None) -> list[Path]:
    """Generate every lesson's notebooks; return those written (or, with ``check``, stale).

    With ``check`` nothing is written; a notebook in ``notebooks/`` that no source generates
    counts as stale too (a lesson must be edited in its source).
    """
    sources = lesson_sources(directory)
    if not sources:
        where = directory or sources_dir()
        raise SourceError(f"no lesson sources (NN_topic.md) in {where}.")
    changed, expected = [], set()
    for source in sources:
        for framework in FRAMEWORK_TAGS:
            path = notebook_path(source, framework)
            expected.add(path)
            text = render_notebook(source, framework)
            current = path.read_text(encoding="utf-8") if path.is_file() else None
            if text == current:
                continue
            if not check:
                atomic_write_text(path, text)
            changed.append(path)
    if check:
        folder = sources[0].parent.parent
        changed += sorted(set(folder.glob("[0-9][0-9]_*.ipynb")) - expected)
    return changed
