"""Development-mode key material, generated once into the data directory.

Production must configure TESSERA_ENCRYPTION_KEYS, TESSERA_SECRET_PEPPERS and (optionally)
TESSERA_BOOTSTRAP_ADMIN_SECRET; settings validation refuses to start without the first two.
On a developer's machine we generate them into ``<data_dir>/dev-secrets.json`` (mode 0600,
gitignored) so that a restart keeps tokens, hashes and ciphertexts valid.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from services.common.settings import Settings


@dataclass(frozen=True)
class KeyMaterial:
    encryption_keys: str
    secret_peppers: str
    bootstrap_admin_secret: str | None


def _entry(kid: str) -> str:
    return f"{kid}:{base64.b64encode(secrets.token_bytes(32)).decode()}"


def key_material(settings: Settings) -> KeyMaterial:
    """Configured key material, completed from the dev file in development mode."""
    configured = KeyMaterial(
        encryption_keys=settings.encryption_keys.get_secret_value()
        if settings.encryption_keys
        else "",
        secret_peppers=settings.secret_peppers.get_secret_value()
        if settings.secret_peppers
        else "",
        bootstrap_admin_secret=settings.bootstrap_admin_secret.get_secret_value()
        if settings.bootstrap_admin_secret
        else None,
    )
    if settings.production:
        return configured
    stored = _load_or_create(settings.data_dir / "dev-secrets.json")
    return KeyMaterial(
        encryption_keys=configured.encryption_keys or stored["encryption_keys"],
        secret_peppers=configured.secret_peppers or stored["secret_peppers"],
        bootstrap_admin_secret=configured.bootstrap_admin_secret
        or stored["bootstrap_admin_secret"],
    )


def _load_or_create(path: Path) -> dict[str, str]:
    if path.exists():
        loaded: dict[str, str] = json.loads(path.read_text())
        return loaded
    from services.common.hashing import CLIENT_SECRET_PREFIX, generate_secret

    path.parent.mkdir(parents=True, exist_ok=True)
    material = {
        "encryption_keys": _entry("dev1"),
        "secret_peppers": _entry("p1"),
        "bootstrap_admin_secret": generate_secret(CLIENT_SECRET_PREFIX),
    }
    # O_EXCL: two processes starting at once must not overwrite each other's keys.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        existing: dict[str, str] = json.loads(path.read_text())
        return existing
    with os.fdopen(fd, "w") as handle:
        json.dump(material, handle, indent=2)
    return material
