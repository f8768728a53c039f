"""``make bench``: the course's ``fit`` against a minimal raw loop, and the small CNN's throughput.

Run as ``python -m course_lib.dev.bench [--reps N] [--epochs E] [--quick]``. One process, both
frameworks (guarded, see :mod:`course_lib.frameworks`):

* **Library vs raw loop.** The same model (``small_cnn`` built with the same seed), the same glyph
  subset, batch size, epochs and ``data_loader(..., shuffle=True, seed=0)`` that ``fit`` builds
  itself. Each timing covers everything after the model is built: data loader, optimizer,
  compilation (Keras) and the epochs. Measurements are interleaved (torch-lib, torch-raw,
  keras-lib, keras-raw, keras custom loop; the lib/raw order flips every repetition to cancel
  drift). ``ratio = raw / lib`` of the median times: >= 1 means the library is as fast or faster;
  the goal is >= 0.95. A Keras ``tf.function`` + ``GradientTape`` loop is timed for information.
* **Throughput** of ``small_cnn(width=32)`` on 28x28 glyphs with the teaching batch size, through
  ``cl.fit`` (steady-state epochs after a warm-up epoch) and ``cl.predict``: what lessons pay.
* **oneDNN**: TensorFlow reads ``TF_ENABLE_ONEDNN_OPTS`` at import, so the Keras training
  throughput runs in subprocesses with ``=0`` and ``=1`` (TensorFlow's default, kept by the
  course since this measurement: 1.76x faster on 2 cores).

Results go to ``build/bench.json`` (``$COURSE_BUILD_DIR`` wins); a table is printed. Nothing here
asserts speed: the goal is reported, not enforced.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from course_lib import __version__, config
from course_lib.atomic import atomic_write_text
from course_lib.training import ADAM_EPSILON

SCHEMA_VERSION = 1
GOAL = 0.95
SEED = 0
LR = 1e-3
FRAMEWORKS: tuple[str, ...] = ("torch", "keras")
RESULT_MARKER = "BENCH-RESULT "  # prefix of the JSON line a --keras-throughput-only child prints
CHILD_TIMEOUT_S = 600
NOISY_LOAD = 0.10  # median foreign load above which the report warns

Array = np.ndarray
Step = Callable[[Any, Array, Array], None]


# ---------------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    """Every size the bench uses; recorded in the JSON."""

    quick: bool
    mode: str  # data mode: glyph samples per character (smoke 4, teaching 20)
    reps: int
    epochs: int
    classes: int  # the comparison trains on all images of the first ``classes`` glyph classes
    width: int
    batch_size: int
    tp_classes: int  # throughput: same idea, its own subset
    tp_width: int
    tp_batch_size: int
    tp_epochs: int  # timed steady-state epochs, after one warm-up epoch
    onednn_runs: int  # subprocesses per TF_ENABLE_ONEDNN_OPTS value; 0 = skipped


def make_settings(
    *, quick: bool = False, reps: int | None = None, epochs: int | None = None
) -> Settings:
    """The default run (teaching-size glyphs unless ``$COURSE_MODE`` says otherwise), or quick."""
    mode = config.resolve_mode()
    teaching_batch = int(config.sizes("training", "teaching").batch_size)
    if quick:
        base = Settings(
            quick=True, mode=mode, reps=2, epochs=1, classes=16, width=8,
            batch_size=int(config.sizes("training", mode).batch_size),
            tp_classes=16, tp_width=8, tp_batch_size=teaching_batch, tp_epochs=1,
            onednn_runs=0,
        )  # fmt: skip
    else:
        base = Settings(
            quick=False, mode=mode, reps=5, epochs=2, classes=128, width=32,
            batch_size=int(config.sizes("training", mode).batch_size),
            tp_classes=128, tp_width=32, tp_batch_size=teaching_batch, tp_epochs=3,
            onednn_runs=1,
        )  # fmt: skip
    return replace(
        base,
        reps=base.reps if reps is None else _positive("--reps", reps),
        epochs=base.epochs if epochs is None else _positive("--epochs", epochs),
    )


def _positive(name: str, value: int) -> int:
    if value < 1:
        raise SystemExit(f"{name} must be a positive integer, got {value}.")
    return value


def say(message: str) -> None:
    """One progress line, flushed so a human sees the bench moving."""
    print(f"[bench] {message}", flush=True)


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------
@cache
def _glyphs(mode: str) -> Any:
    from course_lib.data import load_glyphs

    return load_glyphs(mode=mode, progress=False)


def glyph_subset(mode: str, classes: int) -> tuple[Array, Array]:
    """All images of the first ``classes`` glyph classes (labels are already 0..classes-1)."""
    data = _glyphs(mode)
    keep = data.labels < classes
    return np.ascontiguousarray(data.images[keep]), np.ascontiguousarray(data.labels[keep])


# ---------------------------------------------------------------------------------------------
# The contenders, per framework: build (untimed), then library fit, raw loop, custom loop (timed)
# ---------------------------------------------------------------------------------------------
def _cl(framework: str) -> Any:
    if framework == "torch":
        from course_lib import torch as cl
    else:
        from course_lib import keras as cl
    return cl


def build(framework: str, num_classes: int, width: int) -> Any:
    """A fresh ``small_cnn`` with the bench seed (same initial weights for every contender)."""
    if framework == "keras":
        import keras

        keras.backend.clear_session()
    config.seed_everything(SEED)
    return _cl(framework).small_cnn(num_classes, width=width)


def library_fit(framework: str, epochs: int, batch_size: int) -> Step:
    """``cl.fit`` as a lesson calls it: arrays in, quiet, no validation data."""

    def step(model: Any, x: Array, y: Array) -> None:
        _cl(framework).fit(
            model, (x, y), epochs=epochs, lr=LR, batch_size=batch_size, seed=SEED, quiet=True
        )

    return step


def torch_raw(epochs: int, batch_size: int) -> Step:
    """The textbook PyTorch loop over the same ``data_loader`` ``fit`` uses, Adam like ``fit``."""
    import torch
    import torch.nn.functional as F

    from course_lib import torch as cl

    def step(model: Any, x: Array, y: Array) -> None:
        loader = cl.data_loader((x, y), batch_size, shuffle=True, seed=SEED)
        opt = torch.optim.Adam(model.parameters(), lr=LR, eps=ADAM_EPSILON)
        for _ in range(epochs):
            model.train()
            for xb, yb in loader:
                opt.zero_grad()
                loss = F.cross_entropy(model(xb), yb)
                loss.backward()
                opt.step()

    return step


def keras_raw(epochs: int, batch_size: int) -> Step:
    """Plain ``compile`` + ``fit`` on the same ``data_loader`` dataset (compile is timed too)."""
    import keras

    from course_lib import keras as cl

    def step(model: Any, x: Array, y: Array) -> None:
        dataset = cl.data_loader((x, y), batch_size, shuffle=True, seed=SEED)
        model.compile(
            optimizer=keras.optimizers.Adam(LR, epsilon=ADAM_EPSILON),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[keras.metrics.SparseCategoricalAccuracy()],
        )
        model.fit(dataset, epochs=epochs, verbose=0, shuffle=False)

    return step


def keras_custom(epochs: int, batch_size: int) -> Step:
    """A ``tf.function`` train step with ``tf.GradientTape`` (no metrics): informational."""
    import keras
    import tensorflow as tf

    from course_lib import keras as cl

    def step(model: Any, x: Array, y: Array) -> None:
        dataset = cl.data_loader((x, y), batch_size, shuffle=True, seed=SEED)
        opt = keras.optimizers.Adam(LR, epsilon=ADAM_EPSILON)
        loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        variables = model.trainable_variables
        opt.build(variables)

        @tf.function(reduce_retracing=True)
        def train_step(xb: tf.Tensor, yb: tf.Tensor) -> tf.Tensor:
            with tf.GradientTape() as tape:
                loss = loss_fn(yb, model(xb, training=True))
            opt.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
            return loss

        for _ in range(epochs):
            for xb, yb in dataset:
                train_step(xb, yb)

    return step


def _cpu_ticks() -> tuple[int, int] | None:
    """(busy ticks of the whole machine, ticks of this process and its ended children)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        own = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = [int(v) for v in fields]
    busy = sum(ticks) - ticks[3] - (ticks[4] if len(ticks) > 4 else 0)  # minus idle, iowait
    return busy, sum(int(v) for v in own[11:15])  # utime, stime, cutime, cstime


class ForeignLoad:
    """How busy other processes kept the CPUs while a block ran: 0 = quiet, 1 = all cores.

    Timings on a shared machine are only as good as this number: OpenMP and TensorFlow thread
    pools slow down many times over when another process wants the same cores.
    """

    def __init__(self) -> None:
        self.value: float | None = None

    def __enter__(self) -> ForeignLoad:
        self._start, self._ticks = time.perf_counter(), _cpu_ticks()
        return self

    def __exit__(self, *exc: object) -> None:
        end = _cpu_ticks()
        if self._ticks is None or end is None:
            return
        hz = os.sysconf("SC_CLK_TCK")
        cpus = len(os.sched_getaffinity(0))
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        foreign = (end[0] - self._ticks[0]) - (end[1] - self._ticks[1])
        self.value = round(min(max(foreign / hz / (elapsed * cpus), 0.0), 1.0), 3)


def timed(step: Step, model: Any, x: Array, y: Array) -> tuple[float, float | None]:
    """Wall seconds of ``step(model, x, y)`` (after a garbage collection), and the foreign load."""
    gc.collect()
    with ForeignLoad() as load:
        start = time.perf_counter()
        step(model, x, y)
        seconds = time.perf_counter() - start
    return seconds, load.value


# ---------------------------------------------------------------------------------------------
# Library vs raw
# ---------------------------------------------------------------------------------------------
def compare(s: Settings) -> tuple[dict[str, Any], dict[str, Any]]:
    """Interleaved repetitions; returns (per-framework comparison, keras custom loop)."""
    x, y = glyph_subset(s.mode, s.classes)
    samples = len(x) * s.epochs
    contenders: dict[tuple[str, str], Step] = {
        ("torch", "lib"): library_fit("torch", s.epochs, s.batch_size),
        ("torch", "raw"): torch_raw(s.epochs, s.batch_size),
        ("keras", "lib"): library_fit("keras", s.epochs, s.batch_size),
        ("keras", "raw"): keras_raw(s.epochs, s.batch_size),
        ("keras", "custom"): keras_custom(s.epochs, s.batch_size),
    }
    # Warm-up on two batches: lazy imports, first kernels and tf.data set-up land here, not in
    # whichever contender happens to run first (skipped in --quick mode, to save ~6 s).
    wx, wy = x[: 2 * s.batch_size], y[: 2 * s.batch_size]
    for (framework, kind), step in contenders.items() if not s.quick else ():
        warm, _ = timed(step, build(framework, s.classes, s.width), wx, wy)
        say(f"warm-up {framework:<5} {kind:<6} {warm:6.2f} s")

    times: dict[tuple[str, str], list[float]] = {key: [] for key in contenders}
    loads: dict[tuple[str, str], list[float | None]] = {key: [] for key in contenders}
    for rep in range(s.reps):
        pair = ("lib", "raw") if rep % 2 == 0 else ("raw", "lib")
        order = [("torch", k) for k in pair] + [("keras", k) for k in pair] + [("keras", "custom")]
        for framework, kind in order:
            model = build(framework, s.classes, s.width)
            seconds, load = timed(contenders[(framework, kind)], model, x, y)
            times[(framework, kind)].append(seconds)
            loads[(framework, kind)].append(load)
            say(
                f"rep {rep + 1}/{s.reps} {framework:<5} {kind:<6} {seconds:6.2f} s "
                f"({samples / seconds:8.1f} img/s)"
                + ("" if load is None else f"  other processes {load:4.0%} of the CPUs")
            )

    comparison = {}
    for framework in FRAMEWORKS:
        lib, raw = times[(framework, "lib")], times[(framework, "raw")]
        lib_med, raw_med = statistics.median(lib), statistics.median(raw)
        ratio = raw_med / lib_med
        comparison[framework] = {
            "lib_s": _rounded(lib),
            "raw_s": _rounded(raw),
            "lib_median_s": round(lib_med, 6),
            "raw_median_s": round(raw_med, 6),
            "lib_images_per_s": round(samples / lib_med, 1),
            "raw_images_per_s": round(samples / raw_med, 1),
            "ratio": round(ratio, 4),
            "goal": GOAL,
            "meets_goal": round(ratio, 4) >= GOAL,
            "lib_foreign_load": loads[(framework, "lib")],
            "raw_foreign_load": loads[(framework, "raw")],
        }
    custom = times[("keras", "custom")]
    custom_med = statistics.median(custom)
    custom_loop = {
        "note": "informational: tf.function + GradientTape train step, no metrics",
        "times_s": _rounded(custom),
        "median_s": round(custom_med, 6),
        "images_per_s": round(samples / custom_med, 1),
        "ratio_to_raw_fit": round(comparison["keras"]["raw_median_s"] / custom_med, 4),
    }
    return comparison, custom_loop


def _rounded(values: Sequence[float]) -> list[float]:
    return [round(v, 6) for v in values]


# ---------------------------------------------------------------------------------------------
# Throughput
# ---------------------------------------------------------------------------------------------
def throughput(framework: str, s: Settings, inference_reps: int = 3) -> dict[str, Any]:
    """Training images/s (median steady-state epoch of ``cl.fit``) and ``cl.predict`` images/s."""
    cl = _cl(framework)
    x, y = glyph_subset(s.mode, s.tp_classes)
    model = build(framework, s.tp_classes, s.tp_width)
    stamps: list[float] = []
    gc.collect()
    with ForeignLoad() as load:
        cl.fit(
            model, (x, y), epochs=1 + s.tp_epochs, lr=LR, batch_size=s.tp_batch_size, seed=SEED,
            quiet=True, callbacks=[lambda epoch, logs: stamps.append(time.perf_counter())],
        )  # fmt: skip
        epoch_s = [b - a for a, b in itertools.pairwise(stamps)]
        cl.predict(model, x, batch_size=s.tp_batch_size)  # warm-up (Keras traces predict here)
        predict_s = []
        for _ in range(inference_reps):
            start = time.perf_counter()
            cl.predict(model, x, batch_size=s.tp_batch_size)
            predict_s.append(time.perf_counter() - start)
    train_ips = len(x) / statistics.median(epoch_s)
    infer_ips = len(x) / statistics.median(predict_s)
    return {
        "width": s.tp_width,
        "batch_size": s.tp_batch_size,
        "image_size": list(x.shape[1:]),
        "samples": len(x),
        "classes": s.tp_classes,
        "steady_epochs_s": _rounded(epoch_s),
        "train_images_per_s": round(train_ips, 1),
        "predict_s": _rounded(predict_s),
        "inference_images_per_s": round(infer_ips, 1),
        "foreign_load": load.value,
    }


def _silence_retracing_warnings() -> None:
    """Every fresh model traces its own train function; TensorFlow warns about that from the
    fifth one on ("triggered tf.function retracing"), which is expected here."""
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")


def keras_throughput_child(spec: dict[str, Any]) -> None:
    """``--keras-throughput-only``: Keras training throughput in this (fresh) process."""
    from course_lib.frameworks import quiet_tensorflow

    quiet_tensorflow()  # setdefault: an explicit TF_ENABLE_ONEDNN_OPTS from the parent wins
    import tensorflow as tf

    s = Settings(**spec)
    result = throughput("keras", s, inference_reps=1)
    result["TF_ENABLE_ONEDNN_OPTS"] = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    result["tensorflow"] = tf.__version__
    print(RESULT_MARKER + json.dumps(result), flush=True)


def onednn_comparison(s: Settings) -> tuple[dict[str, Any] | None, str | None]:
    """Keras training throughput with ``TF_ENABLE_ONEDNN_OPTS=0`` and ``=1``, in subprocesses.

    Runs alternate (0, 1, 1, 0, ...) to cancel drift; returns ``(result, None)`` or
    ``(None, reason)`` when skipped or a child failed.
    """
    if s.onednn_runs == 0:
        return None, "skipped in --quick mode (two TensorFlow start-ups cost ~20 s)"
    runs: dict[str, list[dict[str, Any]]] = {"0": [], "1": []}
    order = [("0", "1") if i % 2 == 0 else ("1", "0") for i in range(s.onednn_runs)]
    for value in [v for pair in order for v in pair]:
        # Log level 0 in the child makes TensorFlow say whether oneDNN is on (checked below).
        env = {
            **os.environ,
            "TF_ENABLE_ONEDNN_OPTS": value,
            "TF_CPP_MIN_LOG_LEVEL": "0",
            config.MODE_ENV: s.mode,
        }
        cmd = [sys.executable, "-m", "course_lib.dev.bench", "--keras-throughput-only",
               json.dumps(asdict(s))]  # fmt: skip
        start = time.perf_counter()
        try:
            with ForeignLoad() as load:
                proc = subprocess.run(
                    cmd, env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S
                )
        except subprocess.TimeoutExpired:
            return None, f"TF_ENABLE_ONEDNN_OPTS={value} child timed out after {CHILD_TIMEOUT_S} s"
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_MARKER)]
        if proc.returncode != 0 or not lines:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            return None, f"TF_ENABLE_ONEDNN_OPTS={value} child failed (rc {proc.returncode}): " + (
                " | ".join(tail)
            )
        result = json.loads(lines[-1][len(RESULT_MARKER) :])
        result["onednn_message"] = "oneDNN custom operations are on" in proc.stderr
        result["process_s"] = round(time.perf_counter() - start, 2)
        result["foreign_load"] = load.value
        runs[value].append(result)
        say(
            f"oneDNN={value}  keras train {result['train_images_per_s']:8.1f} img/s "
            f"(child {result['process_s']:.1f} s, TF says oneDNN on: {result['onednn_message']})"
        )
    summary: dict[str, Any] = {}
    for value, results in runs.items():
        ips = statistics.median(r["train_images_per_s"] for r in results)
        summary[f"onednn_{value}"] = {
            "train_images_per_s": round(ips, 1),
            "runs_images_per_s": [r["train_images_per_s"] for r in results],
            "tf_reported_onednn_on": all(r["onednn_message"] for r in results),
            "foreign_load": [r["foreign_load"] for r in results],
        }
    summary["ratio_1_over_0"] = round(
        summary["onednn_1"]["train_images_per_s"] / summary["onednn_0"]["train_images_per_s"], 4
    )
    summary["note"] = (
        "Keras training throughput (same model/data as 'throughput') in fresh processes; "
        "ratio > 1 means oneDNN's custom ops (on by default) are faster than without them (0)."
    )
    return summary, None


# ---------------------------------------------------------------------------------------------
# Environment, report
# ---------------------------------------------------------------------------------------------
def environment(s: Settings, loadavg_start: tuple[float, float, float]) -> dict[str, Any]:
    """CPU, threads, versions, date and mode: what the numbers depend on."""
    import keras
    import tensorflow as tf
    import torch

    return {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "mode": s.mode,
        "quick": s.quick,
        "cpu_count_affinity": len(os.sched_getaffinity(0)),
        "cpu_count_os": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "loadavg_start": [round(v, 2) for v in loadavg_start],
        "loadavg_end": [round(v, 2) for v in os.getloadavg()],
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "torch_deterministic": torch.are_deterministic_algorithms_enabled(),
        "tf_intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "tf_inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "tf_threads_note": "0 means TensorFlow picks (one per core)",
        "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "course_lib": __version__,
        "torch": torch.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
    }


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def foreign_load_summary(result: dict[str, Any]) -> dict[str, Any]:
    """Median and worst foreign load over every timed block; ``noisy`` when it matters."""
    values = [
        v
        for row in result["comparison"].values()
        for v in row["lib_foreign_load"] + row["raw_foreign_load"]
    ] + [tp["foreign_load"] for tp in result["throughput"].values()]
    if result["onednn"]:
        values += result["onednn"]["onednn_0"]["foreign_load"]
        values += result["onednn"]["onednn_1"]["foreign_load"]
    known = [v for v in values if v is not None]
    if not known:
        return {"median": None, "max": None, "noisy": None, "note": "no /proc: not measured"}
    median = statistics.median(known)
    return {
        "median": round(median, 3),
        "max": round(max(known), 3),
        "noisy": median > NOISY_LOAD,
        "note": "share of all CPUs other processes used while a timing ran (0 = quiet machine)",
    }


def format_report(result: dict[str, Any]) -> str:
    """The comparison table, the custom loop, throughput and oneDNN lines."""
    lines = [
        f"{'framework':<10}| {'raw img/s':>10} | {'library img/s':>13} | {'ratio':>6} "
        f"| goal ≥{GOAL}",
        f"{'-' * 10}|{'-' * 12}|{'-' * 15}|{'-' * 8}|{'-' * 10}",
    ]
    for framework, row in result["comparison"].items():
        verdict = "yes" if row["meets_goal"] else "NO"
        lines.append(
            f"{framework:<10}| {row['raw_images_per_s']:>10.1f} | {row['lib_images_per_s']:>13.1f} "
            f"| {row['ratio']:>6.3f} | {verdict}"
        )
    custom = result["keras_custom_loop"]
    lines.append(
        f"(info) keras custom tf.function loop: {custom['images_per_s']:.1f} img/s, "
        f"raw fit / custom = {custom['ratio_to_raw_fit']:.3f}"
    )
    lines.append("")
    for framework, tp in result["throughput"].items():
        lines.append(
            f"throughput {framework:<5} small_cnn(width={tp['width']}), batch {tp['batch_size']}: "
            f"train {tp['train_images_per_s']:8.1f} img/s, "
            f"inference {tp['inference_images_per_s']:8.1f} img/s"
        )
    onednn = result["onednn"]
    if onednn is None:
        lines.append(f"oneDNN: not measured ({result['onednn_skipped_reason']})")
    else:
        lines.append(
            f"oneDNN  keras train: TF_ENABLE_ONEDNN_OPTS=0 "
            f"{onednn['onednn_0']['train_images_per_s']:.1f} img/s, "
            f"=1 {onednn['onednn_1']['train_images_per_s']:.1f} img/s, "
            f"ratio 1/0 = {onednn['ratio_1_over_0']:.3f}"
        )
    load = result["foreign_load"]
    if load["noisy"]:
        lines.append(
            f"WARNING: other processes used {load['median']:.0%} of the CPUs (median; worst "
            f"{load['max']:.0%}) while timings ran: the numbers above are unreliable. Re-run "
            "`make bench` on a quiet machine."
        )
    return "\n".join(lines)


def run(s: Settings) -> dict[str, Any]:
    """The whole bench; writes ``build/bench.json`` and returns what it wrote."""
    start = time.perf_counter()
    loadavg_start = os.getloadavg()
    from course_lib.frameworks import guard_both_frameworks

    _cl("torch")  # PyTorch first, then the guard, then TensorFlow (see course_lib.frameworks)
    guard_both_frameworks()
    _cl("keras")
    _silence_retracing_warnings()

    x, _ = glyph_subset(s.mode, s.classes)
    say(
        f"{'quick' if s.quick else 'full'} run, {s.mode} glyphs: {len(x)} images of "
        f"{s.classes} classes, small_cnn(width={s.width}), batch {s.batch_size}, "
        f"{s.epochs} epoch(s), {s.reps} reps"
    )
    comparison, custom_loop = compare(s)
    tp = {}
    for framework in FRAMEWORKS:
        tp[framework] = throughput(framework, s)
        say(
            f"throughput {framework}: train {tp[framework]['train_images_per_s']:.1f} img/s, "
            f"inference {tp[framework]['inference_images_per_s']:.1f} img/s"
        )
    onednn, reason = onednn_comparison(s)
    result: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "settings": {
            **asdict(s),
            "samples": len(x),
            "lr": LR,
            "adam_epsilon": ADAM_EPSILON,
            "seed": SEED,
            "order": "per rep: torch lib/raw, keras lib/raw (order flips every rep), keras custom",
            "timed": "data loader + optimizer (+ compile) + epochs; model build not timed",
        },
        "comparison": comparison,
        "keras_custom_loop": custom_loop,
        "throughput": tp,
        "onednn": onednn,
        "onednn_skipped_reason": reason,
        "env": environment(s, loadavg_start),
    }
    result["foreign_load"] = foreign_load_summary(result)
    result["wall_s"] = round(time.perf_counter() - start, 2)
    path = config.build_dir() / "bench.json"
    atomic_write_text(path, json.dumps(result, indent=2) + "\n")
    print()
    print(format_report(result))
    print(f"\nwrote {path} ({result['wall_s']:.0f} s)", flush=True)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m course_lib.dev.bench [--reps N] [--epochs E] [--quick]``."""
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.dev.bench",
        description="Time course_lib's fit against a raw loop in PyTorch and Keras, and record "
        "the small CNN's throughput; writes build/bench.json.",
    )
    parser.add_argument("--reps", type=int, help="repetitions (default 5; --quick: 2)")
    parser.add_argument("--epochs", type=int, help="epochs per timing (default 2; --quick: 1)")
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes for the tests (< 1 min on 2 cores)"
    )
    parser.add_argument("--keras-throughput-only", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.keras_throughput_only:
        keras_throughput_child(json.loads(args.keras_throughput_only))
        return 0
    run(make_settings(quick=args.quick, reps=args.reps, epochs=args.epochs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
