"""Refills in the order a careful clinic does them (openidds.clinic.refill): prepare → independent double check →
complete. Only completion puts the new fill into the pump twin, and a program waiting for this solution runs from
the same instant, in the same transaction, after its bridge.

Each step serialises on the patient (service.locks) and writes one audit record (completing also records the
program it applies and the flags it raises).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlalchemy.orm import Session

from openidds.calculations import reconcile
from openidds.clinic.refill import (
    EXPIRED,
    check_completion,
    check_preparation,
    compounded,
    discrepancy_flag,
    emergency_flag,
    match_solution,
    pocket_fill_flag,
    step_refused,
)
from openidds.clinic.roles import Action
from openidds.db.models import Refill, User
from openidds.errors import InputError
from openidds.programs.program import Ingredient, PumpProgram
from openidds.programs.solution import check_solution
from openidds.quantities import Quantity, format_number
from openidds.service import audit
from openidds.service.access import actor_name, require, require_role
from openidds.service.appointments import attend_refill_visit
from openidds.service.errors import Conflict, NotFound
from openidds.service.flags import raise_flag
from openidds.service.locks import decision_instant, lock_patient
from openidds.service.programs import apply_with_refill, find_version, waiting_for_refill
from openidds.service.pump import PumpState, program_of, pump_state, read_solution, refresh_status
from openidds.validation import plain_text

LOT_MAX = 60
REASON_MAX = 2000


@dataclass(frozen=True, slots=True)
class PrepareRefill:
    """Step 1: the solution as labelled, its lot, its expiry or beyond-use date, the volume to fill, and the waiting
    program it is for (None: found from the solution)."""

    solution: tuple[tuple[str, str], ...]  # (drug, concentration) as on the label
    drug_lot: str
    expires_at: datetime
    volume_ml: Fraction
    program_version: int | None = None


@dataclass(frozen=True, slots=True)
class CompleteRefill:
    """Step 3: what was withdrawn and filled; why it was filled unchecked, if it was; a suspected pocket fill with
    how much may have gone outside the reservoir (None: all of the fill)."""

    withdrawn_ml: Fraction
    filled_ml: Fraction
    emergency_reason: str = ""
    pocket_fill_suspected: bool = False
    pocket_ml: Fraction | None = None


def _state(s: Session, patient_id: int, now: datetime) -> PumpState:
    state = pump_state(s, patient_id, now)
    if state is None:
        raise Conflict("no pump is programmed for this patient")
    return state


def ingredients(
    raw: tuple[tuple[str, str], ...], running: PumpProgram, field: str = "solution"
) -> tuple[Ingredient, ...]:
    """The label's solution read as the program file reads drugs (units, limits of the library), no drug twice.
    A problem names `field` and the entry (e.g. `solution[1].concentration`)."""
    try:
        solution = read_solution([{"name": n, "concentration": c} for n, c in raw], running)
    except InputError as exc:
        where = exc.field.replace("drugs", field, 1) if exc.field.startswith("drugs") else field
        raise InputError(where, exc.message) from None
    return check_solution(solution, field + "[{i}].name")


def _waiting(s: Session, patient_id: int) -> list[tuple[int, tuple[Ingredient, ...]]]:
    return [(v.number, program_of(v).solution) for v in waiting_for_refill(s, patient_id)]


def prepare_refill(s: Session, actor: User, patient_id: int, cmd: PrepareRefill, now: datetime) -> Refill:
    require(actor, "prepare-refill", patient_id=patient_id)
    patient = lock_patient(s, patient_id)
    state = _state(s, patient.id, now)
    lot = plain_text(cmd.drug_lot, "drug_lot", LOT_MAX)
    if not lot:
        raise InputError("drug_lot", f"the lot number as on the label, 1 to {LOT_MAX} characters")
    solution = ingredients(cmd.solution, state.program)
    waiting = _waiting(s, patient.id)
    number = match_solution(solution, state.program.solution, waiting, cmd.program_version)
    # kept in the order of the program it is for (a label may list the drugs in another order)
    solution = state.program.solution if number is None else next(sol for n, sol in waiting if n == number)
    check_preparation(state.program.pump, cmd.volume_ml, cmd.expires_at, now)
    made = compounded(solution)
    refill = Refill(
        patient_id=patient.id,
        status="prepared",
        solution=[{"name": i.drug.name, "concentration": str(i.concentration)} for i in solution],
        drug_lot=lot,
        expires_at=cmd.expires_at,
        volume_ml=cmd.volume_ml,
        compounded=made.value,
        compounded_reasons=list(made.reasons),
        program_number=number,
        prepared_by=actor.id,
        prepared_at=now,
    )
    s.add(refill)
    s.flush()
    audit.record(s, actor_name(actor), "prepare-refill", _entity(refill), now, None, refill_json(refill))
    refresh_status(s, patient.id, now, state)
    return refill


def _refill(s: Session, patient_id: int, refill_id: int) -> Refill:
    refill = s.get(Refill, refill_id, populate_existing=True)
    if refill is None or refill.patient_id != patient_id:
        raise NotFound(f"no refill {refill_id}")
    return refill


def check_action(refill: Refill) -> Action:
    return "verify-compounded-refill" if refill.compounded else "verify-refill"


def check_refill(s: Session, checker: User, patient_id: int, refill_id: int, now: datetime) -> Refill:
    """The independent double check, before the fill, by someone other than who prepared it (a pharmacist or a
    physician for a compounded solution). The checker may co-sign on the preparer's screen with their own login."""
    require_role(checker, "verify-refill", "verify-compounded-refill", patient_id=patient_id)  # before the lookup
    lock_patient(s, patient_id)
    refill = _refill(s, patient_id, refill_id)
    require(checker, check_action(refill), patient_id=patient_id, recorded_by=refill.prepared_by)
    refused = step_refused(refill.status, "check")
    if refused:
        raise Conflict(refused)
    if refill.expires_at is not None and refill.expires_at <= now:
        raise InputError("expires_at", EXPIRED)
    _program_still_waiting(s, refill)
    refill.status, refill.checked_by, refill.checked_at = "checked", checker.id, now
    s.flush()
    audit.record(
        s,
        actor_name(checker),
        check_action(refill),
        _entity(refill),
        now,
        {"status": "prepared"},
        {"status": "checked", "compounded": refill.compounded},
    )
    return refill


def _program_still_waiting(s: Session, refill: Refill) -> None:
    if refill.program_number is None:
        return
    version = find_version(s, refill.patient_id, refill.program_number)
    if version.status != "awaiting-refill":
        raise Conflict(
            f"program version {version.number}, which this solution is for, is {version.status}: cancel this "
            "preparation"
        )


def complete_refill(
    s: Session, actor: User, patient_id: int, refill_id: int, cmd: CompleteRefill, now: datetime
) -> Refill:
    """The fill: the residual withdrawn against what the twin expects, the new fill, the program written for this
    solution (if any) from now, and the next refill due. Unchecked, it needs an emergency reason and is flagged."""
    require(actor, "record-refill", patient_id=patient_id)
    patient = lock_patient(s, patient_id)
    now = decision_instant(s, patient.id, now)
    refill = _refill(s, patient_id, refill_id)
    refused = step_refused(refill.status, "complete")
    if refused:
        raise Conflict(refused)
    state = _state(s, patient.id, now)
    solution = ingredients(tuple((d["name"], d["concentration"]) for d in refill.solution), state.program)
    _program_still_waiting(s, refill)
    number = match_solution(solution, state.program.solution, _waiting(s, patient.id), refill.program_number)
    if number != refill.program_number:  # the running program changed since the preparation
        raise Conflict("the pump's program changed since this refill was prepared: cancel it and prepare it again")
    pump = state.program.pump
    reason = plain_text(cmd.emergency_reason, "emergency_reason", REASON_MAX)
    checked = refill.status == "checked"
    pocket = check_completion(
        pump,
        prepared_ml=refill.volume_ml,
        withdrawn_ml=cmd.withdrawn_ml,
        filled_ml=cmd.filled_ml,
        pocket_fill_suspected=cmd.pocket_fill_suspected,
        pocket_ml=cmd.pocket_ml,
        expires_at=refill.expires_at,
        now=now,
        checked=checked,
        emergency_reason=reason,
    )
    expected = state.twin.expected_residual()
    result = reconcile(expected, Quantity.of(cmd.withdrawn_ml, "mL")).value
    refill.status, refill.at, refill.recorded_by = "completed", now, actor.id
    refill.withdrawn_ml, refill.filled_ml = cmd.withdrawn_ml, cmd.filled_ml
    refill.pocket_ml = pocket if cmd.pocket_fill_suspected else None
    refill.expected_ml = expected.expected.to("mL")
    refill.expected_low_ml, refill.expected_high_ml = expected.low.to("mL"), expected.high.to("mL")
    refill.reconciliation = result.status
    refill.discrepancy_ml = result.discrepancy.to("mL")
    refill.likely_causes = list(result.likely_causes)
    refill.emergency_reason = "" if checked else reason
    s.flush()
    closed: list[int] = []
    if refill.program_number is not None:
        closed = apply_with_refill(s, find_version(s, patient.id, refill.program_number), refill, now)
    raised = []
    if not checked:
        raised.append(raise_flag(s, actor, patient.id, emergency_flag(reason), f"refill/{refill.id}", now))
    if cmd.pocket_fill_suspected:
        raised.append(raise_flag(s, actor, patient.id, pocket_fill_flag(solution, pocket), f"refill/{refill.id}", now))
    off = discrepancy_flag(
        result.status,
        cmd.withdrawn_ml,
        expected.expected.to("mL"),
        expected.low.to("mL"),
        expected.high.to("mL"),
        result.likely_causes,
        state.twin.solution,
    )
    if off is not None:
        raised.append(raise_flag(s, actor, patient.id, off, f"refill/{refill.id}", now))
    s.flush()
    visit = attend_refill_visit(s, actor_name(actor), refill, now)  # that day's refill visit: attended
    status = refresh_status(s, patient.id, now)
    refill.next_refill_due = status.next_refill_due
    s.flush()
    after = {**refill_json(refill), "flags": [f.id for f in raised], "programs_closed": closed}
    if visit is not None:
        after["appointment"] = visit.id
    audit.record(
        s,
        actor_name(actor),
        "complete-refill",
        _entity(refill),
        now,
        {"status": "checked" if checked else "prepared"},
        after,
    )
    return refill


def cancel_refill(s: Session, actor: User, patient_id: int, refill_id: int, reason: str, now: datetime) -> Refill:
    require(actor, "prepare-refill", patient_id=patient_id)
    lock_patient(s, patient_id)
    refill = _refill(s, patient_id, refill_id)
    refused = step_refused(refill.status, "cancel")
    if refused:
        raise Conflict(refused)
    why = plain_text(reason, "reason", REASON_MAX)
    if not why:
        raise InputError("reason", "say why the preparation is cancelled")
    before = refill.status
    refill.status, refill.cancelled_by, refill.cancelled_at, refill.cancel_reason = "cancelled", actor.id, now, why
    s.flush()
    audit.record(
        s,
        actor_name(actor),
        "cancel-refill",
        _entity(refill),
        now,
        {"status": before},
        {"status": "cancelled", "reason": why},
    )
    refresh_status(s, patient_id, now)
    return refill


def _entity(r: Refill) -> str:
    return f"patient/{r.patient_id}/refill/{r.id}"


def _number(value: Fraction | None) -> str | None:
    return None if value is None else format_number(value, 9)


def _instant(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def refill_json(r: Refill) -> dict[str, Any]:
    return {
        "id": r.id,
        "status": r.status,
        "solution": r.solution,
        "solution_text": ", ".join(f"{d['name']} {d['concentration']}" for d in r.solution),
        "drug_lot": r.drug_lot,
        "expires_at": _instant(r.expires_at),
        "volume_ml": _number(r.volume_ml),
        "compounded": r.compounded,
        "compounded_reasons": r.compounded_reasons,
        "program_version": r.program_number,
        "prepared_by": r.prepared_by,
        "prepared_at": _instant(r.prepared_at),
        "checked_by": r.checked_by,
        "checked_at": _instant(r.checked_at),
        "at": _instant(r.at),
        "expected_ml": _number(r.expected_ml),
        "expected_band_ml": None
        if r.expected_low_ml is None or r.expected_high_ml is None
        else [format_number(r.expected_low_ml, 9), format_number(r.expected_high_ml, 9)],
        "withdrawn_ml": _number(r.withdrawn_ml),
        "filled_ml": _number(r.filled_ml),
        "pocket_ml": _number(r.pocket_ml),
        "reconciliation": r.reconciliation,
        "discrepancy_ml": _number(r.discrepancy_ml),
        "likely_causes": r.likely_causes,
        "next_refill_due": _instant(r.next_refill_due),
        "emergency_reason": r.emergency_reason,
        "recorded_by": r.recorded_by,
        "cancelled_by": r.cancelled_by,
        "cancel_reason": r.cancel_reason,
    }


__all__ = [
    "CompleteRefill",
    "PrepareRefill",
    "cancel_refill",
    "check_action",
    "check_refill",
    "complete_refill",
    "ingredients",
    "prepare_refill",
    "refill_json",
]
