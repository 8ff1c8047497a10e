"""Migration 0004 on a database that already holds refills recorded in one step, on SQLite and PostgreSQL: they
become completed refills, prepared by whoever recorded them at their fill instant, their second check kept, and
the service reads them as before. Down to 0003 and up again round-trips."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, text

from openidds.db import sessions
from openidds.db.engine import alembic_config
from openidds.db.models import Interrogation, PatientStatus, Refill
from tests.clinic_db import engine_for

AT = datetime(2026, 11, 21, 15, 0)  # naive UTC, as the columns store it


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from engine_for(request.param, tmp_path)


def to(engine: Engine, revision: str, down: bool = False) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def test_one_step_refills_become_completed_refills(engine: Engine) -> None:
    to(engine, "0003")
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO users (id, username, full_name, role, password_hash, active, created_at) VALUES "
                "(1, 'nora', 'Nora', 'nurse', 'x', true, :at), (2, 'phil', 'Phil', 'pharmacist', 'x', true, :at)"
            ),
            {"at": AT},
        )
        c.execute(
            text(
                "INSERT INTO patients (id, mrn, family_name, given_name, birth_date, sex, timezone, care_area, "
                "indications, allergies, anticoagulants, stage, created_at, version) VALUES (1, 'M-1', 'Doe', "
                "'Jane', '1960-02-03', 'female', 'America/Chicago', 'pain-noncancer', '[]', '[]', '[]', 'implanted', "
                ":at, 1)"
            ),
            {"at": AT},
        )
        c.execute(
            text(
                "INSERT INTO refills (id, patient_id, at, drug_lot, solution, compounded, expected_ml, "
                "expected_low_ml, expected_high_ml, withdrawn_ml, filled_ml, reconciliation, discrepancy_ml, "
                "likely_causes, recorded_by, verified_by, verified_at, version) VALUES (1, 1, :at, 'L-1', "
                '\'[{"name": "morphine", "concentration": "10 mg/mL"}]\', false, \'97/4\', \'87550/4000\', '
                "'106450/4000', '24', '40', 'within-band', '-1/4', '[]', 1, 2, :at, 1)"
            ),
            {"at": AT},
        )
        c.execute(
            text(
                "INSERT INTO interrogations (id, patient_id, at, reservoir_ml, alarms, eri, recorded_by) "
                "VALUES (1, 1, :at, '24', '[]', false, 1)"
            ),
            {"at": AT},
        )
        c.execute(
            text(
                "INSERT INTO patient_status (patient_id, refill_reason, active_alarms, projected_alarms, "
                "urgent_flags, withdrawal_risk, updated_at) VALUES (1, '', '[]', '[]', 0, false, :at)"
            ),
            {"at": AT},
        )
    to(engine, "head")
    with sessions(engine)() as s:
        refill = s.get(Refill, 1)
        assert refill is not None
        assert (refill.status, refill.prepared_by, refill.checked_by, refill.recorded_by) == ("completed", 1, 2, 1)
        assert refill.prepared_at == refill.at == AT.replace(tzinfo=UTC)
        assert (refill.volume_ml, refill.filled_ml, refill.withdrawn_ml) == (40, 40, 24)
        assert refill.expected_ml * 4 == 97 and refill.expires_at is None and refill.compounded_reasons == []
        # 24.25 ∓ 2.3625 mL (± 15 % of the 15.75 mL delivered), kept exact through the upgrade
        assert (refill.expected_low_ml, refill.expected_high_ml) == (Fraction("21.8875"), Fraction("26.6125"))
        assert refill.emergency_reason == "" and refill.pocket_ml is None
        interrogation = s.get(Interrogation, 1)
        assert interrogation is not None and interrogation.reported == []
        status = s.get(PatientStatus, 1)
        assert status is not None and (status.flags, status.pending_program) == ([], "")
    # and back: down to 0003 (the refill kept, as it was recorded) and up again
    to(engine, "0003", down=True)
    with engine.connect() as c:
        row = c.execute(text("SELECT verified_by, filled_ml FROM refills WHERE id = 1")).one()
        assert tuple(row) == (2, "40")
    to(engine, "head")
    with sessions(engine)() as s:
        again = s.get(Refill, 1)
        assert again is not None and (again.status, again.checked_by) == ("completed", 2)
