"""Wider program_versions.status ("awaiting-verification" is 21 characters) and audit.actor (an 80-character
username plus its role).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return  # SQLite does not enforce VARCHAR lengths: nothing to change
    op.alter_column(
        "program_versions", "status", type_=sa.String(length=30), existing_type=sa.String(length=20), nullable=False
    )
    op.alter_column("audit", "actor", type_=sa.String(length=120), existing_type=sa.String(length=80), nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.alter_column("audit", "actor", type_=sa.String(length=80), existing_type=sa.String(length=120), nullable=False)
    op.alter_column(
        "program_versions", "status", type_=sa.String(length=20), existing_type=sa.String(length=30), nullable=False
    )
