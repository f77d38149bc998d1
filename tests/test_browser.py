"""The pages in a real headless Chromium: search, click a result, land on its passage.

Needs Debian's chromium and chromium-driver and PyPI's selenium; skips, naming what is
missing, without them. SCREENSHOT=1 also writes a results page to docs/screenshot.png.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from flask import Flask
from werkzeug.serving import make_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "screenshot.png"
QUERY = "who speaks for the Russian foreign ministry"
WAIT_SECONDS = 20
VIEWPORT = (1200, 900)

# Without the networking switches Chromium keeps calling Google's hosts, which this
# machine's closed network refuses; --no-sandbox because the tests may run as root.
CHROMIUM_SWITCHES = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
)  # fmt: skip

pytestmark = pytest.mark.slow


def _missing() -> list[str]:
    missing = []
    if not CHROMIUM.is_file() and not shutil.which("chromium"):
        missing.append("Chromium (apt-get install chromium)")
    if not CHROMEDRIVER.is_file() and not shutil.which("chromedriver"):
        missing.append("ChromeDriver (apt-get install chromium-driver)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip install selenium)")
    return missing


def navigate(browser: Any, action: Callable[[], object]) -> None:
    """Do what opens a page and wait until it is loaded: a click or a key press returns as
    soon as the event is sent, and the old page may still be there to be read."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as loaded
    from selenium.webdriver.support.ui import WebDriverWait

    old = browser.find_element(By.TAG_NAME, "html")
    action()
    wait = WebDriverWait(browser, WAIT_SECONDS)
    wait.until(loaded.staleness_of(old))
    wait.until(lambda b: b.execute_script("return document.readyState") == "complete")


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    """``app`` served over HTTP on a free loopback port; yields its base URL."""
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, name="test-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture
def base_url(app: Flask) -> Iterator[str]:
    with serve(app) as url:
        yield url


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    missing = _missing()
    if missing:
        pytest.skip("browser test needs " + ", ".join(missing))
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    # A browser path and a driver path given: Selenium Manager never runs, so never downloads.
    options.binary_location = str(CHROMIUM if CHROMIUM.is_file() else shutil.which("chromium"))
    for switch in CHROMIUM_SWITCHES:
        options.add_argument(switch)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    driver_path = CHROMEDRIVER if CHROMEDRIVER.is_file() else shutil.which("chromedriver")
    driver = webdriver.Chrome(service=Service(executable_path=str(driver_path)), options=options)
    driver.set_page_load_timeout(WAIT_SECONDS)
    # Headless windows lose some height to browser UI that is not drawn: fix the viewport.
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": VIEWPORT[0], "height": VIEWPORT[1], "deviceScaleFactor": 1, "mobile": False,
    })
    try:
        yield driver
    finally:
        driver.quit()


def test_search_then_open_the_first_result_at_its_passage(browser: Any, base_url: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as loaded
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, WAIT_SECONDS)
    browser.get(base_url + "/")
    box = browser.find_element(By.CSS_SELECTOR, 'main input[type="search"][name="q"]')
    assert browser.switch_to.active_element == box  # autofocus
    navigate(browser, lambda: box.send_keys(QUERY, Keys.ENTER))
    assert urlsplit(browser.current_url).path == "/search"
    titles = browser.find_elements(By.CSS_SELECTOR, "li.hit .hit-title a")
    assert titles and all(title.text.strip() for title in titles)
    assert browser.find_elements(By.CSS_SELECTOR, "li.hit .hit-text mark")
    if os.environ.get("SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(exist_ok=True)
        assert browser.save_screenshot(str(SCREENSHOT))

    link = urlsplit(titles[0].get_attribute("href"))
    navigate(browser, titles[0].click)
    assert urlsplit(browser.current_url).path == link.path
    landed = urlsplit(browser.current_url)
    assert landed.path.startswith("/documents/")
    assert landed.fragment == link.fragment and landed.fragment.startswith("p-")

    target = wait.until(loaded.presence_of_element_located((By.ID, landed.fragment)))
    others = [p for p in browser.find_elements(By.CSS_SELECTOR, ".passage")
              if p.get_attribute("id") != landed.fragment]
    assert others, "the document should have more than one passage"
    assert target.value_of_css_property("background-color") != (
        others[-1].value_of_css_property("background-color")
    )
    assert browser.execute_script(
        "const r = arguments[0].getBoundingClientRect();"
        "return r.top >= 0 && r.top < window.innerHeight;",
        target,
    )


# ---------------------------------------------------------------- hostile documents
# Scraped text may hold markup meant to run in a reader's browser. Every payload below sets
# window.__pwned (or calls alert) if it ever runs; the pages must show it as text instead.

HOSTILE_TEXT = """<script>window.__pwned = "title"</script> Harbour notice

<script>window.__pwned = "script"; alert(1)</script> The harbour master posted a notice about
the night ferry to the island, which leaves from the north pier at ten.

<img src=x onerror="window.__pwned = 'img'"> A photograph of the north pier shows the ferry
waiting beside the fishing boats.

<a href="javascript:window.__pwned = 'link'">Read the timetable</a> for the ferry and the
boats that sail from the harbour every morning.

Template syntax is text too: {{ 7*7 }} {% raw %} {{ config }} {% endraw %} ${7*7} #{7*7}
<%= 7*7 %> and a closing quote "><svg onload="window.__pwned = 'svg'"> near the harbour.

<iframe src="javascript:window.__pwned = 'iframe'"></iframe><style>body{display:none}</style>
The ferry is cancelled in storms; the harbour master decides by six in the evening.
"""
HOSTILE_MARKDOWN = """# <img src=x onerror="window.__pwned = 'md-title'"> Ferry timetable

[The timetable](javascript:window.__pwned='md-link') lists every ferry from the harbour.

<details open ontoggle="window.__pwned = 'details'">The ferry sails at ten from the pier.</details>
"""
HOSTILE_HTML = """<html><head><title>&lt;script&gt;window.__pwned = 'html-title'&lt;/script&gt;
Pier</title><script>window.__pwned = 'dropped'</script></head><body>
<p>&lt;img src=x onerror="window.__pwned = 'entity'"&gt; The pier was rebuilt for the ferry
after the winter storms damaged the harbour wall.</p></body></html>
"""
# A file name is shown as the document's source, and its id goes into links.
HOSTILE_NAME = 'x"><svg onload=window.__pwned=1>.txt'
HOSTILE_QUERY = "<script>window.__pwned='query'</script> harbour ferry script onerror javascript"
PAYLOAD_ELEMENTS = ("script, iframe, object, embed, svg, img, details, style:not([href]), "
                    "[onerror], [onload], [ontoggle], [onclick], a[href^='javascript' i]")

# Installed before any page script could run: records what a payload would do.
WATCH_PAGE = """
window.__ran = [];
for (const name of ["alert", "confirm", "prompt"]) {
  window[name] = (...args) => window.__ran.push(name);
}
window.__violations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__violations.push(e.violatedDirective + " " + e.blockedURI));
"""


@pytest.fixture(scope="module")
def hostile_url(
    tmp_path_factory: pytest.TempPathFactory, embedder: Any, model_cache: Path
) -> Iterator[str]:
    from index import Config, build_index
    from service import create_app

    root = tmp_path_factory.mktemp("hostile")
    docs = root / "docs"
    docs.mkdir()
    (docs / "hostile.txt").write_text(HOSTILE_TEXT)
    (docs / "hostile-md.md").write_text(HOSTILE_MARKDOWN)
    (docs / "hostile-html.html").write_text(HOSTILE_HTML)
    (docs / HOSTILE_NAME).write_text("The ferry timetable for the harbour, as a plain list.\n")
    config = Config(docs_dir=docs, index_dir=root / "index", cache_dir=model_cache)
    assert not build_index(config, embedder=embedder).skipped
    with serve(create_app(config, embedder=embedder, watch=False)) as url:
        yield url


def hostile_pages(base: str) -> list[str]:
    from urllib.parse import quote, urlencode

    query = urlencode({"q": HOSTILE_QUERY})
    ids = ["hostile", "hostile-md", "hostile-html", HOSTILE_NAME.removesuffix(".txt")]
    return [f"{base}/search?{query}", f"{base}/search?{query}&mode=lexical"] + [
        f"{base}/documents/{quote(doc_id)}?{query}" for doc_id in ids
    ]


def test_hostile_markup_is_escaped_in_every_page(hostile_url: str) -> None:
    import urllib.request

    from bs4 import BeautifulSoup

    for url in hostile_pages(hostile_url):
        with urllib.request.urlopen(url, timeout=30) as response:
            html = response.read().decode()
            assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
        soup = BeautifulSoup(html, "html.parser")
        assert soup.select(PAYLOAD_ELEMENTS) == [], url
        handlers = [(tag.name, name) for tag in soup.find_all(True) for name in tag.attrs
                    if name.lower().startswith("on")]
        assert handlers == [], url
        assert "window.__pwned" in soup.get_text(), url  # the text is there, as text


def test_hostile_documents_run_nothing_in_chromium(browser: Any, hostile_url: str) -> None:
    from selenium.webdriver.common.by import By

    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH_PAGE})
    pages = hostile_pages(hostile_url)
    shown = []
    for url in pages:
        browser.get(url)
        state = browser.execute_script(
            "return {pwned: window.__pwned === undefined ? null : String(window.__pwned),"
            " ran: window.__ran, violations: window.__violations, title: document.title,"
            " payloads: document.querySelectorAll(arguments[0]).length,"
            " text: document.body.innerText};", PAYLOAD_ELEMENTS,
        )
        assert state["ran"] is not None, "the watcher was not installed"
        assert (state["pwned"], state["ran"], state["violations"]) == (None, [], []), url
        assert state["payloads"] == 0, url
        assert "<script>window.__pwned" in state["text"] or "onerror" in state["text"], url
        assert browser.find_elements(By.CSS_SELECTOR, "main"), url
        shown.append(state["text"])
    # The results show the hostile documents, and their text reads as written.
    assert "<script>window.__pwned = \"script\"; alert(1)</script>" in shown[0] + shown[1]
    assert "<script>window.__pwned = \"title\"</script> Harbour notice" in shown[2]
    assert "javascript:window.__pwned = 'link'" in shown[2]
    assert "{{ 7*7 }} {% raw %} {{ config }}" in shown[2] and "49" not in shown[2]
    assert "[The timetable](javascript:" in shown[3]
    assert "onerror=\"window.__pwned = 'entity'\"" in shown[4]
    assert "<svg onload=window.__pwned=1>" in shown[5]


def test_the_first_page_for_a_broad_query_shows_real_titles_leads_with_the_article(
    browser: Any, base_url: str
) -> None:
    from selenium.webdriver.common.by import By

    browser.get(base_url + "/search?q=Russian+troops+in+Iraq")
    hits = browser.find_elements(By.CSS_SELECTOR, "li.hit")
    assert len(hits) == 10
    titles = {hit.find_element(By.CSS_SELECTOR, ".hit-title a").text for hit in hits}
    # Each document's own title: no player notice, no file name.
    assert titles <= {
        "Russia To Send Troops To Iraq?",
        "Russia Is Ready To Provide Iraq With Syria-like Military Assistance",
        "Iraq and Russia Prepare to Boost Military Ties as US Threatens Sanctions",
        "Russian military presence in Iraq, reality or illusion",
        "Baghdad seeking ‘substantial’ Russian military & political presence in Iraq – "
        "vice-president",
    }, titles
    labels = [[e.text for e in hit.find_elements(By.CSS_SELECTOR, ".hit-place .comment")]
              for hit in hits]
    comments = [i for i, label in enumerate(labels) if label]
    assert comments and len(comments) < len(hits)  # both parts, each comment said to be one
    # The article leads: a comment's near-tie with it goes to the article.
    assert 0 not in comments and len([i for i in comments if i < 5]) <= 1, labels
    assert "Russia To Send Troops To Iraq? 40,000 troops" in hits[0].text
    assert all(labels[i] == ["comment by Anonymous"] for i in comments if "•" in hits[i].text)
    shown = " ".join(hit.text for hit in hits)
    assert "Adobe Flash" not in shown and "21 comments to" not in shown and "Jehoshua" not in shown


def test_more_like_this_opens_other_documents_passages_like_the_hit(
    browser: Any, base_url: str
) -> None:
    from selenium.webdriver.common.by import By

    browser.get(base_url + "/search?q=S-300+air+defence+systems")
    first = browser.find_element(By.CSS_SELECTOR, "li.hit")
    title = first.find_element(By.CSS_SELECTOR, ".hit-title a").text
    text = first.find_element(By.CSS_SELECTOR, ".hit-text").text
    navigate(browser, first.find_element(By.LINK_TEXT, "more like this").click)
    assert urlsplit(browser.current_url).path.endswith("/similar")
    assert browser.find_element(By.CSS_SELECTOR, ".like blockquote").text == text
    hits = browser.find_elements(By.CSS_SELECTOR, "li.hit")
    assert len(hits) == 10
    assert title not in {h.find_element(By.CSS_SELECTOR, ".hit-title a").text for h in hits}
    # The link sits at the end of its hit's line, apart from what describes the hit.
    link = hits[0].find_element(By.LINK_TEXT, "more like this")
    meta = hits[0].find_element(By.CSS_SELECTOR, ".hit-meta")
    assert link.rect["x"] + link.rect["width"] > meta.rect["x"] + meta.rect["width"] - 2


@pytest.fixture
def folder_url(folder_index: Any, embedder: Any) -> Iterator[str]:
    from service import create_app

    with serve(create_app(folder_index, embedder=embedder, watch=False)) as url:
        yield url


def test_a_facet_narrows_typed_syntax_filters_and_both_come_off(
    browser: Any, folder_url: str
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    def sources() -> set[str]:
        return {e.text for e in browser.find_elements(By.CSS_SELECTOR, "li.hit .source")}

    browser.get(folder_url + "/")
    navigate(browser, lambda: browser.find_element(
        By.CSS_SELECTOR, 'main input[name="q"]').send_keys("harbour tide", Keys.ENTER))
    everything = sources()
    assert len({s.split("/")[0] for s in everything}) >= 3
    navigate(browser, browser.find_element(By.PARTIAL_LINK_TEXT, "notes/2024/").click)
    assert sources() == {"notes/2024/anchoring.txt", "notes/2024/knots.md"}
    # Typed in the header's box, the syntax narrows further; the facet's filter stays.
    box = browser.find_element(By.CSS_SELECTOR, 'header input[name="q"]')
    box.clear()
    navigate(browser, lambda: box.send_keys("harbour tide type:md", Keys.ENTER))
    assert sources() == {"notes/2024/knots.md"}
    chips = {e.text: e for e in browser.find_elements(By.CSS_SELECTOR, ".filters.active a")}
    assert set(chips) == {"in notes/2024/ ×", "type:md ×"}
    navigate(browser, chips["type:md ×"].click)
    assert sources() == {"notes/2024/anchoring.txt", "notes/2024/knots.md"}
    navigate(browser, browser.find_element(By.CSS_SELECTOR, ".filters.active a").click)
    assert sources() == everything


def test_the_sentence_that_answers_is_marked_apart_from_the_words(
    browser: Any, base_url: str
) -> None:
    from selenium.webdriver.common.by import By

    query = "commenter says US dollars were sent to Iraqi banks to be stolen and buy loyalty"
    browser.get(base_url + "/search?" + urlencode({"q": query}))
    first = browser.find_element(By.CSS_SELECTOR, "li.hit .hit-text")
    answer, = first.find_elements(By.CSS_SELECTOR, "span.answer")
    assert answer.text.startswith("The amounts of cash, wood pallets stacked high")
    assert len(answer.text) < len(first.text) / 2  # one of its sentences, not all
    # Drawn apart: its own background and an underline, unlike the rest of the text and
    # unlike the word marks inside it.
    background = answer.value_of_css_property("background-color")
    assert background != first.value_of_css_property("background-color")
    assert answer.value_of_css_property("border-bottom-style") == "solid"
    marks = answer.find_elements(By.CSS_SELECTOR, "mark")
    assert marks and all(m.value_of_css_property("background-color") != background
                         for m in marks)
    assert answer.is_displayed() and answer.rect["width"] > 0


def test_by_document_gives_each_document_once_with_its_other_passages_folded(
    browser: Any, base_url: str
) -> None:
    """The sample's first article and its twenty comments crowd a broad query's page; by
    document, each document comes once, its other passages folded under it."""
    from selenium.webdriver.common.by import By

    def titles() -> list[str]:
        return [e.text for e in browser.find_elements(By.CSS_SELECTOR, "li.hit .hit-title a")]

    browser.get(base_url + "/search?q=Russian+troops+in+Iraq")
    crowded = titles()
    assert len(crowded) == 10 and len(set(crowded)) < len(crowded)
    navigate(browser, browser.find_element(By.LINK_TEXT, "by document").click)
    grouped = titles()
    assert len(grouped) == len(set(grouped)) == 5  # the five sample documents, once each
    assert grouped[0] == crowded[0]
    more = browser.find_element(By.CSS_SELECTOR, "li.hit details.more")
    folded = more.find_element(By.CSS_SELECTOR, "li a")
    assert not folded.is_displayed()
    summary = more.find_element(By.TAG_NAME, "summary")
    assert summary.text.endswith("more passages in this document")
    summary.click()
    assert folded.is_displayed()
    navigate(browser, folded.click)  # to that passage in its document
    assert "/documents/" in browser.current_url and "#p-" in browser.current_url
    navigate(browser, browser.back)
    navigate(browser, browser.back)
    assert titles() == crowded
