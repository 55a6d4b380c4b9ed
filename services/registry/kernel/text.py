"""Rules every registry feature shares: how a value is shown in a message, the calling
convention of validators, slugs, display names, descriptions and codes.

Calling convention (one style for every validator in the registry)
------------------------------------------------------------------
``validate_<thing>(errors, value, *, field=<default path>, ...) -> T | None``

* ``errors`` is a :class:`~services.common.errors.ValidationErrors` collector. A validator
  never raises for bad input; it appends one :class:`FieldViolation` per bad field (or per bad
  list item, with paths like ``allowed_domains[1]``) and returns ``None`` for that value.
* ``field`` is the dotted path reported in violations; the default is the registry proto
  field name where one exists, so callers override it only for nested or renamed inputs.
* On success the *normalised* value is returned (trimmed, lower-cased, defaulted or
  deduplicated, as the rule says); store that, not the raw input.

For a single value, :func:`checked` runs one validator and raises straight away.

Reasons (stable; never reworded once shipped): SLUG_INVALID, SLUG_RESERVED,
DISPLAY_NAME_EMPTY, DISPLAY_NAME_TOO_LONG, DISPLAY_NAME_CONTROL_CHARACTER,
DESCRIPTION_TOO_LONG, and the ``<KIND>_CODE_INVALID`` of :func:`validate_code`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from enum import StrEnum
from typing import Concatenate, ParamSpec, TypeVar

from services.common.errors import InvalidArgument, ValidationErrors
from services.common.vocabulary import CODE_PATTERN, SLUG_MAX_LENGTH, SLUG_MIN_LENGTH

_P = ParamSpec("_P")
_T = TypeVar("_T")
_S = TypeVar("_S", bound=StrEnum)

# --------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------

_SHOW_MAX = 80


def show(value: str) -> str:
    """Quote a user value for a message; long values are cut so errors stay readable."""
    if len(value) > _SHOW_MAX:
        value = value[:_SHOW_MAX] + "…"
    return repr(value)


def has_space_or_control(value: str) -> bool:
    return any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in value)


# Loopback is the one place plain http is acceptable: the traffic never leaves the machine
# (RFC 8252 §7.3 native-app redirects, a developer's local MinIO).
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def checked(
    validator: Callable[Concatenate[ValidationErrors, _P], _T | None],
    /,
    *args: _P.args,
    **kwargs: _P.kwargs,
) -> _T:
    """Run one validator on its own and return the normalised value.

    Raises :class:`~services.common.errors.InvalidArgument` (reason ``VALIDATION_FAILED``)
    carrying the validator's violations. For callers that check one value, not a request.
    """
    errors = ValidationErrors()
    result = validator(errors, *args, **kwargs)
    errors.raise_if_any()
    if result is None:  # a validator returned None without saying why: a bug in this module
        raise RuntimeError(f"{validator.__name__} rejected a value without a violation")
    return result


# -- slugs (ARCHITECTURE §2: apps; the same grammar for tenants) -----------------------------

_SLUG_CHARS = re.compile(r"[a-z0-9-]*")


def _slug_problem(value: str) -> str | None:
    """Which slug rule ``value`` breaks, phrased as the fix; None if it is a valid slug."""
    if not SLUG_MIN_LENGTH <= len(value) <= SLUG_MAX_LENGTH:
        return (
            f"must be {SLUG_MIN_LENGTH}-{SLUG_MAX_LENGTH} characters long "
            f"(got {len(value)}); choose a slug of that length."
        )
    if not _SLUG_CHARS.fullmatch(value):
        hint = ""
        if _SLUG_CHARS.fullmatch(value.lower()):
            hint = f" (did you mean {show(value.lower())}?)"
        return (
            "may contain only lowercase letters a-z, digits and hyphens; "
            f"remove or replace the other characters{hint}."
        )
    if not value[0].isalpha():
        return "must start with a letter; put a letter first."
    if value.endswith("-"):
        return "must not end with a hyphen; remove the trailing '-'."
    if "--" in value:
        return "must not contain a double hyphen; use a single '-' between words."
    return None


def validate_slug(
    errors: ValidationErrors,
    value: str,
    *,
    field: str,
    kind: str,
    reserved: tuple[str, ...],
    system: tuple[str, ...],
    allow_reserved: bool,
) -> str | None:
    """A slug of ``kind`` (app, tenant): lowercase letters, digits and hyphens; 3-63
    characters; starts with a letter; no trailing hyphen; no ``--`` (SLUG_INVALID). Names in
    ``reserved`` are refused (SLUG_RESERVED) except, with ``allow_reserved``, those in
    ``system`` (the platform's own path). Slugs are not case-folded: ``My-App`` is
    SLUG_INVALID rather than silently becoming a different identifier."""
    # Reserved names are checked first (and case-insensitively) because several of them are
    # not even grammatical ('*', 't', '.well-known'): "reserved" is the more useful answer.
    folded = value.lower()
    if folded in reserved and not (allow_reserved and folded in system):
        why = (
            "is created only by the platform's system path"
            if folded in system
            else "is reserved by the platform"
        )
        errors.add(
            field,
            "SLUG_RESERVED",
            f"{field} {show(value)} {why}; choose a different {kind} slug.",
        )
        return None
    problem = _slug_problem(value)
    if problem is not None:
        errors.add(field, "SLUG_INVALID", f"{field} {show(value)} {problem}")
        return None
    return value


# -- display names and descriptions -----------------------------------------------------------

DISPLAY_NAME_MAX_LENGTH = 100
DESCRIPTION_MAX_LENGTH = 500


def validate_display_name(
    errors: ValidationErrors, value: str, *, field: str = "display_name"
) -> str | None:
    """A display name [Tessera platform rule]: trimmed, 1-100 characters, no control characters.

    Returns the trimmed name. Uniqueness is decided on :func:`display_name_key`, not on this
    value.
    """
    name = value.strip()
    if not name:
        errors.add(
            field,
            "DISPLAY_NAME_EMPTY",
            f"{field} is empty or only whitespace; give a name of 1-"
            f"{DISPLAY_NAME_MAX_LENGTH} characters.",
        )
        return None
    if len(name) > DISPLAY_NAME_MAX_LENGTH:
        errors.add(
            field,
            "DISPLAY_NAME_TOO_LONG",
            f"{field} is {len(name)} characters long; shorten it to at most "
            f"{DISPLAY_NAME_MAX_LENGTH}.",
        )
        return None
    bad = next((ch for ch in name if unicodedata.category(ch) == "Cc"), None)
    if bad is not None:
        errors.add(
            field,
            "DISPLAY_NAME_CONTROL_CHARACTER",
            f"{field} contains the control character U+{ord(bad):04X}; remove it "
            "(names are a single line of visible text).",
        )
        return None
    return name


def display_name_key(name: str) -> str:
    """The key two display names collide on [Tessera platform rule].

    NFKC-normalised, whitespace runs collapsed to one space and trimmed, then case-folded, so
    ``"My  App"``, ``"my app"`` and their full-width forms are the same name. NFKC is applied
    again after folding because case folding can produce sequences that NFKC would rewrite,
    and the key must be stable (``display_name_key(display_name_key(x))`` is the same key).
    """
    text = unicodedata.normalize("NFKC", name)
    text = " ".join(text.split())
    return unicodedata.normalize("NFKC", text.casefold())


def validate_description(
    errors: ValidationErrors, value: str | None, *, field: str = "description"
) -> str | None:
    """An optional description [Tessera platform rule]: at most 500 characters once trimmed.

    Absent (``None``) or blank input is valid and normalises to ``""``.
    """
    text = (value or "").strip()
    if len(text) > DESCRIPTION_MAX_LENGTH:
        errors.add(
            field,
            "DESCRIPTION_TOO_LONG",
            f"{field} is {len(text)} characters long; shorten it to at most "
            f"{DESCRIPTION_MAX_LENGTH}.",
        )
        return None
    return text


# -- codes --------------------------------------------------------------------------------------


def validate_code(
    errors: ValidationErrors, value: str, *, field: str, reason: str, example: str
) -> str | None:
    """A code of a region, region database or plan: ``[a-z][a-z0-9-]{1,62}`` (``reason`` when
    it is not, with ``example`` in the message)."""
    if not CODE_PATTERN.fullmatch(value):
        errors.add(
            field,
            reason,
            f"{field} {show(value)} is not a valid code; use 2-63 characters: a lowercase "
            f"letter, then lowercase letters, digits or hyphens (e.g. '{example}').",
        )
        return None
    return value


def parse_status_filter(value: str, kind: type[_S], *, field: str = "status") -> _S | None:
    """A list filter naming one value of ``kind``; ``""`` = no filter. Unknown values are
    refused (STATUS_INVALID) rather than matching nothing."""
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise InvalidArgument(
            "STATUS_INVALID", f"{field} must be one of {allowed} (or empty for all)."
        ) from None
