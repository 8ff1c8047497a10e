"""Pathway gates a physician overrode (a trial after an evaluation that needs review, an implant without a
successful trial), refill reconciliation discrepancies as flags to acknowledge, what was done about a follow-up's
urgent flags (and by whom), and each pump's elective replacement indicator and end of service on the dashboard row
(its replacement_due becomes the date to plan the replacement by: clinic.replacement).

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
    with op.batch_alter_table("follow_ups") as batch:
        batch.add_column(sa.Column("resolved_by", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("resolution", sa.Text(), nullable=False, server_default=""))
        batch.create_foreign_key("fk_follow_ups_resolved_by", "users", ["resolved_by"], ["id"])
    # patient_status keeps its dashboard triggers: plain ADD COLUMN, no table rebuild; each row gets the two
    # instants at the patient's next write (service.pump.refresh_status).
    op.add_column("patient_status", sa.Column("eri_at", sa.DateTime(), nullable=True))
    op.add_column("patient_status", sa.Column("end_of_service", sa.DateTime(), nullable=True))
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
    op.drop_column("patient_status", "end_of_service")
    op.drop_column("patient_status", "eri_at")
    with op.batch_alter_table("follow_ups") as batch:
        batch.drop_constraint("fk_follow_ups_resolved_by", type_="foreignkey")
        batch.drop_column("resolution")
        batch.drop_column("resolved_by")
    op.execute("DELETE FROM flags WHERE code = 'refill.discrepancy'")
    op.drop_index("ix_pathway_overrides_patient_id", table_name="pathway_overrides")
    op.drop_table("pathway_overrides")
