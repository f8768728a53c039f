"""The course's claims table (course_lib/claims.py) and the lessons' use of it, without running a
notebook: the table is consistent, every claim a lesson source names exists in it, every entry is
used by both frameworks of its lesson, and LessonResults records claims from it."""

import json
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

from course_lib import claims, config
from course_lib.results import STRICT_CLAIMS_ENV, LessonResults

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
SOURCES = NOTEBOOKS / "src"
LESSON_IDS = sorted(
    {p.stem for p in SOURCES.glob("[0-9][0-9]_*.md")}
    | {re.sub(r"_(pytorch|keras)$", "", p.stem) for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")}
)
FRAMEWORK_TAGS = {"torch": "pytorch", "keras": "keras"}
USE_RE = re.compile(r"""claim_from_table\(\s*["']([a-z0-9_]+)["']""")
FREE_FORM_RE = re.compile(r"\bresults\.claim\(")


@pytest.fixture
def build(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_BUILD_DIR", str(tmp_path))
    monkeypatch.delenv(STRICT_CLAIMS_ENV, raising=False)
    return tmp_path


# ------------------------------------------------------------------------------------- the table
def test_the_lessons_are_found():
    assert [lesson[:2] for lesson in LESSON_IDS] == [f"{n:02d}" for n in range(7)], LESSON_IDS


def test_claim_ids_are_unique_and_well_formed():
    keys = [(c.lesson, c.claim_id) for c in claims.CLAIMS]
    assert len(keys) == len(set(keys))
    ids = [c.claim_id for c in claims.CLAIMS]
    assert len(ids) == len(set(ids)), "claim ids are unique across the course, too"
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", i) for i in ids), ids


@pytest.mark.parametrize("lesson", LESSON_IDS)
def test_every_lesson_makes_a_claim_in_teaching_mode(lesson):
    assert claims.for_lesson(lesson, "teaching"), f"{lesson} has no claim in the table"


@pytest.mark.parametrize("spec", claims.CLAIMS, ids=lambda c: f"{c.lesson}-{c.claim_id}")
def test_each_entry_is_complete(spec):
    assert spec.lesson in LESSON_IDS
    assert spec.direction in (">=", "<=")
    assert len(spec.why) >= 40 and spec.why == " ".join(spec.why.split()), spec.why
    assert spec.statement and spec.statement == spec.statement.strip()
    assert spec.modes and set(spec.modes) <= set(config.MODES)
    if spec.computed:
        assert spec.rule is not None and spec.threshold_rule and spec.rule_inputs
    else:
        assert isinstance(spec.threshold, float) and np.isfinite(spec.threshold)
        assert spec.rule is None and not spec.threshold_rule and not spec.rule_inputs
    # a template field is a size knob of the lesson in every mode it is made in, or one of the
    # few values only the run knows
    for mode in spec.modes:
        sizes = config.sizes(spec.lesson, mode)
        assert set(spec.fields) - set(sizes) <= {"best"}, (mode, spec.fields)


@pytest.mark.parametrize("lesson", LESSON_IDS)
@pytest.mark.parametrize("mode", config.MODES)
def test_statements_of_a_lesson_differ_once_formatted(lesson, mode):
    sizes = config.sizes(lesson, mode)
    specs = claims.for_lesson(lesson, mode)
    formatted = [s.format_statement(**{**sizes, "best": "augmentation"}) for s in specs]
    assert len(formatted) == len(set(formatted)), formatted
    for spec, statement in zip(specs, formatted, strict=True):
        assert claims.find(lesson, statement, mode) == [spec]


def test_the_computed_threshold_is_lesson_03s_paired_noise_expression():
    spec = claims.get("03_regularization", "combination_within_noise")
    differences = np.array([-0.4, -2.9, 1.1])  # per-seed paired differences, points
    std_diff, n_seeds = float(differences.std(ddof=1)), len(differences)
    noise = max(1.0, 2 * std_diff / np.sqrt(n_seeds))  # as in the lesson
    assert spec.resolve_threshold(std_diff=std_diff, n_seeds=n_seeds) == pytest.approx(-noise)
    assert -noise < -1.0  # this example is above the 1-point floor
    assert spec.resolve_threshold(std_diff=0.1, n_seeds=3) == -1.0
    assert spec.resolve_threshold(std_diff=0.0, n_seeds=1) == -1.0  # one seed: the floor
    with pytest.raises(claims.ClaimTableError, match="computed"):
        spec.resolve_threshold(std_diff=1.0)
    with pytest.raises(claims.ClaimTableError, match="computed"):
        spec.resolve_threshold(std_best=1.0, std_combo=1.0, n_seeds=3)  # the old, unpaired inputs
    with pytest.raises(claims.ClaimTableError, match="fixed threshold"):
        claims.get("00_setup", "glyph_alphabets").resolve_threshold(n_seeds=3)


def test_unknown_claims_are_clear_errors():
    with pytest.raises(claims.ClaimTableError, match="glyph_alphabets"):
        claims.get("00_setup", "no_such_claim")
    assert "why:" in claims.explain("02_finetune")
    assert "careful_beats_scratch_k_few" in claims.explain()


# ------------------------------------------------------------------------ the lessons use it
def _framework_sources(lesson):
    """framework -> the code of that framework's notebook, from notebooks/src/<lesson>.md if it
    exists (shared cells + the cells tagged for the framework), else from the .ipynb."""
    source = SOURCES / f"{lesson}.md"
    if source.exists():
        import jupytext

        nb = jupytext.read(source, fmt="md:myst")
        out = {}
        for fw, tag in FRAMEWORK_TAGS.items():
            others = set(FRAMEWORK_TAGS.values()) - {tag}
            out[fw] = "\n".join(
                c.source
                for c in nb.cells
                if c.cell_type == "code" and not others & set(c.metadata.get("tags", []))
            )
        return out
    return {
        fw: "\n".join(
            c.source
            for c in nbformat.read(NOTEBOOKS / f"{lesson}_{tag}.ipynb", 4).cells
            if c.cell_type == "code"
        )
        for fw, tag in FRAMEWORK_TAGS.items()
    }


@pytest.mark.parametrize("lesson", LESSON_IDS)
def test_each_lesson_reads_exactly_its_claims_from_the_table(lesson):
    table = {c.claim_id for c in claims.for_lesson(lesson)}
    for fw, code in _framework_sources(lesson).items():
        used = USE_RE.findall(code)
        unknown = sorted(set(used) - table)
        unused = sorted(table - set(used))
        assert not unknown, f"{lesson} ({fw}) names claims not in course_lib/claims.py: {unknown}"
        assert not unused, f"{lesson} ({fw}) does not make these claims of the table: {unused}"
        assert len(used) == len(set(used)), f"{lesson} ({fw}) makes a claim twice: {used}"
        free = FREE_FORM_RE.findall(code)
        assert not free, f"{lesson} ({fw}) makes {len(free)} free-form claim(s): use the table"


# ---------------------------------------------------------------- LessonResults and the table
def test_claim_from_table_formats_the_statement_with_the_lessons_sizes(build):
    r = LessonResults("01_transfer", "torch", mode="teaching")
    S = config.sizes("01_transfer", "teaching")
    claim = r.claim_from_table("probe_beats_scratch_k_few", 26.1)
    assert claim.statement == (
        f"linear probe beats scratch at K = {S.k_few} (points, mean of {S.seeds} seeds)"
    )
    assert (claim.threshold, claim.direction, claim.holds) == (15.0, ">=", True)
    entry = json.loads(r.save().read_text())["claims"][0]
    assert entry["claim_id"] == "probe_beats_scratch_k_few" and entry["threshold"] == 15.0
    assert "threshold_inputs" not in entry


def test_claim_from_table_with_run_values_and_a_computed_threshold(build):
    r = LessonResults("03_regularization", "keras", mode="smoke")
    r.claim_from_table("best_technique_shrinks_gap", 0.6, best="augmentation")
    claim = r.claim_from_table(
        "combination_within_noise", -0.9, best="augmentation", std_diff=2.0, n_seeds=3
    )
    assert claim.statement == (
        "augmentation + dropout vs augmentation: val accuracy, mean paired difference over seeds "
        "(points; >= -2 standard errors)"
    )
    assert claim.threshold == pytest.approx(-max(1.0, 2 * 2.0 / np.sqrt(3)))
    data = json.loads(r.save().read_text())
    assert data["claims"][1]["threshold_inputs"] == {"std_diff": 2.0, "n_seeds": 3}
    assert not [p for p in claims.check_results(data) if "combination" in p or "shrinks" in p]
    with pytest.raises(claims.ClaimTableError, match="best"):
        r.claim_from_table("best_technique_improves_val", 12.0)
    with pytest.raises(claims.ClaimTableError, match="missing"):
        r.claim_from_table("combination_within_noise", -0.9, best="x", std_diff=1.0)
    with pytest.raises(claims.ClaimTableError, match="unexpected"):
        r.claim_from_table("baseline_overfits", 27.0, std_diff=1.0)


def test_recording_a_claim_again_replaces_it(build):
    r = LessonResults("05_multitask", "torch", mode="smoke")
    r.claim_from_table("multitask_gain_low_label", 1.0)
    r.claim_from_table("multitask_gain_low_label", 12.5)
    assert [c.value for c in r.claims] == [12.5]


def test_a_claim_of_another_mode_or_lesson_is_refused(build):
    r = LessonResults("01_transfer", "torch", mode="teaching")
    with pytest.raises(claims.ClaimTableError, match="full"):
        r.claim_from_table("imagenet_probe_beats_scratch", 20.0)
    with pytest.raises(claims.ClaimTableError, match="no claim"):
        r.claim_from_table("careful_beats_scratch_k_few", 20.0)  # lesson 02's


def test_free_form_claims_stay_for_exercises_but_not_with_another_threshold(build, monkeypatch):
    r = LessonResults("02_finetune", "torch", mode="teaching")
    assert r.claim("my own experiment (points)", 3.0, 2).claim_id is None
    same = r.claim("best careful recipe beats scratch at K = 1 (points)", 26.6, 10)
    assert same.claim_id == "careful_beats_scratch_k_few"
    with pytest.raises(claims.ClaimTableError, match=r"careful_beats_scratch_k_few.*>= 10"):
        r.claim("best careful recipe beats scratch at K = 1 (points)", 26.6, 5)
    with pytest.raises(claims.ClaimTableError, match="<= 10"):
        r.claim("best careful recipe beats scratch at K = 1 (points)", 26.6, 10, direction="<=")
    monkeypatch.setenv(STRICT_CLAIMS_ENV, "1")
    with pytest.raises(claims.ClaimTableError, match=STRICT_CLAIMS_ENV):
        r.claim("my own experiment (points)", 3.0, 2)
    assert r.claim("best careful recipe beats scratch at K = 1 (points)", 26.6, 10).claim_id


def test_check_results_reports_every_difference_from_the_table(build):
    r = LessonResults("00_setup", "torch", mode="teaching")
    for spec in claims.for_lesson("00_setup"):
        r.claim_from_table(spec.claim_id, 1.0)
    data = json.loads(r.save().read_text())
    assert claims.check_results(data) == []
    entries = data["claims"]
    entries[0] = {**entries[0], "threshold": 30.0}
    entries[1] = {**entries[1], "statement": "glyph set: number of characters, roughly"}
    entries[2] = {**entries[2], "direction": "<="}
    del entries[3]
    entries.append({"statement": "something else", "value": 1, "threshold": 0, "holds": True})
    problems = "\n".join(claims.check_results(data))
    assert "glyph_alphabets: threshold 30.0, the table says 40.0" in problems
    assert "glyph_characters: statement" in problems
    assert "same_seed_same_weights: direction" in problems
    assert "digits_cnn_val_accuracy: in the table" in problems
    assert "'something else': no claim_id" in problems
