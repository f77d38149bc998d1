"""EPUB (.epub): each chapter's text in reading (spine) order; the title from the metadata."""

from __future__ import annotations

import io
import zipfile
from xml.etree import ElementTree

from index.formats import html
from index.formats.decoding import collapse
from index.formats.extraction import Extracted, UnreadableDocumentError, short_message
from index.formats.plain_text import first_line
from index.formats.zip_archive import unpacked_archive

# A book whose chapters are encrypted lists them here; fonts alone may be obfuscated, harmlessly.
_ENCRYPTION = "META-INF/encryption.xml"
_FONT_SUFFIXES = (".ttf", ".otf", ".woff", ".woff2")


def extract(data: bytes, max_chars: int) -> Extracted:
    # ebooklib is imported where first needed: most folders hold no e-books, and start-up is
    # most of what an incremental rebuild waits for.
    import ebooklib
    from ebooklib import epub

    archive = unpacked_archive(data, "EPUB")
    if _encrypted_chapters(archive):
        raise UnreadableDocumentError("encrypted EPUB (DRM)")
    try:
        book = epub.read_epub(archive, options={"ignore_ncx": True})
    except Exception as exc:  # ebooklib and lxml raise many types for malformed books
        raise UnreadableDocumentError(f"broken EPUB: {short_message(exc)}") from exc
    chapters: list[str] = []
    total = 0
    partial = False
    for item_id, _linear in book.spine:
        item = book.get_item_with_id(item_id)
        if item is None or item.get_type() != ebooklib.ITEM_DOCUMENT:
            continue
        chapter = html.extract(item.get_content(), max_chars - total).text
        if chapter:
            chapters.append(chapter)
            total += len(chapter)
        if total > max_chars:
            partial = True
            break
    text = "\n\n".join(chapters)
    titles = book.get_metadata("DC", "title")
    meta_title = str(titles[0][0]) if titles and titles[0][0] else None
    title = meta_title if meta_title and collapse(meta_title) else first_line(text)
    return Extracted(text, title, partial)


def _encrypted_chapters(archive: io.BytesIO) -> bool:
    """Whether META-INF/encryption.xml lists any file but fonts: DRM, so the text is unreadable."""
    with zipfile.ZipFile(archive) as files:
        if _ENCRYPTION not in files.namelist():
            return False
        try:
            root = ElementTree.fromstring(files.read(_ENCRYPTION))
        except ElementTree.ParseError:
            return True  # unreadable encryption data: assume the worst, as readers do
    archive.seek(0)
    uris = [e.get("URI", "") for e in root.iter() if e.tag.endswith("CipherReference")]
    return any(not uri.lower().endswith(_FONT_SUFFIXES) for uri in uris)
