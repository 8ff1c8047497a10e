"""Appointments through the API, on SQLite and PostgreSQL: the clinic's settings saved by the admin, the refill
window on the chart's API, booking checks (closed days, hours, skills, the window with an override reason),
status changes, the calendar, and the end-of-day sweep.

The patient: the README's flex example (morphine 10 mg/mL + clonidine 100 mcg/mL, an admixture, so a compounded
refill), 40 mL filled at START (Sat 21 Nov 2026 09:00 CST), 0.525 mL/day programmed, 0.585 mL/day with every
allowed bolus, low-reservoir alarm at 2 mL, pump accuracy ±15 %. Worked by hand:
- worst case: 38 mL to the alarm level at 1.15 × 0.585 = 0.67275 mL/day = 56.5 days → Sat 16 Jan 2027 (CST);
  less the 4-day margin = Tue 12 Jan 2027 (open): the latest safe day;
- at that limit, 52.5 days × 0.525 = 27.6 mL gone at the programmed rate: 12.4 mL would be thrown away anyway;
  with 25 % of the fill (10 mL) more accepted, the refill is useful once 40 − 22.4 = 17.6 mL are gone: 33.4 days →
  Thu 24 Dec 2026 (the demo's closure), 25 Dec (Christmas), the weekend → Mon 28 Dec 2026: the earliest useful day.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from openidds.db.models import Appointment
from openidds.service.appointments import sweep_missed
from tests.api_support import Clinic, audit_actions, fast_argon2, implanted_patient

SCHEDULING: dict[str, Any] = {
    "country": "US",
    "subdivision": "IL",
    "open_days": ["monday", "tuesday", "wednesday", "thursday", "friday"],
    "opens": "08:00",
    "closes": "17:00",
    "closures": [{"day": "2026-12-24", "why": "Christmas Eve"}],
    "visit_minutes": {"refill": 30, "follow-up": 30, "replacement": 120, "mri-pre": 20, "mri-post": 20},
    "nurses": [
        {"username": "nora", "visits_per_day": 2, "skills": ["compounded"]},
        {"username": "bo", "visits_per_day": 4, "days": ["tuesday", "thursday"], "skills": ["ziconotide"]},
    ],
    "margins": {
        "default": {"value": "4 days", "source": "refill-practice", "basis": "literature", "unconfirmed": True},
        "drugs": {"baclofen": {"value": "7 days", "source": "baclofen-withdrawal-policy", "basis": "policy"}},
    },
    "max_waste": {"value": "25 %", "source": "waste-policy", "basis": "policy", "unconfirmed": True},
    "source": "refill-practice",
}


def chicago(*args: int) -> str:
    from zoneinfo import ZoneInfo

    return datetime(*args, tzinfo=ZoneInfo("America/Chicago")).isoformat()  # type: ignore[misc]


@pytest.fixture
def ready(clinic: Clinic, monkeypatch: pytest.MonkeyPatch) -> tuple[Clinic, int]:
    fast_argon2(monkeypatch)
    r = clinic.call("PUT", "/clinic/settings", "root", json={"document": {"scheduling": SCHEDULING}, "reason": "open"})
    assert r.status_code == 200, r.text
    pid = implanted_patient(clinic, "A-1")
    return clinic, pid


def book(clinic: Clinic, pid: int, who: str = "nora", **body: Any) -> Any:
    return clinic.call("POST", f"/patients/{pid}/appointments", who, json={"kind": "refill", **body})


def test_the_window_is_worked_out_from_the_pump_and_the_clinic_calendar(ready: tuple[Clinic, int]) -> None:
    clinic, pid = ready
    w = clinic.call("GET", f"/patients/{pid}/refill-window", "nora").json()
    assert (w["earliest"], w["latest"], w["overdue"]) == ("2026-12-28", "2027-01-12", False)
    assert w["words"] == "book between Mon 28 Dec 2026 and Tue 12 Jan 2027"
    assert w["limit"] == "low-reservoir alarm level at the top of the accuracy band"
    assert {r["code"] for r in w["reasons"]} >= {"window.alarm", "window.stability", "window.margin", "window.useful"}


def test_a_booking_inside_the_window_goes_to_a_nurse_with_the_skill(ready: tuple[Clinic, int]) -> None:
    clinic, pid = ready
    r = book(clinic, pid, starts_at=chicago(2027, 1, 5, 10, 0))  # a Tuesday: nora has the compounded skill, bo not
    assert r.status_code == 201, r.text
    a = r.json()
    assert (a["status"], a["minutes"], a["skills"], a["window_override"]) == ("booked", 30, ["compounded"], "")
    nora = clinic.call("GET", "/auth/me", "nora").json()["id"]
    assert a["nurse_id"] == nora
    assert a["starts_at"] == "2027-01-05T16:00:00+00:00"
    r = book(clinic, pid, starts_at=chicago(2027, 1, 5, 11, 0), nurse="bo")
    assert r.status_code == 422 and r.json()["field"] == "nurse" and "compounded" in r.json()["message"]
    assert "book-appointment" in audit_actions(clinic)


@pytest.mark.parametrize(
    ("start", "field", "code"),
    [
        ((2027, 1, 9, 10, 0), "starts_at", "booking.closed"),  # Saturday
        ((2027, 1, 1, 10, 0), "starts_at", "booking.closed"),  # New Year's Day
        ((2027, 1, 5, 16, 45), "starts_at", "booking.hours"),  # ends 17:15, after closing
        ((2027, 1, 5, 7, 30), "starts_at", "booking.hours"),
    ],
)
def test_closed_days_and_hours_are_refused(
    ready: tuple[Clinic, int], start: tuple[int, ...], field: str, code: str
) -> None:
    clinic, pid = ready
    r = book(clinic, pid, starts_at=chicago(*start), nurse="nora")
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field and code in r.json()["codes"]


def test_outside_the_window_needs_a_reason_and_records_it(ready: tuple[Clinic, int]) -> None:
    clinic, pid = ready
    late = chicago(2027, 1, 14, 10, 0)  # after the latest safe day (Tue 12 Jan)
    r = book(clinic, pid, starts_at=late)
    assert r.status_code == 422 and r.json()["field"] == "override_reason"
    assert "booking.after-latest" in r.json()["codes"] and "Tue 12 Jan 2027" in r.json()["message"]
    r = book(clinic, pid, starts_at=late, override_reason="patient abroad until the 13th; checked with Dr Ada")
    assert r.status_code == 201
    assert "after the latest safe day" in r.json()["window_override"] and "abroad" in r.json()["window_override"]
    early = chicago(2026, 12, 22, 10, 0)  # before the earliest useful day (Mon 28 Dec)
    r = book(clinic, pid, starts_at=early)
    assert r.status_code == 422 and "booking.before-earliest" in r.json()["codes"]


def test_a_full_day_needs_a_reason(ready: tuple[Clinic, int]) -> None:
    clinic, pid = ready
    other = implanted_patient(clinic, "A-2")
    third = implanted_patient(clinic, "A-3")
    assert book(clinic, pid, starts_at=chicago(2027, 1, 5, 9, 0)).status_code == 201
    assert book(clinic, other, starts_at=chicago(2027, 1, 5, 10, 0)).status_code == 201
    r = book(clinic, third, starts_at=chicago(2027, 1, 5, 11, 0))  # nora's 2 visits are taken
    assert r.status_code == 422 and "booking.capacity" in r.json()["codes"]
    assert book(clinic, third, starts_at=chicago(2027, 1, 6, 11, 0)).status_code == 201


def test_status_changes_follow_the_visit(ready: tuple[Clinic, int]) -> None:
    clinic, pid = ready
    a = book(clinic, pid, starts_at=chicago(2027, 1, 5, 10, 0)).json()
    base = f"/patients/{pid}/appointments/{a['id']}"
    assert clinic.call("POST", base + "/confirm", "nora").json()["status"] == "confirmed"
    r = clinic.call("POST", base + "/cancel", "nora", json={})
    assert r.status_code == 422 and r.json()["field"] == "reason"
    r = clinic.call("POST", base + "/cancel", "nora", json={"reason": "patient in hospital"})
    assert r.json()["status"] == "cancelled" and r.json()["status_reason"] == "patient in hospital"
    r = clinic.call("POST", base + "/confirm", "nora")
    assert r.status_code == 409 and "already cancelled" in r.json()["message"]
    actions = audit_actions(clinic)
    assert "appointment-confirmed" in actions and "appointment-cancelled" in actions


def test_who_may_book_and_read(ready: tuple[Clinic, int]) -> None:
    clinic, pid = ready
    clinic.user("pat", "patient", pid)
    assert book(clinic, pid, "pat", starts_at=chicago(2027, 1, 5, 10, 0)).status_code == 403
    assert book(clinic, pid, "phil", starts_at=chicago(2027, 1, 5, 10, 0)).status_code == 403
    assert book(clinic, pid, "root", starts_at=chicago(2027, 1, 5, 10, 0)).status_code == 403
    assert book(clinic, pid, "ada", starts_at=chicago(2027, 1, 5, 10, 0)).status_code == 201
    assert len(clinic.call("GET", f"/patients/{pid}/appointments", "pat").json()) == 1
    other = implanted_patient(clinic, "A-2")
    assert clinic.call("GET", f"/patients/{other}/appointments", "pat").status_code == 404
    assert clinic.call("GET", "/appointments?from=2027-01-04", "pat").status_code == 403
    r = clinic.call("PUT", "/clinic/settings", "nora", json={"document": {}, "reason": "x"})
    assert r.status_code == 403


def test_the_calendar_lists_a_week_with_names(ready: tuple[Clinic, int]) -> None:
    clinic, pid = ready
    book(clinic, pid, starts_at=chicago(2027, 1, 5, 10, 0))
    book(clinic, pid, kind="follow-up", starts_at=chicago(2027, 1, 12, 10, 0), override_reason="")
    week = clinic.call("GET", "/appointments?from=2027-01-04&days=7", "phil").json()
    assert [(e["kind"], e["mrn"]) for e in week] == [("refill", "A-1")]
    assert clinic.call("GET", "/appointments?from=2027-01-04&days=63", "phil").status_code == 422


def test_the_day_is_closed_by_the_sweep(ready: tuple[Clinic, int]) -> None:
    clinic, pid = ready
    a = book(clinic, pid, starts_at=chicago(2027, 1, 5, 10, 0)).json()
    assert sweep_missed(clinic.engine, datetime(2027, 1, 5, 22, 59, tzinfo=UTC)) == 0  # 16:59 CST: still open
    assert sweep_missed(clinic.engine, datetime(2027, 1, 5, 23, 0, tzinfo=UTC)) == 1  # 17:00 CST: closed
    with clinic.sessions() as s:
        found = s.scalars(select(Appointment).where(Appointment.id == a["id"])).one()
        assert found.status == "missed" and "closed by the system" in found.status_reason
    assert sweep_missed(clinic.engine, datetime(2027, 1, 6, 23, 0, tzinfo=UTC)) == 0
    assert "appointment-missed" in audit_actions(clinic)


def test_settings_are_validated_and_audited(ready: tuple[Clinic, int]) -> None:
    clinic, _ = ready
    bad = {**SCHEDULING, "closes": "07:00"}
    r = clinic.call("PUT", "/clinic/settings", "root", json={"document": {"scheduling": bad}, "reason": "x"})
    assert r.status_code == 422 and "closes" in r.json()["message"]
    r = clinic.call("PUT", "/clinic/settings", "root", json={"document": {"timezone": "UTC"}, "reason": "x"})
    assert r.status_code == 422 and r.json()["field"] == "document.timezone"  # not an editable part
    shown = clinic.call("GET", "/clinic/settings", "nora").json()
    assert shown["scheduling"]["nurses"][0]["username"] == "nora" and shown["timezone"] == "America/Chicago"
    assert "save-clinic-settings" in audit_actions(clinic)


def test_a_refill_after_one_already_booked_is_for_the_next_fill(ready: tuple[Clinic, int]) -> None:
    """Its window is worked out when the refill before it is recorded: booked without a reason (the planner's
    later visits); the first refill is still checked against the window."""
    clinic, pid = ready
    assert book(clinic, pid, starts_at=chicago(2027, 1, 5, 10, 0)).status_code == 201
    r = book(clinic, pid, starts_at=chicago(2027, 2, 23, 10, 0))  # after the current fill's latest safe day
    assert r.status_code == 201 and r.json()["window_override"] == ""
    r = book(clinic, pid, starts_at=chicago(2026, 12, 22, 10, 0))  # before the booked one: the current fill's window
    assert r.status_code == 422 and "booking.before-earliest" in r.json()["codes"]


def test_a_later_refill_outside_the_next_cycle_needs_a_reason(ready: tuple[Clinic, int]) -> None:
    """After the refill booked on Tue 5 Jan, the next fill's refill cycle (33 to 52 days: tests/test_refill_window)
    runs from Mon 7 Feb to Fri 26 Feb 2027; a second refill on the same day, or in March, needs a reason. Cancelling
    the first one brings the current window back for the other."""
    clinic, pid = ready
    first = book(clinic, pid, starts_at=chicago(2027, 1, 5, 10, 0)).json()
    r = book(clinic, pid, starts_at=chicago(2027, 1, 5, 11, 0))
    assert r.status_code == 422 and "booking.before-earliest" in r.json()["codes"]
    r = book(clinic, pid, starts_at=chicago(2027, 3, 9, 10, 0))
    assert r.status_code == 422 and "booking.after-latest" in r.json()["codes"]
    assert "Fri 26 Feb 2027" in r.json()["message"] and "refill cycle after the refill booked on" in r.json()["message"]
    base = f"/patients/{pid}/appointments/{first['id']}"
    assert clinic.call("POST", base + "/cancel", "nora", json={"reason": "moved"}).status_code == 200
    r = book(clinic, pid, starts_at=chicago(2027, 2, 23, 10, 0))  # now the current fill's window applies again
    assert r.status_code == 422 and "booking.after-latest" in r.json()["codes"] and "Tue 12 Jan 2027" in r.text


def test_visits_are_closed_only_once_they_have_begun_and_link_what_was_recorded_that_day(
    ready: tuple[Clinic, int],
) -> None:
    clinic, pid = ready
    a = book(clinic, pid, starts_at=chicago(2027, 1, 5, 10, 0)).json()
    base = f"/patients/{pid}/appointments/{a['id']}"
    r = clinic.call("POST", base + "/miss", "nora", json={"reason": "did not come"})
    assert r.status_code == 422 and "not before" in r.json()["message"]  # it is 21 Nov: the visit is in January
    r = clinic.call("POST", base + "/attend", "nora", json={})
    assert r.status_code == 422
    clinic.user("pat", "patient", pid)
    r = book(clinic, pid, kind="follow-up", starts_at=chicago(2027, 1, 5, 10, 15), override_reason="x")
    assert r.status_code == 422 and "booking.patient-overlap" in r.json()["codes"]


def test_the_clinic_settings_refuse_what_would_make_a_window_unsafe(ready: tuple[Clinic, int]) -> None:
    clinic, _ = ready
    clinic.user("pat", "patient", None)

    def put(**changes: Any) -> Any:
        scheduling = {**SCHEDULING, **changes}
        return clinic.call(
            "PUT", "/clinic/settings", "root", json={"document": {"scheduling": scheduling}, "reason": "x"}
        )

    no_baclofen = {**SCHEDULING["margins"], "drugs": {}}
    r = put(margins=no_baclofen)
    assert r.status_code == 422 and "baclofen carries a withdrawal risk" in r.json()["message"]
    typo = {**SCHEDULING["margins"], "drugs": {"Baclofen": SCHEDULING["margins"]["drugs"]["baclofen"]}}
    r = put(margins=typo)
    assert r.status_code == 422 and "margins.drugs.Baclofen: not a drug of the library" in r.json()["message"]
    zero = {**SCHEDULING["margins"], "default": {**SCHEDULING["margins"]["default"], "value": "0 days"}}
    assert put(margins=zero).status_code == 422
    for login in ("pat", "root", "nobody"):
        nurses = [*SCHEDULING["nurses"], {"username": login, "visits_per_day": 3}]
        r = put(nurses=nurses)
        assert r.status_code == 422 and r.json()["field"] == "scheduling.nurses[2].username", r.text


def test_an_encoded_word_is_no_email_address() -> None:
    from openidds.clinic.settings import check_email

    with pytest.raises(ValueError, match="not an e-mail address"):
        check_email("=?utf-8?q?a=0D=0ABcc:x?=@example.org")
    assert check_email(" t.hale@example.org ") == "t.hale@example.org"


def test_the_dashboard_says_when_the_booked_refill_is_after_the_latest_safe_day(ready: tuple[Clinic, int]) -> None:
    clinic, pid = ready
    r = book(clinic, pid, starts_at=chicago(2027, 1, 14, 10, 0), override_reason="the patient's only free day")
    assert r.status_code == 201
    row = next(p for p in clinic.call("GET", "/dashboard", "nora").json()["patients"] if p["patient_id"] == pid)
    assert row["urgency"] == "refill-booking"
    assert row["concerns"][0] == (
        "refill booked on Thu 14 Jan 2027, after the latest safe day (Tue 12 Jan 2027): book it earlier"
    )
    assert (row["refill_latest"], row["booked_refill_at"]) == ("2027-01-12", "2027-01-14T16:00:00+00:00")
    assert book(clinic, pid, starts_at=chicago(2027, 1, 11, 10, 0)).status_code == 201  # an earlier one, in time
    row = next(p for p in clinic.call("GET", "/dashboard", "nora").json()["patients"] if p["patient_id"] == pid)
    assert row["urgency"] == "later"


def test_a_refill_done_before_its_slot_closes_that_days_visit_as_attended(ready: tuple[Clinic, int]) -> None:
    from tests.api_support import refill

    clinic, pid = ready
    visit = book(clinic, pid, starts_at=chicago(2027, 1, 5, 10, 0)).json()
    clinic.now = datetime(2027, 1, 5, 14, 0, tzinfo=UTC)  # 08:00 CST, two hours before the slot
    left = clinic.call("GET", f"/patients/{pid}/pump", "nora").json()["expected_residual_ml"]
    done = refill(clinic, pid, str(round(float(left), 1)))
    got = clinic.call("GET", f"/patients/{pid}/appointments", "nora").json()
    assert [(a["id"], a["status"], a["refill_id"]) for a in got] == [(visit["id"], "attended", done["id"])]
    assert clinic.call("GET", f"/patients/{pid}/pump", "nora").json()["booked_refill_at"] is None
    assert "appointment-attended" in audit_actions(clinic)


def test_the_dashboard_says_when_a_refill_visit_was_missed_and_when_the_latest_safe_day_passed(
    ready: tuple[Clinic, int],
) -> None:
    clinic, pid = ready
    book(clinic, pid, starts_at=chicago(2027, 1, 5, 10, 0))
    clinic.now = datetime(2027, 1, 6, 15, 0, tzinfo=UTC)
    assert sweep_missed(clinic.engine, clinic.now) == 1  # nobody came on the 5th

    def row() -> dict[str, Any]:
        rows = clinic.call("GET", "/dashboard", "nora").json()["patients"]
        found: dict[str, Any] = next(p for p in rows if p["patient_id"] == pid)
        return found

    assert row()["urgency"] == "refill-booking"
    assert row()["concerns"][0] == (
        "refill visit on Tue 5 Jan 2027 missed, nothing booked since: reach the patient and rebook"
    )
    # Without boluses the worst case recedes as days pass (none was taken): the window is worked out again each day.
    # By 30 Jan it has passed all the same (60 days of 0.525 mL/day at +15 % leave 3.8 mL: the 2 mL level is < 3
    # days away at 0.67275 mL/day, less the 4-day margin).
    clinic.now = datetime(2027, 1, 30, 15, 0, tzinfo=UTC)
    clinic.call("GET", f"/patients/{pid}/pump", "nora")  # the status worked out again (the worker would, at midnight)
    window = clinic.call("GET", f"/patients/{pid}/refill-window", "nora").json()
    assert window["overdue"] and window["latest"] < "2027-01-30"
    assert any(c.startswith("past the latest safe day (") for c in row()["concerns"])


def test_a_refill_after_the_pump_is_projected_empty_says_so(ready: tuple[Clinic, int]) -> None:
    """40 mL at 0.585 mL/day with every bolus: empty after 68.4 days, Thu 28 Jan 2027 (CST)."""
    clinic, pid = ready
    r = book(clinic, pid, starts_at=chicago(2027, 2, 1, 10, 0))
    assert r.status_code == 422 and {"booking.after-empty", "booking.after-latest"} <= set(r.json()["codes"])
    assert "projected EMPTY on Thu 28 Jan 2027" in r.json()["message"]
    r = book(clinic, pid, starts_at=chicago(2027, 1, 26, 10, 0))  # after the latest safe day, before empty
    assert r.status_code == 422 and "booking.after-empty" not in r.json()["codes"]


def test_saved_settings_are_kept_per_database(tmp_path: Any) -> None:
    """Two clinics, each with its version 1: each reads its own (a cache by version id alone mixed them up)."""
    from datetime import timedelta

    from openidds.db import make_engine, migrate, sessions
    from openidds.db.models import User
    from openidds.service.settings import current_settings, save_settings

    found = []
    for name, visits in (("a", 2), ("b", 5)):
        engine = make_engine(f"sqlite:///{tmp_path / name}.sqlite3")
        migrate(engine)
        now = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
        with sessions(engine)() as s, s.begin():
            for user, role in (("root", "admin"), ("nora", "nurse"), ("bo", "physician")):
                s.add(User(username=user, full_name=user, role=role, password_hash="x", created_at=now))
            s.flush()
            admin = s.query(User).filter_by(username="root").one()
            nurses = [{**SCHEDULING["nurses"][0], "visits_per_day": visits}, SCHEDULING["nurses"][1]]
            save_settings(s, admin, {"scheduling": {**SCHEDULING, "nurses": nurses}}, "x", now + timedelta(1))
        with sessions(engine)() as s:
            scheduling = current_settings(s).scheduling
            assert scheduling is not None
            found.append(scheduling.nurses[0].visits_per_day)
        engine.dispose()
    assert found == [2, 5]
