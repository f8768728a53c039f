"""The glyph dataset: alphabets, filtering, images, determinism, caching, split, argument checks.

Every test builds into a temporary cache directory (never the learner's cache). The first build of
the module (character list + 2 samples per character) takes about 10 s on 2 cores.
"""

from __future__ import annotations

import time
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from course_lib.data import glyphs
from course_lib.data.cache import cache_path
from course_lib.data.glyphs import (
    GlyphSplit,
    cache_key,
    catalogue,
    glyph_split,
    list_alphabets,
    load_glyphs,
    render,
)
from course_lib.data.types import LabelledImages

SPC = 2  # samples per character: enough for every check, fast to build


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory):
    mp = pytest.MonkeyPatch()
    path = tmp_path_factory.mktemp("glyph-cache")
    mp.setenv("COURSE_CACHE_DIR", str(path))
    yield path
    mp.undo()


@pytest.fixture(scope="module")
def data(cache_dir: Path) -> LabelledImages:
    return load_glyphs("smoke", samples_per_char=SPC, progress=False)


def _chars(data: LabelledImages) -> set[str]:
    return set(data.class_names)


# ---------------------------------------------------------------------------------------------
# Alphabets and characters
# ---------------------------------------------------------------------------------------------
def test_counts_match_the_omniglot_like_design(data: LabelledImages):
    sizes = np.bincount(data.class_groups, minlength=len(data.group_names))
    assert len(data.group_names) >= 40
    assert data.num_classes >= 1500
    assert sizes.min() >= glyphs.MIN_CHARS == 20
    assert sizes.max() <= glyphs.MAX_CHARS
    assert len(set(data.class_names)) == data.num_classes  # one class per character
    assert all(len(c) == 1 for c in data.class_names)
    assert list(data.group_names) == list_alphabets()
    for name in ("Latin", "Greek", "Cyrillic", "Arabic", "Canadian Syllabics", "Braille (6-dot)",
                 "Arrows", "Mathematical Operators"):
        assert name in data.group_names


def test_alphabets_hold_their_own_script(data: LabelledImages):
    def alphabet(ch: str) -> str:
        return data.group_names[data.class_groups[data.class_names.index(ch)]]

    assert alphabet("A") == "Latin" and alphabet("Ж") == "Cyrillic"
    assert alphabet("Ω") == "Greek" and alphabet("ب") == "Arabic"
    assert alphabet("→") == "Arrows" and alphabet("ᐁ") == "Canadian Syllabics"


def test_no_digits_marks_spaces_or_controls(data: LabelledImages):
    for ch in data.class_names:
        category = unicodedata.category(ch)
        assert category[0] not in "NMZC", f"{ch!r} ({unicodedata.name(ch, '?')}) is {category}"
        assert "DIGIT" not in unicodedata.name(ch, "")
    assert not _chars(data) & set("0123456789٠١٢٣٤٥٦٧٨٩①⑴⒈")


def test_no_accented_variants_or_unknown_code_points(data: LabelledImages):
    for ch in data.class_names:
        decomposition = unicodedata.decomposition(ch)
        assert not decomposition or decomposition.startswith("<"), ch
        assert unicodedata.name(ch, "") != "", f"unassigned code point U+{ord(ch):04X}"
    assert not _chars(data) & set("éÉüÜñÑåÅЙйЁё")


@pytest.mark.parametrize("group", [
    "AΑА", "BΒВ", "EΕЕ", "HΗН", "KΚК", "MΜМ", "OΟО0", "PΡР", "TΤТ", "XΧХ",  # cross-script
    "oοо", "aа", "cсϲ", "eе", "pрρ", "xх", "yу", "iі", "jј", "sѕ",  # lower-case cross-script
    "oO", "cC", "sS", "vV", "wW", "xX", "zZ", "lI|",  # within Latin, equal after normalization
    "ΣƩ∑", "ΠП∏",  # letters and operators
])
def test_no_look_alikes(data: LabelledImages, group: str):
    present = sorted(_chars(data) & set(group))
    names = [unicodedata.name(c) for c in present]
    assert len(present) <= 1, f"look-alikes kept together: {names}"


def test_no_two_classes_draw_the_same_glyph(data: LabelledImages):
    """Independent of the look-alike filter: bounding-box-normalized DejaVu Sans drawings."""
    cat = catalogue._catalog()
    fonts = [str(f) for f in cat["fonts"]]
    sans = fonts.index("DejaVuSans.ttf")
    renderer = render._Renderer(fonts, 64, 48)
    masks, chars = [], []
    for cp in cat["codepoints"][cat["char_fonts"][:, sans]]:
        img = renderer.render(int(cp), sans)
        if img is not None:
            masks.append((img >= 128).ravel())
            chars.append(chr(int(cp)))
    m = np.asarray(masks, dtype=np.float32)
    inter = m @ m.T
    area = m.sum(axis=1)
    iou = inter / np.maximum(area[:, None] + area[None, :] - inter, 1.0)
    np.fill_diagonal(iou, 0.0)
    assert len(chars) > 1000
    a, b = np.unravel_index(np.argmax(iou), iou.shape)
    assert iou[a, b] < 0.99, f"{chars[a]!r} and {chars[b]!r} draw the same glyph"


def test_character_list_is_deterministic(data: LabelledImages, monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))  # a cold rebuild, not a cache hit
    fresh = catalogue._catalog()
    assert (tmp_path / "data").is_dir()
    assert [chr(int(c)) for c in fresh["codepoints"]] == list(data.class_names)
    assert list(fresh["group_names"]) == list(data.group_names)


# ---------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------
def test_images_shapes_dtypes_and_range(data: LabelledImages):
    n = data.num_classes * SPC
    assert data.images.shape == (n, 28, 28) and data.images.dtype == np.float32
    assert data.labels.shape == (n,) and data.labels.dtype == np.int64
    assert data.class_groups.dtype == np.int64 and len(data.class_groups) == data.num_classes
    assert np.array_equal(data.labels, np.repeat(np.arange(data.num_classes), SPC))
    assert data.images.min() >= 0.0 and data.images.max() <= 1.0
    assert data.images.max(axis=(1, 2)).min() > 0.5  # every sample has clear ink (ink = 1)
    assert 0.05 < data.images.mean() < 0.35  # mostly background (0)


def test_glyphs_are_centred_and_not_clipped(data: LabelledImages):
    x = data.images
    border = np.concatenate([x[:, 0], x[:, -1], x[:, :, 0], x[:, :, -1]], axis=1)
    assert (border.max(axis=1) > 0.5).mean() < 0.01
    ys, xs = np.mgrid[:28, :28]
    mass = x.sum(axis=(1, 2))
    cy, cx = (x * ys).sum(axis=(1, 2)) / mass, (x * xs).sum(axis=(1, 2)) / mass
    assert abs(np.median(cy) - 13.5) < 2 and abs(np.median(cx) - 13.5) < 2


def test_samples_of_a_character_are_distorted_differently(data: LabelledImages):
    first, second = data.images[0::SPC], data.images[1::SPC]
    diff = np.abs(first - second).mean(axis=(1, 2))
    assert (diff > 0.01).mean() > 0.95


def test_other_image_sizes(cache_dir: Path):
    small = load_glyphs("smoke", samples_per_char=1, image_size=16, progress=False)
    assert small.images.shape[1:] == (16, 16) and small.images.max(axis=(1, 2)).min() > 0.3


# ---------------------------------------------------------------------------------------------
# Determinism and caching
# ---------------------------------------------------------------------------------------------
def test_cache_hit_is_fast_and_identical(data: LabelledImages, cache_dir: Path):
    assert list((cache_dir / "data").glob("glyphs-*.npz"))
    start = time.perf_counter()
    again = load_glyphs("smoke", samples_per_char=SPC, progress=False)
    assert time.perf_counter() - start < 2.0
    assert np.array_equal(again.images, data.images) and np.array_equal(again.labels, data.labels)
    from course_lib import data as data_pkg

    via_registry = data_pkg.load_dataset("glyphs", mode="smoke", samples_per_char=SPC,
                                         progress=False)
    assert np.array_equal(via_registry.images, data.images)


def test_same_seed_rebuilds_byte_identical(data: LabelledImages, cache_dir: Path):
    for path in (cache_dir / "data").glob("glyphs-*.npz"):
        path.unlink()  # force a rebuild of the images (the character list stays cached)
    rebuilt = load_glyphs("smoke", samples_per_char=SPC, progress=False)
    assert rebuilt.images.tobytes() == data.images.tobytes()
    assert np.array_equal(rebuilt.labels, data.labels)


def test_other_seed_gives_other_samples(data: LabelledImages):
    other = load_glyphs("smoke", samples_per_char=SPC, seed=1, progress=False)
    assert other.class_names == data.class_names
    assert not np.array_equal(other.images, data.images)


def test_damaged_cache_is_reported_and_rebuilt(data: LabelledImages, cache_dir: Path):
    load_glyphs("smoke", samples_per_char=SPC, progress=False)  # make sure the file exists
    path = cache_path("glyphs", cache_key._image_params(catalogue._catalog(), SPC, 28, 0))
    assert path.parent.parent == cache_dir and path.is_file()
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    with pytest.warns(UserWarning, match="damaged"):
        rebuilt = load_glyphs("smoke", samples_per_char=SPC, progress=False)
    assert rebuilt.images.tobytes() == data.images.tobytes()
    assert path.stat().st_size == size


# ---------------------------------------------------------------------------------------------
# Source / target split
# ---------------------------------------------------------------------------------------------
def test_split_is_disjoint_complete_and_deterministic(data: LabelledImages):
    split = glyph_split(data)
    assert isinstance(split, GlyphSplit)
    assert not set(split.source) & set(split.target)
    assert sorted(split.source + split.target) == sorted(data.group_names)
    assert split == glyph_split(data) == glyph_split()
    source, target = split  # unpacks
    assert 0.15 < len(target) / len(data.group_names) < 0.35
    kinds = dict(zip(catalogue._catalog()["group_names"], catalogue._catalog()["group_kinds"],
                     strict=True))
    for side in (source, target):  # both sides mix scripts and symbol blocks
        assert {int(kinds[n]) for n in side} == {0, 1}
    assert glyph_split(data, seed=1) != split


def test_split_keeps_families_together(cache_dir: Path):
    for seed in range(5):
        split = glyph_split(seed=seed)
        for family in (("Latin", "IPA", "Math Fraktur"),
                       ("Georgian (Mkhedruli)", "Georgian (Asomtavruli)", "Georgian (Nuskhuri)"),
                       ("Cyrillic", "Old Cyrillic"), ("Arrows", "Supplemental Arrows-B")):
            sides = {name in split.target for name in family}
            assert len(sides) == 1, (seed, family)


def test_split_of_a_subset(data: LabelledImages):
    subset = data.select_groups(["Latin", "Greek", "Arrows", "Box Drawing"])
    split = glyph_split(subset, target_fraction=0.5)
    assert sorted(split.source + split.target) == sorted(subset.group_names)
    assert split.source and split.target
    pretrain = data.select_groups(list(split.source))
    assert set(pretrain.class_names) <= set(data.class_names)


# ---------------------------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("kwargs", "match"), [
    ({"samples_per_char": 0}, "samples_per_char must be between 1 and"),
    ({"samples_per_char": -3}, "samples_per_char"),
    ({"samples_per_char": 2.5}, "samples_per_char must be an integer"),
    ({"samples_per_char": True}, "samples_per_char must be an integer"),
    ({"image_size": 8}, "image_size must be between 16 and 64"),
    ({"image_size": 200}, "image_size must be between 16 and 64"),
    ({"image_size": "28"}, "image_size must be an integer"),
    ({"seed": -1}, "seed must be at least 0"),
    ({"mode": "fast"}, "Unknown mode"),
])
def test_bad_arguments_raise_helpful_errors(cache_dir: Path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_glyphs(progress=False, **kwargs)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"target_fraction": 0.0}, "strictly between 0 and 1"),
    ({"target_fraction": 1.0}, "strictly between 0 and 1"),
    ({"target_fraction": "half"}, "must be a number"),
    ({"seed": -2}, "seed"),
    ({"data": np.zeros((3, 28, 28))}, "LabelledImages"),
])
def test_bad_split_arguments(cache_dir: Path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        glyph_split(**kwargs)
