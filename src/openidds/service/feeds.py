"""Secret calendar feeds: make one, list the ones an actor may see, revoke one, and build a feed's iCalendar.

A feed URL carries a secret (`secrets.token_urlsafe(32)`, 256 bits); only its SHA-256 is stored, so a copy of the
database gives no working URL. The secret is returned once, by `create_feed`, and never again (an Idempotency-Key
replay of the creation answers without it). The public feed is found by the secret's hash: the lookup compares
hashes, never the secret, so its timing says nothing about the secret; an unknown and a revoked secret are the same
"no such feed".

Who may do what (clinic.roles):
- the clinic's feed: "manage-calendar-feeds" (physician, nurse, pharmacist);
- a clinician's feed (the visits where that clinician is the nurse): "manage-calendar-feeds" for one's own;
  a physician or a nurse may also make or revoke another clinician's (scheduling for the care team), a pharmacist
  only their own;
- a patient's feed: "set-contact" for that patient (a physician or a nurse for any patient, a patient for their
  own record; another patient's record answers 404 as if it did not exist).

What a feed says (least detail, a URL can leak): see openidds.clinic.feeds. Making and revoking a feed are audited
(never the secret); reading a feed writes nothing.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from openidds.clinic import feeds as rules
from openidds.clinic.feeds import SCOPES, Scope
from openidds.db.models import Appointment, CalendarFeed, Patient, User
from openidds.errors import InputError
from openidds.service import audit
from openidds.service.access import actor_name, permits, require, require_role
from openidds.service.errors import Conflict, Forbidden, NotFound
from openidds.service.settings import current_settings

CLINICIANS = ("physician", "nurse", "pharmacist")
FOR_OTHERS = ("physician", "nurse")  # may make or revoke another clinician's feed
LABEL_MAX = 60
PAST = timedelta(days=60)  # a feed shows visits from this long ago (recent history, cancellations seen)
AHEAD = timedelta(days=400)  # … to this far ahead
MOST_EVENTS = 2000  # a calendar app polls the feed: bounded work per request
_SECRET = re.compile(r"^[A-Za-z0-9_-]{43}$")  # token_urlsafe(32): 43 URL-safe characters


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def feed_path(secret: str) -> str:
    """The public feed's path on the server (the adapters put their own scheme and host before it)."""
    return f"/calendar/{secret}.ics"


@dataclass(frozen=True)
class NewFeed:
    feed: CalendarFeed
    secret: str  # shown once: nowhere stored


def feed_json(feed: CalendarFeed) -> dict[str, Any]:
    """A feed as the API answers it: never the secret, nor its hash."""
    return {
        "id": feed.id,
        "scope": feed.scope,
        "subject_id": feed.subject_id,
        "label": feed.label,
        "created_by": feed.created_by,
        "created_at": feed.created_at.isoformat(),
        "revoked_at": None if feed.revoked_at is None else feed.revoked_at.isoformat(),
        "revoked_by": feed.revoked_by,
    }


def _scope(value: str) -> Scope:
    if value not in SCOPES:
        raise InputError("scope", f"expected one of {', '.join(SCOPES)}, got {value!r}")
    return value


def _may_manage(actor: User, scope: Scope, subject_id: int | None) -> None:
    """Raise unless `actor` may make or revoke a feed of `scope` for `subject_id` (see the module's docstring)."""
    if scope == "patient":
        assert subject_id is not None
        require_role(actor, "set-contact", patient_id=subject_id)  # 404 for another patient's, 403 for the role
        require(actor, "set-contact", patient_id=subject_id)
        return
    require(actor, "manage-calendar-feeds")
    if scope == "clinician" and subject_id != actor.id and actor.role not in FOR_OTHERS:
        raise Forbidden(f"a {actor.role} may make or revoke only their own clinician feed (or the clinic's)")


def create_feed(
    s: Session, actor: User, scope: str, subject_id: int | None, now: datetime, label: str | None = None
) -> NewFeed:
    """A new feed and its secret (returned once). `subject_id`: none for the clinic's feed; a clinician's user id
    (none: the actor's own); a patient's id (none: a patient's own record). InputError naming the field for a
    subject that does not fit the scope."""
    require_role(actor, "manage-calendar-feeds", "set-contact")  # the admin: 403 whatever the body says
    kind = _scope(scope)
    if kind == "clinic":
        if subject_id is not None:
            raise InputError("subject_id", "the clinic's feed has no subject: leave subject_id out")
    elif kind == "clinician":
        subject_id = actor.id if subject_id is None else subject_id
    elif subject_id is None:
        if actor.patient_id is None:
            raise InputError("subject_id", "a patient's feed needs the patient's id")
        subject_id = actor.patient_id
    if kind == "patient":
        assert subject_id is not None
        _may_manage(actor, kind, subject_id)  # before the lookup: existence is not disclosed to who may not
        patient = s.get(Patient, subject_id)
        if patient is None:
            raise NotFound("no such patient")
        default = f"patient {patient.mrn}"
    elif kind == "clinician":
        _may_manage(actor, kind, subject_id)  # before the lookup: a refusal says nothing about who exists
        clinician = s.get(User, subject_id)
        if clinician is None or clinician.role not in CLINICIANS or not clinician.active:
            raise InputError("subject_id", f"no active physician, nurse or pharmacist with id {subject_id}")
        default = f"visits of {clinician.full_name}"
    else:
        _may_manage(actor, kind, None)
        default = "the clinic's visits"
    text = default if label is None else label.strip()
    if not text or len(text) > LABEL_MAX or not text.isprintable():
        raise InputError("label", f"1 to {LABEL_MAX} printable characters on one line")
    secret = secrets.token_urlsafe(32)
    feed = CalendarFeed(
        scope=kind, subject_id=subject_id, token_hash=digest(secret), label=text, created_by=actor.id, created_at=now
    )
    s.add(feed)
    s.flush()
    audit.record(s, actor_name(actor), "create-calendar-feed", f"calendar-feed/{feed.id}", now, None, feed_json(feed))
    return NewFeed(feed, secret)


def _visible(actor: User) -> Any:
    """The feeds `actor` sees, as a WHERE clause: a clinician the clinic's feeds, their own, and those they made;
    a patient their own record's."""
    if actor.role == "patient":
        return (CalendarFeed.scope == "patient") & (CalendarFeed.subject_id == actor.patient_id)
    return or_(
        CalendarFeed.scope == "clinic",
        (CalendarFeed.scope == "clinician") & (CalendarFeed.subject_id == actor.id),
        CalendarFeed.created_by == actor.id,
    )


def _may_list(actor: User) -> None:
    if actor.role == "patient":
        if actor.patient_id is None:
            raise Forbidden("this patient login has no patient record")
        require(actor, "set-contact", patient_id=actor.patient_id)
    else:
        require(actor, "manage-calendar-feeds")


def visible_feeds(s: Session, actor: User, include_revoked: bool = True) -> list[CalendarFeed]:
    """The feeds `actor` sees, newest first (403 for a role that manages none: the admin)."""
    _may_list(actor)
    query = select(CalendarFeed).where(_visible(actor))
    if not include_revoked:
        query = query.where(CalendarFeed.revoked_at.is_(None))
    return list(s.scalars(query.order_by(CalendarFeed.created_at.desc(), CalendarFeed.id.desc())))


def patient_feeds(s: Session, actor: User, patient_id: int) -> list[CalendarFeed]:
    """One patient's feeds, newest first, for whoever may set the patient's contact (404 for another patient's)."""
    require_role(actor, "set-contact", patient_id=patient_id)
    require(actor, "set-contact", patient_id=patient_id)
    query = select(CalendarFeed).where(CalendarFeed.scope == "patient", CalendarFeed.subject_id == patient_id)
    return list(s.scalars(query.order_by(CalendarFeed.created_at.desc(), CalendarFeed.id.desc())))


def clinicians(s: Session) -> list[User]:
    """The active physicians, nurses and pharmacists (whose visits a clinician feed can follow), by name."""
    query = select(User).where(User.role.in_(CLINICIANS), User.active.is_(True)).order_by(User.full_name, User.id)
    return list(s.scalars(query))


def may_make_for_others(actor: User) -> bool:
    return actor.role in FOR_OTHERS and permits(actor, "manage-calendar-feeds")


def revoke_feed(s: Session, actor: User, feed_id: int, now: datetime) -> CalendarFeed:
    """End a feed's URL for good (a feed is never brought back: make a new one). 404 for no such feed (for a
    patient: none of their own record's), 403 for one the actor may not revoke, 409 when it is already revoked."""
    _may_list(actor)
    feed = s.scalars(
        select(CalendarFeed)
        .where(CalendarFeed.id == feed_id, _visible(actor))
        .execution_options(populate_existing=True)
    ).first()
    if feed is None and actor.role != "patient":
        # A feed the clinician does not list (another's, or a patient's): the rules below say whether they may
        # revoke it (403 if not). A feed's id tells a clinician nothing about a patient.
        feed = s.get(CalendarFeed, feed_id)
    if feed is None:
        raise NotFound(f"no such calendar feed: {feed_id}")
    _may_manage(actor, _scope(feed.scope), feed.subject_id)
    if feed.revoked_at is not None:
        raise Conflict(f"calendar feed {feed_id} was already revoked on {feed.revoked_at.isoformat()}")
    before = feed_json(feed)
    feed.revoked_at, feed.revoked_by = now, actor.id
    s.flush()
    audit.record(s, actor_name(actor), "revoke-calendar-feed", f"calendar-feed/{feed.id}", now, before, feed_json(feed))
    return feed


def feed_for_secret(s: Session, secret: str) -> CalendarFeed | None:
    """The live feed whose secret this is; None for anything else (malformed, unknown or revoked alike).

    A care-team feed (clinic or clinician) also stops while the login that made it, or the clinician it follows,
    is disabled: someone who left the clinic keeps no MRNs flowing to their phone (enabled again, it works again).
    A patient's feed stays: it is theirs, whoever made it."""
    if not _SECRET.match(secret):
        return None
    feed = s.scalars(select(CalendarFeed).where(CalendarFeed.token_hash == digest(secret))).first()
    if feed is None or feed.revoked_at is not None:
        return None
    if feed.scope != "patient":
        people = {feed.created_by} | ({feed.subject_id} if feed.scope == "clinician" and feed.subject_id else set())
        active = s.scalars(select(User.active).where(User.id.in_(people))).all()
        if len(active) != len(people) or not all(active):
            return None
    return feed


def feed_calendar(s: Session, feed: CalendarFeed, now: datetime) -> bytes:
    """The feed's visits from PAST ago to AHEAD on, as iCalendar bytes (see openidds.clinic.feeds)."""
    settings = current_settings(s)
    clinic = rules.Clinic(settings.clinic_name, settings.in_hours.number, settings.in_hours.hours, settings.timezone)
    scope = _scope(feed.scope)
    query = (
        select(Appointment, Patient.mrn, Patient.given_name, Patient.family_name)
        .join(Patient, Patient.id == Appointment.patient_id)
        .where(Appointment.starts_at >= now - PAST, Appointment.starts_at < now + AHEAD)
        .order_by(Appointment.starts_at, Appointment.id)
        .limit(MOST_EVENTS)
    )
    if scope == "clinician":
        query = query.where(Appointment.nurse_id == feed.subject_id)
    elif scope == "patient":
        query = query.where(Appointment.patient_id == feed.subject_id)
    visits = []
    for a, mrn, given, family in s.execute(query):
        team = scope != "patient"  # a patient's own feed names nobody: the phone's owner knows who they are
        visits.append(
            rules.Visit(
                id=a.id,
                kind=a.kind,
                starts_at=a.starts_at,
                minutes=a.minutes,
                status=a.status,
                version=a.version,
                updated_at=a.updated_at,
                mrn=mrn if team else "",
                initials=rules.initials(given, family) if team else "",
            )
        )
    name = f"{settings.clinic_name}: visits" if scope != "patient" else f"{settings.clinic_name}: my pump visits"
    return rules.calendar(name, scope, clinic, visits, now)


def may_see_feeds(actor: User) -> bool:
    """Whether a screen offers the feeds page to `actor`."""
    if actor.role == "patient":
        return actor.patient_id is not None and permits(actor, "set-contact", patient_id=actor.patient_id)
    return permits(actor, "manage-calendar-feeds")
