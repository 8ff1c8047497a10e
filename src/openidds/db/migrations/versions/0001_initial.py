"""Initial schema: users and tokens, the care pathway, the dashboard status row, the audit chain.

Revision ID: 0001
Revises:
Create Date: 2026-11-21 13:59:12.218098
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit",
        sa.Column("sequence", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("entity", sa.String(length=80), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("previous_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("sequence"),
    )
    with op.batch_alter_table("audit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_entity"), ["entity"], unique=False)

    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "patients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mrn", sa.String(length=40), nullable=False),
        sa.Column("family_name", sa.String(length=100), nullable=False),
        sa.Column("given_name", sa.String(length=100), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("sex", sa.String(length=20), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("care_area", sa.String(length=40), nullable=False),
        sa.Column("indications", sa.JSON(), nullable=False),
        sa.Column("oral_mme_per_day", sa.String(length=80), nullable=True),
        sa.Column("allergies", sa.JSON(), nullable=False),
        sa.Column("anticoagulants", sa.JSON(), nullable=False),
        sa.Column("psychosis_history", sa.Boolean(), nullable=True),
        sa.Column("life_expectancy_months", sa.Integer(), nullable=True),
        sa.Column("stage", sa.String(length=30), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("mrn"),
    )
    op.create_table(
        "patient_status",
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("reservoir_ml", sa.String(length=80), nullable=True),
        sa.Column("next_refill_due", sa.DateTime(), nullable=True),
        sa.Column("refill_reason", sa.Text(), nullable=False),
        sa.Column("active_alarms", sa.JSON(), nullable=False),
        sa.Column("projected_alarms", sa.JSON(), nullable=False),
        sa.Column("replacement_due", sa.DateTime(), nullable=True),
        sa.Column("urgent_flags", sa.Integer(), nullable=False),
        sa.Column("withdrawal_risk", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
        ),
        sa.PrimaryKeyConstraint("patient_id"),
    )
    with op.batch_alter_table("patient_status", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_patient_status_next_refill_due"), ["next_refill_due"], unique=False)

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "evaluations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evaluations_patient_id"), ["patient_id"], unique=False)

    op.create_table(
        "follow_ups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("complications", sa.JSON(), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("recorded_by", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_follow_ups_patient_id"), ["patient_id"], unique=False)

    op.create_table(
        "implants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("pump_model", sa.String(length=60), nullable=False),
        sa.Column("pump_serial", sa.String(length=60), nullable=False),
        sa.Column("catheter_model", sa.String(length=60), nullable=False),
        sa.Column("catheter_length_cm", sa.String(length=80), nullable=False),
        sa.Column("tip_level", sa.String(length=20), nullable=False),
        sa.Column("implanted_at", sa.DateTime(), nullable=False),
        sa.Column("surgeon", sa.String(length=200), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("implants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_implants_patient_id"), ["patient_id"], unique=False)

    op.create_table(
        "interrogations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("reservoir_ml", sa.String(length=80), nullable=True),
        sa.Column("alarms", sa.JSON(), nullable=False),
        sa.Column("eri", sa.Boolean(), nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("interrogations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_interrogations_patient_id"), ["patient_id"], unique=False)

    op.create_table(
        "program_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("overrides", sa.JSON(), nullable=False),
        sa.Column("diff", sa.JSON(), nullable=False),
        sa.Column("needs_second", sa.Boolean(), nullable=False),
        sa.Column("bridge", sa.Boolean(), nullable=False),
        sa.Column("effective_at", sa.DateTime(), nullable=True),
        sa.Column("proposed_by", sa.Integer(), nullable=False),
        sa.Column("proposed_at", sa.DateTime(), nullable=False),
        sa.Column("confirmed_by", sa.Integer(), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(), nullable=True),
        sa.Column("verified_by", sa.Integer(), nullable=True),
        sa.Column("verified_at", sa.DateTime(), nullable=True),
        sa.Column("closed_reason", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["confirmed_by"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
        ),
        sa.ForeignKeyConstraint(
            ["proposed_by"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["verified_by"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("patient_id", "number"),
    )
    with op.batch_alter_table("program_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_program_versions_patient_id"), ["patient_id"], unique=False)

    op.create_table(
        "refills",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("drug_lot", sa.String(length=60), nullable=False),
        sa.Column("solution", sa.JSON(), nullable=False),
        sa.Column("compounded", sa.Boolean(), nullable=False),
        sa.Column("expected_ml", sa.String(length=80), nullable=False),
        sa.Column("expected_low_ml", sa.String(length=80), nullable=False),
        sa.Column("expected_high_ml", sa.String(length=80), nullable=False),
        sa.Column("withdrawn_ml", sa.String(length=80), nullable=False),
        sa.Column("filled_ml", sa.String(length=80), nullable=False),
        sa.Column("reconciliation", sa.String(length=30), nullable=False),
        sa.Column("discrepancy_ml", sa.String(length=80), nullable=False),
        sa.Column("likely_causes", sa.JSON(), nullable=False),
        sa.Column("next_refill_due", sa.DateTime(), nullable=True),
        sa.Column("recorded_by", sa.Integer(), nullable=False),
        sa.Column("verified_by", sa.Integer(), nullable=True),
        sa.Column("verified_at", sa.DateTime(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["verified_by"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("refills", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refills_patient_id"), ["patient_id"], unique=False)

    op.create_table(
        "remote_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("remote_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_remote_requests_patient_id"), ["patient_id"], unique=False)

    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_table(
        "trials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("trials", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trials_patient_id"), ["patient_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("trials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trials_patient_id"))

    op.drop_table("trials")
    op.drop_table("tokens")
    with op.batch_alter_table("remote_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_remote_requests_patient_id"))

    op.drop_table("remote_requests")
    with op.batch_alter_table("refills", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refills_patient_id"))

    op.drop_table("refills")
    with op.batch_alter_table("program_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_program_versions_patient_id"))

    op.drop_table("program_versions")
    with op.batch_alter_table("interrogations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_interrogations_patient_id"))

    op.drop_table("interrogations")
    with op.batch_alter_table("implants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_implants_patient_id"))

    op.drop_table("implants")
    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_follow_ups_patient_id"))

    op.drop_table("follow_ups")
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evaluations_patient_id"))

    op.drop_table("evaluations")
    op.drop_table("users")
    with op.batch_alter_table("patient_status", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patient_status_next_refill_due"))

    op.drop_table("patient_status")
    op.drop_table("patients")
    op.drop_table("audit_head")
    with op.batch_alter_table("audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_entity"))

    op.drop_table("audit")
