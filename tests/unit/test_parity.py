"""course_lib.torch and course_lib.keras offer the same public names with the same signatures.

A lesson cell must read the same in both frameworks, so a name or an argument that exists on one
side only is a bug — unless it is listed in DELIBERATE_DIFFERENCES with the reason.
"""

import inspect

import pytest

# name -> why the two frameworks differ on purpose. Keep this the ONE place such exceptions live.
DELIBERATE_DIFFERENCES: dict[str, str] = {
    # (none yet: every public name and argument is mirrored)
}


def _packages():
    from course_lib import keras as ck
    from course_lib import torch as ct

    return ct, ck


def _public(module) -> dict[str, object]:
    return {
        name: getattr(module, name) for name in module.__all__ if name not in DELIBERATE_DIFFERENCES
    }


def _shape(obj) -> list[tuple[str, str, object]] | None:
    """Argument names, kinds and defaults; annotations may differ (torch vs Keras types)."""
    if not callable(obj):
        return None
    target = obj.__init__ if inspect.isclass(obj) else obj
    return [
        (p.name, p.kind.name, p.default if p.default is not inspect.Parameter.empty else "-")
        for p in inspect.signature(target).parameters.values()
    ]


def test_all_lists_every_public_callable_defined_in_the_package():
    for module in _packages():
        defined = {
            name
            for name, obj in vars(module).items()
            if not name.startswith("_")
            and callable(obj)
            and getattr(obj, "__module__", "").startswith("course_lib")
        }
        missing = defined - set(module.__all__)
        assert not missing, f"{module.__name__} defines {missing} but leaves them out of __all__"


def test_both_frameworks_export_the_same_names():
    ct, ck = _packages()
    only_torch = set(_public(ct)) - set(_public(ck))
    only_keras = set(_public(ck)) - set(_public(ct))
    assert not only_torch and not only_keras, (
        f"only in course_lib.torch: {sorted(only_torch)}; only in course_lib.keras: "
        f"{sorted(only_keras)} — mirror them or document why in DELIBERATE_DIFFERENCES"
    )


@pytest.mark.parametrize("name", sorted(_public(_packages()[0])))
def test_same_signature_in_both_frameworks(name):
    ct, ck = _packages()
    assert _shape(getattr(ct, name)) == _shape(getattr(ck, name)), (
        f"{name} takes different arguments in torch and keras"
    )


def test_documented_differences_are_real_names():
    ct, ck = _packages()
    for name in DELIBERATE_DIFFERENCES:
        assert hasattr(ct, name) or hasattr(ck, name), f"stale exception {name!r}"


def test_parity_covers_a_real_api():
    assert len(_public(_packages()[0])) >= 15
