"""Failing fast and clearly without a network: the DNS probe, network errors, advice to give."""

from __future__ import annotations

import http.client
import socket
import threading
import urllib.error
from pathlib import Path

from course_lib.data.online.entries import ManifestEntry
from course_lib.errors import OfflineError


def _advice(e: ManifestEntry, path: Path) -> str:
    return (
        f"Run `course fetch {e.name}` on a connected machine and copy {path} to the same place "
        "here (or set COURSE_CACHE_DIR / TORCH_HOME / KERAS_HOME to where the copy is), "
        "or use COURSE_MODE=teaching, which needs no downloads."
    )


def _offline_error(e: ManifestEntry, path: Path, why: str) -> OfflineError:
    return OfflineError(f"Cannot download {e.name} ({e.url}): {why}. {_advice(e, path)}")


def _resolves(host: str, port: int, timeout: float) -> bool:
    """True if ``host`` resolves within ``timeout`` s (DNS ignores socket timeouts: a thread)."""
    answer: list[bool] = []

    def lookup() -> None:
        try:
            socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            answer.append(True)
        except OSError:
            answer.append(False)

    t = threading.Thread(target=lookup, daemon=True)
    t.start()
    t.join(timeout)
    return bool(answer and answer[0])


_NETWORK_ERRORS = (
    urllib.error.URLError,
    socket.timeout,
    TimeoutError,
    ConnectionError,
    http.client.HTTPException,
    OSError,
)


def _reason(err: BaseException) -> str:
    reason = getattr(err, "reason", None) or err
    return f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__
