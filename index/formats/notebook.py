"""Jupyter notebooks (.ipynb): Markdown and code cells in order, outputs left out.

A Markdown cell is read as the markdown format reads a file (its headings are headings, its
markup dropped); a code cell is one code block, its lines kept.
"""

from __future__ import annotations

import json
from typing import Any

from index.formats import markdown
from index.formats.decoding import clean, collapse, decode
from index.formats.extraction import Extracted, UnreadableDocumentError, short_message
from index.formats.plain_text import first_line
from index.formats.structure import TextBuilder


def extract(data: bytes, max_chars: int) -> Extracted:
    try:
        notebook = json.loads(decode(data, declared=None))
        cells = _cells(notebook)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise UnreadableDocumentError(f"broken notebook: {short_message(exc)}") from exc
    built = TextBuilder()
    heading = None
    for kind, source in cells:
        if kind == "markdown":
            cell_heading = markdown.add_text(clean(source), built)
            heading = heading or cell_heading
        else:
            built.add(clean(source), "code")
    meta = notebook.get("metadata")
    meta_title = meta.get("title") if isinstance(meta, dict) else None
    title = meta_title if isinstance(meta_title, str) and collapse(meta_title) else heading
    return Extracted(built.text, title or first_line(built.text), structure=built.structure)


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
