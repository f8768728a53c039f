"""The character catalogue: which characters of which alphabets the glyph set holds (cached).

Every code point the fonts draw is sorted into an alphabet by the Unicode rules; alphabets are
visited in look-alike priority order, look-alikes of kept characters are dropped, at most
:data:`MAX_CHARS` characters are kept per alphabet and alphabets with fewer than
:data:`MIN_CHARS` are dropped. The result is built once and cached.
"""

from __future__ import annotations

import unicodedata

import numpy as np

from course_lib.data.cache import cache_path, cached_arrays
from course_lib.data.glyphs.cache_key import GLYPHS_VERSION, _code_digest, _versions
from course_lib.data.glyphs.lookalikes import _Bank, _is_duplicate, _Shape
from course_lib.data.glyphs.progress import _progress
from course_lib.data.glyphs.render import _FIT, _FONTS, _REF, _font_dir, _read_cmaps, _Renderer
from course_lib.data.glyphs.unicode_rules import _alphabet_of, _AlphabetKey

MIN_CHARS = 20  # alphabets with fewer characters after filtering are dropped
MAX_CHARS = 55  # Omniglot's largest alphabet has 55 characters


def _build_catalog(progress: bool) -> dict[str, np.ndarray]:
    fonts = [name for name, _, _ in _FONTS if (_font_dir() / name).is_file()]
    is_regular = {name: regular for name, _, regular in _FONTS}
    regular = [i for i, name in enumerate(fonts) if is_regular[name]]
    cmaps = _read_cmaps(fonts)
    members: dict[_AlphabetKey, list[int]] = {}
    for cp in sorted(set().union(*cmaps.values())):
        alphabet = _alphabet_of(cp)
        if alphabet is not None:
            members.setdefault(alphabet, []).append(cp)
    order = sorted(members)
    renderer = _Renderer(fonts, _REF, _FIT)

    banks = {f: _Bank() for f in range(len(fonts))}
    shapes: dict[int, dict[int, _Shape]] = {}  # kept char -> reference font -> shape
    kept: list[tuple[int, int, list[int]]] = []  # (code point, alphabet index, fonts)
    chosen: list[_AlphabetKey] = []
    bar = _progress(len(order), "glyphs: choosing characters", "alphabet", progress)
    for alphabet in order:
        # base letters first (no decomposition), then the rest in code point order
        candidates = sorted(
            members[alphabet], key=lambda cp: (unicodedata.decomposition(chr(cp)) != "", cp)
        )
        mine: list[tuple[int, list[int]]] = []
        for cp in candidates:
            if len(mine) >= MAX_CHARS:
                break
            has = [f for f in range(len(fonts)) if cp in cmaps[fonts[f]]]
            refs = [f for f in has if f in regular] or has[:1]
            cand = {}
            for f in refs:
                img = renderer.render(cp, f)
                if img is not None:
                    cand[f] = _Shape(img)
            if not cand or _is_duplicate(cand, banks, shapes):
                continue
            owner = len(kept) + len(mine)
            shapes[owner] = cand
            for f, shape in cand.items():
                banks[f].add(owner, shape)
            # fonts that map the code point; regular faces only if they really drew it (the other
            # faces are checked when the samples are drawn)
            mine.append((cp, [f for f in has if f in cand or f not in refs]))
        bar.update(1)
        if len(mine) < MIN_CHARS:
            gone = set(range(len(kept), len(kept) + len(mine)))
            for bank in banks.values():
                bank.drop(gone)
            for owner in gone:
                shapes.pop(owner)
            continue
        for cp, has in mine:
            kept.append((cp, len(chosen), has))
        chosen.append(alphabet)
    bar.close()

    # Present the alphabets family by family (main alphabet first), not in look-alike priority.
    shown = sorted(
        range(len(chosen)),
        key=lambda i: (chosen[i].kind, chosen[i].rank, chosen[i].family, chosen[i].part),
    )
    new_index = {old: new for new, old in enumerate(shown)}
    kept = sorted(((cp, new_index[g], has) for cp, g, has in kept), key=lambda k: (k[1], k[0]))
    chosen = [chosen[i] for i in shown]
    char_fonts = np.zeros((len(kept), len(fonts)), dtype=bool)
    for c, (_, _, has) in enumerate(kept):
        char_fonts[c, has] = True
    return {
        "codepoints": np.array([cp for cp, _, _ in kept], dtype=np.int32),
        "groups": np.array([g for _, g, _ in kept], dtype=np.int32),
        "group_names": np.array([a.name for a in chosen], dtype=str),
        "group_families": np.array([a.family for a in chosen], dtype=str),
        "group_kinds": np.array([a.kind for a in chosen], dtype=np.int8),
        "fonts": np.array(fonts, dtype=str),
        "char_fonts": char_fonts,
    }


_CATALOG_MEMO: dict[str, dict[str, np.ndarray]] = {}


def _catalog(progress: bool = False) -> dict[str, np.ndarray]:
    params = {"version": GLYPHS_VERSION, "code": _code_digest(), **_versions()}
    key = str(cache_path("glyph-catalog", params))
    if key not in _CATALOG_MEMO:
        _CATALOG_MEMO[key] = cached_arrays(
            "glyph-catalog", params, lambda: _build_catalog(progress)
        )
    return _CATALOG_MEMO[key]


def list_alphabets() -> list[str]:
    """The names of the glyph alphabets, in their fixed order (scripts first, then symbol blocks).

    The first call chooses the characters (a few seconds) and caches the list.
    """
    return [str(n) for n in _catalog()["group_names"]]
