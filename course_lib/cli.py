"""The ``course`` command: doctor, run, fetch, report, lab, notebooks, exercises."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable, Sequence

from course_lib import config
from course_lib.errors import CourseError


def _doctor(args: argparse.Namespace) -> int:
    from course_lib import doctor

    print("Post-Training Improvement course — environment check")
    return 0 if doctor.report(doctor.check_environment(args.framework)) else 1


def _run(args: argparse.Namespace) -> int:
    from course_lib import report, runner

    records = runner.run_lessons(
        args.lessons, mode=args.mode, framework=args.framework, seed=args.seed
    )
    failed = [r for r in records if not r.ok]
    total = sum(r.wall_s for r in records)
    print(f"{len(records) - len(failed)}/{len(records)} notebook(s) ok in {total:.1f} s")
    if not args.no_report:
        print(f"report: {report.write_report('html')}")
        _warn_damaged(report.damaged_files())
    return 1 if failed else 0


def _warn_damaged(damaged: Sequence[object]) -> None:
    """One warning line per file the report had to leave out (on stderr)."""
    for d in damaged:
        print(f"warning: left out of the report: {d}", file=sys.stderr)


def _fetch(args: argparse.Namespace) -> int:
    from course_lib.data import online

    if args.list:
        for row in online.status():
            mark = "[OK]  " if row["cached"] else "[--]  "
            print(f"{mark}{row['name']:<22} {row['size'] / 1e6:7.1f} MB  {row['path']}")
        return 0
    for path in online.fetch_all(args.names or None):
        print(f"[OK] {path}")
    return 0


def _pretrain(args: argparse.Namespace) -> int:
    import importlib

    from course_lib.frameworks import guard_both_frameworks

    frameworks = ["torch", "keras"] if args.framework == "both" else [args.framework]
    if len(frameworks) > 1:
        guard_both_frameworks()
    for framework in frameworks:
        cl = importlib.import_module(f"course_lib.{framework}")
        _, info = cl.pretrained_cnn(args.mode, seed=args.seed, rebuild=args.rebuild)
        print(f"[OK] {framework}: {info}\n     {info.path}")
    return 0


def _notebooks(args: argparse.Namespace) -> int:
    from pathlib import Path

    from course_lib import nbtools
    from course_lib.runner import notebooks_dir

    if args.action == "build":
        return _build_notebooks(args)
    paths = [Path(p) for p in args.paths] or sorted(notebooks_dir().glob("*.ipynb"))
    if args.action == "clean" and not args.paths:  # the exercise sources are committed clean too
        from course_lib.exercises.build import solution_notebooks

        paths += solution_notebooks()
    if args.action == "clean":
        changed = nbtools.clean_files(paths)
        print(f"cleaned {len(changed)} of {len(paths)} notebook(s)")
    else:
        for path in nbtools.refresh_files(paths):
            print(f"refreshed checked outputs of {path}")
    return 0


def _build_generated(
    build_all: Callable[..., list], check: bool, up_to_date: str, stale_hint: str, **options
) -> int:
    """``build_all(check=True)`` lists what is stale (exit 1), else build and list what changed."""
    if check:
        stale = build_all(check=True)
        for path in stale:
            print(f"stale: {path}")
        if stale:
            print(f"{len(stale)} {stale_hint}", file=sys.stderr)
            return 1
    else:
        for path in build_all(**options):
            print(f"built {path}")
    print(up_to_date)
    return 0


def _build_notebooks(args: argparse.Namespace) -> int:
    from course_lib import sources

    if args.paths:
        print("`course notebooks build` takes no paths: it builds every lesson", file=sys.stderr)
        return 2
    return _build_generated(
        sources.build_all,
        args.check,
        f"{2 * len(sources.lesson_sources())} notebooks up to date with notebooks/src/",
        "notebook(s) differ from their source in notebooks/src/: edit the source, run "
        "`course notebooks build` (or `make notebooks`) and commit both.",
    )


def _exercises(args: argparse.Namespace) -> int:
    from course_lib.exercises import build

    return _build_generated(
        build.build_all,
        args.check,
        f"{_copies(len(build.solution_notebooks()))} up to date",
        "student cop(ies) out of date with exercises/solutions/: run `course exercises build` "
        "(or `make exercises`) and commit the result.",
        force=args.force,
    )


def _copies(n: int) -> str:
    return f"{n} student cop{'y' if n == 1 else 'ies'}"


def _report(args: argparse.Namespace) -> int:
    from course_lib import report

    path = report.write_report(args.format)
    if args.format == "md":
        print(path.read_text(encoding="utf-8"))
    print(f"report written to {path}")
    _warn_damaged(report.damaged_files())
    return 0


def _lab(args: argparse.Namespace) -> int:
    from course_lib import lab

    port = args.port or lab.free_port(8888)
    token = lab.new_token()
    cmd = lab.lab_command(port, open_browser=not args.no_browser, extra=args.extra)
    # The root is the course folder, not notebooks/: lessons link to ../exercises/.
    print(f"JupyterLab on {lab.course_root()} with the kernel Python (post-training course):")
    print(f"    {lab.lab_url(port, token, host='localhost')}")
    print("Stop it with Ctrl+C twice (or File > Shut Down).", flush=True)
    with subprocess.Popen(cmd, env=lab.lab_env(token)) as server:
        while True:
            try:
                return server.wait()
            except KeyboardInterrupt:  # Jupyter handles Ctrl+C itself and stops its kernels
                continue


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="course",
        description=(
            "The Post-Training Improvement course. Modes: smoke (seconds, CI), teaching (default, "
            "minutes on a CPU), full (GPU + internet). Set COURSE_MODE or pass --mode."
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("doctor", help="check packages, mode, device, network, kernel, cache dir")
    p.add_argument("--framework", choices=["torch", "keras", "both"], default="both")
    p.set_defaults(func=_doctor)

    p = sub.add_parser("run", help="execute lessons with papermill into build/notebooks/")
    p.add_argument(
        "lessons",
        nargs="*",
        metavar="LESSON",
        help="lesson number, id or topic (e.g. 00, 00_setup, setup); default: all",
    )
    p.add_argument(
        "--mode", choices=config.MODES, default=None, help="default: $COURSE_MODE or teaching"
    )
    p.add_argument("--framework", choices=["torch", "keras", "both"], default="both")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-report", action="store_true", help="skip writing build/report.html")
    p.set_defaults(func=_run)

    p = sub.add_parser(
        "fetch", help="download CIFAR-10 and ImageNet weights for full mode (verified, resumable)"
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="manifest entries; default: all")
    p.add_argument("--list", action="store_true", help="show what is in the manifest and cached")
    p.set_defaults(func=_fetch)

    p = sub.add_parser(
        "pretrain",
        help="build the glyph-pretrained network lessons 01+ start from (once; then cached)",
    )
    p.add_argument("--mode", choices=list(config.MODES), default=None)
    p.add_argument("--framework", choices=["torch", "keras", "both"], default="both")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rebuild", action="store_true", help="train again even if cached")
    p.set_defaults(func=_pretrain)

    p = sub.add_parser(
        "notebooks",
        help="generate the lesson notebooks from notebooks/src/ (build [--check]); strip "
        "outputs (clean); re-execute the outputs nbval checks (refresh)",
    )
    p.add_argument("action", choices=["build", "clean", "refresh"])
    p.add_argument(
        "--check",
        action="store_true",
        help="build: write nothing; exit 1 if a committed notebook differs from its source (CI)",
    )
    p.add_argument(
        "paths",
        nargs="*",
        metavar="NOTEBOOK",
        help="default: every lesson notebook (and, for clean, every exercise solution notebook)",
    )
    p.set_defaults(func=_notebooks)

    p = sub.add_parser(
        "exercises",
        help="generate the student copies exercises/*_exercises.ipynb from exercises/solutions/",
    )
    p.add_argument("action", choices=["build"])
    p.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if a committed student copy is out of date (CI)",
    )
    p.add_argument(
        "--force", action="store_true", help="overwrite student copies that hold outputs"
    )
    p.set_defaults(func=_exercises)

    p = sub.add_parser("report", help="collect build/results/*.json into build/report.html")
    p.add_argument("--format", choices=["html", "md"], default="html")
    p.set_defaults(func=_report)

    p = sub.add_parser(
        "lab", help="JupyterLab on the course folder (notebooks/, exercises/), course kernel"
    )
    p.add_argument("--port", type=int, default=None, help="default: 8888 if free, else any")
    p.add_argument("--no-browser", action="store_true", help="print the URL, open no browser")
    p.add_argument(
        "extra",
        nargs=argparse.REMAINDER,
        help="further options for jupyter lab, e.g. --ServerApp.ip=0.0.0.0",
    )
    p.set_defaults(func=_lab)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``course`` console script."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.command != "lab":
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if unknown:  # options for jupyter lab itself, e.g. --ServerApp.ip=0.0.0.0
        args.extra = [*unknown, *args.extra]
    try:
        return args.func(args)
    except CourseError as err:
        print(f"course {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
