"""Tests for the zip-based formats' archive checks: bombs, encryption and broken archives are
refused with their reason before a library inflates anything, within a few MB of memory."""

from __future__ import annotations

import io
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from index.formats import EXTRACTORS, UnreadableDocumentError
from tests.zip_files import deflated_zeros, zip_file

DATA = Path(__file__).resolve().parent / "data"
ZIP_FORMATS = {".docx": "DOCX", ".pptx": "PPTX", ".odt": "ODT", ".odp": "ODP", ".epub": "EPUB"}
GIB = 1024 * 1024 * 1024


def refusal(suffix: str, data: bytes) -> tuple[str, int]:
    """The skip reason reading ``data`` as ``suffix`` raises, and the peak bytes it allocated."""
    tracemalloc.start()
    try:
        with pytest.raises(UnreadableDocumentError) as raised:
            EXTRACTORS[suffix](data, 1_000_000)
        return raised.value.reason, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("suffix", ZIP_FORMATS)
def test_a_one_megabyte_file_inflating_to_a_gigabyte_is_refused_unread(suffix: str) -> None:
    bomb = zip_file([("mimetype", deflated_zeros(0), 0),
                     ("content.xml", deflated_zeros(1024), GIB)])
    assert len(bomb) < 1.1 * 1024 * 1024
    reason, peak = refusal(suffix, bomb)
    assert reason == (f"refused {ZIP_FORMATS[suffix]}: possible zip bomb "
                      f"(content.xml unpacks 1,011 times its size)")
    assert peak < 10 * 1024 * 1024


def test_many_members_each_small_enough_but_too_large_together_are_refused() -> None:
    one_megabyte = deflated_zeros(1)
    bomb = zip_file([(f"word/part{i}.xml", one_megabyte, 1024 * 1024) for i in range(300)])
    reason, peak = refusal(".docx", bomb)
    assert reason == "refused DOCX: unpacks to 300 MiB (limit 200 MiB); possible zip bomb"
    assert peak < 10 * 1024 * 1024


def test_an_archive_of_too_many_members_is_refused() -> None:
    empty = deflated_zeros(0)
    reason, _ = refusal(".epub", zip_file([(f"OEBPS/{i}.xhtml", empty, 0) for i in range(10_001)]))
    assert reason == "refused EPUB: 10,001 files in the archive (limit 10,000)"


def test_a_member_holding_more_than_it_declares_is_read_no_further() -> None:
    liar = zip_file([("[Content_Types].xml", deflated_zeros(1024), 1000)])
    reason, peak = refusal(".docx", liar)
    assert reason.startswith("broken DOCX: Bad CRC-32"), reason
    assert peak < 10 * 1024 * 1024


def test_an_office_file_encrypted_with_a_password_is_refused_as_such() -> None:
    # Made by msoffcrypto-tool from docx-guide-libreoffice.docx, password "tide": an OLE file.
    encrypted = (DATA / "formats-broken" / "password-tide.docx").read_bytes()
    assert refusal(".docx", encrypted)[0] == "encrypted or old binary Office format, not DOCX"
    assert refusal(".pptx", encrypted)[0] == "encrypted or old binary Office format, not PPTX"


def test_a_zip_encrypted_member_is_refused_as_password_protected() -> None:
    locked = zip_file([("content.xml", deflated_zeros(0), 0)], flags=0x1)
    assert refusal(".odt", locked)[0] == "encrypted ODT (password-protected)"


def test_an_opendocument_file_saved_with_a_password_is_refused_as_such() -> None:
    # How LibreOffice saves one: the manifest describes each encrypted part's cipher.
    manifest = (
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml">'
        '<manifest:encryption-data manifest:checksum-type="SHA1/1K"/>'
        "</manifest:file-entry></manifest:manifest>"
    )
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as files:
        files.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        files.writestr("META-INF/manifest.xml", manifest)
        files.writestr("content.xml", b"\x93\x11 ciphertext \xfe")
    assert refusal(".odt", archive.getvalue())[0] == "encrypted ODT (password-protected)"


def test_an_epub_with_encrypted_chapters_is_refused_but_obfuscated_fonts_are_not() -> None:
    def book(encrypted: str) -> bytes:
        source = io.BytesIO((DATA / "formats" / "epub-guide-pandoc.epub").read_bytes())
        archive = io.BytesIO()
        with zipfile.ZipFile(source) as original, zipfile.ZipFile(archive, "w") as files:
            for member in original.infolist():
                files.writestr(member, original.read(member))
            files.writestr("META-INF/encryption.xml", (
                '<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" '
                'xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData>'
                f'<enc:CipherData><enc:CipherReference URI="{encrypted}"/></enc:CipherData>'
                "</enc:EncryptedData></encryption>"
            ))
        return archive.getvalue()

    assert refusal(".epub", book("EPUB/text/ch001.xhtml"))[0] == "encrypted EPUB (DRM)"
    assert "Harbour" in EXTRACTORS[".epub"](book("EPUB/fonts/serif.otf"), 1_000_000).text


@pytest.mark.parametrize("suffix", ZIP_FORMATS)
def test_bytes_that_are_not_a_zip_are_a_broken_file(suffix: str) -> None:
    assert refusal(suffix, b"just some words")[0] == (
        f"broken {ZIP_FORMATS[suffix]}: File is not a zip file"
    )
