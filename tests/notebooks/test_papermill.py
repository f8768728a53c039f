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


def test_course_run_writes_notebook_results_runs_and_report(tmp_path, monkeypatch, capfd):
    from course_lib import cli

    monkeypatch.setenv("COURSE_BUILD_DIR", str(tmp_path))
    assert cli.main(["run", "00", "--mode", "smoke", "--framework", "keras", "--seed", "1"]) == 0
    out, err = capfd.readouterr()  # the kernel's output too (it writes to this process's fds)
    assert "without encryption" not in out + err  # ipykernel's start-up warning is silenced
    assert "[1/1] 00_setup_keras.ipynb" in out and "1/1 notebook(s) ok" in out
    assert (tmp_path / "notebooks" / "00_setup_keras.ipynb").is_file()
    runs = json.loads((tmp_path / "runs.json").read_text())
    assert runs["00_setup_keras"]["ok"] and runs["00_setup_keras"]["wall_s"] > 0
    assert "00_setup" in (tmp_path / "report.html").read_text()


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_capstone_reads_the_earlier_results_and_recomputes_nothing(
    framework, tmp_path, monkeypatch
):
    """Lesson 06 lists every claim of the results files it finds, and leaves those files alone."""
    import nbformat

    from course_lib.results import LessonResults

    monkeypatch.setenv("COURSE_BUILD_DIR", str(tmp_path))
    earlier = LessonResults("01_transfer", "torch", mode="teaching")
    earlier.claim("a claim from lesson 01 that holds", 21.5, 15)
    earlier.claim("a claim from lesson 01 that fails", 1.25, 5)
    earlier.save()
    other = LessonResults("05_multitask", "keras", mode="teaching")
    other.claim("a claim from lesson 05", 12.5, 5)
    other.save()
    stale = LessonResults("06_capstone", framework, mode="teaching")  # its own, from a last run
    stale.claim("a stale capstone claim", 0.0, 1)
    stale.save()
    files = sorted(p for p in (tmp_path / "results").glob("*.json") if "06_capstone" not in p.name)
    before = {p.name: p.read_bytes() for p in files}

    capstone = next(lesson for lesson in LESSONS if lesson.id == "06_capstone")
    out = tmp_path / "notebooks" / capstone.notebooks[framework].name
    runner.execute_notebook(capstone.notebooks[framework], out, mode="smoke", seed=0)

    assert {p.name: p.read_bytes() for p in files} == before  # read, never rewritten
    text = "".join(
        o.get("text", "")
        for cell in nbformat.read(out, as_version=4).cells
        if cell.cell_type == "code" and "claims_table" in cell.source
        for o in cell.outputs
    )
    assert "a claim from lesson 01 that holds" in text and "21.5" in text
    assert "a claim from lesson 05" in text and "12.5" in text
    assert "a stale capstone claim" not in text
    assert "2 of 3 claims hold" in text
    results = json.loads((tmp_path / "results" / f"06_capstone_{framework}.json").read_text())
    assert results["metrics"]["earlier_results_files"] == 2
    assert results["metrics"]["earlier_claims_holding"] == 2
    assert len(results["claims"]) == 3
