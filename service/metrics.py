"""GET /metrics: the service seen from outside, in the Prometheus text format.

Each app has a registry of its own (not prometheus_client's global one), so that apps made
side by side (tests make many) count apart. What is counted as it happens: requests by route
and status, searches by mode and stage, builds of the folder watcher. What is read at
scrape time from the objects that already know it: the live index's size and age, its
reloads and refused generations, the query cache's hits.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from flask import Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from index import BuildReport, SearchResults
from service.state import LiveIndex, generation_age

_EXTENSION = "metrics"
# Methods a route label can be paired with; any other word a client sends is "other", so
# that nobody can grow the label set (and the service's memory) by inventing methods.
_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"))
# Seconds: a cached page answers in about a millisecond, a long query or a cold one in a
# second or more.
_REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0)
# A stage may take a few microseconds (a cached query vector, a fusion of short lists).
_STAGE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                  0.25, 1.0)
_BUILD_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


class _LiveCollector(Collector):
    """What the live index and the model already count, read when scraped: nothing is
    added to a request for these."""

    def __init__(self, live: LiveIndex) -> None:
        self.live = live

    def collect(self) -> Iterator[Metric]:
        searcher = self.live.searcher
        if searcher is not None:  # absent, not 0, while no index is loaded
            yield GaugeMetricFamily("search_index_passages", "Passages in the live generation.",
                                    value=searcher.passage_count)
            yield GaugeMetricFamily("search_index_documents",
                                    "Documents in the live generation.",
                                    value=searcher.document_count)
            yield GaugeMetricFamily("search_index_age_seconds",
                                    "Seconds since the live generation was built.",
                                    value=generation_age(searcher))
        yield CounterMetricFamily("search_index_reloads",
                                  "Generations swapped in while serving.",
                                  value=self.live.reloads)
        yield CounterMetricFamily("search_index_refused_generations",
                                  "Generations refused as damaged or mismatched.",
                                  value=self.live.refusals)
        embedder = self.live.embedder
        yield CounterMetricFamily("search_query_cache_hits",
                                  "Query vectors found in the model's query cache.",
                                  value=embedder.query_cache_hits)
        yield CounterMetricFamily("search_query_cache_misses",
                                  "Query vectors the model had to compute.",
                                  value=embedder.query_cache_misses)


class Metrics:
    """The app's registry and the instruments the request path and the watcher feed."""

    def __init__(self, live: LiveIndex) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "search_http_requests", "HTTP requests answered, by route, method and status.",
            ["route", "method", "status"], registry=self.registry)
        self.request_seconds = Histogram(
            "search_http_request_duration_seconds",
            "Seconds from a request's start to its response, by route and status.",
            ["route", "status"], buckets=_REQUEST_BUCKETS, registry=self.registry)
        self.search_seconds = Histogram(
            "search_query_duration_seconds", "Seconds a search took in the index, by mode.",
            ["mode"], buckets=_REQUEST_BUCKETS, registry=self.registry)
        self.stage_seconds = Histogram(
            "search_query_stage_duration_seconds",
            "Seconds of each stage of a search (encode, dense, lexical, fusion), by mode.",
            ["mode", "stage"], buckets=_STAGE_BUCKETS, registry=self.registry)
        self.build_seconds = Histogram(
            "search_build_duration_seconds", "Seconds each build of the folder watcher took.",
            buckets=_BUILD_BUCKETS, registry=self.registry)
        self.build_documents = Counter(
            "search_build_documents",
            "Documents the folder watcher's builds found, by outcome "
            "(added, changed, removed, skipped).",
            ["outcome"], registry=self.registry)
        self.registry.register(_LiveCollector(live))

    def observe_search(self, results: SearchResults) -> None:
        self.search_seconds.labels(results.mode).observe(results.took_ms / 1000)
        for stage, seconds in results.stages.items():
            self.stage_seconds.labels(results.mode, stage).observe(seconds)

    def observe_build(self, report: BuildReport) -> None:
        self.build_seconds.observe(report.seconds)
        for outcome, count in (("added", len(report.added)), ("changed", len(report.changed)),
                               ("removed", len(report.removed)),
                               ("skipped", len(report.skipped))):
            self.build_documents.labels(outcome).inc(count)


def metrics_of(app: Flask) -> Metrics | None:
    """The app's metrics; None when it keeps none (``create_app(observe=False)``)."""
    metrics: Metrics | None = app.extensions.get(_EXTENSION)
    return metrics


def observe_search(results: SearchResults) -> None:
    """Count a search of this request, if the app keeps metrics."""
    metrics = metrics_of(current_app)
    if metrics is not None:
        metrics.observe_search(results)


def init_app(app: Flask, live: LiveIndex) -> None:
    """Serve GET /metrics and time every request by its route, never its path: paths are
    endless (every document has its own), routes are a handful."""
    metrics = Metrics(live)
    app.extensions[_EXTENSION] = metrics

    @app.before_request
    def start() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def count(response: Response) -> Response:
        started: float | None = g.get("metrics_started")
        if started is not None:
            rule = request.url_rule
            route = rule.rule if rule is not None else "unmatched"
            status = str(response.status_code)
            method = request.method if request.method in _METHODS else "other"
            metrics.requests.labels(route, method, status).inc()
            metrics.request_seconds.labels(route, status).observe(
                time.perf_counter() - started)
        return response

    def scrape() -> Response:
        return Response(generate_latest(metrics.registry), content_type=CONTENT_TYPE_LATEST)

    app.add_url_rule("/metrics", "metrics", scrape, methods=["GET"])
