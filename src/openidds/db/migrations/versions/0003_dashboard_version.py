"""The dashboard version: one counter that every change to patients or patient_status bumps, by trigger, in the
writer's own transaction. The dashboard keeps what it read per version (openidds.service.dashboard).

It starts at a random number, so a database made again never repeats a version that a running process cached.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 12:00:00
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = ("patients", "patient_status")
BUMP = "UPDATE dashboard_version SET version = version + 1 WHERE id = 1"


def upgrade() -> None:
    table = op.create_table(
        "dashboard_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(table, [{"id": 1, "version": secrets.randbits(52)}])
    if op.get_bind().dialect.name == "sqlite":
        for name in TABLES:
            for event in ("INSERT", "UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER dashboard_version_{name}_{event.lower()} AFTER {event} ON {name} BEGIN {BUMP}; END"
                )
        return
    # PostgreSQL: once per statement; the function keeps the schema it was made in (tests use one per test).
    op.execute(
        "CREATE FUNCTION dashboard_version_bump() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT "
        f"AS $$ BEGIN {BUMP}; RETURN NULL; END $$"
    )
    for name in TABLES:
        op.execute(
            f"CREATE TRIGGER dashboard_version_{name} AFTER INSERT OR UPDATE OR DELETE ON {name} "
            "FOR EACH STATEMENT EXECUTE FUNCTION dashboard_version_bump()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in TABLES:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER dashboard_version_{name}_{event}")
    else:
        for name in TABLES:
            op.execute(f"DROP TRIGGER dashboard_version_{name} ON {name}")
        op.execute("DROP FUNCTION dashboard_version_bump()")
    op.drop_table("dashboard_version")
