"""Tests reading files made by the applications people use (LibreOffice, pandoc, mail as
Thunderbird writes it, Jupyter's JSON): each must yield the text a reader sees, none of the
markup, and its title.

tests/data/format-sources/ holds the texts they were made from and how (README.md there).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from index.documents import load_documents
from index.formats import EXTRACTORS, UnreadableDocumentError

FORMATS = Path(__file__).resolve().parent / "data" / "formats"

GUIDE_TITLE = "Harbour Tide Guide"
GUIDE = [  # in reading order: heading, body, list item, table cell, heading, footnote
    "Reading the tide tables",
    "The harbour master publishes tide tables every Monday before the first ferry.",
    "Keep the red buoy to port when leaving the inner basin.",
    "09:47",
    "Closing notes",
    "Measured at the lighthouse gauge since 1921.",
]
SLIDES_TITLE = "Lighthouse Keeping Basics"
SLIDES = [  # slide title, bullet, its speaker notes, next slide, its notes, a table row
    "Daily lamp routine",
    "Polish the Fresnel lens weekly",
    "Remind the trainees that paraffin fumes need ventilation.",
    "Fog signals",
    "The old diaphone was replaced in 1987.",
    "Argand burner | 1200",
]
# What no extracted text may hold: XML, RTF control words and groups, HTML, base64 images.
MARKUP = ["<", ">", "\\", "{", "}", "xmlns", "w:t", "iVBOR", "JVBER", "PK\x03\x04"]

CASES = {
    "docx-guide-pandoc.docx": (GUIDE_TITLE, GUIDE),
    "docx-guide-libreoffice.docx": (GUIDE_TITLE, GUIDE),
    "odt-guide-pandoc.odt": (GUIDE_TITLE, GUIDE),
    "odt-guide-libreoffice.odt": (GUIDE_TITLE, GUIDE),
    "epub-guide-pandoc.epub": (GUIDE_TITLE, GUIDE),
    # LibreOffice's EPUB export leaves out a table's header row, not its cells.
    "epub-guide-libreoffice.epub": (GUIDE_TITLE, GUIDE),
    "rtf-guide-libreoffice.rtf": (GUIDE_TITLE, GUIDE),
    "rst-guide-pandoc.rst": (GUIDE_TITLE, GUIDE),
    "pptx-slides-pandoc.pptx": (SLIDES_TITLE, SLIDES),
    "pptx-slides-libreoffice.pptx": (SLIDES_TITLE, SLIDES),
    "odp-slides-libreoffice.odp": (SLIDES_TITLE, SLIDES),
    "dredging.eml": ("Dredging of the north channel – new pilot times", [
        "Dear pilots,",
        "Vessels over 120 metres must wait for the pilot boat at the outer fairway buoy.",
        "the harbour office – open from 7 am – has printed copies.",
    ]),
    "open-day.eml": ("Lighthouse open day", [
        "Open day", "Café on the quay.", "Tours every hour",
    ]),
    "harbour.ipynb": ("Tide height analysis", [
        "Tide height analysis",
        'readings = pd.read_csv("gauge.csv", parse_dates=["time"])',
        "Residuals",
        "except during the March storm surge.",
    ]),
    "hostile.rst": ("Hostile notes", [
        "Normal emphasis and a link stay as text.",
        "Cross on a rising tide.",
        "Admonitions keep their text.",
        'print("code stays")',
    ]),
}
# Text a file holds that is not for the reader: outputs, the HTML copy of a mail's body, raw
# notebook cells, Markdown cells' markup; and what hostile.rst's directives would insert.
NOT_READ = {
    "dredging.eml": ["HTML-PART-NOT-USED", "Berth schedule", "base64"],
    "harbour.ipynb": ["OUTPUT-SHOULD-NOT-APPEAR", "RAW-CELL-LEFT-OUT", "Figure size", "#", "**"],
    "hostile.rst": ["root:", "alert", "script", "Secrets", "whatever", "a comment"],
}


@pytest.mark.parametrize("name", CASES)
def test_a_real_file_yields_its_text_in_order_and_its_title(name: str) -> None:
    title, phrases = CASES[name]
    extracted = EXTRACTORS[Path(name).suffix]((FORMATS / name).read_bytes(), 1_000_000)
    assert extracted.title == title
    text = extracted.text
    assert [p for p in phrases if p not in text] == [], text
    positions = [text.find(phrase) for phrase in phrases]
    assert positions == sorted(positions), text
    unwanted = MARKUP + NOT_READ.get(name, [])
    assert [m for m in unwanted if m in text] == [], text


def test_every_file_of_the_folder_is_indexed_and_a_mails_attachments_are_named() -> None:
    report = load_documents(FORMATS)
    assert sorted(d.source for d in report.documents) == sorted(CASES)
    assert [(s.source, s.reason) for s in report.skipped] == [
        ("dredging.eml/berth-schedule.pdf",
         "attachment, not indexed: save it as a file of its own to index it"),
        ("dredging.eml/charts.zip", "attachment of unsupported file type .zip"),
    ]


@pytest.mark.parametrize("name", [
    "docx-guide-pandoc.docx", "pptx-slides-pandoc.pptx", "odt-guide-pandoc.odt",
    "odp-slides-libreoffice.odp", "epub-guide-pandoc.epub",
    "harbour.ipynb",
])
def test_a_file_cut_in_half_is_a_broken_file_of_its_format(name: str) -> None:
    # (An RTF cut in half is still read, as word processors read it: up to the cut.)
    data = (FORMATS / name).read_bytes()
    kind = {".ipynb": "notebook"}.get(Path(name).suffix, Path(name).suffix[1:].upper())
    with pytest.raises(UnreadableDocumentError, match=f"^broken {kind}: "):
        EXTRACTORS[Path(name).suffix](data[: len(data) // 2], 1_000_000)


def test_a_file_that_is_not_rtf_is_a_broken_rtf() -> None:
    with pytest.raises(UnreadableDocumentError, match=r"^broken RTF: it does not start with"):
        EXTRACTORS[".rtf"](b"Plain words in a file named .rtf", 1_000_000)
