import subprocess
import sys
from pathlib import Path

import pytest

from course_lib import cli, doctor, runner
from course_lib.errors import UnknownNameError

ROOT = Path(__file__).resolve().parents[2]


def test_lessons_are_discovered_in_pairs():
    lessons = runner.discover_lessons()
    assert lessons and lessons[0].id == "00_setup"
    for lesson in lessons:
        assert set(lesson.notebooks) == {"torch", "keras"}, f"{lesson.id} lacks a framework"


def test_resolve_lessons_by_number_id_and_topic():
    lessons = runner.discover_lessons()
    for name in ("0", "00", "00_setup", "setup"):
        assert [le.id for le in runner.resolve_lessons([name], lessons)] == ["00_setup"]
    assert runner.resolve_lessons([], lessons) == lessons


def test_unknown_lesson_lists_the_available_ones():
    with pytest.raises(UnknownNameError, match="available lessons: 00_setup"):
        runner.resolve_lessons(["99"], runner.discover_lessons())


def test_cli_unknown_lesson_exits_2_with_a_message(capsys):
    assert cli.main(["run", "transformers"]) == 2
    assert "Unknown lesson 'transformers'" in capsys.readouterr().err


def test_cli_rejects_unknown_mode():
    with pytest.raises(SystemExit):
        cli.main(["run", "00", "--mode", "turbo"])


def test_cli_help_lists_every_command():
    out = subprocess.run(
        [sys.executable, "-m", "course_lib.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for command in ("doctor", "run", "fetch", "report", "lab", "pretrain", "exercises"):
        assert command in out


def test_cli_report_markdown(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("COURSE_BUILD_DIR", str(tmp_path))
    assert cli.main(["report", "--format", "md"]) == 0
    assert (tmp_path / "report.md").is_file()


def test_cli_fetch_offline_fails_fast_with_advice(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    assert cli.main(["fetch", "cifar10"]) == 2
    assert "offline" in capsys.readouterr().err.lower()


def test_doctor_reports_every_package_and_the_runtime(capsys):
    checks = doctor.check_environment("both")
    names = [c.name for c in checks]
    for name in (
        "python",
        "torch",
        "tensorflow-cpu",
        "keras",
        "papermill",
        "mode",
        "device (torch)",
        "device (keras)",
        "network",
        "jupyter kernel",
        "real images",
        "cache dir",
    ):
        assert name in names
    packages = checks[: len(doctor.requirements()[1]) + 1]
    assert all(c.ok for c in packages), [c.line() for c in packages if not c.ok]
    doctor.report(checks)
    out = capsys.readouterr().out
    assert "[OK]  torch" in out and "checks OK" in out


def test_doctor_fails_on_a_bad_mode_and_a_missing_package(monkeypatch, capsys):
    from packaging.requirements import Requirement

    monkeypatch.setenv("COURSE_MODE", "turbo")
    real = doctor.requirements
    monkeypatch.setattr(
        doctor, "requirements", lambda: (real()[0], [*real()[1], Requirement("no-such-package>=1")])
    )
    checks = doctor.check_environment("torch")
    failed = {c.name for c in checks if not c.ok}
    assert {"mode", "no-such-package"} <= failed
    assert doctor.report(checks) is False
    assert "[FAIL] no-such-package" in capsys.readouterr().out
    with pytest.raises(ValueError, match="framework"):
        doctor.check_environment("jax")


def test_doctor_says_where_the_real_images_are_and_how_to_get_them(monkeypatch, tmp_path):
    from course_lib.data import fashion_mnist

    monkeypatch.setenv(fashion_mnist.DIR_ENV, str(tmp_path))  # an empty folder: nothing there
    check = doctor._check_real_images()
    assert not check.ok and "apt-get install dataset-fashion-mnist" in check.detail
    for name in fashion_mnist.SHA256:
        (tmp_path / f"{name}.gz").write_bytes(b"")
    check = doctor._check_real_images()
    assert check.ok and str(tmp_path) in check.detail


def test_doctor_accepts_the_gpu_build_of_tensorflow_in_place_of_the_cpu_build(monkeypatch):
    """`make setup GPU=1` installs `tensorflow` (CUDA) where the pins say `tensorflow-cpu`."""
    import importlib.metadata as md

    real_version = md.version
    installed = {"tensorflow-cpu": None, "tensorflow": real_version("tensorflow-cpu")}

    def version(name):
        if name in installed:
            if installed[name] is None:
                raise md.PackageNotFoundError(name)
            return installed[name]
        return real_version(name)

    monkeypatch.setattr(doctor.md, "version", version)
    check = next(c for c in doctor.check_packages() if c.name == "tensorflow-cpu")
    assert check.ok and "as tensorflow" in check.detail, check.line()

    installed["tensorflow"] = "2.0.0"  # the GPU build, but outside the required range
    check = next(c for c in doctor.check_packages() if c.name == "tensorflow-cpu")
    assert not check.ok and "make setup" in check.detail

    installed["tensorflow"] = None  # neither build: missing
    check = next(c for c in doctor.check_packages() if c.name == "tensorflow-cpu")
    assert not check.ok and check.found == "missing"


def test_the_gpu_setup_has_a_tensorflow_cpu_pin_to_swap():
    """The Makefile's GPU=1 rewrites the `tensorflow-cpu==` pin; it must exist, exactly once."""
    pins = [line for line in (ROOT / "requirements.txt").read_text().splitlines()
            if line.startswith("tensorflow-cpu==")]  # fmt: skip
    assert len(pins) == 1
    assert "s/^tensorflow-cpu==/tensorflow[and-cuda]==/" in (ROOT / "Makefile").read_text()


def test_course_doctor_exit_code_follows_the_checks(monkeypatch):
    monkeypatch.setenv("COURSE_MODE", "turbo")
    assert cli.main(["doctor", "--framework", "torch"]) == 1


def test_report_names_the_library_versions_and_flags_failed_claims(monkeypatch, tmp_path):
    from course_lib import report
    from course_lib.results import LessonResults

    monkeypatch.setenv("COURSE_BUILD_DIR", str(tmp_path))
    results = LessonResults("05_multitask", "torch", mode="smoke")
    results.claim("a claim that holds", 6.0, 5.0)
    results.claim("a claim that fails", 1.0, 5.0)
    results.claim("|w| < 1e-3 in a table cell", 1.0, 0.5)
    results.save()
    other = LessonResults("05_multitask", "keras", mode="smoke")
    other.claim("a claim that holds", 7.0, 5.0)
    other.save()
    versions = report.library_versions()
    assert set(versions) == set(report.LIBRARIES)
    for fmt in ("md", "html"):
        text = report.write_report(fmt, build=tmp_path).read_text()
        assert f"torch {versions['torch']}" in text and f"keras {versions['keras']}" in text
    md = (tmp_path / "report.md").read_text()
    assert "| 2/3 |" in md and "**NO**" in md
    # every claim once, the frameworks side by side ("–" where one made no such claim)
    assert "| 05_multitask | a claim that holds | >= 5 | 6 holds | 7 holds |" in md
    assert "| 05_multitask | a claim that fails | >= 5 | 1 **NO** | – |" in md
    rows = report.claims_overview(report.read_results(tmp_path / "results"))
    assert [r["statement"] for r in rows] == [
        "a claim that holds",
        "a claim that fails",
        "|w| < 1e-3 in a table cell",
    ]
    assert "| 05_multitask | \\|w\\| < 1e-3 in a table cell | >= 0.5 | 1 holds | – |" in md
    assert "1 claim(s) did not hold" in (tmp_path / "report.html").read_text()


def test_claims_overview_puts_one_table_claim_on_one_row_whatever_its_statement():
    from course_lib import report

    def result(framework, best, value):
        claim = {
            "claim_id": "best_technique_improves_val",
            "statement": f"{best} helps",
            "direction": ">=",
            "threshold": 5.0,
            "value": value,
            "holds": value >= 5,
        }
        free = {
            "statement": f"free-form {framework}",
            "direction": ">=",
            "threshold": 1.0,
            "value": 2.0,
            "holds": True,
        }
        return {"lesson": "03_regularization", "framework": framework, "mode": "teaching",
                "claims": [claim, free]}  # fmt: skip

    rows = report.claims_overview([result("torch", "augmentation", 11.7), result("keras", "L1", 4)])
    assert len(rows) == 3  # the table claim once, each free-form statement on its own row
    assert rows[0]["torch"]["value"] == 11.7 and rows[0]["keras"] == {"value": 4, "holds": False}
