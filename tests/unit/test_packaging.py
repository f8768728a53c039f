"""The project's shape: top level, pins vs ranges vs environment.yml, lint."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import tomllib
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
ALLOWED_TOP_LEVEL = {
    "README.md",
    "environment.yml",
    "notebooks",
    "course_lib",
    "tests",
    "exercises",
    "pyproject.toml",
    "Makefile",
    ".ci",
    "requirements.txt",
    ".gitignore",
}


def _pins(lines):
    pins = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            name, version = line.split("==")
            pins[name.strip().lower()] = version.strip()
    return pins


def _requirements_txt():
    return _pins((ROOT / "requirements.txt").read_text().splitlines())


def _environment_yml():
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- pip:")
    return _pins(re.sub(r"^\s*-\s*", "", line) for line in lines[start + 1 :] if "==" in line)


def test_top_level_holds_only_the_course_entries():
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout
    top = {path.split("/")[0] for path in tracked.split()}
    if not top:  # not a git checkout: look at the folder instead
        top = {p.name for p in ROOT.iterdir() if p.name not in {".git", ".venv", "build"}}
    assert top <= ALLOWED_TOP_LEVEL, (
        f"unexpected top-level entries: {sorted(top - ALLOWED_TOP_LEVEL)}"
    )
    for needed in ("README.md", "environment.yml", "notebooks", "course_lib", "tests", "exercises"):
        assert (ROOT / needed).exists(), needed


def test_environment_yml_pins_exactly_requirements_txt():
    assert _environment_yml() == _requirements_txt()


def test_pins_satisfy_the_ranges_in_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = _requirements_txt()
    ranges = [
        Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]
    ]
    for req in ranges:
        if req.marker is not None and not req.marker.evaluate():
            continue
        assert req.name.lower() in pins, f"{req.name} has a range but no pin in requirements.txt"
        assert Version(pins[req.name.lower()]) in req.specifier, (req, pins[req.name.lower()])
    named = {r.name.lower() for r in ranges}
    assert set(pins) <= named | {"tensorflow-cpu"}, f"pins without a range: {set(pins) - named}"


def test_ruff_is_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is not installed; run `make setup`"
    proc = subprocess.run(
        [ruff, "check", "course_lib", "tests"], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_makefiles_pip_log_filter_keeps_a_failed_install_failing():
    """`pip ... | filter` must not turn a failed install (e.g. a full disk) into success."""
    import re
    import subprocess

    makefile = (ROOT / "Makefile").read_text()
    pip_filter = re.search(r"^PIP_FILTER := (.+)$", makefile, re.MULTILINE).group(1)
    failing = f"set -eu -o pipefail; (echo 'No space left on device'; exit 1) 2>&1 | {pip_filter}"
    assert subprocess.run(["bash", "-c", failing], capture_output=True).returncode != 0
    noise = "x is ignored: it is neither a file nor a directory"
    quiet = f"set -eu -o pipefail; echo '{noise}' | {pip_filter}"
    assert subprocess.run(["bash", "-c", quiet], capture_output=True).returncode == 0
