"""Zip archives built byte by byte for the bomb tests: sizes and contents as the test says."""

from __future__ import annotations

import struct
import zlib

_MB = 1024 * 1024


def deflated_zeros(megabytes: int) -> bytes:
    """A raw deflate stream of ``megabytes`` MB of zero bytes, about 1 KB per MB.

    One megabyte is compressed once and its blocks repeated: a full flush leaves no reference
    to earlier data, so the copies form a valid stream without compressing gigabytes.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    one = compressor.compress(b"\0" * _MB) + compressor.flush(zlib.Z_FULL_FLUSH)
    return one * megabytes + b"\x03\x00"  # an empty final block ends the stream


def zip_file(members: list[tuple[str, bytes, int]], flags: int = 0) -> bytes:
    """A zip of deflated members given as (name, raw deflate data, declared unpacked size),
    each with these general-purpose ``flags`` (bit 0: encrypted).

    The CRCs are zero: the archives are refused before any member is read to its end.
    """
    body = b""
    directory = b""
    for name, data, size in members:
        encoded = name.encode()
        fields = (20, flags, 8, 0, 0, 0, len(data), size, len(encoded))
        header = struct.pack("<4s5HIIIHH", b"PK\x03\x04", *fields[:5], *fields[5:], 0)
        directory += struct.pack(
            "<4s6HIIIHHHHHII", b"PK\x01\x02", 20, *fields[:5], *fields[5:], 0, 0, 0, 0, 0,
            len(body),
        ) + encoded
        body += header + encoded + data
    end = struct.pack("<4s4HIIH", b"PK\x05\x06", 0, 0, len(members), len(members),
                      len(directory), len(body), 0)
    return body + directory + end
