"""The pathway's gates on the record (openidds.clinic.pathway): the facts read from the database, the decision
applied, and a physician's override kept with its reason (table pathway_overrides, and the audit trail)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from openidds.clinic.pathway import OVERRIDE_REASON_MAX, Gate, PathwayFacts, PathwayStep, gate, pass_gate
from openidds.db.models import Evaluation, Implant, PathwayOverride, Trial, User
from openidds.errors import InputError
from openidds.service.access import permits, require
from openidds.service.errors import Conflict
from openidds.validation import plain_text

_TRIAL_REASONS = ("trial.failure", "trial.needs-review", "trial.screening", "trial.dose")


def pathway_facts(s: Session, patient_id: int) -> PathwayFacts:
    """The latest evaluation and trial on the record, and whether a pump is in place."""
    evaluation = s.scalars(
        select(Evaluation)
        .where(Evaluation.patient_id == patient_id)
        .order_by(Evaluation.recorded_at.desc(), Evaluation.id.desc())
        .limit(1)
    ).first()
    trial = s.scalars(
        select(Trial).where(Trial.patient_id == patient_id).order_by(Trial.recorded_at.desc(), Trial.id.desc()).limit(1)
    ).first()
    implanted = s.scalar(
        select(Implant.id)
        .where(Implant.patient_id == patient_id, Implant.kind.in_(("implant", "replacement")))
        .limit(1)
    )
    evaluation_reasons: tuple[str, ...] = ()
    if evaluation is not None:
        evaluation_reasons = tuple(
            str(i.get("message", ""))
            for i in evaluation.reasons
            if i.get("status") in ("contraindication", "needs-review")
            and (evaluation.outcome != "not-eligible" or i.get("status") == "contraindication")
        )
    trial_reasons: tuple[str, ...] = ()
    if trial is not None:
        result = trial.details.get("result", {})
        trial_reasons = tuple(
            str(r.get("message", ""))
            for r in result.get("reasons", [])
            if str(r.get("code", "")).startswith(_TRIAL_REASONS)
        )
    planned: tuple[str, ...] = ()
    if evaluation is not None:
        planned = tuple(str(d) for d in evaluation.answers.get("planned_drugs") or ())
    after = evaluation is not None and trial is not None and evaluation.recorded_at > trial.recorded_at
    return PathwayFacts(
        evaluation=None if evaluation is None else evaluation.outcome,
        evaluation_reasons=evaluation_reasons,
        trial=None if trial is None else trial.outcome,
        trial_reasons=trial_reasons,
        pump_in_place=implanted is not None,
        planned_drugs=planned,
        evaluation_after_trial=after,
    )


def gate_for(s: Session, actor: User, patient_id: int, step: PathwayStep) -> tuple[Gate, bool]:
    """The gate for `step` now, and whether `actor` may override it (for the forms that offer the step)."""
    return gate(step, pathway_facts(s, patient_id)), permits(actor, "override-pathway-gate", patient_id=patient_id)


def through_gate(
    s: Session, actor: User, patient_id: int, step: PathwayStep, override_reason: str, drugs: tuple[str, ...] = ()
) -> Gate | None:
    """Check the gate before `step` is written (the caller holds the patient's lock). A closed gate answers 409 with
    what must be recorded first; one that needs an override answers 409 without a reason, 403 with one from someone
    who may not override, 422 for a bad reason.
    Returns the gate when it was overridden (the caller then calls `record_override` with the new record)."""
    reason = plain_text(override_reason, "override_reason", OVERRIDE_REASON_MAX)
    g = gate(step, pathway_facts(s, patient_id), drugs)
    may = permits(actor, "override-pathway-gate", patient_id=patient_id)
    if g.status == "needs-override" and reason:
        require(actor, "override-pathway-gate", patient_id=patient_id)  # 403 for whoever may not
    decision = pass_gate(g, reason, may)
    if decision.allowed:
        return g if decision.overridden else None
    if g.status == "needs-override" and may:
        raise InputError("override_reason", decision.message)
    raise Conflict(decision.message)


def record_override(
    s: Session, actor: User, patient_id: int, g: Gate, reason: str, entity: str, now: datetime
) -> dict[str, Any]:
    """Keep the override beside what it let through; its JSON goes into that record's audit entry (one write, one
    audit record)."""
    row = PathwayOverride(
        patient_id=patient_id,
        step=g.step,
        code=g.code,
        gate=g.message,
        reason=reason.strip(),
        entity=entity,
        by=actor.id,
        at=now,
    )
    s.add(row)
    s.flush()
    return override_json(row)


def override_json(o: PathwayOverride) -> dict[str, Any]:
    return {
        "id": o.id,
        "step": o.step,
        "code": o.code,
        "gate": o.gate,
        "reason": o.reason,
        "entity": o.entity,
        "by": o.by,
        "at": o.at.isoformat(),
    }
