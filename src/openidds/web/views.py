"""What the pages show, read from the records and the patient's twin. Reads only: every write is a use case.

The numbers come from the same code the API and the use cases run: `pump_state` (the twin replayed from the
records), `project_from` (next refill due and projected alarms), `project` and `review.settings` (daily doses),
`pathway.dashboard` (triage). Nothing here decides anything clinical; it arranges what those say.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from openidds.calculations import project, stability_limit
from openidds.clinic.dashboard import REPLACEMENT_SOON_US
from openidds.data import load_clinic_settings
from openidds.db.models import (
    Evaluation,
    Flag,
    FollowUp,
    Implant,
    Interrogation,
    Patient,
    PatientStatus,
    ProgramVersion,
    Refill,
    RemoteRequest,
    Trial,
    User,
)
from openidds.programs.clock import DAY_US, from_us, to_us
from openidds.review import settings
from openidds.service.programs import active_version
from openidds.service.pump import PumpState, fill_expiry, program_of, project_from, pump_state
from openidds.service.queues import work_queues
from openidds.web import charts
from openidds.web import format as fmt

ACTIVE_STATUSES = ("active", "superseded")
REMOTE_IN_TIMELINE = 20  # the remote can be pressed many times a day: the timeline shows the latest


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: str  # evaluation, trial, implant, program, refill, follow-up, interrogation, remote
    title: str
    detail: str = ""
    link: str = ""
    alert: bool = False


def names(s: Session, ids: Sequence[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {u.id: u.full_name for u in s.scalars(select(User).where(User.id.in_(wanted)))}


def timeline(s: Session, patient: Patient) -> list[Entry]:
    """The whole pathway, newest first."""
    pid = patient.id
    base = f"/patients/{pid}"
    out: list[Entry] = []
    for e in s.scalars(select(Evaluation).where(Evaluation.patient_id == pid)):
        open_items = [r for r in e.reasons if r.get("status") in ("contraindication", "needs-review")]
        out.append(
            Entry(
                e.recorded_at,
                "evaluation",
                f"Candidate evaluation: {fmt.words(e.outcome)}",
                "; ".join(str(r["message"]) for r in open_items[:3]),
                alert=e.outcome == "not-eligible",
            )
        )
    for t in s.scalars(select(Trial).where(Trial.patient_id == pid)):
        d = t.details
        out.append(
            Entry(
                t.recorded_at,
                "trial",
                f"Trial ({fmt.words(str(d.get('method', '')))}, {d.get('drug', '')}): {fmt.words(t.outcome)}",
                t.rule,
                alert=t.outcome == "failure",
            )
        )
    for i in s.scalars(select(Implant).where(Implant.patient_id == pid)):
        what = {"implant": "Implant", "replacement": "Pump replacement", "revision": "Catheter revision"}
        out.append(
            Entry(
                i.implanted_at,
                "implant",
                f"{what.get(i.kind, i.kind)}: {i.pump_model} (serial {i.pump_serial})",
                f"catheter {i.catheter_model}, {fmt.number(i.catheter_length_cm)} cm, tip at {i.tip_level}; "
                f"surgeon {i.surgeon}",
            )
        )
    for v in s.scalars(select(ProgramVersion).where(ProgramVersion.patient_id == pid)):
        detail = ""
        if v.overrides:
            detail = "overrides: " + "; ".join(f"{k}: {why}" for k, why in v.overrides.items())
        elif v.closed_reason:
            detail = v.closed_reason
        out.append(
            Entry(
                v.proposed_at,
                "program",
                # dated when it was proposed: once it ran later, say so, not what it is now as if it were then
                (
                    f"Program version {v.number} proposed (now {fmt.words(v.status)})"
                    if v.effective_at is not None and v.effective_at != v.proposed_at
                    else f"Program version {v.number}: {fmt.words(v.status)}"
                )
                + (" (bridge)" if v.bridge else ""),
                detail,
                f"{base}/programs/{v.number}",
                alert=v.status in ("refused", "awaiting-refill"),
            )
        )
        if v.effective_at is not None and v.effective_at != v.proposed_at:
            how = " with the refill that brought its solution" if v.applied_by is not None else ""
            out.append(
                Entry(
                    v.effective_at,
                    "program",
                    f"Program version {v.number} starts running{how}" + (", after a bridge bolus" if v.bridge else ""),
                    "",
                    f"{base}/programs/{v.number}",
                )
            )
    for r in s.scalars(select(Refill).where(Refill.patient_id == pid)):
        solution = ", ".join(f"{d['name']} {d['concentration']}" for d in r.solution)
        if r.status == "completed" and r.at is not None:
            unchecked = " (filled without its check)" if r.checked_by is None and r.emergency_reason else ""
            out.append(
                Entry(
                    r.at,
                    "refill",
                    f"Refill: {fmt.words(r.reconciliation or '')}{unchecked}",
                    f"withdrawn {fmt.volume(r.withdrawn_ml)}, expected {fmt.volume(r.expected_ml)}; "
                    f"filled {fmt.volume(r.filled_ml)} of {solution} (lot {r.drug_lot})",
                    f"{base}/refills/{r.id}",
                    alert=r.reconciliation != "within-band" or bool(unchecked),
                )
            )
        else:
            out.append(
                Entry(
                    r.prepared_at,
                    "refill",
                    f"Refill {fmt.words(r.status)}: {solution}",
                    f"{fmt.volume(r.volume_ml)}, lot {r.drug_lot}"
                    + (f"; {r.cancel_reason}" if r.cancel_reason else ""),
                    f"{base}/refills/{r.id}",
                )
            )
    for flag in s.scalars(select(Flag).where(Flag.patient_id == pid)):
        out.append(
            Entry(
                flag.raised_at,
                "flag",
                ("Urgent: " if flag.urgent else "Review: ") + flag.message,
                "resolved: " + flag.resolution if flag.resolved_at is not None else "open",
                f"{base}/flags/{flag.id}",
                alert=flag.resolved_at is None,
            )
        )
    for f in s.scalars(select(FollowUp).where(FollowUp.patient_id == pid)):
        scores = []
        if "pain" in f.scores:
            scores.append(f"NRS {f.scores['pain']['nrs']}")
        if "oswestry" in f.scores and f.scores["oswestry"].get("percent") is not None:
            scores.append(f"ODI {fmt.number(f.scores['oswestry']['percent_exact'])} %")
        if "phq9" in f.scores:
            scores.append(f"PHQ-9 {f.scores['phq9']['total']}")
        flags = [str(x["message"]) for x in f.flags if x.get("urgent")]
        out.append(
            Entry(
                f.at,
                "follow-up",
                "Follow-up" + (f": {', '.join(scores)}" if scores else ""),
                "; ".join(flags),
                f"{base}/follow-ups/{f.id}",
                alert=f.urgent and f.resolved_at is None,
            )
        )
    for q in s.scalars(select(Interrogation).where(Interrogation.patient_id == pid)):
        bits = []
        if q.reservoir_ml is not None:
            bits.append(f"reservoir {fmt.volume(q.reservoir_ml)}")
        if q.alarms:
            bits.append("alarms: " + ", ".join(q.alarms))
        if q.eri:
            bits.append("elective replacement indicator")
        out.append(Entry(q.at, "interrogation", "Pump interrogated", "; ".join(bits), alert=bool(q.alarms) or q.eri))
    remote = list(
        s.scalars(
            select(RemoteRequest)
            .where(RemoteRequest.patient_id == pid)
            .order_by(RemoteRequest.at.desc())
            .limit(REMOTE_IN_TIMELINE)
        )
    )
    for rq in remote:
        out.append(Entry(rq.at, "remote", "Remote: dose given" if rq.accepted else "Remote: denied", rq.reason))
    out.reverse()  # at equal instants, the later step of the pathway first
    out.sort(key=lambda e: e.at, reverse=True)
    return out


# --- the program and the pump -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CurrentProgram:
    number: int
    settings: dict[str, str]
    doses: list[tuple[str, str, str]]  # (drug, daily dose, worst case with every patient bolus)
    document: str


def current_program(s: Session, patient_id: int) -> CurrentProgram | None:
    version = active_version(s, patient_id)
    if version is None:
        return None
    program = program_of(version)
    projection = project(program)
    units = {i.drug.name: i.drug.dose_rate_unit for i in program.solution}
    doses = [
        (name, fmt.dose(d.program, units.get(name)), fmt.dose(d.worst_case, units.get(name)))
        for name, d in projection.daily_dose.items()
    ]
    return CurrentProgram(version.number, settings(program, projection), doses, version.document)


@dataclass(frozen=True)
class PumpNow:
    reservoir_ml: Fraction
    fill_at: datetime
    fill_ml: Fraction
    refill_due: datetime
    refill_reason: str
    projected: list[dict[str, str]]
    alarms: list[str]
    mode: str
    drugs: list[tuple[str, str]]  # (name, concentration)
    low_alarm_ml: Fraction
    stability_until: datetime
    empty_at: datetime | None  # with every allowed patient bolus
    low_at: datetime | None
    empty_program_at: datetime | None  # the schedule alone
    eri_at: datetime | None
    end_of_service: datetime | None
    replace_by: datetime | None  # plan the replacement by (clinic.replacement: one rule with the dashboard)
    bridge_ends_at: datetime | None  # a bridge bolus running: when the new program starts
    state: PumpState = field(repr=False)


def pump_now(s: Session, patient_id: int, now: datetime) -> PumpNow | None:
    state = pump_state(s, patient_id, now)
    if state is None:
        return None
    twin, program = state.twin, state.program
    due, reason, projected = project_from(twin, program, fill_expiry(s, patient_id, twin))
    fill_at = from_us(twin.recorded_fill_at)
    stable = fill_at + timedelta(days=float(stability_limit(program).value.to("day")))
    left = twin.reservoir
    empty_worst = twin.projected_at(left)
    empty_program = twin.projected_at(left, worst_case=False)
    low = program.reservoir.low_alarm.to("mL")
    low_at = twin.projected_at(left - low) if left > low else None
    row = s.get(PatientStatus, patient_id)  # one replacement rule: the row service.pump.refresh_status wrote
    eri_at = eos = replace_by = None
    if row is not None:
        eri_at, eos, replace_by = row.eri_at, row.end_of_service, row.replacement_due
    return PumpNow(
        reservoir_ml=left,
        fill_at=fill_at,
        fill_ml=twin.recorded_fill,
        refill_due=due,
        refill_reason=reason,
        projected=projected,
        alarms=[a.name for a in twin.alarms if a.cleared_at is None],
        mode=twin.mode,
        drugs=[(i.drug.name, str(i.concentration)) for i in twin.solution],
        low_alarm_ml=low,
        stability_until=stable,
        empty_at=None if empty_worst is None else from_us(empty_worst),
        low_at=None if low_at is None else from_us(low_at),
        empty_program_at=None if empty_program is None else from_us(empty_program),
        eri_at=eri_at,
        end_of_service=eos,
        replace_by=replace_by,
        bridge_ends_at=None if twin.bridge_ends_at is None else from_us(twin.bridge_ends_at),
        state=state,
    )


def reservoir_chart(pump: PumpNow, tz: str, now: datetime) -> charts.Chart:
    """The reservoir from the last fill to empty: what is left now, then the schedule alone and the worst case
    (every allowed patient bolus), with the low-reservoir level, the refill due, stability and empty marked."""
    program = pump.state.program
    t_now = to_us(now)
    left = pump.reservoir_ml
    horizon = max(
        [t for t in (pump.empty_at, pump.refill_due, pump.stability_until) if t is not None] + [now + timedelta(days=1)]
    )
    if pump.empty_program_at is not None:
        horizon = max(horizon, min(pump.empty_program_at, pump.stability_until + timedelta(days=30)))
    end = horizon + (horizon - pump.fill_at) / 20
    samples = 72
    schedule: list[tuple[datetime, float]] = []
    worst: list[tuple[datetime, float]] = []
    step = max((to_us(end) - t_now) // samples, 1)
    for k in range(samples + 1):
        t = t_now + k * step
        at = from_us(t)
        schedule.append((at, float(max(left - program.profile.delivered_ml(t_now, t), Fraction(0)))))
        worst.append((at, float(max(left - program.worst_case_profile.delivered_ml(t_now, t), Fraction(0)))))
    since_fill = [(pump.fill_at, float(pump.fill_ml)), (now, float(left))]
    zone = fmt.zone(tz)
    marks = [
        charts.Mark(
            f"low-reservoir alarm level {fmt.volume(pump.low_alarm_ml)}", "level", level=float(pump.low_alarm_ml)
        ),
        charts.Mark(f"now, {fmt.when(now, tz)}", "now", at=now),
        charts.Mark(f"refill due, {fmt.when(pump.refill_due, tz)}", "due", at=pump.refill_due),
        charts.Mark(
            f"drug stability runs out, {fmt.when(pump.stability_until, tz)}", "stability", at=pump.stability_until
        ),
    ]
    if pump.low_at is not None:
        marks.append(
            charts.Mark(f"low-reservoir alarm (worst case), {fmt.when(pump.low_at, tz)}", "alarm", at=pump.low_at)
        )
    if pump.empty_at is not None:
        marks.append(charts.Mark(f"empty (worst case), {fmt.when(pump.empty_at, tz)}", "empty", at=pump.empty_at))
    table = [
        ("Filled", f"{fmt.volume(pump.fill_ml)} at {fmt.when(pump.fill_at, tz)}"),
        ("Now", f"{fmt.volume(left)} at {fmt.when(now, tz)}"),
        ("Low-reservoir alarm level", f"{fmt.volume(pump.low_alarm_ml)}"),
        ("Low-reservoir alarm, worst case", fmt.when(pump.low_at, tz)),
        ("Empty, worst case", fmt.when(pump.empty_at, tz)),
        ("Empty, schedule alone", fmt.when(pump.empty_program_at, tz)),
        ("Drug stability runs out", fmt.when(pump.stability_until, tz)),
        ("Next refill due", f"{fmt.when(pump.refill_due, tz)} ({pump.refill_reason})"),
    ]
    desc = (
        f"The reservoir held {fmt.volume(pump.fill_ml)} at the fill on {fmt.when(pump.fill_at, tz)} and holds "
        f"{fmt.volume(left)} now. With every allowed patient bolus it reaches the "
        f"{fmt.volume(pump.low_alarm_ml)} "
        f"alarm level on {fmt.when(pump.low_at, tz)} and is empty on {fmt.when(pump.empty_at, tz)}; on the schedule "
        f"alone it is empty on {fmt.when(pump.empty_program_at, tz)}. Drug stability runs out on "
        f"{fmt.when(pump.stability_until, tz)}. The next refill is due on {fmt.when(pump.refill_due, tz)} "
        f"({pump.refill_reason})."
    )
    return charts.Chart(
        id="reservoir-chart",
        title="Reservoir: since the fill, and projected",
        desc=desc,
        y_label="reservoir (mL)",
        series=[
            charts.Series("since the fill (straight line between the fill and now)", since_fill, dashed=False),
            charts.Series("projected, schedule alone", schedule, dashed=False),
            charts.Series("projected, worst case (every allowed patient bolus)", worst, dashed=True),
        ],
        zone=zone,
        marks=marks,
        start=pump.fill_at,
        end=end,
        y_max=float(max(pump.fill_ml, program.pump.capacity.to("mL"))),
        table=table,
    )


def dose_charts(s: Session, patient_id: int, tz: str, now: datetime) -> list[charts.Chart]:
    """One chart per drug: its programmed daily dose over time (a step line: each program runs until the next),
    from every program the pump ran, in the drug's own unit."""
    versions = list(
        s.scalars(
            select(ProgramVersion)
            .where(ProgramVersion.patient_id == patient_id, ProgramVersion.status.in_(ACTIVE_STATUSES))
            .where(ProgramVersion.effective_at.is_not(None))
            .order_by(ProgramVersion.effective_at, ProgramVersion.number)
        )
    )
    lines: dict[str, list[tuple[datetime, Any, int]]] = {}
    for v in versions:
        assert v.effective_at is not None
        for name, d in project(program_of(v)).daily_dose.items():
            lines.setdefault(name, []).append((v.effective_at, d.program, v.number))
    out = []
    for name, points in lines.items():
        unit = points[-1][1].unit.symbol
        values = [(at, float(q.to(unit))) for at, q, _ in points]
        out.append(
            charts.Chart(
                id=f"dose-chart-{name}",
                title=f"{name}: programmed daily dose ({unit})",
                desc=f"{name}, daily dose: "
                + "; ".join(f"{q} from {fmt.day(at, tz)} (version {n})" for at, q, n in points),
                y_label=unit,
                series=[charts.Series(f"{name} daily dose", values, step=True, markers=True, dashed=False)],
                zone=fmt.zone(tz),
                end=max(now, points[-1][0] + timedelta(days=1)),
                table=[(f"{fmt.when(at, tz)}, version {n}", fmt.dose(q)) for at, q, n in points],
            )
        )
    return out


def score_charts(follow_ups: Sequence[FollowUp], tz: str) -> tuple[charts.Chart, charts.Chart]:
    nrs = [(f.at, float(f.scores["pain"]["nrs"])) for f in follow_ups if "pain" in f.scores]
    odi = [
        (f.at, float(f.scores["oswestry"]["percent"]))
        for f in follow_ups
        if f.scores.get("oswestry", {}).get("percent") is not None
    ]
    zone = fmt.zone(tz)
    pain = charts.Chart(
        id="pain-chart",
        title="Pain (NRS 0-10) over time",
        desc="; ".join(f"{fmt.day(t, tz)}: NRS {v:g}" for t, v in nrs) or "No pain score recorded yet.",
        y_label="NRS",
        series=[charts.Series("pain, NRS", nrs, markers=True, dashed=False)],
        zone=zone,
        y_max=10,
        table=[(fmt.when(t, tz), f"NRS {v:g}") for t, v in nrs],
    )
    function = charts.Chart(
        id="odi-chart",
        title="Disability (Oswestry Disability Index, %) over time",
        desc="; ".join(f"{fmt.day(t, tz)}: ODI {v:.0f} %" for t, v in odi) or "No ODI recorded yet.",
        y_label="ODI %",
        series=[charts.Series("Oswestry Disability Index", odi, markers=True, dashed=False)],
        zone=zone,
        y_max=100,
        table=[(fmt.when(t, tz), f"{v:.1f} %") for t, v in odi],
    )
    return pain, function


def side_effects(follow_ups: Sequence[FollowUp]) -> list[dict[str, Any]]:
    from openidds.clinic.followup import ADVERSE_EVENTS, GRADE_TEXT

    out: list[dict[str, Any]] = []
    for f in follow_ups:
        for e in f.complications:
            grade = int(e.get("grade", 0))
            if grade <= 0:
                continue
            kind = ADVERSE_EVENTS.get(str(e.get("item")))
            flag = next((x for x in f.flags if x.get("code") == f"adverse-event.{e.get('item')}"), None)
            out.append(
                {
                    "at": f.at,
                    "item": kind.name if kind else str(e.get("item")),
                    "kind": kind.kind if kind else "",
                    "grade": grade,
                    "grade_text": GRADE_TEXT.get(grade, ""),
                    "urgent": bool(flag and flag.get("urgent")),
                    "follow_up": f.id,
                }
            )
    out.sort(key=lambda r: r["at"], reverse=True)
    return out


# --- the dashboard --------------------------------------------------------------------------------------------------
REVIEW_WINDOW = timedelta(days=30)  # overrides and discrepancies shown for review: an OpenIDDS choice
LIST_LIMIT = 100  # rows per section: the rest are counted, and the API lists every one


def dashboard_sections(s: Session, user: User, rows: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """The dashboard rows (most urgent first, from `pathway.dashboard`) split into the sections a team works by,
    with the user's own work queues (service.queues) first."""
    zones: dict[int, str] = {pid: tz for pid, tz in s.execute(select(Patient.id, Patient.timezone))}
    for r in rows:
        r["tz"] = zones.get(r["patient_id"], "UTC")
    week, month = now + timedelta(days=7), now + timedelta(days=30)

    def due(r: dict[str, Any]) -> datetime | None:
        return fmt.instant(r["next_refill_due"])

    overdue = [r for r in rows if r["refill"] == "overdue"]
    this_week = [r for r in rows if r["refill"] != "overdue" and (d := due(r)) is not None and d <= week]
    next_month = [r for r in rows if (d := due(r)) is not None and week < d <= month]
    this_week.sort(key=lambda r: r["next_refill_due"])
    next_month.sort(key=lambda r: r["next_refill_due"])
    alarms = [r for r in rows if r["active_alarms"] or _projected_soon(r, now)]
    soon = now + timedelta(microseconds=REPLACEMENT_SOON_US)  # the dashboard's own rule (clinic.dashboard)
    replacement = [r for r in rows if (t := fmt.instant(r["replacement_due"])) is not None and t <= soon]
    replacement.sort(key=lambda r: r["replacement_due"])
    by_id = {r["patient_id"]: r for r in rows}

    urgent: list[dict[str, Any]] = []
    for f in s.scalars(
        select(FollowUp).where(FollowUp.urgent, FollowUp.resolved_at.is_(None)).order_by(FollowUp.at.desc())
    ):
        row = by_id.get(f.patient_id)
        if row is None:
            continue
        for flag in f.flags:
            if flag.get("urgent"):
                urgent.append(
                    {
                        "row": row,
                        "at": f.at,
                        "message": "urgent: " + str(flag["message"]).removeprefix("URGENT: "),
                        "link": f"/patients/{f.patient_id}/follow-ups/{f.id}",
                    }
                )
    for flag in s.scalars(select(Flag).where(Flag.resolved_at.is_(None)).order_by(Flag.urgent.desc(), Flag.raised_at)):
        row = by_id.get(flag.patient_id)
        if row is None:
            continue
        urgent.append(
            {
                "row": row,
                "at": flag.raised_at,
                "message": ("urgent: " if flag.urgent else "review: ") + flag.message,
                "link": f"/patients/{flag.patient_id}/flags/{flag.id}",
            }
        )
    in_progress: list[dict[str, Any]] = []  # programs awaiting their refill, refills awaiting their check or fill
    for r in rows:
        if r.get("pending_program"):
            in_progress.append({"row": r, "message": r["pending_program"], "link": f"/patients/{r['patient_id']}"})
    for refill in s.scalars(
        select(Refill).where(Refill.status.in_(("prepared", "checked"))).order_by(Refill.prepared_at)
    ):
        row = by_id.get(refill.patient_id)
        if row is None:
            continue
        solution = ", ".join(f"{d['name']} {d['concentration']}" for d in refill.solution)
        step = (
            "awaits its independent double check"
            + (" (a pharmacist or a physician: compounded)" if refill.compounded else "")
            if refill.status == "prepared"
            else "checked: awaits the fill"
        )
        in_progress.append(
            {
                "row": row,
                "message": f"refill of {solution} prepared {fmt.when(refill.prepared_at, row['tz'])}: {step}",
                "link": f"/patients/{refill.patient_id}/refills/{refill.id}",
            }
        )
    overrides: list[dict[str, Any]] = []
    for v in s.scalars(
        select(ProgramVersion)
        .where(ProgramVersion.confirmed_at.is_not(None), ProgramVersion.confirmed_at >= now - REVIEW_WINDOW)
        .order_by(ProgramVersion.confirmed_at.desc())
    ):
        row = by_id.get(v.patient_id)
        if v.overrides and row is not None:
            overrides.append({"row": row, "version": v, "link": f"/patients/{v.patient_id}/programs/{v.number}"})
    queues = work_queues(s, user, now)
    finding_text = {  # an overridden finding in words (its code stays in the page's data-code)
        (o["version"].number, o["row"]["patient_id"], f["code"]): f["message"]
        for o in overrides
        for f in o["version"].findings
        if f.get("code") in o["version"].overrides
    }
    return {
        "queues": queues,
        "zone": load_clinic_settings().timezone,
        "finding_text": finding_text,
        "urgent": urgent,
        "in_progress": in_progress,
        "overdue": overdue,
        "this_week": this_week,
        "next_month": next_month,
        "alarms": alarms,
        "replacement": replacement,
        "overrides": overrides,
        "limit": LIST_LIMIT,
        "total": len(rows),
    }


def _projected_soon(row: dict[str, Any], now: datetime) -> bool:
    soon = now + timedelta(days=7)
    return any((t := fmt.instant(p.get("at"))) is not None and t <= soon for p in row["projected_alarms"] or [])


def days_until(at: datetime, now: datetime) -> int:
    """Whole days left (0 on the day itself; negative when past)."""
    return (to_us(at) - to_us(now)) // DAY_US
