"""The passage store: documents, passages and their full-text table in one SQLite file.

A passage's rowid is its FAISS id and, minus one, its row in vectors.npy. A published
generation never changes, so readers open the file immutable (no locks, no journal).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from index.documents import Document, ReadBefore
from index.errors import BuildError, QueryTimeoutError
from index.formats.structure import Structure
from index.lexical import lexical_terms

if TYPE_CHECKING:
    from index.chunking import Passage

SCHEMA = """
CREATE TABLE documents (
    id           TEXT PRIMARY KEY,  -- path relative to the docs folder, no extension
    title        TEXT NOT NULL,
    source       TEXT NOT NULL,     -- path relative to the docs folder
    text         TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    file_sha256  TEXT NOT NULL,     -- of the file's bytes, as read
    reader       TEXT NOT NULL,     -- what read it (index.documents.reader_of)
    cut          TEXT,              -- why text is only the first part of the file's, if so
    attachments  TEXT NOT NULL,     -- JSON list of the names of files attached, not read
    structure    TEXT NOT NULL,     -- JSON of index.formats.structure.Structure
    date         TEXT,              -- of publication, YYYY-MM-DD, if the file states it
    author       TEXT,              -- as the file states it
    type         TEXT NOT NULL,     -- the file's extension, lowercase, no dot: "pdf"
    size         INTEGER NOT NULL,  -- the file's bytes
    modified     TEXT               -- the file's mtime, UTC, 2026-03-01T09:30:00Z
);
CREATE TABLE passages (
    rowid        INTEGER PRIMARY KEY,  -- FAISS id; row rowid - 1 of vectors.npy
    id           TEXT NOT NULL UNIQUE,
    document_id  TEXT NOT NULL REFERENCES documents(id),
    position     INTEGER NOT NULL,     -- order within the document, from 0
    char_start   INTEGER NOT NULL,     -- offsets into documents.text
    char_end     INTEGER NOT NULL,
    text         TEXT NOT NULL,        -- whitespace-normalised documents.text[char_start:char_end]
    section      TEXT NOT NULL,        -- JSON list: the heading trail, top first
    first_page   INTEGER,              -- page or slide numbers; NULL if the document has none
    last_page    INTEGER,
    ocr          INTEGER NOT NULL,     -- 1 if some of its text was read by OCR
    part         TEXT NOT NULL,        -- "article" or "comment"
    author       TEXT                  -- a comment's author, if known
);
CREATE INDEX passages_by_document ON passages(document_id, position);
CREATE INDEX passages_by_part ON passages(part);
-- Contentless: it holds only the BM25 terms of each passage (index.lexical), rowid = passage.
CREATE VIRTUAL TABLE passages_fts USING fts5(terms, content='', tokenize='unicode61');
-- The same terms, readable: the next rebuild copies them for unchanged passages instead of
-- analysing all their text again. Apart from passages, so searches never read them.
CREATE TABLE passage_terms (
    rowid        INTEGER PRIMARY KEY,  -- passages.rowid
    terms        TEXT NOT NULL         -- space-separated, as indexed in passages_fts
);
"""

STORE_FILE = "passages.sqlite"  # in each generation folder

# Distinct query terms a full-text search uses: no SciFact or NFCorpus query has more than
# 24, while 1,000 distinct words cost a merge of 1,000 posting lists.
MAX_QUERY_TERMS = 32
# Seconds a full-text search may run (a passing overload, not a bad query: 503).
LEXICAL_SECONDS = 2.0


@dataclass(frozen=True)
class StoredPassage:
    rowid: int
    id: str
    document_id: str
    position: int
    start: int
    end: int
    text: str
    section: tuple[str, ...]  # heading trail, top first
    pages: tuple[int, int] | None  # first and last page (or slide)
    ocr: bool  # some of its text was read by OCR
    part: str  # "article" or "comment"
    author: str | None  # a comment's author, if known

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> StoredPassage:
        (rowid, passage_id, document_id, position, start, end, text, section, first, last, ocr,
         part, author) = row
        pages = (first, last) if first is not None else None
        return cls(rowid, passage_id, document_id, position, start, end, text,
                   tuple(json.loads(section)), pages, bool(ocr), part, author)

    def place(self) -> dict[str, Any]:
        """Where the passage is in its document, as the API and the search command say it:
        heading trail, page or slide numbers, OCR, part of the page (and a comment's author,
        null if the page does not name one)."""
        first, last = self.pages or (None, None)
        place: dict[str, Any] = {"section": list(self.section), "page": first,
                                 "last_page": last, "ocr": self.ocr, "part": self.part}
        if self.part == "comment":
            place["author"] = self.author
        return place


class PassageStore:
    """Read access to a generation's passages.sqlite."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection

    @classmethod
    def open(cls, path: Path) -> PassageStore:
        # check_same_thread=False: the file is immutable and read-only, so sharing the
        # connection between request threads is safe.
        uri = f"file:{path}?mode=ro&immutable=1"
        return cls(sqlite3.connect(uri, uri=True, check_same_thread=False))

    def close(self) -> None:
        self._db.close()

    def content_hashes(self) -> dict[str, str]:
        """Document id -> content hash, for every document."""
        return dict(self._db.execute("SELECT id, content_hash FROM documents"))

    def read_before(self) -> ReadBefore:
        """What ``load_documents`` asks to skip reading unchanged files: each source's file
        sha256 and reader, as this generation read them (none in a store written before
        they were recorded)."""
        try:
            known = {row[0]: row[1:] for row in self._db.execute(
                "SELECT source, file_sha256, reader, id, cut, attachments FROM documents")}
        except sqlite3.DatabaseError:  # no such column (an older store), or a damaged one
            known = {}

        def read_before(source: str, file_sha256: str, reader: str) -> Document | None:
            entry = known.get(source)
            if entry is None or entry[:2] != (file_sha256, reader):
                return None
            try:
                document = self.get_document(entry[2])
            except sqlite3.DatabaseError:  # damaged: the file is simply read again
                return None
            if document is None:
                return None
            return replace(document, file_sha256=file_sha256, reader=reader, cut=entry[3],
                           attachments=tuple(json.loads(entry[4])))

        return read_before

    def passages_of(self, document_id: str) -> list[StoredPassage]:
        rows = self._db.execute(
            f"SELECT {_PASSAGE_COLUMNS} FROM passages WHERE document_id = ? ORDER BY position",
            (document_id,),
        )
        return [StoredPassage.from_row(row) for row in rows]

    def titled_passages(self) -> Iterator[tuple[int, str, tuple[str, ...], str]]:
        """(rowid, its document's title, heading trail, text) of every passage."""
        rows = self._db.execute("SELECT passages.rowid, documents.title, passages.section,"
                                " passages.text FROM passages JOIN documents"
                                " ON documents.id = passages.document_id")
        for rowid, title, section, text in rows:
            yield rowid, title, tuple(json.loads(section)), text

    def terms_of(self, rowids: Sequence[int]) -> list[str] | None:
        """The indexed BM25 terms of these passages, in that order; None if not stored (a
        generation from before they were) or any is missing."""
        try:
            rows = dict(self._db.execute(
                "SELECT rowid, terms FROM passage_terms"
                " WHERE rowid IN (SELECT value FROM json_each(?))",
                (json.dumps(list(rowids)),),
            ))
        except sqlite3.OperationalError:  # no such table
            return None
        if len(rows) != len(rowids):
            return None
        return [rows[rowid] for rowid in rowids]

    def passage_count(self) -> int:
        count: int = self._db.execute("SELECT count(*) FROM passages").fetchone()[0]
        return count

    def get_passages(self, rowids: Sequence[int]) -> list[StoredPassage]:
        """The passages with these rowids, in the order asked for; unknown rowids are left out."""
        if not rowids:
            return []
        marks = ",".join("?" * len(rowids))
        rows = self._db.execute(
            f"SELECT {_PASSAGE_COLUMNS} FROM passages WHERE rowid IN ({marks})", list(rowids)
        )
        by_rowid = {row[0]: StoredPassage.from_row(row) for row in rows}
        return [by_rowid[r] for r in rowids if r in by_rowid]

    def passage_by_id(self, passage_id: str) -> StoredPassage | None:
        """The passage with this id (its ``rowid`` the vector's id), or None."""
        row = self._db.execute(
            f"SELECT {_PASSAGE_COLUMNS} FROM passages WHERE id = ?", (passage_id,)
        ).fetchone()
        return StoredPassage.from_row(row) if row else None

    def documents_of_hits(
        self, document_ids: Iterable[str]
    ) -> dict[str, tuple[str, str, str | None, str | None, str | None]]:
        """Document id -> what a hit shows of its document: (title, source, page kind or None
        if unpaged, date or None, author or None)."""
        rows = self._db.execute(
            "SELECT id, title, source, CASE WHEN json_array_length(structure, '$.pages') > 0"
            " THEN json_extract(structure, '$.page_kind') END, date, author"
            " FROM documents WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(document_ids)),),
        )
        return {doc_id: tuple(shown) for doc_id, *shown in rows}

    def document_ids_of(self, ranked: Sequence[tuple[int, float]]) -> dict[int, str]:
        """Passage rowid -> document id for the rowids of a ranked list."""
        rows = self._db.execute(
            "SELECT rowid, document_id FROM passages"
            " WHERE rowid IN (SELECT value FROM json_each(?))",
            (json.dumps([rowid for rowid, _ in ranked]),),
        )
        return dict(rows)

    def texts_of(self, rowids: Sequence[int]) -> dict[int, str]:
        """Rowid -> text of these passages."""
        return dict(self._db.execute(
            "SELECT rowid, text FROM passages WHERE rowid IN (SELECT value FROM json_each(?))",
            (json.dumps(list(rowids)),)))

    def rowids_where(
        self, document_ids: Sequence[str] = (), paths: Sequence[str] = (),
        types: Sequence[str] = (), modified_after: str | None = None,
        modified_before: str | None = None, part: str | None = None,
    ) -> list[int]:
        """Rowids, ascending, of the passages (of ``part``, if given) of the documents that
        pass every filter given: one of these ids, in one of these folders ("notes/"), of one
        of these types, modified at or after / before these UTC times."""
        where: list[str] = []
        values: list[Any] = []
        if document_ids:
            where.append("id IN (SELECT value FROM json_each(?))")
            values.append(json.dumps(list(document_ids)))
        if paths:  # a prefix compared exactly: LIKE would ignore case and read "%" and "_"
            where.append("(" + " OR ".join(["substr(source, 1, ?) = ?"] * len(paths)) + ")")
            values.extend(v for path in paths for v in (len(path), path))
        if types:
            where.append("type IN (SELECT value FROM json_each(?))")
            values.append(json.dumps(list(types)))
        if modified_after is not None:
            where.append("modified >= ?")
            values.append(modified_after)
        if modified_before is not None:
            where.append("modified < ?")
            values.append(modified_before)
        documents = f"SELECT id FROM documents WHERE {' AND '.join(where) or '1'}"
        sql = f"SELECT rowid FROM passages WHERE document_id IN ({documents})"
        if part is not None:
            sql += " AND part = ?"
            values.append(part)
        return [rowid for (rowid,) in self._db.execute(sql + " ORDER BY rowid", values)]

    def documents_by_folder_and_type(
        self, rowids: Sequence[int]
    ) -> tuple[dict[str, int], dict[str, int]]:
        """How many distinct documents the passages with these rowids come from, by folder
        and by type, most first. A folder ("notes/", "notes/2024/") counts the documents in
        it and in its subfolders, as the ``path`` filter keeps them; the docs folder itself,
        which holds them all, is left out."""
        rows = self._db.execute(
            "SELECT source, type FROM documents WHERE id IN (SELECT DISTINCT document_id"
            " FROM passages WHERE rowid IN (SELECT value FROM json_each(?)))",
            (json.dumps(list(rowids)),),
        )
        folders: Counter[str] = Counter()
        types: Counter[str] = Counter()
        for source, kind in rows:
            folders.update(source[: end + 1] for end, char in enumerate(source) if char == "/")
            types[kind] += 1
        return _most_first(folders), _most_first(types)

    def rowids_of_part(self, part: str) -> list[int]:
        """Rowids of every passage of this part ("article", "comment"), ascending."""
        rows = self._db.execute(
            "SELECT rowid FROM passages WHERE part = ? ORDER BY rowid", (part,))
        return [rowid for (rowid,) in rows]

    def lexical_search(
        self, terms: Sequence[str], limit: int, allowed: list[int] | None = None,
        part: str | None = None, seconds: float = LEXICAL_SECONDS,
    ) -> list[tuple[int, float]]:
        """(rowid, BM25 score) best first for passages holding any of ``terms``.

        Only the first MAX_QUERY_TERMS distinct terms count: each one more is another
        posting list to merge, and no real query needs more.

        Args:
            terms: BM25 terms, as index.lexical gives them (``query_terms`` for a query).
            allowed: if given, only these rowids are ranked.
            part: if given, only passages of this part are ranked.
            seconds: time limit of the full-text search.
        Raises:
            QueryTimeoutError: the search ran past ``seconds``.
        """
        terms = list(dict.fromkeys(terms))[:MAX_QUERY_TERMS]
        if not terms:
            return []
        # Quoted, each term is just a string to FTS5, whatever syntax the query holds.
        fts_query = " OR ".join(f'"{term}"' for term in terms)
        # FTS5's bm25() is lower-is-better; negate it so every score here is higher-is-better.
        sql = "SELECT rowid, -bm25(passages_fts) FROM passages_fts WHERE passages_fts MATCH ?"
        params: list[object] = [fts_query]
        # "+rowid": the subset is a filter on what the MATCH finds. As a bare "rowid IN" the
        # planner looks each allowed rowid up and runs the MATCH once per rowid: 700 ms for
        # 10,000 allowed passages instead of 8 ms, and slower even for ten.
        if allowed is not None:
            sql += " AND +rowid IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(allowed))
        elif part is not None:
            sql += " AND +rowid IN (SELECT rowid FROM passages WHERE part = ?)"
            params.append(part)
        sql += " ORDER BY bm25(passages_fts), rowid LIMIT ?"
        params.append(limit)
        deadline = time.monotonic() + seconds
        # Called every 10,000 SQLite instructions; a true answer interrupts the query.
        self._db.set_progress_handler(lambda: time.monotonic() > deadline, 10_000)
        try:
            return list(self._db.execute(sql, params))
        except sqlite3.OperationalError as e:
            if time.monotonic() > deadline:
                raise QueryTimeoutError(
                    f"the full-text search took longer than {seconds:g} s; try again, or "
                    "with fewer words"
                ) from e
            raise
        finally:
            self._db.set_progress_handler(None, 0)

    def ids_with_extension(self, document_id: str) -> list[str]:
        """The ids that are ``document_id`` plus an extension ("notes/path.md"), sorted."""
        rows = self._db.execute(
            "SELECT id FROM documents WHERE substr(id, 1, ?) = ? AND id = source ORDER BY id",
            (len(document_id) + 1, document_id + "."))
        return [doc_id for (doc_id,) in rows]

    def get_document(self, document_id: str) -> Document | None:
        row = self._db.execute(
            "SELECT id, title, source, text, content_hash, structure, date, author, size,"
            " modified FROM documents WHERE id = ?",
            (document_id,),
        ).fetchone()
        if row is None:
            return None
        doc_id, title, source, text, content_hash, structure, date, author, size, modified = row
        return Document(doc_id, title, source, text, content_hash,
                        structure=Structure.from_json(json.loads(structure)), date=date,
                        author=author, size=size, modified=modified)


def _most_first(counts: Counter[str]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


_PASSAGE_COLUMNS = ("rowid, id, document_id, position, char_start, char_end, text, section,"
                    " first_page, last_page, ocr, part, author")


class PassageStoreWriter:
    """Writes a new passages.sqlite; rowids are handed out in insertion order from 1."""

    def __init__(self, path: Path) -> None:
        self._path = path
        with self._writing():
            self._db = sqlite3.connect(path)
            # A fresh file in a private build folder: if the build dies the folder is thrown
            # away, so the journal buys nothing. Durability comes from fsync at publish.
            self._db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;")
            self._db.executescript(SCHEMA)
        self._next_rowid = 1

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """SQLite's write errors (a full disk, a file size limit) as BuildErrors."""
        try:
            yield
        except sqlite3.OperationalError as e:
            if hasattr(self, "_db"):
                self._db.close()  # the build folder is about to be removed
            raise BuildError(f"cannot write {self._path}: {e}") from e

    def add(
        self, document: Document, passages: Iterable[tuple[str, Passage | StoredPassage]],
        lexical_context: Callable[[Passage | StoredPassage], str] = lambda passage: "",
        terms: Sequence[str] | None = None,
    ) -> range:
        """Store a document and its passages, each with its id; returns their rowids.

        Args:
            lexical_context: text whose terms count as part of a passage for BM25 (the
                document title, its headings), so a passage is found by the words that say
                what it is about.
            terms: each passage's terms as ``terms_of`` gives them, from a generation built
                with the same lexical settings; else they are analysed here.
        """
        first = self._next_rowid
        passages = list(passages)
        rows = [
            (first + position, passage_id, document.id, position, p.start, p.end, p.text,
             json.dumps(p.section), *(p.pages or (None, None)), int(p.ocr), p.part, p.author)
            for position, (passage_id, p) in enumerate(passages)
        ]
        with self._writing():
            self._db.execute(
                "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (document.id, document.title, document.source, document.text,
                 document.content_hash, document.file_sha256, document.reader, document.cut,
                 json.dumps(document.attachments), json.dumps(document.structure.to_json()),
                 document.date, document.author, document.type, document.size,
                 document.modified),
            )
            self._db.executemany(
                f"INSERT INTO passages({_PASSAGE_COLUMNS}) VALUES ({', '.join('?' * 13)})", rows
            )
            if terms is None:
                terms = [" ".join(lexical_terms(f"{lexical_context(p)} {p.text}"))
                         for _, p in passages]
            indexed = [(row[0], row_terms) for row, row_terms in zip(rows, terms, strict=True)]
            self._db.executemany("INSERT INTO passages_fts(rowid, terms) VALUES (?, ?)", indexed)
            self._db.executemany("INSERT INTO passage_terms(rowid, terms) VALUES (?, ?)", indexed)
        self._next_rowid += len(rows)
        return range(first, self._next_rowid)

    def finish(self) -> None:
        """Compact the full-text table and close."""
        with self._writing():
            self._db.execute("INSERT INTO passages_fts(passages_fts) VALUES ('optimize')")
            self._db.commit()
        self._db.close()
