"""Pathway gates a physician overrode (a trial after an evaluation that needs review, an implant without a
successful trial), and refill reconciliation discrepancies as flags to acknowledge.

A completed refill outside the expected band becomes an open flag (code refill.discrepancy) that a clinician
acknowledges with a note, like every other flag; discrepancies recorded before this migration get theirs here.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 21:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pathway_overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=20), nullable=False),
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("gate", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("entity", sa.String(length=80), nullable=False),
        sa.Column("by", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"]),
        sa.ForeignKeyConstraint(["by"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_pathway_overrides_patient_id", "pathway_overrides", ["patient_id"])
    # Discrepancies already recorded: one open flag each, raised by whoever filled the refill, at the fill.
    op.execute(
        "INSERT INTO flags (patient_id, code, urgent, message, actions, citation, entity, raised_at, raised_by, "
        "resolution, version) "
        "SELECT patient_id, 'refill.discrepancy', false, "
        "'reconciliation discrepancy recorded at a refill before flags were kept for it: see the refill', "
        "'[]', NULL, 'refill/' || CAST(id AS VARCHAR(20)), at, COALESCE(recorded_by, prepared_by), '', 1 "
        "FROM refills WHERE status = 'completed' AND reconciliation IS NOT NULL AND reconciliation <> 'within-band'"
    )


def downgrade() -> None:
    op.execute("DELETE FROM flags WHERE code = 'refill.discrepancy'")
    op.drop_index("ix_pathway_overrides_patient_id", table_name="pathway_overrides")
    op.drop_table("pathway_overrides")
