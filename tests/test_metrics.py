"""GET /metrics: scraped through the app and read back with prometheus_client's own parser."""

from __future__ import annotations

import uuid
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from index import Config, Embedder, build_index
from service import create_app
from service.watching import ServiceWatcher


def scrape(client: FlaskClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of GET /metrics by name and labels."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.get_data(as_text=True))
            for sample in family.samples}


def test_searches_are_counted_by_route_status_mode_and_stage(app: Flask,
                                                             client: FlaskClient) -> None:
    query = f"tides {uuid.uuid4().hex}"  # the model's cache is shared by the session's apps
    before = scrape(client)
    for _ in range(3):
        assert client.get("/api/search", query_string={"q": query}).status_code == 200
    assert client.get("/api/search").status_code == 400  # no q
    samples = scrape(client)

    route = (("method", "GET"), ("route", "/api/search"), ("status", "200"))
    assert samples[("search_http_requests_total", route)] == 3
    assert samples[("search_http_requests_total",
                    (("method", "GET"), ("route", "/api/search"), ("status", "400")))] == 1
    assert samples[("search_http_request_duration_seconds_count",
                    (("route", "/api/search"), ("status", "200")))] == 3
    assert samples[("search_http_request_duration_seconds_bucket",
                    (("le", "+Inf"), ("route", "/api/search"), ("status", "200")))] == 3
    assert samples[("search_query_duration_seconds_count", (("mode", "hybrid"),))] == 3
    for stage in ("encode", "dense", "lexical", "fusion"):
        assert samples[("search_query_stage_duration_seconds_count",
                        (("mode", "hybrid"), ("stage", stage)))] == 3
    # The first search of the query computes its vector, the two after find it cached.
    hits, misses = "search_query_cache_hits_total", "search_query_cache_misses_total"
    assert samples[(hits, ())] - before[(hits, ())] == 2
    assert samples[(misses, ())] - before[(misses, ())] == 1

    status = client.get("/api/status").get_json()["index"]
    assert samples[("search_index_passages", ())] == status["passages"] > 0
    assert samples[("search_index_documents", ())] == status["documents"] == 5
    assert 0 <= samples[("search_index_age_seconds", ())] < 3600
    assert samples[("search_index_reloads_total", ())] == 0
    assert samples[("search_index_refused_generations_total", ())] == 0


def test_lexical_searches_time_only_their_stage(client: FlaskClient) -> None:
    client.get("/api/search", query_string={"q": "harbour", "mode": "lexical"})
    samples = scrape(client)
    assert samples[("search_query_stage_duration_seconds_count",
                    (("mode", "lexical"), ("stage", "lexical")))] == 1
    assert not any(name == "search_query_stage_duration_seconds_count"
                   and dict(labels).get("stage") == "encode" for name, labels in samples)


def test_routes_are_labelled_by_rule_never_by_path(client: FlaskClient) -> None:
    for name in ("a", "b", "c"):
        assert client.get(f"/api/documents/{name}.md").status_code == 404
    client.get("/no/such/page")
    client.open("/healthz", method="BREW")  # an invented method is not a label value
    samples = scrape(client)
    assert samples[("search_http_requests_total", (
        ("method", "GET"), ("route", "/api/documents/<path:doc_id>"), ("status", "404")))] == 3
    assert samples[("search_http_requests_total",
                    (("method", "GET"), ("route", "unmatched"), ("status", "404")))] == 1
    assert samples[("search_http_requests_total",
                    (("method", "other"), ("route", "unmatched"), ("status", "405")))] == 1
    assert not any("a.md" in value for _, labels in samples for _, value in labels)


def test_apps_count_apart(app: Flask, sample_index: Config, embedder: Embedder) -> None:
    other = create_app(sample_index, embedder=embedder, watch=False)
    app.test_client().get("/healthz")
    samples = scrape(other.test_client())
    assert ("search_http_requests_total",
            (("method", "GET"), ("route", "/healthz"), ("status", "200"))) not in samples


def test_metrics_without_an_index(tmp_path: Path, embedder: Embedder) -> None:
    app = create_app(Config(index_dir=tmp_path / "none"), embedder=embedder, watch=False)
    samples = scrape(app.test_client())
    assert not any(name.startswith("search_index_passages") for name, _ in samples)
    assert samples[("search_index_reloads_total", ())] == 0


def test_reloads_refusals_and_builds(config: Config, embedder: Embedder) -> None:
    build_index(config, embedder=embedder)
    app = create_app(config, embedder=embedder, watch=False)
    client = app.test_client()
    live = app.extensions["live_index"]
    first = scrape(client)[("search_index_passages", ())]

    (config.docs_dir / "extra.md").write_text("# Extra\n\nA new note about lighthouses and "
                                              "the keepers who tended their lamps.\n")
    report = build_index(config, embedder=embedder)
    assert live.refresh()
    ServiceWatcher(app, config)._built(report)  # as the watcher reports a build it ran
    samples = scrape(client)
    assert samples[("search_index_reloads_total", ())] == 1
    assert samples[("search_index_passages", ())] == first + 1
    assert samples[("search_build_duration_seconds_count", ())] == 1
    assert samples[("search_build_duration_seconds_sum", ())] == report.seconds
    assert samples[("search_build_documents_total", (("outcome", "added"),))] == 1
    assert samples[("search_build_documents_total", (("outcome", "changed"),))] == 0

    (config.index_dir / "CURRENT").write_text("no-such-generation\n")
    live.refresh()
    assert scrape(client)[("search_index_refused_generations_total", ())] == 1
    live.stop()
