"""Test-wide setup. Runs before any test module, and before nbval starts notebook kernels."""

import os
from pathlib import Path

import matplotlib
import pytest

ROOT = Path(__file__).resolve().parent.parent

# Under pytest-xdist (`make test-fast` runs `-n 2`) every worker, and every kernel it starts,
# gets an equal share of the cores: torch or TensorFlow with a thread per core in each of two
# busy processes run many times slower than with one. Must happen before torch is imported.
_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _workers > 1:
    _cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    _threads = str(max(1, (_cores or 1) // _workers))
    for _var in (
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "TF_NUM_INTRAOP_THREADS",
        "TF_NUM_INTEROP_THREADS",
    ):
        os.environ.setdefault(_var, _threads)

# Notebooks under test run in smoke mode unless the caller chose otherwise (kernels inherit this).
os.environ.setdefault("COURSE_MODE", "smoke")
# Keep test runs' results and figures away from a learner's `make course` output.
os.environ.setdefault("COURSE_BUILD_DIR", str(ROOT / "build" / "test"))
matplotlib.use("Agg")

# This process imports both PyTorch and TensorFlow (parity and doctor tests): guard it once, here,
# before anything imports TensorFlow. See course_lib/frameworks.py.
from course_lib.frameworks import guard_both_frameworks  # noqa: E402

guard_both_frameworks()


@pytest.fixture(scope="session")
def notebook_runs(tmp_path_factory):
    """Each lesson notebook and exercise solution executed once (see tests/notebook_runs.py)."""
    from tests.notebook_runs import NotebookRuns

    return NotebookRuns(tmp_path_factory.mktemp("notebook_runs"))
