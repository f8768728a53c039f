"""Drawing characters: the matplotlib font files, their character maps, the master renderer.

Each character is drawn once per font with FreeType (Pillow) at high resolution, cropped to its
ink and centred on a square canvas (the "masters" the distortions then warp).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from course_lib.data.glyphs.progress import _progress

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

# The reference resolution: a glyph fitted into _FIT px of a _REF px canvas (the look-alike test
# compares glyphs at this size; the masters are drawn at it, or at twice it for large images).
_REF, _FIT = 64, 48


def _font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


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
