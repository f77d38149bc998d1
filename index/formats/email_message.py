"""Mail (.eml): the Subject as title and the body's text; attachments are named, not read."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from index.formats import html
from index.formats.decoding import clean, collapse
from index.formats.extraction import Extracted, UnreadableDocumentError, short_message
from index.formats.plain_text import first_line


def extract(data: bytes, max_chars: int) -> Extracted:
    try:
        message = BytesParser(policy=policy.default).parsebytes(data)
        assert isinstance(message, EmailMessage)  # what policy.default makes
        text = _body_text(message)
        attachments = tuple(
            collapse(part.get_filename() or "") or f"part {number} ({part.get_content_type()})"
            for number, part in enumerate(message.iter_attachments(), 1)
        )
        subject = str(message.get("subject", ""))
    except (LookupError, ValueError, TypeError) as exc:  # unknown charsets, broken encodings
        raise UnreadableDocumentError(f"broken mail: {short_message(exc)}") from exc
    title = subject if collapse(subject) else first_line(text)
    return Extracted(text, title, attachments=attachments)


def _body_text(message: EmailMessage) -> str:
    """The plain-text body, else the HTML body's visible text; "" when there is neither."""
    body = message.get_body(preferencelist=("plain", "html"))
    if not isinstance(body, EmailMessage):
        return ""
    content = body.get_content()
    if not isinstance(content, str):
        return ""
    if body.get_content_subtype() == "html":
        return html.visible_text(content.encode())
    return clean(content).strip()
