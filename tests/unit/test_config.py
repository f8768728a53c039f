import re
import time

import numpy as np
import pytest

from course_lib import config
from course_lib.errors import CacheError, ModeError, UnknownNameError


def test_resolve_mode_default_env_and_argument(monkeypatch):
    monkeypatch.delenv("COURSE_MODE", raising=False)
    assert config.resolve_mode() == "teaching"
    monkeypatch.setenv("COURSE_MODE", "Smoke ")
    assert config.resolve_mode() == "smoke"
    assert config.resolve_mode("full") == "full"  # the argument wins over the environment


@pytest.mark.parametrize("bad", ["fast", "", "teach", 3])
def test_unknown_mode_names_the_valid_ones(bad):
    with pytest.raises(ModeError, match="smoke, teaching, full"):
        config.resolve_mode(bad)


def test_bad_mode_from_environment_says_where_it_came_from(monkeypatch):
    monkeypatch.setenv("COURSE_MODE", "turbo")
    with pytest.raises(ModeError, match=r"\$COURSE_MODE"):
        config.resolve_mode()


def test_every_lesson_has_the_same_knobs_in_every_mode():
    for lesson, table in config.SIZES.items():
        assert set(table) == set(config.MODES), lesson
        knobs = {mode: set(values) for mode, values in table.items()}
        assert len({frozenset(k) for k in knobs.values()}) == 1, f"{lesson}: {knobs}"


# Label budgets in the size table are k_<role> (the comment above SIZES in course_lib/config.py):
# k_few / k_more / k_most for a lesson's increasing budgets side by side, k_<what> for the budget of
# one part of a lesson and k_<what>_more for a second, larger one of that part.
BUDGET_OWNERS = ("demo", "digits", "imagenet", "fashion", "mlp", "l2sp", "sinusoid", "new",
                 "source", "close", "far")  # fmt: skip
LABEL_BUDGET_RE = re.compile(rf"^k_(?:few|more|most|(?:{'|'.join(BUDGET_OWNERS)})(?:_more)?)$")
# A knob that looks like a label budget: it starts with "k", or one of its snake_case parts is "k"
# or "k<digits>" (digits_k, imagenet_k1, k2, new_k).
LOOKS_LIKE_A_BUDGET_RE = re.compile(r"^k|(?:^|_)k\d*(?:_|$)")


@pytest.mark.parametrize("old", ["k", "k1", "k3", "k_low", "k_high", "k_many", "k_shot",
                                 "digits_k", "digits_k1", "imagenet_k", "l2sp_k", "new_k",
                                 "source_k", "k_digits2", "k_more_digits"])  # fmt: skip
def test_the_budget_scheme_rejects_the_old_names(old):
    assert LOOKS_LIKE_A_BUDGET_RE.search(old) and not LABEL_BUDGET_RE.match(old)


def test_every_label_budget_knob_follows_the_naming_scheme():
    bad = sorted(
        (lesson, knob)
        for lesson, table in config.SIZES.items()
        for values in table.values()
        for knob in values
        if LOOKS_LIKE_A_BUDGET_RE.search(knob) and not LABEL_BUDGET_RE.match(knob)
    )
    assert not bad, (
        f"label-budget knobs outside the k_<role> scheme: {sorted(set(bad))}; name them k_few / "
        "k_more / k_most (a lesson's budgets side by side), k_<what> or k_<what>_more (add a new "
        "<what> to BUDGET_OWNERS and to the comment above SIZES in course_lib/config.py)"
    )
    assert config.sizes("02_finetune", "teaching").k_more == 5  # the scheme is in use


def test_sizes_attribute_and_item_access():
    s = config.sizes("00_setup", "smoke")
    assert s.grid_chars == s["grid_chars"] == config.SIZES["00_setup"]["smoke"]["grid_chars"]
    assert "grid_chars" in repr(s)
    with pytest.raises(UnknownNameError, match="known knobs"):
        _ = s.no_such_knob
    with pytest.raises(UnknownNameError, match="00_setup"):
        config.sizes("99_nothing", "smoke")


def test_smoke_is_never_bigger_than_teaching():
    for lesson, table in config.SIZES.items():
        for knob, value in table["smoke"].items():
            if isinstance(value, tuple):  # a grid or a list of layers: smoke runs part of it
                assert set(value) <= set(table["teaching"][knob]), (lesson, knob)
            else:
                assert value <= table["teaching"][knob], (lesson, knob)


def test_seed_everything_makes_numpy_and_python_repeat():
    import random

    config.seed_everything(7)
    a = (random.random(), np.random.rand())
    config.seed_everything(7)
    assert (random.random(), np.random.rand()) == a


def test_seed_everything_seeds_loaded_frameworks():
    import keras
    import torch

    config.seed_everything(3)
    t, k = torch.randn(4), keras.random.normal((4,)).numpy()
    config.seed_everything(3)
    assert torch.equal(t, torch.randn(4))
    assert np.array_equal(k, keras.random.normal((4,)).numpy())


@pytest.mark.parametrize("bad", [-1, 1.5, "0", True])
def test_seed_everything_rejects_bad_seeds(bad):
    with pytest.raises(ValueError, match="non-negative integer"):
        config.seed_everything(bad)


def test_cache_dir_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "c"))
    assert config.cache_dir() == tmp_path / "c"
    assert (tmp_path / "c").is_dir()


def test_unwritable_cache_dir_is_a_clear_error(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("COURSE_CACHE_DIR", str(blocker / "cache"))
    with pytest.raises(CacheError, match="COURSE_CACHE_DIR"):
        config.cache_dir()


def test_build_dir_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_BUILD_DIR", str(tmp_path))
    assert config.build_dir() == tmp_path


def test_is_online_answers_within_two_seconds():
    start = time.perf_counter()
    answer = config.is_online(timeout=2.0, refresh=True)
    assert isinstance(answer, bool)
    assert time.perf_counter() - start < 2.5


def test_is_online_can_be_forced_offline(monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    assert config.is_online(refresh=True) is False


def test_course_folder_finds_checkout_folders_and_explains_a_missing_one():
    from course_lib.errors import CourseError

    assert config.course_folder("notebooks").name == "notebooks"
    assert config.course_folder("exercises").is_dir()
    with pytest.raises(CourseError, match="Cannot find the course's lessons/ folder"):
        config.course_folder("lessons")
