"""Whether text extracted from a page is language, or the garbage a broken font encoding gives.

A PDF whose fonts map their glyphs to private codes extracts to strings such as
"ÅTÆhÇuÈ\\x1a" or "/70/85/78/68": characters, but no words. Indexed, such pages become
passages that match nonsense queries. This check is cheap character and word statistics,
no dictionary and no model: a page is language when its runs of letters look like words
(plausible case and length, vowels in Latin script), are not nearly all single letters, and
it has few control, private-use or replacement characters or glyph numbers. Maths, code,
tables and reference lists pass: their letters still form words (or there are few
letters), where garbage is letters in a jumble.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# A page with fewer letters than this is not judged: a figure's labels or a page number
# are too little to tell a broken font from a short page.
MIN_LETTERS = 40

# Runs of letters, the unit judged: "self.items" is two words, "x2" one and a digit.
_LETTER_RUNS = re.compile(r"[^\W\d_]+")
# Vowels of Latin-script languages: a Latin word of four letters or more without one is
# rare (an acronym is upper case and passes as such).
_VOWELS = frozenset("aeiouyàáâãäåæèéêëìíîïòóôõöøùúûüýÿœ" "AEIOUYÀÁÂÃÄÅÆÈÉÊËÌÍÎÏÒÓÔÕÖØÙÚÛÜÝŸŒ")
# Words longer than this are not words (German compounds reach 25-30).
_LONGEST_WORD = 30
# Glyph names where a font gives no Unicode: pypdf writes "/70/85/78/68" for "FUND". A date
# ("2024/10/03") or a path ("/usr/lib") does not match: the run starts at a word's start,
# and each part is a number.
_GLYPH_CODES = re.compile(r"(?<![\w/])(?:(?:/g\d{1,5}){2,}|(?:/\d{2,3}){2,})")


@dataclass(frozen=True)
class Measure:
    """What the check looks at, kept for measuring it."""

    letters: int  # letters in the text
    # Share of non-space characters that are control, private-use, unassigned or U+FFFD, or
    # part of glyph numbers.
    junk: float
    wordlike: float  # share of letters in runs that look like words
    single: float  # share of the runs of letters that are one letter long


def measure(text: str) -> Measure:
    visible = sum(1 for c in text if not c.isspace())
    codes = sum(len(found) for found in _GLYPH_CODES.findall(text))
    junk = codes + sum(1 for c in text if _is_junk(c) and not c.isspace())
    runs = _LETTER_RUNS.findall(_GLYPH_CODES.sub(" ", text))
    letters = sum(map(len, runs))
    wordlike = sum(len(run) for run in runs if _looks_like_word(run))
    single = sum(1 for run in runs if len(run) == 1)
    return Measure(letters, junk / visible if visible else 0.0,
                   wordlike / letters if letters else 1.0, single / len(runs) if runs else 0.0)


def is_language(text: str) -> bool:
    """Whether ``text`` (one page's) reads as language rather than a broken encoding's garbage.

    Thresholds from the 193 papers of docs/quality.md ("PDF titles and unreadable text"),
    read by pypdf and by pypdfium2: text pages, maths, code and tables among them, measure
    0.75-1.0 word-like, many garbage pages below 0.7; at most 0.82 of a text page's runs of
    letters are single letters (a page of formulas), where a font whose codes are shifted
    gives "u S \\ Q S ] S N" throughout. Control and private-use codes stand for symbols in
    formulas and diagrams (up to a fifth of a text page's characters), but there its letters
    are words (0.95 and more) and not nearly all single; in the rest of the garbage, beside
    as many codes, they are not.
    """
    found = measure(text)
    if found.junk > 0.3:
        return False
    if found.letters < MIN_LETTERS:
        return True
    if found.wordlike < 0.7 or found.single > 0.92:
        return False
    return found.junk <= 0.15 or (found.wordlike >= 0.95 and found.single <= 0.85)


def _is_junk(char: str) -> bool:
    # Cc: control codes (a page's text keeps none but its whitespace); Co: private use, where
    # a font without a Unicode map leaves its glyphs; Cn: unassigned; U+FFFD: undecodable.
    return char == "\ufffd" or unicodedata.category(char) in ("Cc", "Co", "Cn")


def _looks_like_word(run: str) -> bool:
    """Whether a run of letters could be a word: of one script, a plausible length and case
    pattern (lower, Upper, UPPER or camelCase), and with a vowel if Latin and four letters or
    more. A single letter is a word (a variable, "a", "I"): garbage of single letters is told
    by their share (``Measure.single``)."""
    if len(run) > _LONGEST_WORD:
        return False
    if len(run) == 1:
        return True
    if not _plausible_case(run):
        return False
    if not all(_is_latin(c) for c in run):
        # Another script (Greek, Cyrillic, CJK...): one script throughout is all that is asked.
        return len({_script(c) for c in run}) == 1
    return len(run) < 4 or run.isupper() or any(c in _VOWELS for c in run)


def _plausible_case(run: str) -> bool:
    """lower, Capitalized, UPPER, or camelCase with humps of two letters or more."""
    if run.islower() or run.isupper() or run[1:].islower():
        return True
    # camelCase / PascalCase: each upper-case letter starts a lower-case hump of 2+ letters.
    humps = re.fullmatch(r"[a-zA-Z]?[a-z]+(?:[A-Z][a-z]{2,})+", run)
    return humps is not None


def _is_latin(char: str) -> bool:
    return _script(char) == "LATIN"


def _script(char: str) -> str:
    # The first word of a letter's Unicode name is its script, closely enough: "LATIN SMALL
    # LETTER A", "GREEK SMALL LETTER ALPHA", "CJK UNIFIED IDEOGRAPH-4E00".
    return unicodedata.name(char, "UNKNOWN").split(" ", 1)[0]
