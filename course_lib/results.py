"""Each lesson run writes one results file; the capstone and the report read only these.

``build/results/<lesson>_<framework>.json`` holds ``lesson``, ``framework``, ``mode``, ``seed``,
``wall_s``, ``metrics`` (flat name -> number), ``claims`` (the numbers that prove the lesson's
point) and ``figures`` (paths relative to the build directory).
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

from course_lib import claims as claims_table
from course_lib import config
from course_lib.atomic import atomic_write_text
from course_lib.errors import ArgumentError
from course_lib.frameworks import FRAMEWORKS, check_framework

SCHEMA_VERSION = 1
# Set to 1 (the claims test does) to make a free-form claim whose statement is not in
# course_lib/claims.py an error: every claim of a lesson run must then come from the table.
STRICT_CLAIMS_ENV = "COURSE_STRICT_CLAIMS"
REQUIRED_KEYS = ("lesson", "framework", "mode", "seed", "wall_s", "metrics", "claims")
CLAIM_KEYS = ("statement", "value", "threshold", "holds")
_LESSON_RE = re.compile(r"^\d\d_[a-z0-9_]+$")


@dataclass(frozen=True)
class Claim:
    """A lesson's claim: ``value`` compared with ``threshold`` (``>=`` or ``<=``).

    ``claim_id`` names its row in ``course_lib/claims.py`` (``None`` for a free-form claim, e.g. in
    an exercise); ``threshold_inputs`` holds the measured quantities a computed threshold came from.
    """

    statement: str
    value: float
    threshold: float
    direction: str = ">="
    claim_id: str | None = None
    threshold_inputs: dict[str, float] | None = field(default=None, compare=False)

    @property
    def holds(self) -> bool:
        if math.isnan(self.value):
            return False
        return (
            self.value >= self.threshold if self.direction == ">=" else self.value <= self.threshold
        )

    def as_dict(self) -> dict[str, Any]:
        out = {
            "statement": self.statement,
            "value": self.value,
            "threshold": self.threshold,
            "direction": self.direction,
            "holds": self.holds,
            "claim_id": self.claim_id,
        }
        if self.threshold_inputs is not None:
            out["threshold_inputs"] = dict(self.threshold_inputs)
        return out

    def __str__(self) -> str:
        mark = "holds" if self.holds else "DOES NOT HOLD"
        return f"[{mark}] {self.statement}: {self.value:.4g} {self.direction} {self.threshold:.4g}"


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or (
        not isinstance(value, int | float) and not hasattr(value, "item")
    ):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}.")
    return float(value.item() if hasattr(value, "item") else value)


def results_dir() -> Path:
    """``<build dir>/results`` (created if needed)."""
    path = config.build_dir() / "results"
    path.mkdir(parents=True, exist_ok=True)
    return path


def figures_dir() -> Path:
    """``<build dir>/figures`` (created if needed); the report embeds what lessons save here."""
    path = config.build_dir() / "figures"
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_figure_name(name: str) -> str:
    if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9_-]+$", name):
        raise ValueError(f"figure name must use letters, digits, '_' or '-', got {name!r}.")
    return name


def save_png(fig: Any, name: str) -> Path:
    """Save ``fig`` as ``build/figures/<name>.png`` (100 dpi, tight); returns the path."""
    path = figures_dir() / f"{check_figure_name(name)}.png"
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path


class LessonResults:
    """Collects a lesson run's metrics, claims and figures, then writes its results file.

    >>> results = LessonResults("01_transfer", "torch", mode="smoke", seed=0)
    >>> results.metric("probe_acc_k5", 0.81)
    >>> results.claim_from_table("probe_beats_scratch_k_few", 21.0)  # course_lib/claims.py
    >>> results.claim("my own claim (points)", 3.5, threshold=2)  # free-form, e.g. an exercise
    >>> results.save()
    """

    def __init__(self, lesson: str, framework: str, mode: str | None = None, seed: int = 0):
        if not isinstance(lesson, str) or not _LESSON_RE.match(lesson):
            raise ValueError(
                f"lesson must look like '01_transfer' (two digits, underscore, "
                f"lowercase name), got {lesson!r}."
            )
        self.lesson, self.framework = lesson, check_framework(framework)
        self.mode, self.seed = config.resolve_mode(mode), int(seed)
        self.metrics: dict[str, float] = {}
        self.claims: list[Claim] = []
        self.figures: list[str] = []
        self._start = time.perf_counter()

    def metric(self, name: str, value: Any) -> None:
        """Record one named number (overwrites an earlier value of the same name)."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"metric name must be a non-empty string, got {name!r}.")
        self.metrics[name] = _number(f"metric {name!r}", value)

    def claim_from_table(self, claim_id: str, value: Any, **fields: Any) -> Claim:
        """Record the claim ``claim_id`` of this lesson from ``course_lib/claims.py``.

        The table gives the statement, threshold and direction. ``fields`` fill the statement's
        template fields that the lesson's size table does not (``best=...``) — or override one it
        does — and give the measured inputs of a computed threshold (``rule_inputs``). Recording
        the same claim again (a re-run cell) replaces it.
        """
        spec = claims_table.get(self.lesson, claim_id)
        if self.mode not in spec.modes:
            raise claims_table.ClaimTableError(
                f"claim {self.lesson}/{claim_id} is made only in mode(s) {', '.join(spec.modes)}, "
                f"not in {self.mode!r} (course_lib/claims.py)."
            )
        unknown = [n for n in fields if n not in spec.fields and n not in spec.rule_inputs]
        if unknown:
            raise claims_table.ClaimTableError(
                f"claim {self.lesson}/{claim_id} takes statement fields {list(spec.fields)}"
                + (f" and threshold inputs {list(spec.rule_inputs)}" if spec.rule_inputs else "")
                + f"; unexpected {unknown}."
            )
        sizes = claims_table.lesson_sizes(self.lesson, self.mode)
        values = {n: fields[n] if n in fields else sizes.get(n) for n in spec.fields}
        missing = [n for n, v in values.items() if v is None]
        if missing:
            raise claims_table.ClaimTableError(
                f"claim {self.lesson}/{claim_id} needs {missing} for its statement "
                f"{spec.statement!r}: pass them, e.g. results.claim_from_table({claim_id!r}, "
                f"value, {missing[0]}=...)."
            )
        inputs = {n: _number(f"threshold input {n!r}", fields[n]) for n in spec.rule_inputs
                  if n in fields}  # fmt: skip
        threshold = spec.resolve_threshold(**inputs)
        claim = Claim(
            spec.format_statement(**values),
            _number("claim value", value),
            threshold,
            spec.direction,
            claim_id,
            inputs if spec.computed else None,
        )
        return self._add(claim)

    def claim(self, statement: str, value: Any, threshold: Any, direction: str = ">=") -> Claim:
        """Record a free-form claim: ``value >= threshold`` (or ``<=``); returns it.

        For exercises and your own experiments. A lesson's claims come from the course's table,
        with :meth:`claim_from_table`: a statement that is in ``course_lib/claims.py`` must come
        with the table's threshold and direction (a clear error otherwise) and is recorded with
        its claim id; with ``$COURSE_STRICT_CLAIMS=1`` a statement not in the table is an error.
        """
        if direction not in (">=", "<="):
            raise ValueError(f"direction must be '>=' or '<=', got {direction!r}.")
        value, threshold = _number("claim value", value), _number("threshold", threshold)
        matches = claims_table.find(self.lesson, statement, self.mode)
        # A computed threshold cannot be checked without its inputs: the claim is recorded with
        # its id and no inputs, and the claims test (claims.check_entry) reports it.
        same = [
            spec for spec in matches
            if spec.direction == direction and (spec.computed or spec.threshold == threshold)
        ]  # fmt: skip
        if matches and not same:
            spec = matches[0]
            raise claims_table.ClaimTableError(
                f"{statement!r} is claim {self.lesson}/{spec.claim_id} of course_lib/claims.py, "
                f"whose threshold is {spec.threshold_text()}, not {direction} {threshold:g}. "
                f"Use results.claim_from_table({spec.claim_id!r}, value); change a threshold only "
                "in the table, with its reason."
            )
        if not same and os.environ.get(STRICT_CLAIMS_ENV, "") not in ("", "0"):
            known = ", ".join(c.claim_id for c in claims_table.for_lesson(self.lesson)) or "none"
            raise claims_table.ClaimTableError(
                f"{statement!r} (threshold {direction} {threshold:g}) is not a claim of lesson "
                f"{self.lesson} in course_lib/claims.py (its claims: {known}); "
                f"${STRICT_CLAIMS_ENV} is set, so every claim must come from that table: add a "
                "ClaimSpec with the reason for its threshold and use results.claim_from_table."
            )
        claim_id = same[0].claim_id if same else None
        return self._add(Claim(statement, value, threshold, direction, claim_id))

    def _add(self, claim: Claim) -> Claim:
        if claim.claim_id is not None:
            self.claims = [c for c in self.claims if c.claim_id != claim.claim_id]
        self.claims.append(claim)
        return claim

    def figure(self, fig: Any, name: str) -> Path:
        """Save a matplotlib figure to ``build/figures/`` and list it for the report."""
        check_figure_name(name)
        path = save_png(fig, f"{self.lesson}_{self.framework}_{name}")
        relative = path.relative_to(config.build_dir()).as_posix()
        if relative not in self.figures:
            self.figures.append(relative)
        return path

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "lesson": self.lesson,
            "framework": self.framework,
            "mode": self.mode,
            "seed": self.seed,
            "wall_s": round(time.perf_counter() - self._start, 3),
            "metrics": dict(self.metrics),
            "claims": [c.as_dict() for c in self.claims],
            "figures": list(self.figures),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "python": platform.python_version(),
        }

    def save(self) -> Path:
        """Write ``build/results/<lesson>_<framework>.json`` atomically and return its path."""
        path = results_dir() / f"{self.lesson}_{self.framework}.json"
        atomic_write_text(path, json.dumps(self.as_dict(), indent=2) + "\n")
        return path

    def summary(self) -> str:
        """A plain-text table of metrics and claims, for the lesson's last cell."""
        lines = [f"{self.lesson} ({self.framework}, mode={self.mode}, seed={self.seed})"]
        lines += [f"  {name:<34} {value:.4g}" for name, value in self.metrics.items()]
        lines += [f"  {claim}" for claim in self.claims]
        return "\n".join(lines)


class DamagedFile(NamedTuple):
    """A file the report cannot use: where it is, what is wrong with it, and how to fix it."""

    path: Path
    reason: str
    fix: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}. Fix: {self.fix}."


class ResultsScan(NamedTuple):
    """What :func:`scan_results` found: the intact results and the damaged files."""

    results: list[dict[str, Any]]
    damaged: list[DamagedFile]


def _shown(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# Each field a report reads: (check, what it must be). Optional fields are checked when present.
_CLAIM_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "statement": (lambda v: isinstance(v, str), "a string"),
    "value": (_is_number, "a number"),
    "threshold": (_is_number, "a number"),
    "holds": (lambda v: isinstance(v, bool), "true or false"),
    "direction": (lambda v: v in (">=", "<="), "'>=' or '<='"),
    "claim_id": (lambda v: v is None or isinstance(v, str), "a string or null"),
}
_FIELD_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "lesson": (
        lambda v: isinstance(v, str) and bool(_LESSON_RE.match(v)),
        "an id like '01_transfer'",
    ),
    "framework": (lambda v: v in FRAMEWORKS, f"one of {list(FRAMEWORKS)}"),
    "mode": (lambda v: v in config.MODES, f"one of {list(config.MODES)}"),
    "seed": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "wall_s": (_is_number, "a number of seconds"),
    "metrics": (lambda v: isinstance(v, dict), "an object mapping names to numbers"),
    "claims": (lambda v: isinstance(v, list), "a list of claims"),
    "figures": (
        lambda v: isinstance(v, list) and all(isinstance(f, str) for f in v),
        "a list of paths (strings)",
    ),
}


def _claim_problem(i: int, claim: Any) -> str | None:
    """What is wrong with claim number ``i`` (from 1) of a results file, or ``None``."""
    if not isinstance(claim, dict):
        return f"claim {i} must be an object, got {type(claim).__name__} {_shown(claim)}"
    missing = [k for k in CLAIM_KEYS if k not in claim]
    if missing:
        return f"claim {i} lacks {missing}; a claim needs {list(CLAIM_KEYS)}"
    for key, (ok, what) in _CLAIM_CHECKS.items():
        if key in claim and not ok(claim[key]):
            return f"claim {i} field {key!r} must be {what}, got {_shown(claim[key])}"
    return None


def _field_problem(data: dict[str, Any]) -> str | None:
    """What is wrong with the top-level fields of a results object, or ``None``."""
    for key, (ok, what) in _FIELD_CHECKS.items():
        if key in data and not ok(data[key]):
            return f"{key!r} must be {what}, got {_shown(data[key])}"
    bad = {k: v for k, v in data["metrics"].items() if not _is_number(v)}
    if bad:
        return f"'metrics' must map names to numbers (flat, no nesting), got {_shown(bad)}"
    return None


def results_problem(data: Any) -> str | None:
    """What is wrong with the shape of a results object (the first thing found), or ``None``."""
    if not isinstance(data, dict):
        return f"expected a JSON object, got {type(data).__name__} {_shown(data)}"
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        return f"missing keys {missing}; a results file needs {list(REQUIRED_KEYS)}"
    problem = _field_problem(data)
    if problem:
        return problem
    for i, claim in enumerate(data["claims"], 1):
        problem = _claim_problem(i, claim)
        if problem:
            return problem
    return None


def rerun_advice(path: Path | str) -> str:
    """How to replace a damaged results file: delete it and re-run the lesson that wrote it."""
    m = re.match(r"^(\d\d)_[a-z0-9_]+?_(torch|keras)\.json$", Path(path).name)
    command = f"course run {m[1]} --framework {m[2]}" if m else "course run NN"
    return f"delete it and re-run its lesson with `{command}`"


def validate_results(data: Any, source: str = "results") -> dict[str, Any]:
    """Check the shape of a results dictionary; raise ``ArgumentError`` naming what is wrong."""
    problem = results_problem(data)
    if problem:
        raise ArgumentError(
            f"{source}: {problem}. A results file is written by LessonResults.save(); "
            f"{rerun_advice(source)}."
        )
    return data


def _read_one(path: Path) -> dict[str, Any] | DamagedFile:
    """One results file's content, or what makes it unusable."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        return DamagedFile(path, f"unreadable ({err})", rerun_advice(path))
    if not text.strip():
        return DamagedFile(path, "empty file", rerun_advice(path))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        return DamagedFile(path, f"not valid JSON ({err})", rerun_advice(path))
    problem = results_problem(data)
    return DamagedFile(path, problem, rerun_advice(path)) if problem else data


def scan_results(directory: Path | None = None) -> ResultsScan:
    """Every results ``*.json``: the intact ones (by lesson, framework) and the damaged files."""
    directory = Path(directory) if directory is not None else config.build_dir() / "results"
    if not directory.is_dir():
        return ResultsScan([], [])
    results, damaged = [], []
    for path in sorted(directory.glob("*.json")):
        found = _read_one(path)
        (damaged if isinstance(found, DamagedFile) else results).append(found)
    results.sort(key=lambda d: (d["lesson"], d["framework"]))
    return ResultsScan(results, damaged)


def read_results(directory: Path | None = None) -> list[dict[str, Any]]:
    """The intact results files, sorted by lesson and framework; a warning per damaged file."""
    scan = scan_results(directory)
    for damaged in scan.damaged:
        warnings.warn(f"Skipping damaged results file {damaged}", stacklevel=2)
    return scan.results
