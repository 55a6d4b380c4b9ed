"""OAuth clients and their secrets (ARCHITECTURE §2 "Client"; TrueParser seed "Regenerating
The Secret"), and the inputs of client writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ClientSecretRecord:
    """One stored secret: its keyed hash only, never the plaintext."""

    id: str
    secret_hash: str
    created_at: datetime
    expires_at: datetime | None  # None = valid until replaced; set = a grace period's end
    last_used_at: datetime | None


@dataclass(frozen=True)
class ClientCredentials:
    """What authenticating a client needs, read in one query whatever the outcome."""

    client_pk: str
    tenant_slug: str
    enabled: bool
    confidential: bool
    secrets: tuple[ClientSecretRecord, ...]  # newest first


@dataclass(frozen=True)
class Client:
    id: str  # the row's primary key; callers know clients by ``client_id``
    tenant_id: str
    client_id: str
    display_name: str
    confidential: bool
    enabled: bool
    grant_types: tuple[str, ...]
    app_ids: tuple[str, ...]
    version: int
    description: str = ""


@dataclass(frozen=True)
class ClientView:
    """A client as admins see it: never a secret, only each secret's metadata."""

    client: Client
    tenant: str
    apps: tuple[str, ...]  # slugs
    scopes: tuple[str, ...]
    roles: tuple[str, ...]
    secrets: tuple[ClientSecretRecord, ...]


@dataclass(frozen=True)
class IssuedCredentials:
    """A plaintext secret, returned exactly once (creation or regeneration)."""

    client_id: str
    client_secret: str
    previous_secret_expires_at: datetime | None = None


@dataclass(frozen=True)
class ClientDraft:
    display_name: str
    apps: tuple[str, ...]
    confidential: bool = True
    description: str = ""
    grant_types: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClientPatch:
    """None leaves a field unchanged; lists given replace the current ones."""

    display_name: str | None = None
    description: str | None = None
    enabled: bool | None = None
    apps: tuple[str, ...] | None = None
    grant_types: tuple[str, ...] | None = None
    scopes: tuple[str, ...] | None = None
    roles: tuple[str, ...] | None = None
