"""The search parameters of the API and the page: one table that reads and checks them, and
that /openapi.json is generated from, so the document cannot disagree with the parser."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

from werkzeug.datastructures import MultiDict

from index import (
    DEFAULT_K,
    DEFAULT_MODE,
    MAX_FILTER_VALUES,
    MAX_K,
    MAX_OFFSET,
    MAX_QUERY_CHARS,
    MODES,
    PARTS,
    InvalidQueryError,
    SearchRequest,
)
from index.query_syntax import ParsedQuery, parse_query

# ASCII digits only; the length cap keeps int() cheap (the range check rejects big ones).
_INTEGER = re.compile(r"[+-]?[0-9]{1,30}")
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
# Some character other than whitespace (as Python's str.strip sees it), and no NUL anywhere.
_NOT_BLANK = "^[^\\x00]*([^\\s\\x00\\x1c-\\x1f\\x85]|\\ufeff)[^\\x00]*$"


@dataclass(frozen=True)
class Parameter:
    """One search parameter: how a given value is read and checked, and how it is documented.

    ``read`` gets a value that was given (not None; in a JSON body null means left out, as
    in a query string a missing parameter does) and raises InvalidQueryError if it is bad.
    """

    name: str
    description: str = ""
    default: Any = None  # the value when left out

    def read(self, value: Any) -> Any:
        raise NotImplementedError

    def schema(self) -> dict[str, Any]:
        """The OpenAPI schema of one value, as a query-string parameter."""
        raise NotImplementedError

    def query_parameter(self) -> dict[str, Any]:
        """The OpenAPI description of this parameter in a GET query string."""
        return {"name": self.name, "in": "query", "schema": self._described(self.schema())}

    def body_schema(self) -> dict[str, Any]:
        """The OpenAPI schema of this field in a POST body, where null means left out."""
        schema = {**self._described(self.schema()), "nullable": True}
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
        return schema

    def _described(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {**schema, "description": self.description} if self.description else schema


@dataclass(frozen=True)
class QueryText(Parameter):
    """The query, required; its length is counted as sent (the request strips it)."""

    max_chars: int = MAX_QUERY_CHARS

    def read(self, value: Any) -> str:
        if not isinstance(value, str):
            raise InvalidQueryError(f"{self.name} must be a string")
        if "\x00" in value:
            raise InvalidQueryError(f"{self.name} must not contain NUL characters")
        if len(value) > self.max_chars:
            raise InvalidQueryError(f"{self.name} must be at most {self.max_chars} characters")
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "minLength": 1, "maxLength": self.max_chars,
                "pattern": _NOT_BLANK}

    def query_parameter(self) -> dict[str, Any]:
        return {**super().query_parameter(), "required": True}

    def body_schema(self) -> dict[str, Any]:
        return self._described(self.schema())


@dataclass(frozen=True)
class Integer(Parameter):
    minimum: int = 0
    maximum: int = 0

    def read(self, value: Any) -> int:
        if isinstance(value, bool):  # JSON true is not 1
            raise InvalidQueryError(f"{self.name} must be an integer")
        if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
            value = int(value)
        if not isinstance(value, int):
            raise InvalidQueryError(f"{self.name} must be an integer")
        if not self.minimum <= value <= self.maximum:
            raise InvalidQueryError(
                f"{self.name} must be between {self.minimum} and {self.maximum}"
            )
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "integer", "minimum": self.minimum, "maximum": self.maximum,
                "default": self.default}


@dataclass(frozen=True)
class Fraction(Parameter):
    minimum: float = 0
    maximum: float = 1

    def read(self, value: Any) -> float:
        number = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
            number = float(value)
        if number is None or not self.minimum <= number <= self.maximum:  # NaN is neither
            raise InvalidQueryError(
                f"{self.name} must be a number between {self.minimum:g} and {self.maximum:g}"
            )
        return number

    def schema(self) -> dict[str, Any]:
        return {"type": "number", "minimum": self.minimum, "maximum": self.maximum}


@dataclass(frozen=True)
class Choice(Parameter):
    choices: tuple[str, ...] = ()

    def read(self, value: Any) -> str:
        if value in self.choices:
            return str(value)
        if len(self.choices) == 1:
            raise InvalidQueryError(f"{self.name} must be {self.choices[0]}")
        if not isinstance(value, str):
            raise InvalidQueryError(f"{self.name} must be a string")
        # "" is an unknown choice, like "fuzzy"
        raise InvalidQueryError(f"{self.name} must be one of {', '.join(self.choices)}")

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string", "enum": list(self.choices)}
        return schema if self.default is None else {**schema, "default": self.default}


@dataclass(frozen=True)
class Time(Parameter):
    """A date or an ISO 8601 time (the request makes it UTC)."""

    def read(self, value: Any) -> str:
        if not isinstance(value, str):
            raise InvalidQueryError(f"{self.name} must be a date such as 2024-03-01")
        return value

    def schema(self) -> dict[str, Any]:
        # "date": what people give, and what generated tests may send; a time is also taken.
        return {"type": "string", "format": "date", "example": "2024-03-01"}


@dataclass(frozen=True)
class Flag(Parameter):
    default: Any = False

    def read(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "0", "false", "no"):
            return value.lower() in ("1", "true", "yes")
        raise InvalidQueryError(f"{self.name} must be true or false")

    def schema(self) -> dict[str, Any]:
        return {"type": "boolean"}


@dataclass(frozen=True)
class Repeated(Parameter):
    """Strings, repeated in a query string; one string or a list of them in a JSON body."""

    default: Any = ()
    one: str = "a string"  # what one value is, for the error message
    max_items: int | None = None  # how many the request takes, if it limits them

    def read(self, value: Any) -> tuple[str, ...]:
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise InvalidQueryError(f"{self.name} must be {self.one} or a list of them")
        if self.max_items is not None and len(values) > self.max_items:
            raise InvalidQueryError(f"{self.name} may be given at most {self.max_items} times")
        return tuple(dict.fromkeys(values))

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "array", "items": {"type": "string"}}
        return {**schema, "maxItems": self.max_items} if self.max_items else schema

    def query_parameter(self) -> dict[str, Any]:
        return {**super().query_parameter(), "style": "form", "explode": True}

    def body_schema(self) -> dict[str, Any]:
        string = {"type": "string"}
        one_or_more = {"anyOf": [string, self.schema()], "nullable": True}
        return self._described(one_or_more)


QUERY = QueryText("q", "Leading and trailing whitespace is ignored; the rest must remain.")
PARAMETERS: tuple[Parameter, ...] = (
    QUERY,
    Integer("k", default=DEFAULT_K, minimum=1, maximum=MAX_K),
    Integer("offset", default=0, minimum=0, maximum=MAX_OFFSET),
    Choice("mode", default=DEFAULT_MODE, choices=MODES),
    Repeated("doc", "Only passages of these document ids.", one="a document id"),
    Repeated("path", "Only passages of documents in these folders of the docs folder (and "
             "below them), e.g. notes/2024.", one="a folder", max_items=MAX_FILTER_VALUES),
    Repeated("type", "Only passages of documents of these file types, e.g. pdf.",
             one="a file type", max_items=MAX_FILTER_VALUES),
    Time("modified_after", "Only passages of files modified at or after this date or time "
         "(a date is its midnight UTC; a time without an offset is UTC)."),
    Time("modified_before", "Only passages of files modified before this date or time."),
    Choice("part", "Only passages of this part of their pages: the article or its comments.",
           choices=PARTS),
    Fraction("alpha", "Hybrid mode: weight of the dense ranking (lexical gets 1 - alpha), "
             "used as given instead of the configured one, which adaptive fusion (the "
             "default) adjusts for each query."),
    Flag("explain", "Add each hit's dense and lexical scores and ranks."),
    Choice("group", "One hit per document: its best passage.", choices=("doc",)),
    Flag("facets", "Count the documents of the ranked candidates by folder and by type."),
    Flag("syntax", "Read the search box's syntax in q: type:pdf, in:notes/, "
         "after:2024-03-01, before:2024-04-01, \"exact phrase\", -word."),
    Flag("highlights", "Give each hit the sentences of its text nearest the query in "
         "meaning, as offsets. They are embedded per query (tens of ms for k=10), so the API "
         "gives them only when asked; the results page, unless highlights=false."),
)
SIMILAR_PARAMETERS: tuple[Parameter, ...] = (
    Integer("k", default=DEFAULT_K, minimum=1, maximum=MAX_K),
    Integer("offset", default=0, minimum=0, maximum=MAX_OFFSET),
    Flag("same_document", "Also passages of the passage's own document."),
)
_NAMES = frozenset(p.name for p in PARAMETERS)
_REPEATABLE = frozenset(p.name for p in PARAMETERS if isinstance(p, Repeated))


def from_query_string(
    args: MultiDict[str, str], raw: bytes, strict: bool = True, syntax: bool = False
) -> SearchRequest:
    """The search a GET request asks for; ``raw`` is the undecoded query string.

    Args:
        strict: refuse parameters this does not know, as a POST body's unknown fields are
            (the API); pages ignore them, since links people share collect tracking tags.
        syntax: read the query syntax in q whatever ``syntax`` says (the page).
    Raises:
        InvalidQueryError: a parameter is unknown (if strict), repeated, malformed, out of
            range, or not valid UTF-8.
    """
    _check_encoding(raw)
    unknown = set(args) - _NAMES
    if strict and unknown:
        raise InvalidQueryError(f"unknown parameter {sorted(unknown)[0]!r}")
    values: dict[str, Any] = {}
    for name in (p.name for p in PARAMETERS if p.name in args):
        given = args.getlist(name)
        if name not in _REPEATABLE and len(given) > 1:
            raise InvalidQueryError(f"{name} must be given once")
        values[name] = given if name in _REPEATABLE else given[0]
    return _request({**values, "syntax": True} if syntax else values)


@dataclass(frozen=True)
class SimilarRequest:
    k: int = DEFAULT_K
    offset: int = 0
    same_document: bool = False


def similar_from_query_string(
    args: MultiDict[str, str], raw: bytes, strict: bool = True
) -> SimilarRequest:
    """What a "more like this" request asks for: k, offset and same_document.

    Raises:
        InvalidQueryError: a parameter is unknown (if strict), repeated, malformed or out
            of range, or the query string is not valid UTF-8.
    """
    _check_encoding(raw)
    names = {p.name: p for p in SIMILAR_PARAMETERS}
    unknown = set(args) - set(names)
    if strict and unknown:
        raise InvalidQueryError(f"unknown parameter {sorted(unknown)[0]!r}")
    values: dict[str, Any] = {}
    for name, parameter in names.items():
        given = args.getlist(name)
        if len(given) > 1:
            raise InvalidQueryError(f"{name} must be given once")
        values[name] = parameter.read(given[0]) if given else parameter.default
    return SimilarRequest(**values)


def from_json(body: Any) -> SearchRequest:
    """The search a POST request's JSON body asks for (an object with the same fields).

    Raises:
        InvalidQueryError: the body is not such an object, or a field is unknown, malformed
            or out of range.
    """
    if not isinstance(body, dict):
        raise InvalidQueryError("the body must be a JSON object")
    unknown = set(body) - _NAMES
    if unknown:
        raise InvalidQueryError(f"unknown field {sorted(unknown)[0]!r}")
    return _request(body)


def words_to_mark(args: MultiDict[str, str], raw: bytes) -> str:
    """A document page's ``q``, the words it marks, checked as a search's ``q`` is.

    Raises:
        InvalidQueryError: ``q`` repeated, too long, holding NUL, or not valid UTF-8.
    """
    _check_encoding(raw)
    if len(args.getlist(QUERY.name)) > 1:
        raise InvalidQueryError(f"{QUERY.name} must be given once")
    return QUERY.read(args.get(QUERY.name, ""))


def _request(values: Mapping[str, Any]) -> SearchRequest:
    """The request from the given values, each read and checked by its parameter, in order."""
    if values.get(QUERY.name) is None:
        raise InvalidQueryError(f"{QUERY.name} is required")
    read = {
        p.name: p.default if values.get(p.name) is None else p.read(values[p.name])
        for p in PARAMETERS
    }
    parsed = parse_query(read["q"]) if read["syntax"] else ParsedQuery(read["q"])
    if read["syntax"] and not parsed.text.strip():
        raise InvalidQueryError("q needs words to search for besides its filters")
    return SearchRequest(
        query=parsed.text,
        k=read["k"],
        offset=read["offset"],
        mode=read["mode"],
        document_ids=read["doc"],
        part=read["part"],
        alpha=read["alpha"],
        explain=read["explain"],
        group_by_document=read["group"] == "doc",
        paths=read["path"] + parsed.paths,
        types=read["type"] + parsed.types,
        modified_after=_one(read["modified_after"], parsed.modified_after, "modified_after"),
        modified_before=_one(read["modified_before"], parsed.modified_before,
                             "modified_before"),
        facets=read["facets"],
        phrases=parsed.phrases,
        excluded=parsed.excluded,
        highlights=read["highlights"],
    )


def _one(given: str | None, typed: str | None, name: str) -> str | None:
    """A time given as a parameter or typed in q, not both."""
    if given is not None and typed is not None:
        raise InvalidQueryError(f"{name} is given both as a parameter and in q")
    return given if given is not None else typed


def _check_encoding(raw: bytes) -> None:
    try:
        unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidQueryError("the query string is not valid UTF-8") from e
