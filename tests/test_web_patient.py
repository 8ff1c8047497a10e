"""The patient's pages: my pump, the remote with its lockout countdown, the diary and the alarm sounds, fitted to the
therapy and the drugs in the pump, with the clinic's numbers on each. Expected values are worked out by hand in the
comments (the worked example: lockout 4 h, at most 3 a day; START is Saturday 21 November 2026, 09:00 CST)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from openidds.clinic.settings import ClinicSettings
from openidds.data import CLINIC_ENV, load_clinic_settings, load_library
from openidds.db.models import FollowUp
from openidds.errors import InputError
from openidds.web import alarms
from openidds.web.patient import RemoteNow, therapy_of, wait_text
from tests.api_support import morphine_program, prepare_body, spastic_patient
from tests.web_support import (
    START,
    Browser,
    Clinic,
    fast_argon2,
    form_token,
    has_id,
    implanted_patient,
    new_patient,
    patient_login,
    text_by_id,
)


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    fast_argon2(monkeypatch)
    yield


def test_my_pump_shows_the_next_refill_and_the_drugs(clinic: Clinic) -> None:
    pid = implanted_patient(clinic)
    clinic.advance(days=10)
    me = patient_login(clinic, pid, "jane")
    page = me.get(f"/patients/{pid}/pump")
    assert page.status_code == 200 and 'name="viewport"' in page.text
    # 10 days in, 40 - 10 × 0.525 = 34.75 mL are left; with every bolus (0.585 mL/day) the 2 mL alarm comes
    # 32.75 / 0.585 = 55.98 days later: Tuesday 26 January
    assert text_by_id(page.text, "days-to-refill") == "in 55 days"
    # the instant the refill is due, not an appointment: the clinic books the visit
    assert text_by_id(page.text, "refill-due-by") == "Tue 26 Jan 2027"
    due = text_by_id(page.text, "refill-due")
    assert due.startswith("Your refill is due by Tue 26 Jan 2027 (at ") and due.endswith(
        "CST); the clinic will book your visit."
    )
    # their appointments are listed (none booked yet), but a patient books nothing: the clinic does
    assert 'id="appointments"' in page.text and 'id="book-form"' not in page.text
    assert "No refill visit is booked yet" in page.text and "Book the next refill between" not in page.text
    drugs = text_by_id(page.text, "current-drugs")
    assert "Morphine , 10 mg/mL: 5.25 mg/day" in drugs and "Clonidine , 100 mcg/mL: 52.5 mcg/day" in drugs


def test_my_pump_before_an_implant(clinic: Clinic) -> None:
    pid = new_patient(clinic)
    me = patient_login(clinic, pid, "jane")
    assert has_id(me.get(f"/patients/{pid}/pump").text, "no-pump")


def _button(html: str) -> str:
    found = re.search(r'<button[^>]*id="request-dose"[^>]*>', html)
    assert found is not None, "no request-dose button"
    return found.group(0)


def _disabled(html: str) -> bool:
    return " disabled" in _button(html)


def test_the_remote_gives_a_dose_then_the_lockout_refuses_with_a_countdown(clinic: Clinic) -> None:
    pid = implanted_patient(clinic)
    clinic.advance(days=1)  # Sunday 22 November, 09:00 CST
    me = patient_login(clinic, pid, "jane")
    page = me.get(f"/patients/{pid}/remote").text
    assert "At least 4 h between doses; at most 3 a day" in text_by_id(page, "bolus-settings")
    assert f'hx-post="/patients/{pid}/remote"' in page and 'aria-live="polite"' in page
    assert text_by_id(page, "doses-left") == "3 of 3 doses left today (counted over the last 24 hours)"
    assert not _disabled(page) and not has_id(page, "request-why")
    assert '<script src="/static/remote.js" defer></script>' in page  # a file: the CSP forbids inline scripts

    r = me.post(f"/patients/{pid}/remote", htmx=True)
    assert r.status_code == 200 and "<html" not in r.text
    assert text_by_id(r.text, "remote-decision").startswith("Dose given")
    assert 'id="remote-history" hx-swap-oob="true"' in r.text  # the history under it is refreshed too ...
    assert 'id="remote-status"' in r.text and _disabled(r.text)  # ... and the button: the lockout has begun
    # 4 h from 09:00: "4 h 0 min", never "240 min"; one of the 3 doses of the trailing 24 h is used
    assert text_by_id(r.text, "lockout-countdown") == "Next dose possible in 4 h 0 min"
    assert 'data-wait-seconds="14400"' in r.text
    assert text_by_id(r.text, "request-why").endswith("(at 22 Nov 2026 13:00 CST; lockout).")
    assert text_by_id(r.text, "doses-left").startswith("2 of 3 doses left today")
    assert "240 min" not in r.text

    # the server decides a press whatever the button showed: refused, and the wait is 239 min = 3 h 59 min
    clinic.advance(minutes=1)
    r = me.post(f"/patients/{pid}/remote", htmx=True)
    assert text_by_id(r.text, "remote-reason") == "lockout"
    decision = text_by_id(r.text, "remote-decision")
    assert decision == "No dose given : lockout (next dose possible from 22 Nov 2026 13:00 CST)."
    assert text_by_id(r.text, "lockout-countdown") == "Next dose possible in 3 h 59 min"
    assert 'data-wait-seconds="14340"' in r.text and _disabled(r.text)

    # without JavaScript: the form posts, the answer is its own page, and reloading it asks nothing again
    clinic.advance(minutes=60)
    r = me.post(f"/patients/{pid}/remote")
    assert r.status_code == 303 and "request_id=" in r.headers["location"]
    page = me.follow(r).text
    assert text_by_id(page, "remote-reason") == "lockout"
    assert text_by_id(page, "lockout-countdown") == "Next dose possible in 2 h 59 min"
    assert "no dose (lockout; possible from 22 Nov 2026 13:00 CST)" in text_by_id(page, "remote-history-list")
    clinic.advance(minutes=134)  # 12:15: under an hour left
    assert text_by_id(me.get(f"/patients/{pid}/remote").text, "lockout-countdown") == "Next dose possible in 45 min"
    clinic.advance(minutes=45)  # 13:00: the lockout is over; the same answer page later has the button back
    page = me.get(r.headers["location"]).text
    assert not _disabled(page) and not has_id(page, "lockout-countdown")
    assert text_by_id(page, "doses-left").startswith("2 of 3 doses left today")

    requests = clinic.call("GET", f"/patients/{pid}/remote-requests", "nora").json()
    assert [q["accepted"] for q in requests] == [True, False, False]


def test_the_remote_at_the_daily_maximum(clinic: Clinic) -> None:
    pid = implanted_patient(clinic)
    clinic.advance(days=1)  # 22 November 09:00 CST
    patient_login(clinic, pid, "jane")
    for left in ("2 of 3", "1 of 3", "0 of 3"):  # 09:00, 13:00, 17:00: each after its lockout
        me = Browser(clinic, "jane")  # a new login: a session lasts one 8 h shift
        r = me.post(f"/patients/{pid}/remote", htmx=True)
        assert text_by_id(r.text, "remote-decision").startswith("Dose given")
        assert text_by_id(r.text, "doses-left").startswith(f"{left} doses left today")
        clinic.advance(hours=4)
    # 21:00: the lockout is over but 3 doses are within the last 24 h; the first leaves the window at 09:00 the
    # next day (the twin's rule): 12 h to wait
    page = Browser(clinic, "jane").get(f"/patients/{pid}/remote").text
    assert _disabled(page)
    assert text_by_id(page, "doses-left").startswith("0 of 3 doses left today")
    assert text_by_id(page, "lockout-countdown") == "Next dose possible in 12 h 0 min"
    assert text_by_id(page, "request-why").endswith("(at 23 Nov 2026 09:00 CST; daily maximum of 3 reached).")
    clinic.advance(hours=12)  # 23 November 09:00: the 09:00 dose is 24 h old, out of the window; 13:00 and 17:00 in
    me = Browser(clinic, "jane")
    page = me.get(f"/patients/{pid}/remote").text
    assert not _disabled(page) and text_by_id(page, "doses-left").startswith("1 of 3 doses left today")
    r = me.post(f"/patients/{pid}/remote", htmx=True)
    assert text_by_id(r.text, "remote-decision").startswith("Dose given")
    assert text_by_id(r.text, "doses-left").startswith("0 of 3 doses left today")


def test_the_remote_button_without_a_pump_or_a_patient_bolus(clinic: Clinic) -> None:
    nobody = new_patient(clinic)
    me = patient_login(clinic, nobody, "jane")
    page = me.get(f"/patients/{nobody}/remote").text
    assert _disabled(page) and text_by_id(page, "request-why") == "No dose now: no pump is programmed."
    assert not has_id(page, "doses-left")

    plain = implanted_patient(clinic, mrn="A-2", program=morphine_program(START, "0.5 mL/day"))
    me = patient_login(clinic, plain, "jim")
    page = me.get(f"/patients/{plain}/remote").text
    assert text_by_id(page, "bolus-settings") == "Your program has no extra doses: the remote cannot give one."
    assert _disabled(page) and text_by_id(page, "request-why") == "No dose now: no patient bolus is programmed."
    assert not has_id(page, "doses-left")


def test_the_remote_status_is_asked_again_when_the_wait_ends(clinic: Clinic) -> None:
    pid = implanted_patient(clinic)
    clinic.advance(days=1)
    me = patient_login(clinic, pid, "jane")
    page = me.get(f"/patients/{pid}/remote").text
    assert f'hx-get="/patients/{pid}/remote/status" hx-trigger="countdown-done"' in page
    me.post(f"/patients/{pid}/remote", htmx=True)
    clinic.advance(hours=4)
    r = me.get(f"/patients/{pid}/remote/status", headers={"HX-Request": "true"})
    assert r.status_code == 200 and "<html" not in r.text
    assert 'id="remote-status"' in r.text and not _disabled(r.text)
    assert text_by_id(r.text, "doses-left").startswith("2 of 3 doses left today")
    r = me.get(f"/patients/{pid}/remote/status")  # without htmx: the page
    assert r.status_code == 303 and r.headers["location"] == f"/patients/{pid}/remote"


def test_a_remote_press_sent_twice_is_one_request(clinic: Clinic) -> None:
    pid = implanted_patient(clinic)
    clinic.advance(days=1)
    me = patient_login(clinic, pid, "jane")
    remote = f"/patients/{pid}/remote"

    def requests() -> list[bool]:
        return [q["accepted"] for q in clinic.call("GET", f"/patients/{pid}/remote-requests", "nora").json()]

    token = form_token(me.get(remote).text, "remote-form")
    first = me.post(remote, {"form_token": token}, htmx=True)
    again = me.post(remote, {"form_token": token}, htmx=True)  # a double tap: the same press, answered the same
    assert text_by_id(first.text, "remote-decision").startswith("Dose given")
    assert text_by_id(again.text, "remote-decision") == text_by_id(first.text, "remote-decision")
    assert requests() == [True]
    # the answer carries the token for the next press (swapped into the form): a new press, refused by the lockout
    fresh = re.search(
        r'<input[^>]*name="form_token" value="([^"]+)" id="remote-form-token" hx-swap-oob="true">', again.text
    )
    assert fresh is not None and fresh.group(1) != token
    clinic.advance(minutes=1)
    r = me.post(remote, {"form_token": fresh.group(1)}, htmx=True)
    assert text_by_id(r.text, "remote-reason") == "lockout"
    assert text_by_id(r.text, "lockout-countdown") == "Next dose possible in 3 h 59 min"
    assert requests() == [True, False]
    # without JavaScript: the same form posted twice is sent to the same answer
    token = form_token(me.get(remote).text, "remote-form")
    first = me.post(remote, {"form_token": token})
    again = me.post(remote, {"form_token": token})
    assert first.status_code == again.status_code == 303
    assert again.headers["location"] == first.headers["location"]
    assert requests() == [True, False, False]


def test_only_the_patient_presses_the_remote(clinic: Clinic) -> None:
    pid = implanted_patient(clinic)
    nora = Browser(clinic, "nora")
    r = nora.post(f"/patients/{pid}/remote")
    assert r.status_code == 403 and "patient remote" in r.text


def test_the_pain_diary(clinic: Clinic) -> None:
    pid = implanted_patient(clinic)
    me = patient_login(clinic, pid, "jane")
    page = me.get(f"/patients/{pid}/diary").text
    assert "<legend>How bad is your pain right now?" in page and 'id="nrs-10"' in page
    r = me.post(f"/patients/{pid}/diary", {"nrs": "12"})
    assert r.status_code == 422 and "from 0 (no pain) to 10" in text_by_id(r.text, "diary-error")
    r = me.post(f"/patients/{pid}/diary", {"nrs": "4"})
    assert r.headers["location"] == f"/patients/{pid}/diary?saved=1"
    page = me.follow(r).text
    assert has_id(page, "diary-saved") and ": 4" in text_by_id(page, "diary-entries")
    assert "<svg" in page and "My pain scores" in page
    # the care team sees it on the chart
    chart = Browser(clinic, "nora").get(f"/patients/{pid}").text
    assert "NRS 4" in text_by_id(chart, "timeline")


def test_what_the_alarms_mean_with_sources(clinic: Clinic) -> None:
    pid = implanted_patient(clinic)
    me = patient_login(clinic, pid, "jane")
    page = me.get(f"/patients/{pid}/alarms").text
    assert "one-second single tone" in text_by_id(page, "alarm-non-critical")
    critical = text_by_id(page, "alarm-critical")
    assert "three-second two-tone" in critical and "Call your pump clinic now" in critical
    assert 'class="source" href="https://www.medtronic.com/' in page


def test_the_clinics_working_records_are_not_a_patients_pages(clinic: Clinic) -> None:
    # A patient sees their pump, not the program, refill and flag records; another patient's record answers as
    # if it did not exist, whatever the page.
    # Each record exists (a refill prepared, a flag from an interrogated reservoir far below the record's), so a
    # 404 here is the patient gate, not a missing record.
    pid = implanted_patient(clinic)
    other = implanted_patient(clinic, mrn="A-2")
    clinic.advance(days=1)
    paths = {}
    for patient in (pid, other):
        r = clinic.call("POST", f"/patients/{patient}/refills", "nora", json=prepare_body())
        assert r.status_code == 201, r.text
        refill = r.json()["id"]
        r = clinic.call("POST", f"/patients/{patient}/interrogations", "nora", json={"reservoir_ml": "30"})
        assert r.status_code == 201, r.text
        (flag,) = [
            f for f in clinic.call("GET", f"/patients/{patient}/flags", "nora").json() if f["resolved_at"] is None
        ]
        paths[patient] = ("programs/1", f"refills/{refill}", f"flags/{flag['id']}")
        nurse = Browser(clinic, "nora")
        assert all(nurse.get(f"/patients/{patient}/{p}").status_code == 200 for p in paths[patient])
    me = patient_login(clinic, pid, "jane")
    for path in paths[pid]:
        page = me.get(f"/patients/{pid}/{path}")
        assert page.status_code == 404 and "no such page" in page.text, path
    for path in paths[other]:
        page = me.get(f"/patients/{other}/{path}")
        assert page.status_code == 404 and "no such patient" in page.text, path


# --- the countdown's words ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("minutes", "words"),
    [
        (240, "4 h 0 min"),
        (239, "3 h 59 min"),
        (181, "3 h 1 min"),
        (60, "1 h 0 min"),
        (59, "59 min"),
        (45, "45 min"),
        (1, "1 min"),
        (0, "0 min"),
        (720, "12 h 0 min"),
        (1439, "23 h 59 min"),
    ],
)
def test_a_wait_reads_in_hours_and_minutes(minutes: int, words: str) -> None:
    assert wait_text(minutes) == words


def test_doses_left_never_go_below_zero() -> None:
    assert RemoteNow(True, "", "", None, None, 3, 1).left_today == 2
    assert RemoteNow(False, "x", "x", 5, None, 3, 3).left_today == 0
    assert RemoteNow(False, "x", "x", 5, None, 3, 4).left_today == 0  # a program lowered the maximum since
    assert RemoteNow(False, "x", "x", None, None, None, None).left_today is None
    assert RemoteNow(False, "x", "x", 239, None, 3, 1).wait == "3 h 59 min"


def test_the_therapy_comes_from_the_care_area() -> None:
    assert [therapy_of(a) for a in ("pain-noncancer", "pain-cancer", "spasticity-spinal", "spasticity-cerebral")] == [
        "pain",
        "pain",
        "spasticity",
        "spasticity",
    ]


# --- fitted to the drugs in the pump ------------------------------------------------------------------------------
WITHDRAWAL_SIGNS = "itching, fever, fast heartbeat, returning stiffness or spasms, confusion"


def _pages(me: Browser, pid: int) -> dict[str, str]:
    pages = {}
    for name in ("pump", "remote", "diary", "alarms"):
        r = me.get(f"/patients/{pid}/{name}")
        assert r.status_code == 200, (name, r.status_code)
        ids = re.findall(r'\sid="([^"]+)"', r.text)
        assert len(ids) == len(set(ids)), (name, sorted({i for i in ids if ids.count(i) > 1}))
        assert not re.search(r"\sstyle\s*=", r.text) and not re.search(r"<script(?![^>]*\ssrc=)", r.text)  # CSP
        pages[name] = r.text
    return pages


def test_a_morphine_patients_pages_say_nothing_of_baclofen(clinic: Clinic) -> None:
    pid = implanted_patient(clinic)  # morphine + clonidine
    me = patient_login(clinic, pid, "jane")
    for name, page in _pages(me, pid).items():
        assert "baclofen" not in page.lower(), name
        assert "withdrawal" not in page.lower(), name
        assert not has_id(page, "warning-morphine"), name
    critical = text_by_id(me.get(f"/patients/{pid}/alarms").text, "alarm-critical")
    assert "Call your pump clinic now. If you cannot reach them, or you have trouble breathing, call your local " in (
        critical
    )


def test_a_baclofen_patient_is_told_never_to_let_it_run_empty_and_the_withdrawal_signs(clinic: Clinic) -> None:
    pid = spastic_patient(clinic, "B-1")  # baclofen 2000 mcg/mL, 200 mcg/day, no remote
    me = patient_login(clinic, pid, "bob")
    pages = _pages(me, pid)
    for name in ("pump", "alarms"):
        warning = text_by_id(pages[name], "warning-baclofen")
        assert warning.startswith("Baclofen: never let your pump run empty"), name
        assert (
            "Never let your pump run empty: stopping intrathecal baclofen suddenly can be life-threatening." in warning
        )
        assert f"Signs of withdrawal: {WITHDRAWAL_SIGNS}." in warning
        assert "call your local emergency number" in warning
        assert 'href="https://api.fda.gov/drug/label.json?search=set_id' in pages[name]  # the library's label source
    critical = text_by_id(pages["alarms"], "alarm-critical")
    assert f"if you have signs of withdrawal ({WITHDRAWAL_SIGNS})" in critical
    assert "stopping intrathecal baclofen suddenly can be life-threatening" in critical
    # the remote of a pump with no patient bolus
    assert _disabled(pages["remote"]) and "no patient bolus is programmed" in text_by_id(pages["remote"], "request-why")


def test_the_alarm_texts_name_a_drug_only_for_a_pump_that_holds_it() -> None:
    library = load_library()
    for a in alarms.PROGRAMMABLE_ALARMS:  # as written: for every pump, whatever it holds
        assert "baclofen" not in f"{a.sound} {a.means} {a.call}".lower(), a.id
    assert alarms.drug_warnings([library.drug("morphine"), library.drug("clonidine")], library.sources) == ()
    assert alarms.sounds_for(()) == alarms.PROGRAMMABLE_ALARMS
    assert [w.drug for w in alarms.drug_warnings(library.drugs, library.sources)] == ["baclofen"]
    (warning,) = alarms.drug_warnings([library.drug("baclofen")], library.sources)
    assert warning.signs == WITHDRAWAL_SIGNS
    critical = {a.id: a for a in alarms.sounds_for((warning,))}["critical"]
    assert critical.call == (
        "Call your pump clinic now. If you cannot reach them, or you have trouble breathing, call your local emergency "
        f"number. With baclofen in your pump: if you have signs of withdrawal ({WITHDRAWAL_SIGNS}), call your local "
        "emergency number: stopping intrathecal baclofen suddenly can be life-threatening."
    )
    # a withdrawal-risk drug without words for patients here: the library's own warning, never invented signs
    other = library.drug("baclofen").model_copy(update={"name": "newdrug"})
    (fallback,) = alarms.drug_warnings([other], library.sources)
    assert fallback.signs.startswith("Boxed warning: abrupt discontinuation of intrathecal baclofen")
    assert fallback.sources == ((library.sources["baclofen-label"].title, library.sources["baclofen-label"].url),)


# --- the clinic's numbers -----------------------------------------------------------------------------------------
def test_the_clinic_phone_is_on_every_patient_page(clinic: Clinic) -> None:
    pid = implanted_patient(clinic)
    me = patient_login(clinic, pid, "jane")
    for name, page in _pages(me, pid).items():
        assert text_by_id(page, "clinic-phone") == "+1 555 555 0100", name
        assert text_by_id(page, "clinic-on-call") == "+1 555 555 0199", name
        assert 'href="tel:+15555550100"' in page and 'href="tel:+15555550199"' in page, name
        contact = text_by_id(page, "clinic-contact")
        assert "OpenIDDS Demo Pump Clinic" in contact and "Monday to Friday, 08:00 to 17:00" in contact, name
        assert text_by_id(page, "clinic-demo") == "Demo clinic: these numbers are fictitious.", name
    nobody = new_patient(clinic, mrn="A-2")  # no pump yet: the numbers all the same
    other = patient_login(clinic, nobody, "jim")
    assert text_by_id(other.get(f"/patients/{nobody}/pump").text, "clinic-phone") == "+1 555 555 0100"


CLINIC_FILE = """name = "Riverside pump clinic settings"
version = "1"
clinic_name = "Riverside Pump Clinic"
timezone = "Europe/Berlin"
source = "directory"

[in_hours]
number = "+49 30 1234 5678"
hours = "Mon-Fri 8-16"

[on_call]
number = "(030) 9876-5432"
hours = "all other times"

[sources.directory]
title = "Riverside hospital telephone directory"
url = "https://example.org/directory"
"""


def test_a_clinic_loads_its_own_settings(clinic: Clinic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "clinic.toml"
    path.write_text(CLINIC_FILE)
    monkeypatch.setenv(CLINIC_ENV, str(path))
    settings = load_clinic_settings()
    assert (settings.clinic_name, settings.timezone, settings.demo) == ("Riverside Pump Clinic", "Europe/Berlin", False)
    assert (settings.in_hours.tel, settings.on_call.tel) == ("+493012345678", "03098765432")
    assert len(settings.sha256) == 64
    pid = implanted_patient(clinic)
    page = patient_login(clinic, pid, "jane").get(f"/patients/{pid}/remote").text
    assert text_by_id(page, "clinic-phone") == "+49 30 1234 5678" and 'href="tel:03098765432"' in page
    assert "Riverside Pump Clinic" in text_by_id(page, "clinic-contact") and not has_id(page, "clinic-demo")


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (('number = "+49 30 1234 5678"', 'number = "call us"'), "in_hours.number"),
        (('number = "+49 30 1234 5678"', 'number = "12"'), "in_hours.number"),
        (('timezone = "Europe/Berlin"', 'timezone = "Mars/Olympus"'), "timezone"),
        (('source = "directory"', 'source = "nowhere"'), "not in [sources]"),
        (('hours = "all other times"', 'hours = ""'), "on_call.hours"),
        (('clinic_name = "Riverside Pump Clinic"', 'clinic_name = "R"\nphone = "1"'), "phone"),  # a typo'd key
    ],
)
def test_clinic_settings_are_checked(change: tuple[str, str], named: str) -> None:
    text = CLINIC_FILE.replace(*change)
    assert text != CLINIC_FILE
    with pytest.raises(InputError) as caught:
        ClinicSettings.from_toml(text.encode(), "clinic settings test.toml")
    assert named in str(caught.value)


def test_a_missing_clinic_settings_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CLINIC_ENV, str(tmp_path / "nowhere.toml"))
    with pytest.raises(InputError) as caught:
        load_clinic_settings()
    assert "IDDS_CLINIC_SETTINGS" in str(caught.value) and "nowhere.toml" in str(caught.value)


def test_the_shipped_clinic_settings_are_marked_demo_data() -> None:
    shipped = load_clinic_settings()
    assert shipped.demo and shipped.name == "OpenIDDS demo clinic settings"
    # 555-0100 to 555-0199: the numbers reserved for fiction
    assert re.fullmatch(r"\+1 555 555 01\d\d", shipped.in_hours.number)
    assert re.fullmatch(r"\+1 555 555 01\d\d", shipped.on_call.number)
    assert shipped.source in shipped.sources


# --- the diary and the follow-up, fitted to the therapy ------------------------------------------------------------
def test_a_spasticity_patients_diary_asks_about_spasms(clinic: Clinic) -> None:
    pid = spastic_patient(clinic, "B-1")
    me = patient_login(clinic, pid, "bob")
    page = me.get(f"/patients/{pid}/diary").text
    assert "<title>Spasm diary" in page and "<h1>Spasm diary</h1>" in page
    assert "<legend>How often do you have spasms now?</legend>" in page
    assert 'id="penn_frequency-4"' in page and 'id="penn_severity-3"' in page
    assert 'name="nrs"' not in page and "pain" not in text_by_id(page, "diary-form").lower()
    assert "Spasm diary" in text_by_id(me.get(f"/patients/{pid}/pump").text, "go-diary")

    r = me.post(f"/patients/{pid}/diary", {"penn_frequency": "3"})  # spasms, but how strong?
    assert r.status_code == 422 and "1 mild, 2 moderate or 3 severe" in text_by_id(r.text, "diary-error")
    assert 'id="penn_frequency-3" required checked' in r.text  # the answer kept
    r = me.post(f"/patients/{pid}/diary", {"penn_frequency": "5"})
    assert r.status_code == 422 and "from 0 (no spasms) to 4" in text_by_id(r.text, "diary-error")
    r = me.post(f"/patients/{pid}/diary", {"penn_frequency": "3", "penn_severity": "2"})
    assert r.headers["location"] == f"/patients/{pid}/diary?saved=1"
    clinic.advance(hours=1)
    r = me.post(f"/patients/{pid}/diary", {"penn_frequency": "0", "penn_severity": "2"})  # no spasms: no severity
    assert r.status_code == 303
    page = me.follow(r).text
    assert has_id(page, "diary-saved")
    entries = text_by_id(page, "diary-entries")
    assert "spasms 0 of 4 (no spasms)" in entries
    assert "spasms 3 of 4 (spontaneous spasms more than once an hour; moderate)" in entries
    assert "<svg" in page and "How often I had spasms (Penn 0-4)" in page
    with clinic.sessions() as s:
        rows = list(s.scalars(select(FollowUp).where(FollowUp.patient_id == pid).order_by(FollowUp.at)))
    assert [r.scores["penn"]["frequency"] for r in rows] == [3, 0]
    assert [r.scores["penn"]["severity"] for r in rows] == [2, None]
    assert all("pain" not in r.scores for r in rows)


def test_the_follow_up_form_is_fitted_to_the_therapy(clinic: Clinic) -> None:
    nora = Browser(clinic, "nora")
    spastic = spastic_patient(clinic, "B-1")
    page = nora.get(f"/patients/{spastic}/follow-up").text
    assert has_id(page, "f-spasticity") and has_id(page, "f-ashworth") and has_id(page, "f-penn_frequency")
    assert "Modified Ashworth" in page and "Penn spasm frequency" in page
    assert not has_id(page, "f-odi") and not has_id(page, "f-pain") and "Oswestry" not in page
    assert 'name="nrs"' not in page
    assert has_id(page, "f-phq9") and has_id(page, "f-adverse")  # for both therapies

    r = nora.post(
        f"/patients/{spastic}/follow-up/preview",
        {"ashworth": "2", "penn_frequency": "2", "penn_severity": "1"},
        htmx=True,
    )
    assert text_by_id(r.text, "score-ashworth").startswith("2: more marked increase")
    assert text_by_id(r.text, "score-penn") == "infrequent spontaneous spasms, less than once an hour; mild"

    pain = implanted_patient(clinic, mrn="A-2")
    page = nora.get(f"/patients/{pain}/follow-up").text
    assert has_id(page, "f-pain") and has_id(page, "f-odi") and "Oswestry" in page
    assert not has_id(page, "f-spasticity") and not has_id(page, "f-ashworth")


def test_my_pump_names_the_refill_visit_once_it_is_booked(clinic: Clinic) -> None:
    from tests.test_appointments import SCHEDULING

    pid = implanted_patient(clinic)
    r = clinic.call("PUT", "/clinic/settings", "root", json={"document": {"scheduling": SCHEDULING}, "reason": "x"})
    assert r.status_code == 200, r.text
    body = {"kind": "refill", "starts_at": "2027-01-05T16:00:00+00:00"}  # Tue 5 Jan 10:00 CST, in the window
    assert clinic.call("POST", f"/patients/{pid}/appointments", "nora", json=body).status_code == 201
    me = patient_login(clinic, pid, "jane")
    page = me.get(f"/patients/{pid}/pump")
    due = text_by_id(page.text, "refill-due")
    assert "; your refill visit is booked for Tue 5 Jan 2027 10:00 CST" in due
    visit = text_by_id(page.text, "next-booked-refill")
    assert visit.startswith("Your next refill visit:") and "Tue 5 Jan 2027 10:00 CST" in visit
