# The Post-Training Improvement course. Every target sets itself up (venv + pinned deps + kernel).
#   make course      run every lesson in teaching mode (COURSE_MODE overrides) and write the report
#   make test        the whole test suite (fast suite + claims); CI runs exactly this
#   make test-fast   unit tests + every notebook in smoke mode (no claims)
#   make lab         JupyterLab on the course (notebooks/, exercises/) with the course kernel
#   make notebooks   generate notebooks/*_{pytorch,keras}.ipynb from the lesson sources notebooks/src/*.md
#   make exercises   rebuild the student copies in exercises/ from exercises/solutions/
#   make bench       time the library's fit against raw loops, and throughput (build/bench.json)
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.course-installed
# GPU=1 (on a fresh venv: rm -rf .venv && make setup GPU=1): the same pins, with TensorFlow's CUDA
# build in place of tensorflow-cpu (PyTorch's Linux wheel from PyPI already has CUDA); `course
# doctor` accepts either TensorFlow distribution.
GPU ?=
GPU_REQUIREMENTS := $(VENV)/requirements-gpu.txt
REQUIREMENTS := $(if $(filter 1,$(GPU)),$(GPU_REQUIREMENTS),requirements.txt)
PYTEST := $(PY) -m pytest
# pip on some machines prints one warning per package index entry: keep the log readable. The
# braces keep pip's own exit status (pipefail): a failed install must stop `make setup`.
PIP_FILTER := { grep -v "is ignored: it is neither a file nor a directory" || true; }

.PHONY: help setup real-data course test test-fast test-claims lint lab doctor report notebooks exercises bench clean

help:
	@sed -n 's/^#   //p' Makefile

$(STAMP): requirements.txt pyproject.toml
	@echo "== setting up $(VENV) (pinned packages from $(REQUIREMENTS); a few minutes the first time)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@if [ "$(GPU)" = 1 ]; then sed 's/^tensorflow-cpu==/tensorflow[and-cuda]==/' requirements.txt \
		> $(GPU_REQUIREMENTS); fi
	@$(PY) -m pip install --quiet --upgrade pip 2>&1 | $(PIP_FILTER)
	@$(PY) -m pip install --quiet -r $(REQUIREMENTS) 2>&1 | $(PIP_FILTER)
	@$(PY) -m pip install --quiet --no-deps --no-build-isolation -e . 2>&1 | $(PIP_FILTER)
	@$(PY) -m ipykernel install --sys-prefix --name post-training-course \
		--display-name "Python (post-training course)" > /dev/null
	@touch $(STAMP)
	@echo "== $(VENV) ready"

setup: $(STAMP) real-data

# Fashion-MNIST, the lessons' real images: Debian's dataset-fashion-mnist (31 MB). Installed here
# only where that needs no password (root, or sudo without one); elsewhere a one-line hint.
FASHION_MNIST := /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
APT_FASHION := apt-get install -y -q --no-install-recommends dataset-fashion-mnist
real-data:
	@if [ -f $(FASHION_MNIST) ] || [ -n "$${COURSE_FASHION_MNIST_DIR:-}" ]; then exit 0; fi; \
	hint="sudo apt-get install dataset-fashion-mnist (or see README: Real images)"; \
	if ! command -v apt-get > /dev/null; then echo "== real images: not Debian/Ubuntu; $$hint"; exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; elif sudo -n true 2> /dev/null; then sudo="sudo -n"; \
	else echo "== real images (Fashion-MNIST) missing: run $$hint"; exit 0; fi; \
	echo "== installing Debian's dataset-fashion-mnist (real images, 31 MB)"; \
	$$sudo $(APT_FASHION) > /dev/null 2>&1 \
	  || { $$sudo apt-get update -q > /dev/null 2>&1 && $$sudo $(APT_FASHION) > /dev/null 2>&1; } \
	  || echo "== could not install it; run $$hint"

course: setup
	$(VENV)/bin/course run $(LESSONS)

# Each notebook runs once per mode and every check on it reads that run (tests/notebook_runs.py,
# tests/claims: session fixtures). The fast suite runs on two workers, one file per worker at a
# time (every check of a notebook is in one file); the claims and the browser run in one process.
FAST_SUITE := -m "not claims and not browser" -n 2 --dist loadfile
test: setup
	status=0; $(PYTEST) $(FAST_SUITE) tests || status=$$?; \
	$(PYTEST) -m "claims or browser" tests || status=$$?; exit $$status

test-fast: setup
	status=0; $(PYTEST) $(FAST_SUITE) tests || status=$$?; \
	$(PYTEST) -m browser tests || status=$$?; exit $$status

test-claims: setup
	$(PYTEST) -m claims tests

lint: setup
	$(VENV)/bin/ruff check course_lib tests

lab: setup
	$(VENV)/bin/course lab

doctor: setup
	$(VENV)/bin/course doctor

report: setup
	$(VENV)/bin/course report

bench: setup
	$(PY) -m course_lib.dev.bench

notebooks: setup
	$(VENV)/bin/course notebooks build

exercises: setup
	$(VENV)/bin/course exercises build

clean:
	rm -rf build .pytest_cache .ruff_cache
