"""Execute each lesson with papermill, injecting parameters; check the results file it writes."""

import json

import pytest

from course_lib import runner

LESSONS = runner.discover_lessons()
JOBS = [(lesson, fw) for lesson in LESSONS for fw in ("torch", "keras")]


@pytest.mark.parametrize(("lesson", "framework"), JOBS, ids=lambda v: getattr(v, "id", v))
def test_injected_parameters_reach_the_results_file(lesson, framework, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_BUILD_DIR", str(tmp_path))
    monkeypatch.setenv("COURSE_MODE", "teaching")  # the injected parameter must win over this
    out = tmp_path / "notebooks" / lesson.notebooks[framework].name
    runner.execute_notebook(lesson.notebooks[framework], out, mode="smoke", seed=3)
    results = json.loads((tmp_path / "results" / f"{lesson.id}_{framework}.json").read_text())
    assert results["mode"] == "smoke" and results["seed"] == 3
    assert results["lesson"] == lesson.id and results["framework"] == framework
    assert results["metrics"] and results["claims"]
    assert out.is_file()
    for figure in results["figures"]:
        assert (tmp_path / figure).is_file(), figure


def test_course_run_writes_notebook_results_runs_and_report(tmp_path, monkeypatch, capsys):
    from course_lib import cli

    monkeypatch.setenv("COURSE_BUILD_DIR", str(tmp_path))
    assert cli.main(["run", "00", "--mode", "smoke", "--framework", "keras", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "[1/1] 00_setup_keras.ipynb" in out and "1/1 notebook(s) ok" in out
    assert (tmp_path / "notebooks" / "00_setup_keras.ipynb").is_file()
    runs = json.loads((tmp_path / "runs.json").read_text())
    assert runs["00_setup_keras"]["ok"] and runs["00_setup_keras"]["wall_s"] > 0
    assert "00_setup" in (tmp_path / "report.html").read_text()
