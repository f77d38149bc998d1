"""Jupyter notebooks (.ipynb): Markdown and code cells in order, outputs left out."""

from __future__ import annotations

import json
import re
from typing import Any

from index.formats.decoding import clean, collapse, decode
from index.formats.extraction import Extracted, UnreadableDocumentError, short_message
from index.formats.plain_text import first_line

# An ATX heading line; the Markdown format's own reading of headings is its business.
_HEADING = re.compile(r"[ ]{0,3}#{1,6}[ \t]+(\S.*)")


def extract(data: bytes, max_chars: int) -> Extracted:
    try:
        notebook = json.loads(decode(data, declared=None))
        cells = _cells(notebook)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise UnreadableDocumentError(f"broken notebook: {short_message(exc)}") from exc
    sources = [(kind, clean(source).strip()) for kind, source in cells]
    text = "\n\n".join(source for _, source in sources if source)
    meta = notebook.get("metadata")
    meta_title = meta.get("title") if isinstance(meta, dict) else None
    lines = (line for kind, s in sources if kind == "markdown" for line in s.split("\n"))
    heading = next((m.group(1).rstrip(" #") for m in map(_HEADING.fullmatch, lines) if m), None)
    if isinstance(meta_title, str) and collapse(meta_title):
        return Extracted(text, meta_title)
    return Extracted(text, heading or first_line(text))


def _cells(notebook: Any) -> list[tuple[str, str]]:
    """(kind, source) of each Markdown and code cell: nbformat 4's cells, or 3's worksheets."""
    if not isinstance(notebook, dict):
        raise TypeError("not a JSON object")
    if "cells" in notebook:
        cells = notebook["cells"]
    else:
        cells = [c for sheet in notebook["worksheets"] for c in sheet["cells"]]
    found = []
    for cell in cells:
        kind = cell.get("cell_type")
        source = cell.get("source" if kind == "markdown" or "source" in cell else "input", "")
        if kind in ("markdown", "code"):
            found.append((kind, "".join(source) if isinstance(source, list) else str(source)))
    return found
