"""What every format extractor takes and returns: bytes in, an Extracted (text, title) out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from index.formats.structure import Structure


class UnreadableDocumentError(Exception):
    """A file that cannot become a Document; ``reason`` says why, briefly."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Extracted:
    """A file's text as one format reads it, with its structure (headings, pages...)."""

    text: str  # with "\n" line breaks and no control characters; may still be empty
    title: str | None  # as the file states it, untidied; None if it states none
    partial: bool = False  # reading stopped once past max_chars: the file may hold more
    # Files inside this one that are not read with it (a mail's attachments), by name.
    attachments: tuple[str, ...] = ()
    # Why some of the file's text is missing from ``text``, if it is (scanned pages unread).
    missing: str | None = None
    structure: Structure = Structure()  # offsets into ``text``
    date: str | None = None  # of publication, ISO 8601 (YYYY-MM-DD), if the file states it
    author: str | None = None  # as the file states it


class Extractor(Protocol):
    def __call__(self, data: bytes, max_chars: int) -> Extracted:
        """The text and title of a file's bytes.

        Args:
            max_chars: text beyond this is cut by the caller; a format that can stop
                reading early (page by page) stops once it has this much.
        Raises:
            UnreadableDocumentError: the bytes are not a readable file of this format.
        """
        ...


def short_message(exc: BaseException) -> str:
    """The first line of an exception's message, at most 120 characters, for a skip reason."""
    message = (str(exc).strip() or type(exc).__name__).split("\n")[0]
    return message if len(message) <= 120 else f"{message[:117]}..."
