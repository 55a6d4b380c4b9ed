"""Runtime configuration, read from ``TESSERA_*`` environment variables.

Validated once at start: every bad value is reported with the variable name and a fix, and
production mode refuses embedded defaults (SQLite, in-process cache, generated keys) that are
only safe on a developer's machine.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

import limits
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

CONTEXTS = ("registry", "token", "invites")
SERVICES = ("registry", "token", "invites", "gateway")


class Mode(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class SettingsError(Exception):
    """Configuration is unusable; the message lists each bad variable and how to fix it."""


class Settings(BaseSettings):
    """All configuration. Field ``x`` is read from ``TESSERA_X``."""

    model_config = SettingsConfigDict(env_prefix="TESSERA_", extra="ignore", frozen=True)

    mode: Mode = Mode.DEVELOPMENT
    public_url: str = Field(
        "http://127.0.0.1:8000",
        description="Base URL clients use to reach the gateway; tenant issuers derive from it.",
    )
    data_dir: Path = Field(Path(".tessera-data"), description="Embedded mode: SQLite files, keys.")
    database_url: str | None = Field(
        None, description="postgresql+psycopg://... ; unset = one SQLite file per context."
    )
    db_schema_prefix: str = Field("", description="Prefix for the per-context PostgreSQL schemas.")
    redis_url: str | None = Field(None, description="redis://... ; unset = in-process cache.")

    http_host: str = "127.0.0.1"
    http_port: int = Field(8000, ge=0, le=65535)
    registry_listen: str = "127.0.0.1:50051"
    token_listen: str = "127.0.0.1:50052"
    invites_listen: str = "127.0.0.1:50053"
    registry_target: str | None = Field(None, description="Where to reach registry; = listen.")
    token_target: str | None = None
    invites_target: str | None = None

    default_app_limit: int = Field(25, ge=1, le=100_000)
    access_token_seconds: int = Field(900, ge=60, le=86_400)
    max_access_token_bytes: int = Field(
        8192,
        ge=2048,
        le=65_536,
        description="Size budget of an access token: past it the token carries "
        "permissions_omitted instead of its permissions (introspection has them).",
    )
    # Signing-key rotation (services.token.domain.keys, README "Signing keys").
    key_rotation_lead_seconds: int | None = Field(
        None,
        ge=10,
        le=2_592_000,
        description="Default lead time of a key rotation: a new key is published this long "
        "before it signs. Unset: 3600 in production, 60 in development.",
    )
    key_retire_margin_seconds: int = Field(
        300,
        ge=60,
        le=86_400,
        description="How long a retired key stays published after its last token can have "
        "expired: covers clock skew, verifiers' leeway and replicas' key caches.",
    )
    # At least 10: the SDK verifier refetches a JWKS for an unknown kid at most every 10 s, so
    # no lead time may be shorter.
    jwks_max_age_seconds: int = Field(
        300,
        ge=10,
        le=86_400,
        description="Longest Cache-Control max-age of the JWKS and discovery documents; no "
        "rotation may use a shorter lead time than the max-age they are served with.",
    )
    shutdown_grace_seconds: float = Field(10.0, ge=0, le=300)

    encryption_keys: SecretStr | None = Field(
        None, description="Envelope KEKs 'kid:base64(32 bytes),...', first is current."
    )
    secret_peppers: SecretStr | None = Field(
        None, description="HMAC peppers 'v:base64(>=32 bytes),...', first is current."
    )
    bootstrap_admin_client_id: str = "tessera-admin"
    bootstrap_admin_secret: SecretStr | None = Field(
        None, description="Secret of the bootstrap admin client; dev mode generates one."
    )

    rate_limit_failed_auth_per_client: str = Field(
        "10/minute",
        description="Failed client authentications per client id before 429 (limits syntax).",
    )
    rate_limit_failed_auth_per_address: str = Field(
        "30/minute",
        description="Failed client authentications per remote address before 429.",
    )
    trusted_proxies: str = Field(
        "",
        description="Addresses whose X-Forwarded-For is believed (comma-separated; '*' = any).",
    )

    log_format: str = Field("console", pattern="^(console|json)$")
    log_level: str = Field("INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")

    @field_validator("public_url")
    @classmethod
    def _public_url_is_absolute(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL such as https://auth.example.com")
        if parts.query or parts.fragment:
            raise ValueError("must not carry a query or fragment")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _database_is_postgres(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("postgresql+psycopg://", "postgresql://")):
            raise ValueError(
                "must be a PostgreSQL URL such as postgresql+psycopg://user@host:5432/db "
                "(leave it unset for the embedded SQLite default)"
            )
        return value.replace("postgresql://", "postgresql+psycopg://", 1)

    @field_validator("db_schema_prefix")
    @classmethod
    def _schema_prefix_is_identifier(cls, value: str) -> str:
        if value and not (value.replace("_", "a").isalnum() and value[0].isalpha()):
            raise ValueError("must be letters, digits and underscores, starting with a letter")
        return value.lower()

    @field_validator("rate_limit_failed_auth_per_client", "rate_limit_failed_auth_per_address")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        try:
            amount = limits.parse(value).amount
        except ValueError:
            amount = 0
        if amount < 1:
            raise ValueError("must be a rate of at least 1, such as '10/minute' or '100 per hour'")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis:// or rediss:// URL (unset = in-process cache)")
        return value

    @model_validator(mode="after")
    def _production_needs_real_backends(self) -> Self:
        if self.mode is Mode.PRODUCTION:
            missing = [
                f"TESSERA_{name.upper()}"
                for name in ("database_url", "redis_url", "encryption_keys", "secret_peppers")
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(
                    "production mode needs "
                    + ", ".join(missing)
                    + " (the embedded defaults are for development only)"
                )
        return self

    def target(self, service: str) -> str:
        """The address other services dial to reach ``service``."""
        explicit: str | None = getattr(self, f"{service}_target")
        return explicit or str(getattr(self, f"{service}_listen"))

    def issuer(self, tenant: str) -> str:
        """A tenant's OIDC issuer: ``{PUBLIC_URL}/t/{tenant}``."""
        return f"{self.public_url}/t/{tenant}"

    @property
    def production(self) -> bool:
        return self.mode is Mode.PRODUCTION

    @property
    def rotation_lead_seconds(self) -> int:
        """The default lead time of a key rotation (TESSERA_KEY_ROTATION_LEAD_SECONDS, else
        an hour in production and a minute in development)."""
        if self.key_rotation_lead_seconds is not None:
            return self.key_rotation_lead_seconds
        return 3600 if self.production else 60

    @property
    def jwks_cache_seconds(self) -> int:
        """The Cache-Control max-age of the JWKS and discovery documents, which is also the
        shortest lead time a rotation may ask for: a relying party's cached copy must expire
        before a key it does not hold starts signing, so max-age ≤ every lead time."""
        return min(self.jwks_max_age_seconds, self.rotation_lead_seconds)


def load_settings(**overrides: Any) -> Settings:
    """Read and validate settings; raise SettingsError naming each bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            location = ".".join(str(part) for part in error["loc"])
            variable = f"TESSERA_{location.upper()}" if location else "configuration"
            lines.append(f"  {variable}: {error['msg']}")
        raise SettingsError("invalid configuration:\n" + "\n".join(lines)) from exc
