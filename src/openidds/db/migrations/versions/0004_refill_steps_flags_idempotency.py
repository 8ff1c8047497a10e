"""Refills in steps (prepared → checked → completed), programs that wait for the refill with their solution,
flags raised by the use cases, interrogations with the program the pump reports, and idempotency keys.

Refills already recorded were filled in one step: they become completed, prepared by whoever recorded them at
their fill instant, with the fill as the prepared volume; their second check (verified_by) becomes checked_by.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 18:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

EXACT = sa.String(length=80)
MAY_BE_EMPTY = (
    "expected_ml",
    "expected_low_ml",
    "expected_high_ml",
    "withdrawn_ml",
    "filled_ml",
    "discrepancy_ml",
)


def upgrade() -> None:
    with op.batch_alter_table("refills") as batch:
        batch.add_column(sa.Column("status", sa.String(length=20), nullable=False, server_default="completed"))
        batch.add_column(sa.Column("expires_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("volume_ml", EXACT, nullable=True))
        batch.add_column(sa.Column("compounded_reasons", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("program_number", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("prepared_by", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("prepared_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("pocket_ml", EXACT, nullable=True))
        batch.add_column(sa.Column("emergency_reason", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("cancelled_by", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("cancelled_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("cancel_reason", sa.Text(), nullable=False, server_default=""))
        batch.alter_column("verified_by", new_column_name="checked_by", existing_type=sa.Integer(), nullable=True)
        batch.alter_column("verified_at", new_column_name="checked_at", existing_type=sa.DateTime(), nullable=True)
        batch.alter_column("at", existing_type=sa.DateTime(), nullable=True)
        batch.alter_column("reconciliation", existing_type=sa.String(length=30), nullable=True)
        batch.alter_column("recorded_by", existing_type=sa.Integer(), nullable=True)
        for name in MAY_BE_EMPTY:
            batch.alter_column(name, existing_type=EXACT, nullable=True)
    op.execute(
        "UPDATE refills SET volume_ml = filled_ml, prepared_by = recorded_by, prepared_at = at, "
        "compounded_reasons = '[]'"
    )
    with op.batch_alter_table("refills") as batch:
        batch.alter_column("volume_ml", existing_type=EXACT, nullable=False)
        batch.alter_column("prepared_by", existing_type=sa.Integer(), nullable=False)
        batch.alter_column("prepared_at", existing_type=sa.DateTime(), nullable=False)
        batch.alter_column("compounded_reasons", existing_type=sa.JSON(), nullable=False)
        batch.create_foreign_key("fk_refills_prepared_by", "users", ["prepared_by"], ["id"])
        batch.create_foreign_key("fk_refills_cancelled_by", "users", ["cancelled_by"], ["id"])

    with op.batch_alter_table("program_versions") as batch:
        batch.add_column(sa.Column("bridge_off_reason", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("based_on", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("applied_by", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("cancelled_by", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("cancelled_at", sa.DateTime(), nullable=True))
        batch.create_foreign_key("fk_program_versions_applied_by", "refills", ["applied_by"], ["id"])
        batch.create_foreign_key("fk_program_versions_cancelled_by", "users", ["cancelled_by"], ["id"])

    with op.batch_alter_table("interrogations") as batch:
        batch.add_column(sa.Column("reported", sa.JSON(), nullable=True))
    op.execute("UPDATE interrogations SET reported = '[]'")
    with op.batch_alter_table("interrogations") as batch:
        batch.alter_column("reported", existing_type=sa.JSON(), nullable=False)

    # patient_status keeps its dashboard triggers: plain ADD COLUMN, no table rebuild.
    op.add_column("patient_status", sa.Column("flags", sa.JSON(), nullable=True))
    op.add_column("patient_status", sa.Column("pending_program", sa.Text(), nullable=False, server_default=""))
    op.execute("UPDATE patient_status SET flags = '[]'")

    op.create_table(
        "flags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("citation", sa.JSON(), nullable=True),
        sa.Column("entity", sa.String(length=80), nullable=False),
        sa.Column("raised_at", sa.DateTime(), nullable=False),
        sa.Column("raised_by", sa.Integer(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("resolved_by", sa.Integer(), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"]),
        sa.ForeignKeyConstraint(["raised_by"], ["users.id"]),
        sa.ForeignKeyConstraint(["resolved_by"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_flags_patient_id", "flags", ["patient_id"])
    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "key"),
    )


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_index("ix_flags_patient_id", table_name="flags")
    op.drop_table("flags")
    op.drop_column("patient_status", "pending_program")
    op.drop_column("patient_status", "flags")
    with op.batch_alter_table("interrogations") as batch:
        batch.drop_column("reported")
    with op.batch_alter_table("program_versions") as batch:
        batch.drop_constraint("fk_program_versions_cancelled_by", type_="foreignkey")
        batch.drop_constraint("fk_program_versions_applied_by", type_="foreignkey")
        for name in ("cancelled_at", "cancelled_by", "applied_by", "based_on", "bridge_off_reason"):
            batch.drop_column(name)
    op.execute("DELETE FROM refills WHERE status <> 'completed'")
    with op.batch_alter_table("refills") as batch:
        batch.drop_constraint("fk_refills_cancelled_by", type_="foreignkey")
        batch.drop_constraint("fk_refills_prepared_by", type_="foreignkey")
        batch.alter_column("checked_by", new_column_name="verified_by", existing_type=sa.Integer(), nullable=True)
        batch.alter_column("checked_at", new_column_name="verified_at", existing_type=sa.DateTime(), nullable=True)
        for name in (
            "cancel_reason",
            "cancelled_at",
            "cancelled_by",
            "emergency_reason",
            "pocket_ml",
            "prepared_at",
            "prepared_by",
            "program_number",
            "compounded_reasons",
            "volume_ml",
            "expires_at",
            "status",
        ):
            batch.drop_column(name)
