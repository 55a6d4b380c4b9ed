"""Envelope encryption for secrets at rest (product brief §2, §7)."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.envelope import EnvelopeCipher, Keyring
from services.common.errors import FailedPrecondition, InvalidArgument

KEY_A = bytes(range(32))
KEY_B = bytes(range(100, 132))
CONTEXT = b"app:42:storage.secret_key"
PLAINTEXT = b"AKIA-this-is-a-very-secret-storage-key-0123456789"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def cipher(*keys: tuple[str, bytes]) -> EnvelopeCipher:
    return EnvelopeCipher(Keyring(list(keys)))


def reason_of(excinfo: pytest.ExceptionInfo[FailedPrecondition]) -> str:
    return excinfo.value.reason


# --------------------------------------------------------------------------------------------
# Round trip and token shape
# --------------------------------------------------------------------------------------------


@given(plaintext=st.binary(max_size=512), context=st.binary(min_size=1, max_size=64))
def test_round_trip_for_any_plaintext_and_context(plaintext: bytes, context: bytes) -> None:
    c = cipher(("k1", KEY_A))
    assert c.decrypt(c.encrypt(plaintext, context=context), context=context) == plaintext


def test_token_is_self_describing_ascii() -> None:
    token = cipher(("k1", KEY_A)).encrypt(PLAINTEXT, context=CONTEXT)
    version, kid, wrapped, nonce, data = token.split(".")
    assert token.isascii()
    assert (version, kid) == ("env1", "k1")
    assert len(base64.urlsafe_b64decode(wrapped + "==")) == 12 + 32 + 16
    assert len(base64.urlsafe_b64decode(nonce + "==")) == 12
    assert len(base64.urlsafe_b64decode(data + "==")) == len(PLAINTEXT) + 16


def test_equal_plaintexts_give_unrelated_tokens() -> None:
    c = cipher(("k1", KEY_A))
    first, second = (c.encrypt(PLAINTEXT, context=CONTEXT) for _ in range(2))
    assert first != second
    # Fresh DEK and nonce each time: no part except version and kid is shared.
    assert set(first.split(".")[2:]).isdisjoint(second.split(".")[2:])


def test_plaintext_never_appears_in_token() -> None:
    token = cipher(("k1", KEY_A)).encrypt(PLAINTEXT, context=CONTEXT)
    assert PLAINTEXT.decode() not in token
    # Base64 output depends on alignment, so check every 3-byte offset in both alphabets.
    for offset in range(3):
        fragment = PLAINTEXT[offset:]
        for encoded in (b64(fragment), b64url(fragment), fragment.hex()):
            assert encoded.rstrip("=")[:-4] not in token


def test_empty_context_is_a_programming_error() -> None:
    c = cipher(("k1", KEY_A))
    with pytest.raises(ValueError, match="context"):
        c.encrypt(PLAINTEXT, context=b"")
    token = c.encrypt(PLAINTEXT, context=CONTEXT)
    with pytest.raises(ValueError, match="context"):
        c.decrypt(token, context=b"")


# --------------------------------------------------------------------------------------------
# Context binding and tampering
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "other_context",
    [b"app:43:storage.secret_key", b"app:42:storage.access_key", CONTEXT + b"\x00", CONTEXT[:-1]],
)
def test_wrong_context_fails(other_context: bytes) -> None:
    c = cipher(("k1", KEY_A))
    token = c.encrypt(PLAINTEXT, context=CONTEXT)
    with pytest.raises(FailedPrecondition) as excinfo:
        c.decrypt(token, context=other_context)
    assert reason_of(excinfo) == "CIPHERTEXT_INVALID"
    assert "context" in excinfo.value.message
    assert PLAINTEXT.decode() not in excinfo.value.message


def test_every_single_character_change_is_rejected() -> None:
    c = cipher(("k1", KEY_A))
    token = c.encrypt(PLAINTEXT, context=CONTEXT)
    kid_span = range(len("env1."), len("env1.k1"))
    for index, char in enumerate(token):
        replacement = "A" if char != "A" else "B"
        tampered = token[:index] + replacement + token[index + 1 :]
        with pytest.raises(FailedPrecondition) as excinfo:
            c.decrypt(tampered, context=CONTEXT)
        # Changing the kid names a key the ring does not hold; everything else is corruption.
        expected = "ENCRYPTION_KEY_UNKNOWN" if index in kid_span else "CIPHERTEXT_INVALID"
        assert reason_of(excinfo) == expected, (index, char)


def test_relabelling_to_another_known_kid_is_rejected() -> None:
    old = cipher(("k1", KEY_A))
    token = old.encrypt(PLAINTEXT, context=CONTEXT)
    both = cipher(("k2", KEY_B), ("k1", KEY_A))
    with pytest.raises(FailedPrecondition) as excinfo:
        both.decrypt(token.replace(".k1.", ".k2.", 1), context=CONTEXT)
    assert reason_of(excinfo) == "CIPHERTEXT_INVALID"


def test_swapping_parts_between_tokens_is_rejected() -> None:
    c = cipher(("k1", KEY_A))
    first = c.encrypt(PLAINTEXT, context=CONTEXT).split(".")
    second = c.encrypt(PLAINTEXT, context=CONTEXT).split(".")
    for index in (2, 3, 4):
        mixed = [*first]
        mixed[index] = second[index]
        with pytest.raises(FailedPrecondition) as excinfo:
            c.decrypt(".".join(mixed), context=CONTEXT)
        assert reason_of(excinfo) == "CIPHERTEXT_INVALID"


def test_same_kid_with_different_key_material_is_rejected() -> None:
    token = cipher(("k1", KEY_A)).encrypt(PLAINTEXT, context=CONTEXT)
    with pytest.raises(FailedPrecondition) as excinfo:
        cipher(("k1", KEY_B)).decrypt(token, context=CONTEXT)
    assert reason_of(excinfo) == "CIPHERTEXT_INVALID"
    assert "key material" in excinfo.value.message


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda t: "", id="empty"),
        pytest.param(lambda t: t + ".", id="extra-separator"),
        pytest.param(lambda t: t.rsplit(".", 1)[0], id="missing-part"),
        pytest.param(lambda t: "env2" + t[4:], id="unknown-version"),
        pytest.param(lambda t: t.replace(".k1.", ".k!1.", 1), id="malformed-kid"),
        pytest.param(lambda t: t + "=", id="padding"),
        pytest.param(lambda t: t + "é", id="non-ascii"),
        pytest.param(lambda t: t[:-4], id="truncated-data"),
        pytest.param(lambda t: t + "AAAA", id="extended-data"),
        pytest.param(lambda t: t[:-1] + "+", id="standard-alphabet"),
    ],
)
def test_malformed_tokens_fail_cleanly(mutate: Callable[[str], str]) -> None:
    c = cipher(("k1", KEY_A))
    tampered = mutate(c.encrypt(PLAINTEXT, context=CONTEXT))
    with pytest.raises(FailedPrecondition) as excinfo:
        c.decrypt(tampered, context=CONTEXT)
    assert reason_of(excinfo) == "CIPHERTEXT_INVALID"


def test_non_string_token_fails_cleanly() -> None:
    with pytest.raises(FailedPrecondition) as excinfo:
        cipher(("k1", KEY_A)).decrypt(b"env1.k1.a.b.c", context=CONTEXT)  # type: ignore[arg-type]
    assert reason_of(excinfo) == "CIPHERTEXT_INVALID"


# --------------------------------------------------------------------------------------------
# Rotation
# --------------------------------------------------------------------------------------------


def test_rotation_decrypt_rewrap_then_drop_old_key() -> None:
    old_entry, new_entry = Keyring.generate_entry("old"), Keyring.generate_entry("new")
    token = EnvelopeCipher(Keyring.parse(old_entry)).encrypt(PLAINTEXT, context=CONTEXT)

    rotated = EnvelopeCipher(Keyring.parse(f"{new_entry},{old_entry}"))
    assert rotated.decrypt(token, context=CONTEXT) == PLAINTEXT
    assert rotated.needs_rewrap(token) is True

    rewrapped = rotated.rewrap(token)
    assert rotated.needs_rewrap(rewrapped) is False
    assert rewrapped.split(".")[1] == "new"
    # Only the DEK wrapping changes; the data nonce and ciphertext are carried over verbatim.
    assert rewrapped.split(".")[3:] == token.split(".")[3:]
    assert rewrapped.split(".")[2] != token.split(".")[2]

    new_only = EnvelopeCipher(Keyring.parse(new_entry))
    assert new_only.decrypt(rewrapped, context=CONTEXT) == PLAINTEXT
    with pytest.raises(FailedPrecondition) as excinfo:
        new_only.decrypt(token, context=CONTEXT)
    assert reason_of(excinfo) == "ENCRYPTION_KEY_UNKNOWN"
    assert excinfo.value.metadata == {"kid": "old"}


def test_rewrap_of_current_token_is_identity() -> None:
    c = cipher(("k1", KEY_A))
    token = c.encrypt(PLAINTEXT, context=CONTEXT)
    assert c.needs_rewrap(token) is False
    assert c.rewrap(token) == token


def test_rewrap_with_unknown_kid_fails() -> None:
    token = cipher(("gone", KEY_A)).encrypt(PLAINTEXT, context=CONTEXT)
    c = cipher(("k1", KEY_B))
    assert c.needs_rewrap(token) is True
    with pytest.raises(FailedPrecondition) as excinfo:
        c.rewrap(token)
    assert reason_of(excinfo) == "ENCRYPTION_KEY_UNKNOWN"


def test_rewrap_of_tampered_wrapped_dek_fails() -> None:
    token = cipher(("k1", KEY_A)).encrypt(PLAINTEXT, context=CONTEXT)
    parts = token.split(".")
    parts[2] = ("B" if parts[2][0] == "A" else "A") + parts[2][1:]
    with pytest.raises(FailedPrecondition) as excinfo:
        cipher(("k2", KEY_B), ("k1", KEY_A)).rewrap(".".join(parts))
    assert reason_of(excinfo) == "CIPHERTEXT_INVALID"


def test_needs_rewrap_rejects_malformed_token() -> None:
    with pytest.raises(FailedPrecondition) as excinfo:
        cipher(("k1", KEY_A)).needs_rewrap("not-a-token")
    assert reason_of(excinfo) == "CIPHERTEXT_INVALID"


# --------------------------------------------------------------------------------------------
# Keyring configuration
# --------------------------------------------------------------------------------------------


def test_parse_accepts_standard_and_urlsafe_base64_with_or_without_padding() -> None:
    ring = Keyring.parse(f" k2 : {b64(KEY_B)} , k1:{b64url(KEY_A)} ,k0:{b64(KEY_A).rstrip('=')}")
    assert ring.current_kid == "k2"
    assert ring.kids == ("k2", "k1", "k0")
    assert ring.key("k2") == KEY_B
    assert ring.key("k1") == KEY_A
    assert ring.key("k0") == KEY_A
    assert "k1" in ring
    assert "k9" not in ring


def test_generate_entry_parses_back_and_is_fresh() -> None:
    first, second = Keyring.generate_entry("dev"), Keyring.generate_entry("dev")
    assert first.startswith("dev:")
    assert first != second
    ring = Keyring.parse(first)
    assert ring.current_kid == "dev"
    assert len(ring.key("dev")) == 32


def test_generate_entry_rejects_bad_kid() -> None:
    with pytest.raises(InvalidArgument) as excinfo:
        Keyring.generate_entry("has space")
    assert excinfo.value.reason == "ENCRYPTION_KEY_INVALID"
    assert excinfo.value.metadata == {"problem": "bad_label"}


@pytest.mark.parametrize(
    ("text", "problem", "entry", "fragment"),
    [
        ("", "empty", None, "is empty"),
        ("  ", "empty", None, "is empty"),
        (f"k1:{b64(KEY_A)},", "malformed_entry", "2", "stray comma"),
        (f"k1:{b64(KEY_A)},,k2:{b64(KEY_B)}", "malformed_entry", "2", "stray comma"),
        (b64(KEY_A), "malformed_entry", "1", "no ':'"),
        (f":{b64(KEY_A)}", "bad_label", "1", "invalid kid"),
        (f"bad kid:{b64(KEY_A)}", "bad_label", "1", "invalid kid"),
        (f"{'k' * 33}:{b64(KEY_A)}", "bad_label", "1", "1-32 characters"),
        ("k1:", "bad_base64", "1", "not base64"),
        ("k1:not*base64!", "bad_base64", "1", "not base64"),
        ("k1:" + b64(KEY_A)[:-2] + "-+", "bad_base64", "1", "not base64"),
        ("k1:" + b64(KEY_A).rstrip("=") + "===", "bad_base64", "1", "not base64"),
        ("k1:" + b64(KEY_A)[:5], "bad_base64", "1", "not base64"),
        (f"k1:{b64(KEY_A)},k1:{b64(KEY_B)}", "duplicate_label", "2", "repeats the kid of entry 1"),
        (f"k1:{b64(KEY_A[:16])}", "bad_length", "1", "decodes to 16 bytes"),
        (f"k1:{b64(KEY_A)},k0:{b64(KEY_A + b'x')}", "bad_length", "2", "decodes to 33 bytes"),
    ],
)
def test_parse_errors_have_exact_reasons(
    text: str, problem: str, entry: str | None, fragment: str
) -> None:
    with pytest.raises(InvalidArgument) as excinfo:
        Keyring.parse(text)
    error = excinfo.value
    assert error.reason == "ENCRYPTION_KEY_INVALID"
    assert error.metadata.get("problem") == problem
    assert error.metadata.get("entry") == entry
    assert fragment in error.message
    # Every message says how to fix it and never quotes key material.
    assert "Keyring.generate_entry" in error.message
    assert "exactly 32 bytes" in error.message
    for key in (KEY_A, KEY_B):
        assert b64(key).rstrip("=") not in error.message
        assert b64url(key) not in error.message


def test_constructor_validates_like_parse() -> None:
    with pytest.raises(InvalidArgument) as excinfo:
        Keyring([])
    assert excinfo.value.metadata == {"problem": "empty"}
    with pytest.raises(InvalidArgument) as excinfo:
        Keyring([("k1", KEY_A[:31])])
    assert excinfo.value.metadata["problem"] == "bad_length"
    with pytest.raises(InvalidArgument) as excinfo:
        Keyring([("k1", KEY_A), ("k1", KEY_B)])
    assert excinfo.value.metadata == {"problem": "duplicate_label", "entry": "2", "kid": "k1"}


def test_unknown_kid_lookup_explains_recovery() -> None:
    with pytest.raises(FailedPrecondition) as excinfo:
        Keyring([("k1", KEY_A)]).key("k0")
    assert excinfo.value.reason == "ENCRYPTION_KEY_UNKNOWN"
    assert "Add that key back" in excinfo.value.message


def test_repr_never_shows_key_material() -> None:
    ring = Keyring([("k2", KEY_B), ("k1", KEY_A)])
    for text in (repr(ring), repr(EnvelopeCipher(ring))):
        assert "k2" in text
        assert "k1" in text
        assert b64(KEY_A) not in text
        assert repr(KEY_A) not in text
