"""Rules of resource servers (Modgud seed, "Provisioning the resource server"): audiences and
the subset of the app's catalog a server gates on. Reasons (stable): AUDIENCE_INVALID,
PERMISSION_NOT_IN_CATALOG, PERMISSION_DEPRECATED, PERMISSION_CODE_INVALID.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from urllib.parse import urlsplit

from services.common.errors import ValidationErrors
from services.common.vocabulary import (
    CONTROL_PLANE_APP,
    CORE_SERVICE,
    SERVICE_TOKEN_AUDIENCE,
    SYSTEM_APP,
)
from services.registry.apps.models import App
from services.registry.catalog.models import CatalogEntry
from services.registry.catalog.rules import validate_permission_code
from services.registry.kernel.text import show

AUDIENCE_MAX_LENGTH = 200
_AUDIENCE_SLUG = re.compile(r"[a-z][a-z0-9._-]*[a-z0-9]")
_URI_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")

# Audiences the platform's own tokens carry (system app, service tokens).
RESERVED_AUDIENCES = frozenset(
    {SYSTEM_APP, CONTROL_PLANE_APP, CORE_SERVICE, SERVICE_TOKEN_AUDIENCE}
)


def _audience_problem(value: str) -> str | None:
    if not value:
        return (
            "is empty; give an absolute URI such as 'https://api.example.com' or an "
            "identifier such as 'billing-api'."
        )
    if len(value) > AUDIENCE_MAX_LENGTH:
        return f"is {len(value)} characters long; keep it to at most {AUDIENCE_MAX_LENGTH}."
    if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in value):
        return "contains whitespace or control characters; remove them."
    if value in RESERVED_AUDIENCES:
        return "is reserved for the platform's own tokens; choose another."
    if ":" not in value:
        if _AUDIENCE_SLUG.fullmatch(value):
            return None
        return (
            "is neither an absolute URI nor an identifier; identifiers are 2 or more lowercase "
            "letters, digits, '.', '_' and '-', starting with a letter and ending with a "
            "letter or digit (e.g. 'billing-api')."
        )
    scheme, _, rest = value.partition(":")
    if not _URI_SCHEME.fullmatch(scheme) or not rest:
        return (
            "is not an absolute URI; give a scheme and what follows it, e.g. "
            "'https://api.example.com/billing' or 'urn:example:billing'."
        )
    if "#" in value:
        return "has a fragment; an audience is an absolute URI without '#...'."
    if scheme.lower() in ("http", "https"):
        try:
            host = urlsplit(value).hostname
        except ValueError:
            host = None
        if not host:
            return f"has no host; {scheme} audiences need one, e.g. 'https://api.example.com'."
    return None


def validate_audience(
    errors: ValidationErrors, value: str, *, field: str = "audience"
) -> str | None:
    """A resource server's audience (the ``aud`` its tokens carry) [Modgud seed]: an absolute
    URI without fragment (``https://api.example.com``, ``urn:example:billing``) or a slug-like
    identifier of at least 2 characters (``billing-api``); at most 200 characters. Returned
    unchanged: audiences are compared as exact strings."""
    problem = _audience_problem(value)
    if problem is not None:
        errors.add(field, "AUDIENCE_INVALID", f"{field} {show(value)} {problem}")
        return None
    return value


_APP_AUDIENCE_PATH = re.compile(r"/t/(?P<tenant>[^/]+)/apps/(?P<app>[^/]+)/?")


def app_named_by(audience: str, tenant_slug: str) -> str | None:
    """The app slug an audience stands for in this tenant's tokens, if any: the bare slug, or
    an app's default token audience ``{public_url}/t/{tenant}/apps/{slug}`` (whatever the
    host, since the public URL can change)."""
    if ":" not in audience:
        return audience
    try:
        path = urlsplit(audience).path
    except ValueError:
        return None
    match = _APP_AUDIENCE_PATH.fullmatch(path)
    if match is None or match["tenant"] != tenant_slug:
        return None
    return match["app"]


def subset_ids(
    errors: ValidationErrors,
    codes: Sequence[str],
    catalog: Sequence[CatalogEntry],
    app: App,
    *,
    field: str = "permissions",
) -> list[str] | None:
    """Resolve a resource server's permission subset against the app's catalog (entries of
    the app's service codes). Each code must be a non-deprecated entry there; a code several
    of the app's services declare selects each of them. Repeats are harmless and dropped."""
    by_code: dict[str, list[CatalogEntry]] = {}
    for entry in catalog:
        by_code.setdefault(entry.code, []).append(entry)
    ok = True
    ids: list[str] = []
    for index, raw in enumerate(codes):
        path = f"{field}[{index}]"
        code = validate_permission_code(errors, raw, field=path)
        if code is None:
            ok = False
            continue
        entries = by_code.get(code)
        if not entries:
            errors.add(
                path,
                "PERMISSION_NOT_IN_CATALOG",
                f"{path} {show(code)} is not in app {app.slug!r}'s catalog (services "
                f"{', '.join(app.service_codes)}); register it first or pick an existing code.",
            )
            ok = False
            continue
        live = [e.id for e in entries if e.deprecated_at is None]
        if not live:
            errors.add(
                path,
                "PERMISSION_DEPRECATED",
                f"{path} {show(code)} is deprecated (its service no longer declares it) and "
                "cannot be granted anew.",
            )
            ok = False
            continue
        ids.extend(i for i in live if i not in ids)
    return ids if ok else None
