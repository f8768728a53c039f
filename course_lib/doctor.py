"""Environment check: one ``[OK]``/``[FAIL]`` line per requirement, as in ``course doctor``."""

from __future__ import annotations

import importlib.metadata as md
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from course_lib import config
from course_lib.errors import CourseError

DIST_NAME = "post-training-course"
KERNEL_NAME = "post-training-course"
KERNEL_DISPLAY_NAME = "Python (post-training course)"

# Distributions that install the same import package: the pins name the CPU build of TensorFlow,
# a GPU machine installs `tensorflow` (`make setup GPU=1`); either satisfies the requirement.
EQUIVALENT_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "tensorflow-cpu": ("tensorflow",),
    "tensorflow": ("tensorflow-cpu",),
}


@dataclass(frozen=True)
class Check:
    """One line of the report: ``ok`` decides [OK]/[FAIL]; ``found`` and ``detail`` explain."""

    name: str
    ok: bool
    found: str
    detail: str = ""

    def line(self) -> str:
        return (
            f"[{'OK' if self.ok else 'FAIL'}]{' ' if self.ok else ''} {self.name:<16} "
            f"{self.found:<20} {self.detail}".rstrip()
        )


def requirements() -> tuple[str, list[Requirement]]:
    """The course's Python requirement and package requirements (from its metadata or pyproject)."""
    try:
        meta = md.metadata(DIST_NAME)
        reqs = [Requirement(r) for r in md.requires(DIST_NAME) or []]
        python = meta.get("Requires-Python") or ""
    except md.PackageNotFoundError:
        import tomllib

        root = config.repo_root()
        if root is None:
            raise CourseError(
                f"{DIST_NAME} is not installed and no pyproject.toml was found; "
                "install the course with `pip install -e .`."
            ) from None
        project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
        reqs = [Requirement(r) for r in project["dependencies"]]
        python = project.get("requires-python", "")
    return python, [r for r in reqs if r.marker is None or r.marker.evaluate({"extra": ""})]


def _version_ok(found: str, spec: SpecifierSet) -> bool:
    try:
        return spec.contains(Version(found), prereleases=True)
    except InvalidVersion:
        return False


def check_packages() -> list[Check]:
    """Python and every required package: installed version against the required range."""
    python_spec, reqs = requirements()
    found = platform.python_version()
    checks = [
        Check(
            "python",
            _version_ok(found, SpecifierSet(python_spec)),
            found,
            f"required {python_spec or 'any'}",
        )
    ]
    for req in reqs:
        installed = _installed_version(req.name)
        if installed is None:
            checks.append(
                Check(
                    req.name,
                    False,
                    "missing",
                    f"required {req.specifier or 'any'} — "
                    "run `make setup` (or pip install -r requirements.txt)",
                )
            )
            continue
        name, version = installed
        ok = _version_ok(version, req.specifier)
        hint = "" if ok else " — run `make setup` to install the pinned versions"
        instead = "" if name == req.name.lower() else f" (as {name}, the same package)"
        checks.append(
            Check(req.name, ok, version, f"required {req.specifier or 'any'}{instead}{hint}")
        )
    return checks


def _installed_version(name: str) -> tuple[str, str] | None:
    """``(distribution, version)`` of ``name`` or of an equivalent distribution; None if neither."""
    for candidate in (name.lower(), *EQUIVALENT_DISTRIBUTIONS.get(name.lower(), ())):
        try:
            return candidate, md.version(candidate)
        except md.PackageNotFoundError:
            continue
    return None


def _torch_device() -> Check:
    import torch

    if torch.cuda.is_available():
        return Check("device (torch)", True, "GPU", torch.cuda.get_device_name(0))
    return Check(
        "device (torch)",
        True,
        "CPU",
        "no GPU found: fine for smoke/teaching; full mode wants a GPU",
    )


def _keras_device() -> Check:
    from course_lib.frameworks import prepare_tensorflow

    prepare_tensorflow()
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return Check("device (keras)", True, "GPU", f"{len(gpus)} GPU(s) visible to TensorFlow")
    return Check(
        "device (keras)",
        True,
        "CPU",
        "no GPU found: fine for smoke/teaching; full mode wants a GPU",
    )


def check_runtime(framework: str | None = None) -> list[Check]:
    """Mode, device(s), network, Jupyter kernel, real images and cache directory."""
    checks = []
    try:
        mode = config.resolve_mode()
        checks.append(
            Check(
                "mode",
                True,
                mode,
                f"from ${config.MODE_ENV}" if os.environ.get(config.MODE_ENV) else "default",
            )
        )
    except CourseError as err:
        checks.append(Check("mode", False, "invalid", str(err)))
    if framework in ("both", None):
        from course_lib.frameworks import guard_both_frameworks

        guard_both_frameworks()
    if framework in ("torch", "both", None):
        checks.append(_torch_device())
    if framework in ("keras", "both", None):
        checks.append(_keras_device())
    online = config.is_online()
    checks.append(
        Check(
            "network",
            True,
            "online" if online else "offline",
            "downloads possible"
            if online
            else "fine: the course runs on embedded data; full mode and `course fetch` "
            "need internet",
        )
    )
    checks.append(_check_kernel())
    checks.append(_check_real_images())
    try:
        checks.append(Check("cache dir", True, "writable", str(config.cache_dir())))
    except CourseError as err:
        checks.append(Check("cache dir", False, "not writable", str(err)))
    return checks


def _check_real_images() -> Check:
    """Fashion-MNIST's files (Debian's ``dataset-fashion-mnist``), the lessons' real images."""
    from course_lib.data import fashion_mnist

    missing = fashion_mnist.missing_files()
    if not missing:
        return Check(
            "real images",
            True,
            "Fashion-MNIST",
            "found: " + ", ".join(str(d) for d in fashion_mnist.search_dirs() if d.is_dir()),
        )
    return Check(
        "real images",
        False,
        "Fashion-MNIST missing",
        "install Debian's package: `sudo apt-get install dataset-fashion-mnist` (31 MB), or "
        f"set {fashion_mnist.DIR_ENV} to a folder with its four *-ubyte.gz files",
    )


def _check_kernel() -> Check:
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        specs = KernelSpecManager().find_kernel_specs()
    except Exception as err:  # jupyter missing or broken: report, don't crash the check
        return Check("jupyter kernel", False, "unavailable", f"{type(err).__name__}: {err}")
    if KERNEL_NAME in specs:
        return Check("jupyter kernel", True, KERNEL_NAME, str(Path(specs[KERNEL_NAME])))
    return Check(
        "jupyter kernel",
        False,
        "not registered",
        f"run `make setup` (registers '{KERNEL_NAME}' for JupyterLab)",
    )


def check_environment(framework: str | None = None) -> list[Check]:
    """Every check: packages, then runtime. ``framework``: ``torch``, ``keras``, ``both``/None."""
    if framework not in (None, "both", "torch", "keras"):
        raise ValueError(f"framework must be 'torch', 'keras', 'both' or None, got {framework!r}.")
    return check_packages() + check_runtime(framework)


def report(checks: list[Check], file=None) -> bool:
    """Print the checks, one per line, and a verdict; return True when all are OK."""
    file = file or sys.stdout
    for check in checks:
        print(check.line(), file=file)
    failed = [c.name for c in checks if not c.ok]
    print(
        f"\n{len(checks) - len(failed)}/{len(checks)} checks OK"
        + (f"; FAILED: {', '.join(failed)}" if failed else ""),
        file=file,
    )
    return not failed
