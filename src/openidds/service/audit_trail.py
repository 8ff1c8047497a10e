"""Reading the audit trail: filtered, newest first, a page at a time or all of it (for an export).

Who may read it is the role matrix's `read-audit` (admin and physician). What a record says before and after a
change is clinical data for most records (a program, a refill, a patient's details): it is shown only to a role
that may read any patient's record, never to the admin, who manages users and the trail and reads no clinical
record (least privilege). The API (GET /api/v1/audit) and the web admin read it through here: one rule.

Every row is read defensively (service.audit.stored_records): a before or after that cannot be read (garbage,
nested past the chain's bound, a float, bytes that are not UTF-8) is shown as unreadable, with why, and the rest of
the trail as it is.

The hashes go with before and after (`sees_payloads`): a record's hash is sha256 of the previous hash and the
record, before and after included, so a reader who had the hashes could confirm a guess of what was withheld.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openidds.clinic import audit as chain
from openidds.clinic.roles import MATRIX
from openidds.db.models import AuditRecord, User
from openidds.errors import InputError
from openidds.programs.clock import from_us, to_us
from openidds.service.access import require
from openidds.service.audit import STORED_COLUMNS, StoredQuery, stored_records
from openidds.validation import instant_problem, text_problem

Payload = Literal["shown", "withheld", "unreadable"]

PER_PAGE = 50
TEXT_MAX = 120  # the longest filter text (an actor is at most 120 characters, an entity 80)


@dataclass(frozen=True)
class AuditQuery:
    """What to look for; every part is optional. Texts match anywhere, ignoring case; `action` matches whole."""

    actor: str = ""
    action: str = ""
    entity: str = ""
    since: datetime | None = None  # from this instant on
    until: datetime | None = None  # before this instant


@dataclass(frozen=True)
class AuditEntry:
    sequence: int
    at: datetime
    actor: str
    action: str
    entity: str
    before: Any  # None when the reader may not see what changed (or nothing was there), or it is unreadable
    after: Any
    payload: Payload = "shown"  # withheld: this reader may not see before and after
    unreadable: str | None = None  # why the stored row cannot be read (the chain's verification names it too)
    at_us: int = 0  # the instant as the chain hashes it (µs UTC)
    # None when the reader may not see before and after: the hash covers them, so anyone who had it could confirm a
    # guess of what was withheld (sha256 of the previous hash and the guessed record). Such a reader checks the
    # chain through verification (service.audit.verify), which names findings, never a record's hash in full.
    previous_hash: str | None = None
    hash: str | None = None


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    total: int  # records that match, on every page
    page: int  # 1 is the newest
    pages: int
    payloads: bool  # whether before and after are shown to this reader
    per_page: int = PER_PAGE

    @property
    def first(self) -> int:
        """The position of the page's first entry among the matches (1-based; 0 when there are none)."""
        return 0 if not self.entries else (self.page - 1) * self.per_page + 1

    @property
    def last(self) -> int:
        return 0 if not self.entries else self.first + len(self.entries) - 1


def filter_text(text: str, field: str) -> str:
    """A filter's text as looked for, or InputError naming `field`: no control or invisible character (PostgreSQL
    refuses a NUL in a query: it was a 500), at most TEXT_MAX characters (none longer is stored)."""
    problem = text_problem(text)
    if problem is None and len(text) > TEXT_MAX:
        problem = f"at most {TEXT_MAX} characters, got {len(text)}"
    if problem is not None:
        raise InputError(field, problem)
    return text


def checked(query: AuditQuery) -> AuditQuery:
    """`query` if every part of it can be looked for, else InputError naming the first part that cannot (a text as
    filter_text; an instant outside the years 1970 to 2199)."""
    for field in ("actor", "action", "entity"):
        filter_text(getattr(query, field), field)
    for field, instant in (("since", query.since), ("until", query.until)):
        problem = None if instant is None else instant_problem(instant)
        if problem is not None:
            raise InputError(field, problem)
    return query


def sees_payloads(user: User) -> bool:
    """Whether `user` may see what the records say before and after: only a role that reads any patient's record."""
    return any(role == user.role and access == "any" for role, access in MATRIX["read-patient"].items())


def find(s: Session, user: User, query: AuditQuery, page: int = 1, per_page: int = PER_PAGE) -> AuditPage:
    """One page of the matching records, newest first (a page past the last is the last)."""
    require(user, "read-audit")
    query = checked(query)
    total = s.scalar(select(func.count()).select_from(_matching(query).subquery())) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(page, 1), pages)
    rows = stored_records(
        s, _matching(query).order_by(AuditRecord.sequence.desc()).offset((page - 1) * per_page).limit(per_page)
    )
    payloads = sees_payloads(user)
    return AuditPage([_entry(r, payloads) for r in rows], total, page, pages, payloads, per_page)


def export(s: Session, user: User, query: AuditQuery) -> Iterator[AuditEntry]:
    """Every matching record, newest first."""
    require(user, "read-audit")
    query = checked(query)  # refused before the first row (the CSV is not half written)
    payloads = sees_payloads(user)
    for r in stored_records(s, _matching(query).order_by(AuditRecord.sequence.desc())):
        yield _entry(r, payloads)


def oldest_first(s: Session, user: User, entity: str = "", after: int = 0, limit: int = PER_PAGE) -> list[AuditEntry]:
    """The records after sequence number `after`, oldest first, at most `limit`; `entity` matches its start (e.g.
    `patient/12/program`). What the API lists, with before and after only for a reader who `sees_payloads`."""
    require(user, "read-audit")
    q = _matching(AuditQuery()).where(AuditRecord.sequence > after)
    if filter_text(entity, "entity"):
        q = q.where(AuditRecord.entity.startswith(entity, autoescape=True))
    payloads = sees_payloads(user)
    return [_entry(r, payloads) for r in stored_records(s, q.order_by(AuditRecord.sequence).limit(limit))]


def actions(s: Session, user: User) -> list[str]:
    """The actions the trail holds, for choosing one (an action stored as no text, or not as UTF-8, left out: it
    cannot be chosen, and verification names its record)."""
    require(user, "read-audit")
    found = s.scalars(select(AuditRecord.action).distinct().order_by(AuditRecord.action))
    return [a for a in found if isinstance(a, str) and chain.is_utf8(a)]


def _matching(query: AuditQuery) -> StoredQuery:
    q = select(*STORED_COLUMNS)
    if query.actor:
        q = q.where(AuditRecord.actor.icontains(query.actor[:TEXT_MAX], autoescape=True))
    if query.action:
        q = q.where(AuditRecord.action == query.action[:TEXT_MAX])
    if query.entity:
        q = q.where(AuditRecord.entity.icontains(query.entity[:TEXT_MAX], autoescape=True))
    if query.since is not None:
        q = q.where(AuditRecord.at >= to_us(query.since))
    if query.until is not None:
        q = q.where(AuditRecord.at < to_us(query.until))
    return q


def _entry(r: chain.AuditRecord, payloads: bool) -> AuditEntry:
    shown = payloads and r.unreadable is None
    payload: Payload = "unreadable" if r.unreadable is not None else "shown" if payloads else "withheld"
    # The hashes go with the payload: shown exactly to whoever `sees_payloads` (an unreadable row too, to them).
    return AuditEntry(
        r.sequence,
        from_us(r.at),
        r.actor,
        r.action,
        r.entity,
        r.before if shown else None,
        r.after if shown else None,
        payload,
        r.unreadable,
        r.at,
        r.previous_hash if payloads else None,
        r.hash if payloads else None,
    )
