"""The search request: everything one search asks for, as every caller of a search builds it.

The API, the page, the evaluation and the benchmarks build a ``SearchRequest`` and hand it to
``Searcher.search``. A request that exists is valid: the limits below hold for every caller,
so they are checked once, here. A new way to narrow or shape a search is one more field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from index.errors import InvalidQueryError
from index.fusion import FUSIONS

MODES = ("hybrid", "dense", "lexical")
DEFAULT_MODE = "hybrid"
# A pasted page of text, to find passages like it: about what the 64 KB request body holds.
MAX_QUERY_CHARS = 60_000
DEFAULT_K = 10
MAX_K = 100
MAX_OFFSET = 1000
PARTS = ("article", "comment")  # what of a web page a passage is (furniture is none)
MAX_FILTER_VALUES = 20  # folders or types one request may name


@dataclass(frozen=True)
class SearchRequest:
    """One search: the hits ranked ``offset + 1`` to ``offset + k`` for ``query``.

    Raises:
        InvalidQueryError: empty or too long query, k or offset out of range, unknown mode,
            part or fusion, alpha outside [0, 1].
    """

    query: str  # leading and trailing whitespace is dropped
    k: int = DEFAULT_K
    offset: int = 0
    mode: str = DEFAULT_MODE
    # If given, only passages of these documents are ranked, exactly.
    document_ids: tuple[str, ...] = ()
    # If given, only passages of this part of their pages ("article" or "comment").
    part: str | None = None
    # Rank documents by their best passage, one hit per document.
    group_by_document: bool = False
    # In hybrid mode, the weight of the dense ranking, 0 to 1; None: the searcher's own.
    alpha: float | None = None
    # In hybrid mode, one of index.fusion.FUSIONS; None: the searcher's own.
    fusion: str | None = None
    # Give each hit its dense and lexical scores and ranks.
    explain: bool = False
    # If given, only passages of documents in these folders ("notes/", any depth below).
    paths: tuple[str, ...] = ()
    # If given, only passages of documents of these file types ("pdf", "md").
    types: tuple[str, ...] = ()
    # If given, only passages of files modified at or after / before this time: a date
    # ("2024-03-01", its midnight UTC) or an ISO 8601 time; kept as "2024-03-01T00:00:00Z".
    modified_after: str | None = None
    modified_before: str | None = None
    # Count the candidates' documents by folder and by type.
    facets: bool = False
    # Each must be in the passage (case and spacing aside, whole words: index.query_syntax).
    phrases: tuple[str, ...] = ()
    # None may be in the passage.
    excluded: tuple[str, ...] = ()
    # Give each hit the spans of its passage's sentences nearest the query in meaning
    # (index.answer_sentences); off by default here, as ranking alone does not need them.
    highlights: bool = False

    def __post_init__(self) -> None:
        # Frozen, so the stripped query is set the way dataclasses set fields themselves.
        object.__setattr__(self, "query", self.query.strip())
        if not self.query:
            raise InvalidQueryError("q must not be empty")
        if len(self.query) > MAX_QUERY_CHARS:
            raise InvalidQueryError(f"q must be at most {MAX_QUERY_CHARS} characters")
        if not 1 <= self.k <= MAX_K:
            raise InvalidQueryError(f"k must be between 1 and {MAX_K}")
        if not 0 <= self.offset <= MAX_OFFSET:
            raise InvalidQueryError(f"offset must be between 0 and {MAX_OFFSET}")
        if self.mode not in MODES:
            raise InvalidQueryError(f"mode must be one of {', '.join(MODES)}")
        if self.part is not None and self.part not in PARTS:
            raise InvalidQueryError(f"part must be one of {', '.join(PARTS)}")
        if self.alpha is not None and not 0 <= self.alpha <= 1:
            raise InvalidQueryError("alpha must be between 0 and 1")
        if self.fusion is not None and self.fusion not in FUSIONS:
            raise InvalidQueryError(f"fusion must be one of {', '.join(FUSIONS)}")
        object.__setattr__(self, "paths", tuple(dict.fromkeys(map(folder_prefix, self.paths))))
        object.__setattr__(self, "types", tuple(dict.fromkeys(map(file_type, self.types))))
        if len(self.paths) > MAX_FILTER_VALUES or len(self.types) > MAX_FILTER_VALUES:
            raise InvalidQueryError(f"at most {MAX_FILTER_VALUES} folders and types")
        for name in ("modified_after", "modified_before"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, utc_time(value, name))

    @property
    def filters_documents(self) -> bool:
        """Whether only some documents' passages may be ranked."""
        return bool(self.document_ids or self.paths or self.types or self.modified_after
                    or self.modified_before)


def folder_prefix(path: str) -> str:
    """A folder of the docs folder as documents' sources start with it: "notes/2024/"; ""
    for the docs folder itself ("", "/", "."). Any string is one: a folder that does not
    exist (or ".." anywhere, which no source holds) simply matches no document."""
    parts = [part for part in path.split("/") if part not in ("", ".")]
    return "/".join(parts) + "/" if parts else ""


def file_type(value: str) -> str:
    """A file type as stored, the extension in lowercase without its dot: "PDF", ".pdf" and
    "pdf" are "pdf". A type no file has matches no document."""
    return value.strip().lower().removeprefix(".")


def utc_time(value: str, name: str = "time") -> str:
    """An ISO 8601 date or time as UTC "2024-03-01T00:00:00Z" (a date is its midnight UTC;
    a time without an offset is taken as UTC).

    Raises:
        InvalidQueryError: not such a date or time.
    """
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidQueryError(
            f"{name} must be a date such as 2024-03-01 or a time such as 2024-03-01T09:30:00Z"
        ) from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC)
    # Not strftime: its %Y does not pad years before 1000, and the strings must sort.
    return parsed.replace(tzinfo=None, microsecond=0).isoformat() + "Z"
