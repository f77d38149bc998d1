"""Small Office and e-book files written with the formats' own libraries, for the loading
tests (files made by the applications people use are in tests/data/formats)."""

from __future__ import annotations

import io
import zipfile


def docx_bytes(heading: str, paragraph: str) -> bytes:
    import docx

    document = docx.Document()
    document.add_heading(heading, level=1)
    document.add_paragraph(paragraph)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def pptx_bytes(title: str, paragraph: str) -> bytes:
    from pptx import Presentation

    presentation = Presentation()
    slide = presentation.slides.add_slide(presentation.slide_layouts[1])
    slide.shapes.title.text = title
    slide.placeholders[1].text = paragraph
    out = io.BytesIO()
    presentation.save(out)
    return out.getvalue()


def opendocument_bytes(heading: str, paragraph: str, slides: bool = False) -> bytes:
    from odf.draw import Frame, Page, TextBox
    from odf.opendocument import OpenDocumentPresentation, OpenDocumentText
    from odf.style import MasterPage, PageLayout
    from odf.text import H, P

    if not slides:
        text_document = OpenDocumentText()
        text_document.text.addElement(H(outlinelevel=1, text=heading))
        text_document.text.addElement(P(text=paragraph))
        out = io.BytesIO()
        text_document.write(out)
        return out.getvalue()
    presentation = OpenDocumentPresentation()
    layout = PageLayout(name="layout")
    presentation.automaticstyles.addElement(layout)
    master = MasterPage(name="master", pagelayoutname=layout)
    presentation.masterstyles.addElement(master)
    page = Page(masterpagename=master)
    for number, element in enumerate([H(outlinelevel=1, text=heading), P(text=paragraph)]):
        box = TextBox()
        box.addElement(element)
        frame = Frame(width="20cm", height="3cm", x="1cm", y=f"{1 + 4 * number}cm")
        frame.addElement(box)
        page.addElement(frame)
    presentation.presentation.addElement(page)
    out = io.BytesIO()
    presentation.write(out)
    return out.getvalue()


def epub_bytes(title: str, paragraph: str) -> bytes:
    """A one-chapter EPUB 3, laid out as e-book writers lay it out."""
    opf = f"""<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
    <dc:identifier id="id">tides</dc:identifier><dc:title>{title}</dc:title>
    <dc:language>en</dc:language>
  </metadata>
  <manifest>
    <item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>
    <item id="one" href="one.xhtml" media-type="application/xhtml+xml"/>
  </manifest>
  <spine><itemref idref="one"/></spine>
</package>"""
    container = """<?xml version="1.0"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles><rootfile full-path="EPUB/content.opf" media-type="application/oebps-package+xml"/>
  </rootfiles>
</container>"""
    page = ('<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml">'
            "<head><title>{}</title></head><body>{}</body></html>")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as book:
        book.writestr("mimetype", "application/epub+zip", zipfile.ZIP_STORED)
        book.writestr("META-INF/container.xml", container)
        book.writestr("EPUB/content.opf", opf)
        contents = '<nav><a href="one.xhtml">One</a></nav>'
        book.writestr("EPUB/nav.xhtml", page.format("Contents", contents))
        book.writestr("EPUB/one.xhtml", page.format("One", f"<h1>{title}</h1><p>{paragraph}</p>"))
    return out.getvalue()
