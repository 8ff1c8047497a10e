"""The scheduling pages (web/calendar.py) on SQLite and PostgreSQL: the clinic calendar (week and day, closed days,
capacity, status changes), the chart's appointments (the refill window, booking, a booking that needs a reason and
its resubmission), the dashboard's refill-window column, the planner and the clinic settings (review old → new,
then save with a reason), and who may see what.

The patient is tests/test_appointments.py's worked example: the refill window is Mon 28 Dec 2026 to Tue 12 Jan 2027
(Chicago), the clock at START (Sat 21 Nov 2026 09:00 CST); nora (nurse) has the compounded skill, 2 visits a day.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from openidds.service import recheck
from tests.test_appointments import SCHEDULING, chicago
from tests.web_support import Browser, Clinic, fast_argon2, form_token, implanted_patient, text_by_id


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    fast_argon2(monkeypatch)
    yield


@pytest.fixture
def ready(clinic: Clinic) -> tuple[Clinic, int]:
    r = clinic.call("PUT", "/clinic/settings", "root", json={"document": {"scheduling": SCHEDULING}, "reason": "open"})
    assert r.status_code == 200, r.text
    return clinic, implanted_patient(clinic, "A-1", "Able")


def api_book(clinic: Clinic, pid: int, *start: int, **body: Any) -> dict[str, Any]:
    r = clinic.call(
        "POST", f"/patients/{pid}/appointments", "nora", json={"kind": "refill", "starts_at": chicago(*start), **body}
    )
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def book_form(page: str, **values: str) -> dict[str, str]:
    data = {"form_token": form_token(page, "book-form"), "kind": "refill", "time": "10:00", "nurse": "", "note": ""}
    return {**data, **values}


# --- the calendar ---------------------------------------------------------------------------------------------------
def test_the_week_shows_visits_capacity_and_closed_days(ready: tuple[Clinic, int]) -> None:
    clinic, pid = ready
    api_book(clinic, pid, 2027, 1, 5, 10, 0)
    nora = Browser(clinic, "nora")
    page = nora.get("/calendar?day=2027-01-06&view=week").text  # a Wednesday: the week from Monday 4 January
    assert "Week of Mon 4 Jan 2027" in page
    tuesday = text_by_id(page, "day-2027-01-05")
    assert "10:00–10:30" in tuesday and "Able, Jane" in tuesday and "A-1" in tuesday and "booked" in tuesday
    assert "1 of 6 visits" in tuesday and "nora 1/2" in tuesday and "bo 0/4" in tuesday
    assert "Closed: the clinic is closed on Saturdays" in text_by_id(page, "day-2027-01-09")
    assert f'href="/patients/{pid}"' in page
    assert 'href="/calendar?day=2026-12-30&amp;view=week"' in page  # the previous week
    new_year = nora.get("/calendar?day=2027-01-01&view=week").text
    assert "public holiday: New Year's Day" in text_by_id(new_year, "day-2027-01-01")
    assert "Closed: Christmas Eve" in text_by_id(nora.get("/calendar?day=2026-12-24").text, "day-2026-12-24")
    # today, in the clinic's zone: START is Sat 21 Nov 2026 09:00 CST (15:00 UTC)
    assert "Today is Sat 21 Nov 2026" in text_by_id(nora.get("/calendar").text, "main")


def test_the_day_lists_each_nurses_visits_and_changes_their_status(ready: tuple[Clinic, int]) -> None:
    clinic, pid = ready
    a = api_book(clinic, pid, 2027, 1, 5, 10, 0)
    nora = Browser(clinic, "nora")
    page = nora.get("/calendar?day=2027-01-05&view=day").text
    assert "nora (1 of 2 visits; compounded)" in text_by_id(page, "nurse-nora")
    visit = text_by_id(page, f"visit-{a['id']}")
    assert "Able, Jane" in visit and "refill visit" in visit and "needs compounded" in visit
    base = f"/patients/{pid}/appointments/{a['id']}/status"
    r = nora.post(base, {"status": "confirmed", "day": "2027-01-05", "view": "day"})
    assert r.status_code == 303 and "/calendar?day=2027-01-05&view=day" in r.headers["location"]
    page = nora.follow(r).text
    assert "confirmed" in text_by_id(page, f"visit-{a['id']}") and "The visit was updated" in page
    # cancelling needs a reason: refused in words, what was chosen kept, nothing changed
    r = nora.post(base, {"status": "cancelled", "reason": "", "day": "2027-01-05", "view": "day"})
    assert r.status_code == 422
    assert "The reason: say why the visit is cancelled" in text_by_id(r.text, "form-error")
    assert re.search(r'value="cancelled" checked', r.text)
    r = nora.post(base, {"status": "cancelled", "reason": "in hospital", "day": "2027-01-05", "view": "day"})
    assert r.status_code == 303
    page = nora.follow(r).text
    assert "Cancelled: in hospital" in text_by_id(page, f"visit-{a['id']}")
    r = nora.post(base, {"status": "confirmed", "day": "2027-01-05", "view": "day"})
    assert r.status_code == 409 and "already cancelled" in r.text


def test_who_sees_the_calendar(ready: tuple[Clinic, int]) -> None:
    clinic, pid = ready
    a = api_book(clinic, pid, 2027, 1, 5, 10, 0)
    phil = Browser(clinic, "phil").get("/calendar?day=2027-01-05&view=day").text  # a pharmacist reads it
    assert "Able, Jane" in phil and f'id="change-{a["id"]}"' not in phil and "nav-planner" not in phil
    nurse = Browser(clinic, "nora").get("/calendar?day=2027-01-05&view=day").text
    assert f'id="change-{a["id"]}"' in nurse and 'id="nav-planner"' in nurse and 'id="nav-calendar"' in nurse
    assert Browser(clinic, "root").get("/calendar").status_code == 403
    clinic.user("pat", "patient", pid)
    assert Browser(clinic, "pat").get("/calendar").status_code == 404
    assert Browser(clinic).get("/calendar").status_code == 303  # to the login page
    assert Browser(clinic, "nora").get("/calendar?day=5-1-2027").status_code == 422


# --- the chart ------------------------------------------------------------------------------------------------------
def test_the_chart_shows_the_window_and_books_a_refill(ready: tuple[Clinic, int]) -> None:
    clinic, pid = ready
    nora = Browser(clinic, "nora")
    chart = nora.get(f"/patients/{pid}").text
    window = text_by_id(chart, "refill-window")
    assert "Book the next refill between Mon 28 Dec 2026 and Tue 12 Jan 2027" in window
    assert "Why these days" in window and "No refill is booked" in text_by_id(chart, "next-booked-refill")
    assert 'value="2026-12-28"' in chart  # the form starts on the earliest useful day
    r = nora.post(f"/patients/{pid}/appointments", book_form(chart, day="2027-01-05", note="bring the kit"))
    assert r.status_code == 303, r.text[:3000]
    chart = nora.follow(r).text
    assert "The appointment was booked" in chart
    assert "Next refill booked: Tue 5 Jan 2027 10:00 CST" in text_by_id(chart, "next-booked-refill")
    upcoming = text_by_id(chart, "appointments-upcoming")
    assert (
        "Tue 5 Jan 2027 10:00 CST" in upcoming
        and "refill (30 min) with nora" in upcoming
        and "bring the kit" in upcoming
    )
    week = nora.get("/calendar?day=2027-01-05").text
    assert "Able, Jane" in text_by_id(week, "day-2027-01-05")


def test_a_booking_outside_the_window_needs_a_reason_and_keeps_what_was_typed(ready: tuple[Clinic, int]) -> None:
    clinic, pid = ready
    nora = Browser(clinic, "nora")
    chart = nora.get(f"/patients/{pid}").text
    r = nora.post(f"/patients/{pid}/appointments", book_form(chart, day="2027-01-14", time="11:30", note="abroad"))
    assert r.status_code == 422
    box = text_by_id(r.text, "book-error")
    assert "A reason is needed to book this" in box and "After the latest safe day (Tue 12 Jan 2027)" in box
    assert 'name="override_reason"' in r.text and "Book anyway" in r.text
    assert 'value="2027-01-14"' in r.text and 'value="11:30"' in r.text and ">abroad</textarea>" in r.text
    assert "A reason is needed to book this" in text_by_id(r.text, "chart-booking-error")
    again = book_form(r.text, day="2027-01-14", time="11:30", note="abroad", override_reason="abroad until the 13th")
    r = nora.post(f"/patients/{pid}/appointments", again)
    assert r.status_code == 303
    chart = nora.follow(r).text
    upcoming = text_by_id(chart, "appointments-upcoming")
    assert "Booked outside the refill window" in upcoming and "abroad until the 13th" in upcoming
    assert "after the latest safe day" in text_by_id(chart, "next-booked-refill")
    day = nora.get("/calendar?day=2027-01-14&view=day").text
    assert "booked outside the window" in day and "abroad until the 13th" in day


def test_a_refused_booking_says_why_in_words(ready: tuple[Clinic, int]) -> None:
    clinic, pid = ready
    nora = Browser(clinic, "nora")
    chart = nora.get(f"/patients/{pid}").text
    r = nora.post(f"/patients/{pid}/appointments", book_form(chart, day="2027-01-05", time="07:30"))
    assert r.status_code == 422
    assert "outside the clinic's hours (08:00–17:00)" in text_by_id(r.text, "book-error")
    r = nora.post(f"/patients/{pid}/appointments", book_form(chart, day="2027-01-05", time="10:00", nurse="bo"))
    assert r.status_code == 422 and "The nurse:" in text_by_id(r.text, "book-error")
    r = nora.post(f"/patients/{pid}/appointments", book_form(chart, day="", time="10:00"))
    assert r.status_code == 422 and "The day and time: give the day and the time" in text_by_id(r.text, "book-error")
    # a pharmacist reads the appointments but books nothing
    phil = Browser(clinic, "phil")
    page = phil.get(f"/patients/{pid}").text
    assert "Book the next refill between" in page and 'id="book-form"' not in page
    assert phil.post(f"/patients/{pid}/appointments", {"day": "2027-01-05", "time": "10:00"}).status_code == 403


def test_a_visit_is_cancelled_from_the_chart(ready: tuple[Clinic, int]) -> None:
    clinic, pid = ready
    a = api_book(clinic, pid, 2027, 1, 5, 10, 0)
    ada = Browser(clinic, "ada")
    base = f"/patients/{pid}/appointments/{a['id']}/status"
    r = ada.post(base, {"status": "cancelled", "reason": "", "back": "chart"})
    assert r.status_code == 422 and "The reason: say why" in text_by_id(r.text, "chart-booking-error")
    r = ada.post(base, {"status": "cancelled", "reason": "moved away", "back": "chart"})
    assert r.status_code == 303 and r.headers["location"].startswith(f"/patients/{pid}?done=appointment")
    chart = ada.follow(r).text
    assert "No upcoming appointment" in chart and "moved away" in text_by_id(chart, "appointments-past")


# --- the dashboard --------------------------------------------------------------------------------------------------
def test_the_dashboard_shows_the_window_and_the_booking(ready: tuple[Clinic, int]) -> None:
    clinic, _ = ready
    other = implanted_patient(clinic, "A-2", "Booked")
    api_book(clinic, other, 2027, 1, 5, 10, 0)
    clinic.advance(days=40)  # Thu 31 Dec 2026: both due within 30 days, latest safe day 12 days away
    month = text_by_id(Browser(clinic, "nora").get("/clinic").text, "dash-month")
    assert "book between Mon 28 Dec 2026 and Tue 12 Jan 2027" in month
    assert "booked Tue 5 Jan 2027 10:00 CST" in month and "not booked" in month and "not-booked-soon" not in month
    clinic.advance(days=7)  # Thu 7 Jan 2027: 5 days to the latest safe day, not booked
    page = Browser(clinic, "nora").get("/clinic").text
    assert 'class="badge badge-hard not-booked-soon">not booked</span>' in page
    assert "latest safe day Tue 12 Jan 2027" in page


# --- the planner ----------------------------------------------------------------------------------------------------
def test_the_planner_proposes_and_books(ready: tuple[Clinic, int]) -> None:
    clinic, pid = ready
    implanted_patient(clinic, "A-2", "Second")
    nora = Browser(clinic, "nora")
    page = nora.get("/planner").text
    assert 'value="2026-11-21"' in page and 'value="4"' in page
    r = nora.post("/planner", {"form_token": form_token(page, "planner-form"), "first_day": "2026-12-21", "weeks": "x"})
    assert r.status_code == 422 and "Weeks:" in text_by_id(r.text, "form-error") and 'value="2026-12-21"' in r.text
    r = nora.post("/planner", {"form_token": form_token(page, "planner-form"), "first_day": "2026-12-21", "weeks": "4"})
    assert r.status_code == 303 and re.fullmatch(r"/planner/\d+", r.headers["location"])
    plan = nora.follow(r).text
    assert "Proposal (CP-SAT)" in plan and "Earliest deadline first (greedy)" in plan
    assert "Visits planned" in text_by_id(plan, "figures-cpsat")
    boxes = re.findall(r'name="key" value="([^"]+)"[^>]*checked', plan)
    assert len(boxes) == 2, plan
    r = nora.post(r.headers["location"] + "/accept", {"form_token": form_token(plan, "accept-form"), "key": boxes})
    assert r.status_code == 303 and "/result?record=" in r.headers["location"]
    result = nora.follow(r).text
    booked = text_by_id(result, "plan-booked")
    assert "Able, Jane" in booked and "Second, Jane" in booked and "Booked (2)" in booked
    assert "Next refill booked" in nora.get(f"/patients/{pid}").text
    assert Browser(clinic, "phil").get("/planner").status_code == 403


# --- the settings ---------------------------------------------------------------------------------------------------
def test_the_admin_reviews_and_saves_the_settings(ready: tuple[Clinic, int]) -> None:
    clinic, _ = ready
    root = Browser(clinic, "root")
    assert 'href="/admin/settings"' in root.get("/admin").text
    page = root.get("/admin/settings").text
    assert "Thu 24 Dec 2026: Christmas Eve" in text_by_id(page, "closures-in-force")
    holidays = text_by_id(page, "next-holidays")
    assert "Thu 26 Nov 2026: Thanksgiving" in holidays and "Fri 25 Dec 2026: Christmas Day" in holidays
    assert "4 days (literature, refill-practice [U])" in text_by_id(page, "margins-in-force")
    nurses = {
        "section": "nurses",
        "nurse_rows": "3",
        "nurse.0.username": "nora",
        "nurse.0.visits": "3",
        **{f"nurse.0.day.{d}": "on" for d in ("monday", "tuesday", "wednesday", "thursday", "friday")},
        "nurse.0.skill.compounded": "on",
        "nurse.1.username": "bo",
        "nurse.1.visits": "4",
        "nurse.1.remove": "on",
        "nurse.2.username": "",
    }
    review = root.post("/admin/settings/review", nurses)
    assert review.status_code == 200
    changes = text_by_id(review.text, "review-changes")
    assert "nurses nora: visits per day 2 3" in changes
    assert "nurses bo: visits per day 4 (removed)" in changes
    save = {
        "form_token": form_token(review.text, "save-form"),
        "section": "nurses",
        "version": re.search(r'name="version" value="(\d+)"', review.text).group(1),  # type: ignore[union-attr]
        "document": re.search(r'name="document" value="([^"]*)"', review.text).group(1).replace("&#34;", '"'),  # type: ignore[union-attr]
        "reason": "",
    }
    r = root.post("/admin/settings", save)
    assert r.status_code == 422 and "Why the settings change" in text_by_id(r.text, "settings-error")
    assert "3" in text_by_id(r.text, "review-changes")  # the review is still there to save
    r = root.post("/admin/settings", {**save, "reason": "bo moves to the day unit"})
    assert r.status_code == 303
    page = root.follow(r).text
    assert "The settings were saved" in page and "nora: 3 visits a day" in page and "bo:" not in page
    # a bad value is refused naming the field, what was typed kept
    bad = {"section": "hours", "opens": "17:00", "closes": "08:00", "country": "US", "open.monday": "on"}
    r = root.post("/admin/settings/review", {**bad, **{f"minutes.{k}": "30" for k in SCHEDULING["visit_minutes"]}})
    assert r.status_code == 422 and "closes (08:00) must be after opens (17:00)" in r.text
    assert 'value="17:00"' in r.text
    assert Browser(clinic, "nora").get("/admin/settings").status_code == 403


def test_a_stale_review_is_not_saved(ready: tuple[Clinic, int]) -> None:
    clinic, _ = ready
    root = Browser(clinic, "root")
    review = root.post(
        "/admin/settings/review",
        {
            "section": "clinic",
            "clinic_name": "North Pump Clinic",
            "in_hours.number": "+1 555 555 0100",
            "in_hours.hours": "weekdays",
            "on_call.number": "+1 555 555 0199",
            "on_call.hours": "always",
        },
    )
    assert "North Pump Clinic" in text_by_id(review.text, "review-changes")
    document = re.search(r'name="document" value="([^"]*)"', review.text).group(1).replace("&#34;", '"')  # type: ignore[union-attr]
    r = clinic.call("PUT", "/clinic/settings", "root", json={"document": {}, "reason": "someone else"})
    assert r.status_code == 200
    r = root.post("/admin/settings", {"section": "clinic", "version": "1", "document": document, "reason": "rename"})
    assert r.status_code == 409 and "saved by someone else" in r.text


def test_a_visit_is_marked_attended_or_missed_once_it_has_begun(ready: tuple[Clinic, int]) -> None:
    clinic, pid = ready
    a = api_book(clinic, pid, 2027, 1, 5, 10, 0)
    b = api_book(clinic, implanted_patient(clinic, "A-2", "Other"), 2027, 1, 5, 11, 0)
    nora = Browser(clinic, "nora")
    base = f"/patients/{pid}/appointments/{a['id']}/status"
    r = nora.post(base, {"status": "attended", "link": "", "day": "2027-01-05", "view": "day"})
    assert r.status_code == 422 and "at or after its start" in text_by_id(r.text, "form-error")
    clinic.advance(days=45, hours=2)  # Tue 5 Jan 2027 11:00 CST
    nora = Browser(clinic, "nora")
    page = nora.get("/calendar?day=2027-01-05&view=day").text
    assert 'option value="">nothing recorded yet</option>' in page
    r = nora.post(base, {"status": "attended", "link": "", "day": "2027-01-05", "view": "day"})
    assert r.status_code == 303
    other = f"/patients/{b['patient_id']}/appointments/{b['id']}/status"
    r = nora.post(other, {"status": "missed", "reason": "did not come, no answer by phone", "day": "2027-01-05"})
    assert r.status_code == 303
    page = nora.follow(r).text
    assert "attended" in text_by_id(page, f"visit-{a['id']}")
    assert "Missed: did not come, no answer by phone" in text_by_id(page, f"visit-{b['id']}")
    assert Browser(clinic, "phil").post(base, {"status": "cancelled", "reason": "x"}).status_code == 403


def test_a_time_that_does_not_exist_on_the_clinics_clock_is_refused(ready: tuple[Clinic, int]) -> None:
    clinic, pid = ready
    nora = Browser(clinic, "nora")
    chart = nora.get(f"/patients/{pid}").text
    # 14 Mar 2027: Chicago's clocks go from 02:00 to 03:00 (a Sunday, but the clock is read before any rule)
    r = nora.post(f"/patients/{pid}/appointments", book_form(chart, day="2027-03-14", time="02:30"))
    assert r.status_code == 422 and "The day and time:" in text_by_id(r.text, "book-error")
    assert 'value="02:30"' in r.text
    # a summer visit is shown on summer time (CDT), typed on the same wall clock
    r = nora.post(
        f"/patients/{pid}/appointments", book_form(chart, day="2027-07-06", time="10:00", override_reason="x")
    )
    assert r.status_code == 303
    assert "Tue 6 Jul 2027 10:00 CDT" in text_by_id(nora.follow(r).text, "appointments-upcoming")


def test_an_overdue_refill_is_booked_on_the_first_open_day(ready: tuple[Clinic, int]) -> None:
    clinic, pid = ready
    clinic.advance(days=53)  # Wed 13 Jan 2027 09:00 CST: the latest safe day written (Tue 12 Jan) has passed
    nora = Browser(clinic, "nora")
    chart = nora.get(f"/patients/{pid}").text  # before the worker's recheck: never "in -1 days"
    window = text_by_id(chart, "refill-window")
    assert "Refill overdue" in window and "Book the refill on the first open day, Wed 13 Jan 2027" in window
    assert 'class="refill-window window-overdue"' in chart and 'value="2027-01-13"' in chart  # today is open
    assert 'value="09:30"' in chart  # the next half hour on the clinic's clock
    clinic.advance(days=13)  # Tue 26 Jan 2027 09:00 CST: past the worst-case alarm, rechecked by the worker
    assert recheck.recheck_due(clinic.engine, clinic.now) >= 1
    nora = Browser(clinic, "nora")
    chart = nora.get(f"/patients/{pid}").text
    assert "Book the refill on the first open day, Tue 26 Jan 2027" in text_by_id(chart, "refill-window")
    r = nora.post(f"/patients/{pid}/appointments", book_form(chart, day="2027-01-27", time="10:00"))
    assert r.status_code == 422 and "has passed: refill on the first open day (Tue 26 Jan 2027)" in r.text
    r = nora.post(f"/patients/{pid}/appointments", book_form(r.text, day="2027-01-26", time="14:00"))
    assert r.status_code == 303
    booked = text_by_id(nora.follow(r).text, "next-booked-refill")
    assert "Tue 26 Jan 2027 14:00 CST" in booked and "after" not in booked
    board = text_by_id(nora.get("/clinic").text, "main")
    assert "booked Tue 26 Jan 2027 14:00 CST" in board and "(after the" not in board
