"""snapshot_versions: one version per tenant and one for the platform, bumped with every
change a token may carry (the token service's cache checks them)

Revision ID: reg0003
Revises: reg0002
Create Date: 2026-12-01 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "reg0003"
down_revision = "reg0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "snapshot_versions",
        sa.Column("scope", sa.String(length=63), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("scope", name=op.f("pk_snapshot_versions")),
    )


def downgrade() -> None:
    op.drop_table("snapshot_versions")
