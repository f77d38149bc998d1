"""The pages in a real headless Chromium: search, click a result, land on its passage.

Needs Debian's chromium and chromium-driver and PyPI's selenium; skips, naming what is
missing, without them. SCREENSHOT=1 also writes a results page to docs/screenshot.png.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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


@pytest.fixture
def base_url(app: Flask) -> Iterator[str]:
    """The app served over HTTP on a free loopback port for the test's length."""
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
    box.send_keys(QUERY, Keys.ENTER)

    wait.until(loaded.presence_of_element_located((By.CSS_SELECTOR, "li.hit")))
    assert urlsplit(browser.current_url).path == "/search"
    titles = browser.find_elements(By.CSS_SELECTOR, "li.hit .hit-title a")
    assert titles and all(title.text.strip() for title in titles)
    assert browser.find_elements(By.CSS_SELECTOR, "li.hit .hit-text mark")
    if os.environ.get("SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(exist_ok=True)
        assert browser.save_screenshot(str(SCREENSHOT))

    link = urlsplit(titles[0].get_attribute("href"))
    titles[0].click()
    wait.until(lambda b: urlsplit(b.current_url).path == link.path)
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
