"""Which code points become characters, and which alphabet each belongs to (Unicode rules).

No digits or other numbers, marks, spaces, controls, punctuation or modifier letters; no accented
variants, ligatures, several-letter symbols or weight variants. Scripts are letter alphabets,
symbol blocks are symbol alphabets; a family (Latin with IPA and the mathematical letters, the
three Georgian scripts, the arrow blocks, ...) splits into parts and stays on one side of
:func:`~course_lib.data.glyphs.glyph_split`.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

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
