"""The layers of course_lib (see course_lib/ARCHITECTURE.md): what may import what."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "course_lib"
FRAMEWORK_LIBRARIES = ("torch", "torchvision", "tensorflow", "keras", "triton")
# The bottom layers: no course module above them, and no framework.
FOUNDATION = (
    "course_lib.errors",
    "course_lib.atomic",
    "course_lib.locks",
    "course_lib.config",
    "course_lib.checks",
)
FRAMEWORK_HALVES = ("course_lib.torch", "course_lib.keras")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, at module level?) for every import statement in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            found += [(name, id(node) in top_level) for name in [node.module, *names]]
    return found


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _within(module: str, prefixes) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_the_scan_sees_the_whole_package():
    assert len(MODULES) > 40 and "course_lib.torch.training" in MODULES
    assert ("numpy", True) in _imports(MODULES["course_lib.training"])


@pytest.mark.parametrize("module", [m for m in MODULES if not _within(m, FRAMEWORK_HALVES)])
def test_framework_neutral_modules_never_import_a_framework_at_import_time(module):
    """Importing the neutral layers costs no torch/TensorFlow start-up and no segfault hazard."""
    loaded = [
        name
        for name, top in _imports(MODULES[module])
        if top and name.split(".")[0] in FRAMEWORK_LIBRARIES
    ]
    loaded += [n for n, top in _imports(MODULES[module]) if top and _within(n, FRAMEWORK_HALVES)]
    assert not loaded, f"{module} imports {loaded} at module level: import it inside the function"


@pytest.mark.parametrize(("half", "other"), [FRAMEWORK_HALVES, FRAMEWORK_HALVES[::-1]])
def test_the_two_framework_halves_never_import_each_other(half, other):
    offenders = {
        module: [n for n, _ in _imports(path) if _within(n, [other])]
        for module, path in MODULES.items()
        if _within(module, [half])
    }
    offenders = {m: names for m, names in offenders.items() if names}
    assert not offenders, f"{half} must not depend on {other}: {offenders}"


@pytest.mark.parametrize("module", [m for m in MODULES if _within(m, FOUNDATION)])
def test_the_foundation_imports_only_the_foundation(module):
    upward = [
        n
        for n, _ in _imports(MODULES[module])
        if n.startswith("course_lib.") and not _within(n, FOUNDATION)
    ]
    assert not upward, f"{module} is a bottom layer but imports {upward}"


@pytest.mark.parametrize("module", [m for m in MODULES if _within(m, ["course_lib.data"])])
def test_the_data_layer_uses_only_the_foundation_and_itself(module):
    upward = [
        n
        for n, _ in _imports(MODULES[module])
        if n.startswith("course_lib.")
        and not _within(n, [*FOUNDATION, "course_lib.data"])
        and n != "course_lib"
    ]
    assert not upward, f"{module} (data layer) imports {upward}"


def test_lessons_and_the_library_never_use_the_developer_tools():
    users = sorted(
        module
        for module, path in MODULES.items()
        if not _within(module, ["course_lib.dev"])
        and any(_within(n, ["course_lib.dev"]) for n, _ in _imports(path))
    )
    assert not users, f"{users} import course_lib.dev (developer tools only: make bench)"
    lessons = sorted((PACKAGE.parent / "notebooks" / "src").glob("*.md"))
    assert lessons and not [p.name for p in lessons if "course_lib.dev" in p.read_text()]
