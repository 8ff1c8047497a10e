"""The scheduling pages in a real browser (web/calendar.py): a nurse opens the calendar, books a refill from a chart,
sees it on the calendar, runs the planner and books its proposal; every scheduling page passes axe-core (WCAG 2.1
A and AA) and fits a phone's width.

The set-up is tests/test_browser.py's (its helpers are imported from there; the fixtures are this module's own):
`idds serve --demo` on a free loopback port with a fresh SQLite database, Debian's Chromium driven by Playwright,
skipped without them unless CI=true or IDDS_REQUIRE_BROWSER=1. Screenshots go to test-output/browser/cal-*.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from typing import TYPE_CHECKING

import pytest

from tests.test_accessibility import AXE, audit, go
from tests.test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    TIMEOUT_MS,
    Server,
    _browser_required,
    _missing,
    login,
    open_patient,
    shot,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

PLAN_TIMEOUT_MS = 90_000  # the planner's solver stops at 20 s; two shared cores can be slow
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    why = _missing()
    if why is None and not AXE.exists():
        why = f"{AXE} is missing"
    if why is not None:
        if _browser_required():
            pytest.fail(f"browser tests required (CI=true or IDDS_REQUIRE_BROWSER=1) but {why}", pytrace=False)
        pytest.skip(f"browser tests skipped: {why}")
    for attempt in range(3):  # a free port can be taken before the server binds it: try another
        srv = Server(tmp_path_factory.mktemp("calendar-server"))
        try:
            srv.wait_until_up()
        except RuntimeError:
            srv.stop()
            if attempt == 2 or "address already in use" not in srv.log().lower():
                raise
            continue
        break
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _context_page(
    browser: Browser, server: Server, request: pytest.FixtureRequest, width: int, height: int, bypass_csp: bool
) -> Iterator[Page]:
    context = browser.new_context(
        base_url=server.base, viewport={"width": width, "height": height}, bypass_csp=bypass_csp
    )
    context.set_default_timeout(TIMEOUT_MS)
    pg = context.new_page()
    failed_before = request.session.testsfailed
    try:
        yield pg
    finally:
        if request.session.testsfailed > failed_before and not pg.is_closed():
            shot(pg, f"FAILED-{request.node.name}")
        context.close()


@pytest.fixture
def page(browser: Browser, server: Server, request: pytest.FixtureRequest) -> Iterator[Page]:
    """The app as it is served (its content security policy in force)."""
    yield from _context_page(browser, server, request, 1280, 900, False)


@pytest.fixture
def audited(browser: Browser, server: Server, request: pytest.FixtureRequest) -> Iterator[Page]:
    """For axe: its injected script needs the policy lifted (as tests/test_accessibility.py does)."""
    yield from _context_page(browser, server, request, 1280, 900, True)


@pytest.fixture
def phone(browser: Browser, server: Server, request: pytest.FixtureRequest) -> Iterator[Page]:
    yield from _context_page(browser, server, request, PHONE["width"], PHONE["height"], False)


def book_from_chart(page: Page, name: str) -> str:
    """Book the next refill from the chart on the day the form offers (the window's first open day), with a reason
    when the booking needs one. Returns the day booked (YYYY-MM-DD)."""
    from playwright.sync_api import expect

    open_patient(page, name)
    window = page.locator("#refill-window")
    expect(window).to_contain_text(re.compile(r"Book the next refill between|Refill overdue"))
    day = page.locator("#book-day").input_value()
    page.fill("#book-time", "11:30")
    page.fill("#book-note", "booked in the browser test")
    page.click("#book-submit")
    page.wait_for_load_state("load")
    if page.locator("#book-reasons").count():  # outside the window or a full day: the reasons, and a reason box
        expect(page.locator("#book-day")).to_have_value(day)  # what was typed is kept
        expect(page.locator("#book-note")).to_have_value("booked in the browser test")
        page.fill("#book-reason", "the patient can only come that day (browser test)")
        page.click("#book-submit")
    expect(page.locator("#done-notice")).to_have_text("The appointment was booked.")
    expect(page.locator("#next-booked-refill")).to_contain_text("Next refill booked")
    return day


def test_the_scheduling_pages_pass_axe(audited: Page, server: Server) -> None:
    """First in the module: the booking that needs a reason is made before the planner books the next refills (a
    refill booked after another booked one is for the next fill, and is not checked against the current window)."""
    from playwright.sync_api import expect

    page = audited
    problems: list[str] = []
    login(page, "dr.lindqvist")
    for path in ("/calendar", "/calendar?view=day", "/clinic", "/planner"):
        go(page, path)
        problems += audit(page, path)
    open_patient(page, "Costa, Beatriz")
    problems += audit(page, "chart with appointments")
    page.fill("#book-time", "06:00")  # before the clinic opens: refused in words
    page.click("#book-submit")
    expect(page.locator("#book-error")).to_be_visible()
    problems += audit(page, "chart: a refused booking")
    # half a year on (a Wednesday): after the latest safe day, so it needs a reason, shown with the reasons
    far = date.today() + timedelta(days=180)
    far += timedelta(days=(2 - far.weekday()) % 7)
    page.fill("#book-day", far.isoformat())
    page.fill("#book-time", "10:00")
    page.click("#book-submit")
    expect(page.locator("#book-reasons")).to_contain_text("After the latest safe day")
    expect(page.locator("#book-time")).to_have_value("10:00")
    page.locator("#book-form").scroll_into_view_if_needed()
    shot(page, "cal-g-booking-needs-a-reason")
    problems += audit(page, "chart: a booking that needs a reason")
    page.fill("#book-reason", "the patient is abroad until then (browser test)")
    page.click("#book-submit")
    expect(page.locator("#done-notice")).to_have_text("The appointment was booked.")
    expect(page.locator("#appointments-upcoming")).to_contain_text("the patient is abroad until then")
    page.click("#nav-planner")
    page.fill("#f-weeks", "1")
    page.click("#planner-run")
    page.wait_for_url(re.compile(r"/planner/\d+$"), timeout=PLAN_TIMEOUT_MS)
    problems += audit(page, "a plan")
    page.click("#logout")
    login(page, "admin")
    go(page, "/admin/settings")
    problems += audit(page, "settings")
    page.click("#section-nurses summary")
    page.fill("#s-nurse-0-visits", "7")
    page.locator("#form-nurses button[type=submit]").click()
    expect(page.locator("#review-changes")).to_contain_text("nurses nurse.garcia: visits per day")
    problems += audit(page, "settings: review")
    shot(page, "cal-f-settings-review")
    page.click("#save-settings")  # without a reason: refused, the review kept
    page.wait_for_load_state("load")
    if page.locator("#settings-error").count() == 0:  # the browser's own check stopped it (required)
        page.locator("#save-form").evaluate("f => { f.noValidate = true; f.requestSubmit(); }")
    expect(page.locator("#settings-error")).to_contain_text("Why the settings change")
    problems += audit(page, "settings: refused save")
    page.fill("#s-reason", "a seventh visit a day for the winter (browser test)")
    page.click("#save-settings")
    expect(page.locator("#done-notice")).to_have_text("The settings were saved.")
    expect(page.locator("#nurses-in-force")).to_contain_text("nurse.garcia: 7 visits a day")
    assert not problems, f"{len(problems)} axe violation(s):\n" + "\n".join(problems)


def test_a_nurse_books_a_refill_sees_it_on_the_calendar_and_books_the_planners_proposal(page: Page) -> None:
    from playwright.sync_api import expect

    login(page, "nurse.garcia")
    page.click("#nav-calendar")
    expect(page.locator("#cal-week")).to_be_visible()
    expect(page.locator("#cal-today")).to_be_visible()
    shot(page, "cal-a-week")

    day = book_from_chart(page, "Jensen, Lars")
    page.locator("#appointments").scroll_into_view_if_needed()
    shot(page, "cal-b-chart-booked")

    page.click("#chart-calendar-link")
    page.goto(f"/calendar?day={day}&view=day")
    visit = page.locator(".cal-visit", has_text="Jensen, Lars")
    expect(visit).to_contain_text("11:30")
    expect(visit).to_contain_text("booked")
    shot(page, "cal-c-day-with-the-visit")
    visit.locator("form[id^=confirm-] button").click()  # confirmed by phone
    expect(page.locator("#done-notice")).to_be_visible()
    expect(page.locator(".cal-visit", has_text="Jensen, Lars")).to_contain_text("confirmed")

    page.click("#nav-dashboard")  # the refill window and the booking, in the refill lists
    expect(page.locator(".dash-table .window-words").first).to_be_visible()
    shot(page, "cal-h-dashboard")

    page.click("#nav-planner")
    expect(page.locator("#f-weeks")).to_have_value("4")
    page.fill("#f-weeks", "12")  # beyond the visits the demo has booked already
    page.click("#planner-run")
    page.wait_for_url(re.compile(r"/planner/\d+$"), timeout=PLAN_TIMEOUT_MS)
    expect(page.locator("#figures-cpsat")).to_contain_text("Visits planned")
    expect(page.locator("#figures-greedy")).to_contain_text("Visits planned")
    shot(page, "cal-d-plan")
    boxes = page.locator("input[name=key]")
    if boxes.count() == 0:  # every patient already booked in these weeks: nothing to accept
        expect(page.locator("#plan-bookings")).to_contain_text("No new visit is proposed")
        return
    assert boxes.count() == page.locator("input[name=key]:checked").count()  # all ticked by default
    page.click("#accept-submit")
    page.wait_for_url(re.compile(r"/planner/\d+/result\?record=\d+$"), timeout=PLAN_TIMEOUT_MS)
    expect(page.locator("#plan-booked")).to_contain_text("Booked")
    shot(page, "cal-e-plan-booked")
    booked = page.locator("#plan-booked li")
    assert booked.count() + page.locator("#plan-refused li").count() == boxes.count() or booked.count() > 0


def _fits(page: Page, where: str) -> None:
    wide = page.evaluate(_WIDEST)
    assert wide[0] <= wide[1] + 1, f"{where}: the page is {wide[0]} px wide on a {wide[1]} px screen: {wide[2]}"


# The page's width and the innermost elements that stick out past the screen (what to fix).
_WIDEST = """() => {
  const w = window.innerWidth;
  const out = [...document.querySelectorAll('main *')].filter(e => {
    const r = e.getBoundingClientRect();
    return r.right > w + 1 && ![...e.children].some(c => c.getBoundingClientRect().right > w + 1);
  }).slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + '.' + [...e.classList].join('.')
    + ' ' + (e.textContent || '').trim().slice(0, 40));
  return [document.documentElement.scrollWidth, w, out];
}"""


def test_the_scheduling_pages_fit_a_phone(phone: Page) -> None:
    page = phone
    login(page, "nurse.garcia")
    pages = (
        ("/calendar", "cal-phone-week"),
        ("/calendar?view=day", "cal-phone-day"),
        ("/clinic", "cal-phone-dashboard"),
    )
    for path, name in pages:
        go(page, path)
        _fits(page, path)
        if name:
            shot(page, name)
    page.goto("/patients")
    page.locator("a.patient-link[data-patient-id]", has_text="Nguyen, Peter").click()
    page.locator("#appointments").scroll_into_view_if_needed()
    _fits(page, "chart")
    page.locator("#appointments").screenshot(
        path=str(shot(page, "cal-phone-chart").with_name("cal-phone-appointments.png"))
    )
    go(page, "/planner")
    _fits(page, "/planner")
    page.locator("#recent-plans a").first.click()  # a plan the tests above made
    page.wait_for_url(re.compile(r"/planner/\d+$"))
    _fits(page, "a plan")
    shot(page, "cal-phone-plan")
    page.click("#logout")
    login(page, "admin")
    go(page, "/admin/settings")
    page.click("#section-nurses summary")
    page.click("#section-closures summary")
    _fits(page, "/admin/settings")
    shot(page, "cal-phone-settings")
