"""What every registry feature module is built from (constructed once in wiring.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from services.common.auth import Authenticator
from services.common.changes import ChangeBus
from services.common.db import Database
from services.common.envelope import EnvelopeCipher
from services.common.secrets import PasswordHasher, SecretHasher
from services.registry.domain.service import RegistryConfig
from services.registry.storage.sql import SqlRegistryStorage


@dataclass(frozen=True)
class RegistryDeps:
    database: Database
    storage: SqlRegistryStorage
    secret_hasher: SecretHasher
    password_hasher: PasswordHasher
    cipher: EnvelopeCipher
    changes: ChangeBus
    authenticator: Authenticator
    config: RegistryConfig
    now: Callable[[], datetime]
