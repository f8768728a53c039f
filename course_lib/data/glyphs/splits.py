"""``glyph_split``: alphabet-disjoint source and target sides that keep each family together."""

from __future__ import annotations

import math
from dataclasses import dataclass

from course_lib import config
from course_lib.data.glyphs.catalogue import _catalog, list_alphabets
from course_lib.data.glyphs.dataset import _check_int
from course_lib.data.types import LabelledImages


@dataclass(frozen=True)
class GlyphSplit:
    """Alphabet-disjoint split: ``source`` alphabets to pretrain on, held-out ``target`` ones."""

    source: tuple[str, ...]
    target: tuple[str, ...]

    def __iter__(self):  # allows ``source, target = glyph_split()``
        return iter((self.source, self.target))


def glyph_split(
    data: LabelledImages | None = None, *, target_fraction: float = 0.25, seed: int = 0
) -> GlyphSplit:
    """Split the alphabets of ``data`` (default: all glyph alphabets) into source and target.

    About ``target_fraction`` of the letter alphabets and, separately, of the symbol alphabets are
    held out as the target, so both sides mix scripts and symbol blocks. Related alphabets (one
    family: Latin, IPA and the mathematical letters; the three Georgian scripts; the arrow
    blocks; ...) always land on the same side. Deterministic for a given ``seed``.
    """
    if isinstance(target_fraction, bool) or not isinstance(target_fraction, int | float):
        raise ValueError(
            f"target_fraction must be a number, got {target_fraction!r}. "
            "Example: glyph_split(target_fraction=0.25)."
        )
    if not 0.0 < float(target_fraction) < 1.0:
        raise ValueError(
            f"target_fraction must be strictly between 0 and 1, got "
            f"{target_fraction}. Example: glyph_split(target_fraction=0.25)."
        )
    seed = _check_int("seed", seed, 0, None, "Example: glyph_split(seed=0).")
    if data is None:
        names = list_alphabets()
    elif isinstance(data, LabelledImages):
        names = [str(g) for g in data.group_names]
    else:
        raise ValueError(
            f"data must be a LabelledImages from load_glyphs() or None, got {type(data).__name__}."
        )
    if len(set(names)) != len(names) or len(names) < 2:
        raise ValueError(f"Need at least two distinct alphabet names to split, got {names!r}.")
    cat = _catalog()
    known = {
        str(n): (int(k), str(f))
        for n, k, f in zip(
            cat["group_names"], cat["group_kinds"], cat["group_families"], strict=True
        )
    }
    info = {n: known.get(n, (0, n)) for n in names}  # unknown names: a family of their own

    r = config.rng(seed)
    target: set[str] = set()
    for kind in (0, 1):
        members = [n for n in names if info[n][0] == kind]
        if not members:
            continue
        families: dict[str, list[str]] = {}
        for n in members:
            families.setdefault(info[n][1], []).append(n)
        want = max(1, math.floor(target_fraction * len(members) + 0.5))
        chosen: list[str] = []
        for i in r.permutation(len(families)):
            family = list(families)[i]
            if len(chosen) + len(families[family]) <= want:
                chosen += families[family]
        if not chosen and len(families) > 1:  # every family too large: take the smallest
            chosen = min(families.values(), key=len)
        target.update(chosen)
    if not target:
        target.add(names[-1])
    if len(target) == len(names):
        raise ValueError(
            f"target_fraction={target_fraction} leaves no source alphabet for "
            f"{len(names)} alphabets; use a smaller value."
        )
    return GlyphSplit(
        source=tuple(n for n in names if n not in target),
        target=tuple(n for n in names if n in target),
    )
