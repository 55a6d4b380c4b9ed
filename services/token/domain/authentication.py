"""Client authentication on the token path (RFC 6749 §2.3.1; ARCHITECTURE §7: no oracle).

Unknown tenant, unknown client, another tenant's client, wrong secret, disabled client and a
public client presenting what its grant does not allow all fail with the same invalid_client
error at the same cost: the client's snapshot is looked up the same way whether it exists or
not (services.token.domain.snapshot_cache), and exactly :data:`SECRETS_CHECKED` keyed hashes
are computed, padded with a decoy for a client that is unknown, public or has fewer live
secrets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.common import oauth_errors as oauth
from services.common.hashing import CLIENT_SECRET_PREFIX, SecretHasher, generate_secret
from services.common.vocabulary import PUBLIC_CLIENT_GRANTS
from services.token.domain.snapshots import ClientSnapshot

# A regeneration with a grace period leaves at most two live secrets
# (the registry prunes older ones).
SECRETS_CHECKED = 2
# The token path writes a secret's last-used time at most once a minute.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class SecretUpkeep:
    """What the matched secret's row needs after a successful authentication: a fresh
    last-used time, and a re-hash when its hash was made under a retired pepper version."""

    secret_id: str
    touch: bool
    rehash: str | None  # the secret's hash under the current pepper


class ClientAuthenticator:
    def __init__(self, hasher: SecretHasher) -> None:
        self._hasher = hasher
        # A keyed hash no secret matches, computed in place of a missing one.
        self._decoy = hasher.hash(generate_secret(CLIENT_SECRET_PREFIX))

    def authenticate(
        self, client: ClientSnapshot, secret: str, grant_type: str, now: datetime
    ) -> SecretUpkeep | None:
        """Check the client's credentials or raise invalid_client. Returns the upkeep the
        matched secret's row is due, if any.

        A public client has nothing to present; it is identified only for the grants that
        do without a secret (never client_credentials, RFC 6749 §4.4.2).
        """
        live = [r for r in client.secrets if r.expires_at is None or r.expires_at > now][
            :SECRETS_CHECKED
        ]
        hashes = [r.hash for r in live]
        hashes += [self._decoy] * (SECRETS_CHECKED - len(hashes))
        matches = [self._hasher.verify(secret, stored) for stored in hashes]
        matched = next((r for r, ok in zip(live, matches, strict=False) if ok), None)
        if not client.found or not client.enabled:
            raise oauth.invalid_client()
        if not client.confidential:
            if secret or grant_type not in PUBLIC_CLIENT_GRANTS:
                raise oauth.invalid_client()
            return None
        if matched is None:
            raise oauth.invalid_client()
        touch = matched.last_used_at is None or now - matched.last_used_at > LAST_USED_RESOLUTION
        # Only a successful check knows the plaintext, so this is where hashes move off a
        # retired pepper version (services.common.hashing.SecretHasher.is_current).
        rehash = None if self._hasher.is_current(matched.hash) else self._hasher.hash(secret)
        if not touch and rehash is None:
            return None
        return SecretUpkeep(secret_id=matched.id, touch=touch, rehash=rehash)
