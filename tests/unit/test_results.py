import json

import matplotlib.pyplot as plt
import numpy as np
import pytest

from course_lib import report
from course_lib.results import Claim, LessonResults, read_results, validate_results


@pytest.fixture
def build(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_BUILD_DIR", str(tmp_path))
    return tmp_path


def test_claim_direction_and_nan():
    assert Claim("more is better", 20, 15).holds
    assert not Claim("more is better", 10, 15).holds
    assert Claim("less is better", 0.3, 0.5, "<=").holds
    assert not Claim("nan never holds", float("nan"), 0).holds


def test_lesson_results_file_has_the_schema(build):
    r = LessonResults("01_transfer", "pytorch", mode="smoke", seed=4)
    r.metric("acc", np.float32(0.5))
    r.claim("probe beats scratch (points)", 21.0, 15)
    r.claim("loss small", 0.9, 0.5, direction="<=")
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    r.figure(fig, "curve")
    path = r.save()
    assert path == build / "results" / "01_transfer_torch.json"
    data = json.loads(path.read_text())
    validate_results(data)
    assert data["framework"] == "torch" and data["mode"] == "smoke" and data["seed"] == 4
    assert data["metrics"] == {"acc": 0.5} and data["wall_s"] >= 0
    assert [c["holds"] for c in data["claims"]] == [True, False]
    assert (build / data["figures"][0]).is_file()
    assert "DOES NOT HOLD" in r.summary()


@pytest.mark.parametrize("lesson", ["1_transfer", "01-transfer", "Transfer", ""])
def test_bad_lesson_name(lesson, build):
    with pytest.raises(ValueError, match="two digits"):
        LessonResults(lesson, "torch", "smoke")


def test_bad_inputs_to_results(build):
    r = LessonResults("00_setup", "keras", "smoke")
    with pytest.raises(TypeError, match="must be a number"):
        r.metric("acc", "high")
    with pytest.raises(TypeError, match="must be a number"):
        r.metric("flag", True)
    with pytest.raises(ValueError, match="direction"):
        r.claim("x", 1, 2, direction=">")
    with pytest.raises(ValueError, match="framework"):
        LessonResults("00_setup", "jax", "smoke")
    with pytest.raises(ValueError, match="figure name"):
        r.figure(None, "a b")


def test_read_results_validates(build):
    LessonResults("00_setup", "torch", "smoke").save()
    (build / "results" / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_results()
    (build / "results" / "broken.json").write_text(json.dumps({"lesson": "00_setup"}))
    with pytest.raises(ValueError, match="missing keys"):
        read_results()
    (build / "results" / "broken.json").unlink()
    assert [r["framework"] for r in read_results()] == ["torch"]


def test_report_html_and_markdown(build):
    r = LessonResults("00_setup", "torch", "smoke")
    r.metric("alphabets", 50)
    r.claim("enough alphabets", 50, 40)
    r.claim("impossible", 1, 2)
    fig, _ = plt.subplots()
    r.figure(fig, "grid")
    r.save()
    LessonResults("00_setup", "keras", "smoke").save()
    html = report.write_report("html").read_text()
    assert "00_setup" in html and "enough alphabets" in html and "data:image/png;base64," in html
    assert "1 claim(s) did not hold" in html and "class='fail'" in html
    md = report.write_report("md").read_text()
    assert "| 00_setup | torch | smoke |" in md and "**NO**" in md
    with pytest.raises(ValueError, match="html"):
        report.write_report("pdf")


def test_report_without_results(build):
    assert "No results yet" in report.write_report("html").read_text()


def test_report_shows_notebook_wall_times_and_failed_runs(build):
    LessonResults("00_setup", "torch", "smoke").save()
    runs = {
        "00_setup_torch": {
            "lesson": "00_setup",
            "framework": "torch",
            "mode": "smoke",
            "wall_s": 12.3,
            "ok": True,
            "error": "",
        },
        "01_transfer_keras": {
            "lesson": "01_transfer",
            "framework": "keras",
            "mode": "smoke",
            "wall_s": 4.0,
            "ok": False,
            "error": "NameError: x",
        },
    }
    (build / "runs.json").write_text(json.dumps(runs))
    html = report.write_report("html").read_text()
    assert "12.3" in html and "FAILED: NameError: x" in html
