"""Find the lessons and execute them with papermill into ``build/notebooks/``."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from course_lib import config
from course_lib.atomic import atomic_write_text
from course_lib.doctor import KERNEL_NAME
from course_lib.errors import CourseError, UnknownNameError

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
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
            record = RunRecord(lesson.id, fw, output, wall, False, first_line)
            echo(
                f"[{i}/{len(jobs)}] {source.name:<36} FAILED  {wall:7.1f} s — {first_line}\n"
                f"        see the executed notebook: {output}"
            )
        records.append(record)
        _record_run(record, mode)
    return records


def _record_run(record: RunRecord, mode: str) -> None:
    """Add one notebook's wall time to ``build/runs.json`` (the report shows it)."""
    path = config.build_dir() / "runs.json"
    try:
        runs = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    except json.JSONDecodeError:
        runs = {}
    runs[f"{record.lesson}_{record.framework}"] = {
        "lesson": record.lesson,
        "framework": record.framework,
        "mode": mode,
        "wall_s": round(record.wall_s, 1),
        "ok": record.ok,
        "error": record.error,
    }
    atomic_write_text(path, json.dumps(runs, indent=2, sort_keys=True) + "\n")
