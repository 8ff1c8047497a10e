"""The web app in a real browser: Debian's Chromium driven by Playwright against `idds serve --demo`, started as a
subprocess on a free loopback port with a fresh SQLite database (one server and one browser for the module; each
test has its own browser context and its own demo patient, so the tests do not depend on their order).

Each test saves screenshots of its key moment under test-output/browser/ (and one named FAILED-… when it fails).
Without /usr/bin/chromium or the playwright package the tests are skipped, unless CI=true or IDDS_REQUIRE_BROWSER=1:
then they fail, so CI always runs them.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SHOTS = Path(__file__).resolve().parent.parent / "test-output" / "browser"
# Loopback only: never through an http_proxy from the environment.
_URLS = urllib.request.build_opener(urllib.request.ProxyHandler({}))
SERVER_START_TIMEOUT = 90.0  # seconds: migrating and seeding the demo clinic takes ~5 s on a laptop
TIMEOUT_MS = 15_000  # for every Playwright wait and expect


def _browser_required() -> bool:
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("IDDS_REQUIRE_BROWSER") == "1"


def _missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing (pip install -e '.[test]')"
    return None


# --- the server ---------------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _idds_command() -> list[str]:
    script = Path(sys.executable).with_name("idds")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from openidds.cli.app import main; main()"]


class Server:
    def __init__(self, tmp: Path) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / "server.log"
        command = [*_idds_command(), "serve", "--demo", "--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--database", f"sqlite:///{tmp / 'x.sqlite3'}"]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=tmp)

    def log(self, tail: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-tail:]

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"idds serve exited with {self.process.returncode}:\n{self.log()}")
            # bound to the port: not someone else answering on it
            if "Uvicorn running on" not in self.log(tail=1_000_000):
                time.sleep(0.2)
                continue
            try:
                with _URLS.open(f"{self.base}/login", timeout=2) as r:
                    if r.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"idds serve did not answer on {self.base} in {SERVER_START_TIMEOUT:.0f} s:\n{self.log()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()

    def api(self, method: str, path: str, body: dict[str, Any] | None = None, token: str | None = None) -> Any:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base}/api/v1{path}", data=data, headers=headers, method=method)
        with _URLS.open(request, timeout=10) as r:
            return json.load(r)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    why = _missing()
    if why is not None:
        if _browser_required():
            pytest.fail(f"browser tests required (CI=true or IDDS_REQUIRE_BROWSER=1) but {why}", pytrace=False)
        pytest.skip(f"browser tests skipped: {why}")
    for attempt in range(3):  # a free port can be taken by someone else before the server binds it: try another
        srv = Server(tmp_path_factory.mktemp("browser-server"))
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
def patient_ids(server: Server) -> dict[str, int]:
    """The demo's patients by MRN (read through the API as the demo nurse)."""
    token = server.api("POST", "/auth/login", {"username": "nurse.garcia", "password": "nurse.garcia-demo"})["token"]
    return {p["mrn"]: p["id"] for p in server.api("GET", "/patients", token=token)}


# --- the browser --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser, server: Server, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser context (its own cookies) per test; a screenshot named FAILED-<test> when the test fails."""
    context = browser.new_context(base_url=server.base, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    pg = context.new_page()
    failed_before = request.session.testsfailed
    try:
        yield pg
    finally:
        if request.session.testsfailed > failed_before and not pg.is_closed():
            shot(pg, f"FAILED-{request.node.name}")
        context.close()


def shot(page: Page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def login(page: Page, username: str) -> None:
    from playwright.sync_api import expect

    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", f"{username}-demo")
    page.click("#login-submit")
    expect(page.locator("#logout")).to_be_visible()


def logout(page: Page) -> None:
    from playwright.sync_api import expect

    page.click("#logout")
    expect(page.locator("#login-submit")).to_be_visible()


def open_patient(page: Page, name: str) -> None:
    """From the patient list to the chart, as a user would."""
    from playwright.sync_api import expect

    page.click("#nav-patients")
    page.locator("a.patient-link[data-patient-id]", has_text=name).click()
    expect(page.locator("#patient-name")).to_have_text(name)


# --- the tests ----------------------------------------------------------------------------------------------------
def _ml(text: str) -> float:
    """The first volume in a text such as '24.25 mL (band 21.89 to 26.61 mL)'."""
    found = re.search(r"(\d+(?:\.\d+)?) mL", text)
    assert found is not None, text
    return float(found.group(1))


def test_a_nurse_prepares_a_refill_a_pharmacist_checks_it_and_the_fill_shows_a_discrepancy(page: Page) -> None:
    from playwright.sync_api import expect

    login(page, "nurse.garcia")
    open_patient(page, "Nguyen, Peter")  # morphine + bupivacaine 10 mg/mL: an admixture, so compounded
    page.click("#action-refill")
    # step 1: prepare (the running program's solution, the label's lot and expiry, the reservoir's 40 mL)
    expect(page.locator("#choice-running")).to_be_checked()
    expect(page.locator("#f-volume_ml")).to_have_value("40")
    page.fill("#f-drug_lot", "LOT-B-2031")
    page.fill("#f-expires_at", (date.today() + timedelta(days=60)).isoformat())  # the demo runs on the real clock
    shot(page, "a-refill-prepare")
    page.click("#prepare-save")
    expect(page.locator("#refill-title")).to_have_text("Refill: prepared")
    expect(page.locator("#refill-compounded")).to_contain_text("yes: an admixture of 2 drugs")
    expect(page.locator("#refill-check-blocked")).to_contain_text("You prepared this refill")
    expect(page.locator("#refill-check-save")).to_have_count(0)  # not her own check
    expect(page.locator("#unchecked-warning")).to_be_visible()
    shot(page, "a-refill-prepared-awaiting-check")

    # step 2: the pharmacist checks it beside her and signs on her screen
    cosign = page.locator("#refill-cosign-form")
    cosign.locator("#f-cosign_username").fill("pharm.chen")
    cosign.locator("#f-cosign_password").fill("pharm.chen-demo")
    page.click("#refill-cosign")
    expect(page.locator("#refill-title")).to_have_text("Refill: checked")
    expect(page.locator("#step-check")).to_contain_text("Checked by Wei Chen, PharmD")
    expect(page.locator("#unchecked-warning")).to_have_count(0)
    expect(page.locator("#f-emergency_reason")).to_have_count(0)

    # step 3: withdraw and fill; the withdrawn volume is checked as it is typed
    expected = _ml(page.locator("#expected-ml").inner_text())
    assert expected > 10
    withdrawn = f"{expected - 8:.1f}"  # 8 mL less than the twin expects: far outside the pump's accuracy band
    page.fill("#withdrawn_ml", withdrawn)  # the live check (htmx, as you type)
    live = page.locator("#refill-check")
    expect(live.locator("#discrepancy-flag")).to_be_visible()
    expect(live.locator("#reconciliation-status")).to_have_text("Discrepancy: less than expected")
    expect(live.locator("#likely-causes")).to_contain_text("over-infusion")
    expect(page.locator("#f-filled_ml")).to_have_value("")  # what was filled is typed, never assumed
    page.fill("#f-filled_ml", "40")
    shot(page, "a-refill-discrepancy-live")

    page.click("#refill-save")
    expect(page.locator("#refill-title")).to_have_text("Refill: completed")
    expect(page.locator("#next-refill-due")).to_be_visible()
    expect(page.locator("#discrepancy-flag")).to_be_visible()
    expect(page.locator("#reconciliation-status")).to_have_text("Discrepancy: less than expected")
    expect(page.locator("#discrepancy-flag")).to_contain_text(f"withdrawn {withdrawn.rstrip('0').rstrip('.')} mL")
    expect(page.locator("#step-fill")).to_contain_text("Filled by Rosa Garcia, RN")
    expect(page.locator("#refill-form")).to_have_count(0)  # filled once
    shot(page, "a-refill-discrepancy-saved")

    # the flag is on the clinic dashboard, linked to the patient
    page.click("#nav-dashboard")
    expect(page.locator("#dash-urgent")).to_contain_text("Nguyen, Peter")


def test_a_program_above_a_hard_limit_is_refused_and_a_soft_one_needs_a_reason(page: Page) -> None:
    from playwright.sync_api import expect

    login(page, "dr.okafor")
    open_patient(page, "Jensen, Lars")  # morphine 10 mg/mL at 0.4 mL/day: 4 mg/day
    page.click("#action-program")
    page.check("#mode-continuous")
    page.fill("#dose", "")
    page.fill("#rate", "2.5 mL/day")  # 25 mg/day
    check = page.locator("#program-check")
    expect(check.locator("#program-check-findings li[data-code='titration.hard-max']")).to_be_visible()
    expect(check).to_contain_text("Refused")
    # While the hard finding stands, Propose is off and says why (the server refuses a forced post too).
    expect(page.locator("#program-propose")).to_be_disabled()
    expect(page.locator("#program-propose-why")).to_contain_text("fix the hard findings first")
    shot(page, "b-program-hard-limit-refused")

    page.fill("#rate", "0.5 mL/day")  # 4 → 5 mg/day: a 25 % step, above the soft titration limit
    expect(check.locator("#program-check-findings li[data-code='titration.soft-max']")).to_be_visible()
    expect(check.locator("#program-check-findings li[data-code='titration.hard-max']")).to_have_count(0)
    page.click("#program-propose")
    expect(page.locator("#version-status")).to_have_text("proposed")
    expect(page.locator("#review-diff tr.changed").first).to_be_visible()
    expect(page.locator("#review-findings li[data-code='titration.soft-max']")).to_contain_text("needs an override")
    reason = page.locator('textarea[data-code="titration.soft-max"]')
    expect(reason).to_be_visible()

    page.click("#confirm-program")  # without a reason
    expect(page.locator("#review-error")).to_contain_text("each soft finding needs a reason; none is given for")
    expect(page.locator("#version-status")).to_have_text("proposed")
    shot(page, "b-program-soft-limit-needs-reason")

    why = "NRS 7/10 at two visits on the current dose, no sedation: a 25 % step agreed with the patient"
    page.locator('textarea[data-code="titration.soft-max"]').fill(why)
    page.click("#confirm-program")
    expect(page.locator("#version-status")).to_have_text("active")
    expect(page.locator("#review-overrides")).to_contain_text(why)
    shot(page, "b-program-soft-limit-confirmed")


def test_a_concentration_change_is_not_confirmed_and_verified_by_the_same_user(page: Page) -> None:
    from playwright.sync_api import expect

    login(page, "dr.okafor")
    open_patient(page, "Costa, Beatriz")  # morphine 10 mg/mL at 0.25 mL/day: 2.5 mg/day
    page.click("#action-program")
    page.check("#mode-continuous")
    page.fill("#drug-0-concentration", "20 mg/mL")
    page.fill("#dose", "")
    page.fill("#rate", "0.125 mL/day")  # the same 2.5 mg/day at the double concentration
    expect(page.locator("#program-check-summary")).to_contain_text("No hard or soft finding")
    expect(page.locator("#bridge")).to_be_checked()  # the old solution runs out at the new dose first
    page.click("#program-propose")
    expect(page.locator("#version-status")).to_have_text("proposed")
    expect(page.locator("#needs-second")).to_contain_text("needed")
    expect(page.locator("#review-diff tr.changed", has_text="morphine concentration")).to_contain_text("20 mg/mL")
    review_url = page.url

    page.click("#confirm-program")
    expect(page.locator("#version-status")).to_have_text("awaiting verification")
    expect(page.locator("#verify-blocked")).to_be_visible()
    page.click("#verify-program")  # the physician who confirmed it tries to verify it too
    expect(page.locator("#review-error")).to_contain_text("a second person must")
    expect(page.locator("#version-status")).to_have_text("awaiting verification")
    shot(page, "c-concentration-same-user-refused")

    logout(page)
    login(page, "pharm.chen")
    page.goto(review_url)
    expect(page.locator("#verify-program")).to_be_visible()
    expect(page.locator("#verify-blocked")).to_have_count(0)
    page.click("#verify-program")
    # verified, it waits: the pump holds 10 mg/mL until the refill brings 20 mg/mL
    expect(page.locator("#version-status")).to_have_text("awaiting refill")
    expect(page.locator("#review-status")).to_contain_text("Wei Chen")
    expect(page.locator("#awaits-refill")).to_contain_text("awaits its refill")
    expect(page.locator("#awaits-refill")).to_contain_text("then a bridge bolus")
    shot(page, "c-concentration-verified-by-pharmacist")

    # The nurse prepares the refill with the new solution; the pharmacist checks it (compounded: 20 mg/mL is no
    # product strength) on her screen; completing it starts the waiting program.
    logout(page)
    login(page, "nurse.garcia")
    page.goto(review_url)
    page.click("#go-refill")
    waiting = page.locator('input[name="solution_choice"][value^="v"]')
    expect(waiting).to_have_count(1)
    expect(waiting).to_be_checked()
    expect(page.locator("#f-solution")).to_contain_text("morphine 20 mg/mL")
    expect(page.locator(".waiting-program .notice")).to_contain_text("after a bridge bolus")
    page.fill("#f-drug_lot", "CMP-20-0117")
    page.fill("#f-expires_at", (date.today() + timedelta(days=60)).isoformat())  # the demo runs on the real clock
    page.fill("#f-cosign_username", "pharm.chen")
    page.fill("#f-cosign_password", "pharm.chen-demo")
    shot(page, "c-concentration-refill-prepare")
    page.click("#prepare-save")
    expect(page.locator("#refill-title")).to_have_text("Refill: checked")
    expect(page.locator("#refill-solution")).to_have_text("morphine 20 mg/mL")
    expect(page.locator("#refill-compounded")).to_contain_text("not a product strength")
    expect(page.locator("#refill-applies")).to_contain_text("applies program version")
    expect(page.locator("#refill-applies-diff")).to_contain_text("20 mg/mL")
    expected = page.locator("#expected-ml").inner_text().removesuffix(" mL")
    page.fill("#withdrawn_ml", expected)  # what the twin expects: within the band
    expect(page.locator("#refill-check #reconciliation-status")).to_have_text("Within the band")
    expect(page.locator("#refill-save")).to_contain_text("and start program version")
    prepared = page.locator("#f-filled_ml-hint").inner_text().removeprefix("At most the ").split(" mL")[0]
    page.fill("#f-filled_ml", prepared)  # all that was prepared and checked
    shot(page, "c-concentration-refill-checked")
    page.click("#refill-save")
    expect(page.locator("#refill-title")).to_have_text("Refill: completed")
    expect(page.locator("#refill-program")).to_contain_text("(active), with a bridge bolus")
    expect(page.locator("#refill-bridge-now")).to_contain_text("Program the pump now")  # the bridge, after the fill
    shot(page, "c-concentration-refill-completed")
    page.goto(review_url)
    expect(page.locator("#version-status")).to_have_text("active")
    expect(page.locator("#awaits-refill")).to_have_count(0)
    shot(page, "c-concentration-applied-by-refill")


def test_a_patient_gets_a_dose_then_the_lockout_refuses_with_a_countdown(page: Page) -> None:
    from playwright.sync_api import expect

    page.clock.install()  # the page's timers run in real time until fast-forwarded below
    login(page, "t.hale")
    page.click("#nav-remote")
    expect(page.locator("#bolus-settings")).to_contain_text("At least 4 h between doses")

    page.click("#request-dose")
    expect(page.locator("#remote-decision")).to_contain_text("Dose given")
    # the lockout has begun: the button is disabled, with the wait beside it in hours and minutes
    expect(page.locator("#request-dose")).to_be_disabled()
    countdown = page.locator("#lockout-countdown[data-wait-seconds]")
    expect(countdown).to_be_visible()
    assert 0 < int(countdown.get_attribute("data-wait-seconds") or "0") <= 4 * 3600
    text = countdown.locator(".countdown-text")
    first = _minutes(text.inner_text())
    assert 235 <= first <= 240, first
    # the button is only a convenience: a press sent anyway is decided by the server, and refused
    page.locator("#remote-form").evaluate("form => form.requestSubmit()")
    expect(page.locator("#remote-decision")).to_contain_text("No dose given")
    expect(page.locator("#remote-reason")).to_have_text("lockout")
    shot(page, "d-remote-lockout-countdown")

    # Read it again a couple of seconds later: it never goes up (it shows whole minutes, refreshed when the minute
    # shown changes) ...
    page.wait_for_timeout(2_000)
    assert _minutes(text.inner_text()) <= first
    # ... and it counts down with the page's clock: two minutes on, it shows at least two fewer.
    page.clock.fast_forward("02:00")
    expect(text).to_have_text(re.compile(r"^(\d+ h )?\d+ min$"))
    page.wait_for_function(
        """limit => {
          const shown = document.querySelector('#lockout-countdown .countdown-text').textContent.trim();
          const m = /^(?:(\\d+) h )?(\\d+) min$/.exec(shown);
          return m !== null && parseInt(m[1] || "0", 10) * 60 + parseInt(m[2], 10) <= limit;
        }""",
        arg=first - 2,
    )
    later = _minutes(text.inner_text())
    assert later <= first - 2, (first, later)
    expect(countdown).to_contain_text("Next dose possible in")
    shot(page, "d-remote-lockout-countdown-later")


def _minutes(text: str) -> int:
    """The minutes of a wait as the page writes it: '3 h 59 min' is 239, '45 min' is 45."""
    found = re.fullmatch(r"\s*(?:(\d+) h )?(\d+) min\s*", text)
    assert found is not None, text
    return int(found.group(1) or 0) * 60 + int(found.group(2))


def test_a_patient_cannot_open_another_patients_pages(page: Page, patient_ids: dict[str, int]) -> None:
    from playwright.sync_api import expect

    login(page, "m.rossi")
    own = page.locator("#nav-my-pump")
    assert own.get_attribute("href") == f"/patients/{patient_ids['DEMO-0015']}/pump"
    own.click()
    expect(page.locator("#current-drugs")).to_contain_text("Morphine")  # her own pump: allowed
    expect(page.locator("#error-message")).to_have_count(0)

    other = patient_ids["DEMO-0014"]  # Thomas Hale
    for path in (f"/patients/{other}", f"/patients/{other}/remote", f"/patients/{other}/pump"):
        response = page.goto(path)
        assert response is not None and response.status == 404, (path, response and response.status)
        expect(page.locator("#error-title")).to_have_text("Not found")
        expect(page.locator("#error-message")).to_be_visible()
        expect(page.locator("body")).not_to_contain_text("Hale")
    shot(page, "e-other-patient-not-found")


def test_a_nurse_finds_a_patient_by_name_date_of_birth_and_drug_and_the_chart_shows_both_identifiers(
    page: Page,
) -> None:
    from playwright.sync_api import expect

    login(page, "nurse.garcia")
    page.click("#nav-patients")
    expect(page.locator("#results-count")).to_have_text("40 patients, by name")  # the demo clinic, unfiltered
    results = page.locator("#patients-table a.patient-link")

    page.fill("#f-q", "fontai")  # part of the family name, lower case
    page.click("#search-submit")
    expect(results).to_have_text(["Fontaine, Lucie"])
    expect(page.locator("#results-count")).to_have_text("1 patient matches this search, by name")
    expect(page.locator("#f-q")).to_have_value("fontai")  # kept, to refine
    row = page.locator("#patients-table tbody tr")
    expect(row).to_contain_text("2 May 2001")
    expect(row).to_contain_text("DEMO-0029")
    expect(row).to_contain_text("baclofen 1000 mcg/mL")
    expect(row).to_contain_text("Programmable pump, 20 mL")

    page.fill("#f-q", "2001-05-02")  # her date of birth (02/05/2001 could be read either way: refused)
    page.click("#search-submit")
    expect(results).to_have_text(["Fontaine, Lucie"])

    page.fill("#f-q", "")
    page.select_option("#f-drug", "baclofen")
    page.click("#search-submit")
    expect(page.locator("#f-drug")).to_have_value("baclofen")
    expect(results.filter(has_text="Fontaine, Lucie")).to_have_count(1)
    drugs = page.locator("#patients-table td.drugs")
    assert drugs.count() >= 2  # every baclofen pump of the demo, and only those
    for text in drugs.all_inner_texts():
        assert "baclofen" in text, text

    shot(page, "f-patient-search-baclofen")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: the results fit, nothing scrolls sideways
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "f-patient-search-baclofen-390px")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.fill("#f-q", "no such patient")
    page.click("#search-submit")
    expect(page.locator("#no-match")).to_contain_text("No patient matches this search.")

    page.fill("#f-q", "lucie")
    page.click("#search-submit")
    page.locator("a.patient-link", has_text="Fontaine, Lucie").click()
    expect(page.locator("#patient-name")).to_have_text("Fontaine, Lucie")
    expect(page.locator("#patient-dob")).to_have_text("2 May 2001")
    expect(page.locator("#patient-dob")).to_have_attribute("datetime", "2001-05-02")
    today = date.today()  # the demo runs on the real clock
    expect(page.locator("#patient-age")).to_have_text(str(today.year - 2001 - ((today.month, today.day) < (5, 2))))
    expect(page.locator("#patient-mrn")).to_have_text("DEMO-0029")
    shot(page, "f-chart-header-with-date-of-birth")


def test_a_patient_on_a_phone_sees_the_remote_disabled_with_the_wait_and_the_doses_left(page: Page) -> None:
    from playwright.sync_api import expect

    page.clock.install()  # the page's timers run in real time until fast-forwarded below
    page.set_viewport_size({"width": 390, "height": 844})
    login(page, "r.silva")  # baclofen with a remote: 25 mcg a dose, lockout 3 h, at most 4 a day; none in 24 h
    expect(page.locator("#warning-baclofen")).to_contain_text("never let your pump run empty")
    page.click("#nav-remote")
    button = page.locator("#request-dose")
    expect(page.locator("#doses-left")).to_contain_text("4 of 4 doses left today")
    expect(button).to_be_enabled()

    button.click()
    expect(page.locator("#remote-decision")).to_contain_text("Dose given")
    expect(button).to_be_disabled()
    expect(page.locator("#lockout-countdown")).to_have_text(
        re.compile(r"^Next dose possible in (3 h 0 min|2 h 59 min)$")  # never "180 min"
    )
    expect(page.locator("#request-why")).to_contain_text("lockout")
    expect(page.locator("#doses-left")).to_contain_text("3 of 4 doses left today")
    expect(page.locator("#clinic-phone")).to_have_text("+1 555 555 0100")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing scrolls sideways
    shot(page, "g-remote-disabled-with-the-wait-390px")

    # When the page's own clock says the wait is over it asks the server again, which decides on its clock: the
    # server's is hours behind the page's here, so the button stays disabled, with the server's wait.
    with page.expect_request(re.compile(r"/remote/status$")):
        page.clock.fast_forward("03:01:00")
    expect(button).to_be_disabled()
    expect(page.locator("#lockout-countdown")).to_have_text(
        re.compile(r"^Next dose possible in (2 h 5\d min|3 h 0 min)$")
    )


# --- the admin's pages ----------------------------------------------------------------------------------------------
def _user_row(page: Page, username: str) -> Any:
    return page.locator(f'#users-table tr[data-username="{username}"]')


def test_an_admin_adds_a_user_resets_the_password_changes_the_role_and_disables_the_login(
    page: Page, browser: Browser, server: Server
) -> None:
    from playwright.sync_api import expect

    login(page, "admin")
    expect(page).to_have_url(f"{server.base}/admin")  # the admin's home
    expect(page.locator("#audit-status")).to_contain_text("The audit chain is intact")
    shot(page, "admin-landing")
    page.click("#link-users")
    expect(page.locator("h1")).to_have_text("Users")
    expect(_user_row(page, "admin")).to_contain_text("Your own login: another admin disables it.")

    # a first password that is too short: refused, the form kept, the field named in words
    page.fill("#f-username", "nurse.lee")
    page.fill("#f-full_name", "Kim Lee, RN")
    page.select_option("#f-role", "nurse")
    page.fill("#f-password", "short")
    page.click("#add-user-submit")
    expect(page.locator("#form-error-message")).to_have_text("Password: must be at least 10 characters (it has 5)")
    expect(page.locator("#f-username")).to_have_value("nurse.lee")
    expect(page.locator("#f-full_name")).to_have_value("Kim Lee, RN")
    expect(page.locator("#f-role")).to_have_value("nurse")
    expect(page.locator("#f-password")).to_have_value("")
    shot(page, "admin-add-user-refused")
    page.fill("#f-password", "kim's first password")
    page.click("#add-user-submit")
    expect(page.locator("#done-notice")).to_have_text(
        "Kim Lee, RN (nurse.lee) was added as a nurse: they can log in now."
    )
    row = _user_row(page, "nurse.lee")
    expect(row).to_contain_text("active")

    # she logs in on her own computer
    other = browser.new_context(base_url=server.base, viewport={"width": 1280, "height": 900})
    other.set_default_timeout(TIMEOUT_MS)
    try:
        hers = other.new_page()
        hers.goto("/login")
        hers.fill("#username", "nurse.lee")
        hers.fill("#password", "kim's first password")
        hers.click("#login-submit")
        expect(hers.locator("#current-user")).to_contain_text("Kim Lee, RN")

        # a new password ends her session
        row.locator("summary", has_text="Reset the password").click()
        row.locator('input[name="new_password"]').fill("kim's second password")
        row.locator("button", has_text="Reset the password").click()
        expect(page.locator("#done-notice")).to_contain_text("The password of Kim Lee, RN (nurse.lee) is reset")
        hers.goto("/clinic")
        expect(hers.locator("#login-submit")).to_be_visible()

        # a new role
        row = _user_row(page, "nurse.lee")
        row.locator("summary", has_text="Change the role").click()
        row.locator('select[name="role"]').select_option("pharmacist")
        row.locator("button", has_text="Change the role").click()
        expect(page.locator("#done-notice")).to_contain_text("Kim Lee, RN (nurse.lee) is now a pharmacist")
        expect(_user_row(page, "nurse.lee").locator("td").nth(1)).to_have_text("pharmacist")

        # she logs in with the new password; disabled, her session ends and she cannot log in again
        hers.fill("#username", "nurse.lee")
        hers.fill("#password", "kim's second password")
        hers.click("#login-submit")
        expect(hers.locator("#current-user")).to_contain_text("(pharmacist)")
        _user_row(page, "nurse.lee").locator("button", has_text="Disable").click()
        expect(page.locator("#done-notice")).to_have_text(
            "Kim Lee, RN (nurse.lee) is disabled: their sessions are ended and they cannot log in."
        )
        expect(_user_row(page, "nurse.lee")).to_contain_text("disabled")
        expect(_user_row(page, "nurse.lee").locator("button", has_text="Enable")).to_be_visible()
        shot(page, "admin-user-disabled")
        hers.goto("/clinic")
        expect(hers.locator("#login-submit")).to_be_visible()
        hers.fill("#username", "nurse.lee")
        hers.fill("#password", "kim's second password")
        hers.click("#login-submit")
        expect(hers.locator("#login-error")).to_have_text("wrong username or password")
        shot(hers, "admin-disabled-user-cannot-log-in")
    finally:
        other.close()

    # every one of those writes is in the audit trail, newest first, without what changed (the admin's view)
    page.goto("/admin/audit?entity=user/&actor=admin")
    actions = page.locator("#audit-table tbody tr td:nth-of-type(3)")
    expect(actions.first).to_have_text("disable-user")
    texts = actions.all_inner_texts()
    assert texts[:4] == ["disable-user", "change-role", "reset-password", "create-user"], texts

    page.set_viewport_size({"width": 390, "height": 844})  # a phone: one card per user, nothing scrolls sideways
    page.goto("/admin/users")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "admin-users-390px")
    page.set_viewport_size({"width": 1280, "height": 900})


def test_the_audit_trail_filters_checks_the_chain_and_exports_csv(page: Page) -> None:
    from playwright.sync_api import expect

    login(page, "admin")
    page.click("#link-audit")
    expect(page.locator("h1")).to_have_text("Audit trail")
    expect(page.locator("#audit-count")).to_contain_text("newest first")
    expect(page.locator("#audit-table th", has_text="Before and after")).to_have_count(0)  # none for the admin

    page.select_option("#f-action", "create-user")
    page.click("#audit-filter-submit")
    expect(page.locator("#f-action")).to_have_value("create-user")
    actions = page.locator("#audit-table tbody tr td:nth-of-type(3)")
    expect(actions.first).to_have_text("create-user")
    assert set(actions.all_inner_texts()) == {"create-user"}
    page.click("#audit-verify")
    expect(page.locator("#audit-verify-status")).to_contain_text("The audit chain is intact")
    expect(page.locator("#f-action")).to_have_value("create-user")  # the filter stays
    shot(page, "admin-audit-filtered-and-verified")

    with page.expect_download() as download:
        page.click("#audit-csv")
    saved = download.value
    assert saved.suggested_filename.startswith("audit-trail-") and saved.suggested_filename.endswith(".csv")
    lines = Path(saved.path()).read_text().splitlines()
    assert lines[0] == "record,when,who,action,entity"
    assert len(lines) > 1 and all(line.split(",")[3] == "create-user" for line in lines[1:]), lines[:5]

    # a date range on the clinic's clock, the end before the start: said in words, the filter kept
    page.fill("#f-since", "2030-01-02")
    page.fill("#f-until", "2030-01-01")
    page.click("#audit-filter-submit")
    expect(page.locator("#filter-error-message")).to_have_text("To (date): is before the From date")
    expect(page.locator("#f-since")).to_have_value("2030-01-02")

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/admin/audit")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "admin-audit-390px")
    page.set_viewport_size({"width": 1280, "height": 900})

    # a physician reads the trail too, with what each record changed
    logout(page)
    login(page, "dr.okafor")
    page.goto("/admin/audit?action=create-patient")
    expect(page.locator("#audit-table th", has_text="Before and after")).to_have_count(1)
    first = page.locator("#audit-table tbody tr").first
    first.locator("summary").click()
    expect(first.locator("pre").nth(1)).to_contain_text('"mrn": "DEMO-')
    shot(page, "admin-audit-physician-sees-changes")


def test_the_program_form_starts_from_the_last_refill_offers_the_pumps_modes_and_turns_propose_off_on_a_hard_finding(
    page: Page, server: Server, patient_ids: dict[str, int]
) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from playwright.sync_api import expect

    # Murphy, Joan: morphine 10 mg/mL in the 0.5 mL/day constant-flow pump (5 mg/day), implanted 150 days ago and
    # refilled since (30 mL lasts 54 days to the 3 mL reserve). The form starts from the last refill, read here from
    # the record; morphine keeps 90 days in the pump from that fill.
    token = server.api("POST", "/auth/login", {"username": "nurse.garcia", "password": "nurse.garcia-demo"})["token"]
    refills = server.api("GET", f"/patients/{patient_ids['DEMO-0019']}/refills", token=token)
    last = max((r for r in refills if r["status"] == "completed"), key=lambda r: r["at"])
    chicago = ZoneInfo("America/Chicago")
    filled_at = datetime.fromisoformat(last["at"]).astimezone(chicago)
    stable = (datetime.fromisoformat(last["at"]) + timedelta(days=90)).astimezone(chicago)
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    stable_text = f"{stable.day} {months[stable.month - 1]} {stable.year} {stable:%H:%M} {stable.tzname()}"

    login(page, "dr.okafor")
    open_patient(page, "Murphy, Joan")
    page.click("#action-program")
    expect(page.locator("#fill-filled-at")).to_have_value(filled_at.isoformat())
    expect(page.locator("#fill-volume")).to_have_value(f"{last['filled_ml']} mL")
    check = page.locator("#program-check")
    stable_row = check.locator("#program-check-fill tr", has_text="drugs stable in the pump until")
    expect(stable_row.locator("td")).to_have_text(stable_text)
    # the pump's one mode: continuous at its fixed rate; no flex steps, no remote
    expect(page.locator("#f-mode input[type=radio]")).to_have_count(1)
    expect(page.locator("#mode-continuous")).to_be_checked()
    expect(page.locator("#mode-hint")).to_contain_text("runs at its fixed rate, 0.5 mL/day")
    expect(page.locator("#f-flex")).to_have_count(0)
    expect(page.locator("#f-bolus")).to_have_count(0)
    propose = page.locator("#program-propose")
    expect(propose).to_be_enabled()
    shot(page, "c-program-form-constant-flow-from-the-last-refill")

    # a rate the pump cannot run: a hard finding, and Propose turns off with the reason beside it
    page.fill("#rate", "1 mL/day")
    expect(check.locator("#program-check-findings li[data-code='rate.fixed-by-pump']")).to_be_visible()
    expect(propose).to_be_disabled()
    expect(page.locator("#program-propose-why")).to_have_text("Refused: fix the hard findings first.")
    shot(page, "c-program-propose-off-on-a-hard-finding")

    # the fixed rate again: the finding goes, Propose is on, and it goes to the review screen
    page.fill("#rate", "0.5 mL/day")
    expect(check.locator("#program-check-findings li[data-code='rate.fixed-by-pump']")).to_have_count(0)
    expect(propose).to_be_enabled()
    expect(page.locator("#program-propose-why")).to_have_count(0)
    propose.click()
    expect(page.locator("#version-status")).to_have_text("proposed")
    shot(page, "c-program-proposed-after-the-finding-went")

    # a programmable pump: every mode the form knows, flex steps and the remote
    page.goto(f"/patients/{patient_ids['DEMO-0015']}/program")  # Rossi, Maria: programmable-40
    for mode in ("continuous", "flex", "stopped", "minimum-rate"):
        expect(page.locator(f"#mode-{mode}")).to_have_count(1)
    expect(page.locator("#f-flex")).to_be_visible()
    expect(page.locator("#f-bolus")).to_be_visible()


def test_the_dashboard_opens_on_my_work_and_the_chart_on_its_alerts(page: Page) -> None:
    """The pharmacist's own queue, a nurse's urgent flag in the chart's banner, and a discrepancy acknowledged with
    a note, as each would find them."""
    from playwright.sync_api import expect

    login(page, "pharm.chen")
    page.goto("/clinic")
    check = page.locator("#q-check")
    expect(check).to_contain_text("Novak, Jan")
    expect(check).to_contain_text("refill of baclofen 2000 mcg/mL prepared: awaits its independent double check")
    expect(page.locator("#q-flags")).to_contain_text("Price, Diane")  # an unchecked fill: a pharmacist may review it
    shot(page, "h-pharmacist-my-work")
    check.get_by_role("link", name="refill of baclofen").click()
    banner = page.locator("#alert-banner")
    expect(banner).to_contain_text("Baclofen in the pump: never let it run empty")
    page.context.clear_cookies()

    login(page, "nurse.garcia")
    open_patient(page, "Greene, Olivia")
    banner = page.locator("#alert-banner")
    expect(banner.locator("li.alert-hard").first).to_contain_text("Urgent: PHQ-9 item 9")
    shot(page, "h-chart-alert-banner")
    page.goto("/clinic")  # she filled Carter's refill: its discrepancy waits for a second person, not for her
    expect(page.locator("#q-discrepancies")).not_to_contain_text("Carter, Nina")
    page.context.clear_cookies()

    login(page, "dr.okafor")
    page.goto("/clinic")
    discrepancies = page.locator("#q-discrepancies")
    expect(discrepancies).to_contain_text("Carter, Nina")
    carter = discrepancies.locator("tr", has_text="Carter, Nina")  # other tests may have left discrepancies too
    carter.get_by_role("link", name="reconciliation discrepancy").click()
    expect(page.locator("#flag-resolve")).to_have_text("Acknowledge the discrepancy")
    page.fill(
        "#f-resolution", "interrogated: 1.0 mL in the reservoir; the pump over-infused: reported to the physician"
    )
    page.click("#flag-resolve")
    expect(page.locator("#flag-status")).to_contain_text("resolved")
    page.goto("/clinic")
    expect(page.locator("#q-discrepancies")).not_to_contain_text("Carter, Nina")


def test_the_api_docs_load_offline_under_their_csp(page: Page, server: Server) -> None:
    """/api/v1/docs from the vendored Swagger UI: no request leaves the loopback (the schema is not sent to a
    validator), the operations are listed and one opens, and the page's CSP refuses nothing Swagger UI does."""
    from urllib.parse import urlsplit

    from playwright.sync_api import ConsoleMessage, Route, expect

    outside: list[str] = []

    def loopback_only(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:  # offline as a clinic's network may be: the request fails, and the test with it
            outside.append(route.request.url)
            route.abort()

    page.context.route("**/*", loopback_only)
    page.add_init_script(
        "window.__csp = []; document.addEventListener('securitypolicyviolation',"
        " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    console: list[str] = []

    def seen(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            console.append(message.text)

    page.on("console", seen)
    page.on("pageerror", lambda error: console.append(f"page error: {error}"))

    response = page.goto("/api/v1/docs")
    assert response is not None and response.status == 200
    assert "script-src 'self';" in response.headers["content-security-policy"]
    expect(page.locator(".info .title")).to_contain_text("OpenIDDS clinic service")
    create = page.locator(".opblock-post", has=page.locator(".opblock-summary-path[data-path='/api/v1/patients']"))
    expect(create).to_have_count(1)
    remote = page.locator(".opblock-summary-path[data-path='/api/v1/patients/{patient_id}/remote-requests']")
    expect(remote).to_have_count(2)  # GET and POST
    expect(page.locator(".btn.authorize")).to_be_visible()  # the bearer scheme, for "Try it out"
    create.locator(".opblock-summary").click()
    expect(create.locator(".opblock-body")).to_contain_text("Request body")
    page.wait_for_load_state("networkidle")
    shot(page, "i-api-docs-offline")

    assert outside == []
    assert page.evaluate("window.__csp") == []
    assert console == []
