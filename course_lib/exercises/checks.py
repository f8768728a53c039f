"""Exercise feedback: say what is wrong (type, shape, dtype, how far off, where), not the answer.

A lesson's check function (see :mod:`course_lib.exercises.lesson00`) calls the learner's function
on fresh inputs made inside the check, compares the result with a private reference or checks its
properties, and lists its steps for :func:`run_checks`::

    def check_double(fn):
        def values_match():
            x = fresh_rng("double").normal(size=(4, 3))
            got = call(fn, x)
            expect_type(got, np.ndarray, "the result")
            expect_shape(got, x.shape, "the result")
            expect_close(got, 2 * x, "the result", atol=1e-6)

        run_checks(fn_name(fn), [("doubles every value", values_match)])

Every failure raises :class:`ExerciseCheckError` (an ``AssertionError``) whose message names the
problem: expected vs got shape or dtype, how many values differ and by how much, where NaNs are.
It shows the learner's values, never the expected arrays or the reference's code.
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

_BASE_SEED = 0x5EED_C0DE  # inputs of the checks are drawn from here; notebooks never show it


class ExerciseCheckError(AssertionError):
    """The learner's function does not do what the exercise asks; the message says what is wrong.

    ``not_implemented`` is true when the function still raises ``NotImplementedError``;
    ``crashed`` when it raised another exception (see :func:`call`).
    """

    def __init__(self, message: str, *, not_implemented: bool = False, crashed: bool = False):
        super().__init__(message)
        self.not_implemented = not_implemented
        self.crashed = crashed


def fn_name(fn: Any) -> str:
    """The name of a function as the learner wrote it (``standardize_images``)."""
    return getattr(fn, "__name__", None) or type(fn).__name__


def not_implemented_message(name: str) -> str:
    """The feedback for a function whose TODO is still in place."""
    return (
        f"`{name}` is not implemented yet: replace the `raise NotImplementedError` line in the "
        f"cell that defines `{name}` with your solution, run that cell, then run this check again."
    )


def fresh_rng(key: str) -> np.random.Generator:
    """A generator for a check's inputs: the same for the same ``key``, unknown to notebooks."""
    return np.random.default_rng([_BASE_SEED, zlib.crc32(key.encode("utf-8"))])


def require_callable(fn: Any, check_name: str) -> None:
    """Fail clearly when a learner passes ``f()`` (a result) instead of ``f`` (the function)."""
    if not callable(fn):
        raise ExerciseCheckError(
            f"{check_name} expects your function itself, got a {type(fn).__name__}. Pass the "
            f"name without calling it: {check_name}(my_function), not {check_name}(my_function())."
        )


def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the learner's ``fn``; turn ``NotImplementedError`` and crashes into feedback."""
    __tracebackhide__ = True
    name = fn_name(fn)
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise ExerciseCheckError(not_implemented_message(name), not_implemented=True) from None
    except ExerciseCheckError:
        raise
    except Exception as err:
        shapes = ", ".join(_describe(a) for a in args)
        raise ExerciseCheckError(
            f"`{name}` raised {type(err).__name__}: {err} (called with {shapes}). The traceback "
            "above shows the line in your code.",
            crashed=True,
        ) from err


def tensor_frameworks() -> list[str]:
    """The frameworks whose tensors a gradient check feeds: ``"torch"`` and/or ``"tensorflow"``.

    TensorFlow only when this process has imported it already (a Keras notebook: the learner's
    code may use ``tf``/``keras.ops``); torch when it is imported, or when TensorFlow is not
    (importing torch after TensorFlow is avoided: see the environment notes on the two in one
    process).
    """
    tf_loaded = "tensorflow" in sys.modules
    frameworks = ["torch"] if "torch" in sys.modules or not tf_loaded else []
    return frameworks + (["tensorflow"] if tf_loaded else [])


def for_some_framework(steps: Mapping[str, Callable[[], None]]) -> None:
    """Run one check step per framework (``{"torch": step, ...}``); pass if one of them passes.

    A function written for one framework's tensors may crash on the other's: such a crash only
    counts when it crashes on every framework (then the first crash is reported). Any other
    failure is reported at once: the function ran, and what it returned is wrong.
    """
    __tracebackhide__ = True
    crashes: list[ExerciseCheckError] = []
    for step in steps.values():
        try:
            step()
        except ExerciseCheckError as err:
            if err.crashed and not err.not_implemented:
                crashes.append(err)
                continue
            raise
        return
    if crashes:
        raise crashes[0]


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return f"{type(value).__name__} {value!r}" if np.isscalar(value) else type(value).__name__


def _class_name(kind: type) -> str:
    return kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"


def expect(condition: bool, message: str) -> None:
    """Fail with ``message`` unless ``condition`` holds."""
    __tracebackhide__ = True
    if not condition:
        raise ExerciseCheckError(message)


def expect_type(value: Any, expected: type | tuple[type, ...], what: str, hint: str = "") -> None:
    """``value`` must be an instance of ``expected`` (e.g. ``np.ndarray``)."""
    __tracebackhide__ = True
    if not isinstance(value, expected):
        kinds = expected if isinstance(expected, tuple) else (expected,)
        names = " or ".join(_class_name(k) for k in kinds)
        raise ExerciseCheckError(
            f"{what} is a {_class_name(type(value))}, expected a {names}. {hint}".rstrip()
        )


def expect_shape(array: np.ndarray, shape: tuple[int, ...], what: str, hint: str = "") -> None:
    """``array.shape`` must equal ``shape``."""
    __tracebackhide__ = True
    if tuple(array.shape) != tuple(shape):
        raise ExerciseCheckError(
            f"{what} has shape {tuple(array.shape)}, expected {tuple(shape)}. {hint}".rstrip()
        )


def expect_dtype(array: np.ndarray, dtype: Any, what: str, hint: str = "") -> None:
    """``array.dtype`` must be ``dtype``, or a sub-type of an abstract one (``np.integer``)."""
    __tracebackhide__ = True
    abstract = isinstance(dtype, type) and dtype in (np.integer, np.floating, np.number)
    ok = np.issubdtype(array.dtype, dtype) if abstract else array.dtype == np.dtype(dtype)
    if not ok:
        wanted = f"an {dtype.__name__} dtype" if abstract else f"dtype {np.dtype(dtype)}"
        raise ExerciseCheckError(
            f"{what} has dtype {array.dtype}, expected {wanted}. {hint}".rstrip()
        )


def _where(index: tuple[int, ...], index_names: Sequence[str] | None) -> str:
    if index_names and len(index_names) == len(index):
        return ", ".join(f"{n} {i}" for n, i in zip(index_names, index, strict=True))
    return f"index {tuple(int(i) for i in index)}"


def expect_finite(
    array: np.ndarray,
    what: str,
    hint: str = "",
    *,
    index_names: Sequence[str] | None = None,
) -> None:
    """``array`` must hold no NaN or infinite values."""
    __tracebackhide__ = True
    bad = ~np.isfinite(array)
    if bad.any():
        first = _where(np.unravel_index(int(np.argmax(bad)), array.shape), index_names)
        raise ExerciseCheckError(
            f"{what} contains {int(np.isnan(array).sum())} NaN and {int(np.isinf(array).sum())} "
            f"infinite values (the first at {first}). {hint}".rstrip()
        )


def expect_close(
    got: np.ndarray,
    expected: np.ndarray,
    what: str,
    *,
    atol: float,
    unit: str = "values",
    index_names: Sequence[str] | None = None,
    hint: str = "",
) -> None:
    """``got`` must match ``expected`` within ``atol``; the message never shows ``expected``.

    On failure: how many ``unit`` differ, the largest difference and where it is.
    """
    __tracebackhide__ = True
    got, expected = np.asarray(got), np.asarray(expected)
    expect_shape(got, expected.shape, what)
    expect_finite(got, what, index_names=index_names)
    diff = np.abs(got.astype(np.float64) - expected.astype(np.float64))
    off = diff > atol
    if off.any():
        worst = np.unravel_index(int(np.argmax(diff)), diff.shape)
        raise ExerciseCheckError(
            f"{what}: {int(off.sum())} of {diff.size} {unit} differ by more than {atol:g}, max by "
            f"{diff.max():.3g} (at {_where(worst, index_names)}). {hint}".rstrip()
        )


def run_checks(
    name: str,
    checks: Sequence[tuple[str, Callable[[], object]]],
    *,
    echo: Callable[[str], None] = print,
) -> None:
    """Run ``(description, check)`` pairs in order; print one line when all pass.

    The first failing check raises :class:`ExerciseCheckError` with its description, its feedback
    and how many checks passed before it.
    """
    __tracebackhide__ = True
    total = len(checks)
    for i, (description, check) in enumerate(checks):
        try:
            check()
        except ExerciseCheckError as err:
            if err.not_implemented:
                raise ExerciseCheckError(str(err), not_implemented=True) from None
            passed = f"{i} check{'s' if i != 1 else ''} passed before this one"
            raise ExerciseCheckError(
                f"{name}: check {i + 1} of {total} failed — {description}.\n{err}\n({passed}.)"
            ) from err.__cause__
        except Exception as err:  # the result was too odd for the check to inspect
            raise ExerciseCheckError(
                f"{name}: check {i + 1} of {total} ({description}) could not inspect your "
                f"result: {type(err).__name__}: {err}. Make sure the function returns what the "
                "exercise asks for."
            ) from err
    echo(f"✓ {name}: all {total} checks passed")


@contextmanager
def skip_if_not_implemented() -> Iterator[None]:
    """Run a "try it" cell's body; if an exercise is not done yet, say so instead of failing.

    >>> with skip_if_not_implemented():
    ...     out = standardize_images(batch)  # still raises NotImplementedError
    """
    try:
        yield
    except NotImplementedError:
        print(
            "Not implemented yet: fill in the TODO in the exercise cell above, run that cell, "
            "then this one again."
        )
