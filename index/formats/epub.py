"""EPUB (.epub): each chapter's text in reading (spine) order, with its headings, list items,
code and table rows as the html format reads them; the title from the metadata.

Read with the standard library (zipfile and ElementTree): an EPUB is a zip holding a package
file (OPF) that lists the chapters, each an XHTML page read by the html format. The one
maintained EPUB library, EbookLib, is AGPL-licensed, which would bind every user of the
service; what it would do here is these few lines.
"""

from __future__ import annotations

import posixpath
import zipfile
from urllib.parse import unquote
from xml.etree import ElementTree

from index.formats import html
from index.formats.decoding import collapse
from index.formats.extraction import Extracted, UnreadableDocumentError, short_message
from index.formats.plain_text import first_line
from index.formats.structure import TextBuilder
from index.formats.zip_archive import unpacked_archive

_CONTAINER = "META-INF/container.xml"
# A book whose chapters are encrypted lists them here; fonts alone may be obfuscated, harmlessly.
_ENCRYPTION = "META-INF/encryption.xml"
_FONT_SUFFIXES = (".ttf", ".otf", ".woff", ".woff2")
_CHAPTER_TYPES = ("application/xhtml+xml", "text/html")


def extract(data: bytes, max_chars: int) -> Extracted:
    archive = unpacked_archive(data, "EPUB")
    try:
        with zipfile.ZipFile(archive) as files:
            if _encrypted_chapters(files):
                raise UnreadableDocumentError("encrypted EPUB (DRM)")
            package_path = _package_path(files)
            package = _xml(files, package_path)
            built = TextBuilder()
            partial = _chapters(files, package, posixpath.dirname(package_path), max_chars,
                                built)
    except (KeyError, ElementTree.ParseError, zipfile.BadZipFile, ValueError) as exc:
        raise UnreadableDocumentError(f"broken EPUB: {short_message(exc)}") from exc
    meta_title = next((e.text for e in package.iter() if _local(e.tag) == "title" and e.text),
                      None)
    title = meta_title if meta_title and collapse(meta_title) else first_line(built.text)
    return Extracted(built.text, title, partial, structure=built.structure)


def _package_path(files: zipfile.ZipFile) -> str:
    """Where the package file (OPF) is, as META-INF/container.xml says."""
    for element in _xml(files, _CONTAINER).iter():
        if _local(element.tag) == "rootfile" and element.get("full-path"):
            return element.get("full-path", "")
    raise ValueError("no package file named in META-INF/container.xml")


def _chapters(files: zipfile.ZipFile, package: ElementTree.Element, folder: str,
              max_chars: int, built: TextBuilder) -> bool:
    """Add each chapter of the spine, until there is more than ``max_chars``; returns whether
    reading stopped there."""
    items = {e.get("id"): e for e in package.iter() if _local(e.tag) == "item"}
    for itemref in (e for e in package.iter() if _local(e.tag) == "itemref"):
        item = items.get(itemref.get("idref"))
        if item is None or item.get("media-type") not in _CHAPTER_TYPES:
            continue
        path = posixpath.normpath(posixpath.join(folder, unquote(item.get("href", ""))))
        html.add_text(files.read(path), built)
        if len(built) > max_chars:
            return True
    return False


def _encrypted_chapters(files: zipfile.ZipFile) -> bool:
    """Whether META-INF/encryption.xml lists any file but fonts: DRM, so the text is unreadable."""
    if _ENCRYPTION not in files.namelist():
        return False
    try:
        root = _xml(files, _ENCRYPTION)
    except ElementTree.ParseError:
        return True  # unreadable encryption data: assume the worst, as readers do
    uris = [e.get("URI", "") for e in root.iter() if _local(e.tag) == "CipherReference"]
    return any(not uri.lower().endswith(_FONT_SUFFIXES) for uri in uris)


def _xml(files: zipfile.ZipFile, name: str) -> ElementTree.Element:
    return ElementTree.fromstring(files.read(name))


def _local(tag: str) -> str:
    """A tag without its namespace: "{http://www.idpf.org/2007/opf}item" is "item"."""
    return tag.rsplit("}", 1)[-1]
