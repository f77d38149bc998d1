"""Small Office and e-book files written with the formats' own libraries, for the loading
tests (files made by the applications people use are in tests/data/formats)."""

from __future__ import annotations

import io


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
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("tides")
    book.set_title(title)
    book.set_language("en")
    chapter = epub.EpubHtml(title="One", file_name="one.xhtml", lang="en")
    chapter.content = f"<h1>{title}</h1><p>{paragraph}</p>"
    book.add_item(chapter)
    book.add_item(epub.EpubNav())
    book.spine = [chapter]
    out = io.BytesIO()
    epub.write_epub(out, book)
    return out.getvalue()
