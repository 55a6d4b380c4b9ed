"""Registry validation rules: every rule's accepted and rejected examples, with exact reasons."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from services.common.errors import FieldViolation, InvalidArgument, ValidationErrors
from services.common.vocabulary import CORE_PERMISSIONS
from services.registry.apps.rules import (
    CheckedStorage,
    mask_secret,
    redirect_uri_matches,
    validate_allowed_domain,
    validate_allowed_domains,
    validate_app_slug,
    validate_homepage_url,
    validate_redirect_uri,
    validate_redirect_uris,
    validate_service_codes,
    validate_storage_config,
)
from services.registry.catalog.rules import validate_permission_code
from services.registry.kernel.text import (
    checked,
    display_name_key,
    validate_description,
    validate_display_name,
)
from services.registry.plans.rules import validate_plan_code
from services.registry.regions.rules import validate_db_code, validate_region_code
from services.registry.tenants.rules import validate_tenant_slug


def run(
    validator: Callable[..., Any], *args: Any, **kwargs: Any
) -> tuple[Any, list[FieldViolation]]:
    """Call a collector-style validator; return (result, violations)."""
    errors = ValidationErrors()
    result = validator(errors, *args, **kwargs)
    if errors.violations:
        assert result is None, "a validator that adds a violation must return None"
    return result, errors.violations


def only_reason(validator: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
    """The single reason a validator reports for an input it must reject."""
    result, violations = run(validator, *args, **kwargs)
    assert result is None
    assert len(violations) == 1, violations
    return violations[0].reason


# --------------------------------------------------------------------------------------------
# Calling convention
# --------------------------------------------------------------------------------------------


def test_checked_returns_the_normalised_value() -> None:
    assert checked(validate_permission_code, "invoice:read") == "invoice:read"
    assert checked(validate_allowed_domain, "https://app.example.com/") == "app.example.com"


def test_checked_raises_invalid_argument_with_the_violations() -> None:
    with pytest.raises(InvalidArgument) as caught:
        checked(validate_app_slug, "ab", field="app.slug")
    assert caught.value.reason == "VALIDATION_FAILED"
    assert [(v.field, v.reason) for v in caught.value.violations] == [("app.slug", "SLUG_INVALID")]


def test_one_collector_reports_every_bad_field_of_a_request() -> None:
    errors = ValidationErrors()
    validate_app_slug(errors, "Bad_Slug")
    validate_display_name(errors, "   ")
    validate_redirect_uris(errors, ["https://ok.example.com/cb", "/relative"], production=True)
    validate_allowed_domains(errors, ["*.example.com"])
    with pytest.raises(InvalidArgument) as caught:
        errors.raise_if_any()
    assert [(v.field, v.reason) for v in caught.value.violations] == [
        ("slug", "SLUG_INVALID"),
        ("display_name", "DISPLAY_NAME_EMPTY"),
        ("redirect_uris[1]", "REDIRECT_URI_NOT_ABSOLUTE"),
        ("allowed_domains[0]", "ALLOWED_DOMAIN_WILDCARD"),
    ]


# --------------------------------------------------------------------------------------------
# 1. App slug
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("slug", ["abc", "my-app", "a1-b2-c3", "invoices2", "a" * 63])
def test_app_slug_accepts_grammatical_slugs(slug: str) -> None:
    assert run(validate_app_slug, slug) == (slug, [])


@pytest.mark.parametrize(
    ("slug", "rule_named"),
    [
        ("", "3-63 characters"),
        ("ab", "3-63 characters"),
        ("a" * 64, "3-63 characters"),
        ("My-App", "lowercase"),
        ("my_app", "lowercase"),
        ("my app", "lowercase"),
        ("app.v2", "lowercase"),
        ("1app", "start with a letter"),
        ("-app", "start with a letter"),
        ("app-", "end with a hyphen"),
        ("my--app", "double hyphen"),
    ],
)
def test_app_slug_rejects_ungrammatical_slugs_naming_the_rule(slug: str, rule_named: str) -> None:
    _, violations = run(validate_app_slug, slug)
    assert [(v.field, v.reason) for v in violations] == [("slug", "SLUG_INVALID")]
    assert rule_named in violations[0].message


def test_app_slug_uppercase_message_suggests_the_lowercase_slug() -> None:
    _, violations = run(validate_app_slug, "My-App")
    assert "did you mean 'my-app'?" in violations[0].message


@pytest.mark.parametrize("slug", ["realm", "*", "tessera", "control-plane", "Realm", "TESSERA"])
def test_app_slug_reserved_names_are_slug_reserved(slug: str) -> None:
    assert only_reason(validate_app_slug, slug) == "SLUG_RESERVED"


@pytest.mark.parametrize("slug", ["tessera", "control-plane"])
def test_app_slug_system_path_allows_system_apps(slug: str) -> None:
    assert run(validate_app_slug, slug, allow_reserved=True) == (slug, [])


@pytest.mark.parametrize("slug", ["realm", "*"])
def test_app_slug_system_path_still_rejects_non_system_reserved_names(slug: str) -> None:
    assert only_reason(validate_app_slug, slug, allow_reserved=True) == "SLUG_RESERVED"


def test_app_slug_system_path_still_enforces_grammar() -> None:
    assert only_reason(validate_app_slug, "Bad--Slug", allow_reserved=True) == "SLUG_INVALID"


def test_app_slug_violation_uses_the_given_field_path() -> None:
    _, violations = run(validate_app_slug, "x", field="apps[2].slug")
    assert violations[0].field == "apps[2].slug"
    assert violations[0].message.startswith("apps[2].slug 'x' ")


# --------------------------------------------------------------------------------------------
# 9. Tenant slug
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("slug", ["acme", "acme-corp", "tessera", "realm"])
def test_tenant_slug_accepts_grammatical_unreserved_slugs(slug: str) -> None:
    assert run(validate_tenant_slug, slug) == (slug, [])


@pytest.mark.parametrize("slug", ["control-plane", "api", "admin", "t", ".well-known", "API"])
def test_tenant_slug_reserved_names_are_slug_reserved(slug: str) -> None:
    assert only_reason(validate_tenant_slug, slug) == "SLUG_RESERVED"


def test_tenant_slug_system_path_allows_control_plane_only() -> None:
    assert run(validate_tenant_slug, "control-plane", allow_reserved=True) == (
        "control-plane",
        [],
    )
    for slug in ["api", "admin", "t", ".well-known"]:
        assert only_reason(validate_tenant_slug, slug, allow_reserved=True) == "SLUG_RESERVED"


@pytest.mark.parametrize("slug", ["ab", "Acme", "1acme", "acme-", "ac--me", "a" * 64])
def test_tenant_slug_shares_the_app_slug_grammar(slug: str) -> None:
    assert only_reason(validate_tenant_slug, slug) == "SLUG_INVALID"


# --------------------------------------------------------------------------------------------
# 2. Display name
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("Invoices", "Invoices"),
        ("  Invoices  ", "Invoices"),
        ("\tMy  App\n", "My  App"),
        ("x", "x"),
        ("é" * 100, "é" * 100),
    ],
)
def test_display_name_is_trimmed(raw: str, stored: str) -> None:
    assert run(validate_display_name, raw) == (stored, [])


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "DISPLAY_NAME_EMPTY"),
        ("   \t ", "DISPLAY_NAME_EMPTY"),
        ("x" * 101, "DISPLAY_NAME_TOO_LONG"),
        ("  " + "x" * 101 + "  ", "DISPLAY_NAME_TOO_LONG"),
        ("My\nApp", "DISPLAY_NAME_CONTROL_CHARACTER"),
        ("My\x00App", "DISPLAY_NAME_CONTROL_CHARACTER"),
        ("Bell\x07", "DISPLAY_NAME_CONTROL_CHARACTER"),
        ("Del\x7fete", "DISPLAY_NAME_CONTROL_CHARACTER"),
    ],
)
def test_display_name_rejections(raw: str, reason: str) -> None:
    assert only_reason(validate_display_name, raw) == reason


def test_display_name_control_character_message_names_the_code_point() -> None:
    _, violations = run(validate_display_name, "My\x00App")
    assert "U+0000" in violations[0].message


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("My App", "my app"),
        ("My   App", "my app"),
        ("  My\tApp ", "MY APP"),
        ("Ｍｙ Ａｐｐ", "my app"),  # full-width forms (NFKC)
        ("Straße", "STRASSE"),  # casefold, not lower
        ("ﬁle", "FILE"),  # ligature (NFKC)
    ],
)
def test_display_name_key_makes_equivalent_names_collide(first: str, second: str) -> None:
    assert display_name_key(first) == display_name_key(second)


def test_display_name_key_keeps_different_names_apart() -> None:
    assert display_name_key("My App") != display_name_key("MyApp")


@given(st.text())
def test_display_name_key_is_idempotent(name: str) -> None:
    key = display_name_key(name)
    assert display_name_key(key) == key


# --------------------------------------------------------------------------------------------
# 3. Description
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "stored"),
    [(None, ""), ("", ""), ("   ", ""), ("  An app.  ", "An app."), ("d" * 500, "d" * 500)],
)
def test_description_is_optional_and_trimmed(raw: str | None, stored: str) -> None:
    assert run(validate_description, raw) == (stored, [])


def test_description_over_500_characters_is_too_long() -> None:
    assert only_reason(validate_description, "d" * 501) == "DESCRIPTION_TOO_LONG"


# --------------------------------------------------------------------------------------------
# 4. Redirect URIs
# --------------------------------------------------------------------------------------------

ACCEPTED_EVERYWHERE = [
    "https://app.example.com/callback",
    "https://marketplace-v2.vendidit.com/auth/callback",
    "https://marketplace-v2.vendidit.com/auth/callback/",
    "https://app.example.com:8443/cb?tenant=acme",
    "com.example.app:/callback",
    "com.example.app://callback",
    "http://localhost:3000/callback",
    "http://127.0.0.1/callback",
    "http://[::1]:8080/callback",
    "https://app.example.com/callback/*",
    "https://app.example.com/*",
    "com.example.app:/callback/*",
]


@pytest.mark.parametrize("production", [True, False])
@pytest.mark.parametrize("uri", ACCEPTED_EVERYWHERE)
def test_redirect_uri_accepted_in_every_mode(uri: str, production: bool) -> None:
    assert run(validate_redirect_uri, uri, production=production) == (uri, [])


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("", "REDIRECT_URI_NOT_ABSOLUTE"),
        ("/callback", "REDIRECT_URI_NOT_ABSOLUTE"),
        ("//app.example.com/callback", "REDIRECT_URI_NOT_ABSOLUTE"),
        ("https:///callback", "REDIRECT_URI_NOT_ABSOLUTE"),
        ("https:/callback", "REDIRECT_URI_NOT_ABSOLUTE"),
        ("com.example.app:", "REDIRECT_URI_NOT_ABSOLUTE"),
        ("localhost:3000/callback", "REDIRECT_URI_NOT_ABSOLUTE"),
        ("https://app.example.com/cb#state", "REDIRECT_URI_HAS_FRAGMENT"),
        ("https://app.example.com/cb#", "REDIRECT_URI_HAS_FRAGMENT"),
        ("https://app.example.com/c b", "REDIRECT_URI_INVALID"),
        (" https://app.example.com/cb", "REDIRECT_URI_INVALID"),
        ("https://app.example.com/cb\n", "REDIRECT_URI_INVALID"),
        ("https://app.example.com:99999/cb", "REDIRECT_URI_INVALID"),
        ("https://app.example.com:0/cb", "REDIRECT_URI_INVALID"),
        ("https://[::1/cb", "REDIRECT_URI_INVALID"),
        ("https://app.example.com\\@evil.io/", "REDIRECT_URI_INVALID"),
        ("javascript:alert(1)", "REDIRECT_URI_SCHEME_FORBIDDEN"),
        ("JavaScript:alert(1)", "REDIRECT_URI_SCHEME_FORBIDDEN"),
        ("data:text/html,<script>alert(1)</script>", "REDIRECT_URI_SCHEME_FORBIDDEN"),
        ("file:///etc/passwd", "REDIRECT_URI_SCHEME_FORBIDDEN"),
        ("https://example.com*", "REDIRECT_URI_WILDCARD_IN_HOST"),
        ("https://*.example.com/callback", "REDIRECT_URI_WILDCARD_IN_HOST"),
        ("https://*", "REDIRECT_URI_WILDCARD_IN_HOST"),
        ("https://example.com:*", "REDIRECT_URI_WILDCARD_IN_HOST"),
        ("com.example.app://cb*", "REDIRECT_URI_WILDCARD_IN_HOST"),
        ("https://app.example.com/*/callback", "REDIRECT_URI_WILDCARD_MISPLACED"),
        ("https://app.example.com/callback**", "REDIRECT_URI_WILDCARD_MISPLACED"),
        ("com.example.app:*", "REDIRECT_URI_WILDCARD_MISPLACED"),
    ],
)
@pytest.mark.parametrize("production", [True, False])
def test_redirect_uri_rejections(uri: str, reason: str, production: bool) -> None:
    assert only_reason(validate_redirect_uri, uri, production=production) == reason


@pytest.mark.parametrize(
    "uri",
    [
        "http://app.example.com/callback",
        "http://localhost.evil.io/callback",
        "http://127.0.0.2/callback",
        "http://10.0.0.5:8080/callback",
        "http://app.example.com/callback/*",
    ],
)
def test_redirect_uri_plain_http_is_only_for_loopback_in_production(uri: str) -> None:
    assert only_reason(validate_redirect_uri, uri, production=True) == "REDIRECT_URI_INSECURE"
    assert run(validate_redirect_uri, uri, production=False) == (uri, [])


@pytest.mark.parametrize(
    "url",
    [
        "https://marketplace.example.com/",
        "https://example.com",
        "https://example.com:8443/home?lang=en",
        "http://localhost:3000/",
    ],
)
def test_homepage_url_accepts_absolute_https_urls(url: str) -> None:
    assert run(validate_homepage_url, url, production=True) == (url, [])


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("example.com", "HOMEPAGE_URL_INVALID"),
        ("/home", "HOMEPAGE_URL_INVALID"),
        ("javascript:alert(1)", "HOMEPAGE_URL_INVALID"),
        ("ftp://example.com/", "HOMEPAGE_URL_INVALID"),
        ("https://user:pw@example.com/", "HOMEPAGE_URL_INVALID"),
        ("https://example.com/#top", "HOMEPAGE_URL_INVALID"),
        ("https://exa mple.com/", "HOMEPAGE_URL_INVALID"),
        ("https:\\\\example.com", "HOMEPAGE_URL_INVALID"),
        ("https://example.com:99999/", "HOMEPAGE_URL_INVALID"),
        ("https://example.com/" + "a" * 2000, "HOMEPAGE_URL_TOO_LONG"),
        ("http://example.com/", "HOMEPAGE_URL_INSECURE"),
    ],
)
def test_homepage_url_rejections(url: str, reason: str) -> None:
    assert only_reason(validate_homepage_url, url, production=True) == reason


def test_homepage_url_plain_http_is_accepted_outside_production() -> None:
    assert run(validate_homepage_url, "http://example.com/", production=False) == (
        "http://example.com/",
        [],
    )


def test_redirect_uris_returns_the_list_unchanged() -> None:
    uris = ["https://app.example.com/cb", "https://app.example.com/cb/", "com.example.app:/cb"]
    assert run(validate_redirect_uris, uris, production=True) == (uris, [])


def test_redirect_uris_empty_list_is_allowed() -> None:
    assert run(validate_redirect_uris, [], production=True) == ([], [])


def test_redirect_uris_at_most_twenty() -> None:
    twenty = [f"https://app.example.com/cb{i}" for i in range(20)]
    assert run(validate_redirect_uris, twenty, production=True) == (twenty, [])
    _, violations = run(
        validate_redirect_uris, [*twenty, "https://app.example.com/x"], production=True
    )
    assert [(v.field, v.reason) for v in violations] == [
        ("redirect_uris", "REDIRECT_URIS_TOO_MANY")
    ]


def test_redirect_uris_exact_duplicates_are_reported_with_both_positions() -> None:
    uris = [
        "https://app.example.com/cb",
        "https://other.example.com/",
        "https://app.example.com/cb",
    ]
    _, violations = run(validate_redirect_uris, uris, production=True)
    assert violations == [
        FieldViolation(
            "redirect_uris[2]",
            "REDIRECT_URI_DUPLICATE",
            "redirect_uris[2] 'https://app.example.com/cb' duplicates redirect_uris[0]; "
            "remove one of them.",
        )
    ]


def test_redirect_uris_differing_only_by_trailing_slash_are_not_duplicates() -> None:
    uris = ["https://app.example.com/cb", "https://app.example.com/cb/"]
    assert run(validate_redirect_uris, uris, production=True) == (uris, [])


def test_redirect_uris_reports_every_bad_entry_under_the_given_field() -> None:
    _, violations = run(
        validate_redirect_uris,
        ["https://ok.example.com/", "/relative", "https://ok.example.com/#x", "javascript:x"],
        field="post_logout_redirect_uris",
        production=True,
    )
    assert [(v.field, v.reason) for v in violations] == [
        ("post_logout_redirect_uris[1]", "REDIRECT_URI_NOT_ABSOLUTE"),
        ("post_logout_redirect_uris[2]", "REDIRECT_URI_HAS_FRAGMENT"),
        ("post_logout_redirect_uris[3]", "REDIRECT_URI_SCHEME_FORBIDDEN"),
    ]


# --------------------------------------------------------------------------------------------
# 4. Redirect URI matching
# --------------------------------------------------------------------------------------------

VENDIDIT = "https://marketplace-v2.vendidit.com/auth/callback"


def test_redirect_uri_match_seed_trailing_slash_does_not_match() -> None:
    # Vendidit seed §8, verbatim: the registered URI has no trailing slash.
    assert redirect_uri_matches([VENDIDIT], "https://marketplace-v2.vendidit.com/auth/callback")
    assert not redirect_uri_matches(
        [VENDIDIT], "https://marketplace-v2.vendidit.com/auth/callback/"
    )


@pytest.mark.parametrize(
    "candidate",
    [
        "https://marketplace-v2.vendidit.com/auth/callback/",
        "HTTPS://marketplace-v2.vendidit.com/auth/callback",
        "https://Marketplace-v2.vendidit.com/auth/callback",
        "https://marketplace-v2.vendidit.com:443/auth/callback",
        "https://marketplace-v2.vendidit.com/auth/callback?x=1",
        "https://marketplace-v2.vendidit.com/auth/%63allback",
        "https://marketplace-v2.vendidit.com/auth/callback#",
        "https://marketplace-v2.vendidit.com/auth/callbacks",
        "",
    ],
)
def test_redirect_uri_match_is_exact_without_normalisation(candidate: str) -> None:
    assert not redirect_uri_matches([VENDIDIT], candidate)


PATTERN = "https://app.example.com/callback/*"


@pytest.mark.parametrize(
    ("candidate", "matches"),
    [
        ("https://app.example.com/callback/", True),
        ("https://app.example.com/callback/acme", True),
        ("https://app.example.com/callback/acme/deep?state=1", True),
        ("https://app.example.com/callback", False),
        ("https://app.example.com/callbacks/x", False),
        ("https://app.example.com.evil.io/callback/x", False),
        ("http://app.example.com/callback/x", False),
        ("https://app.example.com/callback/../admin", False),
        ("https://app.example.com/callback/%2e%2e/admin", False),
        ("https://app.example.com/callback/%2E%2E/admin", False),
        ("https://app.example.com/callback/./x", False),
        ("https://app.example.com/callback/x#frag", False),
        ("https://app.example.com/callback/\\evil.io", False),
        ("https://app.example.com/callback/ x", False),
    ],
)
def test_redirect_uri_match_prefix_pattern(candidate: str, matches: bool) -> None:
    assert redirect_uri_matches([PATTERN], candidate) is matches


def test_redirect_uri_match_pattern_minus_star_is_an_exact_prefix_not_a_segment() -> None:
    assert redirect_uri_matches(["https://app.example.com/cb*"], "https://app.example.com/cb-2")


@pytest.mark.parametrize(
    ("registered", "candidate"),
    [
        ("https://example.com*", "https://example.com.evil.io/callback"),
        ("https://example.com*", "https://example.com/callback"),
        ("https://*", "https://evil.io/"),
        ("https://*.example.com/*", "https://evil.example.com/x"),
        ("com.example.app:*", "com.example.app:/anything"),
        ("https://example.com/cb#*", "https://example.com/cb#x"),
    ],
)
def test_redirect_uri_match_never_honours_an_invalid_stored_pattern(
    registered: str, candidate: str
) -> None:
    assert not redirect_uri_matches([registered], candidate)


def test_redirect_uri_match_checks_every_registered_entry() -> None:
    registered = ["https://a.example.com/cb", "com.example.app:/cb", PATTERN]
    assert redirect_uri_matches(registered, "com.example.app:/cb")
    assert redirect_uri_matches(registered, "https://app.example.com/callback/x")
    assert not redirect_uri_matches(registered, "https://b.example.com/cb")
    assert not redirect_uri_matches([], "https://a.example.com/cb")


# --------------------------------------------------------------------------------------------
# 5. Allowed domains
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        # TrueParser seed examples, verbatim.
        ("https://app.example.com/", "app.example.com"),
        ("http://localhost:3000/", "localhost:3000"),
        # The same rules applied to other spellings.
        ("app.example.com", "app.example.com"),
        ("  HTTPS://App.Example.COM/  ", "app.example.com"),
        ("HtTp://APP.example.com", "app.example.com"),
        ("localhost", "localhost"),
        ("localhost:3000", "localhost:3000"),
        ("127.0.0.1", "127.0.0.1"),
        ("http://10.0.0.1:8080/", "10.0.0.1:8080"),
        ("example.com:65535", "example.com:65535"),
        ("example.com:1", "example.com:1"),
        ("example.com:080", "example.com:80"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("a-b.c-d.example.co.uk", "a-b.c-d.example.co.uk"),
    ],
)
def test_allowed_domain_seed_examples_normalise(raw: str, normalised: str) -> None:
    assert run(validate_allowed_domain, raw) == (normalised, [])


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "ALLOWED_DOMAIN_EMPTY"),
        ("   ", "ALLOWED_DOMAIN_EMPTY"),
        ("https://", "ALLOWED_DOMAIN_EMPTY"),
        ("/", "ALLOWED_DOMAIN_EMPTY"),
        ("*", "ALLOWED_DOMAIN_WILDCARD"),
        ("*.example.com", "ALLOWED_DOMAIN_WILDCARD"),
        ("https://*.example.com/", "ALLOWED_DOMAIN_WILDCARD"),
        ("example.com:*", "ALLOWED_DOMAIN_WILDCARD"),
        ("app.example.com/path", "ALLOWED_DOMAIN_HAS_PATH"),
        ("https://app.example.com//", "ALLOWED_DOMAIN_HAS_PATH"),
        ("https://https://app.example.com", "ALLOWED_DOMAIN_HAS_PATH"),
        ("ftp://app.example.com", "ALLOWED_DOMAIN_HAS_PATH"),
        ("app.example.com?x=1", "ALLOWED_DOMAIN_HAS_QUERY"),
        ("app.example.com#top", "ALLOWED_DOMAIN_HAS_FRAGMENT"),
        ("user@app.example.com", "ALLOWED_DOMAIN_HAS_USERINFO"),
        ("https://user:pw@app.example.com/", "ALLOWED_DOMAIN_HAS_USERINFO"),
        ("example.com:0", "ALLOWED_DOMAIN_INVALID_PORT"),
        ("example.com:65536", "ALLOWED_DOMAIN_INVALID_PORT"),
        ("example.com:123456", "ALLOWED_DOMAIN_INVALID_PORT"),
        ("example.com:http", "ALLOWED_DOMAIN_INVALID_PORT"),
        ("example.com:", "ALLOWED_DOMAIN_INVALID_PORT"),
        ("example.com:-1", "ALLOWED_DOMAIN_INVALID_PORT"),
        ("example.com:٣٠٠٠", "ALLOWED_DOMAIN_INVALID_PORT"),
        (":3000", "ALLOWED_DOMAIN_INVALID_HOST"),
        ("-app.example.com", "ALLOWED_DOMAIN_INVALID_HOST"),
        ("app-.example.com", "ALLOWED_DOMAIN_INVALID_HOST"),
        ("app..example.com", "ALLOWED_DOMAIN_INVALID_HOST"),
        (".example.com", "ALLOWED_DOMAIN_INVALID_HOST"),
        ("example.com.", "ALLOWED_DOMAIN_INVALID_HOST"),
        ("app_1.example.com", "ALLOWED_DOMAIN_INVALID_HOST"),
        ("app example.com", "ALLOWED_DOMAIN_INVALID_HOST"),
        ("bücher.example", "ALLOWED_DOMAIN_INVALID_HOST"),
        ("\u212aey.example.com", "ALLOWED_DOMAIN_INVALID_HOST"),  # Kelvin sign lowers to 'k'
        ("[::1]:3000", "ALLOWED_DOMAIN_INVALID_HOST"),
        ("256.1.1.1", "ALLOWED_DOMAIN_INVALID_HOST"),
        ("10.0.1", "ALLOWED_DOMAIN_INVALID_HOST"),
        ("3000", "ALLOWED_DOMAIN_INVALID_HOST"),
        ("01.2.3.4", "ALLOWED_DOMAIN_INVALID_HOST"),
    ],
)
def test_allowed_domain_rejections(raw: str, reason: str) -> None:
    assert only_reason(validate_allowed_domain, raw) == reason


def test_allowed_domain_label_and_total_length_limits() -> None:
    label63 = "a" * 63
    assert run(validate_allowed_domain, f"{label63}.com") == (f"{label63}.com", [])
    assert only_reason(validate_allowed_domain, f"{'a' * 64}.com") == "ALLOWED_DOMAIN_INVALID_HOST"
    total253 = ".".join([label63, label63, label63, "a" * 61])
    assert len(total253) == 253
    assert run(validate_allowed_domain, total253) == (total253, [])
    assert only_reason(validate_allowed_domain, total253 + "a") == "ALLOWED_DOMAIN_INVALID_HOST"


def test_allowed_domains_duplicate_after_normalisation_message() -> None:
    _, violations = run(validate_allowed_domains, ["app.example.com", "https://APP.example.com/"])
    assert violations == [
        FieldViolation(
            "allowed_domains[1]",
            "ALLOWED_DOMAIN_DUPLICATE",
            "allowed_domains[1] 'app.example.com' duplicates allowed_domains[0] after "
            "normalisation; remove one of them.",
        )
    ]


def test_allowed_domains_canonical_ports_are_duplicates() -> None:
    _, violations = run(validate_allowed_domains, ["localhost:3000", "localhost:03000"])
    assert [(v.field, v.reason) for v in violations] == [
        ("allowed_domains[1]", "ALLOWED_DOMAIN_DUPLICATE")
    ]


def test_allowed_domains_at_most_three() -> None:
    three = ["a.example.com", "https://b.example.com/", "localhost:3000"]
    assert run(validate_allowed_domains, three) == (
        ["a.example.com", "b.example.com", "localhost:3000"],
        [],
    )
    _, violations = run(validate_allowed_domains, [*three, "d.example.com"])
    assert [(v.field, v.reason) for v in violations] == [
        ("allowed_domains", "ALLOWED_DOMAINS_TOO_MANY")
    ]


def test_allowed_domains_reports_each_bad_entry_with_its_index() -> None:
    _, violations = run(validate_allowed_domains, ["*.example.com", "ok.example.com", "x.com/a"])
    assert [(v.field, v.reason) for v in violations] == [
        ("allowed_domains[0]", "ALLOWED_DOMAIN_WILDCARD"),
        ("allowed_domains[2]", "ALLOWED_DOMAIN_HAS_PATH"),
    ]


_label = st.from_regex(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,8}[A-Za-z0-9])?", fullmatch=True)
domain_like = st.builds(
    lambda ws1, scheme, labels, port, slash, ws2: (
        f"{ws1}{scheme}{'.'.join(labels)}{port}{slash}{ws2}"
    ),
    st.sampled_from(["", " ", "\t"]),
    st.sampled_from(
        ["", "http://", "https://", "HTTPS://", "hTtP://", "ftp://", "https://https://"]
    ),
    st.lists(_label, min_size=1, max_size=5),
    st.one_of(st.just(""), st.integers(-1, 70000).map(lambda p: f":{p}"), st.just(":x")),
    st.sampled_from(["", "/", "//", "/path", "?q", "#f"]),
    st.sampled_from(["", " ", "\n"]),
)
any_domain_input = st.one_of(domain_like, st.text(max_size=40))


def _accepted(raw: str) -> str | None:
    result: str | None = run(validate_allowed_domain, raw)[0]
    return result


@given(any_domain_input)
@example("https://app.example.com/")
@example(" HTTP://LocalHost:03000/ ")
def test_allowed_domain_normalisation_is_idempotent(raw: str) -> None:
    normalised = _accepted(raw)
    if normalised is not None:
        assert run(validate_allowed_domain, normalised) == (normalised, [])


@given(any_domain_input, st.integers(min_value=0), st.sampled_from(["*", "**", "*."]))
def test_allowed_domain_with_a_star_never_passes(raw: str, position: int, star: str) -> None:
    at = position % (len(raw) + 1)
    assert only_reason(validate_allowed_domain, raw[:at] + star + raw[at:]) == (
        "ALLOWED_DOMAIN_WILDCARD"
    )


@given(any_domain_input)
@example("https://app.example.com/")
@example(" HTTP://LocalHost:03000/ ")
def test_allowed_domain_result_has_no_slash_or_uppercase(raw: str) -> None:
    normalised = _accepted(raw)
    if normalised is not None:
        assert "/" not in normalised
        assert normalised == normalised.lower()
        assert normalised.isascii()
        assert normalised == normalised.strip()


# --------------------------------------------------------------------------------------------
# 6. Service codes
# --------------------------------------------------------------------------------------------


def test_service_codes_default_to_the_slug() -> None:
    assert run(validate_service_codes, [], slug="invoices") == (["invoices"], [])


def test_service_codes_are_deduplicated_in_first_seen_order() -> None:
    codes = ["billing", "files", "billing", "ab", "files"]
    assert run(validate_service_codes, codes, slug="x-app") == (["billing", "files", "ab"], [])


@pytest.mark.parametrize(
    "code",
    ["a", "Billing", "1billing", "-billing", "billing-", "bill--ing", "bill_ing", "a" * 64, ""],
)
def test_service_code_rejections(code: str) -> None:
    _, violations = run(validate_service_codes, ["ok", code], slug="app")
    assert [(v.field, v.reason) for v in violations] == [
        ("service_codes[1]", "SERVICE_CODE_INVALID")
    ]


@pytest.mark.parametrize("code", ["ab", "billing", "file-store", "v2", "a" * 63])
def test_service_code_accepts_kebab_codes(code: str) -> None:
    assert run(validate_service_codes, [code], slug="app") == ([code], [])


def test_service_codes_at_most_twenty_distinct() -> None:
    twenty = [f"svc-{i}" for i in range(20)]
    assert run(validate_service_codes, [*twenty, *twenty], slug="app") == (twenty, [])
    _, violations = run(validate_service_codes, [*twenty, "svc-20"], slug="app")
    assert [(v.field, v.reason) for v in violations] == [
        ("service_codes", "SERVICE_CODES_TOO_MANY")
    ]


# --------------------------------------------------------------------------------------------
# 7. Permission codes
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code", ["invoice:read", "purchase-order:bulk-approve", "invoice2:read-v2", "a:b"]
)
def test_permission_code_accepts_kebab_resource_and_action(code: str) -> None:
    assert run(validate_permission_code, code) == (code, [])


@pytest.mark.parametrize(
    "code",
    [
        "Invoice:read",
        "invoice",
        "invoice:read:x",
        "invoice:",
        "in_voice:read",
        ":read",
        "invoice:Read",
        "invoice:read_self",
        "invoice :read",
        "invoice-:read",
        "invoice:-read",
        "in--voice:read",
        "1invoice:read",
        "",
    ],
)
def test_permission_code_rejections(code: str) -> None:
    assert only_reason(validate_permission_code, code) == "PERMISSION_CODE_INVALID"


@pytest.mark.parametrize("code", CORE_PERMISSIONS)
def test_core_permissions_only_via_the_core_path(code: str) -> None:
    assert only_reason(validate_permission_code, code) == "PERMISSION_CODE_CORE_ONLY"
    assert run(validate_permission_code, code, core=True) == (code, [])


def test_core_permissions_are_the_platform_pair() -> None:
    assert tuple(CORE_PERMISSIONS) == ("users:read_self", "users:update_self")


def test_core_path_still_applies_the_grammar_to_other_codes() -> None:
    assert run(validate_permission_code, "invoice:read", core=True) == ("invoice:read", [])
    assert only_reason(validate_permission_code, "users:delete_self", core=True) == (
        "PERMISSION_CODE_INVALID"
    )


# --------------------------------------------------------------------------------------------
# 8. Storage configuration
# --------------------------------------------------------------------------------------------

GOOD_STORAGE: dict[str, Any] = {
    "provider": "aws-s3",
    "access_key": "AKIAABCDEFGHWXYZ",
    "secret_key": "s3cr3t-s3cr3t-s3cr3t-s3cr3t",
    "bucket": "acme-invoices",
}


def storage_violations(**overrides: Any) -> list[tuple[str, str]]:
    _, violations = run(validate_storage_config, **{**GOOD_STORAGE, **overrides})
    return [(v.field, v.reason) for v in violations]


@pytest.mark.parametrize("provider", ["aws-s3", "tigris", "cloudflare-r2", "backblaze-b2"])
def test_storage_config_accepts_each_provider(provider: str) -> None:
    result, violations = run(validate_storage_config, **{**GOOD_STORAGE, "provider": provider})
    assert violations == []
    assert result == CheckedStorage(
        provider=provider,
        access_key="AKIAABCDEFGHWXYZ",
        secret_key="s3cr3t-s3cr3t-s3cr3t-s3cr3t",
        bucket="acme-invoices",
    )


def test_storage_config_minio_with_local_http_endpoint() -> None:
    result, violations = run(
        validate_storage_config,
        **{
            **GOOD_STORAGE,
            "provider": "minio",
            "endpoint": " http://localhost:9000 ",
            "region": "us-east-1",
        },
    )
    assert violations == []
    assert result is not None
    assert (result.endpoint, result.region) == ("http://localhost:9000", "us-east-1")


def test_storage_config_minio_requires_an_endpoint() -> None:
    for endpoint in (None, "", "  "):
        assert storage_violations(provider="minio", endpoint=endpoint) == [
            ("storage.endpoint", "STORAGE_ENDPOINT_REQUIRED")
        ]


@pytest.mark.parametrize("provider", ["s3", "AWS-S3", "gcs", ""])
def test_storage_config_rejects_unknown_provider(provider: str) -> None:
    assert storage_violations(provider=provider) == [
        ("storage.provider", "STORAGE_PROVIDER_UNSUPPORTED")
    ]


@pytest.mark.parametrize("key", ["access_key", "secret_key"])
def test_storage_credentials_non_empty_and_bounded(key: str) -> None:
    assert storage_violations(**{key: ""}) == [(f"storage.{key}", "STORAGE_CREDENTIAL_EMPTY")]
    assert storage_violations(**{key: " \n"}) == [(f"storage.{key}", "STORAGE_CREDENTIAL_EMPTY")]
    assert storage_violations(**{key: "k" * 256}) == []
    assert storage_violations(**{key: "k" * 257}) == [
        (f"storage.{key}", "STORAGE_CREDENTIAL_TOO_LONG")
    ]


def test_storage_credentials_are_trimmed_and_never_echoed() -> None:
    result, _ = run(
        validate_storage_config,
        **{**GOOD_STORAGE, "access_key": " AKIAABCDEFGHWXYZ\n", "secret_key": "topsecretvalue\n"},
    )
    assert result is not None
    assert (result.access_key, result.secret_key) == ("AKIAABCDEFGHWXYZ", "topsecretvalue")
    secret = "x" * 300
    _, violations = run(validate_storage_config, **{**GOOD_STORAGE, "secret_key": secret})
    assert secret[:20] not in violations[0].message


def test_storage_config_repr_hides_credentials() -> None:
    config = checked(validate_storage_config, **GOOD_STORAGE)
    assert "AKIAABCDEFGHWXYZ" not in repr(config)
    assert "s3cr3t" not in repr(config)
    assert config.access_key_masked == "****WXYZ"


@pytest.mark.parametrize("bucket", ["abc", "acme-invoices", "my.bucket.v2", "1bucket", "a" * 63])
def test_storage_bucket_accepts_s3_names(bucket: str) -> None:
    assert storage_violations(bucket=bucket) == []


@pytest.mark.parametrize(
    ("bucket", "rule_named"),
    [
        ("ab", "3-63"),
        ("a" * 64, "3-63"),
        ("Acme", "lowercase"),
        ("acme_invoices", "lowercase"),
        ("-acme", "start and end"),
        ("acme-", "start and end"),
        (".acme", "start and end"),
        ("acme.", "start and end"),
        ("ac..me", "'..'"),
        ("192.168.5.4", "IP address"),
        ("", "3-63"),
    ],
)
def test_storage_bucket_rejections_name_the_rule(bucket: str, rule_named: str) -> None:
    _, violations = run(validate_storage_config, **{**GOOD_STORAGE, "bucket": bucket})
    assert [(v.field, v.reason) for v in violations] == [
        ("storage.bucket", "STORAGE_BUCKET_INVALID")
    ]
    assert rule_named in violations[0].message


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://s3.eu-central-1.amazonaws.com",
        "https://fly.storage.tigris.dev/",
        "https://acct.r2.cloudflarestorage.com:443/base",
        "http://127.0.0.1:9000",
        "http://[::1]:9000",
    ],
)
def test_storage_endpoint_accepts_https_and_loopback_http(endpoint: str) -> None:
    assert storage_violations(endpoint=endpoint) == []


@pytest.mark.parametrize(
    ("endpoint", "reason"),
    [
        ("http://minio:9000", "STORAGE_ENDPOINT_INSECURE"),
        ("http://s3.example.com", "STORAGE_ENDPOINT_INSECURE"),
        ("s3.example.com", "STORAGE_ENDPOINT_INVALID"),
        ("ftp://s3.example.com", "STORAGE_ENDPOINT_INVALID"),
        ("https://", "STORAGE_ENDPOINT_INVALID"),
        ("https://s3.example.com:99999", "STORAGE_ENDPOINT_INVALID"),
        ("https://key:secret@s3.example.com", "STORAGE_ENDPOINT_INVALID"),
        ("https://s3.example.com/?x=1", "STORAGE_ENDPOINT_INVALID"),
        ("https://s3.example.com/#x", "STORAGE_ENDPOINT_INVALID"),
        ("https://s3.exa mple.com", "STORAGE_ENDPOINT_INVALID"),
    ],
)
def test_storage_endpoint_rejections(endpoint: str, reason: str) -> None:
    assert storage_violations(endpoint=endpoint) == [("storage.endpoint", reason)]


@pytest.mark.parametrize("region", [None, "", "auto", "eu-central-1", "us-east-005", "r" * 32])
def test_storage_region_accepts_optional_region(region: str | None) -> None:
    assert storage_violations(region=region) == []


@pytest.mark.parametrize("region", ["EU", "eu_central", "eu central", "r" * 33])
def test_storage_region_rejections(region: str) -> None:
    assert storage_violations(region=region) == [("storage.region", "STORAGE_REGION_INVALID")]


def test_storage_config_reports_every_bad_field_under_the_given_path() -> None:
    _, violations = run(
        validate_storage_config,
        provider="minio",
        access_key="",
        secret_key="k" * 300,
        bucket="Bad_Bucket",
        region="EU",
        field="app.storage",
    )
    assert [(v.field, v.reason) for v in violations] == [
        ("app.storage.access_key", "STORAGE_CREDENTIAL_EMPTY"),
        ("app.storage.secret_key", "STORAGE_CREDENTIAL_TOO_LONG"),
        ("app.storage.bucket", "STORAGE_BUCKET_INVALID"),
        ("app.storage.endpoint", "STORAGE_ENDPOINT_REQUIRED"),
        ("app.storage.region", "STORAGE_REGION_INVALID"),
    ]


@pytest.mark.parametrize(
    ("secret", "masked"),
    [
        ("AKIAABCDEFGHWXYZ", "****WXYZ"),
        ("12345678", "****5678"),
        ("1234567", "****"),
        ("abc", "****"),
        ("", "****"),
    ],
)
def test_mask_secret_shows_at_most_the_last_four(secret: str, masked: str) -> None:
    assert mask_secret(secret) == masked


# --------------------------------------------------------------------------------------------
# 10. Region, database and plan codes
# --------------------------------------------------------------------------------------------

CODE_VALIDATORS = [
    (validate_region_code, "REGION_CODE_INVALID", "eu-west"),
    (validate_db_code, "DB_CODE_INVALID", "eu-west-db1"),
    (validate_plan_code, "PLAN_CODE_INVALID", "starter"),
]


@pytest.mark.parametrize(("validator", "reason", "example"), CODE_VALIDATORS)
@pytest.mark.parametrize("code", ["eu-west", "eu-west-db1", "starter", "ab", "a" * 63])
def test_codes_accept_lowercase_kebabish(
    validator: Callable[..., Any], reason: str, example: str, code: str
) -> None:
    assert run(validator, code) == (code, [])
    assert run(validator, example) == (example, [])


@pytest.mark.parametrize(("validator", "reason", "example"), CODE_VALIDATORS)
@pytest.mark.parametrize("code", ["", "e", "EU-west", "1eu", "-eu", "eu_west", "eu west", "a" * 64])
def test_codes_reject_with_their_own_reason(
    validator: Callable[..., Any], reason: str, example: str, code: str
) -> None:
    result, violations = run(validator, code)
    assert result is None
    assert [v.reason for v in violations] == [reason]
    assert f"'{example}'" in violations[0].message
