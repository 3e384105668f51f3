"""The dashboard in a real headless Chromium (Debian's package, driven by Selenium).

Seeded through the real ingest routes, then read the way a person would: the sessions
list, a session's path tree and timeline, requests as conversations, the filters, a log
arriving while the page is open, and log content that tries to be markup. Screenshots
land in ``.artifacts/screenshots/``. Install the browser with scripts/install-chromium.sh;
without it these tests skip. Deselect them with ``-m "not browser"``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from heliograph.receiver import ReceiverThread
from heliograph.receiver.views import SESSION_PAGE

from . import dashboard_data
from .dashboard_data import (
    LARGE,
    TRIP,
    TRIP_NAME,
    XSS_ANSWER,
    XSS_NAME,
    XSS_PROMPT,
    Seeded,
    seed_large_session,
)
from .helpers import make_record, post_record

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / ".artifacts" / "screenshots"
CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
WAIT_S = 10.0


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("needs Debian's chromium and chromium-driver: run scripts/install-chromium.sh")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,1000", "--lang=en-US", "--no-first-run"):  # fmt: skip
        options.add_argument(flag)
    # An explicit driver path: Selenium Manager never looks for (or downloads) a browser.
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Seeded]]:
    path = tmp_path_factory.mktemp("browser") / "receiver.sqlite3"
    with ReceiverThread(db_path=path) as running, httpx.Client(base_url=running.url) as http:
        yield running.url, dashboard_data.seed(http)


@pytest.fixture
def shot(browser: Any, request: pytest.FixtureRequest) -> Callable[[str], None]:
    """``shot("label")`` saves the page as .artifacts/screenshots/<test>-<label>.png."""

    def save(label: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SCREENSHOTS / f"{request.node.name}-{label}.png"))

    return save


def wait_for(browser: Any, condition: Callable[[Any], Any], what: str) -> Any:
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    # The live poll may replace a table while the condition reads it: just look again.
    wait = WebDriverWait(
        browser, WAIT_S, poll_frequency=0.1, ignored_exceptions=[StaleElementReferenceException]
    )
    try:
        return wait.until(condition)
    except TimeoutException:
        pytest.fail(f"timed out waiting for {what}; page text: {text_of(browser, 'main')[:800]}")


def text_of(browser: Any, selector: str) -> str:
    from selenium.webdriver.common.by import By

    return "\n".join(e.text for e in browser.find_elements(By.CSS_SELECTOR, selector))


def open_view(browser: Any, url: str, fragment: str, ready: str) -> None:
    """Load ``url/#fragment`` and wait until ``ready`` (a CSS selector) is on the page."""
    from selenium.webdriver.common.by import By

    browser.get(f"{url}/#{fragment}")
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ready), ready)


def rows(browser: Any) -> list[list[str]]:
    from selenium.webdriver.common.by import By

    return [
        [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
        for row in browser.find_elements(By.CSS_SELECTOR, "main tbody tr")
    ]


def test_sessions_list_shows_each_session_with_its_totals(
    browser: Any, site: tuple[str, Seeded], shot: Callable[[str], None]
) -> None:
    url, _ = site
    open_view(browser, url, "/sessions", "main tbody tr")
    shot("sessions")
    headers = text_of(browser, "main thead th").split("\n")
    assert headers == ["Name", "Session id", "Requests", "Tokens", "Cost", "Duration",
                       "Last activity"]  # fmt: skip
    table = rows(browser)
    assert [row[:4] for row in table] == [
        [XSS_NAME, "s-xss", "1", "5"],
        [TRIP_NAME, TRIP, "5", "90"],
    ]
    assert table[1][5] == "4 min 1 s"
    assert "Page 1 of 1 · 2 sessions" in text_of(browser, "nav.pager")


def test_session_view_shows_the_path_tree_and_a_timeline(
    browser: Any, site: tuple[str, Seeded], shot: Callable[[str], None]
) -> None:
    from selenium.webdriver.common.by import By

    url, seeded = site
    open_view(browser, url, "/sessions", "main tbody tr")
    browser.find_element(By.LINK_TEXT, TRIP_NAME).click()  # navigate as a person would
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "ol.timeline li"), "timeline")
    shot("session")
    assert text_of(browser, "h1") == TRIP_NAME
    assert text_of(browser, "#session-shown") == "Showing 5 of 5 requests, oldest first."
    assert browser.find_elements(By.ID, "load-more") == []
    search = browser.find_element(By.CSS_SELECTOR, '.tree li[data-path="/plan/search"]')
    assert search.find_element(By.CSS_SELECTOR, ".node-label").text.startswith(
        "search · 2 requests · 62 tokens"
    )
    hrefs = [a.get_attribute("href") for a in search.find_elements(By.CSS_SELECTOR, ".leaf a")]
    assert [h.rsplit("/", 1)[1] for h in hrefs] == [seeded.id("tool_call"), seeded.id("anthropic")]
    paths = [li.text.split(" ")[0] for li in browser.find_elements(By.CSS_SELECTOR, ".timeline li")]
    assert paths == ["/plan", "/plan/search", "/plan/search", "/plan/book", "/plan/book"]
    bars = browser.find_elements(By.CSS_SELECTOR, ".timeline .bar")
    offsets = [bar.location["x"] for bar in bars]
    assert offsets == sorted(offsets) and offsets[0] < offsets[-1]  # a waterfall, in order
    assert "bar-error" in (bars[-1].get_attribute("class") or "")  # the 500 stands out


def test_a_large_session_shows_one_page_says_so_and_loads_more(
    browser: Any, tmp_path: Path, shot: Callable[[str], None]
) -> None:
    from selenium.webdriver.common.by import By

    total = SESSION_PAGE + 100
    with (
        ReceiverThread(db_path=tmp_path / "large.sqlite3") as running,
        httpx.Client(base_url=running.url) as http,
    ):
        seed_large_session(running.store, total)
        open_view(browser, running.url, f"/session/{LARGE}", "ol.timeline li")
        shot("first-page")
        assert text_of(browser, "#session-shown") == (
            f"Showing {SESSION_PAGE} of {total} requests, oldest first; "
            "totals and the path tree count them all."
        )
        assert len(browser.find_elements(By.CSS_SELECTOR, ".timeline li")) == SESSION_PAGE
        root = browser.find_element(By.CSS_SELECTOR, '.tree li[data-path="/"] > .node-label')
        assert root.text.startswith(f"/ · {total} requests")  # the whole session
        assert browser.find_elements(By.CSS_SELECTOR, ".tree .more")  # "… n more at this path"
        browser.find_element(By.ID, "load-more").click()
        wait_for(
            browser,
            lambda d: text_of(d, "#session-shown").startswith(f"Showing {total} of {total}"),
            "the second page",
        )
        assert len(browser.find_elements(By.CSS_SELECTOR, ".timeline li")) == total
        assert browser.find_elements(By.ID, "load-more") == []
        assert browser.find_elements(By.CSS_SELECTOR, ".tree .more") == []
        # A log arriving now refreshes the view and keeps every page that was loaded.
        post_record(http, make_record(headers={"Helicone-Session-Id": LARGE}))
        wait_for(
            browser,
            lambda d: text_of(d, "#session-shown").startswith(
                f"Showing {total + 1} of {total + 1}"
            ),
            "the live update",
        )


def test_request_view_renders_anthropic_blocks_as_a_conversation(
    browser: Any, site: tuple[str, Seeded], shot: Callable[[str], None]
) -> None:
    from selenium.webdriver.common.by import By

    url, seeded = site
    open_view(browser, url, f"/request/{seeded.id('anthropic')}", "ol.conversation")
    shot("anthropic")
    roles = text_of(browser, "ol[aria-label='Request messages'] > li > h3").split("\n")
    assert [r.lower() for r in roles] == ["system", "assistant", "user"]
    request_text = text_of(browser, "ol[aria-label='Request messages']")
    assert "Tool call lookup · id toolu_1" in request_text
    assert "Tool result for toolu_1\n08:15 TGV" in request_text
    response = browser.find_element(By.CSS_SELECTOR, "ol[aria-label='Response messages']")
    assert "Take the 08:15 TGV." in response.text
    thinking = response.find_element(By.CSS_SELECTOR, "details.thinking")
    thinking.find_element(By.TAG_NAME, "summary").click()
    assert "The 08:15 fits." in thinking.text
    facts = text_of(browser, "dl.facts")
    assert "Tokens\n30 in · 7 out · 37 total" in facts
    assert "Cache tokens\n100 read" in facts
    assert "Session path\n/plan/search" in facts
    toggle = browser.find_element(By.CSS_SELECTOR, "button[aria-controls='raw-json']")
    toggle.click()
    raw = browser.find_element(By.ID, "raw-json")
    assert raw.is_displayed() and '"tool_use_id": "toolu_1"' in raw.text
    assert toggle.get_attribute("aria-expanded") == "true"


def test_request_view_renders_openai_tool_calls_and_the_responses_api(
    browser: Any, site: tuple[str, Seeded], shot: Callable[[str], None]
) -> None:
    url, seeded = site
    open_view(browser, url, f"/request/{seeded.id('tool_call')}", "ol.conversation")
    assert "1 tool call: search_trains" in text_of(browser, "main section")
    assert '"to": "Lyon"' in text_of(browser, "ol[aria-label='Response messages']")
    assert "env\nprod" in text_of(browser, "main table").replace("\t", "\n").replace(" ", "\n")
    open_view(browser, url, f"/request/{seeded.id('responses_api')}", "ol.conversation")
    shot("responses-api")
    asked = text_of(browser, "ol[aria-label='Request messages']")
    assert "SYSTEM\nBook it." in asked and "USER\nBook the 08:15" in asked
    answered = text_of(browser, "ol[aria-label='Response messages']")
    assert "Tool call book_ticket · id fc_1" in answered and "Booked." in answered


def test_filters_narrow_the_request_list(
    browser: Any, site: tuple[str, Seeded], shot: Callable[[str], None]
) -> None:
    from selenium.webdriver.common.by import By

    url, _ = site
    open_view(browser, url, "/requests", "main tbody tr")
    assert len(rows(browser)) == 7

    def apply(**fields: str) -> list[list[str]]:
        for name in ("model", "status", "user", "property", "q"):
            box = browser.find_element(By.ID, f"filter-{name}")
            box.clear()
            box.send_keys(fields.get(name, ""))
        before = browser.find_element(By.ID, "results")
        browser.find_element(By.CSS_SELECTOR, "form.filters button[type=submit]").click()
        wait_for(browser, lambda d: not _attached(before), "the filtered list")
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#results > *"), "results")
        return rows(browser)

    assert [r[1] for r in apply(model="gpt-4.1")] == ["gpt-4.1"]
    assert [r[2] for r in apply(status="500")] == ["500"]
    assert [r[8] for r in apply(property="env=prod")] == ["/plan/search"]
    found = apply(q="TGV")
    shot("search")
    assert [(r[1], r[8]) for r in found] == [("claude-sonnet-4", "/plan/search")]
    assert apply(user="ann", model="gpt-4.1") == []
    assert "No request matches" in text_of(browser, "#results")
    assert "model=gpt-4.1" in browser.current_url  # filters live in the URL: shareable


def _attached(element: Any) -> bool:
    from selenium.common.exceptions import StaleElementReferenceException

    try:
        element.is_displayed()
    except StaleElementReferenceException:
        return False
    return True


def test_log_content_is_shown_as_text_never_run_as_markup(
    browser: Any, site: tuple[str, Seeded], shot: Callable[[str], None]
) -> None:
    from selenium.webdriver.common.by import By

    url, seeded = site
    open_view(browser, url, f"/request/{seeded.id('xss')}", "ol.conversation")
    shot("xss-request")
    texts = [p.text for p in browser.find_elements(By.CSS_SELECTOR, "main p.text")]
    assert texts == [XSS_PROMPT, XSS_ANSWER]
    assert "User\n<i>u</i>" in text_of(browser, "dl.facts")
    open_view(browser, url, "/sessions", "main tbody tr")
    open_view(browser, url, f"/session/{dashboard_data.XSS_SESSION}", "ol.timeline li")
    shot("xss-session")
    assert text_of(browser, "h1") == XSS_NAME
    assert "/<b>x</b>" in text_of(browser, ".timeline")
    assert browser.find_elements(By.CSS_SELECTOR, "main img, main script, main b, main i") == []
    assert browser.execute_script("return window.__xss === undefined")


def test_a_new_log_appears_without_a_reload(
    browser: Any, tmp_path: Path, shot: Callable[[str], None]
) -> None:
    from selenium.webdriver.common.by import By

    with (
        ReceiverThread(db_path=tmp_path / "live.sqlite3") as running,
        httpx.Client(base_url=running.url) as http,
    ):
        post_record(http, make_record(headers={"Helicone-Session-Id": "s-first"}))
        open_view(browser, running.url, "/sessions", "main tbody tr")
        wait_for(browser, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute(
            "data-version"), "the first poll")  # fmt: skip
        browser.execute_script("window.__sameDocument = true")
        headers = {"Helicone-Session-Id": "s-live", "Helicone-Session-Name": "Arrived live"}
        post_record(http, make_record(headers=headers))
        wait_for(browser, lambda d: "Arrived live" in text_of(d, "main tbody"), "the new session")
        shot("sessions")
        assert browser.execute_script("return window.__sameDocument === true")  # no reload
        assert "New logs shown" in text_of(browser, "#live")
        open_view(browser, running.url, "/requests", "main tbody tr")
        browser.execute_script("window.__sameDocument = true")
        post_record(http, make_record(request={"model": "late-model", "messages": []}))
        wait_for(browser, lambda d: "late-model" in text_of(d, "main tbody"), "the new request")
        assert browser.execute_script("return window.__sameDocument === true")
        wait_for(browser, lambda d: len(rows(d)) == 3, "three rows")
