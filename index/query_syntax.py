"""The small query syntax typed in the search box: filters and text conditions inside the
query, taken out of the words that are ranked.

    type:pdf          only files of that type (repeatable: either)
    in:notes/         only files in that folder of the docs folder, or below it
    after:2024-03-01  only files modified at or after that date (or ISO time)
    before:2024-04-01 only files modified before it
    "exact phrase"    the passage must hold the phrase (its words are also ranked)
    -word, -"phrase"  the passage must not hold it

Anything else, "http://x" or "note:" included, is query text. The page always reads the
syntax; the API only with syntax=true, so that existing clients' queries keep their meaning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from index.errors import InvalidQueryError
from index.request import file_type, folder_prefix, utc_time

# One token: an optional "-", then a quoted phrase or a run of non-space characters.
_TOKEN = re.compile(r'(?P<minus>-?)(?:"(?P<phrase>[^"]*)"|(?P<word>[^\s"]+))|(?P<quote>")')
_FILTER = re.compile(r"(?P<name>type|in|after|before):(?P<value>.*)", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class ParsedQuery:
    text: str  # the words to rank, phrases' words included, filters and exclusions left out
    paths: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    modified_after: str | None = None
    modified_before: str | None = None
    phrases: tuple[str, ...] = ()  # each must be in the passage
    excluded: tuple[str, ...] = ()  # none may be
    # Each filter and condition as typed, with the query text without it: what the page's
    # link that removes it searches for.
    parts: tuple[tuple[str, str], ...] = field(default=())


def parse_query(query: str) -> ParsedQuery:
    """``query`` with its syntax read.

    Raises:
        InvalidQueryError: an unclosed quote, a filter without a value or a bad date.
    """
    words: list[str] = []
    found: dict[str, list[str]] = {"type": [], "in": [], "after": [], "before": [],
                                   "phrase": [], "excluded": []}
    parts: list[tuple[str, str]] = []
    for match in _TOKEN.finditer(query):
        if match["quote"]:
            raise InvalidQueryError('a quote in the query is not closed: end the phrase with "')
        token = match.group()
        phrase, word, minus = match["phrase"], match["word"], bool(match["minus"])
        rest = " ".join((query[: match.start()] + query[match.end() :]).split())
        if phrase is not None:
            phrase = " ".join(phrase.split())
            if not phrase:
                continue
            found["excluded" if minus else "phrase"].append(phrase)
            if not minus:
                words.append(phrase)
            parts.append((token, rest))
            continue
        assert word is not None
        syntax = _FILTER.fullmatch(word)
        if minus and len(word) > 0 and not syntax:
            found["excluded"].append(word)
            parts.append((token, rest))
        elif syntax and not minus:
            name, value = syntax["name"].lower(), syntax["value"]
            if not value:
                raise InvalidQueryError(f"{name}: needs a value, e.g. "
                                        f"{_EXAMPLES[name]}")
            found[name].append(value)
            parts.append((token, rest))
        else:
            words.append(token)
    if len(found["after"]) > 1 or len(found["before"]) > 1:
        raise InvalidQueryError("give after: and before: once each")
    return ParsedQuery(
        " ".join(words),
        tuple(folder_prefix(v) for v in found["in"]),
        tuple(file_type(v) for v in found["type"]),
        utc_time(found["after"][0], "after:") if found["after"] else None,
        utc_time(found["before"][0], "before:") if found["before"] else None,
        tuple(found["phrase"]),
        tuple(found["excluded"]),
        tuple(parts),
    )


_EXAMPLES = {"type": "type:pdf", "in": "in:notes/", "after": "after:2024-03-01",
             "before": "before:2024-04-01"}


def phrase_pattern(phrase: str) -> re.Pattern[str]:
    """What finds a phrase in a passage's text: case and runs of whitespace aside, whole
    words only ("tide" is not in "tidewater"). Made once a query, searched per candidate."""
    return re.compile(r"(?<!\w)" + r"\s+".join(map(re.escape, phrase.split())) + r"(?!\w)",
                      re.IGNORECASE)
