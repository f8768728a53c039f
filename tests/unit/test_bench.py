"""``python -m course_lib.dev.bench``: the quick run's JSON and table (never its speed)."""

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from course_lib.dev import bench

ROOT = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    # COURSE_CACHE_DIR is left as is: the glyph cache is reused, not rebuilt.
    return {**os.environ, "COURSE_BUILD_DIR": str(tmp_path), "COURSE_MODE": "smoke", **extra}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [sys.executable, "-m", "course_lib.dev.bench", "--quick"],
        cwd=ROOT,
        env=_env(out),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "bench.json").read_text()), proc.stdout


def _positive(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def test_quick_bench_writes_the_comparison(quick_run):
    result, _ = quick_run
    settings = result["settings"]
    assert result["schema"] == bench.SCHEMA_VERSION
    assert settings["quick"] is True and settings["mode"] == "smoke"
    reps = settings["reps"]
    assert set(result["comparison"]) == {"torch", "keras"}
    for framework, row in result["comparison"].items():
        assert len(row["lib_s"]) == len(row["raw_s"]) == reps, framework
        assert all(_positive(t) for t in row["lib_s"] + row["raw_s"]), framework
        for key in ("lib_median_s", "raw_median_s", "lib_images_per_s", "raw_images_per_s"):
            assert _positive(row[key]), (framework, key)
        assert row["ratio"] == pytest.approx(row["raw_median_s"] / row["lib_median_s"], rel=2e-3)
        assert row["goal"] == bench.GOAL
        assert row["meets_goal"] is (row["ratio"] >= bench.GOAL)
    custom = result["keras_custom_loop"]
    assert len(custom["times_s"]) == reps and _positive(custom["images_per_s"])


def test_quick_bench_records_throughput_env_and_onednn(quick_run):
    result, _ = quick_run
    for framework in ("torch", "keras"):
        tp = result["throughput"][framework]
        assert _positive(tp["train_images_per_s"]) and _positive(tp["inference_images_per_s"])
        assert tp["batch_size"] == 128 and tp["image_size"] == [28, 28]
    env = result["env"]
    expected = {"cpu_count_affinity", "torch_threads", "tf_intra_op_threads", "date", "python"}
    expected |= {"tf_inter_op_threads", "torch", "tensorflow", "keras"}
    assert expected <= set(env), expected - set(env)
    assert env["cpu_count_affinity"] >= 1 and env["torch_threads"] >= 1
    assert env["mode"] == "smoke" and env["quick"] is True
    # The quick run leaves the two TensorFlow start-ups out, and says so.
    assert result["onednn"] is None and "quick" in result["onednn_skipped_reason"]
    assert set(result["foreign_load"]) >= {"median", "max", "noisy"}
    assert _positive(result["wall_s"])


def test_quick_bench_prints_progress_and_the_table(quick_run):
    _, stdout = quick_run
    assert "[bench] rep 1/2 torch lib" in stdout
    header = next(line for line in stdout.splitlines() if line.startswith("framework"))
    for column in ("raw img/s", "library img/s", "ratio", "goal"):
        assert column in header
    assert any(line.startswith("torch ") and "|" in line for line in stdout.splitlines())
    assert any(line.startswith("keras ") and "|" in line for line in stdout.splitlines())
    assert "throughput torch" in stdout and "throughput keras" in stdout


def test_keras_throughput_child_reads_the_onednn_setting(tmp_path):
    spec = asdict(bench.make_settings(quick=True))
    proc = subprocess.run(
        [sys.executable, "-m", "course_lib.dev.bench", "--keras-throughput-only", json.dumps(spec)],
        cwd=ROOT,
        env=_env(tmp_path, TF_ENABLE_ONEDNN_OPTS="1"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith(bench.RESULT_MARKER))
    result = json.loads(line[len(bench.RESULT_MARKER) :])
    assert result["TF_ENABLE_ONEDNN_OPTS"] == "1"
    assert _positive(result["train_images_per_s"])


def test_bad_reps_is_a_clear_error():
    with pytest.raises(SystemExit, match="--reps must be a positive integer"):
        bench.make_settings(reps=0)
