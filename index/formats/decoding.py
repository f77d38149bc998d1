"""Bytes to clean text: byte-order marks, declared and guessed encodings, control characters."""

from __future__ import annotations

import codecs
import re

from index.formats.extraction import UnreadableDocumentError

# UTF-32 before UTF-16: the UTF-32-LE BOM starts with the UTF-16-LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_LINE_BREAKS = re.compile(r"\r\n?|[\v\f]")
# Control characters and lone surrogates break SQLite, JSON and UTF-8 encoding downstream.
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1f\ud800-\udfff]")


def decode(data: bytes, declared: str | None) -> str:
    """The text of ``data``: by its BOM, else UTF-8, else the ``declared`` encoding, else a guess.

    Raises:
        UnreadableDocumentError: binary (a NUL byte without a BOM), or no encoding fits.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding)
            except UnicodeDecodeError:
                raise UnreadableDocumentError("undecodable text") from None
    if b"\0" in data:
        raise UnreadableDocumentError("binary file")
    for candidate in ("utf-8", declared):
        if candidate:
            try:
                return data.decode(candidate)
            except UnicodeDecodeError:
                pass
    # Imported here: most files are UTF-8, and start-up is most of a small rebuild's time.
    from charset_normalizer import from_bytes

    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        raise UnreadableDocumentError("undecodable text")
    # charset_normalizer often ties Western European text between cp1250, cp1252 and others
    # (and picks UTF-16 for very short text); cp1252 is by far the likeliest of equals.
    for match in matches:
        tied = (match.chaos, match.coherence) == (best.chaos, best.coherence)
        if tied and "cp1252" in match.could_be_from_charset:
            try:
                return data.decode("cp1252")
            except UnicodeDecodeError:
                break
    return str(best)


def clean(text: str) -> str:
    """``text`` with every line break as "\\n" and without control characters."""
    return _CONTROLS.sub("", _LINE_BREAKS.sub("\n", text))


def collapse(text: str) -> str:
    """``text`` cleaned, on one line, with single spaces between its words."""
    return " ".join(clean(text).split())
