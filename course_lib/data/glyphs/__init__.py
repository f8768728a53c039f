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

One job per module: :mod:`.render` (fonts, masters), :mod:`.unicode_rules` (which code points,
which alphabet), :mod:`.lookalikes` (the look-alike test), :mod:`.catalogue` (the cached
character list), :mod:`.distort` (distorted samples), :mod:`.cache_key` (what names a cache file),
:mod:`.dataset` (:func:`load_glyphs`) and :mod:`.splits` (:func:`glyph_split`).
"""

from __future__ import annotations

from course_lib.data.glyphs.cache_key import GLYPHS_VERSION
from course_lib.data.glyphs.catalogue import MAX_CHARS, MIN_CHARS, list_alphabets
from course_lib.data.glyphs.dataset import (
    MAX_IMAGE_SIZE,
    MAX_SAMPLES_PER_CHAR,
    MIN_IMAGE_SIZE,
    load_glyphs,
)
from course_lib.data.glyphs.splits import GlyphSplit, glyph_split

__all__ = [
    "GLYPHS_VERSION",
    "MAX_CHARS",
    "MAX_IMAGE_SIZE",
    "MAX_SAMPLES_PER_CHAR",
    "MIN_CHARS",
    "MIN_IMAGE_SIZE",
    "GlyphSplit",
    "glyph_split",
    "list_alphabets",
    "load_glyphs",
]
