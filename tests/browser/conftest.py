"""Browser-test fixtures: one JupyterLab server per session, Debian's Chromium via Playwright.

The server runs in smoke mode with the test build folder (kernels inherit both), on a free
127.0.0.1 port with a token, with its user-level Jupyter folders in a temporary directory (the
course's shipped settings only; autosave off and checkpoints there too, so a run leaves the
course folder as it was). It and its kernels are stopped at the end of the session, also after
a failure (and with the test process, if that is killed).

Chromium: ``/usr/bin/chromium`` (``COURSE_CHROMIUM`` overrides). Missing, the tests fail and say
how to install it; ``COURSE_SKIP_BROWSER=1`` turns them off (reported as skipped).
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pytest

from course_lib import lab

ROOT = Path(__file__).resolve().parents[2]
SKIP_ENV = "COURSE_SKIP_BROWSER"
CHROMIUM = Path(os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium"))
# We run as root in containers (no sandbox then); the rest keeps Chromium off the network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "build" / "screenshots"
STARTED: dict[int, str] = {}  # every process the server started (kernels): none may outlive it


def _skip_if_turned_off() -> None:
    if os.environ.get(SKIP_ENV, "") not in ("", "0"):
        pytest.skip(f"{SKIP_ENV}={os.environ[SKIP_ENV]}: the JupyterLab browser tests are off")


def _api(server: lab.LabServer, method: str, path: str):
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}{path}",
        method=method,
        headers={"Authorization": f"token {server.token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read()
    return json.loads(body) if body else None


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory):
    """JupyterLab on the course root (smoke mode), stopped with all its kernels at the end."""
    _skip_if_turned_off()
    dirs = tmp_path_factory.mktemp("jupyter")
    settings = dirs / "config" / "lab" / "user-settings" / "@jupyterlab" / "docmanager-extension"
    settings.mkdir(parents=True)
    (settings / "plugin.jupyterlab-settings").write_text('{"autosave": false}')
    env = {
        "COURSE_MODE": "smoke",
        "COURSE_BUILD_DIR": os.environ.get("COURSE_BUILD_DIR", str(ROOT / "build" / "test")),
        "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1",
    }
    log = ROOT / "build" / "test" / "jupyterlab.log"
    args = [
        "--LabApp.expose_app_in_browser=True",  # lets the tests read cells' outputs from the model
        f"--FileCheckpoints.checkpoint_dir={dirs / 'checkpoints'}",  # none next to the notebooks
    ]
    with lab.running_lab(log, env=env, jupyter_dirs=dirs, extra_args=args) as server:
        yield server
        STARTED.update(lab.descendants(server.process.pid))
    leftover = sorted(pid for pid, started in STARTED.items() if lab.is_alive(pid, started))
    assert not leftover, f"processes JupyterLab started still run after it stopped: {leftover}"


class Browser:
    """Chromium, launched on first use inside a test (so a missing browser fails that test)."""

    def __init__(self) -> None:
        self._playwright = None
        self._browser = None
        self.pages: list = []

    def new_page(self, width: int = 1400, height: int = 900):
        """A page in a fresh browser context (no cookies or storage from other tests)."""
        if self._browser is None:
            self._browser = self._launch()
        context = self._browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        self.pages.append(page)
        return page

    def _launch(self):
        os.environ["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"  # never fetch Playwright's browsers
        if not CHROMIUM.is_file():
            pytest.fail(
                f"Chromium not found at {CHROMIUM}: the JupyterLab browser tests need it. Install "
                "it with `apt-get install -y --no-install-recommends chromium` (Debian/Ubuntu; "
                f"`bash .ci/run` does), point COURSE_CHROMIUM at another Chromium, or turn the "
                f"browser tests off with {SKIP_ENV}=1 (or `pytest -m 'not browser'`).",
                pytrace=False,
            )
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            pytest.fail(
                "Playwright for Python is missing: run `make setup` (it installs the pin in "
                f"requirements.txt), or turn the browser tests off with {SKIP_ENV}=1.",
                pytrace=False,
            )
        self._playwright = sync_playwright().start()
        return self._playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000
        )

    def close_pages(self) -> None:
        for page in self.pages:
            page.context.close()
        self.pages.clear()

    def close(self) -> None:
        self.close_pages()
        if self._browser is not None:
            self._browser.close()
        if self._playwright is not None:
            self._playwright.stop()


@pytest.fixture(scope="session")
def browser():
    """The session's Chromium (see :class:`Browser`), closed at the end."""
    _skip_if_turned_off()
    chromium = Browser()
    yield chromium
    chromium.close()


@pytest.fixture
def lab_page(lab_server, browser):
    """A factory of browser pages; afterwards the pages close and every kernel is shut down."""

    def new_page():
        return browser.new_page()

    yield new_page
    browser.close_pages()
    STARTED.update(lab.descendants(lab_server.process.pid))  # its kernels, checked at the end
    for session in _api(lab_server, "GET", "/api/sessions"):
        _api(lab_server, "DELETE", f"/api/sessions/{session['id']}")
