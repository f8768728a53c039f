"""Exceptions the course raises on purpose: each message says what went wrong and how to fix it."""

from __future__ import annotations


class CourseError(Exception):
    """Base class for every error the course raises deliberately."""


class ModeError(CourseError, ValueError):
    """An unknown execution mode was asked for."""


class UnknownNameError(CourseError, KeyError):
    """An unknown dataset, lesson, size knob or manifest entry was asked for."""

    def __str__(self) -> str:  # KeyError would quote the message; show it as written
        return str(self.args[0]) if self.args else ""


class CacheError(CourseError, OSError):
    """The cache directory cannot be used (not writable, not a directory, ...)."""


class OfflineError(CourseError, ConnectionError):
    """A download was needed but the machine is offline (or the host is unreachable)."""


class DownloadError(CourseError, OSError):
    """A download finished but the file is wrong (checksum or size mismatch)."""


class CheckpointError(CourseError, ValueError):
    """A checkpoint file is unreadable, not a course checkpoint, or from another architecture."""


class SourceError(CourseError, ValueError):
    """A lesson source (notebooks/src/*.md) that cannot be turned into notebooks."""


class ArgumentError(CourseError, ValueError):
    """A function of the course got an argument it cannot use (wrong type or out of range)."""


class ArgumentTypeError(ArgumentError, TypeError):
    """An argument of the wrong kind altogether (e.g. a number where a function belongs)."""


class NonFiniteLossError(CourseError, FloatingPointError):
    """A training loss became NaN or infinite: training stopped (the message names the step,
    the last finite loss, the learning rate and the likely causes)."""
