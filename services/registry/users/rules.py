"""Rules of the tenant's user pool: emails (unique per tenant, case-insensitively), person
names, usernames and passwords (ARCHITECTURE §2).

Calling convention: services.registry.kernel.text. Reasons (stable): EMAIL_REQUIRED,
EMAIL_INVALID, EMAIL_TOO_LONG, NAME_TOO_LONG, NAME_CONTROL_CHARACTER, USERNAME_INVALID,
PASSWORD_TOO_SHORT, PASSWORD_TOO_LONG, PASSWORD_EQUALS_EMAIL.
"""

from __future__ import annotations

import re
import unicodedata

from services.common.errors import ValidationErrors
from services.registry.kernel.text import show

EMAIL_MAX_LENGTH = 254  # RFC 5321 §4.5.3.1.3: a path holds at most 256 octets incl. "<>"
EMAIL_LOCAL_MAX_LENGTH = 64  # RFC 5321 §4.5.3.1.1
NAME_MAX_LENGTH = 100
PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 256

# Dot-atom local part (RFC 5322 §3.4.1) widened to UTF-8 (RFC 6531); quoted local parts are
# not accepted (no mail provider hands them out and they complicate uniqueness).
_LOCAL = re.compile(r"[^\s@\"(),:;<>\[\]\\\x00-\x1f\x7f]+")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_USERNAME = re.compile(r"[a-z0-9._-]{3,63}")


def email_key(email: str) -> str:
    """The key two emails collide on within a tenant: NFKC, case-folded (ARCHITECTURE §2:
    "email unique per tenant, case-insensitive"), so ``Ann@Example.com`` = ``ann@example.com``."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", email).casefold())


def _domain_ok(domain: str) -> bool:
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    labels = ascii_domain.split(".")
    return (
        len(labels) >= 2
        and len(ascii_domain) <= 253
        and all(_LABEL.fullmatch(label) for label in labels)
        and not labels[-1].isdigit()
    )


def validate_email(errors: ValidationErrors, value: str, *, field: str = "email") -> str | None:
    """A user's email: trimmed, ``local@domain`` with a dot-atom local part (≤64 characters)
    and a DNS domain, at most 254 characters. The domain is lower-cased (domains are
    case-insensitive); the local part is kept as typed. Uniqueness uses :func:`email_key`."""
    text = value.strip()
    if not text:
        errors.add(field, "EMAIL_REQUIRED", f"{field} is required; give the user's email address.")
        return None
    if len(text) > EMAIL_MAX_LENGTH:
        errors.add(
            field,
            "EMAIL_TOO_LONG",
            f"{field} is {len(text)} characters long; an email address has at most "
            f"{EMAIL_MAX_LENGTH}.",
        )
        return None
    local, at, domain = text.rpartition("@")
    if (
        not at
        or not local
        or len(local) > EMAIL_LOCAL_MAX_LENGTH
        or not _LOCAL.fullmatch(local)
        or local.startswith(".")
        or local.endswith(".")
        or ".." in local
        or not _domain_ok(domain.lower())
    ):
        errors.add(
            field,
            "EMAIL_INVALID",
            f"{field} {show(text)} is not an email address; use the form 'name@example.com' "
            "(no spaces or quotes, a domain with at least one dot).",
        )
        return None
    return f"{local}@{domain.lower()}"


def validate_person_name(errors: ValidationErrors, value: str, *, field: str) -> str | None:
    """An optional first or last name: trimmed, at most 100 characters, no control characters.
    Blank input is valid and normalises to ``""`` (= no name)."""
    name = value.strip()
    if len(name) > NAME_MAX_LENGTH:
        errors.add(
            field,
            "NAME_TOO_LONG",
            f"{field} is {len(name)} characters long; shorten it to at most {NAME_MAX_LENGTH}.",
        )
        return None
    bad = next((ch for ch in name if unicodedata.category(ch) == "Cc"), None)
    if bad is not None:
        errors.add(
            field,
            "NAME_CONTROL_CHARACTER",
            f"{field} contains the control character U+{ord(bad):04X}; remove it.",
        )
        return None
    return name


def validate_username(
    errors: ValidationErrors, value: str, *, field: str = "username"
) -> str | None:
    """An optional username: trimmed, 3-63 of ``a-z 0-9 . _ -``. Blank normalises to ``""``
    (= no username). Uniqueness within the tenant is checked by the service."""
    name = value.strip()
    if name and not _USERNAME.fullmatch(name):
        errors.add(
            field,
            "USERNAME_INVALID",
            f"{field} {show(name)} is not a username; use 3-63 lowercase letters, digits, "
            "'.', '_' or '-'.",
        )
        return None
    return name


def validate_password(
    errors: ValidationErrors, value: str, *, email: str | None, field: str = "password"
) -> str | None:
    """A password: 12-256 characters (NIST SP 800-63B §3.1.1.2 length rules; no composition
    rules), and not the account's email. Returned unchanged (passwords are never trimmed)."""
    if len(value) < PASSWORD_MIN_LENGTH:
        errors.add(
            field,
            "PASSWORD_TOO_SHORT",
            f"{field} has {len(value)} characters; use at least {PASSWORD_MIN_LENGTH} "
            "(a passphrase of a few words is easiest).",
        )
        return None
    if len(value) > PASSWORD_MAX_LENGTH:
        errors.add(
            field,
            "PASSWORD_TOO_LONG",
            f"{field} has {len(value)} characters; use at most {PASSWORD_MAX_LENGTH}.",
        )
        return None
    if email is not None and email_key(value.strip()) == email_key(email):
        errors.add(
            field,
            "PASSWORD_EQUALS_EMAIL",
            f"{field} is the account's email address; choose something else.",
        )
        return None
    return value
