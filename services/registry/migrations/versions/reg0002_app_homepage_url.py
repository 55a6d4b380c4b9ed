"""apps.homepage_url: the app's public home page (OpenID Connect's client_uri)

Revision ID: reg0002
Revises: reg0001
Create Date: 2026-12-01 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "reg0002"
down_revision = "reg0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("homepage_url", sa.String(length=2000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.drop_column("homepage_url")
