"""The dashboard read (GET /api/v1/dashboard): every patient's status row, ranked by the pure core at the request's
own instant (openidds.clinic.dashboard.triage), most urgent first.

What the rows hold changes only when something is written; what they mean changes with the clock. So the rows are
read and parsed once per *dashboard version* and kept per process (per engine): the version is a counter that
database triggers bump on every change to patients or patient_status, in the writer's own transaction
(db.models.DashboardVersion, migration 0003). Each request reads the version (one one-row query); on a new
version it reads every row again. Then it ranks every patient at its own `now` (or reuses the last ranking of those
rows while it holds: until the next instant at which a patient's refill, replacement or projected alarm crosses a
threshold, see clinic.dashboard.Ranking), and puts in words, at its own `now`, only the rows it returns. Nothing
here depends on the minute: the answer is the same as reading and ranking every row on every request.

A write shows at once: its transaction bumps the version, so any read that starts after the commit sees the new
version and reads the rows again. Only committed rows are kept (read on a connection of their own, the version
first, so the rows are at least that recent); a transaction that sees a version other than the kept one (its own
writes, not committed yet) reads its rows itself. Committed versions only grow and a writer holds the counter until
it commits, so a transaction's own uncommitted version is never one that is kept.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any
from weakref import WeakKeyDictionary
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import Engine, String, Text, cast, select, type_coerce
from sqlalchemy.orm import Session

from openidds import display
from openidds.clinic.dashboard import ActiveAlarm, PatientSnapshot, ProjectedAlarm, Ranking, rank, triage
from openidds.data import load_clinic_settings
from openidds.db.models import DashboardVersion, Patient, PatientStatus, User
from openidds.db.types import exact_from_text
from openidds.programs.clock import from_us, to_us
from openidds.quantities.units import format_number
from openidds.service.access import require

URGENT_FLAG = ("an urgent follow-up flag is open",)


@dataclass(frozen=True, slots=True)
class _Rows:
    version: int | None
    snapshots: list[PatientSnapshot]
    # Each patient's row as answered, less what depends on the instant (None here, filled in per request on a
    # copy). Shared by every request of one version: never changed in place.
    shown: dict[str, dict[str, Any]]
    ranking: list[Ranking]  # the last ranking of these snapshots (one at most): reused while it holds
    parsed: dict[tuple[Any, ...], tuple[PatientSnapshot, dict[str, Any]]]  # by the row as read: for the next version


_kept: WeakKeyDictionary[Engine, _Rows] = WeakKeyDictionary()
_loading: WeakKeyDictionary[Engine, threading.Lock] = WeakKeyDictionary()
_guard = threading.Lock()


def dashboard_page(
    s: Session, actor: User, now: datetime, limit: int | None = None
) -> tuple[list[dict[str, Any]], int]:
    """The first `limit` rows of the dashboard (every row when None), and how many patients it has."""
    require(actor, "read-dashboard")
    with _collector_paused():
        rows = _rows(s)
        out = []
        at = to_us(now)
        ranking = rows.ranking[0] if rows.ranking else None
        if ranking is None or not ranking.holds(at):
            ranking = rank(rows.snapshots, at)
            rows.ranking[:] = [ranking]
        for row in triage(rows.snapshots, at, limit, ranking, _clinic_clock()):
            shown = rows.shown[row.patient_id].copy()
            shown["urgency"], shown["refill"] = row.urgency, row.refill
            shown["withdrawal_risk"], shown["concerns"] = row.withdrawal_risk, [c.message for c in row.concerns]
            out.append(shown)
    return out, len(rows.snapshots)


def _clinic_clock() -> Callable[[int], str]:
    """Instants in the concerns' words on the clinic's clock, with its abbreviation (openidds.display)."""
    return _clock_for(load_clinic_settings().timezone)


@lru_cache(maxsize=8)
def _clock_for(zone: str) -> Callable[[int], str]:
    @lru_cache(maxsize=1 << 16)  # a dashboard names the same instants on every read
    def at(us: int) -> str:
        return display.instant(from_us(us), zone)

    return at


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Thousands of rows made at once, none of them in a reference cycle: the cyclic collector would walk them again
    and again while they are made (more than doubling the time of a full read), and reference counting frees them
    anyway. So it waits for the read (it runs at the next allocation after). Whoever finds it running resumes it."""
    running = gc.isenabled()
    if running:
        gc.disable()
    try:
        yield
    finally:
        if running:
            gc.enable()


def _rows(s: Session) -> _Rows:
    """The rows as this transaction sees them: kept ones when their version is the one it sees."""
    version = s.scalar(select(DashboardVersion.version).where(DashboardVersion.id == 1))
    if version is None:  # no counter (a schema not made by the migrations): nothing can be kept
        return _read(s, None)
    engine = s.get_bind().engine
    kept = _kept.get(engine)
    if kept is None or kept.version != version:
        with _guard:
            lock = _loading.setdefault(engine, threading.Lock())
        with lock:  # one reader at a time per engine; the others then find its rows
            kept = _kept.get(engine)
            if kept is None or kept.version != version:
                kept = _read_committed(engine, kept)
                with _guard:
                    _kept[engine] = kept
    if kept.version == version:
        return kept
    # This transaction sees another version than the committed one: its own writes (not committed yet), or a
    # commit since it began. Read what it sees, keep nothing.
    return _read(s, version, kept)


def _read_committed(engine: Engine, previous: _Rows | None) -> _Rows:
    """The committed rows, on a connection of their own: what is kept never includes a transaction's writes that
    might still be rolled back. The version is read first: the rows are at least that recent."""
    with Session(engine) as fresh:
        version = fresh.scalar(select(DashboardVersion.version).where(DashboardVersion.id == 1))
        return _read(fresh, version, previous)


_Parsed = tuple[PatientSnapshot, dict[str, Any]]


def _read(s: Session, version: int | None, previous: _Rows | None = None) -> _Rows:
    """Every patient with a status row: one query, only the columns shown. A row read exactly as before (usually
    all but the few a write changed) is taken from `previous` as it was parsed then."""
    st = PatientStatus
    result = s.connection().execute(
        select(
            Patient.id,
            Patient.mrn,
            Patient.family_name,
            Patient.given_name,
            Patient.stage,
            type_coerce(st.next_refill_due, String),  # instants as the driver gives them: see _utc
            st.refill_reason,
            type_coerce(st.reservoir_ml, String),  # the stored exact number as text
            st.withdrawal_risk,
            cast(st.active_alarms, Text),  # JSON as text: orjson reads it faster than the JSON type's json.loads
            cast(st.projected_alarms, Text),
            type_coerce(st.replacement_due, String),
            type_coerce(st.eri_at, String),
            type_coerce(st.end_of_service, String),
            st.urgent_flags,
            cast(st.flags, Text),
            st.pending_program,
            st.refill_earliest,
            st.refill_latest,
            type_coerce(st.booked_refill_at, String),
            cast(st.refill_window, Text),
        ).join(st, st.patient_id == Patient.id)
    )
    before = {} if previous is None else previous.parsed
    parsed: dict[tuple[Any, ...], _Parsed] = {}
    snapshots = []
    shown = {}
    for row in result.all():
        raw = tuple(row)
        known = before.get(raw)
        if known is None:
            known = _parse(raw)
        parsed[raw] = known
        snapshots.append(known[0])
        shown[known[0].patient_id] = known[1]
    return _Rows(version, snapshots, shown, [], parsed)


def _parse(raw: tuple[Any, ...]) -> _Parsed:
    """A patient's snapshot for the pure triage, and their row as answered less what depends on the instant."""
    (
        pid,
        mrn,
        family,
        given,
        stage,
        due,
        reason,
        reservoir,
        withdrawal,
        active_json,
        projected_json,
        replace,
        eri,
        eos,
        flags,
        open_json,
        pending,
        earliest,
        latest,
        booked,
        window_json,
    ) = raw
    due, replace, eri, eos = _utc(due), _utc(replace), _utc(eri), _utc(eos)
    key = str(pid)
    active, projected = orjson.loads(active_json), orjson.loads(projected_json)
    open_flags = orjson.loads(open_json) if open_json else []
    window = orjson.loads(window_json) if window_json and window_json != "null" else None
    past_latest = missed = ""
    if window is not None:
        if window.get("overdue"):
            past_latest = (
                f"past the latest safe day ({display.calendar_day(date.fromisoformat(window['latest']))}): refill now"
            )
        if window.get("missed_on") and booked is None:
            day = display.calendar_day(date.fromisoformat(window["missed_on"]))
            missed = f"refill visit on {day} missed, nothing booked since: reach the patient and rebook"
    snapshot = PatientSnapshot(
        patient_id=key,
        next_refill_due=None if due is None else to_us(due),
        withdrawal_risk=withdrawal,
        active_alarms=tuple(ActiveAlarm(a["alarm"], a["priority"]) for a in active),
        projected_alarms=tuple(
            ProjectedAlarm(
                a["alarm"] + (" (no alarm on this pump: nobody is warned)" if a.get("silent") else ""),
                a["priority"],
                to_us(datetime.fromisoformat(a["at"])),
            )
            for a in projected
        ),
        replacement_due=None if replace is None else to_us(replace),
        end_of_service=None if eos is None else to_us(eos),
        urgent_flags=tuple(f["message"] for f in open_flags if f["urgent"]) or URGENT_FLAG * min(flags, 1),
        review_flags=tuple(f["message"] for f in open_flags if not f["urgent"]),
        pending_program=pending or "",
        booked_late=_booked_late(booked, latest),
        past_latest=past_latest,
        missed=missed,
    )
    shown = {
        "patient_id": pid,
        "mrn": mrn,
        "name": f"{family}, {given}",
        "stage": stage,
        "urgency": None,
        "refill": None,
        "next_refill_due": None if due is None else due.isoformat(),
        "refill_reason": reason,
        "reservoir_ml": None if reservoir is None else format_number(exact_from_text(reservoir), 9),
        "withdrawal_risk": None,
        "active_alarms": active,
        "projected_alarms": projected,
        "replacement_due": None if replace is None else replace.isoformat(),
        "eri_at": None if eri is None else eri.isoformat(),
        "end_of_service": None if eos is None else eos.isoformat(),
        "urgent_flags": flags,
        "flags": open_flags,
        "pending_program": pending or "",
        "refill_earliest": _day(earliest),
        "refill_latest": _day(latest),
        "refill_window_words": None if window is None else window["words"],
        "booked_refill_at": None if booked is None else _utc(booked).isoformat(),  # type: ignore[union-attr]
        "concerns": None,
    }
    return snapshot, shown


def _booked_late(booked: datetime | str | None, latest: date | str | None) -> str:
    """Words when the next refill booked falls on a clinic day after the latest safe day ("" otherwise)."""
    at, last = _utc(booked), _day(latest)
    if at is None or last is None:
        return ""
    zone = load_clinic_settings().timezone  # the clinic's days (the zone is the settings file's, never edited)
    booked_day = at.astimezone(ZoneInfo(zone)).date()
    latest_day = date.fromisoformat(last)
    if booked_day <= latest_day:
        return ""
    return (
        f"refill booked on {display.calendar_day(booked_day)}, after the latest safe day "
        f"({display.calendar_day(latest_day)}): book it earlier"
    )


def _day(stored: date | str | None) -> str | None:
    """A date column as the driver gives it (a date, or SQLite's text), as YYYY-MM-DD."""
    if stored is None:
        return None
    return stored if isinstance(stored, str) else stored.isoformat()


def _utc(stored: datetime | str | None) -> datetime | None:
    """An instant as db.types.UTCDateTime hands it back (aware, UTC), from what the driver gives for the column
    read without it: the stored text from SQLite ('2028-11-21 15:00:00.000000'), a naive UTC datetime from
    PostgreSQL. (Cheaper to read, and to compare with the previous version's rows.)"""
    if stored is None:
        return None
    return (datetime.fromisoformat(stored) if isinstance(stored, str) else stored).replace(tzinfo=UTC)
