"""The patient's pages: my pump, the remote with its lockout countdown, the pain diary and the alarm sounds."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.api_support import prepare_body
from tests.web_support import (
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
    assert text_by_id(page.text, "next-appointment") == "Tue 26 Jan 2027"
    drugs = text_by_id(page.text, "current-drugs")
    assert "Morphine , 10 mg/mL: 5.25 mg/day" in drugs and "Clonidine , 100 mcg/mL: 52.5 mcg/day" in drugs


def test_my_pump_before_an_implant(clinic: Clinic) -> None:
    pid = new_patient(clinic)
    me = patient_login(clinic, pid, "jane")
    assert has_id(me.get(f"/patients/{pid}/pump").text, "no-pump")


def test_the_remote_gives_a_dose_then_the_lockout_refuses_with_a_countdown(clinic: Clinic) -> None:
    pid = implanted_patient(clinic)
    clinic.advance(days=1)
    me = patient_login(clinic, pid, "jane")
    page = me.get(f"/patients/{pid}/remote").text
    assert "At least 4 h between doses; at most 3 a day" in text_by_id(page, "bolus-settings")
    assert f'hx-post="/patients/{pid}/remote"' in page and 'aria-live="polite"' in page

    r = me.post(f"/patients/{pid}/remote", htmx=True)
    assert r.status_code == 200 and "<html" not in r.text
    assert text_by_id(r.text, "remote-decision").startswith("Dose given")
    assert 'hx-swap-oob="true"' in r.text  # the history under it is refreshed too

    clinic.advance(minutes=1)
    r = me.post(f"/patients/{pid}/remote", htmx=True)
    assert text_by_id(r.text, "remote-reason") == "lockout: next dose possible in 239 min"
    countdown = re.search(r'<p id="lockout-countdown" data-countdown-seconds="(\d+)"', r.text)
    assert countdown is not None and int(countdown.group(1)) == 239 * 60
    assert text_by_id(r.text, "lockout-countdown").startswith("Next dose possible in 239 min (at ")

    # without JavaScript: the form posts, the answer is its own page, and reloading it asks nothing again
    clinic.advance(minutes=60)
    r = me.post(f"/patients/{pid}/remote")
    assert r.status_code == 303 and "request_id=" in r.headers["location"]
    page = me.follow(r).text
    assert text_by_id(page, "remote-reason") == "lockout: next dose possible in 179 min"
    assert text_by_id(page, "lockout-countdown").startswith("Next dose possible in 179 min")
    assert "no dose (lockout" in text_by_id(page, "remote-history-list")
    clinic.advance(minutes=180)  # the same page later: the wait is over
    assert text_by_id(me.get(r.headers["location"]).text, "lockout-countdown") == "You may request a dose now."

    requests = clinic.call("GET", f"/patients/{pid}/remote-requests", "nora").json()
    assert [q["accepted"] for q in requests] == [True, False, False]


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
    assert text_by_id(r.text, "remote-reason") == "lockout: next dose possible in 239 min"
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
        (flag,) = clinic.call("GET", f"/patients/{patient}/flags", "nora").json()
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
