"""Time moves on without a write: re-evaluate each patient whose dashboard row has gone stale.

`PatientStatus.recheck_at` is the next instant at which what the row says stops being true with nothing written (a
projected alarm becomes active, the reservoir empties, stability or ERI is reached, a latest safe day or a booked
visit passes); service.pump.refresh_status sets it. `recheck_due` picks the rows whose instant has come, oldest
first, a bounded batch, and refreshes each patient in its own short writer's transaction, so one slow patient never
holds the write lock for the others and a failure rolls back one patient only.

Not audited: a recheck records nothing new. It recomputes a cache of what the record already implies at `now` (the
twin replays the same records); the audit trail keeps what people did. What changed (an alarm now active) shows on
the dashboard and in the queues, which read the row.

Concurrency: two workers (or a worker and a request writing the same patient) may pick the same row. Each takes
the patient's lock (SQLite: the write lock at BEGIN; PostgreSQL: the patient's row FOR UPDATE, the order every
writer keeps) and reads the row again: a row another writer refreshed meanwhile (recheck_at now in the future, or
gone) is skipped, so each due patient is re-evaluated once and nobody waits in a cycle.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from openidds.db import writers
from openidds.db.models import PatientStatus
from openidds.service import locks, pump

log = logging.getLogger(__name__)
# refresh_status gave no instant after `now` (it should): look again after this rather than every pass (a row stuck
# in the past would be picked first forever and starve the rest of the batch) or never (a missed alarm).
RETRY = timedelta(hours=1)


def due_patients(s: Session, now: datetime, limit: int) -> list[int]:
    """Patients whose row is stale at `now`, the longest stale first (then by id: a stable order)."""
    query = (
        select(PatientStatus.patient_id)
        .where(PatientStatus.recheck_at.is_not(None), PatientStatus.recheck_at <= now)
        .order_by(PatientStatus.recheck_at, PatientStatus.patient_id)
        .limit(limit)
    )
    return list(s.scalars(query))


def recheck_one(s: Session, patient_id: int, now: datetime) -> bool:
    """In a writer's transaction: refresh the patient's row if it is still due at `now`. True when it was."""
    locks.lock_patient(s, patient_id)
    status = s.scalars(
        select(PatientStatus)
        .where(PatientStatus.patient_id == patient_id)
        .execution_options(populate_existing=True)  # what is committed now, not what the batch's read saw
    ).first()
    if status is None or status.recheck_at is None or status.recheck_at > now:
        return False  # refreshed by another writer meanwhile
    status = pump.refresh_status(s, patient_id, now)
    if status.recheck_at is not None and status.recheck_at <= now:
        log.warning("patient %s: recheck_at left at %s, not after %s", patient_id, status.recheck_at, now)
        status.recheck_at = now + RETRY
    return True


def recheck_due(engine: Engine, now: datetime, limit: int = 500) -> int:
    """Re-evaluate up to `limit` patients whose recheck instant has come (recheck_at <= now), each in its own
    transaction, and return how many were re-evaluated (rows another writer refreshed meanwhile are not counted).
    A patient whose refresh fails is logged and left due (the next pass tries again); the others go on."""
    if limit < 1:
        return 0
    with Session(engine) as s:
        due = due_patients(s, now, limit)
    done = 0
    make = writers(engine)
    for patient_id in due:
        try:
            with make() as s, s.begin():
                done += recheck_one(s, patient_id, now)
        except Exception:  # one patient's failure must not stop the others' rechecks
            log.exception("recheck of patient %s failed", patient_id)
    return done
