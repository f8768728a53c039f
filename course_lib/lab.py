"""Start JupyterLab on the course: the command, its environment, and a server that always stops.

The course ships its JupyterLab settings in ``course_lib/jupyter_config/`` and adds that folder to
``JUPYTER_CONFIG_PATH`` (below the user's own ``~/.jupyter``, so a learner's choices still win):

- ``jupyter_server_config.json`` — new notebooks get the course kernel (``post-training-course``);
  no news feed, no update check;
- ``labconfig/page_config.json`` — no "build recommended" prompts;
- ``labconfig/default_setting_overrides.json`` — the light theme, no news or update notifications,
  and every cell rendered (windowing mode ``none``: find-in-page and screenshots see the whole
  notebook, and course notebooks are short).

The server's root is the course folder, not ``notebooks/``: lessons link to ``../exercises/``.
``course lab`` and the browser tests (``tests/browser/``) both build their command here.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from course_lib import config
from course_lib.errors import CourseError

CONFIG_DIR = Path(__file__).resolve().parent / "jupyter_config"
# User-level folders that running_lab(jupyter_dirs=...) moves out of the home folder.
ISOLATED_DIRS = {
    "JUPYTER_CONFIG_DIR": "config",
    "JUPYTER_DATA_DIR": "data",
    "JUPYTER_RUNTIME_DIR": "runtime",
    "IPYTHONDIR": "ipython",
}


def course_root() -> Path:
    """The folder JupyterLab serves: the course checkout (``notebooks/`` and ``exercises/``)."""
    return config.course_folder("notebooks").parent


def free_port(preferred: int | None = None, host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that is free now: ``preferred`` if it is, else one the OS picks."""
    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise CourseError(f"no free TCP port on {host}")  # pragma: no cover - bind(0) does not fail


def new_token() -> str:
    """A random token for the server's URL."""
    return secrets.token_hex(16)


def _jupyter() -> str:
    """The ``jupyter`` next to this Python (the venv's), else the first on ``PATH``."""
    here = os.path.dirname(sys.executable)
    exe = shutil.which("jupyter", path=here) or shutil.which("jupyter")
    if exe is None:
        raise CourseError(f"jupyter is not installed in {here}; run `make setup`.")
    return exe


def lab_command(
    port: int | None = None,
    *,
    ip: str | None = None,
    open_browser: bool = True,
    root: Path | None = None,
    extra: Sequence[str] = (),
) -> list[str]:
    """The ``jupyter lab`` command line for the course (its settings come from :func:`lab_env`)."""
    root = Path(root or course_root())
    cmd = [_jupyter(), "lab", f"--ServerApp.root_dir={root}"]
    if (root / "notebooks").is_dir():  # the file browser starts in notebooks/, above it the rest
        cmd.append("--FileContentsManager.preferred_dir=notebooks")
    if port is not None:
        cmd += [f"--ServerApp.port={port}", "--ServerApp.port_retries=0"]
    if ip is not None:
        cmd.append(f"--ServerApp.ip={ip}")
    if not open_browser:
        cmd.append("--ServerApp.open_browser=False")
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers often run as root
        cmd.append("--allow-root")
    return cmd + list(extra)


def lab_env(
    token: str | None = None,
    base: Mapping[str, str] | None = None,
    **overrides: str,
) -> dict[str, str]:
    """The server's environment: the course settings on ``JUPYTER_CONFIG_PATH``, the token.

    Kernels inherit it, so ``COURSE_MODE=...`` in ``overrides`` sets every notebook's mode.
    """
    env = dict(os.environ if base is None else base)
    paths = [str(CONFIG_DIR), *env.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep)]
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(dict.fromkeys(p for p in paths if p))
    if token is not None:
        env["JUPYTER_TOKEN"] = token  # not on the command line, where `ps` would show it
    env.update(overrides)
    return env


def lab_url(port: int, token: str, path: str = "", host: str = "127.0.0.1") -> str:
    """The address of ``path`` (e.g. ``notebooks/00_setup_pytorch.ipynb``) with the token."""
    where = f"tree/{path}" if path else ""
    return f"http://{host}:{port}/lab/{where}?token={token}"


@dataclass
class LabServer:
    """A running JupyterLab: its process, port, token and log file."""

    process: subprocess.Popen
    port: int
    token: str
    log: Path

    def url(self, path: str = "") -> str:
        """See :func:`lab_url`."""
        return lab_url(self.port, self.token, path)

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the server's log, for error messages."""
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""


def _stat(pid: int | str) -> list[str]:
    """Fields of ``/proc/<pid>/stat`` after the command name (state is [0], parent [1])."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def descendants(pid: int) -> dict[int, str]:
    """Every process below ``pid`` -> its start time (Linux ``/proc``; empty elsewhere).

    The start time tells a process from a later one that got the same pid.
    """
    children: dict[int, list[tuple[int, str]]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = _stat(stat.parent.name)
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append((int(stat.parent.name), fields[19]))
    found: dict[int, str] = {}
    todo = [pid]
    while todo:
        for kid, started in children.get(todo.pop(), []):
            found[kid] = started
            todo.append(kid)
    return found


def is_alive(pid: int, started: str | None = None) -> bool:
    """Whether ``pid`` runs (not a zombie) and, if ``started`` is given, is that same process."""
    try:
        fields = _stat(pid)
    except (OSError, IndexError):
        return not Path("/proc").is_dir() and _exists(pid)
    return fields[0] != "Z" and started in (None, fields[19])


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - another user's process
        return True
    return True


def _signal(kill: Callable[[int, int], None], target: int, sig: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        kill(target, sig)


def stop_server(process: subprocess.Popen, grace_s: float = 10.0) -> None:
    """Stop a server started by :func:`running_lab` and every process it started (kernels too).

    SIGTERM to its process group (the server then shuts its kernels down), SIGKILL after
    ``grace_s`` to the group and to every descendant still alive (kernels run in their own
    process groups).
    """
    below = descendants(process.pid)  # kernels run in their own process groups
    if process.poll() is None:
        _signal(os.killpg, process.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace_s)
    deadline = time.monotonic() + grace_s
    while any(is_alive(*p) for p in below.items()) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in [process.pid, *(pid for pid, started in below.items() if is_alive(pid, started))]:
        _signal(os.killpg, pid, signal.SIGKILL)
        _signal(os.kill, pid, signal.SIGKILL)
    process.wait(timeout=grace_s)


def wait_until_ready(server: LabServer, timeout_s: float = 60.0) -> None:
    """Poll the server's REST API until it answers; fail with its log if it exits or stalls."""
    url = f"http://127.0.0.1:{server.port}/api/status"
    request = urllib.request.Request(url, headers={"Authorization": f"token {server.token}"})
    deadline = time.monotonic() + timeout_s
    while True:
        if server.process.poll() is not None:
            raise CourseError(
                f"JupyterLab exited with code {server.process.returncode} before answering on "
                f"port {server.port}. Its log:\n{server.log_tail()}"
            )
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise CourseError(
                f"JupyterLab did not answer {url} within {timeout_s:.0f} s. Its log:\n"
                f"{server.log_tail()}"
            )
        time.sleep(0.25)


def _die_with_parent() -> None:
    """In the server's process before it starts (Linux): SIGTERM when its parent dies.

    So a test run that is killed (no teardown) still takes JupyterLab and its kernels with it.
    """
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


@contextmanager
def running_lab(
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 60.0,
    jupyter_dirs: Path | None = None,
    extra_args: Sequence[str] = (),
) -> Iterator[LabServer]:
    """JupyterLab on a free 127.0.0.1 port with a fresh token, stopped (kernels too) on exit.

    ``env`` adds variables to the server's environment (kernels inherit them). ``jupyter_dirs``,
    if given, holds the user-level config (settings, workspaces), data, runtime and IPython
    folders instead of the home folder: a run sees only the course's settings and leaves no state
    behind. ``extra_args`` go to ``jupyter lab``.
    """
    port, token = free_port(), new_token()
    extra = dict(env or {})
    if jupyter_dirs is not None:
        for var, sub in ISOLATED_DIRS.items():
            extra[var] = str(jupyter_dirs / sub)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        process = subprocess.Popen(
            lab_command(port, ip="127.0.0.1", open_browser=False, extra=extra_args),
            env=lab_env(token, **extra),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop_server kills all of it
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
    server = LabServer(process, port, token, log)
    try:
        wait_until_ready(server, timeout_s)
        yield server
    finally:
        stop_server(process)
