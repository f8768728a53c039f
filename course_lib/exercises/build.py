"""Generate the student copies of the exercise notebooks from their solutions (one source).

An exercise is written once, as ``exercises/solutions/NN_topic_solutions.ipynb``. Inside code
cells, each solution region sits between two marker lines (nbgrader's convention)::

    def standardize_images(images):
        ### BEGIN SOLUTION
        ...the answer...
        ### END SOLUTION

``course exercises build`` writes ``exercises/NN_topic_exercises.ipynb``, where each region
becomes, at the indentation of its ``### BEGIN SOLUTION`` line::

        # TODO: your code here
        raise NotImplementedError("Replace this line with your solution (see the TODO above).")

Outputs and execution counts are cleared and cells tagged ``solution`` (worked answers written in
prose) are dropped. Everything else is copied verbatim, so links in the solution notebook must be
written for the student copy's folder (``../notebooks/...``), the one learners open.

Why not nbgrader: it brings its own Jupyter server extension, a grading database and pinned Jupyter
dependencies, to manage classes and grades we do not have. Turning regions into TODOs is the only
part the course needs, and it fits in the few functions below. The checks that give feedback live
in :mod:`course_lib.exercises.checks`.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat

from course_lib import config, nbtools
from course_lib.atomic import atomic_write_text
from course_lib.errors import CourseError

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
TODO_LINES = (
    "# TODO: your code here",
    'raise NotImplementedError("Replace this line with your solution (see the TODO above).")',
)
SOLUTION_TAG = "solution"
SOLUTION_SUFFIX = "_solutions.ipynb"
EXERCISE_SUFFIX = "_exercises.ipynb"


def strip_solutions(source: str, where: str = "cell") -> str:
    """Replace every ``### BEGIN SOLUTION`` … ``### END SOLUTION`` region by a raising TODO.

    The TODO keeps the indentation of the BEGIN line; text outside regions is untouched.
    ``where`` names the cell in error messages. Unbalanced or nested markers raise ``ValueError``.
    """
    out: list[str] = []
    begin_line: int | None = None
    for number, line in enumerate(source.split("\n"), 1):
        marker = line.strip()
        if marker.startswith(BEGIN):
            if begin_line is not None:
                raise ValueError(
                    f"{where}, line {number}: `{BEGIN}` inside the region opened on line "
                    f"{begin_line}; regions cannot nest. Close the first one with `{END}`."
                )
            begin_line = number
            indent = line[: len(line) - len(line.lstrip())]
            out += [indent + todo for todo in TODO_LINES]
        elif marker.startswith(END):
            if begin_line is None:
                raise ValueError(
                    f"{where}, line {number}: `{END}` without a `{BEGIN}` above it. "
                    "Add the BEGIN line where the solution starts, or remove this line."
                )
            begin_line = None
        elif begin_line is None:
            out.append(line)
    if begin_line is not None:
        raise ValueError(
            f"{where}, line {begin_line}: `{BEGIN}` is never closed. "
            f"Add a `{END}` line where the solution ends."
        )
    return "\n".join(out)


def count_regions(source: str) -> int:
    """How many solution regions ``source`` holds (its ``### BEGIN SOLUTION`` lines)."""
    return sum(line.strip().startswith(BEGIN) for line in source.split("\n"))


def student_path(solution: Path) -> Path:
    """``exercises/solutions/NN_x_solutions.ipynb`` -> ``exercises/NN_x_exercises.ipynb``."""
    solution = Path(solution)
    if not solution.name.endswith(SOLUTION_SUFFIX):
        raise ValueError(
            f"{solution.name}: solution notebooks are named NN_topic{SOLUTION_SUFFIX} "
            f"(e.g. 00_setup{SOLUTION_SUFFIX}); rename it."
        )
    return solution.parent.parent / (solution.name[: -len(SOLUTION_SUFFIX)] + EXERCISE_SUFFIX)


def render_student_notebook(src: Path) -> str:
    """The text of the student copy of the solution notebook ``src`` (nothing is written)."""
    src = Path(src)
    text = src.read_text(encoding="utf-8")
    missing = [i for i, c in enumerate(json.loads(text).get("cells", [])) if not c.get("id")]
    if missing:  # nbformat would invent random ids: the copy would change on every build
        raise ValueError(
            f"{src}: cells {missing} have no id. Open and save the notebook in JupyterLab "
            "(nbformat 4.5 gives every cell an id) before building."
        )
    nb = nbformat.reads(text, as_version=4)
    cells = []
    for i, cell in enumerate(nb.cells):
        where = f"{src.name}, cell {i} (id {cell.get('id')!r})"
        if SOLUTION_TAG in cell.metadata.get("tags", []):
            continue
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source, where)
        elif any(line.strip().startswith((BEGIN, END)) for line in cell.source.split("\n")):
            raise ValueError(
                f"{where}: solution markers only work in code cells. Tag a prose answer cell "
                f"'{SOLUTION_TAG}' instead and it is left out of the student copy."
            )
        cells.append(cell)
    nb.cells = cells
    nbtools.clean(nb)
    for cell in nb.cells:  # even checked outputs could show the answer: the copy has none
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.metadata["course"] = {
        "generated_from": f"solutions/{src.name}",
        "note": "Generated by `course exercises build`; edit the solution notebook instead.",
    }
    return nbformat.writes(nb) + "\n"


def build_student_notebook(src: Path, dst: Path) -> Path:
    """Write the student copy of solution notebook ``src`` to ``dst`` (atomically)."""
    return atomic_write_text(Path(dst), render_student_notebook(src))


def exercises_dir() -> Path:
    """The checkout's ``exercises/`` folder."""
    return config.course_folder("exercises")


def solution_notebooks(directory: Path | None = None) -> list[Path]:
    """Every ``solutions/*_solutions.ipynb`` in ``directory`` (default: ``exercises/``)."""
    directory = Path(directory) if directory is not None else exercises_dir()
    return sorted((directory / "solutions").glob(f"*{SOLUTION_SUFFIX}"))


def _worked_in(path: Path) -> bool:
    """True when a student copy holds outputs or execution counts (someone ran it)."""
    nb = nbformat.read(path, as_version=4)
    return any(
        c.cell_type == "code" and (c.outputs or c.execution_count is not None) for c in nb.cells
    )


def build_all(
    check: bool = False, *, directory: Path | None = None, force: bool = False
) -> list[Path]:
    """Regenerate every student copy; return the copies that changed.

    With ``check=True`` nothing is written: the return value lists the stale copies (missing or
    different from what a build would write), so CI can prove the committed copies are current.
    A copy that holds outputs (a learner worked in it) is not overwritten unless ``force``.
    """
    rendered = {
        student_path(src): render_student_notebook(src) for src in solution_notebooks(directory)
    }
    changed = [
        dst
        for dst, text in rendered.items()
        if not (dst.is_file() and dst.read_text(encoding="utf-8") == text)
    ]
    if check:
        return changed
    worked = [dst for dst in changed if dst.is_file() and _worked_in(dst)]
    if worked and not force:
        names = ", ".join(str(p) for p in worked)
        raise CourseError(
            f"{names}: holds outputs, so someone worked in it and building would overwrite that "
            "work. Copy your notebook elsewhere first, then run `course exercises build --force`."
        )
    for dst in changed:
        atomic_write_text(dst, rendered[dst])
    return changed
