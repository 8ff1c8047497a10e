"""Shared by the routers: a record as JSON, one patient's records, a program version, a user."""

from __future__ import annotations

from datetime import date, datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from openidds.api.deps import Actor, Tx
from openidds.api.errors import AUTHENTICATED, responses
from openidds.db.models import (
    Base,
    Evaluation,
    FollowUp,
    Implant,
    Interrogation,
    ProgramVersion,
    RemoteRequest,
    Trial,
    User,
)
from openidds.quantities.units import format_number
from openidds.service import pathway
from openidds.service import programs as programs_service
from openidds.service.errors import NotFound
from openidds.service.pump import WAITING

SEQUENCE_MAX = 2**63 - 1  # audit sequence numbers are 64-bit
Json = dict[str, Any]  # a record as JSON: the route's response model says its shape

# The error answers a route behind a login can give; a write can also conflict with the record as it is now (a
# version read earlier, a step out of order, an Idempotency-Key still running).
READS = AUTHENTICATED
WRITES = {**AUTHENTICATED, **responses(409)}


def row(obj: Base) -> dict[str, Any]:
    """A record as JSON: exact numbers as text, instants in ISO 8601 UTC."""
    out: dict[str, Any] = {}
    for column in inspect(obj).mapper.column_attrs:
        value = getattr(obj, column.key)
        if column.key in ("password_hash", "token_hash", "document"):
            continue
        if isinstance(value, datetime | date):
            value = value.isoformat()
        elif isinstance(value, Fraction):
            value = format_number(value, 9)
        out[column.key] = value
    return out


def user_json(u: User) -> dict[str, Any]:
    return {"id": u.id, "username": u.username, "full_name": u.full_name, "role": u.role, "patient_id": u.patient_id}


def records_of(s: Tx, actor: Actor, patient_id: int, model: Any, order: Any) -> list[dict[str, Any]]:
    pathway.read_patient(s, actor, patient_id)
    return [row(r) for r in s.scalars(select(model).where(model.patient_id == patient_id).order_by(order))]


def record_of(s: Tx, actor: Actor, patient_id: int, model: Any, record_id: int) -> Any:
    """One of a patient's records; another patient's record answers 404 like a missing one."""
    pathway.read_patient(s, actor, patient_id)
    found = s.get(model, record_id)
    if found is None or found.patient_id != patient_id:
        raise NotFound(f"no such record: {record_id}")
    return found


RECORDS: dict[str, Any] = {
    "evaluations": Evaluation,
    "trials": Trial,
    "implants": Implant,
    "follow-ups": FollowUp,
    "interrogations": Interrogation,
    "remote-requests": RemoteRequest,
}


def program_json(v: ProgramVersion, s: Session | None = None) -> dict[str, Any]:
    """A program version; one that waits says the bridge it will run from what the pump holds now."""
    out = {**row(v), "document": v.document}
    if s is not None and v.status in WAITING:
        out["bridge_plan"] = programs_service.bridge_summary(s, v) or None
    return out
