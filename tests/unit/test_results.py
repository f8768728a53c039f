import json

import matplotlib.pyplot as plt
import numpy as np
import pytest

from course_lib import cli, report
from course_lib.errors import ArgumentError
from course_lib.results import (
    Claim,
    LessonResults,
    read_results,
    results_problem,
    scan_results,
    validate_results,
)


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


def test_read_results_skips_a_damaged_file_with_a_warning(build):
    LessonResults("00_setup", "torch", "smoke").save()
    (build / "results" / "00_setup_keras.json").write_text("{not json")
    with pytest.warns(UserWarning, match=r"00_setup_keras.json: not valid JSON .*course run 00"):
        assert [r["framework"] for r in read_results()] == ["torch"]
    (build / "results" / "00_setup_keras.json").write_text(json.dumps({"lesson": "00_setup"}))
    with pytest.raises(ArgumentError, match=r"missing keys \['framework'.*course run NN"):
        validate_results(json.loads((build / "results" / "00_setup_keras.json").read_text()))
    (build / "results" / "00_setup_keras.json").unlink()
    assert [r["framework"] for r in read_results()] == ["torch"]


def _good_results(lesson="00_setup", framework="torch"):
    claim = {
        "statement": "good claim",
        "value": 2.0,
        "threshold": 1.0,
        "direction": ">=",
        "holds": True,
        "claim_id": None,
    }
    return {"schema": 1, "lesson": lesson, "framework": framework, "mode": "smoke", "seed": 0,
            "wall_s": 1.5, "metrics": {"acc": 0.9}, "claims": [claim], "figures": []}  # fmt: skip


def _changed(**fields):
    data = _good_results()
    data.update(fields)
    return json.dumps(data)


def _claim_changed(**fields):
    data = _good_results()
    data["claims"][0].update(fields)
    return json.dumps(data)


def _without(key):
    data = _good_results()
    del data[key]
    return json.dumps(data)


# (text of the damaged file, what the report must say is wrong)
DAMAGED = {
    "not_json": ("{not json", "not valid JSON"),
    "empty": ("", "empty file"),
    "a_list": ("[1, 2, 3]", "expected a JSON object, got list [1, 2, 3]"),
    "missing_keys": (json.dumps({"lesson": "00_setup"}), "missing keys ['framework'"),
    "no_claims": (_without("claims"), "missing keys ['claims']"),
    "lesson_int": (_changed(lesson=5), "'lesson' must be an id like '01_transfer', got 5"),
    "framework_jax": (_changed(framework="jax"), "'framework' must be one of"),
    "mode_number": (_changed(mode=3), "'mode' must be one of ['smoke'"),
    "seed_text": (_changed(seed="zero"), "'seed' must be an integer, got 'zero'"),
    "wall_s_text": (_changed(wall_s="fast"), "'wall_s' must be a number of seconds"),
    "metrics_list": (_changed(metrics=[0.9]), "'metrics' must be an object"),
    "metrics_nested": (_changed(metrics={"acc": {"top1": 0.9}}), "flat, no nesting"),
    "metrics_bool": (_changed(metrics={"ok": True}), "flat, no nesting"),
    "claims_not_list": (_changed(claims="all hold"), "'claims' must be a list of claims"),
    "figures_not_list": (_changed(figures="a.png"), "'figures' must be a list of paths"),
    "claim_not_object": (_changed(claims=["holds"]), "claim 1 must be an object"),
    "claim_missing": (_changed(claims=[{"statement": "s"}]), "claim 1 lacks ['value'"),
    "claim_value_text": (_claim_changed(value="high"), "claim 1 field 'value' must be a number"),
    "claim_threshold_none": (_claim_changed(threshold=None), "field 'threshold' must be a num"),
    "claim_holds_text": (_claim_changed(holds="yes"), "field 'holds' must be true or false"),
    "claim_statement_number": (_claim_changed(statement=1), "'statement' must be a string"),
    "claim_direction": (_claim_changed(direction=">"), "field 'direction' must be '>=' or"),
    "claim_id_number": (_claim_changed(claim_id=3), "field 'claim_id' must be a string or null"),
}


@pytest.mark.parametrize("variant", list(DAMAGED))
def test_a_damaged_results_file_is_named_in_the_report_and_the_rest_still_renders(
    variant, build, capsys
):
    text, reason = DAMAGED[variant]
    results = build / "results"
    results.mkdir()
    (results / "00_setup_torch.json").write_text(json.dumps(_good_results()))
    (results / "01_transfer_keras.json").write_text(text)
    scan = scan_results()
    assert [r["lesson"] for r in scan.results] == ["00_setup"]
    [damaged] = scan.damaged
    assert damaged.path.name == "01_transfer_keras.json" and reason in damaged.reason
    if variant not in ("not_json", "empty"):
        assert reason in results_problem(json.loads(text))
        with pytest.raises(ValueError, match="course run 01 --framework keras"):
            validate_results(json.loads(text), str(results / "01_transfer_keras.json"))
    for fmt in ("html", "md"):
        page = report.write_report(fmt).read_text()
        assert "Damaged results files" in page and "01_transfer_keras.json" in page, fmt
        assert "course run 01 --framework keras" in page, fmt
        assert "good claim" in page and "No results yet" not in page, fmt
    assert cli.main(["report", "--format", "md"]) == 0
    warnings = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and "01_transfer_keras.json" in warnings[0]


def test_the_good_results_file_passes_every_check():
    assert results_problem(_good_results()) is None
    assert results_problem({**_good_results(), "figures": ["figures/a.png"]}) is None


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
    md = report.write_report("md").read_text()
    assert "| 01_transfer | keras | smoke | FAILED: NameError: x |" in md
