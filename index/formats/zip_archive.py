"""Zip-based formats' archives (docx, pptx, odt, odp, epub) checked before a library opens one.

A 1 MB archive can declare, or hide, gigabytes: its members are counted, their declared sizes
and compression ratios checked, and then each is read with a byte cap into a fresh uncompressed
archive, which is what the format's library opens. That copy holds no more than was counted,
whatever the original's headers claimed.
"""

from __future__ import annotations

import io
import zipfile
import zlib

from index.formats.extraction import UnreadableDocumentError, short_message

# Office encryption wraps the document in an OLE compound file; .doc and .ppt are OLE files too.
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
MAX_MEMBERS = 10_000
# Far above any document's text (2 M characters are ~40 MB of Word XML), far below a bomb's.
MAX_UNPACKED_BYTES = 200 * 1024 * 1024
# Deflated XML shrinks 5-30 times; a bomb's zeros 1,000 times. Small members are exempt:
# a few KB of repeated markup may shrink 100 times and can cost nothing.
MAX_RATIO = 100
RATIO_FREE_BYTES = 1024 * 1024
_MB = 1024 * 1024
_CHUNK = _MB


def unpacked_archive(data: bytes, kind: str) -> io.BytesIO:
    """A copy of the zip archive ``data``, every member read under the caps, stored uncompressed.

    Args:
        kind: the format's name for skip reasons, e.g. "DOCX".
    Raises:
        UnreadableDocumentError: not a zip (encrypted Office files are not), an encrypted
            member, too many members, or more unpacked bytes or compression than allowed.
    """
    if data.startswith(OLE_MAGIC):
        raise UnreadableDocumentError(f"encrypted or old binary Office format, not {kind}")
    try:
        source = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, NotImplementedError, ValueError, OSError, EOFError) as exc:
        raise UnreadableDocumentError(f"broken {kind}: {short_message(exc)}") from exc
    with source:
        members = source.infolist()
        _check_declared(members, kind)
        copy = io.BytesIO()
        with zipfile.ZipFile(copy, "w", zipfile.ZIP_STORED) as target:
            budget = MAX_UNPACKED_BYTES
            for member in members:
                content = _read_capped(source, member, budget, kind)
                budget -= len(content)
                # A fresh entry: the original's flags, versions and dates may be anything.
                target.writestr(zipfile.ZipInfo(member.filename), content, zipfile.ZIP_STORED)
    copy.seek(0)
    return copy


def _check_declared(members: list[zipfile.ZipInfo], kind: str) -> None:
    if len(members) > MAX_MEMBERS:
        raise UnreadableDocumentError(
            f"refused {kind}: {len(members):,} files in the archive (limit {MAX_MEMBERS:,})"
        )
    if len({m.filename for m in members}) != len(members):
        raise UnreadableDocumentError(f"broken {kind}: a file name repeats in the archive")
    if any(m.flag_bits & 0x1 for m in members):
        raise UnreadableDocumentError(f"encrypted {kind} (password-protected)")
    for member in members:
        if member.file_size > RATIO_FREE_BYTES and (
            member.file_size > MAX_RATIO * max(member.compress_size, 1)
        ):
            raise UnreadableDocumentError(
                f"refused {kind}: possible zip bomb ({member.filename} unpacks "
                f"{member.file_size // max(member.compress_size, 1):,} times its size)"
            )
    total = sum(m.file_size for m in members)
    if total > MAX_UNPACKED_BYTES:
        raise UnreadableDocumentError(_too_large(kind, f"{total / _MB:,.0f} MiB"))


def _read_capped(source: zipfile.ZipFile, member: zipfile.ZipInfo, budget: int, kind: str) -> bytes:
    """The member's bytes; never more than it declared, nor than what is left of the budget."""
    cap = min(member.file_size, budget)
    pieces: list[bytes] = []
    size = 0
    try:
        with source.open(member) as stream:
            while piece := stream.read(min(_CHUNK, cap + 1 - size)):
                size += len(piece)
                if size > cap:
                    break
                pieces.append(piece)
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, ValueError, OSError,
            EOFError) as exc:
        raise UnreadableDocumentError(f"broken {kind}: {short_message(exc)}") from exc
    if size > cap:
        if cap == member.file_size:
            raise UnreadableDocumentError(
                f"broken {kind}: {member.filename} holds more than its declared size"
            )
        raise UnreadableDocumentError(
            _too_large(kind, f"more than {MAX_UNPACKED_BYTES // _MB} MiB"))
    return b"".join(pieces)


def _too_large(kind: str, size: str) -> str:
    return (f"refused {kind}: unpacks to {size} (limit {MAX_UNPACKED_BYTES // _MB} MiB); "
            "possible zip bomb")
