"""Envelope encryption for secrets held at rest.

Product brief §2: "Secrets are encrypted at rest (envelope encryption, key from config) and
never returned." §7: "no plaintext secret ... at rest". The key-encryption key (KEK) comes from
configuration as a :class:`Keyring` and must be rotatable without re-encrypting every row.

Every value is sealed under its own fresh 256-bit data key (DEK) with AES-256-GCM; the DEK is
then wrapped (AES-256-GCM) under the current KEK. The result is one self-describing ASCII token::

    env1.<kid>.<wrapped DEK>.<nonce>.<ciphertext>

where the last three parts are unpadded URL-safe base64 and ``<wrapped DEK>`` holds the wrap
nonce followed by the wrapped key and its tag. Rotation therefore only re-wraps 60 bytes per
value (:meth:`EnvelopeCipher.rewrap`); the data ciphertext never changes.

The caller-supplied ``context`` (e.g. ``b"app:<id>:storage.secret_key"``) is authenticated as
associated data, so a token copied to another row or field does not decrypt.

This module also holds :class:`KeyListFormat`, the ``label:BASE64,label:BASE64`` setting parser
that :class:`services.common.hashing.PepperRing` shares, so both settings fail the same way.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.common.errors import FailedPrecondition, InvalidArgument

TOKEN_VERSION = "env1"
KEY_BYTES = 32
"""AES-256: both KEKs and DEKs are exactly this long."""

LABEL_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,32}")
"""What a key id (kid) or pepper version may look like.

Restricted so a label can sit inside ``.``- and ``$``-delimited tokens and be quoted in error
messages without escaping.
"""

_NONCE_BYTES = 12
_TAG_BYTES = 16
_WRAPPED_DEK_BYTES = _NONCE_BYTES + KEY_BYTES + _TAG_BYTES
_TOKEN_PARTS = 5
_B64URL_PATTERN = re.compile(r"[A-Za-z0-9_-]+")

# Distinct fixed prefixes keep the two AES-GCM uses apart: a wrapped DEK can never be accepted as
# a data ciphertext or vice versa, even if a KEK were (wrongly) reused as a DEK.
_DATA_AAD_PREFIX = b"tessera/env1/data\x00"
_WRAP_AAD_PREFIX = b"tessera/env1/dek\x00"

_CIPHERTEXT_INVALID = "CIPHERTEXT_INVALID"
_KEY_UNKNOWN = "ENCRYPTION_KEY_UNKNOWN"


# --------------------------------------------------------------------------------------------
# Shared "label:BASE64,label:BASE64" configuration lists
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyListFormat:
    """One ``label:BASE64,label:BASE64`` configuration list: how to parse it and how it fails.

    ``setting`` and ``label`` are the human names used in messages ("encryption keyring",
    "kid"); ``reason`` is the stable error reason; ``max_bytes`` of ``None`` means no upper
    bound; ``generate_hint`` tells the operator how to produce a valid entry. Every failure is
    ``InvalidArgument(reason)`` with ``metadata["problem"]`` one of ``empty``,
    ``malformed_entry``, ``bad_label``, ``bad_base64``, ``duplicate_label``, ``bad_length``
    (plus ``entry``, 1-based, where one entry is at fault). Messages never quote key material.
    """

    setting: str
    label: str
    reason: str
    min_bytes: int
    max_bytes: int | None
    generate_hint: str

    def parse(self, text: str) -> tuple[tuple[str, bytes], ...]:
        """Parse ``"label:BASE64,label:BASE64"`` (first entry = current) into checked pairs.

        Whitespace around entries is ignored; values may be standard or URL-safe base64 with
        or without padding.
        """
        if not isinstance(text, str) or not text.strip():
            raise self._error("empty", "is empty.")
        decoded: list[tuple[str, bytes]] = []
        for index, raw in enumerate(text.split(","), start=1):
            entry = raw.strip()
            if not entry:
                raise self._error(
                    "malformed_entry", "is empty; remove the stray comma.", entry=index
                )
            label, colon, encoded = entry.partition(":")
            label = label.strip()
            if not colon:
                raise self._error(
                    "malformed_entry",
                    f"has no ':' between {self.label} and value.",
                    entry=index,
                )
            self.check_label(label, entry=index)
            key = decode_config_base64(encoded)
            if key is None:
                raise self._error(
                    "bad_base64",
                    "has a value that is empty or not base64.",
                    entry=index,
                    label=label,
                )
            decoded.append((label, key))
        return self.check(decoded)

    def check(self, entries: Sequence[tuple[str, bytes]]) -> tuple[tuple[str, bytes], ...]:
        """Validate already-decoded ``(label, key)`` pairs; return them as an immutable tuple."""
        if not entries:
            raise self._error("empty", "is empty.")
        seen: dict[str, int] = {}
        checked: list[tuple[str, bytes]] = []
        for index, (label, key) in enumerate(entries, start=1):
            self.check_label(label, entry=index)
            if label in seen:
                raise self._error(
                    "duplicate_label",
                    f"repeats the {self.label} of entry {seen[label]}; every {self.label} "
                    "must be unique.",
                    entry=index,
                    label=label,
                )
            seen[label] = index
            if not isinstance(key, bytes):
                raise self._error(
                    "bad_base64", "has a value that is not bytes.", entry=index, label=label
                )
            too_long = self.max_bytes is not None and len(key) > self.max_bytes
            if len(key) < self.min_bytes or too_long:
                raise self._error(
                    "bad_length",
                    f"decodes to {len(key)} bytes, but must be {self._length_rule()}.",
                    entry=index,
                    label=label,
                )
            checked.append((label, key))
        return tuple(checked)

    def check_label(self, label: str, *, entry: int | None = None) -> None:
        """Raise ``bad_label`` unless ``label`` matches :data:`LABEL_PATTERN`."""
        if not isinstance(label, str) or not LABEL_PATTERN.fullmatch(label):
            # Not quoted: a malformed label may be a key pasted into the wrong slot.
            raise self._error(
                "bad_label",
                f"has an invalid {self.label}: it must be 1-32 characters of A-Z a-z 0-9 _ -.",
                entry=entry,
            )

    def generate_entry(self, label: str) -> str:
        """A new ``"label:BASE64"`` entry holding ``min_bytes`` fresh random bytes."""
        self.check_label(label)
        return f"{label}:{_b64url(secrets.token_bytes(self.min_bytes))}"

    def _length_rule(self) -> str:
        if self.max_bytes == self.min_bytes:
            return f"exactly {self.min_bytes} bytes"
        if self.max_bytes is None:
            return f"at least {self.min_bytes} bytes"
        return f"{self.min_bytes}-{self.max_bytes} bytes"

    def _error(
        self, problem: str, detail: str, *, entry: int | None = None, label: str | None = None
    ) -> InvalidArgument:
        metadata = {"problem": problem}
        where = f"The {self.setting}"
        if entry is not None:
            metadata["entry"] = str(entry)
            where += f" entry {entry}"
            if label is not None:
                metadata[self.label] = label
                where += f" ({self.label} {label!r})"
        return InvalidArgument(
            self.reason,
            f"{where} {detail} Expected '{self.label}:BASE64[,{self.label}:BASE64...]' with the "
            f"current entry first, each value {self._length_rule()} of base64 "
            f"(standard or URL-safe); {self.generate_hint}",
            metadata=metadata,
        )


def decode_config_base64(text: str) -> bytes | None:
    """Decode standard or URL-safe base64, padding optional; ``None`` if it is not base64.

    Operators paste keys from many tools (``openssl rand -base64``, ``secrets.token_urlsafe``),
    so both alphabets are accepted, but not mixed in one value, which signals a corrupted paste.
    """
    text = text.strip()
    if not text or not text.isascii():
        return None
    if any(c in text for c in "-_") and any(c in text for c in "+/"):
        return None
    body = text.rstrip("=")
    if "=" in body or len(text) - len(body) > 2:
        return None
    standard = body.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except binascii.Error:
        return None


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


# --------------------------------------------------------------------------------------------
# Keyring
# --------------------------------------------------------------------------------------------

_KEYRING_FORMAT = KeyListFormat(
    setting="encryption keyring",
    label="kid",
    reason="ENCRYPTION_KEY_INVALID",
    min_bytes=KEY_BYTES,
    max_bytes=KEY_BYTES,
    generate_hint=(
        'generate an entry with `python -c "from services.common.envelope import Keyring; '
        "print(Keyring.generate_entry('k1'))\"`."
    ),
)


class Keyring:
    """The configured key-encryption keys: the first is current, the rest decrypt-only.

    Product brief §2: the at-rest key comes from config and must be rotatable. To rotate,
    prepend a new entry (``new:…,old:…``), deploy, :meth:`EnvelopeCipher.rewrap` every stored
    token for which :meth:`EnvelopeCipher.needs_rewrap` is true, then drop ``old``.

    Immutable; ``repr`` shows kids only, never key material.
    """

    __slots__ = ("_keys", "_kids")

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        """Build from ``(kid, 32-byte key)`` pairs, current first.

        Raises ``InvalidArgument("ENCRYPTION_KEY_INVALID")`` for an empty list, an invalid or
        duplicate kid, or a key that is not exactly 32 bytes.
        """
        checked = _KEYRING_FORMAT.check(keys)
        self._kids = tuple(kid for kid, _ in checked)
        self._keys = dict(checked)

    @classmethod
    def parse(cls, text: str) -> Keyring:
        """Parse the ``"kid1:BASE64KEY,kid2:BASE64KEY"`` setting (first entry = current KEK).

        Keys must decode (standard or URL-safe base64, padding optional) to exactly 32 bytes;
        kids match ``[A-Za-z0-9_-]{1,32}``. Any violation raises
        ``InvalidArgument("ENCRYPTION_KEY_INVALID")`` whose ``metadata["problem"]`` is one of
        ``empty``, ``malformed_entry``, ``bad_label``, ``bad_base64``, ``duplicate_label``,
        ``bad_length`` and whose message says how to fix it without echoing any key.
        """
        return cls(_KEYRING_FORMAT.parse(text))

    @staticmethod
    def generate_entry(kid: str) -> str:
        """Return a new ``"kid:BASE64KEY"`` entry with a fresh random 256-bit key.

        For dev mode and for operators rotating keys (prepend the result to the setting).
        Raises ``InvalidArgument("ENCRYPTION_KEY_INVALID")`` if ``kid`` is not a valid kid.
        """
        return _KEYRING_FORMAT.generate_entry(kid)

    @property
    def current_kid(self) -> str:
        """The kid new ciphertexts are wrapped under."""
        return self._kids[0]

    @property
    def kids(self) -> tuple[str, ...]:
        """All kids, current first."""
        return self._kids

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys

    def key(self, kid: str) -> bytes:
        """The KEK named ``kid``.

        Raises ``FailedPrecondition("ENCRYPTION_KEY_UNKNOWN")`` if the keyring no longer holds
        it, which means a key was dropped before every token under it was re-wrapped.
        """
        try:
            return self._keys[kid]
        except KeyError:
            raise FailedPrecondition(
                _KEY_UNKNOWN,
                f"Stored ciphertext is wrapped under encryption key {kid!r}, which is not in the "
                "encryption keyring. Add that key back as an older entry (after the current one) "
                "and re-wrap the remaining ciphertexts before removing it again.",
                metadata={"kid": kid},
            ) from None

    def __repr__(self) -> str:
        return f"Keyring(current={self.current_kid!r}, kids={self._kids!r})"


# --------------------------------------------------------------------------------------------
# Envelope tokens
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Envelope:
    kid: str
    wrapped_dek: bytes
    nonce: bytes
    ciphertext: bytes

    def encode(self) -> str:
        return ".".join(
            (
                TOKEN_VERSION,
                self.kid,
                _b64url(self.wrapped_dek),
                _b64url(self.nonce),
                _b64url(self.ciphertext),
            )
        )

    @classmethod
    def decode(cls, token: str) -> _Envelope:
        if not isinstance(token, str) or not token.isascii():
            raise _invalid("it is not an ASCII string.")
        parts = token.split(".")
        if len(parts) != _TOKEN_PARTS or parts[0] != TOKEN_VERSION:
            raise _invalid(f"it is not a '{TOKEN_VERSION}.<kid>.<dek>.<nonce>.<data>' token.")
        _, kid, wrapped_text, nonce_text, ciphertext_text = parts
        if not LABEL_PATTERN.fullmatch(kid):
            raise _invalid("its key id is malformed.")
        wrapped = _decode_part(wrapped_text, "wrapped data key")
        nonce = _decode_part(nonce_text, "nonce")
        ciphertext = _decode_part(ciphertext_text, "data")
        if len(wrapped) != _WRAPPED_DEK_BYTES:
            raise _invalid("its wrapped data key has the wrong length.")
        if len(nonce) != _NONCE_BYTES:
            raise _invalid("its nonce has the wrong length.")
        if len(ciphertext) < _TAG_BYTES:
            raise _invalid("its data part is too short to hold an authentication tag.")
        return cls(kid, wrapped, nonce, ciphertext)


def _decode_part(text: str, what: str) -> bytes:
    # Only the canonical encoding is accepted, so any change to the token text -- even to the
    # unused low bits of the last base64 character -- is rejected rather than silently ignored.
    if _B64URL_PATTERN.fullmatch(text):
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            pass
        else:
            if _b64url(raw) == text:
                return raw
    raise _invalid(f"its {what} part is not canonical unpadded URL-safe base64.")


def _invalid(detail: str, *, kid: str | None = None) -> FailedPrecondition:
    return FailedPrecondition(
        _CIPHERTEXT_INVALID,
        f"Stored ciphertext cannot be decrypted: {detail} The stored value is corrupt or was "
        "altered; restore it from a backup or set the secret again.",
        metadata={"kid": kid} if kid is not None else None,
    )


def _require_context(context: bytes) -> None:
    # An empty context would let a token be replayed into any row or field, which is the very
    # thing the associated data exists to prevent; treat it as a programming error.
    if not isinstance(context, bytes) or not context:
        raise ValueError("context must be non-empty bytes naming the row and field")


class EnvelopeCipher:
    """Seals and opens secrets at rest under a :class:`Keyring` (product brief §2, §7).

    Contract:

    * :meth:`encrypt` uses a fresh random DEK and nonce per call, so equal plaintexts give
      unrelated tokens, and the plaintext appears in the token in no form.
    * :meth:`decrypt` succeeds only with the exact ``context`` given at encryption.
    * Every failure is a :class:`~services.common.errors.FailedPrecondition`:
      ``ENCRYPTION_KEY_UNKNOWN`` when the token's kid is no longer configured, otherwise
      ``CIPHERTEXT_INVALID`` (altered token, wrong context, or key material under a kid that
      changed). Raw ``cryptography`` exceptions never escape.
    """

    __slots__ = ("_keyring",)

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring

    def encrypt(self, plaintext: bytes, *, context: bytes) -> str:
        """Encrypt ``plaintext`` bound to ``context`` and wrap its DEK under the current KEK.

        ``context`` must be non-empty bytes identifying where the value lives (e.g.
        ``b"app:<id>:storage.secret_key"``); an empty context raises ``ValueError``.
        """
        _require_context(context)
        dek = secrets.token_bytes(KEY_BYTES)
        nonce = secrets.token_bytes(_NONCE_BYTES)
        ciphertext = AESGCM(dek).encrypt(nonce, plaintext, _DATA_AAD_PREFIX + context)
        kid = self._keyring.current_kid
        return _Envelope(kid, self._wrap(kid, dek), nonce, ciphertext).encode()

    def decrypt(self, token: str, *, context: bytes) -> bytes:
        """Return the plaintext of ``token`` if it was encrypted with this ``context``.

        The KEK is chosen by the token's kid, so tokens under any configured key decrypt.
        Raises ``FailedPrecondition`` (``CIPHERTEXT_INVALID`` / ``ENCRYPTION_KEY_UNKNOWN``).
        """
        _require_context(context)
        envelope = _Envelope.decode(token)
        dek = self._unwrap(envelope)
        try:
            return AESGCM(dek).decrypt(
                envelope.nonce, envelope.ciphertext, _DATA_AAD_PREFIX + context
            )
        except InvalidTag:
            raise _invalid(
                "the data failed authentication, so it was altered or belongs to a different "
                "record or field (context).",
                kid=envelope.kid,
            ) from None

    def needs_rewrap(self, token: str) -> bool:
        """True if ``token``'s DEK is wrapped under a kid other than the current one.

        Only the token's structure is checked (no key is used), so this is cheap enough to run
        over every stored row during rotation. Raises ``CIPHERTEXT_INVALID`` if malformed.
        """
        return _Envelope.decode(token).kid != self._keyring.current_kid

    def rewrap(self, token: str) -> str:
        """Re-wrap ``token``'s DEK under the current KEK; the data ciphertext is unchanged.

        Returns ``token`` itself when it is already current. Needs no context, so it cannot
        authenticate the data part: an altered data part survives rewrap and is rejected at
        :meth:`decrypt`. Raises ``FailedPrecondition`` as :meth:`decrypt` does for the DEK.
        """
        envelope = _Envelope.decode(token)
        current = self._keyring.current_kid
        if envelope.kid == current:
            return token
        dek = self._unwrap(envelope)
        return _Envelope(
            current, self._wrap(current, dek), envelope.nonce, envelope.ciphertext
        ).encode()

    def _wrap(self, kid: str, dek: bytes) -> bytes:
        # The kid is associated data so a wrapped DEK relabelled with another kid fails
        # authentication instead of being unwrapped under the wrong key.
        nonce = secrets.token_bytes(_NONCE_BYTES)
        wrapped = AESGCM(self._keyring.key(kid)).encrypt(
            nonce, dek, _WRAP_AAD_PREFIX + kid.encode("ascii")
        )
        return nonce + wrapped

    def _unwrap(self, envelope: _Envelope) -> bytes:
        kek = self._keyring.key(envelope.kid)
        nonce, wrapped = (
            envelope.wrapped_dek[:_NONCE_BYTES],
            envelope.wrapped_dek[_NONCE_BYTES:],
        )
        try:
            return AESGCM(kek).decrypt(
                nonce, wrapped, _WRAP_AAD_PREFIX + envelope.kid.encode("ascii")
            )
        except InvalidTag:
            raise _invalid(
                f"its data key failed authentication under key {envelope.kid!r}, so the token "
                "was altered or that kid's key material in the keyring has changed.",
                kid=envelope.kid,
            ) from None

    def __repr__(self) -> str:
        return f"EnvelopeCipher({self._keyring!r})"
