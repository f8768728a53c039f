"""What names a cached glyph catalogue or image set: versions and digests of code and inputs.

:func:`_code_digest` covers the sources of every other module of this package: editing a rule, the
renderer or a distortion invalidates the caches (this module is left out: it only names them).
"""

from __future__ import annotations

import hashlib
import unicodedata
from pathlib import Path

import numpy as np

GLYPHS_VERSION = 1

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


def _code_digest() -> str:
    """A digest of this package's sources: editing a rule or a distortion invalidates the caches."""
    h = hashlib.sha256()
    here = Path(__file__)
    for path in sorted(here.parent.glob("*.py")):
        if path.name != here.name:
            h.update(path.name.encode() + b"\0")
            h.update(path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


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
