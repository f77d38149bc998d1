"""The access log (one line a request), X-Request-Id, and the query text kept out by default."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from index import Config, Embedder, load_config
from index.errors import ConfigError
from service import create_app
from tests.processes import die_with_parent, free_ports

ROOT = Path(__file__).resolve().parent.parent
QUERY = "secret harbour tides"


def access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "service.access"]


def test_a_line_per_request_without_the_query(client: FlaskClient,
                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="service.access")
    response = client.get("/api/search", query_string={"q": QUERY},
                          headers={"X-Request-Id": "trace-42"})
    assert response.status_code == 200
    assert response.headers["X-Request-Id"] == "trace-42"
    [line] = access_lines(caplog)
    assert re.fullmatch(r"GET /api/search 200 \d+\.\d ms id=trace-42", line), line
    assert "secret" not in caplog.text and "harbour" not in caplog.text


def test_queries_are_logged_when_asked(sample_index: Config, embedder: Embedder,
                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="service.access")
    app = create_app(replace(sample_index, log_queries=True), embedder=embedder, watch=False)
    app.test_client().get("/api/search", query_string={"q": QUERY})
    [line] = access_lines(caplog)
    assert line.startswith("GET /api/search?q=secret+harbour+tides 200 ")


def test_a_query_sent_in_the_body_is_logged_when_asked(
    sample_index: Config, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="service.access")
    body = {"q": QUERY + "\nGET /forged 200", "k": 3}
    for log_format in ("text", "json"):
        app = create_app(replace(sample_index, log_queries=True, log_format=log_format),
                         embedder=embedder, watch=False)
        response = app.test_client().post("/api/search", json=body)
        assert response.status_code == 200
    text, as_json = access_lines(caplog)
    assert re.fullmatch(r"POST /api/search 200 \d+\.\d ms id=[0-9a-f]{32} "
                        r"body:q=secret\+harbour\+tides%0AGET\+%2Fforged\+200", text), text
    entry = json.loads(as_json)
    assert entry["body_query"] == "q=secret+harbour+tides%0AGET+%2Fforged+200"
    assert "query" not in entry  # no query string was sent


def test_a_query_sent_in_the_body_stays_out_by_default(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="service.access")
    assert client.post("/api/search", json={"q": QUERY}).status_code == 200
    [line] = access_lines(caplog)
    assert re.fullmatch(r"POST /api/search 200 \d+\.\d ms id=[0-9a-f]{32}", line), line
    assert "secret" not in caplog.text and "harbour" not in caplog.text


def test_json_lines(sample_index: Config, embedder: Embedder,
                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="service.access")
    app = create_app(replace(sample_index, log_format="json"), embedder=embedder, watch=False)
    response = app.test_client().get("/api/search", query_string={"q": QUERY})
    [line] = access_lines(caplog)
    entry = json.loads(line)
    assert entry["method"] == "GET" and entry["path"] == "/api/search"
    assert entry["status"] == 200 and entry["ms"] >= 0
    assert entry["request_id"] == response.headers["X-Request-Id"]
    assert "query" not in entry and "secret" not in line


@pytest.mark.parametrize("given", ["", "x" * 129, "two words", "tab\there", "é"])
def test_an_unusable_request_id_is_replaced(client: FlaskClient, given: str) -> None:
    response = client.get("/healthz", headers={"X-Request-Id": given})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-Id"])


def test_ids_are_made_fresh_for_each_request(client: FlaskClient) -> None:
    ids = {client.get("/healthz").headers["X-Request-Id"] for _ in range(3)}
    assert len(ids) == 3


def test_error_bodies_carry_the_request_id(client: FlaskClient) -> None:
    response = client.get("/api/search", headers={"X-Request-Id": "req-7"})
    assert response.status_code == 400
    assert response.get_json()["error"]["request_id"] == "req-7"
    generated = client.get("/api/documents/nothing.md")
    assert generated.status_code == 404
    assert generated.get_json()["error"]["request_id"] == generated.headers["X-Request-Id"]


def test_error_pages_show_the_request_id(client: FlaskClient) -> None:
    page = client.get("/documents/no/such/document", headers={"X-Request-Id": "req-8"})
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert '<p class="request-id">Request id: <code>req-8</code>' in page.get_data(as_text=True)


def test_a_path_cannot_forge_a_log_line(client: FlaskClient,
                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="service.access")
    client.get("/api/documents/a%0Aforged 200 1.0 ms")
    [line] = access_lines(caplog)
    assert "\n" not in line and "/api/documents/a%0Aforged" in line


def test_log_format_is_checked() -> None:
    assert load_config(env={"SEARCH_LOG_FORMAT": "json"}).log_format == "json"
    assert load_config(env={"SEARCH_LOG_QUERIES": "true"}).log_queries is True
    with pytest.raises(ConfigError, match="log_format must be text or json"):
        load_config(env={"SEARCH_LOG_FORMAT": "xml"})


@pytest.mark.slow
@pytest.mark.parametrize("log_queries", [False, True])
def test_the_service_logs_json_lines_on_stderr(tmp_path: Path, sample_index: Config,
                                               exported_env: dict[str, str],
                                               log_queries: bool) -> None:
    port = free_ports(1)[0]
    log = tmp_path / "service.log"
    env = {**exported_env, "SEARCH_LOG_FORMAT": "json",
           "SEARCH_LOG_QUERIES": str(log_queries).lower()}
    with open(log, "wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "service", "--index-dir", str(sample_index.index_dir),
             "--port", str(port)], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=err, preexec_fn=die_with_parent)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{base}/healthz", timeout=5)
                break
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        request = urllib.request.Request(f"{base}/api/search?q=secret+harbour",
                                         headers={"X-Request-Id": "from-the-proxy"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.headers["X-Request-Id"] == "from-the-proxy"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    entries = [json.loads(line) for line in log.read_text().splitlines()
               if line.startswith("{")]
    [searched] = [e for e in entries if e["request_id"] == "from-the-proxy"]
    assert searched["path"] == "/api/search" and searched["status"] == 200
    assert ("secret" in log.read_text()) is log_queries
    if log_queries:
        assert searched["query"] == "q=secret+harbour"
