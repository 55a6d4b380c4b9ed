"""Token-service tables."""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Index, MetaData, String, Table, Text, text

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("tenant", String(63), nullable=False),
    Column("alg", String(16), nullable=False),
    # next (published, not yet signing) → current (signing) → retired (published until
    # publish_until, so tokens it signed still verify) → gone.
    Column("state", String(16), nullable=False),
    Column("private_key", Text, nullable=False),  # envelope ciphertext of the PKCS#8 PEM
    Column("public_jwk", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("activated_at", DateTime(timezone=True), nullable=True),
    Column("publish_until", DateTime(timezone=True), nullable=True),
    # When a key in state "next" starts signing (its lead time after the rotation). tok0002.
    Column("activates_at", DateTime(timezone=True), nullable=True),
    Index("ix_signing_keys_tenant_alg", "tenant", "alg"),
    # At most one signing key per tenant and algorithm, even when replicas race to create it.
    Index(
        "uq_signing_keys_current",
        "tenant",
        "alg",
        unique=True,
        postgresql_where=text("state = 'current'"),
        sqlite_where=text("state = 'current'"),
    ),
)

# Access tokens revoked before they expire (RFC 7009), kept only until then. tok0002.
revoked_tokens = Table(
    "revoked_tokens",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("tenant", String(63), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_revoked_tokens_expires_at", "expires_at"),
)
