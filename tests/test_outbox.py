"""The outbox on SQLite and PostgreSQL: written in the event's transaction, once per event, reminders 7 and 1 days
before a visit, whom each event reaches; the contact preferences and the outbox through the API and the web.
Delivery (a real SMTP server and a webhook receiver on loopback) is tests/test_outbox_delivery.py."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from openidds.db.models import Appointment, AuditRecord, OutboxMessage, PatientStatus, User
from openidds.service import notify
from tests.api_support import START, Clinic, fast_argon2, new_patient
from tests.web_support import Browser, form_token

# START is Sat 21 Nov 2026 09:00 CST (15:00 UTC). A visit on Tue 1 Dec 2026 10:00 CST = 16:00 UTC: its 7-day reminder
# is due from Tue 24 Nov 09:00 CST (15:00 UTC), its 1-day reminder from Mon 30 Nov 09:00 CST (15:00 UTC).
VISIT = datetime(2026, 12, 1, 16, 0, tzinfo=START.tzinfo)
SEVEN_DAYS = datetime(2026, 11, 24, 15, 0, tzinfo=START.tzinfo)
ONE_DAY = datetime(2026, 11, 30, 15, 0, tzinfo=START.tzinfo)


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_argon2(monkeypatch)


def user_id(clinic: Clinic, username: str) -> int:
    with clinic.sessions() as s:
        found = s.scalar(select(User.id).where(User.username == username))
        assert found is not None
        return found


def contact(clinic: Clinic, pid: int, who: str = "nora", **body: Any) -> Any:
    r = clinic.call("PUT", f"/patients/{pid}/contact", who, json={"channel": "email", **body})
    assert r.status_code == 200, r.text
    return r.json()


def book(clinic: Clinic, pid: int, starts_at: datetime = VISIT, kind: str = "refill", status: str = "booked") -> int:
    """A visit row as the appointments service books it (that service is tested on its own)."""
    with clinic.sessions() as s, s.begin():
        visit = Appointment(
            patient_id=pid,
            kind=kind,
            starts_at=starts_at,
            minutes=30,
            status=status,
            created_by=user_id(clinic, "nora"),
            created_at=clinic.now,
            updated_at=clinic.now,
        )
        s.add(visit)
        s.flush()
        return visit.id


def messages(clinic: Clinic, **where: Any) -> list[OutboxMessage]:
    with clinic.sessions() as s:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        for name, value in where.items():
            query = query.where(getattr(OutboxMessage, name) == value)
        return list(s.scalars(query))


def reminders(clinic: Clinic, at: datetime) -> int:
    with clinic.sessions() as s, s.begin():
        return notify.queue_reminders(s, at)


# --- the outbox in the event's transaction ------------------------------------------------------------------------
def test_a_rolled_back_event_leaves_no_message_and_an_event_twice_leaves_one(clinic: Clinic) -> None:
    pid = new_patient(clinic, "OB-1")
    with pytest.raises(RuntimeError), clinic.sessions() as s, s.begin():
        assert notify.urgent_flag(s, pid, "test.urgent", "something urgent", "flag/999", clinic.now) == 2
        raise RuntimeError("the use case fails after the flag: its transaction rolls back")
    assert messages(clinic) == []

    with clinic.sessions() as s, s.begin():
        assert notify.urgent_flag(s, pid, "test.urgent", "something urgent", "flag/1", clinic.now) == 2
        assert notify.urgent_flag(s, pid, "test.urgent", "something urgent", "flag/1", clinic.now) == 0
        # the duplicate broke nothing: the same transaction goes on writing
        again = notify.enqueue(
            s, key="k", event="e", channel="email", address="a@example.org", subject="s", body="b", language="en",
            now=clinic.now,
        )  # fmt: skip
        assert again is not None
        assert notify.enqueue(
            s, key="k", event="e", channel="email", address="a@example.org", subject="s", body="b", language="en",
            now=clinic.now,
        ) is None  # fmt: skip
    with clinic.sessions() as s, s.begin():  # and in another transaction
        assert notify.urgent_flag(s, pid, "test.urgent", "something urgent", "flag/1", clinic.now) == 0
    assert [(m.channel, m.address) for m in messages(clinic, event="urgent-flag")] == [
        ("email", "on-call@example.org"),
        ("sms", "+1 555 555 0199"),
    ]


# --- reminders ----------------------------------------------------------------------------------------------------
def test_reminders_seven_days_and_one_day_before_once_each(clinic: Clinic) -> None:
    pid = new_patient(clinic, "OB-2")
    contact(clinic, pid, email="jane@example.org", language="es")
    visit = book(clinic, pid)
    assert reminders(clinic, SEVEN_DAYS - timedelta(minutes=1)) == 0
    assert reminders(clinic, SEVEN_DAYS) == 1
    assert reminders(clinic, SEVEN_DAYS + timedelta(hours=5)) == 0  # a repeat run adds none
    [seven] = messages(clinic)
    assert (seven.event, seven.address, seven.language, seven.status) == (
        "visit-reminder-7d",
        "jane@example.org",
        "es",
        "pending",
    )
    assert seven.subject == "OpenIDDS Demo Pump Clinic: su recarga de la bomba el mar 1 dic 2026"
    assert "dentro de 7 días, el mar 1 dic 2026 a las 10:00 CST" in seven.body
    assert seven.dedupe_key == f"reminder:{visit}:7d:20261201T1600"
    assert seven.next_attempt_at == SEVEN_DAYS and seven.patient_id == pid

    assert reminders(clinic, ONE_DAY) == 1
    assert reminders(clinic, ONE_DAY + timedelta(hours=1)) == 0
    assert [m.event for m in messages(clinic)] == ["visit-reminder-7d", "visit-reminder-1d"]
    assert "mañana" in messages(clinic)[1].body

    # the visit moved to Thu 3 Dec 10:00 CST: fresh reminders for the new time (the 7-day one, its time come)
    with clinic.sessions() as s, s.begin():
        s.execute(update(Appointment).where(Appointment.id == visit).values(starts_at=VISIT + timedelta(days=2)))
    assert reminders(clinic, ONE_DAY + timedelta(hours=2)) == 1
    assert messages(clinic)[-1].dedupe_key == f"reminder:{visit}:7d:20261203T1600"
    # cancelled: nothing more
    with clinic.sessions() as s, s.begin():
        s.execute(update(Appointment).where(Appointment.id == visit).values(status="cancelled"))
    assert reminders(clinic, VISIT + timedelta(days=1)) == 0


def test_a_patient_who_chose_none_or_never_chose_gets_nothing(clinic: Clinic) -> None:
    quiet, never = new_patient(clinic, "OB-3"), new_patient(clinic, "OB-4")
    contact(clinic, quiet, channel="none", email="kept@example.org")
    book(clinic, quiet)
    book(clinic, never)
    assert reminders(clinic, ONE_DAY) == 0
    with clinic.sessions() as s, s.begin():
        assert notify.missed_visit(s, s.get_one(Appointment, book(clinic, quiet)), clinic.now) == 0
    assert messages(clinic) == []


def test_an_sms_reminder_says_no_more_than_the_visit(clinic: Clinic) -> None:
    pid = new_patient(clinic, "OB-5")
    contact(clinic, pid, channel="sms", phone="+1 555 555 0123")
    book(clinic, pid)
    assert reminders(clinic, ONE_DAY) == 1
    [sms] = messages(clinic)
    assert (sms.channel, sms.address) == ("sms", "+1 555 555 0123")
    assert sms.body == (
        "OpenIDDS Demo Pump Clinic: your pump refill is tomorrow, Tue 1 Dec 2026 at 10:00 CST. "
        "Cannot come? Call +1 555 555 0100."
    )


# --- whom the events reach ----------------------------------------------------------------------------------------
def test_an_urgent_flag_reaches_the_responsible_clinician_else_on_call(clinic: Clinic) -> None:
    pid = new_patient(clinic, "OB-6")
    ada = user_id(clinic, "ada")
    with clinic.sessions() as s, s.begin():
        s.get_one(User, ada).email = "ada@example.org"
    contact(clinic, pid, channel="none", responsible_user_id=ada)
    # a PHQ-9 with item 9 above 0, recorded through the API: urgent, and the notice is in the same transaction
    r = clinic.call("POST", f"/patients/{pid}/follow-ups", "nora", json={"phq9": [0, 0, 0, 0, 0, 0, 1, 0, 1]})
    assert r.status_code == 201 and r.json()["urgent"], r.text
    [to_ada] = messages(clinic, event="urgent-flag")
    assert (to_ada.address, to_ada.user_id, to_ada.patient_id) == ("ada@example.org", ada, pid)
    assert "OB-6" in to_ada.subject and "Jane Doe-OB-6" in to_ada.body
    assert to_ada.dedupe_key.startswith(f"urgent-flag:follow-up/{r.json()['id']}:")

    # the responsible clinician with no e-mail: on call, by e-mail and SMS
    with clinic.sessions() as s, s.begin():
        s.get_one(User, ada).email = None
    r = clinic.call("POST", f"/patients/{pid}/follow-ups", "nora", json={"phq9": [0, 0, 0, 0, 0, 0, 1, 0, 2]})
    assert r.status_code == 201, r.text
    later = messages(clinic, event="urgent-flag")[1:]
    assert [(m.channel, m.address) for m in later] == [("email", "on-call@example.org"), ("sms", "+1 555 555 0199")]
    assert "Jane" not in later[1].body  # the SMS names the MRN only


def test_a_missed_baclofen_refill_is_escalated_to_on_call(clinic: Clinic) -> None:
    pid = new_patient(clinic, "OB-7", care_area="spasticity-spinal", indications=[])
    contact(clinic, pid, email="pat@example.org")
    refill, follow_up = book(clinic, pid), book(clinic, pid, VISIT + timedelta(days=1), kind="follow-up")
    with clinic.sessions() as s, s.begin():
        s.execute(update(PatientStatus).where(PatientStatus.patient_id == pid).values(withdrawal_risk=True))
    with clinic.sessions() as s, s.begin():
        visit = s.get_one(Appointment, refill)
        visit.status = "missed"
        assert notify.missed_visit(s, visit, VISIT + timedelta(hours=1)) == 3
        assert notify.missed_visit(s, visit, VISIT + timedelta(hours=2)) == 0  # once
        other = s.get_one(Appointment, follow_up)
        assert notify.missed_visit(s, other, VISIT + timedelta(days=1, hours=1)) == 1  # not a refill: no escalation
    found = [(m.event, m.channel, m.address) for m in messages(clinic)]
    assert found == [
        ("missed-visit", "email", "pat@example.org"),
        ("missed-refill-escalation", "email", "on-call@example.org"),
        ("missed-refill-escalation", "sms", "+1 555 555 0199"),
        ("missed-visit", "email", "pat@example.org"),
    ]
    escalation = messages(clinic, event="missed-refill-escalation")
    assert escalation[0].subject == "URGENT: missed refill, withdrawal risk: OB-7 Jane Doe-OB-7"
    assert "baclofen" not in escalation[1].body.lower()
    assert "Tue 1 Dec 2026" in messages(clinic, event="missed-visit")[0].body


def test_a_capacity_shortfall_reaches_the_clinic_lead(clinic: Clinic) -> None:
    short: list[dict[str, object]] = [
        {
            "patient_id": 1,
            "mrn": "M-1",
            "name": "Jane Doe",
            "latest": "2026-12-04",
            "day": "2026-12-07",
            "days_late": 3,
            "withdrawal_risk": True,
            "reason": "no nurse with the skill",
        },
        {"patient_id": 2, "mrn": "M-2", "name": "Sam Roe", "latest": "2026-12-05", "day": None, "days_late": None,
         "withdrawal_risk": False, "reason": "no free visit"},
    ]  # fmt: skip
    with clinic.sessions() as s, s.begin():
        assert notify.capacity_shortfall(s, 7, short, clinic.now) == 1
        assert notify.capacity_shortfall(s, 7, short, clinic.now) == 0
        assert notify.capacity_shortfall(s, 8, [], clinic.now) == 0
    [lead] = messages(clinic)
    assert (lead.address, lead.event) == ("lead@example.org", "capacity-shortfall")
    assert "2 refill(s)" in lead.subject
    assert "- M-1 Jane Doe: latest safe day Fri 4 Dec 2026, first day the planner found: Mon 7 Dec 2026" in lead.body
    assert (
        "WITHDRAWAL RISK" in lead.body and "- M-2 Sam Roe: latest safe day Sat 5 Dec 2026, no day found." in lead.body
    )


# --- the API ------------------------------------------------------------------------------------------------------
def test_contact_preferences_through_the_api(clinic: Clinic) -> None:
    pid, other = new_patient(clinic, "OB-8"), new_patient(clinic, "OB-9")
    r = clinic.call("GET", f"/patients/{pid}/contact", "nora")
    assert r.json() == {
        "patient_id": pid,
        "channel": "none",
        "email": None,
        "phone": None,
        "language": "en",
        "responsible_user_id": None,
        "updated_at": None,
    }
    refusals = [
        ({"channel": "email"}, "email"),
        ({"channel": "email", "email": "not-an-address"}, "email"),
        ({"channel": "sms", "phone": "call me"}, "phone"),
        ({"channel": "sms"}, "phone"),
        ({"channel": "sms", "phone": "+1 555" + " " * 40 + "555 0123"}, "phone"),  # longer than the column
        ({"channel": "email", "email": "a@example.org", "language": "fr"}, "language"),
        ({"channel": "email", "email": "a@example.org", "responsible_user_id": user_id(clinic, "phil")},
         "responsible_user_id"),
        ({"channel": "pigeon"}, "channel"),
        ({"channel": "none", "fax": "1"}, "fax"),
    ]  # fmt: skip
    for body, field in refusals:
        r = clinic.call("PUT", f"/patients/{pid}/contact", "nora", json=body)
        assert (r.status_code, r.json()["field"]) == (422, field), (body, r.text)
    ada = user_id(clinic, "ada")
    saved = contact(clinic, pid, email=" jane@example.org ", responsible_user_id=ada, language="es")
    assert (saved["email"], saved["language"], saved["responsible_user_id"]) == ("jane@example.org", "es", ada)
    assert clinic.call("GET", f"/patients/{pid}/contact", "ada").json() == saved
    with clinic.sessions() as s:
        assert s.scalar(select(func.count()).where(AuditRecord.action == "set-contact")) == 1

    # the patient: their own preferences, not another's; and not their responsible clinician
    clinic.user("jane", "patient", patient_id=pid)
    mine = clinic.call("PUT", f"/patients/{pid}/contact", "jane", json={"channel": "sms", "phone": "+1 555 555 0123"})
    assert mine.status_code == 200 and mine.json()["responsible_user_id"] == ada  # kept
    r = clinic.call("PUT", f"/patients/{pid}/contact", "jane", json={"channel": "none", "responsible_user_id": None})
    assert r.status_code == 200
    r = clinic.call(
        "PUT",
        f"/patients/{pid}/contact",
        "jane",
        json={"channel": "none", "responsible_user_id": user_id(clinic, "bo")},
    )
    assert (r.status_code, r.json()["field"]) == (422, "responsible_user_id")
    assert clinic.call("PUT", f"/patients/{other}/contact", "jane", json={"channel": "none"}).status_code == 404
    assert clinic.call("GET", f"/patients/{other}/contact", "jane").status_code == 404
    assert clinic.call("PUT", f"/patients/{pid}/contact", "phil", json={"channel": "none"}).status_code == 403
    # done once per Idempotency-Key
    headers = {**clinic.as_("nora"), "Idempotency-Key": "contact-1"}
    first = clinic.client.put(f"/api/v1/patients/{other}/contact", json={"channel": "none"}, headers=headers)
    again = clinic.client.put(f"/api/v1/patients/{other}/contact", json={"channel": "none"}, headers=headers)
    assert first.json() == again.json() and again.headers.get("Idempotent-Replayed") == "true"


def test_the_outbox_through_the_api(clinic: Clinic) -> None:
    pid = new_patient(clinic, "OB-10")
    contact(clinic, pid, email="jane@example.org")
    book(clinic, pid)
    reminders(clinic, ONE_DAY)
    nurse = clinic.call("GET", "/outbox", "nora").json()
    assert [(m["event"], m["status"], m["address"]) for m in nurse] == [
        ("visit-reminder-1d", "pending", "jane@example.org")
    ]
    assert "tomorrow" in nurse[0]["body"]
    admin = clinic.call("GET", "/outbox?status=pending&limit=5", "root").json()
    assert admin[0]["address"] == "jane@example.org" and "body" not in admin[0] and "subject" not in admin[0]
    assert clinic.call("GET", "/outbox?status=sent", "ada").json() == []
    assert clinic.call("GET", "/outbox?status=lost", "ada").status_code == 422
    assert clinic.call("GET", "/outbox?limit=0", "ada").status_code == 422
    assert clinic.call("GET", "/outbox", "phil").status_code == 403
    clinic.user("jane", "patient", patient_id=pid)
    assert clinic.call("GET", "/outbox", "jane").status_code == 403


# --- the web ------------------------------------------------------------------------------------------------------
def test_the_contact_form_and_the_outbox_page(clinic: Clinic) -> None:
    pid = new_patient(clinic, "OB-11")
    clinic.user("jane", "patient", patient_id=pid)
    jane = Browser(clinic, "jane")
    page = jane.get(f"/patients/{pid}/contact")
    assert page.status_code == 200 and "How we remind you" in page.text
    assert "Responsible clinician" not in page.text
    data = {"channel": "email", "email": "", "language": "en", "form_token": form_token(page.text, "contact-form")}
    refused = jane.post(f"/patients/{pid}/contact", data)
    assert refused.status_code == 422 and "required to be reminded by e-mail" in refused.text
    data = {**data, "email": "jane@example.org", "form_token": form_token(refused.text, "contact-form")}
    saved = jane.follow(jane.post(f"/patients/{pid}/contact", data))
    assert 'id="contact-saved"' in saved.text and 'value="jane@example.org"' in saved.text
    assert jane.post(f"/patients/{pid}/contact", {**data, "csrf_token": "forged"}, csrf=False).status_code == 403
    assert jane.get("/outbox").status_code == 403

    nurse = Browser(clinic, "nora")
    page = nurse.get(f"/patients/{pid}/contact")
    assert "Responsible clinician" in page.text
    book(clinic, pid)
    reminders(clinic, ONE_DAY)
    outbox = nurse.get("/outbox")
    assert outbox.status_code == 200 and "visit-reminder-1d" in outbox.text and "jane@example.org" in outbox.text
    assert "your pump refill is tomorrow" in outbox.text
    assert "visit-reminder-1d" in nurse.get(f"/outbox?patient={pid}").text
    assert "visit-reminder-1d" not in nurse.get(f"/outbox?patient={pid + 1}").text
    admin = Browser(clinic, "root").get("/outbox?status=pending")
    assert admin.status_code == 200 and "jane@example.org" in admin.text and "pump refill" not in admin.text
    assert nurse.get("/outbox/demo-mail").status_code == 404  # no mail catcher outside `idds serve --demo`


def test_the_demo_reminds_its_patients_by_email(clinic: Clinic) -> None:
    from openidds.db.models import Patient
    from openidds.service.contacts import demo_contacts, demo_visit

    pid = new_patient(clinic, "DEMO-1")
    with clinic.sessions() as s, s.begin():
        s.execute(update(Patient).where(Patient.id == pid).values(stage="implanted"))
        assert demo_contacts(s, clinic.now) == 1 and demo_contacts(s, clinic.now) == 0
        visit = demo_visit(s, clinic.now)
        assert visit is not None and demo_visit(s, clinic.now) is None  # one is booked now
        # Sat 21 Nov 2026 + 2 days is Mon 23 Nov, an open day: 10:00 CST = 16:00 UTC
        assert visit.starts_at == datetime(2026, 11, 23, 16, 0, tzinfo=START.tzinfo)
    assert reminders(clinic, clinic.now) == 1
    [mail] = messages(clinic)
    assert (mail.address, mail.event) == ("demo-1@patients.example.org", "visit-reminder-7d")
    assert "is in 2 days, on Mon 23 Nov 2026 at 10:00 CST" in mail.body
