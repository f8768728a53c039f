"""Each lesson run writes one results file; the capstone and the report read only these.

``build/results/<lesson>_<framework>.json`` holds ``lesson``, ``framework``, ``mode``, ``seed``,
``wall_s``, ``metrics`` (flat name -> number), ``claims`` (the numbers that prove the lesson's
point) and ``figures`` (paths relative to the build directory).
"""

from __future__ import annotations

import json
import math
import platform
import re
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from course_lib import config
from course_lib.atomic import atomic_write_text
from course_lib.frameworks import check_framework

SCHEMA_VERSION = 1
REQUIRED_KEYS = ("lesson", "framework", "mode", "seed", "wall_s", "metrics", "claims")
_LESSON_RE = re.compile(r"^\d\d_[a-z0-9_]+$")


@dataclass(frozen=True)
class Claim:
    """A lesson's claim: ``value`` compared with ``threshold`` (``>=`` or ``<=``)."""

    statement: str
    value: float
    threshold: float
    direction: str = ">="

    @property
    def holds(self) -> bool:
        if math.isnan(self.value):
            return False
        return (
            self.value >= self.threshold if self.direction == ">=" else self.value <= self.threshold
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "holds": self.holds}

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
    >>> results.claim("probe beats scratch at K=5 (points)", 21.0, threshold=15)
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

    def claim(self, statement: str, value: Any, threshold: Any, direction: str = ">=") -> Claim:
        """Record a claim: ``value >= threshold`` (or ``<=``); returns it so a cell can show it."""
        if direction not in (">=", "<="):
            raise ValueError(f"direction must be '>=' or '<=', got {direction!r}.")
        claim = Claim(
            statement, _number("claim value", value), _number("threshold", threshold), direction
        )
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


def validate_results(data: Any, source: str = "results") -> dict[str, Any]:
    """Check the shape of a results dictionary; raise ``ValueError`` naming what is wrong."""
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected a JSON object, got {type(data).__name__}.")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise ValueError(f"{source}: missing keys {missing}; a results file needs {REQUIRED_KEYS}.")
    if not isinstance(data["metrics"], dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in data["metrics"].values()
    ):
        raise ValueError(f"{source}: 'metrics' must map names to numbers (flat, no nesting).")
    for claim in data["claims"]:
        if not isinstance(claim, dict) or not {"statement", "value", "threshold", "holds"} <= set(
            claim
        ):
            raise ValueError(
                f"{source}: each claim needs statement, value, threshold and holds; got {claim!r}."
            )
    return data


def read_results(directory: Path | None = None) -> list[dict[str, Any]]:
    """Read and validate every results ``*.json``, sorted by lesson and framework."""
    directory = Path(directory) if directory is not None else config.build_dir() / "results"
    if not directory.is_dir():
        return []
    out = []
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(
                f"{path} is not valid JSON ({err}); delete it and re-run its lesson "
                "with `course run`."
            ) from err
        out.append(validate_results(data, str(path)))
    return sorted(out, key=lambda d: (d["lesson"], d["framework"]))
