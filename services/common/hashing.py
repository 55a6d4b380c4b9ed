"""Generated credentials, their keyed hashes, and password hashing.

Product brief §2: "Secrets are generated (≥256 bits of randomness, prefixed so that leaked
secrets are greppable), stored only as a keyed hash (HMAC-SHA-256 with a server pepper,
versioned) so that checking one costs microseconds, never bcrypt on the token path."
§7: "Constant-time secret comparison; no plaintext secret ... at rest."

* :func:`generate_secret` / :func:`generate_client_id` / :func:`generate_numeric_code` make
  credentials from the OS CSPRNG (:mod:`secrets`).
* :class:`SecretHasher` stores client secrets and invite codes as
  ``hmac-sha256$<pepper version>$<digest>`` under a rotatable :class:`PepperRing`.
* :class:`PasswordHasher` (argon2id) is for human-chosen passwords only; it is deliberately
  slow and must never be used on the token path.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
from collections.abc import Sequence

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from services.common.envelope import LABEL_PATTERN, KeyListFormat
from services.common.errors import InvalidArgument

CLIENT_SECRET_PREFIX = "tsk"
"""Prefix of OAuth client secrets (``tsk_…``)."""

INVITE_CODE_PREFIX = "tic"
"""Prefix of invite codes (``tic_…``)."""

CLIENT_ID_PREFIX = "tc"
"""Prefix of client ids (``tc_…``); ids are public, the prefix only aids recognition."""

SECRET_BYTES = 32
"""Random bytes in every generated secret: the brief's ≥256 bits."""

HASH_SCHEME = "hmac-sha256"
PEPPER_MIN_BYTES = 32

_CLIENT_ID_BYTES = 16
_PREFIX_PATTERN = re.compile(r"[a-z][a-z0-9]{1,15}")
# 32 bytes are always 43 unpadded base64url characters; anything else was not written by us.
_DIGEST_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")
_HASH_PARTS = 3
# NIST SP 800-63B requires at least 6 digits for one-time codes; above 12 a code stops being
# something a person types.
_MIN_CODE_DIGITS = 6
_MAX_CODE_DIGITS = 12


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


# --------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------


def generate_secret(prefix: str) -> str:
    """Return ``prefix + "_" + base64url(32 random bytes)`` without padding (product brief §2).

    256 bits from :func:`secrets.token_bytes`; the prefix (``tsk``, ``tic``) makes leaked
    secrets greppable by secret scanners. ``prefix`` must match ``[a-z][a-z0-9]{1,15}`` (no
    ``_``, so the first ``_`` always ends it); otherwise ``ValueError``.
    """
    if not _PREFIX_PATTERN.fullmatch(prefix):
        raise ValueError(f"secret prefix must match {_PREFIX_PATTERN.pattern}, got {prefix!r}")
    return f"{prefix}_{_b64url(secrets.token_bytes(SECRET_BYTES))}"


def generate_client_id() -> str:
    """Return ``"tc_"`` + 26 lowercase base32 characters (128 random bits).

    A client id is an identifier, not a secret, but it is unguessable so ids cannot be
    enumerated; lowercase base32 keeps it case-insensitive and URL-safe.
    """
    raw = secrets.token_bytes(_CLIENT_ID_BYTES)
    return f"{CLIENT_ID_PREFIX}_{base64.b32encode(raw).decode('ascii').rstrip('=').lower()}"


def generate_numeric_code(digits: int) -> str:
    """Return a uniformly random code of exactly ``digits`` decimal digits (leading zeros kept).

    Drawn with :func:`secrets.randbelow` so every code is equally likely (no modulo bias).
    ``digits`` must be 6-12; otherwise ``ValueError``.
    """
    if not _MIN_CODE_DIGITS <= digits <= _MAX_CODE_DIGITS:
        raise ValueError(
            f"digits must be between {_MIN_CODE_DIGITS} and {_MAX_CODE_DIGITS}, got {digits}"
        )
    return str(secrets.randbelow(10**digits)).zfill(digits)


# --------------------------------------------------------------------------------------------
# Keyed hashes for generated secrets
# --------------------------------------------------------------------------------------------

_PEPPER_FORMAT = KeyListFormat(
    setting="secret pepper ring",
    label="version",
    reason="PEPPER_INVALID",
    min_bytes=PEPPER_MIN_BYTES,
    max_bytes=None,
    generate_hint=(
        'generate an entry with `python -c "from services.common.hashing import PepperRing; '
        "print(PepperRing.generate_entry('v1'))\"`."
    ),
)


class PepperRing:
    """Versioned server peppers for :class:`SecretHasher`; the first is current.

    Product brief §2: stored hashes are keyed and *versioned*. To rotate, prepend a new version
    (``v2:…,v1:…``); old hashes keep verifying and are re-hashed on their next successful use
    (see :meth:`SecretHasher.is_current`); drop ``v1`` once no stored hash names it.

    Immutable; ``repr`` shows versions only, never pepper material.
    """

    __slots__ = ("_peppers", "_versions")

    def __init__(self, peppers: Sequence[tuple[str, bytes]]) -> None:
        """Build from ``(version, pepper)`` pairs, current first.

        Raises ``InvalidArgument("PEPPER_INVALID")`` for an empty list, an invalid or duplicate
        version (``[A-Za-z0-9_-]{1,32}``), or a pepper shorter than 32 bytes.
        """
        checked = _PEPPER_FORMAT.check(peppers)
        self._versions = tuple(version for version, _ in checked)
        self._peppers = dict(checked)

    @classmethod
    def parse(cls, text: str) -> PepperRing:
        """Parse the ``"v1:BASE64,v0:BASE64"`` setting (first entry = current pepper).

        Failures are ``InvalidArgument("PEPPER_INVALID")`` with the same ``metadata["problem"]``
        values as :meth:`services.common.envelope.Keyring.parse`, and never echo a pepper.
        """
        return cls(_PEPPER_FORMAT.parse(text))

    @staticmethod
    def generate_entry(version: str) -> str:
        """Return a new ``"version:BASE64"`` entry with a fresh random 256-bit pepper."""
        return _PEPPER_FORMAT.generate_entry(version)

    @property
    def current_version(self) -> str:
        """The version new hashes are made with."""
        return self._versions[0]

    @property
    def versions(self) -> tuple[str, ...]:
        """All versions, current first."""
        return self._versions

    def get(self, version: str) -> bytes | None:
        """The pepper for ``version``, or ``None`` if it is not configured."""
        return self._peppers.get(version)

    def __contains__(self, version: object) -> bool:
        return version in self._peppers

    def __repr__(self) -> str:
        return f"PepperRing(current={self.current_version!r}, versions={self._versions!r})"


class SecretHasher:
    """Stores generated secrets as ``hmac-sha256$<version>$<base64url digest>``.

    Product brief §2 (keyed hash, versioned pepper, microseconds per check, never bcrypt on the
    token path) and §7 (constant-time comparison, no plaintext at rest). Generated secrets
    carry 256 bits of entropy, so a fast keyed hash is not brute-forceable and a slow KDF would
    only add latency; the pepper keeps a stolen database from being checked offline.

    :meth:`verify` and :meth:`is_current` are total: any malformed input yields ``False``,
    never an exception, because they sit on the request path.
    """

    __slots__ = ("_ring",)

    def __init__(self, pepper_ring: PepperRing) -> None:
        self._ring = pepper_ring

    def hash(self, secret: str) -> str:
        """Hash ``secret`` under the current pepper; deterministic per pepper version.

        Raises ``ValueError`` for an empty secret, which is always a caller bug.
        """
        if not secret:
            raise ValueError("refusing to hash an empty secret")
        version = self._ring.current_version
        pepper = self._ring.get(version)
        assert pepper is not None  # the current version is always in the ring
        return f"{HASH_SCHEME}${version}${_digest(pepper, secret.encode('utf-8'))}"

    def verify(self, secret: str, stored: str) -> bool:
        """True iff ``stored`` is this scheme's hash of ``secret`` under the version it names.

        The digest comparison is :func:`hmac.compare_digest` (§7). An unknown pepper version,
        a malformed ``stored`` value or an unencodable/empty ``secret`` gives ``False``.
        """
        parsed = _parse_stored(stored)
        if parsed is None or not isinstance(secret, str) or not secret:
            return False
        version, stored_digest = parsed
        pepper = self._ring.get(version)
        if pepper is None:
            return False
        try:
            message = secret.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: no secret we issued looks like that
            return False
        expected = _digest(pepper, message)
        return hmac.compare_digest(expected.encode("ascii"), stored_digest.encode("ascii"))

    def is_current(self, stored: str) -> bool:
        """True iff ``stored`` is well-formed and made with the current pepper version.

        Callers re-hash (and store) the secret after a successful :meth:`verify` when this is
        ``False``, which migrates hashes off an old pepper without knowing the secrets.
        """
        parsed = _parse_stored(stored)
        return parsed is not None and parsed[0] == self._ring.current_version

    def __repr__(self) -> str:
        return f"SecretHasher({self._ring!r})"


def _digest(pepper: bytes, message: bytes) -> str:
    return _b64url(hmac.digest(pepper, message, "sha256"))


def _parse_stored(stored: object) -> tuple[str, str] | None:
    if not isinstance(stored, str) or not stored.isascii():
        return None
    parts = stored.split("$")
    if len(parts) != _HASH_PARTS:
        return None
    scheme, version, digest = parts
    if scheme != HASH_SCHEME or not LABEL_PATTERN.fullmatch(version):
        return None
    if not _DIGEST_PATTERN.fullmatch(digest):
        return None
    return version, digest


# --------------------------------------------------------------------------------------------
# Passwords
# --------------------------------------------------------------------------------------------


class PasswordHasher:
    """argon2id hashing for human-chosen passwords (never for generated secrets).

    Product brief §2 forbids slow hashes on the token path; generated secrets use
    :class:`SecretHasher`. Passwords have little entropy, so they need a memory-hard KDF.
    Defaults are RFC 9106's second recommended option (t=3, 64 MiB, p=4).

    :meth:`verify` returns ``False`` for a wrong password or a malformed stored hash; it never
    raises for those.
    """

    __slots__ = ("_hasher",)

    def __init__(
        self,
        *,
        time_cost: int = 3,
        memory_cost_kib: int = 64 * 1024,
        parallelism: int = 4,
        hash_len: int = 32,
        salt_len: int = 16,
    ) -> None:
        """Configure argon2id.

        Raises ``InvalidArgument("PASSWORD_HASH_PARAMS_INVALID")`` if a parameter is outside
        argon2's limits (time_cost ≥ 1, parallelism ≥ 1, memory ≥ 8 KiB per lane, hash_len ≥ 16,
        salt_len ≥ 16), since argon2-cffi would only fail later, at the first hash.
        """
        problems = []
        if time_cost < 1:
            problems.append("time_cost must be ≥ 1")
        if parallelism < 1:
            problems.append("parallelism must be ≥ 1")
        if memory_cost_kib < 8 * max(parallelism, 1):
            problems.append("memory_cost_kib must be ≥ 8 KiB per lane (8 * parallelism)")
        if hash_len < 16:
            problems.append("hash_len must be ≥ 16")
        if salt_len < 16:
            problems.append("salt_len must be ≥ 16")
        if problems:
            raise InvalidArgument(
                "PASSWORD_HASH_PARAMS_INVALID",
                "Invalid argon2id parameters: " + "; ".join(problems) + ".",
            )
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost_kib,
            parallelism=parallelism,
            hash_len=hash_len,
            salt_len=salt_len,
            type=argon2.Type.ID,
        )

    @classmethod
    def for_tests(cls) -> PasswordHasher:
        """Minimal-cost parameters so test suites stay fast; never use in production."""
        return cls(time_cost=1, memory_cost_kib=8, parallelism=1)

    def hash(self, password: str) -> str:
        """Return an encoded ``$argon2id$…`` hash with a fresh random salt."""
        return self._hasher.hash(password)

    def verify(self, password: str, stored: str) -> bool:
        """True iff ``password`` matches ``stored``; ``False`` on mismatch or malformed hash."""
        if not isinstance(password, str) or not isinstance(stored, str):
            return False
        try:
            return self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        """True if ``stored`` was made with other parameters (or is malformed) and should be
        replaced by :meth:`hash` of the password just verified."""
        try:
            return self._hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True

    def __repr__(self) -> str:
        p = self._hasher
        return (
            f"PasswordHasher(time_cost={p.time_cost}, memory_cost_kib={p.memory_cost}, "
            f"parallelism={p.parallelism})"
        )
