"""A workshop room: kernels that start together on one empty cache build each entry once.

Each test starts real processes on one COURSE_CACHE_DIR. They import first, then all start
together at a signal (a "go" file), so the timing measures the cache, not the imports. The
builds sleep BUILD_S seconds and log "start <pid>" / "done <pid>" to a file, and their arrays hold
the builder's PID: two builds would be seen in the log and in the results.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD_S = 1.0
PROCESSES = 4

_PRELUDE = f"""
import hashlib, os, sys, time
from pathlib import Path
import numpy as np
log, go = Path(sys.argv[1]), Path(sys.argv[2])

def note(what):
    with open(log, "a") as f:
        f.write(f"{{what}} {{os.getpid()}}\\n")

def wait_for_go():
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.005)

def built(values):
    note("start")
    time.sleep({BUILD_S})
    note("done")
    return np.full(values, os.getpid(), dtype=np.int64)

def report(values, *extra):
    print("RESULT", hashlib.sha256(np.asarray(values).tobytes()).hexdigest(), *extra, flush=True)
"""

CACHE_CHILD = (
    _PRELUDE
    + """
from course_lib.data.cache import cached_arrays
if len(sys.argv) > 3:  # the builder that will be killed: its save stalls half-way
    def stalled_savez(file, **arrays):
        file.write(b"\\0" * 100_000)
        file.flush()
        print("writing", flush=True)
        time.sleep(60)
    np.savez = stalled_savez
wait_for_go()
arrays = cached_arrays("toy", {"n": 1}, lambda: {"x": built(1000)})
report(arrays["x"])
"""
)

PRETRAINED_CHILD = (
    _PRELUDE
    + """
from course_lib import pretrained
from course_lib.atomic import atomic_write

class History(dict):
    wall_s = 1.0

class FakeFramework:
    # The four mirrored functions get_or_build uses, in NumPy: a 1 s "training" run.
    @staticmethod
    def small_cnn(num_classes, width):
        return {"w": np.zeros(num_classes, dtype=np.int64)}

    @staticmethod
    def fit(model, train, val, **kwargs):
        model["w"][:] = built(len(model["w"]))
        return History(val_accuracy=[0.5])

    @staticmethod
    def save_checkpoint(model, path, **meta):
        atomic_write(path, lambda f: np.save(f, model["w"]))

    @staticmethod
    def load_checkpoint(model, path):
        model["w"][:] = np.load(path)

images = np.zeros((3, 28, 28), dtype=np.float32)
pretrained.source_data = lambda spec: pretrained.SourceData((images, np.arange(3)),
                                                            (images, np.arange(3)), 3)
wait_for_go()
spec = pretrained.pretrain_spec("torch", "smoke")
model, info = pretrained.get_or_build(spec, FakeFramework, progress=False)
report(model["w"], info.built_now)
"""
)


def _start(code: str, tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "COURSE_CACHE_DIR": str(tmp_path / "cache"),
        "OMP_NUM_THREADS": "1",
    }
    args = [str(tmp_path / "builds.log"), str(tmp_path / "go"), *extra]
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _ready(proc: subprocess.Popen[str], word: str = "ready") -> None:
    line = proc.stdout.readline().strip()
    if line != word:
        proc.kill()
        raise AssertionError(f"child said {line!r}, expected {word!r}: {proc.stderr.read()}")


def _results(procs: list[subprocess.Popen[str]]) -> list[list[str]]:
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results += [line.split()[1:] for line in out.splitlines() if line.startswith("RESULT")]
    return results


def _builds(tmp_path: Path) -> tuple[list[str], list[str]]:
    lines = (tmp_path / "builds.log").read_text().split("\n")
    return [x for x in lines if x.startswith("start")], [x for x in lines if x.startswith("done")]


def _temps(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "cache").rglob("*.tmp"))


def _run_together(code: str, tmp_path: Path) -> tuple[list[list[str]], float]:
    procs = [_start(code, tmp_path) for _ in range(PROCESSES)]
    for proc in procs:
        _ready(proc)
    start = time.perf_counter()
    (tmp_path / "go").touch()
    results = _results(procs)
    return results, time.perf_counter() - start


@pytest.mark.parametrize("code", [CACHE_CHILD, PRETRAINED_CHILD], ids=["dataset", "pretrained"])
def test_processes_starting_together_build_once(code, tmp_path):
    results, wall = _run_together(code, tmp_path)
    started, done = _builds(tmp_path)
    print(f"\n{PROCESSES} processes: builds started {len(started)}, done {len(done)}; "
          f"wall {wall:.2f} s for a {BUILD_S:.0f} s build")  # fmt: skip
    assert len(started) == len(done) == 1
    assert len(results) == PROCESSES and len({r[0] for r in results}) == 1
    if code is PRETRAINED_CHILD:  # one trained it, the others loaded its checkpoint
        assert sorted(r[1] for r in results) == ["False"] * (PROCESSES - 1) + ["True"]
    assert _temps(tmp_path) == []
    assert wall < PROCESSES * BUILD_S


def test_a_killed_builder_blocks_no_one_and_leaves_no_temp(tmp_path):
    (tmp_path / "go").touch()
    doomed = _start(CACHE_CHILD, tmp_path, "stall")
    _ready(doomed)
    _ready(doomed, "writing")  # holds the lock, half-way through writing its temp
    assert len(_temps(tmp_path)) == 1
    others = [_start(CACHE_CHILD, tmp_path) for _ in range(2)]
    for proc in others:
        _ready(proc)
    time.sleep(0.5)  # both are waiting for the lock now
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.wait()
    results = _results(others)
    started, done = _builds(tmp_path)
    assert len(started) == 2 and len(done) == 2  # the killed one's build, then one more
    assert len(results) == 2 and len({r[0] for r in results}) == 1
    assert _temps(tmp_path) == []
