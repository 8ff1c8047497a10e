"""Who may do what: the role × action matrix as data, and `allowed` with its reason.

Rules on top of the matrix:
- a patient acts only on their own record. Another patient's record answers as if it did not exist
  (`not_found`: the API returns 404, so a patient cannot learn which record ids exist);
- verification actions (confirm a program, verify a concentration change or a refill) need a second person: the
  verifier must be a different user from the one who proposed or recorded it;
- a nurse proposes programs but cannot confirm them; only a pharmacist or a physician verifies a compounded refill;
- the admin manages users and reads the audit trail, but sees no clinical record (least privilege).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, get_args

from openidds.errors import InputError

Role = Literal["admin", "physician", "nurse", "pharmacist", "patient"]
ROLES: tuple[Role, ...] = get_args(Role)
Action = Literal[
    "read-patient",
    "create-patient",
    "record-evaluation",
    "record-trial",
    "record-implant",
    "override-pathway-gate",
    "propose-program",
    "confirm-program",
    "verify-concentration-change",
    "cancel-program",
    "prepare-refill",
    "verify-refill",
    "verify-compounded-refill",
    "record-refill",
    "record-follow-up",
    "resolve-flag",
    "review-unchecked-refill",
    "submit-questionnaire",
    "request-bolus",
    "read-dashboard",
    "read-audit",
    "manage-users",
    "edit-clinic-settings",
    "book-appointment",
    "plan-refills",
    "read-clinic-report",
    "read-outbox",
    "set-contact",
    "manage-calendar-feeds",
]
ACTIONS: tuple[Action, ...] = get_args(Action)
# any: any patient's record; own: only the acting patient's own record.
Access = Literal["any", "own"]

ACTION_TEXT: Mapping[Action, str] = MappingProxyType(
    {
        "read-patient": "read a patient's record",
        "create-patient": "create a patient record",
        "record-evaluation": "record a candidate evaluation",
        "record-trial": "record a trial",
        "record-implant": "record an implant",
        "override-pathway-gate": "go ahead past a pathway gate that needs review (trial, implant), with a reason",
        "propose-program": "propose a pump program",
        "confirm-program": "confirm a proposed pump program",
        "verify-concentration-change": "verify a change of drug concentration",
        "cancel-program": "cancel a program waiting for its verification or its refill",
        "prepare-refill": "prepare a refill (solution, lot, expiry, volume)",
        "verify-refill": "check a prepared refill before the fill (second person)",
        "verify-compounded-refill": "check a prepared refill of a compounded solution before the fill",
        "record-refill": "complete a refill (withdraw, fill, reconcile)",
        "record-follow-up": "record a follow-up visit",
        "resolve-flag": "resolve a flag, saying what was done",
        "review-unchecked-refill": "review a fill that needs a second person (no double check, or outside the "
        "expected band), saying what was found",
        "submit-questionnaire": "submit questionnaires (pain, ODI, PHQ-9)",
        "request-bolus": "request a bolus with the patient remote",
        "read-dashboard": "read the clinic dashboard",
        "read-audit": "read the audit trail",
        "manage-users": "manage users and roles",
        "edit-clinic-settings": "edit the clinic's settings (hours, holidays, nurses, margins, contacts)",
        "book-appointment": "book, confirm, cancel or mark appointments",
        "plan-refills": "run the refill planner and book its proposal",
        "read-clinic-report": "read and print the clinic's monthly report",
        "read-outbox": "read the notifications sent and waiting",
        "set-contact": "choose how a patient is reached (reminders by e-mail, SMS or none; their calendar feed)",
        "manage-calendar-feeds": "make or revoke the clinic's and clinicians' secret calendar feeds",
    }
)

MATRIX: Mapping[Action, Mapping[Role, Access]] = MappingProxyType(
    {
        "read-patient": {"physician": "any", "nurse": "any", "pharmacist": "any", "patient": "own"},
        "create-patient": {"physician": "any", "nurse": "any"},
        "record-evaluation": {"physician": "any", "nurse": "any"},
        "record-trial": {"physician": "any", "nurse": "any"},
        "record-implant": {"physician": "any"},
        "override-pathway-gate": {"physician": "any"},
        "propose-program": {"physician": "any", "nurse": "any"},
        "confirm-program": {"physician": "any"},
        "verify-concentration-change": {"physician": "any", "pharmacist": "any"},
        "cancel-program": {"physician": "any"},
        "prepare-refill": {"physician": "any", "nurse": "any", "pharmacist": "any"},
        "verify-refill": {"physician": "any", "nurse": "any", "pharmacist": "any"},
        "verify-compounded-refill": {"physician": "any", "pharmacist": "any"},
        "record-refill": {"physician": "any", "nurse": "any"},
        "record-follow-up": {"physician": "any", "nurse": "any"},
        "resolve-flag": {"physician": "any", "nurse": "any"},
        "review-unchecked-refill": {"physician": "any", "nurse": "any", "pharmacist": "any"},
        "submit-questionnaire": {"physician": "any", "nurse": "any", "patient": "own"},
        "request-bolus": {"patient": "own"},
        "read-dashboard": {"physician": "any", "nurse": "any", "pharmacist": "any"},
        "read-audit": {"admin": "any", "physician": "any"},
        "manage-users": {"admin": "any"},
        "edit-clinic-settings": {"admin": "any"},
        "book-appointment": {"physician": "any", "nurse": "any"},
        "plan-refills": {"physician": "any", "nurse": "any"},
        "read-clinic-report": {"physician": "any", "nurse": "any", "pharmacist": "any"},
        "read-outbox": {"admin": "any", "physician": "any", "nurse": "any"},
        "set-contact": {"physician": "any", "nurse": "any", "patient": "own"},
        "manage-calendar-feeds": {"physician": "any", "nurse": "any", "pharmacist": "any"},
    }
)

# The verifier must be a different user from the one who proposed or recorded what is verified.
# A physician may confirm a program they wrote themselves (it is their prescription); a change of drug or
# concentration, and every refill, then gets a second user's check; a refill filled without that check gets it
# afterwards, as the review of its flag.
SECOND_PERSON: frozenset[Action] = frozenset(
    {"verify-concentration-change", "verify-refill", "verify-compounded-refill", "review-unchecked-refill"}
)
# Actions on one patient's record (the others are clinic-wide).
PATIENT_SCOPED: frozenset[Action] = frozenset(ACTIONS) - {
    "create-patient",
    "read-dashboard",
    "read-audit",
    "manage-users",
    "edit-clinic-settings",
    "plan-refills",
    "read-clinic-report",
    "read-outbox",
    "manage-calendar-feeds",
}

_ARTICLE: Mapping[Role, str] = MappingProxyType(
    {
        "admin": "an admin",
        "physician": "a physician",
        "nurse": "a nurse",
        "pharmacist": "a pharmacist",
        "patient": "a patient",
    }
)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str
    not_found: bool = False  # answer as if the record did not exist (HTTP 404), never 403


def _check(value: object, known: tuple[str, ...], field: str) -> None:
    if not isinstance(value, str) or value not in known:
        raise InputError(field, f"expected one of {', '.join(known)}, got {value!r}")


def _id(value: object, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise InputError(field, f"expected an id, got {value!r}")
    return value


def allowed(
    role: Role,
    action: Action,
    *,
    user_id: str,
    patient_id: str | None = None,
    own_patient_id: str | None = None,
    recorded_by: str | None = None,
) -> Decision:
    """May `user_id`, acting as `role`, do `action`?

    patient_id: the record acted on (for patient-scoped actions). own_patient_id: for the patient role, the id of
    the patient's own record. recorded_by: for verification actions, the user who proposed or recorded the thing.
    """
    _check(role, ROLES, "role")
    _check(action, ACTIONS, "action")
    _id(user_id, "user_id")
    if role == "patient":
        own = _id(own_patient_id, "own_patient_id")
        if action in PATIENT_SCOPED and _id(patient_id, "patient_id") != own:
            return Decision(False, "no such patient record (a patient sees only their own record)", not_found=True)
    elif action in PATIENT_SCOPED:
        _id(patient_id, "patient_id")

    access = MATRIX[action].get(role)
    if access is None:
        who = [_ARTICLE[r] for r in ROLES if r in MATRIX[action]]
        return Decision(False, f"{_ARTICLE[role]} cannot {ACTION_TEXT[action]} (allowed: {', '.join(who)})")

    if action in SECOND_PERSON:
        by = _id(recorded_by, "recorded_by")
        if by == user_id:
            return Decision(
                False,
                f"a second person must {ACTION_TEXT[action]}: it was proposed or recorded by the same user ({by})",
            )
        return Decision(True, f"{_ARTICLE[role]} may {ACTION_TEXT[action]}, as a second person (recorded by {by})")
    scope = " (their own record)" if access == "own" else ""
    return Decision(True, f"{_ARTICLE[role]} may {ACTION_TEXT[action]}{scope}")


def role_may(role: Role, actions: tuple[Action, ...]) -> Decision:
    """May `role` ever do one of `actions`, whatever the record? Asked before any record is looked up, so a role
    that never may is refused the same way whether or not the record exists (its existence is not disclosed)."""
    _check(role, ROLES, "role")
    for action in actions:
        _check(action, ACTIONS, "action")
    if not actions:
        raise InputError("actions", "expected at least one action")
    if any(role in MATRIX[action] for action in actions):
        return Decision(True, f"{_ARTICLE[role]} may {' or '.join(ACTION_TEXT[a] for a in actions)}")
    who = [_ARTICLE[r] for r in ROLES if any(r in MATRIX[a] for a in actions)]
    return Decision(False, f"{_ARTICLE[role]} cannot {ACTION_TEXT[actions[0]]} (allowed: {', '.join(who)})")


def matrix_markdown() -> str:
    """The role × action matrix as a Markdown table (for the README)."""
    header = "| action | " + " | ".join(ROLES) + " |"
    rule = "|---|" + "---|" * len(ROLES)
    lines = [header, rule]
    for action in ACTIONS:
        cells = []
        for role in ROLES:
            access = MATRIX[action].get(role)
            cells.append("—" if access is None else "own record" if access == "own" else "yes")
        note = " (second person)" if action in SECOND_PERSON else ""
        lines.append(f"| `{action}`{note} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        "(second person): the verifier must be a different user from the one who proposed or recorded it. "
        "A patient asking for another patient's record is answered as if it did not exist (404)."
    )
    return "\n".join(lines) + "\n"
