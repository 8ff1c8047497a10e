"""One patient, one writer: a use case that reads the pump twin and then writes holds the patient's lock until it
commits, so the twin decides on committed state and two requests at once are decided one after the other.

PostgreSQL: the patient's row, locked FOR UPDATE (other patients' writers go on). SQLite: a writer's transaction
began with the database's write lock (db.writers: BEGIN IMMEDIATE), so there is nothing more to take; the patient
is read again all the same, so a row loaded before the lock is never used stale.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from openidds.db.models import Patient
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
