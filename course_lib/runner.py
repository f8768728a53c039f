"""Find the lessons and execute them with papermill into ``build/notebooks/``."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from course_lib import config
from course_lib.atomic import atomic_write_text
from course_lib.doctor import KERNEL_NAME
from course_lib.errors import CourseError, UnknownNameError
from course_lib.locks import exclusive

NOTEBOOK_SUFFIX = {"torch": "pytorch", "keras": "keras"}
_NOTEBOOK_RE = re.compile(
    r"^(?P<lesson>(?P<number>\d\d)_(?P<topic>[a-z0-9_]+?))_(?P<fw>pytorch|keras)"
    r"\.ipynb$"
)


@dataclass(frozen=True)
class Lesson:
    """One lesson: its id (``00_setup``) and its notebook per framework."""

    id: str
    notebooks: dict[str, Path] = field(compare=False)

    @property
    def number(self) -> str:
        return self.id[:2]

    @property
    def topic(self) -> str:
        return self.id[3:]


@dataclass(frozen=True)
class RunRecord:
    """The outcome of one executed notebook."""

    lesson: str
    framework: str
    output: Path
    wall_s: float
    ok: bool
    error: str = ""


def notebooks_dir() -> Path:
    """The folder with the lesson notebooks (the checkout's ``notebooks/``)."""
    return config.course_folder("notebooks")


def discover_lessons(directory: Path | None = None) -> list[Lesson]:
    """Every lesson in ``directory`` (default: ``notebooks/``), sorted by number."""
    directory = Path(directory) if directory is not None else notebooks_dir()
    found: dict[str, dict[str, Path]] = {}
    for path in sorted(directory.glob("*.ipynb")):
        m = _NOTEBOOK_RE.match(path.name)
        if m:
            framework = "torch" if m["fw"] == "pytorch" else "keras"
            found.setdefault(m["lesson"], {})[framework] = path
    return [Lesson(lesson_id, notebooks) for lesson_id, notebooks in sorted(found.items())]


def resolve_lessons(names: Sequence[str] | None, lessons: list[Lesson]) -> list[Lesson]:
    """Pick lessons by number (``00``), id (``00_setup``) or topic (``setup``); all if empty."""
    if not names:
        return lessons
    chosen: list[Lesson] = []
    for name in names:
        key = str(name).strip().lower()
        match = [
            le
            for le in lessons
            if key in (le.id, le.topic) or (key.isdigit() and int(key) == int(le.number))
        ]
        if not match:
            known = ", ".join(le.id for le in lessons) or "none"
            raise UnknownNameError(
                f"Unknown lesson {name!r}; available lessons: {known}. "
                "Name them by number (00), id (00_setup) or topic (setup)."
            )
        chosen += [le for le in match if le not in chosen]
    return chosen


def kernel_name() -> str:
    """The course kernel if registered (``make setup`` does it), else the current ``python3``."""
    if os.environ.get("COURSE_KERNEL"):
        return os.environ["COURSE_KERNEL"]
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        if KERNEL_NAME in KernelSpecManager().find_kernel_specs():
            return KERNEL_NAME
    except Exception:  # no jupyter_client: let papermill report it
        pass
    return "python3"


QUIET_KERNEL = "--IPKernelApp.log_level=ERROR"
"""Kernel option for papermill runs: the kernel's own start-up warnings stay out of the log."""


def execute_notebook(
    source: Path,
    output: Path,
    *,
    mode: str,
    seed: int = 0,
    extra_parameters: dict | None = None,
    timeout: int = 1800,
) -> float:
    """Run one notebook with papermill (``mode``/``seed`` injected); return its wall time in s.

    The kernel also gets ``$COURSE_MODE`` = ``mode``, so library defaults that read the mode
    (e.g. ``fit``'s batch size) follow the injected one, not the caller's environment.
    """
    import papermill

    output.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    previous = os.environ.get(config.MODE_ENV)
    os.environ[config.MODE_ENV] = str(mode)  # the kernel inherits this process's environment
    try:
        papermill.execute_notebook(
            str(source),
            str(output),
            parameters={"mode": mode, "seed": seed, **(extra_parameters or {})},
            kernel_name=kernel_name(),
            cwd=str(source.parent),
            progress_bar=False,
            execution_timeout=timeout,
            log_output=False,
            # ipykernel warns at every start that its local TCP sockets are unencrypted; over
            # loopback, for a run the user started, that is noise in `course run`'s output.
            extra_arguments=[QUIET_KERNEL],
        )
    finally:
        if previous is None:
            os.environ.pop(config.MODE_ENV, None)
        else:
            os.environ[config.MODE_ENV] = previous
    return time.perf_counter() - start


def run_lessons(
    names: Sequence[str] | None = None,
    *,
    mode: str | None = None,
    framework: str = "both",
    seed: int = 0,
    echo: Callable[[str], None] = print,
) -> list[RunRecord]:
    """Execute the chosen lessons into ``build/notebooks/``; one progress line per notebook."""
    mode = config.resolve_mode(mode)
    if framework not in ("torch", "keras", "both"):
        raise ValueError(f"framework must be 'torch', 'keras' or 'both', got {framework!r}.")
    frameworks = ("torch", "keras") if framework == "both" else (framework,)
    lessons = resolve_lessons(names, discover_lessons())
    jobs = [(le, fw) for le in lessons for fw in frameworks if fw in le.notebooks]
    if not jobs:
        raise CourseError(
            f"No notebooks to run for lessons {names or 'all'} and framework {framework!r}."
        )
    out_dir = config.build_dir() / "notebooks"
    # Kernels inherit this: lessons write results where the report will look for them.
    os.environ[config.BUILD_ENV] = str(config.build_dir())
    records = []
    echo(f"Running {len(jobs)} notebook(s) in {mode} mode (seed {seed}) -> {out_dir}")
    for i, (lesson, fw) in enumerate(jobs, 1):
        source = lesson.notebooks[fw]
        output = out_dir / source.name
        start = time.perf_counter()
        try:
            wall = execute_notebook(source, output, mode=mode, seed=seed)
            record = RunRecord(lesson.id, fw, output, wall, True)
            echo(f"[{i}/{len(jobs)}] {source.name:<36} ok      {wall:7.1f} s")
        except Exception as err:  # report and carry on with the other notebooks
            wall = time.perf_counter() - start
            reason = failure_reason(err)
            record = RunRecord(lesson.id, fw, output, wall, False, reason)
            echo(
                f"[{i}/{len(jobs)}] {source.name:<36} FAILED  {wall:7.1f} s — {reason}\n"
                f"        see the executed notebook: {output}"
            )
        records.append(record)
        _record_run(record, mode, echo=echo)
    return records


RUNS_FILE = "runs.json"
_RUN_FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "lesson": (lambda v: isinstance(v, str), "a string"),
    "framework": (lambda v: isinstance(v, str), "a string"),
    "mode": (lambda v: isinstance(v, str), "a string"),
    "wall_s": (lambda v: isinstance(v, int | float) and not isinstance(v, bool), "a number"),
    "ok": (lambda v: isinstance(v, bool), "true or false"),
    "error": (lambda v: isinstance(v, str), "a string"),
}
_MAX_REASON = 300
_COLOUR = re.compile("\x1b\\[(K|.*?m)")  # ANSI colour codes in tracebacks (papermill's pattern)


def _one_line(text: str) -> str:
    """``text`` on one line: no colour codes, blank or ``-----`` lines; 300 characters at most."""
    lines = [ln.strip() for ln in _COLOUR.sub("", text).splitlines()]
    joined = " ".join(ln for ln in lines if ln.strip("-= "))
    return joined if len(joined) <= _MAX_REASON else joined[: _MAX_REASON - 3] + "..."


def failure_reason(err: BaseException) -> str:
    """Why a notebook run failed, in one line, e.g. ``ZeroDivisionError: ... (cell In [7])``.

    For an exception raised inside the notebook (papermill's ``PapermillExecutionError``) that is
    the notebook's exception and the failing cell's ``In [n]`` label; for anything else (the kernel
    died, a timeout, a missing kernel) the exception's type and message.
    """
    if isinstance(getattr(err, "ename", None), str):  # papermill's PapermillExecutionError
        # In [n] is the label the executed notebook shows; a cell that never ran has none
        count, index = getattr(err, "exec_count", None), getattr(err, "cell_index", "?")
        cell = f"In [{count}]" if count is not None else f"#{index}"
        message = _one_line(str(getattr(err, "evalue", "") or ""))
        return f"{err.ename}: {message} (cell {cell})" if message else f"{err.ename} (cell {cell})"
    message = _one_line(str(err))
    return f"{type(err).__name__}: {message}" if message else type(err).__name__


def _run_entry_problem(key: str, entry: Any) -> str | None:
    """What is wrong with one entry of ``runs.json``, or ``None``."""
    if not isinstance(entry, dict):
        return f"entry {key!r} must be an object, got {type(entry).__name__} {entry!r:.60}"
    for name, (ok, what) in _RUN_FIELDS.items():
        if not ok(entry.get(name)):
            return f"entry {key!r} field {name!r} must be {what}, got {entry.get(name)!r:.60}"
    return None


def read_runs_file(path: Path) -> tuple[dict[str, dict[str, Any]], str | None]:
    """The intact entries of a ``runs.json`` and what is wrong with the file (``None`` if fine)."""
    if not path.exists():
        return {}, None
    try:
        runs = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        return {}, f"not valid JSON ({err})"
    if not isinstance(runs, dict):
        return {}, f"expected a JSON object of runs, got {type(runs).__name__} {runs!r:.60}"
    problems = {key: _run_entry_problem(key, entry) for key, entry in runs.items()}
    intact = {key: runs[key] for key, problem in problems.items() if problem is None}
    bad = [problem for problem in problems.values() if problem is not None]
    if bad:
        return intact, f"{len(bad)} damaged entr{'y' if len(bad) == 1 else 'ies'} ({bad[0]})"
    return intact, None


def _record_run(record: RunRecord, mode: str, echo: Callable[[str], None] = print) -> None:
    """Add one notebook's run to ``build/runs.json`` (the report shows it).

    The read-modify-write holds the file's inter-process lock, so runs finishing at the same time
    in other processes all keep their entries. A damaged file is kept as ``runs.json.damaged``
    with a warning, and replaced by its intact entries plus this run.
    """
    path = config.build_dir() / RUNS_FILE
    with exclusive(path, what=f"the run records {path}", quiet=True):
        runs, problem = read_runs_file(path)
        if problem:
            kept = path.with_name(path.name + ".damaged")
            os.replace(path, kept)
            echo(
                f"warning: {path} was damaged: {problem}. Kept it as {kept} and wrote a new one "
                f"with the {len(runs)} intact run(s) and this one."
            )
        runs[f"{record.lesson}_{record.framework}"] = {
            "lesson": record.lesson,
            "framework": record.framework,
            "mode": mode,
            "wall_s": round(record.wall_s, 1),
            "ok": record.ok,
            "error": record.error,
        }
        atomic_write_text(path, json.dumps(runs, indent=2, sort_keys=True) + "\n")
