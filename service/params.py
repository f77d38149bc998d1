"""Reading search parameters from a query string or a JSON body, for the API and the page."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

from werkzeug.datastructures import MultiDict

from index import DEFAULT_MODE, MAX_QUERY_CHARS, InvalidQueryError

# ASCII digits only; the length cap keeps int() cheap (the range check rejects big ones).
_INTEGER = re.compile(r"[+-]?[0-9]{1,30}")
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_FIELDS = ("q", "k", "offset", "mode", "doc", "alpha", "explain", "group")
_SINGLE_VALUED = tuple(f for f in _FIELDS if f != "doc")


@dataclass(frozen=True)
class SearchParams:
    q: str
    k: int = 10
    offset: int = 0
    mode: str = DEFAULT_MODE
    doc: tuple[str, ...] = ()
    alpha: float | None = None  # hybrid mode's dense weight; None: the configured one
    explain: bool = False
    group_by_document: bool = False


def from_query_string(
    args: MultiDict[str, str], raw: bytes, strict: bool = True
) -> SearchParams:
    """Parameters of a GET request; ``raw`` is the undecoded query string.

    Args:
        strict: refuse parameters this does not know, as a POST body's unknown fields are
            (the API); pages ignore them, since links people share collect tracking tags.
    Raises:
        InvalidQueryError: a parameter is unknown (if strict), repeated, malformed, or not
            valid UTF-8.
    """
    _check_encoding(raw)
    unknown = set(args) - set(_FIELDS)
    if strict and unknown:
        raise InvalidQueryError(f"unknown parameter {sorted(unknown)[0]!r}")
    for name in _SINGLE_VALUED:
        if len(args.getlist(name)) > 1:
            raise InvalidQueryError(f"{name} must be given once")
    values: dict[str, Any] = {name: args.get(name) for name in _SINGLE_VALUED}
    return _params(values, args.getlist("doc"))


def words_to_mark(args: MultiDict[str, str], raw: bytes) -> str:
    """A document page's ``q``, the words it marks, checked as a search's ``q`` is.

    Raises:
        InvalidQueryError: ``q`` repeated, too long, holding NUL, or not valid UTF-8.
    """
    _check_encoding(raw)
    if len(args.getlist("q")) > 1:
        raise InvalidQueryError("q must be given once")
    q = args.get("q", "")
    _check_query_text(q)
    return q


def from_json(body: Any) -> SearchParams:
    """Parameters of a POST request's JSON body (an object with the same fields)."""
    if not isinstance(body, dict):
        raise InvalidQueryError("the body must be a JSON object")
    unknown = set(body) - set(_FIELDS)
    if unknown:
        raise InvalidQueryError(f"unknown field {sorted(unknown)[0]!r}")
    doc = body.get("doc")
    if doc is None:  # null means left out, as for every optional field
        doc = []
    elif isinstance(doc, str):
        doc = [doc]
    if not isinstance(doc, list) or not all(isinstance(d, str) for d in doc):
        raise InvalidQueryError("doc must be a document id or a list of them")
    return _params(body, doc)


def _params(values: dict[str, Any], doc: list[str]) -> SearchParams:
    q, mode, group = values.get("q"), values.get("mode"), values.get("group")
    if q is None:
        raise InvalidQueryError("q is required")
    if not isinstance(q, str):
        raise InvalidQueryError("q must be a string")
    _check_query_text(q)
    if mode is not None and not isinstance(mode, str):
        raise InvalidQueryError("mode must be a string")
    if group not in (None, "doc"):
        raise InvalidQueryError("group must be doc")
    return SearchParams(
        q=q,
        k=_integer("k", values.get("k"), 10),
        offset=_integer("offset", values.get("offset"), 0),
        mode=DEFAULT_MODE if mode is None else mode,  # "" is an unknown mode, like "fuzzy"
        doc=tuple(dict.fromkeys(doc)),
        alpha=_fraction("alpha", values.get("alpha")),
        explain=_boolean("explain", values.get("explain")),
        group_by_document=group == "doc",
    )


def _check_query_text(q: str) -> None:
    if "\x00" in q:
        raise InvalidQueryError("q must not contain NUL characters")
    if len(q) > MAX_QUERY_CHARS:  # as sent, as /openapi.json says; the searcher strips it
        raise InvalidQueryError(f"q must be at most {MAX_QUERY_CHARS} characters")


def _integer(name: str, value: Any, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool):  # JSON true is not 1
        raise InvalidQueryError(f"{name} must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value)
    raise InvalidQueryError(f"{name} must be an integer")


def _fraction(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        number = float(value)
    else:
        raise InvalidQueryError(f"{name} must be a number between 0 and 1")
    if not 0 <= number <= 1:
        raise InvalidQueryError(f"{name} must be a number between 0 and 1")
    return number


def _boolean(name: str, value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("1", "true", "yes", "0", "false", "no"):
        return value.lower() in ("1", "true", "yes")
    raise InvalidQueryError(f"{name} must be true or false")


def _check_encoding(raw: bytes) -> None:
    try:
        unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidQueryError("the query string is not valid UTF-8") from e
