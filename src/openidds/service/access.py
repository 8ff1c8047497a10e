"""Who may do what: the core's role × action matrix applied to a logged-in user."""

from __future__ import annotations

from openidds.clinic.roles import Action, Role, allowed, role_may
from openidds.db.models import User
from openidds.service.errors import Forbidden, NotFound


def require(actor: User, action: Action, *, patient_id: int | None = None, recorded_by: int | None = None) -> None:
    if actor.role == "patient" and patient_id is not None and patient_id != actor.patient_id:
        # Whatever the action (editing demographics is "create-patient", not a record action in the matrix):
        # another patient's record answers as if it did not exist.
        raise NotFound("no such patient")
    decision = allowed(
        _role(actor.role),
        action,
        user_id=str(actor.id),
        patient_id=None if patient_id is None else str(patient_id),
        own_patient_id=None if actor.patient_id is None else str(actor.patient_id),
        recorded_by=None if recorded_by is None else str(recorded_by),
    )
    if not decision.allowed:
        raise NotFound("no such patient") if decision.not_found else Forbidden(decision.reason)


def require_role(actor: User, *actions: Action, patient_id: int | None = None) -> None:
    """Before any lookup: another patient's record answers 404, a role that may do none of `actions` 403, the same
    whether or not the record exists. The full check (`require`, second person included) follows the lookup."""
    if actor.role == "patient" and patient_id is not None and patient_id != actor.patient_id:
        raise NotFound("no such patient")
    decision = role_may(_role(actor.role), actions)
    if not decision.allowed:
        raise Forbidden(decision.reason)


def _role(role: str) -> Role:
    if role not in ("admin", "physician", "nurse", "pharmacist", "patient"):
        raise Forbidden(f"unknown role {role!r}")
    return role  # type: ignore[return-value]


def actor_name(actor: User) -> str:
    return f"{actor.username} ({actor.role})"


def permits(actor: User, action: Action, *, patient_id: int | None = None, recorded_by: int | None = None) -> bool:
    """Whether `actor` may do `action` (no exception): for what a screen offers and a use case allows beside."""
    try:
        require(actor, action, patient_id=patient_id, recorded_by=recorded_by)
    except (Forbidden, NotFound):
        return False
    return True
