"""Test-wide setup. Runs before any test module, and before nbval starts notebook kernels."""

import os
from pathlib import Path

import matplotlib

ROOT = Path(__file__).resolve().parent.parent

# Notebooks under test run in smoke mode unless the caller chose otherwise (kernels inherit this).
os.environ.setdefault("COURSE_MODE", "smoke")
# Keep test runs' results and figures away from a learner's `make course` output.
os.environ.setdefault("COURSE_BUILD_DIR", str(ROOT / "build" / "test"))
matplotlib.use("Agg")

# This process imports both PyTorch and TensorFlow (parity and doctor tests): guard it once, here,
# before anything imports TensorFlow. See course_lib/frameworks.py.
from course_lib.frameworks import guard_both_frameworks  # noqa: E402

guard_both_frameworks()
