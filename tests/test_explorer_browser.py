"""The explorer in headless Chromium (Debian's chromium + chromedriver, driven by selenium):
open the page, set filters, click, check the rendered lists, save a screenshot."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from headless import SCREENSHOTS, chromium, needs_chromium

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def server(pipeline_run: dict):
    import uvicorn

    from reelgraph.explorer.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(
        create_app(pipeline_run["warehouse"], pipeline_run["outputs"]),
        host="127.0.0.1",
        port=port,
        log_level="warning",
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline, "explorer did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    driver = chromium(tmp_path_factory.mktemp("chrome"))
    yield driver
    driver.quit()


def slide(browser, element_id: str, value: int) -> None:  # noqa: ANN001 - a WebDriver
    """Move a range thumb as a drag would: set its value, fire the input event."""
    browser.execute_script(
        "const el = document.getElementById(arguments[0]); el.value = arguments[1];"
        "el.dispatchEvent(new Event('input'));",
        element_id,
        value,
    )


def test_set_filters_click_and_read_the_lists(server: str, browser) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    wait = WebDriverWait(browser, 30)
    browser.get(server + "/")
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "yes")
    assert browser.find_element(By.ID, "user").get_attribute("value")  # a user to start from
    browser.find_element(By.ID, "user").clear()
    browser.find_element(By.ID, "user").send_keys("1")
    assert browser.find_element(By.ID, "years-shown").text == "any"
    slide(browser, "year-from", 1960)
    slide(browser, "year-to", 2010)
    assert browser.find_element(By.ID, "years-shown").text == "1960 – 2010"
    slide(browser, "year-from", 2030)  # past the other thumb: the thumbs move together
    assert browser.find_element(By.ID, "years-shown").text.split(" – ")[0] == (
        browser.find_element(By.ID, "year-to").get_attribute("value")
    )
    slide(browser, "year-from", 1960)
    slide(browser, "year-to", 2010)
    Select(browser.find_element(By.ID, "genres")).select_by_visible_text("Drama")
    k = browser.find_element(By.ID, "k")
    k.clear()
    k.send_keys("4")
    browser.find_element(By.ID, "go").click()
    wait.until(lambda d: d.find_element(By.ID, "results").get_attribute("data-ready") == "yes")
    rows = browser.find_elements(By.CSS_SELECTOR, "#top tbody tr")
    assert 0 < len(rows) <= 4
    for row in rows:
        cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
        assert "Drama" in cells[3] and 1960 <= int(cells[2]) <= 2010
    assert browser.find_elements(By.CSS_SELECTOR, "#least tbody tr")
    assert browser.find_elements(By.CSS_SELECTOR, "#graph circle")  # the graph view drew nodes
    assert browser.find_element(By.ID, "error").text == ""
    # A bad minimum score shows the API's one-line message instead of results.
    browser.find_element(By.ID, "min-score").send_keys("abc")
    browser.find_element(By.ID, "go").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "error"), "min_score"))
    assert "{" not in browser.find_element(By.ID, "error").text  # words, not raw JSON
    assert not browser.find_elements(By.CSS_SELECTOR, "#top tbody tr")  # old results cleared
    # Filters nothing passes: said in words, not an empty screen.
    browser.find_element(By.ID, "min-score").clear()
    browser.find_element(By.ID, "min-score").send_keys("1000")
    browser.find_element(By.ID, "go").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "note"), "Nothing matches"))
    assert browser.find_element(By.ID, "error").text == ""
    browser.find_element(By.ID, "min-score").clear()
    browser.find_element(By.ID, "go").click()
    wait.until(lambda d: d.find_element(By.ID, "results").get_attribute("data-ready") == "yes")
    assert browser.find_elements(By.CSS_SELECTOR, "#top tbody tr")
    assert browser.find_element(By.ID, "note").text == ""
    assert browser.save_screenshot(str(SCREENSHOTS / "explorer.png"))


def test_rate_movies_inline_and_get_cold_start_picks(server: str, browser) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    wait = WebDriverWait(browser, 30)
    browser.get(server + "/")
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "yes")
    search = browser.find_element(By.ID, "movie-search")
    for word in ("Sto", "Story"):  # two keystrokes' answers; the list shows the latest's
        search.clear()
        search.send_keys(word)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#movie-hits li select"))
    hits = browser.find_elements(By.CSS_SELECTOR, "#movie-hits li")
    assert all("Story" in h.text for h in hits)
    Select(hits[0].find_element(By.TAG_NAME, "select")).select_by_value("4.5")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#my-ratings li"))
    assert "4.5★" in browser.find_element(By.ID, "my-ratings").text
    browser.find_element(By.ID, "cold-go").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#cold tbody tr"))
    assert browser.find_element(By.ID, "error").text == ""
    assert browser.save_screenshot(str(SCREENSHOTS / "explorer_cold_start.png"))


def test_every_figure_opens_at_the_url_the_run_summary_links(
    server: str, browser, pipeline_run: dict
) -> None:
    """The pipeline-summary artifact links each figure at the explorer's http URL: each one
    opens in a browser as a real image (saved under .state/screenshots for a look by eye)."""
    import json
    import urllib.request

    run = pipeline_run["result"]["run_id"]
    with urllib.request.urlopen(f"{server}/api/runs/{run}/figures") as answer:
        names = json.load(answer)
    assert len(names) == 5
    for name in names:
        browser.get(f"{server}/api/runs/{run}/figures/{name}")
        width = browser.execute_script(
            "const img = document.querySelector('img'); return img ? img.naturalWidth : 0;"
        )
        assert width > 300, f"{name} did not open as an image"
        assert browser.save_screenshot(str(SCREENSHOTS / f"figure_{name}"))


def test_the_runs_page_lists_runs_and_shows_a_diff(
    server: str, browser, pipeline_run: dict
) -> None:
    """The fixture's one run: listed as the latest, no promote button (read-only explorer);
    comparing it with itself shows the metrics table and every list kept."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 30)
    browser.get(server + "/")
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "yes")
    rows = browser.find_elements(By.CSS_SELECTOR, "#runs tbody tr")
    run_id = pipeline_run["result"]["run_id"]
    assert len(rows) == 1 and run_id in rows[0].text and "published (latest)" in rows[0].text
    assert not browser.find_elements(By.CSS_SELECTOR, "#runs button")
    browser.find_element(By.ID, "diff-go").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#diff tbody tr"))
    assert "100.0% of a list kept" in browser.find_element(By.ID, "diff-lists").text
    assert browser.find_element(By.ID, "runs-error").text == ""
