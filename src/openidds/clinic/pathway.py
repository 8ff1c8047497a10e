"""The care pathway's gates: what must be on the record before a trial, an implant, a replacement or a revision.

evaluation → trial → implant → titration and refills → replacement or revision. Each gate reads the record's facts
and answers open, needs a physician's override (with a reason, audited), or closed:

- **trial**: after an eligible evaluation. An evaluation that needs review is accepted by a physician with a
  reason; a not-eligible one (a contraindication: active infection …) closes the gate until a new evaluation
  finds none. No trial once a pump is in place.
- **implant**: after a successful trial. A trial that needs review, or no trial at all (a trial may be omitted,
  e.g. cancer pain with a short life expectancy), needs a physician's override; a failed trial or a not-eligible
  evaluation closes the gate (record a new trial or evaluation). A second implant is refused: a pump in place is
  replaced or revised.
- **replacement** and **revision**: only with a pump in place.

Pure: the facts come in, the gate and its reason go out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

PathwayStep = Literal["trial", "implant", "replacement", "revision"]
PATHWAY_STEPS: tuple[PathwayStep, ...] = get_args(PathwayStep)
GateStatus = Literal["open", "needs-override", "closed"]
OVERRIDE_REASON_MAX = 2000


@dataclass(frozen=True, slots=True)
class PathwayFacts:
    """What the record holds: the latest evaluation and trial outcomes (None: none recorded), the reasons the latest
    evaluation gave for its outcome, and whether a pump is in place."""

    evaluation: str | None = None
    evaluation_reasons: tuple[str, ...] = ()
    trial: str | None = None
    trial_reasons: tuple[str, ...] = ()
    pump_in_place: bool = False
    planned_drugs: tuple[str, ...] = ()  # what the latest evaluation planned (empty: not known)
    evaluation_after_trial: bool = False  # the latest evaluation came after the latest trial


@dataclass(frozen=True, slots=True)
class Gate:
    step: PathwayStep
    status: GateStatus
    code: str  # stable, e.g. "gate.trial-failed"
    message: str  # why, in words a clinician uses

    @property
    def open(self) -> bool:
        return self.status == "open"

    def as_json(self) -> dict[str, Any]:
        return {"step": self.step, "status": self.status, "code": self.code, "message": self.message}


_A: dict[str, str] = {
    "trial": "a trial",
    "implant": "an implant",
    "replacement": "a replacement",
    "revision": "a revision",
}


def _because(reasons: tuple[str, ...]) -> str:
    return f" ({'; '.join(reasons)})" if reasons else ""


def gate(step: PathwayStep, facts: PathwayFacts, drugs: tuple[str, ...] = ()) -> Gate:
    """May `step` be recorded now, given the record's facts? (see the module doc). `drugs`: what the trial gives or
    the first program holds; a drug the evaluation did not plan needs a physician's reason."""
    found = _gate(step, facts)
    unplanned = [d for d in drugs if facts.planned_drugs and d not in facts.planned_drugs]
    if found.status == "open" and step in ("trial", "implant") and unplanned:
        return Gate(
            step,
            "needs-override",
            "gate.drug-not-planned",
            f"{', '.join(unplanned)} was not planned at the evaluation (planned: {', '.join(facts.planned_drugs)}): "
            "a physician confirms the change, giving a reason, or the evaluation is recorded again",
        )
    return found


def _gate(step: PathwayStep, facts: PathwayFacts) -> Gate:
    if step in ("replacement", "revision"):
        if not facts.pump_in_place:
            return Gate(step, "closed", "gate.no-pump", f"no pump is in place: {_A[step]} needs an implanted pump")
        return Gate(step, "open", "gate.open", f"a pump is in place: {_A[step]} may be recorded")
    if facts.pump_in_place:
        if step == "trial":
            return Gate(step, "closed", "gate.pump-in-place", "a pump is already implanted: a trial comes before one")
        return Gate(
            step,
            "closed",
            "gate.pump-in-place",
            "a pump is already implanted: record a pump replacement or a catheter revision, not a second implant",
        )
    if facts.evaluation is None:
        return Gate(
            step, "closed", "gate.no-evaluation", f"no candidate evaluation is recorded: evaluate before {_A[step]}"
        )
    if facts.evaluation == "not-eligible":
        return Gate(
            step,
            "closed",
            "gate.not-eligible",
            "the latest evaluation found a contraindication"
            + _because(facts.evaluation_reasons)
            + ": record a new evaluation once it is resolved",
        )
    needs_review = Gate(
        step,
        "needs-override",
        "gate.evaluation-needs-review",
        "the latest evaluation needs review"
        + _because(facts.evaluation_reasons)
        + f": a physician accepts it, giving a reason, before the {step}",
    )
    if step == "trial":
        if facts.evaluation == "needs-review":
            return needs_review
        return Gate(step, "open", "gate.open", "the latest evaluation found the patient eligible")
    if facts.evaluation == "needs-review" and (facts.evaluation_after_trial or facts.trial is None):
        return needs_review
    if facts.trial == "success":
        return Gate(step, "open", "gate.open", "the latest trial succeeded")
    if facts.trial == "failure":
        return Gate(
            step,
            "closed",
            "gate.trial-failed",
            "the latest trial failed" + _because(facts.trial_reasons) + ": no implant without a successful trial",
        )
    if facts.trial == "needs-review":
        return Gate(
            step,
            "needs-override",
            "gate.trial-needs-review",
            "the latest trial needs review"
            + _because(facts.trial_reasons)
            + ": a physician accepts it, giving a reason, before the implant",
        )
    return Gate(
        step,
        "needs-override",
        "gate.no-trial",
        "no trial is recorded: a physician may omit it, giving a reason "
        "(e.g. cancer pain with a short life expectancy)",
    )


@dataclass(frozen=True, slots=True)
class GateDecision:
    allowed: bool
    overridden: bool
    message: str


def pass_gate(g: Gate, override_reason: str | None, may_override: bool) -> GateDecision:
    """Whether the step goes ahead: an open gate does; a gate that needs an override does with a physician's reason;
    a closed gate never does (its reason says what must be recorded first)."""
    reason = (override_reason or "").strip()
    if g.status == "open":
        if reason:
            return GateDecision(False, False, f"nothing to override: {g.message}")
        return GateDecision(True, False, g.message)
    if g.status == "closed":
        return GateDecision(False, False, g.message)
    if not may_override:
        return GateDecision(False, False, f"{g.message} (only a physician may override this)")
    if not reason:
        return GateDecision(False, False, f"{g.message}: give the reason for going ahead")
    return GateDecision(True, True, f"{g.message}; overridden: {reason}")
