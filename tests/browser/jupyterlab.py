"""Drive a notebook in JupyterLab like a learner: open it, Run > Run All Cells, read what it shows.

What JupyterLab 4.6 puts in the page, and what these helpers read:

- a code cell's prompt (``.jp-InputPrompt``) is ``[ ]:`` before it runs, ``[*]:`` while it is
  queued or running (Run All queues every cell at once) and ``[N]:`` after; when a cell raises,
  Run All stops and the cells still queued go back to ``[ ]:``;
- an exception's traceback is rendered like any stderr text
  (``.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]``), so the page alone
  cannot tell a warning from an error; the test server therefore exposes the app
  (``--LabApp.expose_app_in_browser``) and :func:`read_cells` also reads each cell's outputs from
  the notebook model, where an exception is an output of type ``error`` with ``ename``/``evalue``.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from course_lib.doctor import KERNEL_DISPLAY_NAME

PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
TRACEBACK = "Traceback (most recent call last)"
IDLE = f"""() => document.querySelector('{PANEL} .jp-Notebook-ExecutionIndicator')
    ?.dataset.status === 'idle'"""


class StallError(AssertionError):
    """A bounded wait ran out; the message says which step or cell."""


@dataclass
class Cell:
    """A cell after Run All: source (from the file), prompt, outputs (model), text (page)."""

    index: int
    kind: str
    source: str
    prompt: str = ""
    outputs: list[dict] = field(default_factory=list)
    text: str = ""  # every output as rendered in the page
    stderr: str = ""  # the stderr-rendered outputs only (warnings and tracebacks)

    @property
    def first_line(self) -> str:
        """The first line of the source that is not a comment (for messages)."""
        lines = [ln for ln in self.source.splitlines() if ln.strip()]
        code = [ln for ln in lines if not ln.lstrip().startswith("#")]
        return (code or lines or [""])[0].strip()

    @property
    def ran(self) -> bool:
        return re.fullmatch(r"\[\d+\]:", self.prompt) is not None

    @property
    def errors(self) -> list[dict]:
        return [o for o in self.outputs if o.get("output_type") == "error"]

    def where(self) -> str:
        return f"cell {self.index} (`{self.first_line[:80]}`)"


def notebook_cells(path: Path) -> list[Cell]:
    """The cells of a notebook file, before anything runs."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [Cell(i, c["cell_type"], "".join(c["source"])) for i, c in enumerate(nb["cells"])]


def _wait(page, what: str, js: str, timeout_s: float, arg=None) -> None:
    try:
        page.wait_for_function(js, arg=arg, timeout=timeout_s * 1000, polling=250)
    except Exception as err:  # playwright's TimeoutError; keep its text, say which step
        raise StallError(f"{what}: not reached within {timeout_s:.0f} s ({err})") from None


def dialogs(page) -> list[str]:
    """The text of every open JupyterLab dialog (e.g. "Select Kernel", "Kernel Restarting")."""
    return [t.strip() for t in page.locator(".jp-Dialog").all_inner_texts()]


def open_notebook(page, url: str, n_cells: int, timeout_s: float = 90.0) -> None:
    """Load ``url``; wait until all ``n_cells`` cells are rendered and the course kernel is idle.

    ``&reset`` starts from an empty workspace: without it JupyterLab reopens the notebooks of
    earlier tests (and starts their kernels).
    """
    page.goto(f"{url}&reset", timeout=timeout_s * 1000)
    _wait(
        page,
        f"JupyterLab showing the notebook's {n_cells} cells",
        f"n => document.querySelectorAll('{PANEL} .jp-Notebook-cell').length === n",
        timeout_s,
        n_cells,
    )
    _wait(
        page,
        f"the kernel '{KERNEL_DISPLAY_NAME}' started and idle (dialogs: {dialogs(page)})",
        f"""name => {{
            const label = document.querySelector('{PANEL} .jp-Toolbar-kernelName');
            const state = document.querySelector('{PANEL} .jp-Notebook-ExecutionIndicator');
            return label && label.textContent.trim() === name && state
                && state.dataset.status === 'idle';
        }}""",
        timeout_s,
        KERNEL_DISPLAY_NAME,
    )
    if dialogs(page):
        raise AssertionError(f"JupyterLab opened a dialog instead of the notebook: {dialogs(page)}")
    tabs = page.locator(".jp-NotebookPanel").count()
    assert tabs == 1, f"{tabs} notebooks open: an earlier test's workspace was restored"


def _prompts(page) -> dict[int, str]:
    """Code cell index (in notebook order) -> its prompt text, e.g. ``[*]:``."""
    prompts = page.evaluate(
        f"""() => [...document.querySelectorAll('{PANEL} .jp-Notebook-cell')].map(c =>
            c.classList.contains('jp-CodeCell')
                ? c.querySelector('.jp-InputPrompt').textContent.trim() : null)"""
    )
    return {i: p for i, p in enumerate(prompts) if p is not None}


def run_all(page, cells: list[Cell], cell_timeout_s: float = 120.0, total_s: float = 300.0) -> None:
    """Run > Run All Cells from the menu bar; wait (bounded, per cell) until nothing runs."""
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
    page.locator('#jp-mainmenu-run .lm-Menu-item[data-command="runmenu:run-all"]').click()
    start = time.monotonic()
    running, since = None, start
    while True:
        prompts = _prompts(page)
        busy = sorted(i for i, p in prompts.items() if p == "[*]:")
        if not busy and any(re.fullmatch(r"\[\d+\]:", p) for p in prompts.values()):
            _wait(page, "the kernel idle after Run All", IDLE, 30)
            return
        if dialogs(page):
            raise StallError(f"a dialog opened during Run All: {dialogs(page)}")
        now = time.monotonic()
        current = busy[0] if busy else None
        if current != running:
            running, since = current, now
        if current is None and now - start > 30:
            raise StallError(f"Run All Cells did not start any cell within 30 s: {prompts}")
        if current is not None and now - since > cell_timeout_s:
            raise StallError(
                f"{cells[current].where()} still shows [*] after {cell_timeout_s:.0f} s"
            )
        if now - start > total_s:
            where = cells[current].where() if current is not None else "no cell"
            raise StallError(f"Run All took over {total_s:.0f} s; {where} was running")
        time.sleep(0.5)


def read_cells(page, cells: list[Cell]) -> list[Cell]:
    """Fill in each cell's prompt, model outputs and rendered text after a run."""
    model = page.evaluate(
        """() => window.jupyterapp.shell.currentWidget.content.widgets.map(c =>
            c.model.type === 'code' ? c.model.outputs.toJSON() : [])"""
    )
    shown = page.evaluate(
        f"""() => [...document.querySelectorAll('{PANEL} .jp-Notebook-cell')].map(c => {{
            const outs = [...c.querySelectorAll('.jp-OutputArea-output')];
            const stderr = outs.filter(
                o => o.dataset.mimeType === 'application/vnd.jupyter.stderr');
            const prompt = c.querySelector('.jp-InputPrompt');
            return [prompt ? prompt.textContent.trim() : '',
                    outs.map(o => o.textContent).join('\\n'),
                    stderr.map(o => o.textContent).join('\\n')];
        }})"""
    )
    assert len(model) == len(shown) == len(cells), (len(model), len(shown), len(cells))
    for cell, outputs, (prompt, text, stderr) in zip(cells, model, shown, strict=True):
        cell.prompt, cell.outputs, cell.text, cell.stderr = prompt, outputs, text, stderr
    return cells


def screenshot(page, path: Path, max_height: int = 16000) -> None:
    """A screenshot of the whole notebook, from its first cell to its last output.

    JupyterLab's notebook scrolls inside its panel, so a full-page screenshot alone shows one
    screen: the viewport grows by the hidden height first, and the panel scrolls to the top.
    """
    hidden = page.evaluate(
        f"""() => {{
            const outer = document.querySelector('{PANEL} .jp-WindowedPanel-outer');
            const last = [...document.querySelectorAll('{PANEL} .jp-Notebook-cell')].pop();
            if (!outer || !last) return 0;
            const top = outer.getBoundingClientRect().top - outer.scrollTop;
            return last.getBoundingClientRect().bottom - top - outer.clientHeight;
        }}"""
    )
    size = page.viewport_size
    height = min(max_height, size["height"] + max(0, int(hidden)) + 40)
    page.set_viewport_size({"width": size["width"], "height": height})
    page.evaluate(f"() => document.querySelector('{PANEL} .jp-WindowedPanel-outer').scrollTo(0, 0)")
    page.wait_for_timeout(500)  # let JupyterLab lay the taller panel out
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)
