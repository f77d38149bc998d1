"""API keys: with keys set, every route but /healthz answers 401 without a valid key; the API
takes Bearer, the pages HTTP Basic; the key file is re-read when it changes; keys are
compared in constant time. The real app over the sample index."""

from __future__ import annotations

import base64
import hmac
import os
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from index import Config, Embedder

KEY = "s3cret-key-for-tests"


def app_with(config: Config, embedder: Embedder, **keys: Any) -> Flask:
    from dataclasses import replace

    from service import create_app

    app = create_app(replace(config, **keys), embedder=embedder, watch=False)
    app.config["TESTING"] = True
    return app


@pytest.fixture(scope="module")
def guarded(sample_index: Config, embedder: Embedder) -> FlaskClient:
    return app_with(sample_index, embedder, api_keys=f"other-key, {KEY}").test_client()


def every_route(client: FlaskClient) -> list[str]:
    """A URL for each GET route of the app, with real ids in it."""
    hit = client.get("/api/search?q=Lavrov", headers=bearer(KEY)).get_json()["results"][0]
    values = {"doc_id": hit["document"]["id"], "passage_id": hit["passage_id"],
              "filename": "style.css"}
    urls = []
    for rule in client.application.url_map.iter_rules():
        if "GET" in (rule.methods or ()):
            url = rule.rule
            for name in rule.arguments:
                url = url.replace(f"<{name}>", values[name]).replace(
                    f"<path:{name}>", values[name])
            urls.append(url + ("?q=Lavrov" if url in ("/api/search", "/search") else ""))
    return urls


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def basic(key: str, user: str = "anyone") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{key}".encode()).decode()}


def test_every_route_but_healthz_needs_a_valid_key(guarded: FlaskClient) -> None:
    urls = every_route(guarded)
    assert {"/", "/search?q=Lavrov", "/api/search?q=Lavrov", "/openapi.json", "/readyz",
            "/api/status", "/skipped"} <= set(urls)
    for url in urls:
        for headers in ({}, bearer("wrong"), basic("wrong"), {"Authorization": "Basic !!"}):
            with guarded.get(url, headers=headers) as response:
                if url == "/healthz":
                    assert response.status_code == 200
                    continue
                assert response.status_code == 401, (url, headers)
                assert "WWW-Authenticate" in response.headers
        for headers in (bearer(KEY), basic(KEY), bearer("other-key")):
            with guarded.get(url, headers=headers) as response:  # a file's, closed
                assert response.status_code != 401, (url, headers)


def test_every_other_method_needs_a_valid_key_too(guarded: FlaskClient) -> None:
    others = {(rule.rule, method) for rule in guarded.application.url_map.iter_rules()
              for method in (rule.methods or set()) - {"GET", "HEAD", "OPTIONS"}}
    assert others == {("/api/search", "POST")}  # a new one belongs in this test
    for headers, status in (({}, 401), (bearer("wrong"), 401), (basic("wrong"), 401),
                            (bearer(KEY), 200), (basic(KEY), 200)):
        response = guarded.post("/api/search", json={"q": "Lavrov"}, headers=headers)
        assert response.status_code == status, headers
        if status == 401:
            assert response.get_json()["error"]["code"] == "unauthorized"
            assert response.headers["WWW-Authenticate"] == 'Bearer realm="search"'
        else:
            assert response.get_json()["results"]
    # The methods Flask adds to every GET route ask for one as well.
    for method in ("HEAD", "OPTIONS"):
        for headers, status in (({}, 401), (bearer("wrong"), 401), (bearer(KEY), 200)):
            answered = guarded.open("/api/search?q=Lavrov", method=method, headers=headers)
            assert answered.status_code == status, (method, headers)


def test_a_scraper_is_refused_in_json_and_let_in_with_a_key(guarded: FlaskClient) -> None:
    refused = guarded.get("/metrics")
    assert refused.status_code == 401 and refused.mimetype == "application/json"
    assert refused.get_json()["error"]["code"] == "unauthorized"
    assert refused.headers["WWW-Authenticate"] == 'Bearer realm="search"'
    scraped = guarded.get("/metrics", headers=bearer(KEY))
    assert scraped.status_code == 200
    assert "search_http_requests_total" in scraped.get_data(as_text=True)


def test_the_page_asking_for_a_key_says_so_and_shows_the_request_id(
    guarded: FlaskClient,
) -> None:
    page = guarded.get("/search?q=Lavrov", headers={"X-Request-Id": "page-401"})
    assert page.status_code == 401 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "<title>401 API key needed · Semantic search</title>" in html
    assert "<h1>API key needed</h1>" in html
    assert "<code>page-401</code>" in html


def test_the_api_says_bearer_in_json_and_the_pages_ask_the_browser(
    guarded: FlaskClient,
) -> None:
    api = guarded.get("/api/search?q=Lavrov")
    error = api.get_json()["error"]
    assert (error["code"], error["message"]) == (
        "unauthorized", "a valid API key is needed: send Authorization: Bearer KEY")
    assert error["request_id"] == api.headers["X-Request-Id"]  # the refusal is logged too
    assert api.headers["WWW-Authenticate"] == 'Bearer realm="search"'
    wrong = guarded.get("/api/search?q=Lavrov", headers=bearer("nope")).get_json()
    assert wrong["error"]["message"] == "the API key is not valid"
    page = guarded.get("/search?q=Lavrov")
    assert page.mimetype == "text/html"
    assert page.headers["WWW-Authenticate"].startswith('Basic realm="search"')
    shown = guarded.get("/search?q=Lavrov", headers=basic(KEY))
    assert shown.status_code == 200 and "Lavrov" in shown.get_data(as_text=True)


def test_without_keys_nothing_is_asked(client: FlaskClient) -> None:
    assert client.get("/api/search?q=Lavrov").status_code == 200
    assert not client.application.extensions["api_keys"].enabled


def test_the_key_file_is_read_again_when_it_changes(
    sample_index: Config, embedder: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("service.api_keys.RECHECK_SECONDS", 0.0)
    keys = tmp_path / "keys"
    keys.write_text("# one key a line\nfirst-key\n\n")
    client = app_with(sample_index, embedder, api_keys_file=keys).test_client()
    assert client.get("/readyz", headers=bearer("first-key")).status_code == 200
    keys.write_text("second-key  # rotated\n")
    later = time.time() + 5  # a new modification time, however coarse the file system's
    os.utime(keys, (later, later))
    assert client.get("/readyz", headers=bearer("first-key")).status_code == 401
    assert client.get("/readyz", headers=bearer("second-key")).status_code == 200
    keys.unlink()  # unreadable: nobody gets in, rather than everybody
    os.utime(tmp_path, None)
    assert client.get("/readyz", headers=bearer("second-key")).status_code == 401


def test_keys_are_compared_in_constant_time(
    guarded: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[bytes, bytes]] = []
    compare = hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return compare(a, b)

    monkeypatch.setattr("service.api_keys.hmac.compare_digest", recording)
    assert guarded.get("/readyz", headers=bearer("other-key")).status_code == 200
    # Every key is compared, the matching one first or not, and only digests of one length.
    assert len(compared) == 2 and {len(a) for pair in compared for a in pair} == {32}


@pytest.mark.parametrize(("keys", "warned"), [({}, True), ({"SEARCH_API_KEYS": KEY}, False)])
def test_serving_beyond_loopback_without_keys_is_warned_of(
    tmp_path: Path, exported_env: dict[str, str], keys: dict[str, str], warned: bool
) -> None:
    import signal
    import subprocess
    import sys

    from tests.processes import die_with_parent, free_ports

    [port] = free_ports(1)
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "--host", "0.0.0.0", "--port", str(port),
         "--index-dir", str(tmp_path / "index")],
        cwd=Path(__file__).resolve().parent.parent, env={**exported_env, **keys},
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, preexec_fn=die_with_parent)
    try:
        assert process.stderr is not None
        lines = []
        for line in process.stderr:
            lines.append(line)
            if line.startswith("Serving on"):
                break
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)  # the rest of stderr, then the pipe is closed
    said = "".join(lines)
    # It started: a service that crashed before serving would say nothing of keys either.
    assert lines and lines[-1].startswith("Serving on"), said
    assert ("beyond this machine with no API key" in said) == warned, said
