"""Execute every notebook once per test session; every test that checks a notebook reads that run.

One run per lesson notebook (smoke mode, papermill) and per exercise solution serves all their
checks: no cell errored, the ``# NBVAL_CHECK_OUTPUT`` cells print what the notebook stores, the
injected parameters reach the results file, figures and results exist, the exercises' checks
pass. Each run has its own build folder, so nothing one run writes is seen by another:

* ``00_setup`` (Keras) runs through ``course run`` (the CLI test reads its console, runs.json
  and report from the same run);
* ``06_capstone`` runs after fake results of earlier lessons (and a stale capstone file) were
  planted in its build folder: the capstone test checks it lists those and leaves them alone.

Every run has ``$COURSE_MODE=teaching`` in its environment and gets ``mode="smoke"`` injected.
Lessons also get ``seed=3`` (their parameters cell says ``seed = 0``): the results file proves both
injected values won, and their checked outputs do not depend on the seed (the tests compare them
with the stored ones, which ``course notebooks refresh`` makes with seed 0). The exercise
solutions keep seed 0, as a learner runs them: their checks judge smoke-mode accuracies.

Under pytest-xdist a session fixture lives once per worker: the fast suite runs with
``-n 2 --dist loadfile`` (Makefile), which keeps every test of one file on one worker, and every
check of a notebook lives in one file (tests/notebooks/test_papermill.py for the lessons,
tests/exercises/test_pipeline.py for the solutions), so each notebook still runs once. (``--dist
loadgroup`` with ``xdist_group`` marks would allow finer balance, but with pytest 9.2 and
pytest-xdist 3.8 it did not keep a group on one worker: measured, notebooks ran twice.)
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

from course_lib import runner
from course_lib.exercises import build

MODE = "smoke"
SEED = 3
# The exercise solutions run with their parameters cell's seed: their checks judge smoke-mode
# accuracies (lesson 06's linear probe is at chance with seed 3 in smoke mode).
SOLUTION_SEED = 0
CALLER_MODE = "teaching"  # in the environment of every run: the injected mode must win over it
CLI_JOB = ("00_setup", "keras")
CAPSTONE = "06_capstone"

LESSONS = runner.discover_lessons()
SOLUTIONS = build.solution_notebooks()


@dataclass
class Run:
    """One executed notebook: where it is, its build folder, and what went wrong (if anything)."""

    source: Path
    output: Path
    build: Path
    error: str = ""
    console: str = ""  # what `course run` printed (the CLI run only)
    exit_code: int | None = None  # `course run`'s exit status (the CLI run only)
    planted: dict[str, bytes] = field(default_factory=dict)  # capstone: files planted before

    def notebook(self) -> nbformat.NotebookNode:
        assert self.output.is_file(), f"{self.source.name} left no executed notebook: {self.error}"
        return nbformat.read(self.output, as_version=4)

    def results(self, lesson: str, framework: str) -> dict:
        return json.loads((self.build / "results" / f"{lesson}_{framework}.json").read_text())


@contextmanager
def environment(**values: str):
    """Set environment variables for the block (kernels started in it inherit them)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def _console_to(path: Path):
    """Send this process's stdout/stderr, and the kernels' it starts (they inherit the file
    descriptors), to ``path``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved_fds = os.dup(1), os.dup(2)
    saved_streams = sys.stdout, sys.stderr
    with open(path, "w", buffering=1, encoding="utf-8") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        sys.stdout = sys.stderr = sink
        try:
            yield
        finally:
            sink.flush()
            sys.stdout, sys.stderr = saved_streams
            os.dup2(saved_fds[0], 1)
            os.dup2(saved_fds[1], 2)
            for fd in saved_fds:
                os.close(fd)


def plant_earlier_results(framework: str) -> dict[str, bytes]:
    """Results of earlier lessons (and a stale capstone one) in ``$COURSE_BUILD_DIR/results``.

    Returns the earlier lessons' files (name -> bytes): the capstone must read, never rewrite them.
    """
    from course_lib import config
    from course_lib.results import LessonResults

    earlier = LessonResults("01_transfer", "torch", mode="teaching")
    earlier.claim("a claim from lesson 01 that holds", 21.5, 15)
    earlier.claim("a claim from lesson 01 that fails", 1.25, 5)
    earlier.save()
    other = LessonResults("05_multitask", "keras", mode="teaching")
    other.claim("a claim from lesson 05", 12.5, 5)
    other.save()
    stale = LessonResults(CAPSTONE, framework, mode="teaching")  # its own, from a last run
    stale.claim("a stale capstone claim", 0.0, 1)
    stale.save()
    files = (config.build_dir() / "results").glob("*.json")
    return {p.name: p.read_bytes() for p in sorted(files) if CAPSTONE not in p.name}


class NotebookRuns:
    """The session's cache of executed notebooks (``tests/conftest.py``: ``notebook_runs``)."""

    def __init__(self, base: Path):
        self.base = base
        self._runs: dict[tuple[str, str], Run] = {}

    def lesson(self, lesson: runner.Lesson, framework: str) -> Run:
        key = (lesson.id, framework)
        if key not in self._runs:
            self._runs[key] = self._run_lesson(lesson, framework)
        return self._runs[key]

    def solution(self, src: Path) -> Run:
        key = ("solution", src.name)
        if key not in self._runs:
            build_dir = self.base / src.stem
            run = Run(src, build_dir / "notebooks" / src.name, build_dir)
            with environment(COURSE_BUILD_DIR=str(build_dir), COURSE_MODE=CALLER_MODE):
                run.error = _execute(src, run.output, seed=SOLUTION_SEED, timeout=300)
            self._runs[key] = run
        return self._runs[key]

    def _run_lesson(self, lesson: runner.Lesson, framework: str) -> Run:
        source = lesson.notebooks[framework]
        build_dir = self.base / source.stem
        run = Run(source, build_dir / "notebooks" / source.name, build_dir)
        with environment(COURSE_BUILD_DIR=str(build_dir), COURSE_MODE=CALLER_MODE):
            if lesson.id == CAPSTONE:
                run.planted = plant_earlier_results(framework)
            if (lesson.id, framework) == CLI_JOB:
                self._run_cli(lesson, framework, run)
            else:
                run.error = _execute(source, run.output, seed=SEED, timeout=1800)
        return run

    @staticmethod
    def _run_cli(lesson: runner.Lesson, framework: str, run: Run) -> None:
        from course_lib import cli

        argv = ["run", lesson.number, "--mode", MODE, "--framework", framework]
        console = run.build / "console.txt"
        run.build.mkdir(parents=True, exist_ok=True)
        try:
            with _console_to(console):
                run.exit_code = cli.main([*argv, "--seed", str(SEED)])
        except Exception as err:  # reported by every test of this notebook; not run again
            run.error = f"`course {' '.join(argv)}` raised {type(err).__name__}: {err}"
        run.console = console.read_text(encoding="utf-8")
        if run.exit_code != 0 and not run.error:
            run.error = f"`course {' '.join(argv)}` exited {run.exit_code}:\n{run.console}"


def _execute(source: Path, output: Path, *, seed: int, timeout: int) -> str:
    """Run ``source`` into ``output``; return the error ('' if every cell ran)."""
    try:
        runner.execute_notebook(source, output, mode=MODE, seed=seed, timeout=timeout)
    except Exception as err:  # the tests report it, with the executed notebook's path
        return f"{type(err).__name__}: {err}\n(executed notebook: {output})"
    return ""


def lesson_params(lesson_ids: tuple[str, ...] | None = None, frameworks=("torch", "keras")):
    """``(lesson, framework)`` parameters with readable ids."""
    return [
        pytest.param(lesson, fw, id=f"{lesson.id}-{fw}")
        for lesson in LESSONS
        if lesson_ids is None or lesson.id in lesson_ids
        for fw in frameworks
    ]


def solution_params():
    return [pytest.param(src, id=src.name) for src in SOLUTIONS]
