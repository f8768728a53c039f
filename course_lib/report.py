"""``course report``: every lesson's results on one page (HTML with figures, or Markdown)."""

from __future__ import annotations

import base64
import html
import platform
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from course_lib import __version__, config
from course_lib.results import DamagedFile, scan_results
from course_lib.results import read_results as read_results  # re-exported: report.read_results
from course_lib.runner import NOTEBOOK_SUFFIX, RUNS_FILE, read_runs_file

_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:.2em} .meta{color:#666} table{border-collapse:collapse;margin:.6em 0 1.4em}
th,td{border:1px solid #ccc;padding:.3em .7em;text-align:left} th{background:#f3f3f3}
td.num{text-align:right;font-variant-numeric:tabular-nums} tr.fail td{background:#fde2e2}
.holds{color:#18794e;font-weight:600} .fails{color:#c62828;font-weight:700}
figure{display:inline-block;margin:.5em} figure img{max-width:520px;border:1px solid #ddd}
"""


LIBRARIES = ("torch", "torchvision", "tensorflow", "keras", "numpy", "matplotlib")


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries the lessons use (read without importing them)."""
    from importlib import metadata

    found = {}
    for name in LIBRARIES:
        for dist in (name, f"{name}-cpu"):  # tensorflow-cpu installs as its own distribution
            try:
                found[name] = metadata.version(dist)
                break
            except metadata.PackageNotFoundError:
                continue
        found.setdefault(name, "not installed")
    return found


def _versions_line() -> str:
    return " · ".join(f"{name} {version}" for name, version in library_versions().items())


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _group(results: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    lessons: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        lessons[r["lesson"]].append(r)
    return dict(sorted(lessons.items()))


def _html_figure(build: Path, relative: str) -> str:
    path = build / relative
    if not path.is_file():
        return f"<p class='fails'>missing figure {html.escape(relative)}</p>"
    data = base64.b64encode(path.read_bytes()).decode()
    return (
        f"<figure><img src='data:image/png;base64,{data}' alt='{html.escape(relative)}'>"
        f"<figcaption>{html.escape(path.stem)}</figcaption></figure>"
    )


def claims_overview(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every claim once, the frameworks side by side: ``lesson``, ``statement``, ``direction``,
    ``threshold`` and, per framework that made it, ``{"value": ..., "holds": ...}``.

    A claim of the course's table is one row by its id (its statement may name what the run
    found, e.g. lesson 03's best technique, and differ between frameworks); a free-form claim is
    one row per statement."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for r in results:
        for c in r["claims"]:
            row = rows.setdefault(
                (r["lesson"], c.get("claim_id") or c["statement"]),
                {"lesson": r["lesson"], "statement": c["statement"],
                 "direction": c.get("direction", ">="), "threshold": c["threshold"]},
            )  # fmt: skip
            row[r["framework"]] = {"value": c["value"], "holds": bool(c["holds"])}
    return list(rows.values())


def claims_table(results: list[dict[str, Any]]) -> str:
    """Plain text: every claim once, one column per framework (value and whether it holds), the
    threshold, and the statement last; the mode of each lesson's runs is noted at the bottom."""
    if not results:
        return "No results yet: run the earlier lessons first, e.g. `course run 01 02 03 04 05`."
    frameworks = _frameworks(results)
    lesson_w = max(len("lesson"), *(len(r["lesson"]) for r in results))
    head = f"{'lesson':<{lesson_w}}  " + "  ".join(f"{fw:>16}" for fw in frameworks)
    lines = [f"{head}  {'threshold':>10}  claim", "-" * (len(head) + 19)]
    for row in claims_overview(results):
        cells = []
        for fw in frameworks:
            c = row.get(fw)
            cells.append(
                f"{'–':>16}" if c is None
                else f"{_fmt(c['value']):>9} {'holds' if c['holds'] else 'NO':>6}"
            )  # fmt: skip
        threshold = f"{row['direction']} {_fmt(row['threshold'])}"
        lines.append(
            f"{row['lesson']:<{lesson_w}}  " + "  ".join(cells)
            + f"  {threshold:>10}  {row['statement']}"
        )  # fmt: skip
    modes = sorted({f"{r['lesson']} {r['framework']}: {r['mode']}" for r in results})
    held = sum(c["holds"] for r in results for c in r["claims"])
    total = sum(len(r["claims"]) for r in results)
    lines.append(f"({held} of {total} claims hold; modes: {'; '.join(modes)})")
    return "\n".join(lines)


def _frameworks(results: list[dict[str, Any]]) -> list[str]:
    present = {r["framework"] for r in results}
    return [fw for fw in ("torch", "keras") if fw in present] + sorted(present - {"torch", "keras"})


def _overview_html(results: list[dict[str, Any]]) -> list[str]:
    frameworks = _frameworks(results)
    out = [
        "<h2>Every claim</h2><table><tr><th>lesson</th><th>claim</th><th>threshold</th>"
        + "".join(f"<th>{html.escape(fw)}</th>" for fw in frameworks)
        + "</tr>"
    ]
    for row in claims_overview(results):
        cells = []
        for fw in frameworks:
            c = row.get(fw)
            if c is None:
                cells.append("<td>–</td>")
            else:
                mark = "<span class='holds'>holds</span>" if c["holds"] else (
                    "<span class='fails'>DOES NOT HOLD</span>")  # fmt: skip
                cells.append(f"<td class='num'>{_fmt(c['value'])} {mark}</td>")
        failed = any(not row[fw]["holds"] for fw in frameworks if fw in row)
        css = " class='fail'" if failed else ""
        out.append(
            f"<tr{css}><td>{html.escape(row['lesson'])}</td>"
            f"<td>{html.escape(row['statement'])}</td>"
            f"<td class='num'>{html.escape(row['direction'])} {_fmt(row['threshold'])}</td>"
            f"{''.join(cells)}</tr>"
        )
    out.append("</table>")
    return out


def read_runs(build: Path) -> dict[str, dict[str, Any]]:
    """Notebook runs recorded by ``course run`` (``build/runs.json``), by ``lesson_framework``.

    Only intact entries; :func:`damaged_files` names a damaged ``runs.json``."""
    return read_runs_file(build / RUNS_FILE)[0]


def _runs_damage(build: Path) -> list[DamagedFile]:
    problem = read_runs_file(build / RUNS_FILE)[1]
    if not problem:
        return []
    fix = "delete it; the next `course run` writes a new one (its intact runs are shown here)"
    return [DamagedFile(build / RUNS_FILE, problem, fix)]


def damaged_files(build: Path | None = None) -> list[DamagedFile]:
    """The results files (and ``runs.json``) in ``build`` that the report has to leave out."""
    build = Path(build) if build is not None else config.build_dir()
    return [*scan_results(build / "results").damaged, *_runs_damage(build)]


def failed_runs(runs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs whose notebook raised, by lesson and framework."""
    failed = [run for run in runs.values() if not run["ok"]]
    return sorted(failed, key=lambda run: (run["lesson"], run["framework"]))


def _executed_notebook(run: dict[str, Any]) -> str:
    suffix = NOTEBOOK_SUFFIX.get(run["framework"], run["framework"])
    return f"notebooks/{run['lesson']}_{suffix}.ipynb"


def _damaged_html(damaged: list[DamagedFile]) -> list[str]:
    if not damaged:
        return []
    out = [
        "<h2 class='fails'>Damaged results files</h2>",
        f"<p>{len(damaged)} file(s) could not be read and are left out of this report:</p>",
        "<table><tr><th>file</th><th>what is wrong</th><th>fix</th></tr>",
    ]
    out += [
        f"<tr class='fail'><td>{html.escape(str(d.path))}</td><td>{html.escape(d.reason)}</td>"
        f"<td>{html.escape(d.fix)}</td></tr>"
        for d in damaged
    ]
    return [*out, "</table>"]


def _failed_runs_html(failed: list[dict[str, Any]]) -> list[str]:
    if not failed:
        return []
    out = [
        "<h2 class='fails'>Failed notebook runs</h2><table><tr><th>lesson</th><th>framework</th>"
        "<th>mode</th><th>reason</th><th>executed notebook (build folder)</th></tr>"
    ]
    out += [
        f"<tr class='fail'><td>{html.escape(run['lesson'])}</td>"
        f"<td>{html.escape(run['framework'])}</td><td>{html.escape(run['mode'])}</td>"
        f"<td>FAILED: {html.escape(run['error'])}</td>"
        f"<td>{html.escape(_executed_notebook(run))}</td></tr>"
        for run in failed
    ]
    return [*out, "</table>"]


def render_html(
    results: list[dict[str, Any]],
    build: Path,
    damaged: list[DamagedFile] | None = None,
    runs: dict[str, dict[str, Any]] | None = None,
) -> str:
    """One self-contained HTML page: damaged files and failed runs, run times, then per lesson
    its claims, metrics and figures. ``runs`` default to ``build/runs.json``."""
    runs = read_runs(build) if runs is None else runs
    failing = [(r, c) for r in results for c in r["claims"] if not c["holds"]]
    modes = sorted({r["mode"] for r in results}) or ["-"]
    out = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        "<title>Post-Training Improvement course — report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Post-Training Improvement course — report</h1>",
        f"<p class='meta'>mode: {', '.join(modes)} · course_lib {__version__} · Python "
        f"{platform.python_version()} · generated "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC</p>",
        f"<p class='meta'>{html.escape(_versions_line())}</p>",
        *_damaged_html(damaged or []),
        *_failed_runs_html(failed_runs(runs)),
    ]
    if not results:
        todo = (
            "fix the failed notebook runs above, then run them again with <code>course run</code>"
            if failed_runs(runs)
            else "run the lessons with <code>course run</code> (or <code>make course</code>)"
        )
        out.append(f"<p>No results yet: {todo}.</p>")
    else:
        verdict = (
            f"<p class='fails'>{len(failing)} claim(s) did not hold.</p>"
            if failing
            else "<p class='holds'>Every claim holds.</p>"
        )
        out += [
            verdict,
            "<h2>Run times</h2><table><tr><th>lesson</th><th>framework</th>"
            "<th>mode</th><th>seed</th><th>lesson code (s)</th><th>whole notebook (s)</th></tr>",
        ]
        for r in results:
            run = runs.get(f"{r['lesson']}_{r['framework']}", {})
            notebook = f"{run['wall_s']:.1f}" if "wall_s" in run else "–"
            out.append(
                f"<tr><td>{r['lesson']}</td><td>{r['framework']}</td><td>{r['mode']}</td>"
                f"<td class='num'>{r['seed']}</td><td class='num'>{r['wall_s']:.1f}</td>"
                f"<td class='num'>{notebook}</td></tr>"
            )
        out.append("</table>")
        out += _overview_html(results)
    for lesson, lesson_results in _group(results).items():
        out.append(f"<h2>{html.escape(lesson)}</h2>")
        for r in lesson_results:
            out.append(
                f"<h3>{r['framework']} <span class='meta'>({r['mode']}, seed {r['seed']})"
                "</span></h3>"
            )
            if r["claims"]:
                out.append(
                    "<table><tr><th>claim</th><th>value</th><th>threshold</th><th>holds</th></tr>"
                )
                for c in r["claims"]:
                    cls = "" if c["holds"] else " class='fail'"
                    mark = (
                        "<span class='holds'>yes</span>"
                        if c["holds"]
                        else "<span class='fails'>NO</span>"
                    )
                    out.append(
                        f"<tr{cls}><td>{html.escape(c['statement'])}</td>"
                        f"<td class='num'>{_fmt(c['value'])}</td><td class='num'>"
                        f"{c.get('direction', '>=')} {_fmt(c['threshold'])}</td>"
                        f"<td>{mark}</td></tr>"
                    )
                out.append("</table>")
            if r["metrics"]:
                out.append("<table><tr><th>metric</th><th>value</th></tr>")
                out += [
                    f"<tr><td>{html.escape(k)}</td><td class='num'>{_fmt(v)}</td></tr>"
                    for k, v in r["metrics"].items()
                ]
                out.append("</table>")
            out += [_html_figure(build, f) for f in r.get("figures", [])]
    listed = {f for r in results for f in r.get("figures", [])}
    others = sorted(
        p.relative_to(build).as_posix()
        for p in (build / "figures").glob("*.png")
        if p.relative_to(build).as_posix() not in listed
    )
    if others:
        out.append("<h2>Other figures</h2>")
        out += [_html_figure(build, f) for f in others]
    out.append("</body></html>")
    return "\n".join(out)


def _md_cell(text: str) -> str:
    """Text for one Markdown table cell: a ``|`` in it would end the cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _damaged_markdown(damaged: list[DamagedFile]) -> list[str]:
    if not damaged:
        return []
    lines = [
        "## Damaged results files",
        "",
        f"{len(damaged)} file(s) could not be read and are left out of this report:",
        "",
    ]
    lines += [f"- `{d.path}`: {d.reason}. Fix: {d.fix}." for d in damaged]
    return [*lines, ""]


def _failed_runs_markdown(failed: list[dict[str, Any]]) -> list[str]:
    if not failed:
        return []
    lines = [
        "## Failed notebook runs",
        "",
        "| lesson | framework | mode | reason | executed notebook (build folder) |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {run['lesson']} | {run['framework']} | {run['mode']} | "
        f"FAILED: {_md_cell(run['error'])} | {_executed_notebook(run)} |"
        for run in failed
    ]
    return [*lines, ""]


def render_markdown(
    results: list[dict[str, Any]],
    damaged: list[DamagedFile] | None = None,
    runs: dict[str, dict[str, Any]] | None = None,
) -> str:
    """A compact Markdown summary (for CI logs): damaged files, failed runs, run times and every
    claim."""
    failed = failed_runs(runs or {})
    lines = [
        "# Post-Training Improvement course — report",
        "",
        f"course_lib {__version__} · Python {platform.python_version()} · {_versions_line()}",
        "",
        *_damaged_markdown(damaged or []),
        *_failed_runs_markdown(failed),
    ]
    if not results:
        todo = "fix the failed notebook runs above, then run them again" if failed else "run"
        return "\n".join([*lines, f"No results yet: {todo} with `course run`."]) + "\n"
    lines += [
        "| lesson | framework | mode | wall (s) | claims holding |",
        "|---|---|---|---:|---:|",
    ]
    for r in results:
        held = sum(c["holds"] for c in r["claims"])
        lines.append(
            f"| {r['lesson']} | {r['framework']} | {r['mode']} | {r['wall_s']:.1f} | "
            f"{held}/{len(r['claims'])} |"
        )
    frameworks = _frameworks(results)
    lines += [
        "",
        "| lesson | claim | threshold | " + " | ".join(frameworks) + " |",
        "|---|---|---:|" + "---:|" * len(frameworks),
    ]
    for row in claims_overview(results):
        cells = []
        for fw in frameworks:
            c = row.get(fw)
            cells.append(
                "–" if c is None else f"{_fmt(c['value'])} {'holds' if c['holds'] else '**NO**'}"
            )
        lines.append(
            f"| {row['lesson']} | {_md_cell(row['statement'])} | {row['direction']} "
            f"{_fmt(row['threshold'])} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines) + "\n"


def write_report(fmt: str = "html", build: Path | None = None) -> Path:
    """Collect ``build/results/*.json`` into ``build/report.html`` (or ``report.md``).

    A damaged results file is listed under "Damaged results files" (see :func:`damaged_files`)
    and the rest of the report is built without it."""
    if fmt not in ("html", "md"):
        raise ValueError(f"format must be 'html' or 'md', got {fmt!r}.")
    build = Path(build) if build is not None else config.build_dir()
    scan, runs = scan_results(build / "results"), read_runs(build)
    damaged = [*scan.damaged, *_runs_damage(build)]
    if fmt == "html":
        text = render_html(scan.results, build, damaged, runs)
    else:
        text = render_markdown(scan.results, damaged, runs)
    path = build / f"report.{fmt}"
    path.write_text(text, encoding="utf-8")
    return path
