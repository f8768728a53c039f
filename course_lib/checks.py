"""Argument checks shared by both halves of the course (``course_lib.torch`` and
``course_lib.keras``) and by the framework-neutral modules.

One function per kind of argument, so a lesson cell gets the same answer whichever framework it
runs: the same values pass (NumPy scalars are numbers like any other; ``True`` is not a count),
and the same values fail with the same error class. Each check returns the value converted to a
plain Python type, and raises :class:`~course_lib.errors.ArgumentError` (a ``ValueError``) or
:class:`~course_lib.errors.ArgumentTypeError` (a ``TypeError`` too) with a message that names the
argument, shows the value and says what would fit.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

from course_lib.errors import ArgumentError, ArgumentTypeError

MAX_LEARNING_RATE = 10.0
"""Learning rates at or above this are typing slips (``1e3`` for ``1e-3``), not experiments."""


def _is_int(value: Any) -> bool:
    """A whole number: ``int`` or a NumPy integer; ``bool`` is not a count."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    """A real number: ``int``, ``float`` or a NumPy scalar of either; ``bool`` is not a number."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def positive_int(name: str, value: Any) -> int:
    """``value`` as an ``int`` >= 1 (``10``, ``np.int64(10)``), else an :class:`ArgumentError`."""
    if not _is_int(value) or value < 1:
        raise ArgumentError(
            f"{name} must be a positive integer (a whole number >= 1, e.g. 10), got {value!r}."
        )
    return int(value)


def nonnegative_int(name: str, value: Any) -> int:
    """``value`` as an ``int`` >= 0, else an :class:`ArgumentError`."""
    if not _is_int(value) or value < 0:
        raise ArgumentError(f"{name} must be a non-negative integer (0, 1, 2, ...), got {value!r}.")
    return int(value)


def positive_ints(name: str, value: Any) -> tuple[int, ...]:
    """A sequence of positive integers (layer widths such as ``(40, 40)``) as a tuple; may be
    empty. A bare number or a string is an :class:`ArgumentError`."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ArgumentError(
            f"{name} must be a tuple of positive integers such as (40, 40), got {value!r}."
        )
    return tuple(positive_int(f"{name}[{i}]", v) for i, v in enumerate(value))


def fraction(name: str, value: Any) -> float:
    """``value`` as a ``float`` in [0, 1) (dropout rates, label smoothing, shifts), else an
    :class:`ArgumentError`."""
    if not _is_real(value) or not 0 <= value < 1:
        raise ArgumentError(f"{name} must be a number in [0, 1) such as 0.1, got {value!r}.")
    return float(value)


def nonnegative_float(name: str, value: Any) -> float:
    """``value`` as a ``float`` >= 0 (e.g. a weight decay), else an :class:`ArgumentError`."""
    if not _is_real(value) or not value >= 0:
        raise ArgumentError(f"{name} must be a number >= 0 such as 1e-4, got {value!r}.")
    return float(value)


def learning_rate(name: str, value: Any) -> float:
    """``value`` as a ``float`` in (0, :data:`MAX_LEARNING_RATE`), else an
    :class:`ArgumentError`."""
    if not _is_real(value) or not 0 < value < MAX_LEARNING_RATE:
        raise ArgumentError(
            f"{name} must be a positive learning rate such as 1e-3 (below "
            f"{MAX_LEARNING_RATE:g}), got {value!r}."
        )
    return float(value)


def optional_callable(name: str, value: Any, example: str) -> None:
    """``None`` or a callable, else an :class:`ArgumentTypeError` showing ``example``."""
    if value is not None and not callable(value):
        raise ArgumentTypeError(
            f"{name} must be a function such as {example}, got {type(value).__name__}."
        )
