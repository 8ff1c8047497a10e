"""Secret calendar feeds through the API, on SQLite and PostgreSQL: made, fetched as iCalendar (times worked out by
hand across a clock change), revoked, refused; the secret nowhere stored.

Appointments are inserted directly (the appointments service is built elsewhere). America/Chicago moves its clocks
on Sunday 14 March 2027 (02:00 CST → 03:00 CDT): a 09:00 visit on Saturday 13 March is 15:00 UTC, on Monday
15 March 14:00 UTC. START is 2026-11-21 15:00 UTC.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from sqlalchemy import select

from openidds.db.models import Appointment, AuditRecord, CalendarFeed, IdempotencyKey, User
from openidds.service.settings import current_settings
from tests.api_support import START, Clinic, fast_argon2, new_patient

CHICAGO = ZoneInfo("America/Chicago")
BEFORE_DST = datetime(2027, 3, 13, 15, 0, tzinfo=UTC)  # 09:00 CST (UTC-6)
AFTER_DST = datetime(2027, 3, 15, 14, 0, tzinfo=UTC)  # 09:00 CDT (UTC-5)


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_argon2(monkeypatch)


def _user_id(clinic: Clinic, username: str) -> int:
    with clinic.sessions() as s:
        found = s.scalar(select(User.id).where(User.username == username))
        assert found is not None
        return found


def _visit(clinic: Clinic, pid: int, at: datetime, kind: str = "refill", nurse: str | None = "nora") -> int:
    with clinic.sessions() as s, s.begin():
        a = Appointment(
            patient_id=pid,
            kind=kind,
            starts_at=at,
            minutes=45,
            status="booked",
            nurse_id=None if nurse is None else _user_id(clinic, nurse),
            note="morphine refill, bring the kit",  # never in a feed
            created_by=_user_id(clinic, "nora"),
            created_at=clinic.now,
            updated_at=clinic.now,
        )
        s.add(a)
        s.flush()
        return a.id


def _make(clinic: Clinic, who: str, **body: Any) -> Any:
    return clinic.call("POST", "/calendar-feeds", who, json=body)


def _fetch(clinic: Clinic, url: str) -> Any:
    return clinic.client.get(urlsplit(url).path)  # no login: the secret is the credential


def _events(r: Any) -> dict[str, Any]:
    cal = Calendar.from_ical(r.content)
    return {str(e["uid"]): e for e in cal.walk("VEVENT")}


def test_clinic_feed_across_a_clock_change_then_revoked(clinic: Clinic) -> None:
    pid = new_patient(clinic, "F-100", family_name="Doe", given_name="Jane")
    before = _visit(clinic, pid, BEFORE_DST)
    after = _visit(clinic, pid, AFTER_DST, kind="follow-up", nurse=None)

    r = _make(clinic, "nora", scope="clinic")
    assert r.status_code == 201, r.text
    made = r.json()
    assert (made["scope"], made["subject_id"], made["revoked_at"]) == ("clinic", None, None)
    assert urlsplit(made["url"]).path.startswith("/calendar/") and made["url"].endswith(".ics")

    feed = _fetch(clinic, made["url"])
    assert feed.status_code == 200
    assert feed.headers["content-type"] == "text/calendar; charset=utf-8"
    assert feed.headers["cache-control"] == "no-store"
    events = _events(feed)
    assert set(events) == {f"appointment-{before}@openidds", f"appointment-{after}@openidds"}
    saturday, monday = events[f"appointment-{before}@openidds"], events[f"appointment-{after}@openidds"]
    # By hand: 09:00 in Chicago is 15:00 UTC before the change, 14:00 UTC after it.
    assert saturday.decoded("dtstart") == BEFORE_DST
    assert saturday.decoded("dtend") == BEFORE_DST + timedelta(minutes=45)
    assert monday.decoded("dtstart") == AFTER_DST
    assert [e.decoded("dtstart").astimezone(CHICAGO).strftime("%H:%M %Z") for e in (saturday, monday)] == [
        "09:00 CST",
        "09:00 CDT",
    ]
    assert (str(saturday["summary"]), str(monday["summary"])) == ("Refill: MRN F-100 J.D.", "Follow-up: MRN F-100 J.D.")
    assert (str(saturday["status"]), int(saturday["sequence"])) == ("CONFIRMED", 0)
    text = feed.content.decode()
    for secret_detail in ("Doe", "Jane", "morphine", "failed-back-surgery"):
        assert secret_detail not in text

    # Moved and then cancelled: the same UID, a higher SEQUENCE, STATUS:CANCELLED (calendar apps update it).
    clinic.advance(hours=1)
    with clinic.sessions() as s, s.begin():
        a = s.get(Appointment, before)
        assert a is not None
        a.status, a.updated_at = "cancelled", clinic.now
    saturday = _events(_fetch(clinic, made["url"]))[f"appointment-{before}@openidds"]
    assert (str(saturday["status"]), int(saturday["sequence"])) == ("CANCELLED", 1)
    assert saturday.decoded("last-modified") == clinic.now

    r = clinic.call("POST", f"/calendar-feeds/{made['id']}/revoke", "ada")
    assert r.status_code == 200, r.text
    assert r.json()["revoked_by"] == _user_id(clinic, "ada") and "url" not in r.json()
    gone = _fetch(clinic, made["url"])
    unknown = clinic.client.get("/calendar/" + "A" * 43 + ".ics")
    malformed = clinic.client.get("/calendar/nonsense.ics")
    for answer in (gone, unknown, malformed):
        assert answer.status_code == 404
        assert answer.content == gone.content
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["content-type"] == gone.headers["content-type"]
    assert clinic.call("POST", f"/calendar-feeds/{made['id']}/revoke", "ada").status_code == 409

    # Audited: who made it and who revoked it, never the secret.
    secret = urlsplit(made["url"]).path.removeprefix("/calendar/").removesuffix(".ics")
    with clinic.sessions() as s:
        trail = s.scalars(select(AuditRecord).where(AuditRecord.entity == f"calendar-feed/{made['id']}")).all()
        assert [(a.action, a.actor) for a in trail] == [
            ("create-calendar-feed", "nora (nurse)"),
            ("revoke-calendar-feed", "ada (physician)"),
        ]
        assert all(secret not in str((a.before, a.after)) for a in trail)


def test_secret_is_stored_only_as_its_hash_and_replays_without_it(clinic: Clinic) -> None:
    headers = {**clinic.as_("ada"), "Idempotency-Key": "feed-1"}
    first = clinic.client.post("/api/v1/calendar-feeds", json={"scope": "clinician"}, headers=headers)
    assert first.status_code == 201, first.text
    secret = urlsplit(first.json()["url"]).path.removeprefix("/calendar/").removesuffix(".ics")
    assert len(secret) == 43
    again = clinic.client.post("/api/v1/calendar-feeds", json={"scope": "clinician"}, headers=headers)
    assert (again.status_code, again.headers.get("idempotent-replayed")) == (201, "true")
    assert (again.json()["id"], again.json()["url"]) == (first.json()["id"], None)
    with clinic.sessions() as s:
        feeds = s.scalars(select(CalendarFeed)).all()
        assert [(f.scope, f.subject_id) for f in feeds] == [("clinician", _user_id(clinic, "ada"))]
        assert feeds[0].token_hash == hashlib.sha256(secret.encode()).hexdigest()
        for stored in [*s.scalars(select(IdempotencyKey.response)), *s.scalars(select(AuditRecord.after))]:
            assert secret not in str(stored)
    listed = clinic.call("GET", "/calendar-feeds", "ada").json()
    assert [f["id"] for f in listed] == [first.json()["id"]]
    assert "url" not in listed[0] and "token_hash" not in listed[0]


def test_clinician_feed_holds_only_their_visits(clinic: Clinic) -> None:
    pid = new_patient(clinic, "F-200")
    clinic.user("nell", "nurse")
    mine = _visit(clinic, pid, START + timedelta(days=3), nurse="nora")
    _visit(clinic, pid, START + timedelta(days=4), nurse="nell")
    own = _make(clinic, "nora", scope="clinician")
    assert own.status_code == 201, own.text
    assert set(_events(_fetch(clinic, own.json()["url"]))) == {f"appointment-{mine}@openidds"}
    # A physician schedules for the care team: they may make a nurse's feed; a pharmacist only their own.
    nora = _user_id(clinic, "nora")
    assert _make(clinic, "ada", scope="clinician", subject_id=nora).status_code == 201
    assert _make(clinic, "phil", scope="clinician", subject_id=nora).status_code == 403
    assert _make(clinic, "phil", scope="clinician").status_code == 201
    assert clinic.call("POST", f"/calendar-feeds/{own.json()['id']}/revoke", "phil").status_code == 403
    assert clinic.call("POST", "/calendar-feeds/999999/revoke", "phil").status_code == 404
    # nora sees her own two (the one she made and the one made for her), not phil's
    assert sorted(f["subject_id"] for f in clinic.call("GET", "/calendar-feeds", "nora").json()) == [nora, nora]


def test_patient_feed_least_detail_and_who_may_make_it(clinic: Clinic) -> None:
    pid = new_patient(clinic, "F-300", family_name="Roe", given_name="Rita")
    other = new_patient(clinic, "F-301")
    clinic.user("rita", "patient", patient_id=pid)
    visit = _visit(clinic, pid, START + timedelta(days=5))
    _visit(clinic, other, START + timedelta(days=5))

    r = _make(clinic, "rita", scope="patient")
    assert r.status_code == 201, r.text
    assert r.json()["subject_id"] == pid
    feed = _fetch(clinic, r.json()["url"])
    events = _events(feed)
    assert set(events) == {f"appointment-{visit}@openidds"}
    with clinic.sessions() as s:
        settings = current_settings(s)
    event = events[f"appointment-{visit}@openidds"]
    assert str(event["summary"]) == f"Pump refill at {settings.clinic_name}"
    assert settings.in_hours.number in str(event["description"])
    for detail in ("F-300", "Roe", "Rita", "R.R.", "morphine"):
        assert detail not in feed.content.decode()

    # Another patient's record answers as if it did not exist; so does a missing one.
    assert _make(clinic, "rita", scope="patient", subject_id=other).status_code == 404
    assert _make(clinic, "rita", scope="clinic").status_code == 403
    assert _make(clinic, "root", scope="clinic").status_code == 403
    assert _make(clinic, "root", scope="patient", subject_id=pid).status_code == 403
    assert clinic.call("GET", "/calendar-feeds", "root").status_code == 403
    assert _make(clinic, "phil", scope="patient", subject_id=pid).status_code == 403
    assert _make(clinic, "nora", scope="patient", subject_id=10**6).status_code == 404
    # A nurse may make one for the patient; the patient sees both and revokes the nurse's.
    made = _make(clinic, "nora", scope="patient", subject_id=pid).json()
    assert sorted(f["id"] for f in clinic.call("GET", "/calendar-feeds", "rita").json()) == sorted(
        [r.json()["id"], made["id"]]
    )
    assert clinic.call("POST", f"/calendar-feeds/{made['id']}/revoke", "phil").status_code == 403
    assert clinic.call("POST", f"/calendar-feeds/{made['id']}/revoke", "rita").status_code == 200
    assert _fetch(clinic, made["url"]).status_code == 404
    assert _fetch(clinic, r.json()["url"]).status_code == 200
    clinic.user("other", "patient", patient_id=other)
    assert clinic.call("POST", f"/calendar-feeds/{r.json()['id']}/revoke", "other").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scope": "everyone"}, "scope"),
        ({"scope": "clinic", "subject_id": 1}, "subject_id"),
        ({"scope": "clinician", "subject_id": 10**6}, "subject_id"),
        ({"scope": "clinic", "label": ""}, "label"),
        ({"scope": "clinic", "colour": "red"}, "colour"),
    ],
)
def test_bad_input_names_the_field(clinic: Clinic, body: dict[str, Any], field: str) -> None:
    r = _make(clinic, "ada", **body)
    assert (r.status_code, r.json()["field"]) == (422, field), r.text


def test_a_team_feed_stops_while_its_maker_or_clinician_is_disabled(clinic: Clinic) -> None:
    clinic.user("nell", "nurse")
    nell = _user_id(clinic, "nell")
    made_by_nell = _make(clinic, "nell", scope="clinic").json()["url"]
    follows_nell = _make(clinic, "ada", scope="clinician", subject_id=nell).json()["url"]
    pid = new_patient(clinic, "F-400")
    for_patient = _make(clinic, "nell", scope="patient", subject_id=pid).json()["url"]
    assert [_fetch(clinic, u).status_code for u in (made_by_nell, follows_nell, for_patient)] == [200, 200, 200]
    assert clinic.call("POST", f"/users/{nell}/disable", "root").status_code == 200
    assert [_fetch(clinic, u).status_code for u in (made_by_nell, follows_nell, for_patient)] == [404, 404, 200]
    assert clinic.call("POST", f"/users/{nell}/enable", "root").status_code == 200
    assert _fetch(clinic, made_by_nell).status_code == 200
