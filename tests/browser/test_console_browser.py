"""The web console in a real browser: Playwright driving Debian's Chromium
(/usr/bin/chromium; Playwright's own browser download is not used) against
a real ``allotment serve`` with noauth2 on loopback and the console
enabled, so the browser sends no token, as on an operator's laptop.

Every page loads with no console error, no script error and no failed
request; the filter box, search and the explain and capacity forms work.
Screenshots of the main pages go to ``test-artifacts/screenshots/`` at the
top of the checkout (git-ignored; ``ALLOTMENT_SCREENSHOTS`` names another
folder), kept after the run. .ci/run installs Chromium and Playwright.
"""

import os
import pathlib

import pytest

from tests import console_cloud as data
from tests import served

CHROMIUM = os.environ.get("ALLOTMENT_CHROMIUM", "/usr/bin/chromium")
REQUIRED = os.environ.get("ALLOTMENT_REQUIRE_BACKENDS") == "1"
TOP = pathlib.Path(__file__).resolve().parents[2]
SHOTS = pathlib.Path(
    os.environ.get(
        "ALLOTMENT_SCREENSHOTS", TOP / "test-artifacts" / "screenshots"
    )
)
LAPTOP = {"width": 1366, "height": 768}
pytestmark = pytest.mark.browser


def _unavailable(reason):
    if REQUIRED:
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install playwright)")
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable("no Chromium at %s (apt-get install chromium)" % CHROMIUM)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("console")
    conf = served.write_conf(
        folder,
        "sqlite:///%s" % (folder / "placement.sqlite"),
        allotment={"ui_enabled": "True"},
    )
    server = served.Served.start(conf)
    data.seed(lambda method, path, body: server.request(method, path, body))
    yield server
    server.stop()


@pytest.fixture
def page(browser, server):
    """A page whose console messages, script errors and failed requests
    are collected in ``page.problems``."""
    context = browser.new_context(viewport=LAPTOP)
    page = context.new_page()
    problems = []
    page.on(
        "console",
        lambda msg: (
            problems.append("console %s: %s" % (msg.type, msg.text))
            if msg.type in ("error", "warning")
            else None
        ),
    )
    page.on("pageerror", lambda exc: problems.append("script: %s" % exc))
    page.on(
        "response",
        lambda resp: (
            problems.append("%s %s" % (resp.status, resp.url))
            if resp.status >= 400
            else None
        ),
    )
    page.on(
        "requestfailed",
        lambda req: problems.append("failed %s" % req.url),
    )
    page.problems = problems
    page.base = server.base + "/allotment/ui"
    yield page
    context.close()


def _visit(page, path, shot=None):
    resp = page.goto(page.base + path)
    assert resp.status == 200, (path, resp.status)
    page.wait_for_load_state("load")
    if shot:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / (shot + ".png")), full_page=True)
    return resp


def _clean(page):
    assert page.problems == [], page.problems


def test_every_page_loads_cleanly(page):
    for path, shot in [
        ("/", "overview"),
        ("/providers/" + data.CHILD, "provider-tree"),
        ("/providers/" + data.OTHER, None),
        ("/consumers/" + data.CONSUMER, "consumer"),
        ("/search?q=cn", "search"),
        ("/explain", None),
        ("/capacity", None),
    ]:
        _visit(page, path, shot)
        assert page.locator("h1").first.is_visible()
    _clean(page)


def test_overview_bars_read_without_colour(page):
    _visit(page, "/")
    # The figures are text next to each bar, not only a bar's fill.
    figures = page.locator("#roots .figures").all_inner_texts()
    assert "8 of 32 used (25%), 24 free" in figures
    assert page.locator("#roots meter").count() == len(figures)
    _clean(page)


def test_filter_box_hides_other_trees(page):
    _visit(page, "/")
    rows = page.locator("#roots tbody tr")
    assert rows.count() == 2
    page.fill("#filter", "cn2")
    assert page.locator("#roots tbody tr:visible").count() == 1
    assert "cn2" in page.locator("#roots tbody tr:visible").inner_text()
    page.fill("#filter", "")
    assert page.locator("#roots tbody tr:visible").count() == 2
    _clean(page)


def test_search_from_the_header(page):
    _visit(page, "/")
    page.keyboard.press("/")  # focuses the search box
    page.keyboard.type("HW_CPU_X86_AVX2")
    page.keyboard.press("Enter")
    page.wait_for_url("**/search?q=HW_CPU_X86_AVX2")
    results = page.locator("section.results")
    assert "trait HW_CPU_X86_AVX2" in results.inner_text()
    assert page.locator("section.results a", has_text="cn1").count() >= 1
    # A consumer's uuid opens its page.
    page.fill("#q", data.CONSUMER)
    page.press("#q", "Enter")
    page.wait_for_url("**/consumers/" + data.CONSUMER)
    assert "proj-1" in page.inner_text("main")
    # A name fragment; then a provider in the results.
    page.fill("#q", "numa")
    page.press("#q", "Enter")
    page.wait_for_url("**/search?q=numa")
    page.click("section.results a:text-is('cn1-numa0')")
    page.wait_for_url("**/providers/" + data.CHILD)
    assert page.locator("[aria-current=page]").inner_text() == "cn1-numa0"
    _clean(page)


def test_explain_form(page):
    _visit(page, "/explain")
    page.fill("#query", "resources=VCPU:200")
    page.click("form.query button")
    page.wait_for_selector("#verdict")
    assert "0 allocation requests" in page.inner_text("#verdict")
    assert "short by 176" in page.inner_text("#verdict")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "explain.png"), full_page=True)
    page.fill("#query", "resources=NOPE:1")
    page.click("form.query button")
    page.wait_for_selector("#error")
    assert "No such resource class NOPE" in page.inner_text("#error")
    _clean(page)


def test_capacity_view(page):
    _visit(page, "/capacity")
    page.fill("#query", "resources=VCPU:2")
    page.click("form.query button")
    page.wait_for_selector("#verdict")
    assert page.inner_text("#verdict") == "12 more fit."
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "capacity.png"), full_page=True)
    _clean(page)
