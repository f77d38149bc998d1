"""Admission of expensive searches: a lane of their own, so that they cannot crowd out the rest.

A search is expensive when it asks for much (a long query, a deep page, grouping, scores
explained). Those run one at a time, one more may wait briefly, and the rest
are answered at once with 503 and Retry-After: a flood of them then costs the others only
those cheap refusals, not the request threads. Ordinary searches are not limited here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, Response, current_app

from index import DEFAULT_K, QueryTimeoutError, SearchRequest
from service.errors import error_response

# What makes a search expensive: each of these multiplies the work of one request.
HEAVY_QUERY_CHARS = 200
HEAVY_K = 20
HEAVY_OFFSET = 100
HEAVY_DOCUMENTS = 20
# Expensive searches that run at once, that may wait for a place, and for how long, before
# a 503. Together fewer than the request threads (4 by default): the other threads stay free
# to answer ordinary searches and to refuse the excess of a flood at once (measured in
# docs/reliability.md; with one running per core and two waiting, a flood took all 4).
HEAVY_RUNNING = 1
HEAVY_WAITING = 1
HEAVY_WAIT_SECONDS = 0.5
RETRY_AFTER_SECONDS = 1


class OverloadedError(Exception):
    """Too many expensive searches at once: answered 503 with Retry-After."""


def is_heavy(wanted: SearchRequest) -> bool:
    return (
        len(wanted.query) > HEAVY_QUERY_CHARS or wanted.k > HEAVY_K
        or wanted.offset > HEAVY_OFFSET or wanted.group_by_document or wanted.explain
        or len(wanted.document_ids) > HEAVY_DOCUMENTS
        # Marking embeds every sentence of the hits: more than a page's worth is heavy.
        or (wanted.highlights and wanted.k > DEFAULT_K)
    )


class Lane:
    """At most ``running`` at a time; at most ``waiting`` more wait, each ``wait_seconds``."""

    def __init__(self, running: int, waiting: int, wait_seconds: float) -> None:
        self._places = threading.BoundedSemaphore(running)
        self._waiting_limit = waiting
        self._waiting = 0
        self._wait_seconds = wait_seconds
        self._lock = threading.Lock()

    @contextmanager
    def enter(self) -> Iterator[None]:
        """Raises OverloadedError when there is no place in time."""
        if not self._places.acquire(blocking=False):
            with self._lock:
                if self._waiting >= self._waiting_limit:
                    raise OverloadedError("too many expensive searches at once")
                self._waiting += 1
            try:
                placed = self._places.acquire(timeout=self._wait_seconds)
            finally:
                with self._lock:
                    self._waiting -= 1
            if not placed:
                raise OverloadedError("too many expensive searches at once")
        try:
            yield
        finally:
            self._places.release()


@contextmanager
def admitted(wanted: SearchRequest) -> Iterator[None]:
    """Run the block as this search's lane allows."""
    if not is_heavy(wanted):
        yield
        return
    lane: Lane = current_app.extensions["heavy_lane"]
    with lane.enter():
        yield


def init_app(app: Flask) -> None:
    app.extensions["heavy_lane"] = Lane(HEAVY_RUNNING, HEAVY_WAITING, HEAVY_WAIT_SECONDS)

    @app.errorhandler(OverloadedError)
    def overloaded(error: OverloadedError) -> Response:
        response = error_response(503, f"{error}: try again in a moment, or ask for less")
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    @app.errorhandler(QueryTimeoutError)
    def timed_out(error: QueryTimeoutError) -> Response:
        response = error_response(503, str(error))
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
