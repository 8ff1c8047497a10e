"""One patient, one writer: a use case that reads the pump twin and then writes holds the patient's lock until it
commits, so the twin decides on committed state and two requests at once are decided one after the other.

PostgreSQL: the patient's row, locked FOR UPDATE (other patients' writers go on). SQLite: a writer's transaction
began with the database's write lock (db.writers: BEGIN IMMEDIATE), so there is nothing more to take; the patient
is read again all the same, so a row loaded before the lock is never used stale.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openidds.db.models import Interrogation, Patient, ProgramVersion, Refill, RemoteRequest
from openidds.service.errors import NotFound


def lock_patient(s: Session, patient_id: int) -> Patient:
    """The patient, locked for this transaction (NotFound when there is no such patient)."""
    query = select(Patient).where(Patient.id == patient_id).execution_options(populate_existing=True)
    if s.get_bind().dialect.name != "sqlite":
        query = query.with_for_update()
    patient = s.scalars(query).first()
    if patient is None:
        raise NotFound("no such patient")
    return patient


def decision_instant(s: Session, patient_id: int, now: datetime) -> datetime:
    """The instant a serialised use case decides at: `now`, or the latest instant already on the patient's record
    when that is later. A request that waited for the lock read its clock before the one that held it committed;
    deciding at its own, earlier instant would leave the committed record in its future, unseen by the twin (two
    remote presses a millisecond apart would both be given)."""
    latest = [
        s.scalar(select(func.max(RemoteRequest.at)).where(RemoteRequest.patient_id == patient_id)),
        s.scalar(select(func.max(Refill.at)).where(Refill.patient_id == patient_id)),
        s.scalar(select(func.max(Interrogation.at)).where(Interrogation.patient_id == patient_id)),
        s.scalar(select(func.max(ProgramVersion.effective_at)).where(ProgramVersion.patient_id == patient_id)),
    ]
    return max([now, *(t for t in latest if t is not None)])
