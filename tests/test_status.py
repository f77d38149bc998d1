"""How fresh the index is: /api/status, /readyz's age, the footer's "indexed N minutes ago"
and the /skipped page, with and without a folder watcher; and ``python -m service --watch``
as a user runs it (a real subprocess over HTTP, stopped by SIGTERM)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup
from flask import Flask
from flask.testing import FlaskClient

from index import Config, Embedder, IndexFolder, build_index
from index.generations import read_manifest
from index.watch import WATCH_LOCK, Timing
from service import create_app
from service.watching import ServiceWatcher
from service.web import ago
from tests.processes import die_with_parent, free_ports

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 60.0
# A file the loader skips, named so that an unescaped page would show markup.
BROKEN = "<i>broken & binary.txt"


def write(path: Path, title: str, text: str) -> None:
    path.write_text(f"{title}\n\n{text}\n")


def wait_until(check: Any, what: str, timeout: float = TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"not {what} in {timeout} s"
        time.sleep(0.05)


# ---------------------------------------------------------------- in process


def test_ages_in_words() -> None:
    assert [ago(s) for s in (0, 59.9, 60, 179, 180, 3599, 3600, 7300, 86400 * 4)] == [
        "just now", "just now", "1 minute ago", "2 minutes ago", "3 minutes ago",
        "59 minutes ago", "1 hour ago", "2 hours ago", "4 days ago"]


def test_status_without_a_watcher(client: FlaskClient) -> None:
    body = client.get("/readyz").get_json()
    assert body["watch"] is None
    ready = body["index"]
    status = client.get("/api/status").get_json()
    assert status["watch"] == {"state": "off", "detail": None, "pending": None,
                               "building": False, "last_build": None}
    index = status["index"]
    assert index["generation"] == ready["generation"]
    assert index["skipped"] == 0
    assert 0 <= ready["age_seconds"] <= index["age_seconds"] < 24 * 3600


def test_status_without_an_index(tmp_path: Path, embedder: Embedder) -> None:
    app = create_app(Config(index_dir=tmp_path / "none"), embedder=embedder, watch=False)
    status = app.test_client().get("/api/status")
    assert status.status_code == 200
    assert status.get_json()["index"] is None


def test_footer_and_skipped_page_list_a_broken_file(config: Config, docs: Path,
                                                    embedder: Embedder) -> None:
    (docs / BROKEN).write_bytes(b"\x00\x01\x02 not text \xff\xfe" * 50)
    build_index(config, embedder=embedder)
    client = create_app(config, embedder=embedder, watch=False).test_client()
    home = BeautifulSoup(client.get("/").get_data(as_text=True), "html.parser")
    footer = home.select_one("footer")
    assert footer is not None
    assert "indexed just now" in footer.get_text(" ", strip=True)
    link = footer.find("a", string="1 skipped")
    assert link is not None and link["href"] == "/skipped"
    page = client.get("/skipped")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<i>broken" not in html and "&lt;i&gt;broken &amp; binary.txt" in html
    rows = BeautifulSoup(html, "html.parser").select(".skipped-files tbody tr")
    assert [[cell.get_text(strip=True) for cell in row.select("td")][0] for row in rows] == [
        BROKEN]
    assert rows[0].select("td")[1].get_text(strip=True)  # a reason
    assert client.get("/api/status").get_json()["index"]["skipped"] == 1


def test_a_new_skipped_file_alone_publishes_a_generation_recording_it(
    config: Config, docs: Path, embedder: Embedder
) -> None:
    first = build_index(config, embedder=embedder).generation
    assert build_index(config, embedder=embedder).generation is None  # up to date
    (docs / "empty.txt").write_text("")
    report = build_index(config, embedder=embedder)
    assert report.generation not in (None, first) and report.embedded == 0
    manifest = read_manifest(IndexFolder(config.index_dir).current())
    assert [s["source"] for s in manifest["skipped"]] == ["empty.txt"]
    assert build_index(config, embedder=embedder).generation is None


def test_no_skipped_files_footer_has_no_link(client: FlaskClient) -> None:
    home = BeautifulSoup(client.get("/").get_data(as_text=True), "html.parser")
    footer = home.select_one("footer")
    assert footer is not None and footer.find("a", href="/skipped") is None
    assert "No file was left out" in client.get("/skipped").get_data(as_text=True)


@contextlib.contextmanager
def watching(app: Flask, config: Config,
             timing: Timing = Timing(quiet=0.2, settle=0.1, poll_interval=0.2),  # noqa: B008
             ) -> Iterator[ServiceWatcher]:
    watcher = ServiceWatcher(app, config, timing)
    watcher.start()
    try:
        yield watcher
    finally:
        watcher.stop()
    assert not watcher._thread.is_alive()


def search(client: FlaskClient, query: str) -> list[str]:
    body = client.get("/api/search", query_string={"q": query, "k": 3}).get_json()
    return [hit["text"] for hit in body.get("results", [])]


def test_the_watcher_in_process_reports_its_builds(config: Config, docs: Path,
                                                  embedder: Embedder) -> None:
    app = create_app(config, embedder=embedder, watch=False)  # no reload checks: only the
    client = app.test_client()                                 # watcher's publish loads
    assert client.get("/api/status").get_json()["index"] is None
    with watching(app, config):
        status = wait_until(lambda: (s := client.get("/api/status").get_json())["watch"][
            "state"] == "watching" and s["watch"]["last_build"] and s, "watching")
        first = status["watch"]["last_build"]
        assert first["ok"] and first["error"] is None and first["added"] == 5
        assert status["index"]["generation"] == first["generation"]
        write(docs / "heron.txt", "Heron", "A grey heron waits motionless in the reeds.")
        (docs / "bad.txt").write_text("")
        status = wait_until(lambda: (s := client.get("/api/status").get_json())["watch"][
            "last_build"]["generation"] != first["generation"] and s, "built again")
        # The status names a build only once its generation is served.
        assert status["index"]["generation"] == status["watch"]["last_build"]["generation"]
        assert [t for t in search(client, "grey heron reeds") if "heron" in t]
        last = status["watch"]["last_build"]
        assert (last["added"], last["changed"], last["removed"]) == (1, 0, 0)
        assert last["skipped"] == [{"source": "bad.txt", "reason": last["skipped"][0]["reason"]}]
        assert status["watch"]["pending"] is False and status["index"]["skipped"] == 1
    assert client.get("/api/status").get_json()["watch"]["state"] == "stopped"


def test_a_failed_build_is_reported_until_a_good_one(config: Config, docs: Path,
                                                    embedder: Embedder) -> None:
    app = create_app(config, embedder=embedder, watch=False)
    client = app.test_client()
    with watching(app, config):
        wait_until(lambda: client.get("/api/status").get_json()["watch"]["last_build"],
                   "built")
        for path in docs.iterdir():  # nothing usable left: the build fails
            path.unlink()
        (docs / "empty.txt").write_text("")  # (no file at all is held, not failed: below)
        status = wait_until(lambda: (s := client.get("/api/status").get_json())["watch"][
            "state"] == "retrying" and s, "retrying")
        last = status["watch"]["last_build"]
        assert not last["ok"] and "no usable documents" in last["error"]
        assert "trying again in" in status["watch"]["detail"]
        assert status["index"] is not None  # the live generation stays
        write(docs / "heron.txt", "Heron", "A grey heron waits motionless in the reeds.")
        status = wait_until(lambda: (s := client.get("/api/status").get_json())["watch"][
            "state"] == "watching" and s, "watching again")
        assert status["watch"]["last_build"]["ok"]


def test_pending_changes_and_the_last_build_are_reported_and_readyz_sums_them_up(
    config: Config, docs: Path, embedder: Embedder
) -> None:
    app = create_app(config, embedder=embedder, watch=False)
    client = app.test_client()
    # A long quiet time: a change waits seconds for its build, long enough to be seen waiting.
    with watching(app, config, Timing(quiet=3.0, max_delay=30.0, settle=0.1,
                                      poll_interval=0.2)):
        status = wait_until(lambda: (s := client.get("/api/status").get_json())["watch"][
            "last_build"] and s["watch"]["state"] == "watching" and s, "built")
        first = status["watch"]["last_build"]
        assert status["watch"]["pending"] is False
        assert isinstance(first["seconds"], float) and 0 < first["seconds"] < TIMEOUT
        ready = client.get("/readyz").get_json()["watch"]
        assert ready == {"state": "watching", "pending": False, "last_build_ok": True,
                         "last_build_finished_at": first["finished_at"]}

        write(docs / "heron.txt", "Heron", "A grey heron waits motionless in the reeds.")
        waiting = wait_until(lambda: (s := client.get("/api/status").get_json())["watch"][
            "pending"] and s, "pending", timeout=2.5)
        assert waiting["watch"]["building"] is False
        assert waiting["watch"]["last_build"] == first  # not built yet
        assert client.get("/readyz").get_json()["watch"]["pending"] is True
        assert not [t for t in search(client, "grey heron reeds") if "heron" in t]

        status = wait_until(lambda: (s := client.get("/api/status").get_json())["watch"][
            "last_build"]["finished_at"] != first["finished_at"] and s, "built again")
        last = status["watch"]["last_build"]
        assert last["ok"] and last["added"] == 1 and last["seconds"] > 0
        assert status["watch"]["pending"] is False
        assert client.get("/readyz").get_json()["watch"]["pending"] is False


def test_a_service_waits_while_another_watcher_holds_the_index(config: Config,
                                                              embedder: Embedder) -> None:
    config.index_dir.mkdir(parents=True)
    app = create_app(config, embedder=embedder, watch=False)
    client = app.test_client()
    with open(config.index_dir / WATCH_LOCK, "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write("4242\n")
        held.flush()
        with watching(app, config):
            status = wait_until(lambda: (s := client.get("/api/status").get_json())["watch"][
                "state"] == "waiting" and s, "waiting")
            assert "another watcher (pid 4242)" in status["watch"]["detail"]
            fcntl.flock(held, fcntl.LOCK_UN)
            wait_until(lambda: client.get("/api/status").get_json()["watch"]["state"]
                       == "watching", "watching once the other one stops")


def test_polling_and_a_missing_folder_are_reported(config: Config, docs: Path,
                                                   embedder: Embedder,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHFILES_FORCE_POLLING", "1")
    app = create_app(config, embedder=embedder, watch=False)
    client = app.test_client()
    with watching(app, config):
        status = wait_until(lambda: (s := client.get("/api/status").get_json())["watch"][
            "state"] == "polling" and s["index"] and s, "polling, and built")
        assert status["watch"]["detail"] == "WATCHFILES_FORCE_POLLING is set"
        live = status["index"]["generation"]
        away = docs.with_name("away")
        docs.rename(away)
        status = wait_until(lambda: (s := client.get("/api/status").get_json())["watch"][
            "state"] == "folder missing" and s, "folder missing")
        assert status["index"]["generation"] == live
        away.rename(docs)
        wait_until(lambda: client.get("/api/status").get_json()["watch"]["state"] == "polling",
                   "polling again")


# ---------------------------------------------------------------- python -m service --watch


def get(port: int, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def start_service(tmp_path: Path, docs: Path, env: dict[str, str],
                  *hold: str) -> tuple[subprocess.Popen[bytes], int, Path]:
    """``python -m service --watch`` (through tests/hold.py, if ``hold`` names a point); its
    stderr goes to a file."""
    port = free_ports(1)[0]
    log = tmp_path / "service.log"
    program = [str(ROOT / "tests" / "hold.py"), *hold, str(ROOT / "service" / "__main__.py")] \
        if hold else ["-m", "service"]
    with open(log, "wb") as err:
        process = subprocess.Popen(
            [sys.executable, *program, "--watch", "--docs", str(docs),
             "--index-dir", str(tmp_path / "index"), "--port", str(port)],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=err, preexec_fn=die_with_parent,
        )
    return process, port, log


def stop_service(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


@pytest.mark.slow
def test_service_with_watch_follows_the_folder(tmp_path: Path, docs: Path,
                                               exported_env: dict[str, str]) -> None:
    process, port, log = start_service(tmp_path, docs, exported_env)
    try:
        def ready() -> bool:
            assert process.poll() is None, log.read_text()
            with contextlib.suppress(OSError):
                return get(port, "/readyz")[0] == 200
            return False

        started = time.monotonic()
        wait_until(ready, "ready", timeout=120)  # no index at the start: the watcher builds it
        status = wait_until(lambda: (s := get(port, "/api/status")[1])["watch"]["state"]
                            == "watching" and s["watch"]["last_build"] and s, "watching")
        assert status["watch"]["last_build"]["added"] == 5
        startup = time.monotonic() - started

        def heron_hits() -> list[str]:
            body = get(port, "/api/search?q=grey+heron+in+the+reeds&k=3")[1]
            return [h["document"]["source"] for h in body["results"]]

        write(docs / "heron.txt", "Heron", "A grey heron waits motionless in the reeds.")
        edited = time.monotonic()
        wait_until(lambda: "heron.txt" in heron_hits(), "searchable", timeout=20)
        latency = time.monotonic() - edited
        assert latency < 5, latency
        # The status reports the build just after the generation is served.
        status = wait_until(lambda: (s := get(port, "/api/status")[1])["watch"]["last_build"][
            "added"] == 1 and s, "reported", timeout=5)
        assert status["index"]["generation"] == status["watch"]["last_build"]["generation"]
        assert status["index"]["age_seconds"] < 10
        print(f"startup {startup:.1f} s, save to searchable {latency:.2f} s")
    finally:
        code = stop_service(process)
    text = log.read_text()
    assert code == 0, text
    assert re.search(r"stopped watching", text), text
    assert not list((tmp_path / "index" / "generations").glob(".building-*"))


def test_openapi_describes_status(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()
    assert "/api/status" in spec["paths"]
    schemas = spec["components"]["schemas"]
    assert "Status" in schemas
    ready = schemas["Ready"]["properties"]["watch"]
    assert ready["nullable"] and set(ready["properties"]) == {
        "state", "pending", "last_build_ok", "last_build_finished_at"}
    assert "folder empty" in ready["properties"]["state"]["enum"]


@pytest.mark.slow
def test_sigterm_during_a_build_lets_it_publish_then_the_service_exits(
    tmp_path: Path, docs: Path, exported_env: dict[str, str]
) -> None:
    (docs / "held.txt").write_text("")  # skipped, and logged so: where the build is held
    process, _port, log = start_service(tmp_path, docs, exported_env,
                                        "stderr:skipped held.txt")
    try:
        wait_until(lambda: process.poll() is not None or "held at" in log.read_text(),
                   "held in the first build", timeout=120)
        assert process.poll() is None, log.read_text()
        assert IndexFolder(tmp_path / "index").current_or_none() is None
        process.send_signal(signal.SIGTERM)
        process.send_signal(signal.SIGCONT)
        code = process.wait(TIMEOUT)
    finally:
        stop_service(process)
    text = log.read_text()
    assert code == 0, text
    assert "waiting for the build under way to publish" in text
    live = IndexFolder(tmp_path / "index").current_or_none()
    assert live is not None, text
    assert [s["source"] for s in read_manifest(live)["skipped"]] == ["held.txt"]
