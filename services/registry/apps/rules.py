"""Rules of apps: slugs, redirect URIs, allowed domains, service codes and storage settings.

Pure functions with the registry's validator calling convention (services.registry.kernel.text).
Non-validating helpers: :func:`redirect_uri_matches`, :func:`mask_secret`.

Reasons (stable; never reworded once shipped): SLUG_INVALID, SLUG_RESERVED,
REDIRECT_URIS_TOO_MANY, REDIRECT_URI_NOT_ABSOLUTE, REDIRECT_URI_INVALID,
REDIRECT_URI_HAS_FRAGMENT, REDIRECT_URI_SCHEME_FORBIDDEN, REDIRECT_URI_INSECURE,
REDIRECT_URI_WILDCARD_MISPLACED, REDIRECT_URI_WILDCARD_IN_HOST, REDIRECT_URI_DUPLICATE,
ALLOWED_DOMAINS_TOO_MANY, ALLOWED_DOMAIN_EMPTY, ALLOWED_DOMAIN_WILDCARD,
ALLOWED_DOMAIN_HAS_PATH, ALLOWED_DOMAIN_HAS_QUERY, ALLOWED_DOMAIN_HAS_FRAGMENT,
ALLOWED_DOMAIN_HAS_USERINFO, ALLOWED_DOMAIN_INVALID_PORT, ALLOWED_DOMAIN_INVALID_HOST,
ALLOWED_DOMAIN_DUPLICATE, SERVICE_CODES_TOO_MANY, SERVICE_CODE_INVALID,
STORAGE_PROVIDER_UNSUPPORTED, STORAGE_CREDENTIAL_EMPTY, STORAGE_CREDENTIAL_TOO_LONG,
STORAGE_BUCKET_INVALID, STORAGE_ENDPOINT_INVALID, STORAGE_ENDPOINT_INSECURE,
STORAGE_ENDPOINT_REQUIRED, STORAGE_REGION_INVALID, HOMEPAGE_URL_TOO_LONG, HOMEPAGE_URL_INVALID,
HOMEPAGE_URL_INSECURE.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from urllib.parse import unquote, urlsplit

from services.common.errors import ValidationErrors
from services.common.vocabulary import (
    ALL_APPS,
    CONTROL_PLANE_APP,
    KEBAB_PATTERN,
    SYSTEM_APP,
    StorageProvider,
)
from services.registry.kernel.text import LOOPBACK_HOSTS, has_space_or_control, show, validate_slug

# -- slugs (ARCHITECTURE §2) -------------------------------------------------------------------

RESERVED_APP_SLUGS: tuple[str, ...] = ("realm", ALL_APPS, SYSTEM_APP, CONTROL_PLANE_APP)
SYSTEM_APP_SLUGS: tuple[str, ...] = (SYSTEM_APP, CONTROL_PLANE_APP)


def validate_app_slug(
    errors: ValidationErrors,
    value: str,
    *,
    field: str = "slug",
    allow_reserved: bool = False,
) -> str | None:
    """An app slug (the seeds' ``code``; kernel.text.validate_slug's grammar). ``realm``, ``*``,
    ``tessera`` and ``control-plane`` are reserved (SLUG_RESERVED); ``allow_reserved=True`` is
    the system-app path and unlocks only the system apps ``tessera`` and ``control-plane``."""
    return validate_slug(
        errors,
        value,
        field=field,
        kind="app",
        reserved=RESERVED_APP_SLUGS,
        system=SYSTEM_APP_SLUGS,
        allow_reserved=allow_reserved,
    )


# -- redirect URIs (Vendidit seed §8: matched exactly, a trailing * allows a path prefix) --

REDIRECT_URIS_MAX = 20

# Schemes a browser would execute or read locally instead of navigating to an app: accepting
# them would turn the authorization endpoint into a script-injection or local-file vector.
_FORBIDDEN_REDIRECT_SCHEMES = frozenset({"javascript", "vbscript", "data", "file", "blob"})
_WEB_SCHEMES = frozenset({"http", "https"})
_LEADING_PORT = re.compile(r"[0-9]+(?:/|$)")


def _redirect_uri_problem(uri: str, *, production: bool) -> tuple[str, str] | None:
    """(reason, what-is-wrong-and-fix) for one redirect URI, or None if it is acceptable."""
    if not uri:
        return (
            "REDIRECT_URI_NOT_ABSOLUTE",
            "is empty; give an absolute URI such as 'https://app.example.com/callback'.",
        )
    # urlsplit silently drops tabs/newlines and leading spaces, so what it parses would not be
    # the string we later compare against; refuse such input rather than guess.
    if has_space_or_control(uri):
        return (
            "REDIRECT_URI_INVALID",
            "contains whitespace or control characters; percent-encode or remove them.",
        )
    if "#" in uri:
        return (
            "REDIRECT_URI_HAS_FRAGMENT",
            "has a fragment ('#...'); remove it, redirect URIs must not carry fragments.",
        )
    star = uri.find("*")
    is_pattern = star == len(uri) - 1
    base = uri[:-1] if is_pattern else uri
    try:
        authority = urlsplit(uri).netloc
        parts = urlsplit(base)
        port = parts.port
    except ValueError:
        return (
            "REDIRECT_URI_INVALID",
            "cannot be parsed (bad port or bracketed host); fix the authority part.",
        )
    # A '*' in the authority, even as the last character, would let the pattern match other
    # hosts: 'https://example.com*' also matches 'https://example.com.evil.io/'.
    if "*" in authority:
        return (
            "REDIRECT_URI_WILDCARD_IN_HOST",
            "puts '*' in the host or port; end the host with '/' before the '*' "
            "(e.g. 'https://app.example.com/*') so no other host can match.",
        )
    if star != -1 and not is_pattern:
        return (
            "REDIRECT_URI_WILDCARD_MISPLACED",
            "has a '*' that is not the last character; '*' is only allowed at the very end "
            "as a prefix pattern (e.g. 'https://app.example.com/callback/*').",
        )
    if not parts.scheme:
        return (
            "REDIRECT_URI_NOT_ABSOLUTE",
            "is not an absolute URI; include a scheme, e.g. "
            "'https://app.example.com/callback' or 'com.example.app:/callback'.",
        )
    scheme = parts.scheme.lower()
    if scheme in _FORBIDDEN_REDIRECT_SCHEMES:
        return (
            "REDIRECT_URI_SCHEME_FORBIDDEN",
            f"uses the '{scheme}:' scheme, which can never be a redirect target; use https "
            "or an app-specific scheme such as 'com.example.app:/callback'.",
        )
    if is_pattern and not parts.path.startswith("/"):
        # Without a '/' before it the pattern would cover everything the scheme can address.
        return (
            "REDIRECT_URI_WILDCARD_MISPLACED",
            "has a '*' with no path before it; a prefix pattern needs at least a '/' path "
            "(e.g. 'com.example.app:/callback/*').",
        )
    if not (parts.netloc or parts.path):
        return (
            "REDIRECT_URI_NOT_ABSOLUTE",
            f"has nothing after '{parts.scheme}:'; add the target, e.g. "
            f"'{parts.scheme}:/callback'.",
        )
    # 'localhost:3000/cb' parses as scheme 'localhost'; it is a forgotten 'http://', not a
    # native-app scheme, and accepting it would register a URI nobody can redirect to.
    if scheme not in _WEB_SCHEMES and not parts.netloc and _LEADING_PORT.match(parts.path):
        return (
            "REDIRECT_URI_NOT_ABSOLUTE",
            "looks like 'host:port' without a scheme; prefix it with 'https://' (or "
            "'http://' for a loopback host).",
        )
    if scheme in _WEB_SCHEMES:
        # Browsers read '\' as '/' in http(s) URLs while urlsplit does not, so the host we
        # check could differ from the host the browser visits.
        if "\\" in uri:
            return ("REDIRECT_URI_INVALID", "contains '\\'; use '/' as the path separator.")
        if not parts.hostname:
            return (
                "REDIRECT_URI_NOT_ABSOLUTE",
                f"has no host; {scheme} redirect URIs need one, e.g. "
                f"'{scheme}://app.example.com/callback'.",
            )
        if port == 0:
            return ("REDIRECT_URI_INVALID", "has port 0; use a port between 1 and 65535.")
        if production and scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
            return (
                "REDIRECT_URI_INSECURE",
                "uses plain http for a non-loopback host; use https (http is allowed in "
                "production only for localhost, 127.0.0.1 and [::1]).",
            )
    return None


def validate_redirect_uri(
    errors: ValidationErrors, value: str, *, field: str = "redirect_uri", production: bool
) -> str | None:
    """One redirect or post-logout redirect URI [TrueParser seed; Vendidit seed §8].

    Must be an absolute URI with a scheme, and a host for http/https; no fragment; ``*`` only
    as the last character and only after the authority and a ``/`` (a path-prefix pattern).
    Custom schemes (``com.example.app:/callback``) are allowed for native apps; script and
    local schemes (``javascript:``, ``data:``, ``file:`` ...) never are. With
    ``production=True``, ``http`` is accepted only for loopback hosts. The URI is returned
    unchanged: matching is by exact string, so normalising here would change what matches.
    """
    problem = _redirect_uri_problem(value, production=production)
    if problem is not None:
        reason, detail = problem
        errors.add(field, reason, f"{field} {show(value)} {detail}")
        return None
    return value


HOMEPAGE_URL_MAX_LENGTH = 2000


def _homepage_problem(value: str, *, production: bool) -> tuple[str, str] | None:
    if len(value) > HOMEPAGE_URL_MAX_LENGTH:
        return (
            "HOMEPAGE_URL_TOO_LONG",
            f"is {len(value)} characters long; keep it to {HOMEPAGE_URL_MAX_LENGTH}.",
        )
    if has_space_or_control(value) or "\\" in value:
        return "HOMEPAGE_URL_INVALID", "contains whitespace, control characters or '\\'."
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return "HOMEPAGE_URL_INVALID", "is not a URL; give one such as 'https://example.com/'."
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return (
            "HOMEPAGE_URL_INVALID",
            "is not an absolute http(s) URL with a host, such as 'https://example.com/'.",
        )
    if parts.username is not None or parts.fragment:
        return "HOMEPAGE_URL_INVALID", "must not carry credentials or a '#fragment'."
    if production and parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        return "HOMEPAGE_URL_INSECURE", "uses http; use https (http only for localhost)."
    return None


def validate_homepage_url(
    errors: ValidationErrors, value: str, *, field: str = "homepage_url", production: bool
) -> str | None:
    """An app's public home page (OpenID Connect Dynamic Client Registration's
    ``client_uri``, which sign-in and consent pages link to): an absolute http(s) URL with a
    host, no credentials and no fragment, at most 2,000 characters; with ``production=True``
    plain http only for loopback hosts. Returned unchanged; ``""`` stands for "none" and is
    checked by the caller."""
    problem = _homepage_problem(value, production=production)
    if problem is not None:
        reason, detail = problem
        errors.add(field, reason, f"{field} {show(value)} {detail}")
        return None
    return value


def validate_redirect_uris(
    errors: ValidationErrors,
    values: Sequence[str],
    *,
    field: str = "redirect_uris",
    production: bool,
) -> list[str] | None:
    """A list of redirect URIs [TrueParser seed; Vendidit seed §8].

    Each entry as :func:`validate_redirect_uri`; at most 20 entries; no exact duplicates.
    Also used for post-logout redirect URIs with ``field="post_logout_redirect_uris"``.
    """
    ok = True
    if len(values) > REDIRECT_URIS_MAX:
        errors.add(
            field,
            "REDIRECT_URIS_TOO_MANY",
            f"{field} has {len(values)} entries; remove some to keep at most "
            f"{REDIRECT_URIS_MAX} (a trailing '*' prefix pattern can replace several).",
        )
        ok = False
    seen: dict[str, int] = {}
    result: list[str] = []
    for index, value in enumerate(values):
        path = f"{field}[{index}]"
        if validate_redirect_uri(errors, value, field=path, production=production) is None:
            ok = False
            continue
        if value in seen:
            errors.add(
                path,
                "REDIRECT_URI_DUPLICATE",
                f"{path} {show(value)} duplicates {field}[{seen[value]}]; remove one of them.",
            )
            ok = False
            continue
        seen[value] = index
        result.append(value)
    return result if ok else None


def _candidate_is_safe_for_prefix(candidate: str) -> bool:
    """Whether a candidate may be accepted by a prefix pattern at all.

    Prefix matching is only sound when the candidate means to the browser what it means as a
    string: no fragment, no backslash or whitespace tricks, and no dot segments that would
    climb out of the registered path after the browser resolves them.
    """
    if "#" in candidate or "\\" in candidate or has_space_or_control(candidate):
        return False
    try:
        path = urlsplit(candidate).path
    except ValueError:
        return False
    return not any(segment in (".", "..") for segment in unquote(path).split("/"))


def redirect_uri_matches(registered: Iterable[str], candidate: str) -> bool:
    """Whether ``candidate`` is one of the ``registered`` redirect URIs [Vendidit seed §8].

    Exact string comparison with no normalisation (a trailing ``/`` matters). A registered
    entry ending in ``*`` matches any candidate starting with the entry minus the ``*``,
    provided the entry itself is a valid pattern (prefix pins scheme, host and a ``/``) and
    the candidate has no fragment, backslash, whitespace or ``.``/``..`` path segments.
    """
    for entry in registered:
        if not entry.endswith("*"):
            if candidate == entry:
                return True
            continue
        # Stored entries are re-checked so a pattern that predates validation (or was written
        # around it) still cannot match a foreign host.
        if _redirect_uri_problem(entry, production=False) is not None:
            continue
        if candidate.startswith(entry[:-1]) and _candidate_is_safe_for_prefix(candidate):
            return True
    return False


# -- allowed domains (TrueParser seed, "Allowed Domain Rules") ----------------------------

ALLOWED_DOMAINS_MAX = 3

_HOST_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_PORT = re.compile(r"[0-9]{1,5}")
_STRUCTURE_REASONS = {
    "/": ("ALLOWED_DOMAIN_HAS_PATH", "a path"),
    "?": ("ALLOWED_DOMAIN_HAS_QUERY", "a query"),
    "#": ("ALLOWED_DOMAIN_HAS_FRAGMENT", "a fragment"),
    "@": ("ALLOWED_DOMAIN_HAS_USERINFO", "user info"),
}


def _normalise_domain(raw: str) -> str:
    # Whitespace goes first so ' https://x/' still loses its scheme; only one scheme and one
    # trailing slash are stripped, anything more is reported as a path.
    value = raw.strip()
    lowered = value.lower()
    for prefix in ("https://", "http://"):
        if lowered.startswith(prefix):
            value = value[len(prefix) :]
            break
    value = value.removesuffix("/")
    return value.strip().lower()


def _is_valid_host(host: str) -> bool:
    if not host or len(host) > 253:
        return False
    labels = host.split(".")
    if all(label.isdigit() for label in labels):
        # All-numeric names are IP literals or nothing: '999.1.1.1' or '10.1' must not pass
        # as "hostnames".
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return False
        return True
    return all(_HOST_LABEL.fullmatch(label) for label in labels)


def _domain_problem(raw: str, value: str) -> tuple[str, str] | None:
    if "*" in raw:
        return (
            "ALLOWED_DOMAIN_WILDCARD",
            "contains '*'; wildcards are not allowed, list each host explicitly.",
        )
    if not value:
        return ("ALLOWED_DOMAIN_EMPTY", "is empty; give a host such as 'app.example.com'.")
    first = min((value.find(ch) for ch in _STRUCTURE_REASONS if ch in value), default=-1)
    if first != -1:
        reason, what = _STRUCTURE_REASONS[value[first]]
        return (
            reason,
            f"normalises to {show(value)}, which has {what}; give only the host and "
            "optional port, e.g. 'app.example.com' or 'localhost:3000'.",
        )
    host, colon, port = value.partition(":")
    if colon:
        if ":" in port:
            return (
                "ALLOWED_DOMAIN_INVALID_HOST",
                "has more than one ':'; IPv6 literals are not supported, give a hostname or "
                "IPv4 address with an optional ':port'.",
            )
        if not _PORT.fullmatch(port) or not 1 <= int(port) <= 65535:
            return (
                "ALLOWED_DOMAIN_INVALID_PORT",
                f"has port {show(port)}; a port must be a number from 1 to 65535.",
            )
    # Checked on the raw input because lower-casing can hide it: 'K' (Kelvin sign) becomes 'k'.
    if not raw.isascii():
        return (
            "ALLOWED_DOMAIN_INVALID_HOST",
            "contains non-ASCII characters; give internationalised names in their 'xn--' "
            "(punycode) form.",
        )
    if not _is_valid_host(host):
        return (
            "ALLOWED_DOMAIN_INVALID_HOST",
            f"has the invalid host {show(host)}; use dot-separated labels of 1-63 letters, "
            "digits or hyphens (not starting or ending with '-', at most 253 characters in "
            "total; internationalised names in their 'xn--' form) or an IPv4 address.",
        )
    return None


def validate_allowed_domain(
    errors: ValidationErrors, value: str, *, field: str = "allowed_domain"
) -> str | None:
    """One allowed domain [TrueParser seed, verbatim rules].

    Normalised by trimming whitespace, stripping one leading ``http://``/``https://`` (any
    case) and one trailing ``/``, and lower-casing; a port is canonicalised (``:080`` ->
    ``:80``). The result must be a bare hostname (``localhost`` included) or IPv4 address with
    an optional port 1-65535: no ``*`` anywhere, no path, query, fragment or user info.
    """
    normalised = _normalise_domain(value)
    problem = _domain_problem(value, normalised)
    if problem is not None:
        reason, detail = problem
        errors.add(field, reason, f"{field} {show(value)} {detail}")
        return None
    host, colon, port = normalised.partition(":")
    return f"{host}:{int(port)}" if colon else host


def validate_allowed_domains(
    errors: ValidationErrors, values: Sequence[str], *, field: str = "allowed_domains"
) -> list[str] | None:
    """The allowed-domains list [TrueParser seed, verbatim rules].

    At most three entries, each as :func:`validate_allowed_domain`, with no two equal after
    normalisation. Returns the normalised list in input order.
    """
    ok = True
    if len(values) > ALLOWED_DOMAINS_MAX:
        errors.add(
            field,
            "ALLOWED_DOMAINS_TOO_MANY",
            f"{field} has {len(values)} entries; keep at most {ALLOWED_DOMAINS_MAX}.",
        )
        ok = False
    seen: dict[str, int] = {}
    result: list[str] = []
    for index, value in enumerate(values):
        path = f"{field}[{index}]"
        domain = validate_allowed_domain(errors, value, field=path)
        if domain is None:
            ok = False
            continue
        if domain in seen:
            errors.add(
                path,
                "ALLOWED_DOMAIN_DUPLICATE",
                f"{path} {show(domain)} duplicates {field}[{seen[domain]}] after "
                "normalisation; remove one of them.",
            )
            ok = False
            continue
        seen[domain] = index
        result.append(domain)
    return result if ok else None


# -- service codes (Vendidit seed §1) --------------------------------------------------------

SERVICE_CODES_MAX = 20


def validate_service_codes(
    errors: ValidationErrors,
    values: Sequence[str],
    *,
    slug: str,
    field: str = "service_codes",
) -> list[str] | None:
    """An app's service codes [Tessera platform rule].

    Empty means ``[slug]``. Each code is lowercase kebab-case (``billing``, ``file-store``),
    2-63 characters, starting with a letter. Repeats are dropped, keeping first occurrences in
    order (a repeat is harmless, so it is not an error); at most 20 distinct codes.
    """
    if not values:
        return [slug]
    ok = True
    result: list[str] = []
    for index, value in enumerate(values):
        if not (2 <= len(value) <= 63 and KEBAB_PATTERN.fullmatch(value)):
            path = f"{field}[{index}]"
            errors.add(
                path,
                "SERVICE_CODE_INVALID",
                f"{path} {show(value)} is not a service code; use 2-63 lowercase letters, "
                "digits and single hyphens, starting with a letter (e.g. 'billing').",
            )
            ok = False
        elif value not in result:
            result.append(value)
    if len(result) > SERVICE_CODES_MAX:
        errors.add(
            field,
            "SERVICE_CODES_TOO_MANY",
            f"{field} has {len(result)} distinct codes; keep at most {SERVICE_CODES_MAX}.",
        )
        ok = False
    return result if ok else None


# -- storage configuration (TrueParser seed, "Optional Storage Configuration") -----------

STORAGE_PROVIDERS: tuple[str, ...] = tuple(p.value for p in StorageProvider)
STORAGE_CREDENTIAL_MAX_LENGTH = 256

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IPV4_SHAPED = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
_STORAGE_REGION = re.compile(r"[a-z0-9-]{1,32}")


@dataclass(frozen=True)
class CheckedStorage:
    """A validated bring-your-own bucket configuration; credentials stay out of ``repr``."""

    provider: str
    access_key: str = dataclass_field(repr=False)
    secret_key: str = dataclass_field(repr=False)
    bucket: str
    endpoint: str | None = None
    region: str | None = None

    @property
    def access_key_masked(self) -> str:
        return mask_secret(self.access_key)


def mask_secret(value: str) -> str:
    """A secret as it may be shown back: ``****`` plus at most its last 4 characters.

    Values shorter than 8 characters are fully masked, since 4 of them would be half the
    secret. The mask length is fixed so it does not reveal the secret's length.
    """
    if len(value) < 8:
        return "****"
    return "****" + value[-4:]


def _credential(errors: ValidationErrors, value: str, *, field: str, label: str) -> str | None:
    # Messages never quote the value: these are secrets.
    text = value.strip()  # keys never contain whitespace; a pasted newline is a typo
    if not text:
        errors.add(
            field, "STORAGE_CREDENTIAL_EMPTY", f"{field} is empty; give the bucket's {label}."
        )
        return None
    if len(text) > STORAGE_CREDENTIAL_MAX_LENGTH:
        errors.add(
            field,
            "STORAGE_CREDENTIAL_TOO_LONG",
            f"{field} is {len(text)} characters long; a {label} is at most "
            f"{STORAGE_CREDENTIAL_MAX_LENGTH}, check that you pasted only the key.",
        )
        return None
    return text


def _bucket_problem(bucket: str) -> str | None:
    if not 3 <= len(bucket) <= 63:
        return f"must be 3-63 characters long (got {len(bucket)})"
    if not _BUCKET.fullmatch(bucket):
        return (
            "may contain only lowercase letters, digits, '.' and '-', and must start and end "
            "with a letter or digit"
        )
    if ".." in bucket:
        return "must not contain '..'"
    if _IPV4_SHAPED.fullmatch(bucket):
        return "must not be formatted as an IP address"
    return None


def _endpoint_problem(endpoint: str) -> tuple[str, str] | None:
    if has_space_or_control(endpoint):
        return ("STORAGE_ENDPOINT_INVALID", "contains whitespace or control characters")
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError:
        return ("STORAGE_ENDPOINT_INVALID", "cannot be parsed (bad port or bracketed host)")
    if parts.scheme.lower() not in _WEB_SCHEMES or not parts.hostname or port == 0:
        return (
            "STORAGE_ENDPOINT_INVALID",
            "is not an absolute https URL such as 'https://s3.eu-central-1.amazonaws.com'",
        )
    # Credentials in the URL would be stored and shown unencrypted; query and fragment have
    # no meaning for an S3 endpoint.
    if parts.username is not None or parts.query or parts.fragment or "#" in endpoint:
        return (
            "STORAGE_ENDPOINT_INVALID",
            "must not contain user info, a query or a fragment; give only scheme, host, "
            "optional port and path",
        )
    if parts.scheme.lower() == "http" and parts.hostname not in LOOPBACK_HOSTS:
        return (
            "STORAGE_ENDPOINT_INSECURE",
            "uses plain http for a non-loopback host; use https (http is allowed only for "
            "localhost, 127.0.0.1 and [::1], e.g. a local MinIO)",
        )
    return None


def validate_storage_config(
    errors: ValidationErrors,
    *,
    provider: str,
    access_key: str,
    secret_key: str,
    bucket: str,
    endpoint: str | None = None,
    region: str | None = None,
    field: str = "storage",
) -> CheckedStorage | None:
    """A bring-your-own object storage configuration [TrueParser seed].

    ``provider`` is one of :data:`STORAGE_PROVIDERS`; access and secret key are non-empty and
    at most 256 characters (surrounding whitespace is dropped); ``bucket`` follows S3 bucket
    naming (3-63 characters of lowercase letters, digits, ``.`` and ``-``, starting and ending
    with a letter or digit, no ``..``, not an IPv4 address); ``endpoint`` is optional
    (required for ``minio``) and must be an absolute https URL, or http for a loopback host;
    ``region`` is optional, ``[a-z0-9-]{1,32}``. Blank optional values count as absent.
    """
    ok = True
    if provider not in STORAGE_PROVIDERS:
        errors.add(
            f"{field}.provider",
            "STORAGE_PROVIDER_UNSUPPORTED",
            f"{field}.provider {show(provider)} is not supported; use one of "
            f"{', '.join(STORAGE_PROVIDERS)}.",
        )
        ok = False
    access = _credential(errors, access_key, field=f"{field}.access_key", label="access key")
    secret = _credential(errors, secret_key, field=f"{field}.secret_key", label="secret key")
    problem = _bucket_problem(bucket)
    if problem is not None:
        errors.add(
            f"{field}.bucket",
            "STORAGE_BUCKET_INVALID",
            f"{field}.bucket {show(bucket)} {problem}; rename it to follow S3 bucket naming rules.",
        )
        ok = False

    url = (endpoint or "").strip() or None
    if url is None:
        if provider == "minio":
            errors.add(
                f"{field}.endpoint",
                "STORAGE_ENDPOINT_REQUIRED",
                f"{field}.endpoint is missing; minio has no default endpoint, give the URL of "
                "your MinIO server (e.g. 'https://minio.example.com').",
            )
            ok = False
    else:
        endpoint_problem = _endpoint_problem(url)
        if endpoint_problem is not None:
            reason, detail = endpoint_problem
            errors.add(f"{field}.endpoint", reason, f"{field}.endpoint {show(url)} {detail}.")
            ok = False

    region_code = (region or "").strip() or None
    if region_code is not None and not _STORAGE_REGION.fullmatch(region_code):
        errors.add(
            f"{field}.region",
            "STORAGE_REGION_INVALID",
            f"{field}.region {show(region_code)} is not a region name; use 1-32 lowercase "
            "letters, digits and hyphens (e.g. 'eu-central-1'), or leave it empty.",
        )
        ok = False

    if not ok or access is None or secret is None:
        return None
    return CheckedStorage(
        provider=provider,
        access_key=access,
        secret_key=secret,
        bucket=bucket,
        endpoint=url,
        region=region_code,
    )
