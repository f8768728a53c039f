"""Claim tests: every lesson, seeded, in teaching mode; each of its claims must hold.

The thresholds live in the lessons (they write them into their results files); this suite checks
that each claim holds on a real run and that every lesson makes at least one.
"""

import json

import pytest

from course_lib import runner

pytestmark = pytest.mark.claims

JOBS = [(lesson, fw) for lesson in runner.discover_lessons() for fw in ("torch", "keras")]


@pytest.mark.parametrize(("lesson", "framework"), JOBS, ids=lambda v: getattr(v, "id", v))
def test_lesson_claims_hold_in_teaching_mode(lesson, framework, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_BUILD_DIR", str(tmp_path))
    out = tmp_path / "notebooks" / lesson.notebooks[framework].name
    runner.execute_notebook(lesson.notebooks[framework], out, mode="teaching", seed=0)
    results = json.loads((tmp_path / "results" / f"{lesson.id}_{framework}.json").read_text())
    assert results["mode"] == "teaching"
    assert results["claims"], f"{lesson.id} ({framework}) states no claim"
    failed = [c for c in results["claims"] if not c["holds"]]
    assert not failed, "claims that do not hold:\n" + "\n".join(
        f"  {c['statement']}: {c['value']} vs {c.get('direction', '>=')} {c['threshold']}"
        for c in failed
    )
