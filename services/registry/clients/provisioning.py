"""Issuing client credentials: the secret shown once, and the client every new app gets.

Secrets are ``tsk_`` + 256 random bits, stored only as a versioned keyed hash
(services.common.hashing.SecretHasher); the plaintext leaves here once and is never stored.
"""

from __future__ import annotations

from datetime import datetime

from services.common.hashing import (
    CLIENT_SECRET_PREFIX,
    SecretHasher,
    generate_client_id,
    generate_secret,
)
from services.registry.clients.models import Client, ClientSecretRecord, IssuedCredentials
from services.registry.clients.store import ClientStore
from services.registry.kernel.models import Tenant
from services.registry.kernel.scope import new_id


async def issue_secret(
    clients: ClientStore, hasher: SecretHasher, client_pk: str, at: datetime
) -> str:
    """Store a new secret's keyed hash and return the plaintext (to be shown once)."""
    secret = generate_secret(CLIENT_SECRET_PREFIX)
    await clients.insert_secret(
        client_pk,
        ClientSecretRecord(
            id=new_id(),
            secret_hash=hasher.hash(secret),
            created_at=at,
            expires_at=None,
            last_used_at=None,
        ),
    )
    return secret


async def create_app_client(
    clients: ClientStore,
    hasher: SecretHasher,
    tenant: Tenant,
    app_id: str,
    display_name: str,
    grant_types: tuple[str, ...],
    at: datetime,
) -> tuple[Client, IssuedCredentials]:
    """The confidential client every new app gets (TrueParser seed "Creation Workflow"),
    with its first secret."""
    client = Client(
        id=new_id(),
        tenant_id=tenant.id,
        client_id=generate_client_id(),
        display_name=display_name,
        confidential=True,
        enabled=True,
        grant_types=grant_types,
        app_ids=(app_id,),
        version=1,
    )
    await clients.insert(client, at)
    await clients.set_apps(client.id, [app_id])
    secret = await issue_secret(clients, hasher, client.id, at)
    return client, IssuedCredentials(client.client_id, secret)
