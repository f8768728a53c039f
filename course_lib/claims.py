"""Every claim of the course in one table: its statement, threshold, direction and why that margin.

A lesson proves its point with a few *claims*: a measured number compared with a threshold
(``value >= threshold`` or ``value <= threshold``). The statements and thresholds live here, not in
the notebooks, so that one table shows what the course promises and why each margin was chosen;
the lessons only measure the value and name the claim::

    results.claim_from_table("probe_beats_scratch_k_few", gain_low)

``statement`` is a ``str.format`` template. Its fields are filled from the lesson's size table
(``config.sizes(lesson, mode)``: ``{k_few}``, ``{seeds}``, ...) unless the call passes them, and
from values only the run knows (``{best}``: the technique that came out best in lesson 03), which
the call must pass.

Most thresholds are fixed numbers. A threshold that depends on the run's own noise is *not* a
number in this table: ``threshold`` is ``None``, ``threshold_rule`` says in words how it is
computed, ``rule`` computes it from the measured quantities named in ``rule_inputs`` (the call
passes them), and the results file keeps those quantities (``threshold_inputs``) so a test can
recompute the threshold. Only lesson 03's "within the noise" claim works this way.

``why`` gives the reason for the margin: the measured values (teaching mode, seed 0, PyTorch /
Keras, from the README's "What lesson NN measures" sections) and what the gap between them and the
threshold allows for.

The claims test (``tests/claims``) fails when a results file reports a claim that is not in this
table, or with another statement, threshold or direction; ``tests/unit/test_claims_table.py`` checks
that every claim named in a lesson source exists here and every entry here is used.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from course_lib import config

DIRECTIONS = (">=", "<=")
ALL_MODES: tuple[str, ...] = config.MODES
_ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class ClaimTableError(ValueError):
    """A claim that does not match ``course_lib/claims.py`` (unknown id, other threshold, ...)."""


@dataclass(frozen=True)
class ClaimSpec:
    """One row of the course's claims table (see the module docstring)."""

    lesson: str
    claim_id: str
    statement: str
    threshold: float | None
    direction: str
    why: str
    modes: tuple[str, ...] = ALL_MODES
    threshold_rule: str = ""
    rule_inputs: tuple[str, ...] = ()
    rule: Callable[..., float] | None = field(default=None, repr=False, compare=False)

    @property
    def fields(self) -> tuple[str, ...]:
        """The names of the statement's template fields, in order, each once."""
        names = [f for _, f, _, _ in string.Formatter().parse(self.statement) if f is not None]
        return tuple(dict.fromkeys(names))

    @property
    def computed(self) -> bool:
        """True when the threshold is computed at run time by :attr:`rule`."""
        return self.threshold is None

    def format_statement(self, **values: Any) -> str:
        missing = [f for f in self.fields if f not in values]
        if missing:
            raise ClaimTableError(
                f"claim {self.lesson}/{self.claim_id}: the statement needs {missing} "
                f"({self.statement!r})."
            )
        return self.statement.format(**values)

    def resolve_threshold(self, **inputs: Any) -> float:
        """The fixed threshold, or the rule's threshold computed from ``inputs``."""
        if not self.computed:
            if inputs:
                raise ClaimTableError(
                    f"claim {self.lesson}/{self.claim_id} has a fixed threshold "
                    f"({self.threshold:g}); it takes no {sorted(inputs)}."
                )
            return float(self.threshold)
        missing = [n for n in self.rule_inputs if n not in inputs]
        extra = [n for n in inputs if n not in self.rule_inputs]
        if missing or extra:
            raise ClaimTableError(
                f"claim {self.lesson}/{self.claim_id}: its threshold is computed "
                f"({self.threshold_rule}) from {list(self.rule_inputs)}; "
                f"missing {missing}, unexpected {extra}."
            )
        return float(self.rule(**{n: inputs[n] for n in self.rule_inputs}))

    def statement_pattern(self, sizes: Mapping[str, Any] | None = None) -> re.Pattern[str]:
        """A regex for the formatted statement: size fields fixed when ``sizes`` has them."""
        parts = []
        for literal, name, _, _ in string.Formatter().parse(self.statement):
            parts.append(re.escape(literal))
            if name is not None:
                if sizes is not None and name in sizes:
                    parts.append(re.escape(format(sizes[name])))
                else:
                    parts.append(".+?")
        return re.compile("".join(parts), re.DOTALL)

    def matches(self, statement: str, sizes: Mapping[str, Any] | None = None) -> bool:
        return self.statement_pattern(sizes).fullmatch(statement) is not None

    def threshold_text(self) -> str:
        if self.computed:
            return f"{self.direction} ({self.threshold_rule})"
        return f"{self.direction} {self.threshold:g}"


def noise_floor(std_diff: float, n_seeds: float) -> float:
    """Two standard errors of a mean *paired* difference over ``n_seeds`` seeds, at least 1.

    ``std_diff``: the standard deviation (ddof=1) of the per-seed differences between two
    techniques trained on the same splits and initial weights, in points. Pairing removes what
    the seeds share (the split, the initial weights), so the noise is that of the difference
    itself. The same expression as lesson 03's ``noise``; the threshold is its negative.
    """
    return max(1.0, 2 * std_diff / np.sqrt(n_seeds))


def _minus_noise_floor(std_diff: float, n_seeds: float) -> float:
    return -noise_floor(std_diff, n_seeds)


def _spec(lesson: str, claim_id: str, statement: str, threshold: float | None, why: str,
          direction: str = ">=", **extra: Any) -> ClaimSpec:  # fmt: skip
    return ClaimSpec(
        lesson, claim_id, statement, None if threshold is None else float(threshold), direction,
        " ".join(why.split()), **extra,
    )  # fmt: skip


# The statements are exactly the ones the lessons wrote before this table existed, so results
# files and the capstone's overview read the same. Measured values: teaching mode, seed 0,
# PyTorch / Keras.
CLAIMS: tuple[ClaimSpec, ...] = (
    # --- 00_setup
    _spec("00_setup", "glyph_alphabets", "glyph set: number of alphabets", 40, """
          Measured: 42 alphabets (22 scripts, 20 symbol blocks; README, "The data"). The glyph
          set is rendered from the fonts inside matplotlib, so 40 tolerates two alphabets fewer on
          another font build; the later lessons need dozens of alphabets to split into source and
          target, not an exact count."""),
    _spec("00_setup", "glyph_characters", "glyph set: number of characters", 1500, """
          Measured: 1,815 characters (22-55 per alphabet). 1,500 leaves about 300 characters
          (≈ 17 %) for a smaller font build while keeping more than a thousand classes to
          pretrain on."""),
    _spec("00_setup", "same_seed_same_weights", "same seed reproduces the same initial weights",
          1, """
          A yes/no check recorded as 1.0 / 0.0: seeding must reproduce the initial weights
          exactly, so the threshold is 1 and there is no margin."""),
    _spec("00_setup", "digits_cnn_val_accuracy",
          "small CNN on 28-px digits: validation accuracy", 0.9, """
          A sanity check that the course's training loop learns: 10 classes (chance 10 %), real
          handwritten digits, a few epochs of a narrow small_cnn. 90 % says "it trained" with
          room for the framework and machine; the exact value is not recorded in the README."""),
    # --- 01_transfer
    _spec("01_transfer", "pretrained_source_val_accuracy",
          "pretrained network: source validation accuracy", 0.85, """
          Measured: 92.5 % / 89.1 % on the 1,335 source characters (README, "The pretrained
          network"). 85 % keeps 4 points of margin for Keras, the lower of the two, and still
          means the backbone learned strokes worth transferring."""),
    _spec("01_transfer", "probe_beats_scratch_k_few",
          "linear probe beats scratch at K = {k_few} (points, mean of {seeds} seeds)", 15, """
          Measured: +26.1 / +25.3 points at K = 1 (README, lesson 01). 15 leaves about 10 points
          of margin for seeds, frameworks and machines and is still "a wide margin"."""),
    _spec("01_transfer", "probe_beats_scratch_k_more",
          "linear probe beats scratch at K = {k_more} (points; the ≥ 15 aimed at is not "
          "reached, see section 9)", 3, """
          Measured: +4.8 / +6.1 points at K = 5. The ≥ 15 first aimed at does not hold and the
          lesson says so (section 9) instead of weakening the baseline; 3 keeps the honest claim
          "the probe is still ahead" with about 2-3 points of margin."""),
    _spec("01_transfer", "silhouette_gain",
          "pretrained features separate unseen characters better (silhouette gain)", 0.1, """
          Measured: silhouette 0.37 with pretrained features vs 0.05 / -0.01 with a random
          network (a gain of ≈ 0.32 / 0.38). 0.1 is a clear separation on the -1..1 scale with a
          margin of more than 0.2."""),
    _spec("01_transfer", "fashion_imagenet_head_beats_scratch",
          "Fashion-MNIST, K = {k_fashion}: frozen ImageNet features + new head beat the same "
          "network from scratch (points, mean of {seeds} seeds)", 10, """
          Measured 2026-12-06 (32 px, 100 steps of 10 images, each strategy at its rate chosen on
          validation from 1e-3 / 1e-2): +23.9 / +23.9 points (head 61.4 ± 2.9 / 58.7 ± 2.8 %,
          the same EfficientNet-Lite0 from scratch 37.4 ± 2.3 / 34.7 ± 5.9 %); an earlier
          measurement at 64 px and 150 steps gave at least +18.5 on every seed. 10 leaves more
          than 10 points of margin and still means "far ahead". Against a small CNN from scratch
          the head does NOT win (-4.9 / -10.8): no claim, the lesson says so."""),
    _spec("01_transfer", "fashion_mid_layer_beats_top",
          "Fashion-MNIST, K = {k_fashion}: a linear probe on {best} (chosen on validation) beats "
          "one on the final pooled features (points, mean of {seeds} seeds)", 8, """
          Measured 2026-12-06 (32 px, logistic regression per block, paired over 3 seeds):
          +18.0 / +18.0 points (block6, chosen on validation, 67.9 % vs top 49.8 / 49.9 %; the
          two frameworks' features agree, so do their numbers); at 64 px an earlier measurement
          gave block5 - top at least +4.5 on every seed. 8 leaves 10 points of margin at the
          lesson's size. "The best layer differs between a close and a far target" is not
          claimed: neighbouring blocks are within noise and the choice moves with the seeds."""),
    _spec("01_transfer", "imagenet_probe_beats_scratch",
          "CIFAR-10, K = {k_imagenet}: ImageNet probe beats scratch (points)", 15, """
          Full mode only (real ImageNet weights and CIFAR-10): the classic result the glyph
          lessons imitate, held to the same 15 points as the glyph claim at K = 1. Not measured
          in the README; teaching-mode runs never make this claim.""",
          modes=("full",)),
    # --- 02_finetune
    _spec("02_finetune", "careful_beats_scratch_k_few",
          "best careful recipe beats scratch at K = {k_few} (points)", 10, """
          The careful recipe is the one chosen on validation; every strategy has the same steps
          and its validated rate. Old value -> new: +26.6 / +26.6 with hand-set rates and unequal
          steps -> +36.5 / +24.5
          (per seed +30.4..+43.6 / +17.9..+28.6) with every strategy at 150 steps and
          its own rate from one grid, chosen on validation (README, lesson 02). 10 is kept: a
          deliberately modest bar, 14 points below the smaller framework's mean; the point is
          that careful fine-tuning keeps the transfer gain."""),
    _spec("02_finetune", "careful_beats_naive_k_few",
          "best careful recipe beats naive fine-tuning at K = {k_few}, both at their validated "
          "rates and the same steps (points)", 2, """
          Old value -> new: +6.2 / +7.4 when naive had a 10x higher hand-set rate and fewer
          steps -> +4.9 / +10.7 (per seed +3.2..+6.1 / +8.9..+14.3) with naive tuned on
          validation like every strategy. The claim survives the fair race; 2 points stays below
          the smallest per-seed difference measured (3.2) and leaves ~3 points of margin."""),
    _spec("02_finetune", "careful_beats_naive_same_rate_k_few",
          "best careful recipe beats naive fine-tuning at the careful recipe's rate, "
          "K = {k_few} (points)", 5, """
          New claim (what the head-first schedule buys, rate held equal): +32.9 / +10.7 (per seed
          +31.4..+35.0 / +8.9..+14.3). The rate gradual unfreezing chose was 1e-4 in PyTorch (a
          tie with 1e-3 on validation, the grid's first wins), where naive's random head barely
          learns, and 1e-3 in Keras, naive's own choice. 5 points is half the smaller mean and
          below every per-seed difference."""),
    _spec("02_finetune", "careful_beats_scratch_k_more",
          "best careful recipe beats scratch at K = {k_more}, same steps, validated rates "
          "(points; the ≥ 10 aimed at is not reached, see section 5)", 2, """
          Old value -> new: +4.8 / +6.3 -> +5.5 / +5.0 (per seed +2.0..+9.0 / +0.5..+8.0). The
          ≥ 10 aimed at does not hold and the lesson says so; 2 keeps the honest claim "still
          ahead on average" with about 3 points of margin on the 3-seed mean."""),
    _spec("02_finetune", "digits_unfreeze_beats_probe",
          "digits: unfreezing (chosen on validation) beats the frozen probe at K = {k_digits}, "
          "mean of {seeds} seeds (points)", 10, """
          Old value -> new: +5.7 / +10.3 on one seed, probe 100 head steps -> +29.5 / +26.5 over
          3 seeds (per seed +27.6..+32.6 / +13.8..+44.5); the probe row is the careful recipes'
          head phase, 50 head-only steps, fewer than the 150 of the
          strategies that unfreeze, so part of the gap is budget (the lesson says so). 1 -> 10:
          still below the smallest per-seed difference (13.8), 16 points under the smaller
          mean."""),
    # --- 03_regularization
    _spec("03_regularization", "baseline_overfits",
          "the unregularized baseline overfits: train - val gap (points)", 20, """
          Measured: gap 27.2 / 28.8 points (README, lesson 03). 20 leaves 7-9 points of margin and
          is still a large gap to shrink."""),
    _spec("03_regularization", "best_technique_shrinks_gap",
          "the best single technique ({best}) shrinks the gap (fraction)", 0.5, """
          Measured: augmentation, the best, shrinks it by 53 % / 60 %. "At least half" is the
          lesson's point; the margin is thin in PyTorch (0.53 vs 0.5) and the claims test
          would show a machine where it slips."""),
    _spec("03_regularization", "best_technique_improves_val",
          "the best single technique ({best}) improves val accuracy (points)", 5, """
          Measured: +11.7 / +15.0 points of validation accuracy. 5 is well above the 1-2 point
          seed-to-seed std, with 6-10 points of margin."""),
    _spec("03_regularization", "combination_within_noise",
          "augmentation + dropout vs {best}: val accuracy, mean paired difference over seeds "
          "(points; >= -2 standard errors)", None,
          """
          Measured (2026-12-05): mean paired difference -0.3 / -1.0 points (per seed -1.1,
          -1.4, +1.6 / -2.7, -2.1, +1.7), paired thresholds -1.9 / -2.8 (the old unpaired rule
          gave about -2.4 / -2.3 on the same table). The claim is "as good as the best alone,
          within the noise between seeds", so the threshold is that noise, measured on the same run
          (section 10). Both techniques train on the same split and from the same initial
          weights for each seed, so the comparison is paired: minus two standard errors of the
          mean of the per-seed differences, never closer to 0 than -1 point. (Was: two unpaired
          standard errors, -max(1, 2 * hypot(std_best, std_combo) / sqrt(n)), which counts the
          split-to-split variation both share twice.)""",
          threshold_rule="-max(1, 2 * std_diff / sqrt(n_seeds)) points, std_diff: std over "
          "seeds (ddof=1) of the per-seed difference, augmentation + dropout minus the best",
          rule_inputs=("std_diff", "n_seeds"), rule=_minus_noise_floor),
    _spec("03_regularization", "l1_sparser_than_l2",
          "L1 is sparser than L2: fraction of |w| < 1e-3, L1 minus L2, mean over seeds (points)",
          10, """
          Measured: 50 % vs 31 % / 43 % vs 21 % of weights below 1e-3 (19 / 22 points). 10 points
          is a clear difference in sparsity with about 9 points of margin."""),
    _spec("03_regularization", "l1_l2_similar_accuracy",
          "...at similar val accuracy: |L1 - L2| (points)", 5, """
          Measured: |73.0 - 72.3| = 0.7 / |73.3 - 72.1| = 1.2 points. "Similar" means within a
          few seed-to-seed standard deviations (1-2 points each), so 5.""", direction="<="),
    _spec("03_regularization", "l2sp_beats_l2_zero_equal_strength",
          "fine-tuning at K = {k_l2sp}, equal strength (the largest of the shared grid), BatchNorm "
          "left alone by both: L2-SP minus L2 toward zero, first seed's val accuracy (points)",
          20, """
          Restated (was l2sp_beats_l2_zero, >= 20: +70 / +49 points, L2 toward zero at 100x the
          lesson's L2 strength and pulling BatchNorm's scale and shift to zero as well). Now both
          pulls act on the backbone's conv kernels only and get alpha from one grid {0, 1e-3,
          1e-2, 1e-1}; chosen on validation, both pick alpha = 0 (no penalty) in both frameworks,
          so "L2-SP beats L2" does not hold at tuned strengths and is not claimed (the lesson
          says so). What holds is the equal-strength effect at alpha = 0.1: +64.3 / +44.3 points
          (validation 90.7 vs 26.4 / 74.3 vs 30.0).
          Measured on the first seed's grid only (the grid is not rerun per seed, to keep the
          cost); 20 points stays far below both and above any seed-to-seed noise of a
          20-way, 140-image validation set (a few points)."""),
    # --- 04_meta_learning
    _spec("04_meta_learning", "maml_mse_10_steps",
          "sinusoid K = {k_sinusoid}: MAML's MSE after 10 steps", 0.5, """
          Measured: 0.32 / 0.32 (another 2-core machine: 0.31 / 0.40); the MAML paper reports
          0.35. 0.5 leaves room for the CPU and thread count, which change these numbers, and is
          still far below the pretrained baseline (≈ 2).""", direction="<="),
    _spec("04_meta_learning", "maml_beats_pretrained_mse",
          "sinusoid K = {k_sinusoid}: pretrained / MAML MSE after 10 steps (times lower)", 3.0, """
          Measured: 6.3x / 6.5x lower (another machine: 6.5x / 5.3x). 3x is the paper's kind of
          gap with about half of it as margin."""),
    _spec("04_meta_learning", "protonet_accuracy_k_few",
          "glyphs {n_way}-way {k_few}-shot: prototypical network accuracy", 0.95, """
          Measured: 98.5 % / 98.5 % ± 0.3 (another machine: 98.2 / 98.6) on 600 test episodes.
          95 % leaves about 3 points, ten times the 95 % CI."""),
    _spec("04_meta_learning", "protonet_accuracy_k_more",
          "glyphs {n_way}-way {k_more}-shot: prototypical network accuracy", 0.98, """
          Measured: 99.7 % / 99.6 % ± 0.1 on 600 test episodes. 98 % leaves more than 1.5 points,
          over ten times the 95 % CI."""),
    # --- 05_multitask
    _spec("05_multitask", "multitask_gain_low_label",
          "low-label task ({k_new} labels per class): multi-task minus single-task "
          "accuracy (points)", 5.0, """
          Measured: +13.1 / +9.7 points (2026-12-05, PyTorch on 1 thread; other runs: +12.5 /
          +12.5, +14.3 / +9.6, +15.3 in PyTorch on 1 thread). 5 points is above the 3.0 / 3.1
          point std of the single-task runs, with about 5 points of margin below the lowest
          measurement (Keras) for thread counts and machines; threshold unchanged."""),
    # --- 06_capstone
    _spec("06_capstone", "close_transfer_gain",
          "close problem (K = {k_close}): the best strategy with pretraining beats "
          "training from scratch (points)", 5.0, """
          Measured: +13.0 / +11.0 points (2026-12-05, after the closeness measurement moved to
          leave-one-out on the training images; before: +11.4 / +10.6). The gain is a maximum
          over five strategies' test means, read after the fact: a report, not a choice. 5 leaves
          6-8 points of margin over the 1-3 point std of 3 seeds; threshold unchanged."""),
    _spec("06_capstone", "gain_shrinks_with_distance",
          "the gain from pretraining shrinks with the distance: close-problem gain minus "
          "far-problem gain (points)", 5.0, """
          Measured: 11.1 / 12.1 points (far problem: +1.9 / -1.0; before: 9.4 / 12.5). 5 points
          makes "shrinks" a clear difference, with 6-7 points of margin; threshold unchanged."""),
    _spec("06_capstone", "playbook_within_2_points",
          "the playbook's shortlist holds a strategy within 2 points of the best, on both "
          "problems (points behind, the worse of the two)", 2.0, """
          Measured: 0.0 / 0.0 points behind (the shortlist held the winner; the shortlist now
          comes from a closeness measured on the training labels only, leave-one-out, so no test
          label chose it). The best-of-shortlist is read on test after the fact; the playbook's
          first choice alone was 1.0 / 0.1 (close) and 0.0 / 1.0 (far) points behind, a metric,
          not claimed. 2 points is the claim's own meaning of "as good as the best": about one
          seed-to-seed std of the strategy table (0.3-3 points); threshold unchanged.""",
          direction="<="),
)  # fmt: skip


def _check_table(claims: tuple[ClaimSpec, ...]) -> None:
    seen: set[tuple[str, str]] = set()
    for spec in claims:
        key = (spec.lesson, spec.claim_id)
        if key in seen:
            raise ClaimTableError(f"claim {spec.lesson}/{spec.claim_id} appears twice.")
        seen.add(key)
        if not _ID_RE.match(spec.claim_id):
            raise ClaimTableError(f"claim id {spec.claim_id!r}: use lowercase, digits and '_'.")
        if spec.direction not in DIRECTIONS:
            raise ClaimTableError(f"claim {spec.claim_id}: direction {spec.direction!r}.")
        if spec.computed != (spec.rule is not None) or spec.computed != bool(spec.threshold_rule):
            raise ClaimTableError(
                f"claim {spec.claim_id}: a computed threshold (threshold=None) needs a rule and "
                "a threshold_rule, and a fixed one neither."
            )
        if not spec.why.strip() or not set(spec.modes) <= set(config.MODES):
            raise ClaimTableError(f"claim {spec.claim_id}: empty why or unknown mode.")


_check_table(CLAIMS)
_BY_KEY = {(c.lesson, c.claim_id): c for c in CLAIMS}


def lessons() -> list[str]:
    """The lessons that make claims, in order."""
    return sorted({c.lesson for c in CLAIMS})


def for_lesson(lesson: str, mode: str | None = None) -> list[ClaimSpec]:
    """The lesson's claims in table order; with ``mode``, only those made in that mode."""
    return [c for c in CLAIMS if c.lesson == lesson and (mode is None or mode in c.modes)]


def get(lesson: str, claim_id: str) -> ClaimSpec:
    """The table's entry for ``claim_id`` of ``lesson``; a clear error naming the known ids."""
    try:
        return _BY_KEY[(lesson, claim_id)]
    except KeyError:
        known = ", ".join(c.claim_id for c in for_lesson(lesson)) or "none"
        raise ClaimTableError(
            f"lesson {lesson!r} has no claim {claim_id!r} in course_lib/claims.py "
            f"(its claims: {known}). Add a ClaimSpec there, with the reason for its threshold."
        ) from None


def lesson_sizes(lesson: str, mode: str) -> Mapping[str, Any]:
    """The lesson's size knobs in ``mode``, or nothing for a lesson without a size table."""
    try:
        return config.sizes(lesson, mode)
    except (KeyError, ValueError):
        return {}


def find(lesson: str, statement: str, mode: str | None = None) -> list[ClaimSpec]:
    """The lesson's table entries whose statement template matches ``statement``.

    With ``mode``, size fields must equal that mode's sizes (e.g. ``K = 1`` for ``{k_few}``);
    fields only the run knows (``{best}``) match anything.
    """
    sizes = lesson_sizes(lesson, mode) if mode is not None else None
    return [c for c in for_lesson(lesson) if c.matches(statement, sizes)]


def _same_number(a: Any, b: Any) -> bool:
    try:
        return float(a) == float(b) or (math.isnan(float(a)) and math.isnan(float(b)))
    except (TypeError, ValueError):
        return False


def check_entry(lesson: str, mode: str, entry: Mapping[str, Any]) -> list[str]:
    """What is wrong with one claim of a results file, compared with the table ([] if nothing).

    ``entry`` is a claim as a results file stores it: ``statement``, ``threshold``, ``direction``,
    ``claim_id`` and, for a computed threshold, ``threshold_inputs``.
    """
    statement = entry.get("statement", "")
    claim_id = entry.get("claim_id")
    if not claim_id:
        return [f"{statement!r}: no claim_id — not a claim from course_lib/claims.py"]
    try:
        spec = get(lesson, claim_id)
    except ClaimTableError as err:
        return [str(err)]
    problems = []
    if mode not in spec.modes:
        problems.append(f"{claim_id}: made in mode {mode!r}, the table says {spec.modes}")
    if not spec.matches(statement, lesson_sizes(lesson, mode)):
        problems.append(
            f"{claim_id}: statement {statement!r} does not match the table's {spec.statement!r} "
            f"with the {mode} sizes"
        )
    direction = entry.get("direction", ">=")
    if direction != spec.direction:
        problems.append(f"{claim_id}: direction {direction!r}, the table says {spec.direction!r}")
    try:
        expected = spec.resolve_threshold(**(entry.get("threshold_inputs") or {}))
    except ClaimTableError as err:
        problems.append(str(err))
    else:
        if not _same_number(entry.get("threshold"), expected):
            problems.append(
                f"{claim_id}: threshold {entry.get('threshold')!r}, the table says {expected!r}"
                + (f" ({spec.threshold_rule})" if spec.computed else "")
            )
    return problems


def check_results(data: Mapping[str, Any]) -> list[str]:
    """Every mismatch between a results file's claims and the table, including table claims of
    that lesson and mode that the file lacks and claims it reports twice."""
    lesson, mode = data["lesson"], data["mode"]
    problems = [p for entry in data["claims"] for p in check_entry(lesson, mode, entry)]
    ids = [entry.get("claim_id") for entry in data["claims"] if entry.get("claim_id")]
    problems += [
        f"{i}: reported {ids.count(i)} times" for i in sorted(set(ids)) if ids.count(i) > 1
    ]
    problems += [
        f"{spec.claim_id}: in the table for {lesson} ({mode} mode) but not in the results file"
        for spec in for_lesson(lesson, mode)
        if spec.claim_id not in ids
    ]
    return problems


def explain(lesson: str | None = None) -> str:
    """Plain text: each claim (of ``lesson``, or of the course) with its threshold and why."""
    lines = []
    for spec in CLAIMS if lesson is None else for_lesson(lesson):
        modes = "" if spec.modes == ALL_MODES else f" [{', '.join(spec.modes)} only]"
        lines.append(f"{spec.lesson} {spec.claim_id}{modes}: {spec.statement}  "
                     f"{spec.threshold_text()}\n    why: {spec.why}")  # fmt: skip
    return "\n".join(lines)
