"""An Omniglot-like dataset rendered from the fonts that ship inside matplotlib.

Alphabets are Unicode scripts (Latin, Greek, Cyrillic, Georgian, Arabic, Canadian Syllabics, ...)
and symbol blocks (arrows, mathematical operators, APL, Braille, ...) that the DejaVu, STIX and
Computer Modern fonts really draw. Each sample is one character drawn by a random font (the
"drawer") with a random rotation, scale, shear, shift and stroke width.

How the characters are chosen (once, then cached; see :func:`list_alphabets`):

* only code points a font maps to a real glyph (cmap entry, some ink, not the missing-glyph box);
* no digits or other numbers (Unicode category ``N*``: digits are a separate target domain), no
  combining marks, spaces, controls, punctuation or modifier letters; no accented or pointed
  variants (canonical decompositions such as "é"), ligatures and other several-letter symbols
  ("ĳ", "℠"), or bold/heavy/wide variants (the stroke-width distortion already covers weight);
* no look-alikes: every glyph is normalized to its bounding box (as in the samples), and a
  character whose outline lies within a few pixels of an already kept character's, in the regular
  fonts both have, is dropped. Alphabets are visited in a fixed priority order (the main alphabets
  Latin, Greek, Cyrillic, ... first), so Latin "A" is kept and Greek "Α" and Cyrillic "А" are
  dropped; within an alphabet the first by code point wins ("O" is kept, "o" dropped);
* at most :data:`MAX_CHARS` characters per alphabet (base letters first, then code point order),
  and only alphabets with at least :data:`MIN_CHARS` characters.

Related alphabets form a family (Latin, IPA and the mathematical letter styles; the three
Georgian scripts; the arrow blocks; ...): :func:`glyph_split` keeps a family on one side.

Rendering: each character is drawn once per font with FreeType (Pillow) at high resolution,
cropped to its ink and centred; all distortions then run vectorized in NumPy (inverse affine map,
bilinear sampling at twice the output size, 2x2 average pooling).
"""

from __future__ import annotations

import logging
import math
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from course_lib import config
from course_lib.data.cache import cache_path, cached_arrays
from course_lib.data.types import LabelledImages

__all__ = ["MAX_CHARS", "MIN_CHARS", "GlyphSplit", "glyph_split", "list_alphabets", "load_glyphs"]

GLYPHS_VERSION = 1
MIN_CHARS = 20  # alphabets with fewer characters after filtering are dropped
MAX_CHARS = 55  # Omniglot's largest alphabet has 55 characters
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 16, 64
MAX_SAMPLES_PER_CHAR = 1000

# (file in matplotlib's fonts/ttf, short name, used for the look-alike check). The regular face of
# each family decides look-alikes; every listed face draws samples.
_FONTS: tuple[tuple[str, str, bool], ...] = (
    ("DejaVuSans.ttf", "DejaVu Sans", True),
    ("DejaVuSans-Bold.ttf", "DejaVu Sans Bold", False),
    ("DejaVuSans-Oblique.ttf", "DejaVu Sans Oblique", False),
    ("DejaVuSans-BoldOblique.ttf", "DejaVu Sans Bold Oblique", False),
    ("DejaVuSerif.ttf", "DejaVu Serif", True),
    ("DejaVuSerif-Bold.ttf", "DejaVu Serif Bold", False),
    ("DejaVuSerif-Italic.ttf", "DejaVu Serif Italic", False),
    ("DejaVuSerif-BoldItalic.ttf", "DejaVu Serif Bold Italic", False),
    ("DejaVuSansMono.ttf", "DejaVu Sans Mono", True),
    ("DejaVuSansMono-Bold.ttf", "DejaVu Sans Mono Bold", False),
    ("DejaVuSansMono-Oblique.ttf", "DejaVu Sans Mono Oblique", False),
    ("DejaVuSansMono-BoldOblique.ttf", "DejaVu Sans Mono Bold Oblique", False),
    ("STIXGeneral.ttf", "STIX", True),
    ("STIXGeneralBol.ttf", "STIX Bold", False),
    ("STIXGeneralItalic.ttf", "STIX Italic", False),
    ("STIXGeneralBolIta.ttf", "STIX Bold Italic", False),
    ("cmr10.ttf", "Computer Modern Roman", True),
    ("cmb10.ttf", "Computer Modern Bold", False),
    ("cmss10.ttf", "Computer Modern Sans", True),
    ("cmti10.ttf", "Computer Modern Italic", False),
    ("cmtt10.ttf", "Computer Modern Typewriter", True),
)

# Families of alphabets, letters first: their order decides which of two look-alikes is kept
# (Latin "A" over Greek "Α" over Cyrillic "А"). Other scripts follow by name, then symbol blocks.
# The main alphabet of every family comes before the secondary ones (IPA, Old Cyrillic, ...).
_SCRIPT_PRIORITY: tuple[str, ...] = (
    "Latin",
    "Greek",
    "Cyrillic",
    "Armenian",
    "Georgian",
    "Hebrew",
    "Arabic",
    "Canadian Syllabics",
    "Tifinagh",
    "Lisu",
    "Lao",
    "N'Ko",
    "Old Italic",
    "Ogham",
    "Coptic",
    "Braille",
)
_SCRIPT_RENAMES = {"Canadian Aboriginal": "Canadian Syllabics", "Nko": "N'Ko"}
# A family splits into several alphabets (as Omniglot has Asomtavruli and Mkhedruli Georgian) by
# code point ranges or words of the character name; the first part takes what the others don't.
# Listed order = priority order inside the family. The glyph_split keeps a family on one side.
_Matcher = tuple[tuple[int, int], ...] | str | None
_PARTS: dict[str, tuple[tuple[str, _Matcher], ...]] = {
    "Latin": (
        ("Latin", None),
        ("IPA", ((0x0250, 0x02AF), (0x1D00, 0x1DBF))),
        ("Math Double-Struck", ()),
        ("Math Fraktur", ()),
        ("Math Script", ()),
    ),
    "Greek": (
        ("Greek", None),
        (
            "Greek (archaic)",
            (
                (0x0370, 0x0377),
                (0x037B, 0x037F),
                (0x03CF, 0x03CF),
                (0x03D7, 0x03E1),
                (0x03F3, 0x03F3),
                (0x03F7, 0x03FF),
            ),
        ),
    ),
    "Cyrillic": (
        ("Cyrillic", None),
        ("Old Cyrillic", ((0x0460, 0x0489), (0xA640, 0xA69F))),
        ("Cyrillic Extended", ((0x048A, 0x052F), (0x1C80, 0x1C8F))),
    ),
    "Georgian": (
        ("Georgian (Mkhedruli)", None),
        ("Georgian (Asomtavruli)", ((0x10A0, 0x10CF),)),
        ("Georgian (Nuskhuri)", ((0x2D00, 0x2D2F),)),
    ),
    "Arabic": (
        ("Arabic", None),
        ("Arabic Presentation Forms", ((0xFB50, 0xFDFF), (0xFE70, 0xFEFF))),
        ("Arabic Mathematical", ((0x1EE00, 0x1EEFF),)),
    ),
    "Braille": (("Braille (6-dot)", None), ("Braille (8-dot)", ((0x2840, 0x28FF),))),
    "Mathematical Operators": (
        ("Mathematical Operators", None),
        ("Set and Logic Operators", ((0x2280, 0x22FF),)),
    ),
    "Supplemental Mathematical Operators": (
        ("Supplemental Mathematical Operators", None),
        ("Supplemental Relations", ((0x2A80, 0x2AFF),)),
    ),
    "Miscellaneous Symbols": (
        ("Miscellaneous Symbols", None),
        ("Miscellaneous Symbols II", ((0x2680, 0x26FF),)),
    ),
    "Miscellaneous Technical": (
        ("Miscellaneous Technical", None),
        ("APL Symbols", "APL FUNCTIONAL SYMBOL"),
    ),
    "Dingbats": (("Dingbats", None), ("Dingbat Arrows", "ARROW")),
}
# Symbol blocks of one kind that share a family (glyph_split keeps a family on one side).
_BLOCK_FAMILIES = {
    "Supplemental Arrows-A": "Arrows",
    "Supplemental Arrows-B": "Arrows",
    "Miscellaneous Symbols and Arrows": "Arrows",
}
# Blocks left out: letters or digits in frames (look-alikes of other alphabets and of digits),
# detail too fine for 28x28 (playing cards with pips and ranks, domino tiles with 1-px dots).
_EXCLUDED_BLOCKS = frozenset(
    {"Enclosed Alphanumerics", "Enclosed Alphanumeric Supplement", "Playing Cards", "Domino Tiles"}
)
# Name words of characters left out: numbers (digits are a separate target domain) and weight
# variants (the stroke-width distortion already draws every character thin and bold).
# Also ligatures (two letters in one) and wide variants (stretched letters).
_EXCLUDED_NAME_WORDS = ("DIGIT", "NUMBER", "NUMERAL", "BOLD", "HEAVY", "LIGATURE", "WIDE")
# Of the mathematical letters only the styles with their own shapes (double-struck, Fraktur,
# script) are kept, as parts of the Latin family; bold/italic/sans/monospace are look-alikes.
_MATH_LETTER_BLOCKS = frozenset({"Mathematical Alphanumeric Symbols", "Letterlike Symbols"})
_MATH_STYLES = (
    ("DOUBLE-STRUCK", "Math Double-Struck"),
    ("FRAKTUR", "Math Fraktur"),
    ("BLACK-LETTER", "Math Fraktur"),
    ("SCRIPT", "Math Script"),
)
_LETTER_CATEGORIES = frozenset({"Lu", "Ll", "Lt", "Lo"})
_SYMBOL_CATEGORIES = frozenset({"Sm", "So", "Sc"})

# Look-alike test, at the reference resolution (glyph fitted into _FIT px of a _REF px canvas).
# The distance of two glyphs drawn by one font is the number of ink pixels of either that lie
# farther than _DUP_RADIUS px from the other's ink (the larger count). Over the regular fonts both
# characters have, a pair is a duplicate if the median distance is at most _DUP_PIXELS (they look
# alike in most fonts) or the smallest is at most _DUP_PIXELS_ANY (identical in one font).
_REF, _FIT = 64, 48
_DUP_RADIUS = 3
_DUP_PIXELS = 16
_DUP_PIXELS_ANY = 4
_PREFILTER_COS = 0.6  # cosine of 16x16 pooled images below which a pair is never a duplicate

# Distortions, in output pixels for a 28x28 image (scaled with image_size).
_GLYPH_FRACTION = 0.75  # longest side of the undistorted glyph, as a fraction of the image
_ROTATION_DEG = 15.0
_SCALE = (0.85, 1.10)
_ASPECT = 0.10  # log aspect ratio range
_SHEAR = 0.20
_SHIFT_PX = 1.5
_MARGIN_PX = 1.0
_STROKES = (-1, 0, 1, 2)  # thin (erode), normal, bold (dilate cross), heavier (dilate 3x3)
_STROKE_P = (0.2, 0.45, 0.25, 0.1)


# ---------------------------------------------------------------------------------------------
# Fonts and rendering
# ---------------------------------------------------------------------------------------------
def _font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def _versions() -> dict[str, str]:
    """Versions that change what is drawn; part of every cache key."""
    import fontTools
    import matplotlib
    import PIL
    from PIL import features

    return {
        "matplotlib": matplotlib.__version__,
        "pillow": PIL.__version__,
        "freetype": str(features.version("freetype2")),
        "fonttools": fontTools.version,
        "unicodedata": unicodedata.unidata_version,
    }


def _read_cmaps(files: Iterable[str]) -> dict[str, set[int]]:
    """Code points each font maps to a named glyph (fontTools cmap; .notdef entries dropped)."""
    from fontTools import agl
    from fontTools.ttLib import TTFont

    out: dict[str, set[int]] = {}
    quiet = logging.getLogger("fontTools")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the BaKoMa fonts trigger harmless timestamp warnings
    try:
        for name in files:
            font = TTFont(_font_dir() / name, lazy=True)
            cmap = font.getBestCmap() or {}
            unicode_cmap = any(table.isUnicode() for table in font["cmap"].tables)
            cps = set()
            for cp, glyph in cmap.items():
                if glyph == ".notdef":
                    continue
                # The Computer Modern fonts only have a TeX-encoded Mac table: keep a code point
                # only where the glyph's name says it is that character ("A" -> U+0041).
                if not unicode_cmap and agl.toUnicode(glyph) != chr(cp):
                    continue
                cps.add(cp)
            font.close()
            out[name] = cps
    finally:
        quiet.setLevel(level)
    return out


class _Renderer:
    """Draws one character in one font, cropped to its ink and centred on a square canvas."""

    def __init__(self, fonts: list[str], canvas: int, fit: int):
        self.fonts, self.canvas, self.fit = fonts, canvas, fit
        self._ft: dict[tuple[int, int], object] = {}
        self._notdef: dict[int, np.ndarray | None] = {}

    def _font(self, font: int, size: int):
        from PIL import ImageFont

        key = (font, size)
        if key not in self._ft:
            self._ft[key] = ImageFont.truetype(str(_font_dir() / self.fonts[font]), size)
        return self._ft[key]

    def _draw(self, text: str, font: int) -> np.ndarray | None:
        from PIL import Image, ImageDraw

        img = None
        # Start at a size where most glyphs already exceed the fitting box; re-draw small glyphs
        # (dots, dashes) larger instead of up-sampling them.
        for size in (self.fit * 4 // 3, self.fit * 8 // 3, self.fit * 16 // 3):
            ft = self._font(font, size)
            left, top, right, bottom = ft.getbbox(text)
            pad = 4
            img = Image.new("L", (max(1, right - left) + 2 * pad, max(1, bottom - top) + 2 * pad))
            ImageDraw.Draw(img).text((pad - left, pad - top), text, font=ft, fill=255)
            ink = np.asarray(img)
            rows, cols = np.flatnonzero(ink.max(1) > 0), np.flatnonzero(ink.max(0) > 0)
            if rows.size == 0:
                return None
            height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
            if max(height, width) >= self.fit * 3 // 4:
                break
        crop = img.crop((int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1))
        scale = self.fit / max(height, width)
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        crop = crop.resize(
            (new_w, new_h), Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC
        )
        out = Image.new("L", (self.canvas, self.canvas))
        out.paste(crop, ((self.canvas - new_w) // 2, (self.canvas - new_h) // 2))
        return np.asarray(out)

    def render(self, cp: int, font: int) -> np.ndarray | None:
        """The glyph as uint8 (canvas, canvas), ink 255; None if empty or the missing-glyph box."""
        img = self._draw(chr(cp), font)
        if img is None:
            return None
        if font not in self._notdef:
            self._notdef[font] = self._draw(chr(0x10FFFD), font)  # a private-use code point
        notdef = self._notdef[font]
        if notdef is not None and np.array_equal(img, notdef):
            return None
        return img


# ---------------------------------------------------------------------------------------------
# Choosing alphabets and characters
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, order=True)
class _AlphabetKey:
    """Sort key and identity of one alphabet (the order is the look-alike priority)."""

    kind: int  # 0 = letters (a script), 1 = symbols (a Unicode block)
    secondary: bool  # not the family's main alphabet
    rank: int  # position of the family in _SCRIPT_PRIORITY (symbols: 0)
    family: str
    part: int  # position inside the family's _PARTS entry
    name: str


def _part_of(family: str, cp: int, name: str) -> tuple[int, str]:
    """(index, name) of the alphabet of ``family`` that code point ``cp`` belongs to."""
    parts = _PARTS.get(family)
    if parts is None:
        return 0, family
    names = [alphabet for alphabet, _ in parts]
    for alphabet, match in parts[1:]:
        if (
            f" {match} " in f" {name} "
            if isinstance(match, str)
            else any(lo <= cp <= hi for lo, hi in match)
        ):
            return names.index(alphabet), alphabet
    return 0, names[0]


def _alphabet_of(cp: int) -> _AlphabetKey | None:
    """The alphabet a code point belongs to, or None if it is left out (digits, marks, ...)."""
    from fontTools import unicodedata as fud

    ch = chr(cp)
    category = unicodedata.category(ch)
    if category[0] in "NMZCP":  # numbers (all digits), marks, spaces, controls, punctuation
        return None
    decomposition = unicodedata.decomposition(ch)
    if decomposition and not decomposition.startswith("<"):
        return None  # canonical decomposition: an accented or pointed variant (é, Й, שׁ)
    if len(decomposition.split()) > 2:
        return None  # several characters in one: "a/c", "SM", "Rs", "ĳ"
    name = unicodedata.name(ch, "")
    if any(word in name.split() for word in _EXCLUDED_NAME_WORDS):
        return None
    block = fud.block(ch)
    if block in _EXCLUDED_BLOCKS:
        return None
    if block in _MATH_LETTER_BLOCKS and category in _LETTER_CATEGORIES:
        style = [alphabet for word, alphabet in _MATH_STYLES if word in name.split()]
        if not style:
            return None
        names = [alphabet for alphabet, _ in _PARTS["Latin"]]
        return _AlphabetKey(
            0, True, _SCRIPT_PRIORITY.index("Latin"), "Latin", names.index(style[0]), style[0]
        )
    script = fud.script(ch)
    if script not in ("Zyyy", "Zinh", "Zzzz"):  # a script: letters only (and Braille patterns)
        if category not in _LETTER_CATEGORIES and script != "Brai":
            return None
        script_name = fud.script_name(script)
        family, kind = _SCRIPT_RENAMES.get(script_name, script_name), 0
    elif category in _SYMBOL_CATEGORIES or category in _LETTER_CATEGORIES:
        family, kind = block, 1  # common characters: grouped by Unicode block
    else:
        return None
    part = _part_of(family, cp, name)
    family = _BLOCK_FAMILIES.get(family, family) if kind == 1 else family
    rank = 0
    if kind == 0:
        rank = (
            _SCRIPT_PRIORITY.index(family) if family in _SCRIPT_PRIORITY else len(_SCRIPT_PRIORITY)
        )
    return _AlphabetKey(kind, part[0] > 0, rank, family, part[0], part[1])


def _pool(img: np.ndarray) -> np.ndarray:
    v = img.reshape(16, _REF // 16, 16, _REF // 16).mean(axis=(1, 3), dtype=np.float32).ravel()
    return v / max(float(np.linalg.norm(v)), 1e-6)


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    out = mask
    for i in range(radius):
        p = np.pad(out, 1)
        out = p[1:-1, 1:-1] | p[:-2, 1:-1] | p[2:, 1:-1] | p[1:-1, :-2] | p[1:-1, 2:]
        if i % 2:  # alternate cross and square steps: a rounder neighbourhood
            out = out | p[:-2, :-2] | p[:-2, 2:] | p[2:, :-2] | p[2:, 2:]
    return out


_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.int32)


class _Shape:
    """A glyph at the reference resolution, ready for the look-alike test."""

    __slots__ = ("ink", "near", "vec")

    def __init__(self, img: np.ndarray):
        mask = img >= 128
        self.ink = np.packbits(mask)
        self.near = np.packbits(_dilate(mask, _DUP_RADIUS))
        self.vec = _pool(img)

    def distance(self, other: _Shape) -> int:
        """Ink pixels of either glyph farther than the radius from the other's ink (max of both)."""
        a = int(_POPCOUNT[self.ink & ~other.near].sum())
        b = int(_POPCOUNT[other.ink & ~self.near].sum())
        return max(a, b)


class _Bank:
    """The kept characters drawn by one font: pooled vectors (cosine pre-filter) and ink masks."""

    def __init__(self) -> None:
        self.vecs = np.zeros((256, 256), np.float32)
        self.ink = np.zeros((256, _REF * _REF // 8), np.uint8)
        self.near_ink = np.zeros_like(self.ink)
        self.owners: list[int] = []
        self.row: dict[int, int] = {}

    def add(self, owner: int, shape: _Shape) -> None:
        n = len(self.owners)
        if n == len(self.vecs):
            self.vecs, self.ink, self.near_ink = (
                np.concatenate([a, np.zeros_like(a)]) for a in (self.vecs, self.ink, self.near_ink)
            )
        self.vecs[n], self.ink[n], self.near_ink[n] = shape.vec, shape.ink, shape.near
        self.owners.append(owner)
        self.row[owner] = n

    def near(self, vec: np.ndarray) -> list[int]:
        """Owners whose pooled image has cosine >= _PREFILTER_COS with ``vec``."""
        n = len(self.owners)
        if n == 0:
            return []
        return [self.owners[i] for i in np.flatnonzero(self.vecs[:n] @ vec >= _PREFILTER_COS)]

    def distances(self, shape: _Shape, rows: np.ndarray) -> np.ndarray:
        """:meth:`_Shape.distance` from ``shape`` to the kept glyphs at ``rows``, vectorized."""
        a = _POPCOUNT[shape.ink & ~self.near_ink[rows]].sum(axis=1)
        b = _POPCOUNT[self.ink[rows] & ~shape.near].sum(axis=1)
        return np.maximum(a, b)

    def drop(self, owners: set[int]) -> None:
        keep = [i for i, o in enumerate(self.owners) if o not in owners]
        for arr in (self.vecs, self.ink, self.near_ink):
            arr[: len(keep)] = arr[keep]
        self.owners = [self.owners[i] for i in keep]
        self.row = {o: i for i, o in enumerate(self.owners)}


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


def _is_duplicate(
    cand: dict[int, _Shape], banks: dict[int, _Bank], shapes: dict[int, dict[int, _Shape]]
) -> bool:
    """True if some kept character looks like ``cand`` in the regular fonts both have."""
    first = next(iter(cand.values()))
    suspects = sorted(set().union(*(banks[f].near(shape.vec) for f, shape in cand.items())))
    if suspects:
        dist = np.full((len(suspects), len(cand)), np.nan)
        for j, (f, shape) in enumerate(cand.items()):
            pairs = [(i, banks[f].row[o]) for i, o in enumerate(suspects) if o in banks[f].row]
            if pairs:
                idx, rows = (np.array(x) for x in zip(*pairs, strict=True))
                dist[idx, j] = banks[f].distances(shape, rows)
        shared = ~np.isnan(dist).all(axis=1)
        if shared.any():
            d = dist[shared]
            if (np.nanmin(d, axis=1) <= _DUP_PIXELS_ANY).any():
                return True
            if (np.nanmedian(d, axis=1) <= _DUP_PIXELS).any():
                return True
        for i in np.flatnonzero(~shared):  # no font in common: compare the first drawings
            if first.distance(next(iter(shapes[suspects[i]].values()))) <= _DUP_PIXELS:
                return True
    for f in banks:  # kept characters drawn by none of cand's fonts, compared across fonts
        if f in cand:
            continue
        for owner in banks[f].near(first.vec):
            other = shapes[owner]
            if not any(g in other for g in cand) and first.distance(other[f]) <= _DUP_PIXELS:
                return True
    return False


_CATALOG_MEMO: dict[str, dict[str, np.ndarray]] = {}


def _code_digest() -> str:
    """A digest of this module's source: editing a rule or a distortion invalidates the caches."""
    import hashlib

    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


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


# ---------------------------------------------------------------------------------------------
# Distorted samples
# ---------------------------------------------------------------------------------------------
def _progress(total: int, desc: str, unit: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, leave=False)


def _draw_params(r: np.random.Generator, n: int, n_fonts: np.ndarray) -> dict[str, np.ndarray]:
    """All random choices for ``n`` samples, drawn in one fixed order (batching is irrelevant)."""
    return {
        "font": np.minimum((r.random(n) * n_fonts).astype(np.int64), n_fonts - 1),
        "angle": np.deg2rad(r.uniform(-_ROTATION_DEG, _ROTATION_DEG, n)),
        "scale": r.uniform(*_SCALE, n),
        "aspect": np.exp(r.uniform(-_ASPECT, _ASPECT, n)),
        "shear": r.uniform(-_SHEAR, _SHEAR, n),
        "shift": r.uniform(-1.0, 1.0, (n, 2)),
        "stroke": r.choice(np.array(_STROKES), size=n, p=np.array(_STROKE_P)),
    }


def _stroke(batch: np.ndarray, strokes: np.ndarray) -> np.ndarray:
    """Erode (-1) or dilate (+1 cross, +2 square) padded masters (B, H, W) in place."""
    for level in (-1, 1, 2):
        sel = np.flatnonzero(strokes == level)
        if sel.size == 0:
            continue
        x = batch[sel]
        p = np.pad(x, ((0, 0), (1, 1), (1, 1)))
        cross = [p[:, :-2, 1:-1], p[:, 2:, 1:-1], p[:, 1:-1, :-2], p[:, 1:-1, 2:]]
        if level == -1:
            y = np.minimum.reduce([x, *cross])
            # hairline glyphs would all but vanish: keep those at their normal stroke
            faint = y.sum(axis=(1, 2)) < 0.5 * x.sum(axis=(1, 2))
            y[faint] = x[faint]
        else:
            y = np.maximum.reduce([x, *cross])
            if level == 2:
                y = np.maximum.reduce(
                    [y, p[:, :-2, :-2], p[:, :-2, 2:], p[:, 2:, :-2], p[:, 2:, 2:]]
                )
        batch[sel] = y
    return batch


def _warp(
    masters: np.ndarray, extents: np.ndarray, prm: dict[str, np.ndarray], size: int
) -> np.ndarray:
    """Affine-warp masters (B, M, M) float32 to (B, size, size) uint8, anti-aliased 2x."""
    b, m = masters.shape[0], masters.shape[1]
    out2 = 2 * size
    unit = size / 28.0  # distortion amounts are given for 28x28 images
    base = _GLYPH_FRACTION * out2 / (_FIT * m / _REF)  # master glyphs fit in _FIT * m / _REF px
    cos, sin = np.cos(prm["angle"]), np.sin(prm["angle"])
    s = prm["scale"] * base
    sx, sy = s * prm["aspect"], s / prm["aspect"]
    k = prm["shear"]
    # forward linear map (master -> output, centred): R @ Shear @ diag(sx, sy)
    lin = np.empty((b, 2, 2))
    lin[:, 0, 0] = cos * sx
    lin[:, 0, 1] = (cos * k - sin) * sy
    lin[:, 1, 0] = sin * sx
    lin[:, 1, 1] = (sin * k + cos) * sy
    # keep the glyph's box inside the image: shrink if needed, then clamp the shift
    half = np.abs(lin) @ extents[:, :, None]  # (B, 2, 1): half extents in output px (x, y)
    half = half[:, :, 0]
    room = out2 / 2 - 2 * _MARGIN_PX * unit
    shrink = np.minimum(1.0, room / np.maximum(half.max(axis=1), 1e-6))
    lin *= shrink[:, None, None]
    half *= shrink[:, None]
    limit = np.maximum(room - half, 0.0)
    shift = np.clip(prm["shift"] * 2 * _SHIFT_PX * unit, -limit, limit)
    inv = np.linalg.inv(lin).astype(np.float32)

    # output pixel centres (2x grid), relative to the centre, minus the shift
    grid = (np.arange(out2, dtype=np.float32) + 0.5) - out2 / 2
    gx = grid[None, None, :] - shift[:, 0, None, None].astype(np.float32)
    gy = grid[None, :, None] - shift[:, 1, None, None].astype(np.float32)
    # source coordinates in the zero-padded master (pixel centre i at i + 1.5 - 1 = i + 0.5 + 1)
    centre = m / 2 + 0.5  # padded index of the master's centre, minus half a pixel
    src_x = inv[:, 0, 0, None, None] * gx + inv[:, 0, 1, None, None] * gy + centre
    src_y = inv[:, 1, 0, None, None] * gx + inv[:, 1, 1, None, None] * gy + centre
    np.clip(src_x, 0, m + 1, out=src_x)
    np.clip(src_y, 0, m + 1, out=src_y)
    x0 = np.minimum(src_x.astype(np.int32), m)
    y0 = np.minimum(src_y.astype(np.int32), m)
    fx = src_x - x0
    fy = src_y - y0
    padded = np.pad(masters, ((0, 0), (1, 1), (1, 1)))
    w = m + 2
    flat = padded.reshape(-1)
    idx = (np.arange(b, dtype=np.int32) * (w * w))[:, None, None] + y0 * w + x0
    top = flat[idx] * (1 - fx) + flat[idx + 1] * fx
    bottom = flat[idx + w] * (1 - fx) + flat[idx + w + 1] * fx
    img = top * (1 - fy) + bottom * fy
    img = img.reshape(b, size, 2, size, 2).mean(axis=(2, 4))
    return np.rint(np.clip(img, 0.0, 1.0) * 255).astype(np.uint8)


def _render_masters(
    cat: dict[str, np.ndarray], canvas: int, progress: bool
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Every character in every font that draws it: uint8 masters, half extents, per-char rows."""
    fonts = [str(f) for f in cat["fonts"]]
    renderer = _Renderer(fonts, canvas, _FIT * canvas // _REF)
    masters, extents, rows_of = [], [], []
    bar = _progress(len(cat["codepoints"]), "glyphs: rendering", "char", progress)
    for cp, mapped in zip(cat["codepoints"], cat["char_fonts"], strict=True):
        mine = []
        for f in np.flatnonzero(mapped):
            img = renderer.render(int(cp), int(f))
            if img is None:  # mapped but empty or the missing-glyph box in this face
                continue
            rows, cols = np.flatnonzero(img.max(1)), np.flatnonzero(img.max(0))
            mine.append(len(masters))
            masters.append(img)
            extents.append(((cols[-1] - cols[0] + 1) / 2, (rows[-1] - rows[0] + 1) / 2))
        if not mine:  # cannot happen: the catalog kept only characters a regular face drew
            raise RuntimeError(
                f"No font draws {chr(int(cp))!r} (U+{int(cp):04X}); delete the "
                "glyph-catalog file in the cache directory and retry."
            )
        rows_of.append(np.array(mine, dtype=np.int64))
        bar.update(1)
    bar.close()
    return np.stack(masters), np.asarray(extents, dtype=np.float64), rows_of


def _build_images(
    cat: dict[str, np.ndarray], samples_per_char: int, image_size: int, seed: int, progress: bool
) -> dict[str, np.ndarray]:
    canvas = _REF if image_size <= 32 else 2 * _REF
    masters, extents, rows_of = _render_masters(cat, canvas, progress)
    n_chars = len(rows_of)
    n = n_chars * samples_per_char
    labels = np.repeat(np.arange(n_chars, dtype=np.int64), samples_per_char)
    n_fonts = np.array([len(r) for r in rows_of])
    prm = _draw_params(config.rng(seed), n, n_fonts[labels])
    # row of the master each sample draws: the chosen font among the char's drawing fonts
    offsets = np.concatenate([[0], np.cumsum(n_fonts)[:-1]])
    which_all = np.concatenate(rows_of)[offsets[labels] + prm["font"]]

    images = np.empty((n, image_size, image_size), dtype=np.uint8)
    batch_size = max(64, 2**20 // (4 * image_size * image_size))  # ~4 MB of output per batch
    bar = _progress(n, "glyphs: drawing samples", "img", progress)
    for b0 in range(0, n, batch_size):
        sel = slice(b0, min(n, b0 + batch_size))
        which = which_all[sel]
        batch = _stroke(masters[which].astype(np.float32) / 255.0, prm["stroke"][sel])
        images[sel] = _warp(batch, extents[which], {k: v[sel] for k, v in prm.items()}, image_size)
        bar.update(sel.stop - sel.start)
    bar.close()
    return {"images": images, "labels": labels}


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------
def _check_int(name: str, value: object, lo: int, hi: int | None, hint: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer, got {type(value).__name__} {value!r}. {hint}")
    if value < lo or (hi is not None and value > hi):
        bounds = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        raise ValueError(f"{name} must be {bounds}, got {value}. {hint}")
    return int(value)


def _image_params(
    cat: dict[str, np.ndarray], samples_per_char: int, image_size: int, seed: int
) -> dict[str, object]:
    """The cache key of one set of samples (``cache_path("glyphs", ...)`` names its file)."""
    return {
        "version": GLYPHS_VERSION,
        "samples_per_char": samples_per_char,
        "image_size": image_size,
        "seed": seed,
        "codepoints": _digest(cat["codepoints"], cat["char_fonts"]),
        "code": _code_digest(),
        **_versions(),
    }


def load_glyphs(
    mode: str | None = None,
    *,
    samples_per_char: int | None = None,
    image_size: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> LabelledImages:
    """The glyph dataset: every kept character drawn ``samples_per_char`` times with distortions.

    Sizes default to ``config.sizes("data", mode)`` (``glyph_samples_per_char``,
    ``glyph_image_size``). Samples come class by class (all samples of class 0, then class 1,
    ...); ``class_names`` are the characters, ``class_groups`` their alphabet indices and
    ``group_names`` the alphabet names. The same ``seed`` gives byte-identical images. The first
    call builds and caches the arrays (seconds to a minute); later calls load them from the cache.
    """
    sizes = config.sizes("data", mode)
    if samples_per_char is None:
        samples_per_char = int(sizes["glyph_samples_per_char"])
    if image_size is None:
        image_size = int(sizes["glyph_image_size"])
    samples_per_char = _check_int(
        "samples_per_char",
        samples_per_char,
        1,
        MAX_SAMPLES_PER_CHAR,
        "Example: load_glyphs(samples_per_char=20).",
    )
    image_size = _check_int(
        "image_size",
        image_size,
        MIN_IMAGE_SIZE,
        MAX_IMAGE_SIZE,
        "Example: load_glyphs(image_size=28) (Omniglot-like 28x28 images).",
    )
    seed = _check_int("seed", seed, 0, None, "Example: load_glyphs(seed=0).")

    cat = _catalog(progress)
    params = _image_params(cat, samples_per_char, image_size, seed)
    arrays = cached_arrays(
        "glyphs", params, lambda: _build_images(cat, samples_per_char, image_size, seed, progress)
    )
    images = arrays["images"].astype(np.float32)
    images /= 255.0
    return LabelledImages(
        name="glyphs",
        images=images,
        labels=arrays["labels"].astype(np.int64),
        class_names=tuple(chr(int(cp)) for cp in cat["codepoints"]),
        class_groups=cat["groups"].astype(np.int64),
        group_names=tuple(str(g) for g in cat["group_names"]),
    )


def _digest(*arrays: np.ndarray) -> str:
    import hashlib

    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


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
