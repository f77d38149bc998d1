"""Every structured format gives each passage its section's heading trail (and its page or
slide): real files made by LibreOffice and pandoc (tests/data/formats, see
tests/test_format_files.py), a PDF of several pages, and small Markdown, HTML and
reStructuredText sources, read as a rebuild reads them and split by the real model's tokenizer.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from index import Embedder
from index.chunking import Passage, split_passages
from index.documents import Document, load_document
from tests.pdf_files import pdf_bytes

FORMATS = Path(__file__).resolve().parent / "data" / "formats"

READING = ("Reading the tide tables",)
CROSSING = ("Reading the tide tables", "Safe crossing times")
CLOSING = ("Reading the tide tables", "Closing notes")
# (phrase, the trail of the passage holding it) in tests/data/format-sources/guide.md
GUIDE_CASES = [
    ("Port Office", ()),  # the title page, before the first heading
    ("The harbour master publishes tide tables", READING),
    ("Keep the red buoy to port", CROSSING),  # a list item
    ("Saturday | 09:47 | 16:05", CROSSING),  # a table row
    ("Report damaged channel markers", CLOSING),
]
GUIDES = ["docx-guide-pandoc.docx", "docx-guide-libreoffice.docx", "odt-guide-pandoc.odt",
          "odt-guide-libreoffice.odt", "rst-guide-pandoc.rst"]
SLIDE_CASES = [  # (phrase, trail, first and last slide) in tests/data/format-sources/slides.md
    # Slide 1 holds only the deck's title, a heading right above slide 2's: one section, and
    # the title leads into slide 2's first paragraph.
    ("Lighthouse Keeping Basics Daily lamp routine", ("Daily lamp routine",), (1, 2)),
    # The bullets are one list, which the title and heading before it lead into.
    ("Polish the Fresnel lens weekly", ("Daily lamp routine",), (1, 2)),
    # The speaker notes share a passage with their slide's text (a section's paragraphs are
    # packed), here the title slide's too.
    ("paraffin fumes need ventilation", ("Daily lamp routine",), (1, 2)),
    ("The foghorn sounds two blasts", ("Fog signals",), (3, 3)),
    ("The old diaphone was replaced in 1987.", ("Fog signals",), (3, 3)),
    ("Argand burner | 1200", ("Lamp inventory",), (4, 4)),
]
SLIDES = ["pptx-slides-pandoc.pptx", "pptx-slides-libreoffice.pptx", "odp-slides-libreoffice.odp"]

# (file, phrase, trail, first and last page or slide if paged)
CASES: list[tuple[str, str, tuple[str, ...], tuple[int, int] | None]] = [
    *[(name, phrase, trail, None) for name in GUIDES for phrase, trail in GUIDE_CASES],
    *[(name, phrase, trail, slide) for name in SLIDES for phrase, trail, slide in SLIDE_CASES],
    # Pandoc's EPUB has a title page whose <h1> is the book's title.
    ("epub-guide-pandoc.epub", "Port Office", ("Harbour Tide Guide",), None),
    *[("epub-guide-pandoc.epub", phrase, trail, None) for phrase, trail in GUIDE_CASES[1:]],
    # LibreOffice's EPUB export writes headings as styled <p>s: no sections to find.
    ("epub-guide-libreoffice.epub", "Keep the red buoy to port", (), None),
    ("epub-guide-libreoffice.epub", "Saturday | 09:47 | 16:05", (), None),
    # A notebook: its Markdown cells' headings, its code cells.
    ("harbour.ipynb", 'readings = pd.read_csv("gauge.csv"', ("Tide height analysis",), None),
    ("harbour.ipynb", "except during the March storm surge.",
     ("Tide height analysis", "Residuals"), None),
    # docutils makes a lone top section's title the document's title: not a heading.
    ("hostile.rst", 'print("code stays")', (), None),
]


def passages_of(document: Document, embedder: Embedder, max_tokens: int = 0) -> list[Passage]:
    passages = split_passages(document.text, embedder.count_tokens,
                              max_tokens or embedder.max_tokens, structure=document.structure)
    starts = [start for start, _ in document.structure.sections(document.text)]
    # A passage never spans two sections: a section may start one, never fall inside one.
    assert [(p.start, s) for p in passages for s in starts if p.start < s < p.end] == []
    return passages


def holding(passages: list[Passage], phrase: str) -> Passage:
    found = [p for p in passages if phrase in p.text]
    assert len(found) == 1, [p.text for p in passages]
    return found[0]


@pytest.fixture(scope="module")
def real_files() -> dict[str, Document]:
    return {name: load_document(FORMATS / name, FORMATS) for name, _, _, _ in CASES}


@pytest.mark.parametrize(("name", "phrase", "trail", "pages"), CASES,
                         ids=[f"{c[0]}: {c[1][:30]}" for c in CASES])
def test_a_passage_of_a_real_file_knows_its_section_and_slide(
    real_files: dict[str, Document], embedder: Embedder, name: str, phrase: str,
    trail: tuple[str, ...], pages: tuple[int, int] | None,
) -> None:
    document = real_files[name]
    passage = holding(passages_of(document, embedder), phrase)
    assert passage.section == trail
    assert passage.pages == pages
    assert document.structure.page_kind == ("slide" if pages else "page")


def test_a_pdf_passage_knows_its_pages(tmp_path: Path, embedder: Embedder) -> None:
    sentence = "The {} page tells of harbour dues, berths and pilots in plain words."
    pages = ["Harbour dues and berths",  # a fragment: it leads into page 2
             *[" ".join([sentence.format(n)] * 3) for n in ("second", "third", "fourth")],
             "Signed, the port office"]  # a fragment: it closes page 4's passage
    (tmp_path / "dues.pdf").write_bytes(pdf_bytes(pages))
    document = load_document(tmp_path / "dues.pdf", tmp_path)
    passages = passages_of(document, embedder)
    assert [(p.pages, p.section) for p in passages] == [((1, 2), ()), ((3, 3), ()), ((4, 5), ())]
    assert holding(passages, "The third page").pages == (3, 3)
    # Cut between its sentences, a page's passages all know it.
    cut = passages_of(document, embedder, max_tokens=24)
    assert [p.pages for p in cut if "third" in p.text] == [(3, 3)] * 3


MARKDOWN = """Before any heading, this text stands on its own in the file.

# Tides

## Spring tides

Spring tides reach the harbour wall twice a month.

```python
def high_water(day):

    return day.tide


def low_water(day):
    return day.ebb
```

## Neap tides

Neap tides come between them.
"""


def test_markdown_sections_and_a_code_block_with_blank_lines(
    tmp_path: Path, embedder: Embedder,
) -> None:
    (tmp_path / "tides.md").write_text(MARKDOWN)
    document = load_document(tmp_path / "tides.md", tmp_path)
    passages = passages_of(document, embedder)
    # A heading right under another starts one section, with the deeper trail.
    assert [trail for _, trail in document.structure.sections(document.text)] == [
        (), ("Tides", "Spring tides"), ("Tides", "Neap tides"),
    ]
    assert holding(passages, "Before any heading").section == ()
    assert holding(passages, "Tides Spring tides").section == ("Tides", "Spring tides")
    # The two short sections would fit one passage; each is its own.
    assert holding(passages, "Neap tides come").section == ("Tides", "Neap tides")
    assert "Spring" not in holding(passages, "Neap tides come").text
    # A section's paragraphs share a passage while they fit: the text and its code.
    assert holding(passages, "def high_water(day):") == holding(passages, "twice a month")
    # At a limit (32 tokens) the code block fits alone (27) but not with the paragraph
    # before it (40): it is one passage of its own, blank lines and all.
    small = passages_of(document, embedder, max_tokens=32)
    code = holding(small, "def high_water(day):")
    assert "def low_water(day): return day.ebb" in code.text
    assert code.text.startswith("def high_water") and code.section == ("Tides", "Spring tides")


HTML = """<html><head><title>Harbour</title></head><body>
<p>Welcome to the harbour pages, kept by the port office.</p>
<h1>Moorings</h1>
<p>Swing moorings are let by the season.</p>
<ul><li>Inner basin<ul><li>Small boats under eight metres only</li></ul></li></ul>
<h2>Berths</h2>
<table><tr><th>Berth</th><th>Length</th></tr><tr><td>North quay</td><td>120 m</td></tr></table>
<pre>
berth north
  length 120

berth south
</pre>
<h1>Fees</h1>
<p>Fees are paid at the harbour office.</p>
</body></html>"""


RST = """Harbour guide
=============

The guide's opening words, before its first section.

Tides
-----

Tides are measured at the lighthouse gauge.

Springs
~~~~~~~

- Spring tides reach the wall.

  - Twice a month.

::

    gauge north

    gauge south

Fees
----

Fees are paid at the harbour office.
"""


SOURCES = {  # file: (its source, its title, its blocks, (phrase, trail) of its passages)
    "harbour.html": (HTML, "Harbour", [
        ("heading", 1, "Moorings"),
        ("item", 1, "Inner basin"),
        ("item", 2, "Small boats under eight metres only"),
        ("heading", 2, "Berths"),
        ("row", 1, "Berth | Length"),
        ("row", 1, "North quay | 120 m"),
        ("code", 1, "berth north\n  length 120\n\nberth south"),
        ("heading", 1, "Fees"),
    ], [
        ("Welcome to the harbour", ()),
        ("Small boats under", ("Moorings",)),
        ("North quay | 120 m", ("Moorings", "Berths")),
        ("berth north length 120 berth south", ("Moorings", "Berths")),
        ("Fees are paid", ("Fees",)),
    ]),
    # The lone top section's title is the document's title, not a heading: its subsections
    # are the top ones.
    "guide.rst": (RST, "Harbour guide", [
        ("heading", 1, "Tides"),
        ("heading", 2, "Springs"),
        ("item", 1, "Spring tides reach the wall."),
        ("item", 2, "Twice a month."),
        ("code", 1, "gauge north\n\ngauge south"),
        ("heading", 1, "Fees"),
    ], [
        ("opening words", ()),
        ("lighthouse gauge", ("Tides",)),
        ("gauge north gauge south", ("Tides", "Springs")),
        ("Fees are paid", ("Fees",)),
    ]),
}


@pytest.mark.parametrize("name", SOURCES)
def test_headings_items_code_and_rows_of_a_source_and_its_sections(
    tmp_path: Path, embedder: Embedder, name: str,
) -> None:
    source, title, blocks, sections = SOURCES[name]
    (tmp_path / name).write_text(source)
    check(load_document(tmp_path / name, tmp_path), embedder, title, blocks, sections)


def test_a_word_documents_title_headings_and_list_styles(
    tmp_path: Path, embedder: Embedder,
) -> None:
    import docx

    word = docx.Document()
    word.add_paragraph("Harbour", style="Title")  # the document's title, not a heading
    word.add_paragraph("Welcome to the harbour pages, kept by the port office.")
    word.add_heading("Moorings", 1)
    word.add_paragraph("Inner basin", style="List Bullet")
    word.add_paragraph("Small boats under eight metres only", style="List Bullet 2")
    word.add_heading("Berths", 2)
    table = word.add_table(rows=1, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "North quay", "120 m"
    word.add_heading("Fees", 1)
    word.add_paragraph("Fees are paid at the harbour office.")
    word.save(tmp_path / "harbour.docx")
    check(load_document(tmp_path / "harbour.docx", tmp_path), embedder, "Harbour", [
        ("heading", 1, "Moorings"),
        ("item", 1, "Inner basin"),
        ("item", 2, "Small boats under eight metres only"),
        ("heading", 2, "Berths"),
        ("row", 1, "North quay | 120 m"),
        ("heading", 1, "Fees"),
    ], [
        ("Welcome to the harbour", ()),
        ("Small boats under", ("Moorings",)),
        ("North quay | 120 m", ("Moorings", "Berths")),
        ("Fees are paid", ("Fees",)),
    ])


def check(document: Document, embedder: Embedder, title: str,
          blocks: list[tuple[str, int, str]], sections: list[tuple[str, tuple[str, ...]]]) -> None:
    """The document's title, its blocks (kind, level, text) and the trails of the passages
    holding some phrases."""
    text = document.text
    assert document.title == title
    assert [(b.kind, b.level, text[b.start : b.end]) for b in document.structure.blocks] == blocks
    passages = passages_of(document, embedder)
    assert [(phrase, holding(passages, phrase).section) for phrase, _ in sections] == sections


@pytest.mark.parametrize("name", SLIDES)
def test_a_slides_bullets_are_list_items_and_its_table_rows(name: str) -> None:
    document = load_document(FORMATS / name, FORMATS)
    kinds = {document.text[b.start : b.end]: b.kind for b in document.structure.blocks}
    assert kinds["Trim the wick before dusk"] == "item"
    assert kinds["Polish the Fresnel lens weekly"] == "item"
    assert kinds["Argand burner | 1200"] == "row"
    assert kinds["Fog signals"] == "heading"
    assert "The foghorn sounds two blasts every thirty seconds." not in kinds  # a paragraph


def test_documentation_pages_lose_their_permalinks_and_copy_buttons(tmp_path: Path) -> None:
    """As documentation sites write them (Node.js's here): a "#" permalink in each heading,
    a "copy" button in each code block. Neither is text: "Windows vs. POSIX#" and
    "...myfile.htmlcopy" were what the page gave."""
    page = (
        '<html><head><title>Path</title></head><body><div id="apicontent">'
        '<h2>Windows vs. POSIX<span><a class="mark" href="#windows-vs-posix">#</a></span></h2>'
        "<p>The default operation of the module varies with the operating system.</p>"
        "<pre><code>path.basename('C:\\\\temp\\\\myfile.html');\n// Returns: 'myfile.html'"
        '</code><button class="copy-button">copy</button></pre>'
        '<h3><a href="#options">Options</a><a class="headerlink" href="#options">¶</a></h3>'
        "<p>A heading that is itself a link to its anchor keeps its words.</p>"
        "</div></body></html>"
    )
    (tmp_path / "path.html").write_text(page)
    document = load_document(tmp_path / "path.html", tmp_path)
    shown = [(b.kind, document.text[b.start : b.end]) for b in document.structure.blocks]
    assert shown == [
        ("heading", "Windows vs. POSIX"),
        ("code", "path.basename('C:\\\\temp\\\\myfile.html');\n// Returns: 'myfile.html'"),
        ("heading", "Options"),
    ]
    assert "copy" not in document.text and "#" not in document.text and "¶" not in document.text
