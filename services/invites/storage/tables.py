"""Invites tables."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, MetaData, String, Table

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

invite_codes = Table(
    "invite_codes",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant", String(63), nullable=False),
    Column("app_id", String(36), nullable=False),
    # Keyed hash of the code; the plaintext is shown once at minting.
    Column("code_hash", String(200), nullable=False, unique=True),
    Column("code_hint", String(8), nullable=False),
    Column("bound_email", String(320), nullable=True),
    Column("created_by", String(120), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("redeemed_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Index("ix_invite_codes_tenant_app_id", "tenant", "app_id"),
)
