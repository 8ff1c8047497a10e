"""Program changes: propose → confirm (physician) → verify (a second person, for a new drug or concentration) →
active now, or, for a new drug or concentration, awaiting the refill that brings the new solution.

A program is written against the program the pump runs (`based_on`): once another takes over, it can no longer be
confirmed, verified or applied (propose it again). A program for another solution never runs before the pump holds
that solution: the refill that brings it applies it in the same transaction (service.refills), with a bridge by
default (off only with a reason). Titration is checked against the record: every program the pump ran, from when
it took effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openidds.calculations.bridge import bridge_plan
from openidds.calculations.projection import project
from openidds.clinic.chart_check import ChartFacts, program_against_chart
from openidds.clinic.refill import describe_solution
from openidds.clinic.trial import first_program_findings as trial_first_program_findings
from openidds.data import load_catalog, load_library
from openidds.db.models import Implant, Patient, ProgramVersion, Refill, Trial, User
from openidds.errors import InputError
from openidds.programfile import parse_program
from openidds.programs.program import PumpProgram
from openidds.quantities import parse_quantity
from openidds.review import diff as review_diff
from openidds.safety import bridge_findings, check
from openidds.service import audit
from openidds.service.access import actor_name, require, require_role
from openidds.service.errors import Conflict, NotFound
from openidds.service.locks import decision_instant, lock_patient
from openidds.service.pump import ACTIVE, WAITING, program_of, refresh_status, solution_json
from openidds.validation import plain_text

REASON_MAX = 2000


def parse(document: str, field: str) -> PumpProgram:
    """A program file from a request; its schema errors name the setting inside the request's field."""
    try:
        return parse_program(document, load_library(), load_catalog())
    except InputError as exc:
        raise InputError(f"{field}.{exc.field}" if exc.field else field, exc.message) from None


def active_version(s: Session, patient_id: int) -> ProgramVersion | None:
    return s.scalars(
        select(ProgramVersion).where(ProgramVersion.patient_id == patient_id, ProgramVersion.status == "active")
    ).first()


def find_version(s: Session, patient_id: int, number: int) -> ProgramVersion:
    version = s.scalars(
        select(ProgramVersion).where(ProgramVersion.patient_id == patient_id, ProgramVersion.number == number)
    ).first()
    if version is None:
        raise NotFound(f"no program version {number}")
    return version


def waiting_for_refill(s: Session, patient_id: int) -> list[ProgramVersion]:
    """Programs confirmed and verified for another solution, in the order written: the refill that brings one's
    solution applies it."""
    return list(
        s.scalars(
            select(ProgramVersion)
            .where(ProgramVersion.patient_id == patient_id, ProgramVersion.status == "awaiting-refill")
            .order_by(ProgramVersion.number)
        )
    )


def titration_history(s: Session, patient_id: int) -> list[tuple[datetime, PumpProgram]]:
    """Every program the patient's current pump has run, oldest first, from when it took effect."""
    implant = s.scalars(
        select(Implant)
        .where(Implant.patient_id == patient_id, Implant.kind != "revision")
        .order_by(Implant.implanted_at.desc())
    ).first()
    if implant is None:
        return []
    versions = s.scalars(
        select(ProgramVersion)
        .where(ProgramVersion.patient_id == patient_id, ProgramVersion.status.in_(ACTIVE))
        .where(ProgramVersion.effective_at >= implant.implanted_at)
        .order_by(ProgramVersion.effective_at, ProgramVersion.number)
    )
    return [(v.effective_at, program_of(v)) for v in versions if v.effective_at is not None]


def new_version(
    s: Session,
    patient_id: int,
    document: str,
    findings: list[Any],
    diff: list[Any],
    needs_second: bool,
    actor: User,
    now: datetime,
    bridge: bool = False,
    based_on: int | None = None,
    bridge_off_reason: str = "",
) -> ProgramVersion:
    number = (s.scalar(select(func.max(ProgramVersion.number)).where(ProgramVersion.patient_id == patient_id)) or 0) + 1
    version = ProgramVersion(
        patient_id=patient_id,
        number=number,
        document=document,
        status="proposed",
        findings=findings,
        overrides={},
        diff=diff,
        needs_second=needs_second,
        bridge=bridge,
        bridge_off_reason=bridge_off_reason,
        based_on=based_on,
        proposed_by=actor.id,
        proposed_at=now,
    )
    s.add(version)
    s.flush()
    return version


@dataclass(frozen=True, slots=True)
class ProposeProgram:
    """A proposed program file; for a new drug or concentration, the bridge (None: on unless turned off with a
    reason) and why it is off."""

    document: str
    bridge: bool | None = None
    bridge_off_reason: str = ""


def propose_program(s: Session, actor: User, patient_id: int, cmd: ProposeProgram, now: datetime) -> ProgramVersion:
    """A proposed program: its findings against the running program and the record of every program the pump ran,
    and every setting old beside new.

    A new drug or concentration gets a bridge unless it is turned off with a reason. Hard findings refuse it at
    once (it is kept, refused, with the reasons: the record shows what was tried)."""
    document, bridge = cmd.document, cmd.bridge
    require(actor, "propose-program", patient_id=patient_id)
    patient = lock_patient(s, patient_id)
    current = active_version(s, patient.id)
    if current is None:
        raise Conflict("no program is running: record the implant with its first program first")
    program = parse(document, "document")
    old = program_of(current)
    needs_second = changes_solution(old, program)
    off_reason = plain_text(cmd.bridge_off_reason, "bridge_off_reason", REASON_MAX)
    if not needs_second:
        bridge, off_reason = False, ""  # the same solution: nothing old to flush
    elif bridge is None:
        bridge = not off_reason
    if needs_second and not bridge and not off_reason:
        raise InputError(
            "bridge_off_reason",
            "a new drug or concentration gets a bridge bolus (the old solution in pump and catheter at the new "
            "dose): say why it is turned off (e.g. 'catheter aspirated at the refill')",
        )
    if bridge and off_reason:
        raise InputError("bridge_off_reason", "only for a change without a bridge: leave it empty, or turn it off")
    findings = proposal_findings(s, current, program, bool(bridge), now)
    diff = [{"setting": r.setting, "old": r.old, "new": r.new, "changed": r.changed} for r in review_diff(old, program)]
    version = new_version(
        s,
        patient.id,
        document,
        findings,
        diff,
        needs_second,
        actor,
        now,
        bool(bridge),
        based_on=current.number,
        bridge_off_reason=off_reason,
    )
    hard = [f for f in findings if f["severity"] == "hard"]
    if hard:
        version.status = "refused"
        version.closed_reason = "; ".join(str(f["message"]) for f in hard)
    audit.record(
        s,
        actor_name(actor),
        "propose-program",
        f"patient/{patient.id}/program/{version.number}",
        now,
        None,
        {
            "status": version.status,
            "findings": [f["code"] for f in findings],
            "needs_second": needs_second,
            "bridge": version.bridge,
            "bridge_off_reason": off_reason,
            "based_on": current.number,
        },
    )
    return version


def chart_facts(p: Patient) -> ChartFacts:
    """What the chart records that the evaluation's checklist and every program must agree with."""
    return ChartFacts(
        allergies=tuple(str(a) for a in p.allergies or ()),
        anticoagulants=tuple(str(a) for a in p.anticoagulants or ()),
        psychosis_history=p.psychosis_history,
        life_expectancy_months=p.life_expectancy_months,
        oral_mme_per_day=p.oral_mme_per_day,
    )


def _against_chart(s: Session, patient_id: int, program: PumpProgram, implant: bool) -> list[dict[str, Any]]:
    patient = s.get(Patient, patient_id)
    if patient is None:
        return []
    found = program_against_chart(program, chart_facts(patient), patient.care_area, implant=implant)
    return [f.as_json() for f in found]


def first_program_findings(s: Session, patient_id: int, program: PumpProgram, at: datetime) -> list[dict[str, Any]]:
    """The checks of an implant's first program, taking effect at `at`, and the program against the chart. A
    replacement pump continues the therapy: checked as a step from the old pump's program, against the record (a
    new pump restarts no titration window)."""
    running = active_version(s, patient_id)
    old = None if running is None else program_of(running)
    history = titration_history(s, patient_id)
    found = check(program, program.context, old, library=load_library(), starting=old is None, now=at, history=history)
    return _against_chart(s, patient_id, program, implant=old is None) + [f.as_json() for f in found]


def trial_dose_findings(s: Session, patient_id: int, program: PumpProgram) -> list[dict[str, Any]]:
    """An implant's first program against the latest successful trial: above the starting dose it gives (soft)."""
    trial = s.scalars(
        select(Trial)
        .where(Trial.patient_id == patient_id, Trial.outcome == "success")
        .order_by(Trial.recorded_at.desc(), Trial.id.desc())
        .limit(1)
    ).first()
    if trial is None:
        return []
    result = trial.details.get("result", {})
    start = (result.get("starting_daily_dose") or {}).get("value")
    effective = result.get("effective_dose")
    doses = {name: dose.program for name, dose in project(program).daily_dose.items()}
    found = trial_first_program_findings(
        str(trial.details.get("drug", "")),
        None if start is None else parse_quantity(start),
        None if effective is None else parse_quantity(effective),
        doses,
        library=load_library(),
    )
    return [f.as_json() for f in found]


def changes_solution(old: PumpProgram, new: PumpProgram) -> bool:
    """A new drug or concentration: a second person verifies it, and it waits for the refill that brings it."""
    return solution_json(old.solution) != solution_json(new.solution)


def proposal_findings(
    s: Session, current: ProgramVersion, program: PumpProgram, bridge: bool, now: datetime
) -> list[dict[str, Any]]:
    """Every finding a proposal gets, for the use case and for the screens that preview it: the checks against the
    running program and the record of every program the pump ran, the bridge the pump cannot run (`bridge`: the
    change has one), the waiting programs it would close. Refused outright (an InputError): a program for another
    pump, or a bridge between solutions that share no drug."""
    old = program_of(current)
    if program.pump.id != old.pump.id:
        raise InputError(
            "document.pump.model", f"the program is for a {program.pump.id} pump; the pump in place is {old.pump.id}"
        )
    history = titration_history(s, current.patient_id)
    findings = _against_chart(s, current.patient_id, program, implant=False) + [
        f.as_json() for f in check(program, program.context, old, library=load_library(), now=now, history=history)
    ]
    if bridge and changes_solution(old, program):
        try:
            findings += [f.as_json() for f in bridge_findings(old, program)]
        except InputError as exc:
            raise InputError("bridge", f"{exc.message}; turn the bridge off with a reason") from None
    return findings + _closes_waiting(s, current.patient_id, current.number)


def _closes_waiting(s: Session, patient_id: int, running: int) -> list[dict[str, Any]]:
    """A program that runs at once closes every program verified or waiting against the same running version: a
    soft finding, so the prescriber says why before a planned change (perhaps already compounded) is dropped."""
    waiting = s.scalars(
        select(ProgramVersion)
        .where(
            ProgramVersion.patient_id == patient_id,
            ProgramVersion.status.in_(WAITING),
            ProgramVersion.based_on == running,
        )
        .order_by(ProgramVersion.number)
    ).all()
    if not waiting:
        return []
    words = "; ".join(
        f"version {v.number} ({v.status.replace('-', ' ')}: {describe_solution(program_of(v).solution)})"
        for v in waiting
    )
    return [
        {
            "severity": "soft",
            "code": "program.closes-waiting",
            "message": f"if this program runs, it closes {words}, written against the same running version: "
            "its solution may already be prepared",
        }
    ]


def bridge_summary(s: Session, version: ProgramVersion) -> str:
    """The bridge of a program, in words ("" without one): for one that waits, from the solution the pump holds
    now; for one a refill applied, from the solution of the program it replaced (what the nurse programs after the
    fill)."""
    if not version.bridge:
        return ""
    if version.status in WAITING:
        running = active_version(s, version.patient_id)
    elif version.applied_by is not None and version.based_on is not None:
        running = find_version(s, version.patient_id, version.based_on)
    else:
        return ""
    if running is None:
        return ""
    try:
        plan = bridge_plan(program_of(running).solution, program_of(version))
    except InputError:
        return ""
    return "bridge bolus: " + plan.value.words()


def _still_current(s: Session, version: ProgramVersion) -> None:
    """A program is written against the one the pump runs: once another has taken over, propose it again."""
    running = active_version(s, version.patient_id)
    if version.based_on is not None and (running is None or running.number != version.based_on):
        now_runs = "no program" if running is None else f"version {running.number}"
        raise Conflict(
            f"program version {version.number} was written against version {version.based_on}, but the pump now "
            f"runs {now_runs}: propose it again"
        )


def confirm_program(
    s: Session, actor: User, patient_id: int, number: int, overrides: dict[str, str], now: datetime
) -> ProgramVersion:
    """A physician confirms: every soft finding needs a reason. A drug or concentration change then waits for a
    second user's verification and its refill; otherwise the program runs from now."""
    require(actor, "confirm-program", patient_id=patient_id)
    lock_patient(s, patient_id)
    now = decision_instant(s, patient_id, now)  # it runs from now: never before what the record holds
    version = find_version(s, patient_id, number)
    if version.status != "proposed":
        raise Conflict(f"program version {number} is {version.status}, not proposed")
    _still_current(s, version)
    soft = {str(f["code"]) for f in version.findings if f["severity"] == "soft"}
    missing = sorted(code for code in soft if not (overrides.get(code) or "").strip())
    if missing:
        # In words for people (each finding's message); the codes go with the refusal (the API's `codes`).
        said = [f"“{f['message']}”" for f in version.findings if f["severity"] == "soft" and f["code"] in missing]
        without = "; ".join(said)
        raise InputError("overrides", f"each soft finding needs a reason; none is given for {without}", tuple(missing))
    unknown = sorted(set(overrides) - soft)
    if unknown:
        count = "1 reason is" if len(unknown) == 1 else f"{len(unknown)} reasons are"
        raise InputError("overrides", f"{count} for findings this program does not have", tuple(unknown))
    version.overrides = {code: plain_text(overrides[code], f"overrides.{code}", REASON_MAX) for code in sorted(soft)}
    version.confirmed_by, version.confirmed_at = actor.id, now
    closed: list[int] = []
    if version.needs_second:
        version.status = "awaiting-verification"
    else:
        closed = activate(s, version, now)
    s.flush()
    after: dict[str, Any] = {"status": version.status, "overrides": version.overrides}
    if closed:
        after["closed"] = closed  # written against the program this one replaced
    audit.record(
        s,
        actor_name(actor),
        "confirm-program",
        f"patient/{patient_id}/program/{number}",
        now,
        {"status": "proposed"},
        after,
    )
    refresh_status(s, patient_id, now)
    return version


def verify_program(s: Session, actor: User, patient_id: int, number: int, now: datetime) -> ProgramVersion:
    """The second person for a drug or concentration change (not who proposed it, nor who confirmed it). The
    program then waits for the refill that brings its solution: the pump keeps running the one it holds."""
    require_role(actor, "verify-concentration-change", patient_id=patient_id)  # before the lookup: no disclosure
    lock_patient(s, patient_id)
    version = find_version(s, patient_id, number)
    for by in (version.proposed_by, version.confirmed_by):
        if by is not None:  # not confirmed yet: the status check below answers (409), not a missing id (422)
            require(actor, "verify-concentration-change", patient_id=patient_id, recorded_by=by)
    if version.status != "awaiting-verification":
        raise Conflict(f"program version {number} is {version.status}, not awaiting verification")
    _still_current(s, version)
    version.verified_by, version.verified_at = actor.id, now
    version.status = "awaiting-refill"
    s.flush()
    audit.record(
        s,
        actor_name(actor),
        "verify-program",
        f"patient/{patient_id}/program/{number}",
        now,
        {"status": "awaiting-verification"},
        {"status": version.status},
    )
    refresh_status(s, patient_id, now)
    return version


def cancel_program(s: Session, actor: User, patient_id: int, number: int, reason: str, now: datetime) -> ProgramVersion:
    """A physician cancels a program that has not run: proposed, or waiting for its verification or refill."""
    require(actor, "cancel-program", patient_id=patient_id)
    lock_patient(s, patient_id)
    version = find_version(s, patient_id, number)
    if version.status not in ("proposed", *WAITING):
        raise Conflict(f"program version {number} is {version.status}: only a program that has not run is cancelled")
    why = plain_text(reason, "reason", REASON_MAX)
    if not why:
        raise InputError("reason", "say why the program is cancelled")
    before = version.status
    version.status, version.closed_reason = "cancelled", why
    version.cancelled_by, version.cancelled_at = actor.id, now
    s.flush()
    audit.record(
        s,
        actor_name(actor),
        "cancel-program",
        f"patient/{patient_id}/program/{number}",
        now,
        {"status": before},
        {"status": "cancelled", "reason": why},
    )
    refresh_status(s, patient_id, now)
    return version


def activate(s: Session, version: ProgramVersion, at: datetime, refill: Refill | None = None) -> list[int]:
    """The program runs from `at`: the one it replaces is superseded, and any other program written against that
    one can no longer run (it is closed, and says why). Returns the numbers closed, for the caller's audit record."""
    current = active_version(s, version.patient_id)
    if current is not None:
        current.status = "superseded"
    version.status, version.effective_at = "active", at
    if refill is not None:
        version.applied_by = refill.id
    closed: list[int] = []
    if current is None:
        return closed
    for other in s.scalars(
        select(ProgramVersion).where(
            ProgramVersion.patient_id == version.patient_id,
            ProgramVersion.status.in_(("proposed", *WAITING)),
            ProgramVersion.id != version.id,
        )
    ):
        if other.based_on == current.number:
            other.status = "cancelled"
            other.closed_reason = (
                f"written against version {current.number}, which version {version.number} replaced before it ran: "
                "propose it again"
            )
            other.cancelled_at = at
            closed.append(other.number)
    return sorted(closed)


def apply_with_refill(s: Session, version: ProgramVersion, refill: Refill, at: datetime) -> list[int]:
    """The refill that brings a waiting program's solution applies it (service.refills, same transaction and
    audit record). Returns the programs it closed."""
    if version.status != "awaiting-refill":
        raise Conflict(f"program version {version.number} is {version.status}, not awaiting its refill")
    _still_current(s, version)
    closed = activate(s, version, at, refill)
    s.flush()
    return closed
