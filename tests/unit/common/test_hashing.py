"""Generated credentials and their keyed hashes (product brief §2, §7)."""

from __future__ import annotations

import base64
import hmac
import re
from collections.abc import Callable

import pytest

from services.common.errors import InvalidArgument
from services.common.hashing import (
    CLIENT_SECRET_PREFIX,
    INVITE_CODE_PREFIX,
    PasswordHasher,
    PepperRing,
    SecretHasher,
    generate_client_id,
    generate_numeric_code,
    generate_secret,
)

PEPPER_1 = bytes(range(32))
PEPPER_2 = bytes(range(50, 98))  # 48 bytes: peppers may be longer than 32
SECRET = "tsk_lVdHQ1pdkJ3nI0S7cB7Qb9e1yWq5a8nX2mZ0oR4tU6w"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def hasher(*peppers: tuple[str, bytes]) -> SecretHasher:
    return SecretHasher(PepperRing(list(peppers)))


# --------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", [CLIENT_SECRET_PREFIX, INVITE_CODE_PREFIX])
def test_secret_has_prefix_and_256_bits(prefix: str) -> None:
    secret = generate_secret(prefix)
    head, _, tail = secret.partition("_")
    assert head == prefix
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", tail)
    assert len(base64.urlsafe_b64decode(tail + "=")) == 32


def test_prefix_constants() -> None:
    assert (CLIENT_SECRET_PREFIX, INVITE_CODE_PREFIX) == ("tsk", "tic")


def test_secrets_differ() -> None:
    assert len({generate_secret("tsk") for _ in range(100)}) == 100


def test_secret_uses_token_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    requested: list[int] = []

    def fake_token_bytes(n: int) -> bytes:
        requested.append(n)
        return b"\xff" * n

    monkeypatch.setattr("services.common.hashing.secrets.token_bytes", fake_token_bytes)
    assert generate_secret("tic") == "tic_" + "_" * 42 + "8"
    assert requested == [32]


@pytest.mark.parametrize("prefix", ["", "t", "TSK", "ts_k", "1sk", "tsk ", "a" * 17])
def test_bad_prefix_is_a_programming_error(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        generate_secret(prefix)


def test_client_id_is_prefixed_lowercase_and_unguessable() -> None:
    ids = {generate_client_id() for _ in range(100)}
    assert len(ids) == 100
    for client_id in ids:
        assert re.fullmatch(r"tc_[a-z2-7]{26}", client_id)
        tail = client_id[3:].upper() + "======"
        assert len(base64.b32decode(tail)) == 16


@pytest.mark.parametrize("digits", [6, 8, 12])
def test_numeric_code_has_exact_digit_count(digits: int) -> None:
    for _ in range(50):
        code = generate_numeric_code(digits)
        assert len(code) == digits
        assert code.isdigit()


def test_numeric_code_is_uniform_and_keeps_leading_zeros(monkeypatch: pytest.MonkeyPatch) -> None:
    bounds: list[int] = []

    def fake_randbelow(bound: int) -> int:
        bounds.append(bound)
        return 42

    monkeypatch.setattr("services.common.hashing.secrets.randbelow", fake_randbelow)
    assert generate_numeric_code(6) == "000042"
    assert bounds == [10**6]  # the whole range in one draw: no modulo bias


@pytest.mark.parametrize("digits", [0, 5, 13])
def test_numeric_code_rejects_weak_or_absurd_lengths(digits: int) -> None:
    with pytest.raises(ValueError, match="digits"):
        generate_numeric_code(digits)


# --------------------------------------------------------------------------------------------
# Keyed hashes
# --------------------------------------------------------------------------------------------


def test_hash_format_and_determinism() -> None:
    stored = hasher(("v1", PEPPER_1)).hash(SECRET)
    scheme, version, digest = stored.split("$")
    assert (scheme, version) == ("hmac-sha256", "v1")
    expected = hmac.new(PEPPER_1, SECRET.encode(), "sha256").digest()
    assert base64.urlsafe_b64decode(digest + "=") == expected
    assert hasher(("v1", PEPPER_1)).hash(SECRET) == stored


def test_hash_differs_between_pepper_versions() -> None:
    first = hasher(("v1", PEPPER_1)).hash(SECRET)
    second = hasher(("v2", PEPPER_2)).hash(SECRET)
    assert first.split("$")[2] != second.split("$")[2]
    # Same pepper bytes under another version label still names its version.
    assert hasher(("v2", PEPPER_1)).hash(SECRET) == first.replace("$v1$", "$v2$")


def test_hash_never_contains_the_secret() -> None:
    stored = hasher(("v1", PEPPER_1)).hash(SECRET)
    assert SECRET not in stored
    assert SECRET.partition("_")[2] not in stored
    assert SECRET.partition("_")[2][:16] not in stored


def test_hash_rejects_empty_secret() -> None:
    with pytest.raises(ValueError, match="empty"):
        hasher(("v1", PEPPER_1)).hash("")


def test_verify_accepts_right_and_rejects_wrong() -> None:
    h = hasher(("v1", PEPPER_1))
    stored = h.hash(SECRET)
    assert h.verify(SECRET, stored) is True
    assert h.verify(SECRET + "x", stored) is False
    assert h.verify(SECRET[:-1], stored) is False
    assert h.verify("", stored) is False
    assert h.verify(generate_secret("tsk"), stored) is False


def test_verify_rejects_same_version_label_with_other_pepper() -> None:
    stored = hasher(("v1", PEPPER_1)).hash(SECRET)
    assert hasher(("v1", PEPPER_2)).verify(SECRET, stored) is False


def test_verify_rejects_unknown_version() -> None:
    stored = hasher(("v0", PEPPER_1)).hash(SECRET)
    assert hasher(("v1", PEPPER_1)).verify(SECRET, stored) is False


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda s: "", id="empty"),
        pytest.param(lambda s: s.replace("hmac-sha256", "hmac-sha512"), id="other-scheme"),
        pytest.param(lambda s: s.replace("hmac-sha256", "HMAC-SHA256"), id="scheme-case"),
        pytest.param(lambda s: s + "$", id="extra-part"),
        pytest.param(lambda s: s.rsplit("$", 1)[0], id="missing-digest"),
        pytest.param(lambda s: s[:-1], id="short-digest"),
        pytest.param(lambda s: s + "A", id="long-digest"),
        pytest.param(lambda s: s + "=", id="padded-digest"),
        pytest.param(lambda s: s.replace("$v1$", "$v 1$"), id="bad-version"),
        pytest.param(lambda s: s.replace("$v1$", "$$"), id="empty-version"),
        pytest.param(lambda s: s[:-1] + "é", id="non-ascii"),
        pytest.param(lambda s: s[:-2] + "+/", id="standard-alphabet"),
        pytest.param(lambda s: "$2b$12$" + "a" * 53, id="bcrypt"),
    ],
)
def test_verify_and_is_current_reject_malformed_stored(mutate: Callable[[str], str]) -> None:
    h = hasher(("v1", PEPPER_1))
    malformed = mutate(h.hash(SECRET))
    assert h.verify(SECRET, malformed) is False
    assert h.is_current(malformed) is False


@pytest.mark.parametrize("stored", [None, 42, b"hmac-sha256$v1$x"])
def test_verify_tolerates_non_string_stored(stored: object) -> None:
    h = hasher(("v1", PEPPER_1))
    assert h.verify(SECRET, stored) is False  # type: ignore[arg-type]
    assert h.is_current(stored) is False  # type: ignore[arg-type]


def test_verify_tolerates_unencodable_secret() -> None:
    h = hasher(("v1", PEPPER_1))
    assert h.verify("tsk_\ud800", h.hash(SECRET)) is False


def test_rotation_old_hash_verifies_but_is_not_current() -> None:
    v1_entry, v2_entry = PepperRing.generate_entry("v1"), PepperRing.generate_entry("v2")
    old_hasher = SecretHasher(PepperRing.parse(v1_entry))
    old_stored = old_hasher.hash(SECRET)
    assert old_hasher.is_current(old_stored) is True

    rotated = SecretHasher(PepperRing.parse(f"{v2_entry},{v1_entry}"))
    assert rotated.verify(SECRET, old_stored) is True
    assert rotated.is_current(old_stored) is False

    new_stored = rotated.hash(SECRET)
    assert new_stored.split("$")[1] == "v2"
    assert rotated.is_current(new_stored) is True
    assert SecretHasher(PepperRing.parse(v2_entry)).verify(SECRET, new_stored) is True


def test_verify_uses_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    h = hasher(("v1", PEPPER_1))
    stored = h.hash(SECRET)
    calls: list[tuple[object, object]] = []
    real_compare_digest = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real_compare_digest(a, b)

    monkeypatch.setattr("services.common.hashing.hmac.compare_digest", spy)
    assert h.verify(SECRET, stored) is True
    assert h.verify("tsk_wrong", stored) is False
    assert len(calls) == 2


# --------------------------------------------------------------------------------------------
# Pepper ring configuration
# --------------------------------------------------------------------------------------------


def test_pepper_ring_parse() -> None:
    ring = PepperRing.parse(f"v2:{b64(PEPPER_2)}, v1:{b64(PEPPER_1).rstrip('=')}")
    assert ring.current_version == "v2"
    assert ring.versions == ("v2", "v1")
    assert ring.get("v1") == PEPPER_1
    assert ring.get("v0") is None
    assert "v2" in ring


def test_pepper_generate_entry() -> None:
    entry = PepperRing.generate_entry("v7")
    ring = PepperRing.parse(entry)
    assert ring.current_version == "v7"
    pepper = ring.get("v7")
    assert pepper is not None
    assert len(pepper) == 32
    assert PepperRing.generate_entry("v7") != entry


@pytest.mark.parametrize(
    ("text", "problem", "entry"),
    [
        ("", "empty", None),
        (f"v1:{b64(PEPPER_1)},", "malformed_entry", "2"),
        (b64(PEPPER_1), "malformed_entry", "1"),
        (f"v.1:{b64(PEPPER_1)}", "bad_label", "1"),
        ("v1:%%%", "bad_base64", "1"),
        (f"v1:{b64(PEPPER_1)},v1:{b64(PEPPER_2)}", "duplicate_label", "2"),
        (f"v1:{b64(PEPPER_1[:31])}", "bad_length", "1"),
    ],
)
def test_pepper_parse_errors(text: str, problem: str, entry: str | None) -> None:
    with pytest.raises(InvalidArgument) as excinfo:
        PepperRing.parse(text)
    error = excinfo.value
    assert error.reason == "PEPPER_INVALID"
    assert error.metadata.get("problem") == problem
    assert error.metadata.get("entry") == entry
    assert "at least 32 bytes" in error.message
    assert "PepperRing.generate_entry" in error.message
    assert b64(PEPPER_1).rstrip("=") not in error.message


def test_pepper_repr_never_shows_pepper() -> None:
    ring = PepperRing([("v1", PEPPER_1)])
    for text in (repr(ring), repr(SecretHasher(ring))):
        assert "v1" in text
        assert b64(PEPPER_1) not in text
        assert repr(PEPPER_1) not in text


# --------------------------------------------------------------------------------------------
# Passwords
# --------------------------------------------------------------------------------------------


def test_password_round_trip() -> None:
    ph = PasswordHasher.for_tests()
    stored = ph.hash("correct horse battery staple")
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    assert ph.verify("correct horse battery staple", stored) is True
    assert ph.verify("correct horse battery stapler", stored) is False
    assert ph.needs_rehash(stored) is False


def test_password_salted() -> None:
    ph = PasswordHasher.for_tests()
    assert ph.hash("pw") != ph.hash("pw")


@pytest.mark.parametrize("stored", ["", "garbage", "$argon2id$v=19$m=8,t=1,p=1$xx", "$2b$12$abc"])
def test_password_verify_malformed_stored_is_false(stored: str) -> None:
    ph = PasswordHasher.for_tests()
    assert ph.verify("pw", stored) is False
    assert ph.needs_rehash(stored) is True


def test_password_needs_rehash_after_parameter_change() -> None:
    stored = PasswordHasher.for_tests().hash("pw")
    stronger = PasswordHasher(time_cost=2, memory_cost_kib=16, parallelism=1)
    assert stronger.verify("pw", stored) is True
    assert stronger.needs_rehash(stored) is True


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"time_cost": 0}, "time_cost"),
        ({"parallelism": 0}, "parallelism"),
        ({"memory_cost_kib": 7, "parallelism": 1}, "memory_cost_kib"),
        ({"hash_len": 8}, "hash_len"),
        ({"salt_len": 4}, "salt_len"),
    ],
)
def test_password_hasher_rejects_bad_parameters(kwargs: dict[str, int], fragment: str) -> None:
    with pytest.raises(InvalidArgument) as excinfo:
        PasswordHasher(**kwargs)
    assert excinfo.value.reason == "PASSWORD_HASH_PARAMS_INVALID"
    assert fragment in excinfo.value.message
