"""The clinic's monthly report, read from the records of one calendar month on the clinic's wall clock.

Refills completed (within the band or not), the discrepancies, the alarms pumps reported at interrogations, every
override with its reason (soft program findings, pathway gates, fills without the double check, solution changes
without a bridge), missed visits, and the work of each clinician (refill steps, visits). Reads only, no role check:
the caller checks "read-clinic-report".
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from openidds import display
from openidds.db.models import (
    Appointment,
    Implant,
    Interrogation,
    PathwayOverride,
    Patient,
    ProgramVersion,
    Refill,
    User,
)
from openidds.errors import InputError
from openidds.printing.gather import clinic
from openidds.printing.records import Count, MonthlyReport, ReportLine, WorkRow

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def month_bounds(month: str, tz: str) -> tuple[datetime, datetime]:
    """'2026-11' → the first instant of 1 Nov and of 1 Dec on the clinic's wall clock (as aware instants)."""
    found = _MONTH.match(month.strip())
    if found is None or not 1 <= int(found.group(2)) <= 12 or not 1900 <= int(found.group(1)) <= 9998:
        raise InputError("month", f"expected a month such as '2026-11', got {month!r}")
    year, number = int(found.group(1)), int(found.group(2))
    zone = ZoneInfo(tz)
    start = datetime(year, number, 1, tzinfo=zone)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=zone)
    return start, end


def month_of(at: datetime, tz: str) -> str:
    """The month an instant falls in on the clinic's wall clock: '2026-11'."""
    return f"{at.astimezone(ZoneInfo(tz)):%Y-%m}"


def _who(p: Patient | None) -> str:
    return "?" if p is None else f"{p.family_name}, {p.given_name} (MRN {p.mrn})"


def _week(at: datetime, zone: ZoneInfo) -> datetime:
    local = at.astimezone(zone)
    monday = local.date() - timedelta(days=local.weekday())
    return datetime(monday.year, monday.month, monday.day, tzinfo=zone)


def monthly_report(s: Session, month: str, now: datetime) -> MonthlyReport:
    c = clinic()
    zone = ZoneInfo(c.timezone)
    start, end = month_bounds(month, c.timezone)
    patients = {p.id: p for p in s.scalars(select(Patient))}
    users = {u.id: u for u in s.scalars(select(User))}

    def within(column: Any) -> ColumnElement[bool]:
        between: ColumnElement[bool] = column.between(
            start.astimezone(UTC), (end - timedelta(microseconds=1)).astimezone(UTC)
        )
        return between

    completed = list(
        s.scalars(select(Refill).where(Refill.status == "completed", within(Refill.at)).order_by(Refill.at))
    )
    off_band = [r for r in completed if r.reconciliation not in (None, "within-band")]
    unchecked = [r for r in completed if r.checked_by is None]
    discrepancies = [
        ReportLine(
            r.at or start,
            _who(patients.get(r.patient_id)),
            f"{display.capitalize_first((r.reconciliation or '').replace('-', ' '))}: withdrawn "
            f"{display.volume(r.withdrawn_ml)}, expected {display.volume(r.expected_ml)} "
            f"({display.volume_number(r.expected_low_ml or 0)} to {display.volume(r.expected_high_ml)})"
            + (f"; {'; '.join(str(c) for c in r.likely_causes)}" if r.likely_causes else ""),
        )
        for r in off_band
    ]
    weeks: dict[datetime, list[int]] = {}
    day = _week(start, zone)
    while day < end:
        weeks[day] = [0, 0]
        day = (day.replace(tzinfo=None) + timedelta(days=7)).replace(tzinfo=zone)
    for r in completed:
        weeks[_week(r.at or start, zone)][1 if r in off_band else 0] += 1
    per_week = [(display.day(w, zone).split(" ", 1)[1], a, b) for w, (a, b) in weeks.items()]

    interrogations = list(s.scalars(select(Interrogation).where(within(Interrogation.at)).order_by(Interrogation.at)))
    alarms = [
        ReportLine(
            i.at,
            _who(patients.get(i.patient_id)),
            "The pump reported: "
            + ", ".join(
                [str(a).replace("-", " ") for a in i.alarms] + (["replacement indicator (ERI)"] if i.eri else [])
            ),
        )
        for i in interrogations
        if i.alarms or i.eri
    ]

    overrides: list[ReportLine] = []
    programs = list(
        s.scalars(
            select(ProgramVersion).where(within(ProgramVersion.confirmed_at)).order_by(ProgramVersion.confirmed_at)
        )
    )
    for v in programs:
        words = {str(f.get("code")): str(f.get("message", "")) for f in v.findings if isinstance(f, dict)}
        for code, why in v.overrides.items():
            finding = display.capitalize_first(words.get(code) or code)
            overrides.append(
                ReportLine(
                    v.confirmed_at or start,
                    _who(patients.get(v.patient_id)),
                    f"Program v{v.number}: {finding}. Reason: {why}",
                )
            )
        if v.bridge_off_reason:
            overrides.append(
                ReportLine(
                    v.confirmed_at or start,
                    _who(patients.get(v.patient_id)),
                    f"Program v{v.number} changes the solution without a bridge. Reason: {v.bridge_off_reason}",
                )
            )
    for g in s.scalars(select(PathwayOverride).where(within(PathwayOverride.at)).order_by(PathwayOverride.at)):
        overrides.append(
            ReportLine(
                g.at,
                _who(patients.get(g.patient_id)),
                f"{display.capitalize_first(g.step)} past the gate ({g.gate}). Reason: {g.reason}",
            )
        )
    for r in unchecked:
        overrides.append(
            ReportLine(
                r.at or start,
                _who(patients.get(r.patient_id)),
                f"Refill filled without the double check. Reason: {r.emergency_reason or display.NONE}",
            )
        )
    overrides.sort(key=lambda line: line.at)

    visits = list(s.scalars(select(Appointment).where(within(Appointment.starts_at)).order_by(Appointment.starts_at)))
    status = Counter(a.status for a in visits)
    missed = [
        ReportLine(
            a.starts_at,
            _who(patients.get(a.patient_id)),
            f"{display.capitalize_first(a.kind.replace('-', ' '))} visit missed"
            + (f" (with {users[a.nurse_id].full_name})" if a.nurse_id in users else "")
            + (f": {a.status_reason}" if a.status_reason else ""),
        )
        for a in visits
        if a.status == "missed"
    ]

    work: dict[int, Counter[str]] = defaultdict(Counter)
    for r in s.scalars(select(Refill).where(within(Refill.prepared_at))):
        work[r.prepared_by]["prepared"] += 1
    for r in s.scalars(select(Refill).where(within(Refill.checked_at))):
        if r.checked_by is not None:
            work[r.checked_by]["checked"] += 1
    for r in completed:
        if r.recorded_by is not None:
            work[r.recorded_by]["filled"] += 1
    for a in visits:
        if a.nurse_id is not None and a.status in ("attended", "missed"):
            work[a.nurse_id][a.status] += 1
    workload = sorted(
        (
            WorkRow(
                users[uid].full_name if uid in users else "?",
                users[uid].role if uid in users else "?",
                n["prepared"],
                n["checked"],
                n["filled"],
                n["attended"],
                n["missed"],
            )
            for uid, n in work.items()
        ),
        key=lambda w: (w.role != "nurse", w.role, w.name),
    )
    implants = list(s.scalars(select(Implant).where(within(Implant.implanted_at))))
    counts = [
        Count("Refills completed", len(completed)),
        Count("within the expected band", len(completed) - len(off_band)),
        Count("with a discrepancy", len(off_band)),
        Count("filled without the double check", len(unchecked)),
        Count("Program changes confirmed", len(programs)),
        Count("Overrides, with their reasons", len(overrides)),
        Count("Interrogations with an alarm", len(alarms)),
        Count("Implants, replacements and revisions", len(implants)),
        Count("Visits booked in the month", len(visits)),
        Count("attended", status["attended"]),
        Count("missed", status["missed"]),
        Count("cancelled", status["cancelled"]),
    ]
    return MonthlyReport(
        clinic=c,
        month=f"{start:%Y-%m}",
        title=f"{MONTH_NAMES[start.month - 1]} {start.year}",
        start=start,
        end=end,
        printed_at=now,
        counts=counts,
        refills_per_week=per_week,
        discrepancies=discrepancies,
        alarms=alarms,
        overrides=overrides,
        missed=missed,
        workload=workload,
    )
