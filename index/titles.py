"""A document's title: the article's own title, told apart from the page furniture around it.

Pure functions over text a format has already read. Pages saved from the web start with
furniture (player notices, site names, menus, cookie banners) and state their title in
several places; the evidence they give (a comment header naming the article, a line
repeated as its heading, an Open Graph title, a site name) beats the first line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from index.formats.decoding import collapse

MAX_TITLE_CHARS = 200
# Titles sit near the top; a line repeated further down is a running header or a quote.
_HEAD_LINES = 40
_MAX_WORDS = 40  # longer lines are sentences of the article, not its title
_TOP_LINES = 5
# Notices are short; the furniture patterns take time quadratic in a line's length.
_MAX_FURNITURE_CHARS = 500
_MAX_HEADING_WORDS = 20  # a repeated paragraph is a quote or a teaser, not a heading

# Comment headers that name the article: WordPress's "21 comments to TITLE", "3 Responses to
# “TITLE”", "12 thoughts on “TITLE”", and the reply form's "Leave a Reply to TITLE".
_COMMENTS_ON = re.compile(
    r"(?:\d[\d,]*|no|one|two|three|four|five|six|seven|eight|nine|ten)\s+"
    r"(?:comments?|responses?|replies|thoughts?|reactions?)\s+(?:to|on|for)\s+(.+)",
    re.IGNORECASE,
)
_LEAVE_A_REPLY = re.compile(r"(?:leave a (?:reply|comment)|comments?)(?:\s+(?:to|on)\s+(.+))?",
                            re.IGNORECASE)
_QUOTES = "\"'“”‘’«»„"

# Lines that are page furniture wherever they appear: matched against the whole line.
_FURNITURE = re.compile(
    "|".join([
        # Plug-in and browser notices.
        r".*\b(?:requires?|needs?|install|get|download|enable|update|upgrade)\b.*"
        r"\b(?:adobe flash|flash player)\b.*",
        r".*\bjavascript\b.*\b(?:disabled|enable|required|turned off|support)\b.*",
        r".*\byour browser\b.*\b(?:does not|doesn't|not supported|out of date|upgrade)\b.*",
        # Cookie and consent banners.
        r".*\b(?:we|this (?:web)?site|our (?:web)?site)\b.*\buses? cookies\b.*",
        r".*\b(?:accept|allow|manage) (?:all )?cookies\b.*", r".*\bcookie (?:policy|settings)\b.*",
        # Navigation.
        r"(?:skip to|jump to) (?:main )?(?:content|navigation|main)\b.*",
        r"(?:home|menu|main menu|navigation|toggle navigation|search|log ?in|sign ?in|sign up|"
        r"register|about|about us|contact|contact us|back to top|you are here:?|"
        r"previous(?: post| article)?|next(?: post| article)?|close|open menu)",
        # Sharing, subscribing, advertising.
        r"(?:share|tweet|email|print|pin it|like|subscribe|follow us|share this)"
        r"(?:\s+(?:this|on|to|via|with|article|story|post|page|us|now)\b.*)?",
        r"(?:advertisement|sponsored(?: content)?|related(?: posts| articles| stories)?|"
        r"read more|continue reading|click here.*|loading\.*)",
        # Legal notices.
        r"(?:©|\(c\)|copyright\b).*", r".*\ball rights reserved\b.*",
        r".*\b(?:(?:privacy|comment|cookie) policy|policy notice|terms of (?:use|service))\b.*",
        # A bare address or domain: the site's name, not the article's.
        r"(?:https?://|www\.)\S*", r"[\w-]+(?:\.[\w-]+)*\.(?:com|org|net|info|co\.uk|ru|de)",
    ]),
    re.IGNORECASE,
)
# Separators between a title and a site name in "Story | Site" or "Site - Story".
_SITE_SEPARATOR = re.compile(r"\s+[|\-–—:·•»/]{1,2}\s+|\s*[|»]\s*")
_MENU_SEPARATOR = re.compile(r"\s*[|·•»/]\s*")


def tidy_title(raw: str | None) -> str:
    """``raw`` on one line, cut at a word boundary with "…" past MAX_TITLE_CHARS; "" if blank."""
    title = collapse(raw or "")
    if len(title) <= MAX_TITLE_CHARS:
        return title
    head = title[: MAX_TITLE_CHARS + 1]
    cut = head.rsplit(" ", 1)[0] if " " in head else title[:MAX_TITLE_CHARS]
    return f"{cut}…"


def text_title(text: str) -> str | None:
    """The title of a plain text, from the evidence it gives, else its first meaningful line.

    In order: the title a comment header names ("21 comments to TITLE"); a line the page
    repeats near its top (a saved page's <title> then its heading); the first line of two or
    more words that is not furniture; the first such line of one word. Only lines before
    the comments count, other than the header. None when every line is furniture.
    """
    lines = [line for line in (collapse(raw) for raw in text.split("\n")) if line]
    section = next((i for i, line in enumerate(lines) if starts_comments(line)), len(lines))
    head = lines[: min(section, _HEAD_LINES)]
    candidates = [line for line in head if _could_be_title(line)]
    # A lone word near the top is a section name or a menu item more often than a title.
    meaningful = [line for line in head if not is_furniture(line) and _has_letters(line)]
    return (_named_by_comments(lines, candidates) or _repeated(candidates)
            or next((line for line in meaningful if len(line.split()) > 1), None)
            or next(iter(meaningful), None))


def page_title(stated: Iterable[str | None], headings: Sequence[str],
               site_names: Iterable[str | None]) -> str | None:
    """The title of an HTML page: the first title it states, without its site name.

    Args:
        stated: the titles the page states, most trusted first (og:title, JSON-LD
            headline, twitter:title, <title>); blank ones are passed over.
        headings: the article's <h1>s, in page order: the title when nothing is stated,
            and the evidence of which part of "Story | Site" is the story.
        site_names: the site's names as the page gives them (og:site_name, publisher).
    """
    names = {collapse(name).casefold() for name in site_names if name and collapse(name)}
    heads = [collapse(h) for h in headings if collapse(h)]
    for title in (collapse(s) for s in stated if s):
        if title:
            return _without_site_name(title, names, heads)
    return heads[0] if heads else None


def is_furniture(line: str) -> bool:
    """Whether a line is page furniture: a notice, a menu, a share button, a legal line."""
    line = collapse(line).strip(_QUOTES + " ")
    if len(line) > _MAX_FURNITURE_CHARS:
        return False
    if _FURNITURE.fullmatch(line):
        return True
    # A menu or breadcrumb: three or more short items between separators.
    items = [item for item in _MENU_SEPARATOR.split(line) if item]
    return len(items) >= 3 and all(len(item.split()) <= 3 for item in items)


def _could_be_title(line: str) -> bool:
    return _has_letters(line) and len(line.split()) <= _MAX_WORDS and not is_furniture(line)


def _has_letters(line: str) -> bool:
    return any(c.isalpha() for c in line)


def starts_comments(line: str) -> bool:
    """Whether a line heads a page's comments: "21 comments to TITLE", "Leave a Reply"."""
    return bool(_COMMENTS_ON.fullmatch(line) or _LEAVE_A_REPLY.fullmatch(line))


def _named_by_comments(lines: Sequence[str], candidates: Sequence[str]) -> str | None:
    """The TITLE of "N comments to TITLE" anywhere, or of "Leave a Reply to TITLE" when that
    is also a line near the top (the reply form names the comment replied to as well)."""
    near_top = {line.casefold(): line for line in candidates}
    for line in lines:
        if match := _COMMENTS_ON.fullmatch(line):
            named = match.group(1).strip(_QUOTES + " ")
            if named and not is_furniture(named):
                return near_top.get(named.casefold(), named)
        elif (match := _LEAVE_A_REPLY.fullmatch(line)) and match.group(1):
            named = match.group(1).strip(_QUOTES + " ")
            if named.casefold() in near_top:
                return near_top[named.casefold()]
    return None


def _repeated(candidates: Sequence[str]) -> str | None:
    """A title the top of the page states twice: the story part of a first "Story | Site"
    line that recurs on its own, or a heading-sized line among the first few that recurs
    there (a saved page's <title> and heading; further down, repeats are menus)."""
    if not candidates:
        return None
    later = {line.casefold(): line for line in candidates[1:]}
    for part in _end_parts(candidates[0].casefold()):
        if part in later:
            return later[part]
    top = candidates[:_TOP_LINES]
    folded = [line.casefold() for line in top]
    return next((line for i, line in enumerate(top)
                 if 2 <= len(line.split()) <= _MAX_HEADING_WORDS and folded[i] in folded[i + 1:]),
                None)


def _without_site_name(title: str, site_names: set[str], headings: Sequence[str]) -> str:
    """``title`` without a site name split off at its start or end: the part that is one of
    the headings, else what is left once an end part naming the site is cut off."""
    # Each cut copies a part of the title: quadratic in its length, and a <title> can be any
    # size, so only titles about as long as a tidy one are cut.
    cuts = list(_SITE_SEPARATOR.finditer(title)) if len(title) <= MAX_TITLE_CHARS * 2 else []
    if not cuts:
        return title
    folded_headings = {h.casefold() for h in headings}
    # A <title> may keep the Markdown its heading was written in ("Modules: `node:module` API").
    plain_headings = {_without_markup(h): h for h in headings}
    for cut in cuts:
        for part in (title[: cut.start()], title[cut.end():]):
            if part.casefold() in folded_headings:
                return part
            if _without_markup(part) in plain_headings:
                return plain_headings[_without_markup(part)]
    if site_names:
        first, last = cuts[0], cuts[-1]
        if _names_site(title[last.end():], site_names):
            title = title[: last.start()]
        elif _names_site(title[: first.start()], site_names):
            title = title[first.end():]
    return title


def _without_markup(text: str) -> str:
    return collapse(text.replace("`", "")).casefold()


def _names_site(part: str, site_names: set[str]) -> bool:
    folded = part.casefold().strip()
    return bool(folded) and any(folded == name or folded in name or name in folded
                                for name in site_names if len(part.split()) <= 6)


def _end_parts(line: str) -> list[str]:
    cuts = list(_SITE_SEPARATOR.finditer(line))
    return [line[: cuts[-1].start()], line[cuts[0].end():]] if cuts else []
