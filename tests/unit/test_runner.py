"""runner: the injected mode reaches the kernel; a failure's real reason reaches every output;
``runs.json`` keeps every run when several processes write it at once."""

import json
import os
import subprocess
import sys
import time

import nbformat
from papermill.exceptions import PapermillExecutionError

from course_lib import cli, config, report, runner


def _notebook(path, *code):
    """Write a notebook with a ``parameters`` cell and one code cell per ``code``."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": runner.kernel_name(),
        "display_name": "course",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell("mode = None\nseed = 0", metadata={"tags": ["parameters"]}),
        *(nbformat.v4.new_code_cell(c) for c in code),
    ]
    nbformat.write(nb, path)
    return path


def test_the_kernel_sees_the_injected_mode_not_the_callers(tmp_path, monkeypatch):
    monkeypatch.setenv(config.MODE_ENV, "smoke")  # what the test suite's conftest sets
    source = _notebook(
        tmp_path / "probe.ipynb",
        "import os\nfrom course_lib import config\n"
        "print(os.environ['COURSE_MODE'], config.sizes('training').batch_size)",
    )
    output = tmp_path / "out.ipynb"
    runner.execute_notebook(source, output, mode="teaching", seed=0, timeout=120)
    printed = nbformat.read(output, as_version=4).cells[-1].outputs[0]["text"].split()
    assert printed == ["teaching", str(config.sizes("training", "teaching").batch_size)]
    assert os.environ[config.MODE_ENV] == "smoke"  # the caller's environment is restored


def test_a_failing_notebook_shows_its_exception_on_the_status_line_runs_json_and_report(
    tmp_path, monkeypatch, capsys
):
    """`course run`: not papermill's ``-----`` separator but the exception and the failing cell."""
    notebooks, build = tmp_path / "notebooks", tmp_path / "build"
    notebooks.mkdir()
    _notebook(notebooks / "98_probe_pytorch.ipynb", "x = 1", "y = x / 0", "print('never')")
    monkeypatch.setattr(runner, "notebooks_dir", lambda: notebooks)
    monkeypatch.setenv(config.BUILD_ENV, str(build))
    assert cli.main(["run", "98", "--framework", "torch", "--mode", "smoke"]) == 1
    # parameters cell In [1], injected parameters In [2], x = 1 In [3], the division In [4]
    reason = "ZeroDivisionError: division by zero (cell In [4])"
    status = [ln for ln in capsys.readouterr().out.splitlines() if "FAILED" in ln]
    assert len(status) == 1 and status[0].endswith(f" — {reason}"), status
    assert json.loads((build / "runs.json").read_text())["98_probe_torch"]["error"] == reason
    report.write_report("md", build=build)
    for fmt in ("html", "md"):  # `course run` wrote the HTML one
        text = (build / f"report.{fmt}").read_text()
        assert "Failed notebook runs" in text and reason in text, fmt
        assert "notebooks/98_probe_pytorch.ipynb" in text, fmt


def test_failure_reason_is_one_line_with_type_message_and_cell():
    error = PapermillExecutionError(
        cell_index=5, exec_count=7, source="f()", ename="ValueError",
        evalue="\x1b[31mbad value\x1b[0m\nsecond line", traceback=["\x1b[31m---\x1b[0m"],
    )  # fmt: skip
    assert str(error).strip().startswith("-----")  # what the old first-line reason showed
    assert runner.failure_reason(error) == "ValueError: bad value second line (cell In [7])"
    unrun = PapermillExecutionError(5, None, "", "CellExecutionError", "", [])
    assert runner.failure_reason(unrun) == "CellExecutionError (cell #5)"
    assert runner.failure_reason(RuntimeError("\n" + "-" * 75 + "\nKernel died\n")) == (
        "RuntimeError: Kernel died"
    )
    assert runner.failure_reason(TimeoutError()) == "TimeoutError"
    long = runner.failure_reason(RuntimeError("x" * 1000))
    assert long.endswith("...") and len(long) == len("RuntimeError: ") + 300


_WRITER = """
import sys
from pathlib import Path
from course_lib import runner
worker, n = int(sys.argv[1]), int(sys.argv[2])
for i in range(n):
    record = runner.RunRecord(f"{worker:02d}_w{i:03d}", "torch", Path("x"), 0.1, i % 2 == 0, "e")
    runner._record_run(record, "smoke", echo=lambda line: None)
"""


def test_concurrent_writers_keep_every_run_in_runs_json(tmp_path):
    """A workshop room: 4 processes each record 50 runs into one runs.json at the same time."""
    env = {**os.environ, config.BUILD_ENV: str(tmp_path)}
    start = time.perf_counter()
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(w), "50"], env=env,
                         stderr=subprocess.PIPE, text=True)
        for w in range(4)
    ]  # fmt: skip
    errors = [w.communicate(timeout=60)[1] for w in writers]
    assert [w.returncode for w in writers] == [0] * 4, errors
    runs = json.loads((tmp_path / "runs.json").read_text())
    assert len(runs) == 200, f"kept {len(runs)} of 200 runs"
    assert runs["03_w049_torch"] == {"lesson": "03_w049", "framework": "torch", "mode": "smoke",
                                     "wall_s": 0.1, "ok": False, "error": "e"}  # fmt: skip
    assert time.perf_counter() - start < 15


def test_a_damaged_runs_json_is_reported_kept_aside_and_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv(config.BUILD_ENV, str(tmp_path))
    path = tmp_path / "runs.json"
    good = {"lesson": "00_setup", "framework": "keras", "mode": "smoke", "wall_s": 3.0,
            "ok": True, "error": ""}  # fmt: skip
    path.write_text(json.dumps({"00_setup_keras": good, "01_transfer_torch": {"ok": "yes"}}))
    assert "01_transfer_torch" in report.write_report("md").read_text()  # named as damaged
    lines = []
    record = runner.RunRecord("02_fewshot", "torch", tmp_path / "x.ipynb", 1.0, True)
    runner._record_run(record, "smoke", echo=lines.append)
    assert len(lines) == 1 and "warning:" in lines[0] and "runs.json.damaged" in lines[0]
    assert "'01_transfer_torch' field 'lesson' must be a string" in lines[0]
    assert "01_transfer_torch" in (tmp_path / "runs.json.damaged").read_text()
    assert set(json.loads(path.read_text())) == {"00_setup_keras", "02_fewshot_torch"}

    path.write_text("{not json")
    runner._record_run(record, "smoke", echo=lines.append)
    assert "not valid JSON" in lines[1]
    assert (tmp_path / "runs.json.damaged").read_text() == "{not json"
    assert set(json.loads(path.read_text())) == {"02_fewshot_torch"}
