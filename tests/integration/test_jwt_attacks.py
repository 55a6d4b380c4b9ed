"""Forged and misplaced access tokens are refused by every surface that verifies them.

One table of attacks, each built from a REAL token of tenant A (re-signed with keys the
attacker controls, or edited), is played against three verifying surfaces:

- ``admin``: the admin REST API (``GET /api/v1/tenants/{A}/apps``), where a forgery must get
  401 problem+json with a ``TOKEN_*`` reason (never 2xx);
- ``sdk``: ``tessera_sdk.verifier.TokenVerifier`` configured as tenant A's resource server of
  app ``shop`` would configure it (``tenants=[A]``, ``audience={PUBLIC_URL}/t/{A}/apps/shop``,
  JWKS fetched over HTTP from the running gateway), which must raise ``TokenRejected`` with the
  row's reason;
- ``grpc``: the registry's own gRPC check (``RegistryService/ListApps`` called directly with
  ``authorization`` metadata), which must answer UNAUTHENTICATED.

Each surface is attacked through the genuine token it really accepts: the SDK through a token
of tenant A's app ``shop``, the admin surfaces through tenant A's own admin token (app
``tessera``), so a forgery that slipped through would reach real data (200), not a 403. The
genuine token itself is the positive control and must be accepted everywhere, so the suite
cannot pass by refusing everything.

Rows marked "real key" sign with tenant A's genuine signing key (read from the in-process
token service) so that exactly one claim or header is wrong: they pin the claim checks
themselves rather than the signature check. A token of tenant B is genuine, so on the admin
surfaces it authenticates and must then be refused as another tenant's (403
TENANT_FORBIDDEN); a genuine token of tenant A for another app carries no admin permission
there (403 PERMISSION_MISSING). URLs in ``jku``/``x5u`` headers point at a loopback trap that
serves the attacker's key: no surface may ever contact it.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import hmac
import http.server
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from jwt.algorithms import ECAlgorithm
from tessera.registry.v1 import registry_pb2, registry_pb2_grpc

from services.common.grpc_errors import remote_error
from services.platform import Platform
from services.token.domain.keys import SigningKey, thumbprint
from tessera_sdk.verifier import HttpJwksSource, TokenRejected, TokenVerifier
from tests.integration.conftest import Api, client_credentials, tenant_admin, unique

pytestmark = pytest.mark.integration

SURFACES = ("admin", "sdk", "grpc")
LEEWAY = 30  # the verifier's default leeway (seconds)

# What the issue asks the suite to cover; every item must be named by at least one row.
ISSUE_ITEMS = (
    "alg none",
    "HS256 with the public key",
    "unknown kid",
    "traversal kid",
    "embedded jwk",
    "jku",
    "expired",
    "future nbf",
    "wrong iss",
    "wrong aud",
    "wrong typ",
    "tampered payload",
    "another tenant's key",
    "another tenant's token with the same app slug",
)

# -- expected outcome on the admin REST API and the gRPC check ------------------------------
ACCEPT = "accept"  # the positive control: 200 / OK with tenant A's apps
TOKEN = "token"  # refused at authentication: 401 TOKEN_* / UNAUTHENTICATED
OTHER_TENANT = "other-tenant"  # authentic, but of tenant B: 403 TENANT_FORBIDDEN
NOT_ADMIN = "not-admin"  # authentic, of tenant A, for another app: 403 PERMISSION_MISSING
TOO_LARGE = "too-large"  # Authorization over 8 KiB: 431 (SPEC "Sizes"); gRPC refuses the metadata


# -- the attacker's kit -----------------------------------------------------------------------


@dataclass
class Attacker:
    """Keys the attacker owns, and a loopback trap that serves them to anyone who asks."""

    ec_key: ec.EllipticCurvePrivateKey
    ec_jwk: dict[str, Any]
    rsa_key: rsa.RSAPrivateKey
    cert_der: bytes
    trap_url: str
    trap_hits: list[str] = field(default_factory=list)


def _self_signed(private: ec.EllipticCurvePrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tessera.test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(private, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.DER)


@pytest.fixture(scope="module")
def attacker() -> Iterator[Attacker]:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_jwk: dict[str, Any] = ECAlgorithm.to_jwk(ec_key.public_key(), as_dict=True)
    ec_jwk.update({"kid": thumbprint(ec_jwk), "alg": "ES256", "use": "sig"})
    hits: list[str] = []
    document = json.dumps({"keys": [ec_jwk]}).encode()

    class Trap(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(document)))
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Trap)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Attacker(
            ec_key=ec_key,
            ec_jwk=ec_jwk,
            rsa_key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
            cert_der=_self_signed(ec_key),
            trap_url=f"http://127.0.0.1:{server.server_address[1]}/jwks.json",
            trap_hits=hits,
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# -- the worlds the surfaces are attacked in -------------------------------------------------


@dataclass(frozen=True)
class World:
    """What one surface accepts, and what an attacker can get hold of around it."""

    tenant: str  # tenant A, the victim
    other_tenant: str  # tenant B
    app_slug: str  # tenant A's app; tenant B has an app with the same slug
    genuine: str  # a genuine token of tenant A this surface accepts
    sibling: str  # a genuine token of tenant A minted for another app (another audience)
    other_tenant_token: str  # tenant B's genuine admin token
    same_slug_token: str  # tenant B's genuine token for its app with tenant A's app slug
    key_a: SigningKey  # tenant A's real signing key (only to isolate claim checks)
    key_b: SigningKey  # tenant B's real signing key
    jwk_a: dict[str, Any]  # tenant A's published public key
    jwks_json_a: str  # tenant A's published key exactly as the JWKS endpoint serialised it
    attacker: Attacker


async def _mint(http: httpx.AsyncClient, tenant: str, app: dict[str, Any]) -> str:
    response = await client_credentials(http, tenant, app["client_id"], app["client_secret"])
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@pytest.fixture(scope="module")
async def worlds(
    platform: Platform, admin: Api, http: httpx.AsyncClient, attacker: Attacker
) -> dict[str, World]:
    region = (await admin.region())["code"]
    tenant_a, tenant_b = await admin.tenant(), await admin.tenant()
    a, b = tenant_a["slug"], tenant_b["slug"]
    slug = unique("shop")
    shop_a = await _mint(http, a, await admin.app(a, region, slug=slug))
    billing_a = await _mint(http, a, await admin.app(a, region))
    shop_b = await _mint(http, b, await admin.app(b, region, slug=slug))
    admin_a = (await tenant_admin(http, tenant_a)).token
    admin_b = (await tenant_admin(http, tenant_b)).token

    keys = platform.components["token"].keys  # type: ignore[attr-defined]
    key_a: SigningKey = await keys.signing_key(a)
    key_b: SigningKey = await keys.signing_key(b)
    jwks = await http.get(f"/t/{a}/.well-known/jwks.json")
    assert jwks.status_code == 200, jwks.text
    jwk_a = next(k for k in jwks.json()["keys"] if k["kid"] == key_a.kid)
    raw = next(k for k in json.loads(jwks.text)["keys"] if k["kid"] == key_a.kid)
    for token in (shop_a, admin_a):
        assert jwt.get_unverified_header(token)["kid"] == key_a.kid
    common: dict[str, Any] = {
        "tenant": a,
        "other_tenant": b,
        "app_slug": slug,
        "other_tenant_token": admin_b,
        "same_slug_token": shop_b,
        "key_a": key_a,
        "key_b": key_b,
        "jwk_a": jwk_a,
        "jwks_json_a": json.dumps(raw),
        "attacker": attacker,
    }
    return {
        "sdk": World(genuine=shop_a, sibling=billing_a, **common),
        "admin": World(genuine=admin_a, sibling=shop_a, **common),
        "grpc": World(genuine=admin_a, sibling=shop_a, **common),
    }


# -- building tokens by hand (PyJWT refuses to produce several of these) ---------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _segment(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    return json.loads(_unb64(header)), json.loads(_unb64(payload)), signature


def _sign(header: dict[str, Any], claims: dict[str, Any], key: Any) -> str:
    """A compact JWS over exactly this header (nothing added), signed per ``header['alg']``."""
    signing_input = f"{_segment(header)}.{_segment(claims)}"
    algorithm = jwt.get_algorithm_by_name(header["alg"])
    return f"{signing_input}.{_b64(algorithm.sign(signing_input.encode(), key))}"


def _hs256(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    signing_input = f"{_segment(header)}.{_segment(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


DROP = object()  # a claim or header value meaning "leave it out"


def _edit(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = {**base, **changes}
    return {k: v for k, v in merged.items() if v is not DROP}


def _real_key(w: World, header: dict[str, Any] | None = None, **claims: Any) -> str:
    """The genuine token with one thing changed, signed with tenant A's REAL key and kid."""
    genuine_header, genuine_claims, _ = _parts(w.genuine)
    return _sign(
        _edit(genuine_header, header or {}), _edit(genuine_claims, claims), w.key_a.private_key
    )


def _attacker_key(w: World, header: dict[str, Any] | None = None, **claims: Any) -> str:
    """The genuine claims signed ES256 with the attacker's own key (kid: its thumbprint)."""
    genuine_header, genuine_claims, _ = _parts(w.genuine)
    attacker_header = {**genuine_header, "kid": w.attacker.ec_jwk["kid"]}
    return _sign(
        _edit(attacker_header, header or {}), _edit(genuine_claims, claims), w.attacker.ec_key
    )


def _unsigned(w: World, alg: str) -> str:
    header, claims, _ = _parts(w.genuine)
    return f"{_segment({**header, 'alg': alg})}.{_segment(claims)}."


def _public_pem(w: World) -> bytes:
    """Tenant A's public key as PEM, the classic HMAC secret of an algorithm-confusion attack."""
    public: ec.EllipticCurvePublicKey = jwt.PyJWK(w.jwk_a).key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _hs256_with(w: World, secret: bytes) -> str:
    header, claims, _ = _parts(w.genuine)
    return _hs256({**header, "alg": "HS256"}, claims, secret)


def _tampered(w: World, **changes: Any) -> str:
    """The genuine header and signature over an edited payload."""
    header, claims, signature = _parts(w.genuine)
    return f"{_segment(header)}.{_segment(_edit(claims, changes))}.{signature}"


def _widened(w: World) -> str:
    claims = _parts(w.genuine)[1]
    everything = [
        "app:read",
        "app:write",
        "client:write",
        "role:write",
        "user:write",
        "tenant:write",
        "region:write",
        "plan:write",
    ]
    return _tampered(
        w,
        app_code="tessera",
        roles=[*claims.get("roles", []), "tenant-admin"],
        permissions=sorted({*claims.get("permissions", []), *everything}),
    )


def _with_signature_of(token: str, donor: str) -> str:
    header, payload, _ = token.split(".")
    return f"{header}.{payload}.{donor.split('.')[2]}"


def _now() -> int:
    return int(time.time())


def _id_token(w: World) -> str:
    claims = _parts(w.genuine)[1]
    return _real_key(
        w,
        {"typ": "JWT"},
        aud=claims["client_id"],
        azp=claims["client_id"],
        nonce="n-0S6_WzA2Mj",
        auth_time=_now() - 10,
    )


# -- the table --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Forgery:
    name: str
    forge: Callable[[World], str]
    sdk_reason: str | None  # None: the SDK must accept it (positive control only)
    edge: str = TOKEN  # what the admin REST API and the gRPC check must answer
    covers: tuple[str, ...] = ()  # the issue's items this row exercises


FORGERIES: tuple[Forgery, ...] = (
    Forgery("genuine-token-positive-control", lambda w: w.genuine, None, ACCEPT),
    # alg none / HS* / algorithm confusion
    Forgery(
        "alg-none-unsigned",
        lambda w: _unsigned(w, "none"),
        "ALGORITHM_NOT_ALLOWED",
        covers=("alg none",),
    ),
    Forgery(
        "alg-None-capitalised",
        lambda w: _unsigned(w, "None"),
        "ALGORITHM_NOT_ALLOWED",
        covers=("alg none",),
    ),
    Forgery(
        "alg-none-keeping-the-genuine-signature",
        lambda w: _with_signature_of(_unsigned(w, "none"), w.genuine),
        "ALGORITHM_NOT_ALLOWED",
        covers=("alg none",),
    ),
    Forgery(
        "hs256-keyed-with-tenant-public-key-pem",
        lambda w: _hs256_with(w, _public_pem(w)),
        "ALGORITHM_NOT_ALLOWED",
        covers=("HS256 with the public key",),
    ),
    Forgery(
        "hs256-keyed-with-tenant-public-key-pem-no-newline",
        lambda w: _hs256_with(w, _public_pem(w).strip()),
        "ALGORITHM_NOT_ALLOWED",
        covers=("HS256 with the public key",),
    ),
    Forgery(
        "hs256-keyed-with-tenant-public-jwk-json",
        lambda w: _hs256_with(w, w.jwks_json_a.encode()),
        "ALGORITHM_NOT_ALLOWED",
        covers=("HS256 with the public key",),
    ),
    Forgery(
        "hs256-keyed-with-tenant-public-jwk-compact-json",
        lambda w: _hs256_with(w, json.dumps(w.jwk_a, separators=(",", ":")).encode()),
        "ALGORITHM_NOT_ALLOWED",
        covers=("HS256 with the public key",),
    ),
    Forgery(
        "rs256-attacker-key-under-tenant-kid",
        lambda w: _sign(
            {**_parts(w.genuine)[0], "alg": "RS256"}, _parts(w.genuine)[1], w.attacker.rsa_key
        ),
        "ALGORITHM_MISMATCH",
    ),
    # key identifiers
    Forgery("unknown-kid", lambda w: _attacker_key(w), "UNKNOWN_KID", covers=("unknown kid",)),
    Forgery("kid-missing", lambda w: _attacker_key(w, {"kid": DROP}), "KID_MISSING"),
    Forgery(
        "attacker-key-under-tenant-kid",
        lambda w: _attacker_key(w, {"kid": w.key_a.kid}),
        "INVALID",
    ),
    Forgery(
        "kid-traversal-etc-passwd",
        lambda w: _attacker_key(w, {"kid": "../../etc/passwd"}),
        "UNKNOWN_KID",
        covers=("traversal kid",),
    ),
    Forgery(
        "kid-traversal-jwks",
        lambda w: _attacker_key(w, {"kid": "../jwks"}),
        "UNKNOWN_KID",
        covers=("traversal kid",),
    ),
    Forgery(
        "kid-traversal-other-tenant-jwks",
        lambda w: _attacker_key(w, {"kid": f"../../t/{w.other_tenant}/.well-known/jwks.json"}),
        "UNKNOWN_KID",
        covers=("traversal kid",),
    ),
    Forgery(
        "kid-huge",
        lambda w: _attacker_key(w, {"kid": "k" * 3000}),
        "UNKNOWN_KID",
        covers=("unknown kid",),
    ),
    # keys named or shipped inside the header
    Forgery(
        "embedded-jwk-attacker-kid",
        lambda w: _attacker_key(w, {"jwk": w.attacker.ec_jwk}),
        "UNKNOWN_KID",
        covers=("embedded jwk",),
    ),
    Forgery(
        "embedded-jwk-under-tenant-kid",
        lambda w: _attacker_key(w, {"kid": w.key_a.kid, "jwk": w.attacker.ec_jwk}),
        "INVALID",
        covers=("embedded jwk",),
    ),
    Forgery(
        "jku-attacker-url-attacker-kid",
        lambda w: _attacker_key(w, {"jku": w.attacker.trap_url}),
        "UNKNOWN_KID",
        covers=("jku",),
    ),
    Forgery(
        "jku-attacker-url-under-tenant-kid",
        lambda w: _attacker_key(w, {"kid": w.key_a.kid, "jku": w.attacker.trap_url}),
        "INVALID",
        covers=("jku",),
    ),
    Forgery(
        "x5u-attacker-url-under-tenant-kid",
        lambda w: _attacker_key(w, {"kid": w.key_a.kid, "x5u": w.attacker.trap_url}),
        "INVALID",
    ),
    Forgery(
        "x5c-attacker-cert-under-tenant-kid",
        lambda w: _attacker_key(
            w,
            {"kid": w.key_a.kid, "x5c": [base64.b64encode(w.attacker.cert_der).decode()]},
        ),
        "INVALID",
    ),
    # time claims (real key: only the claim is wrong)
    Forgery(
        "expired-an-hour-ago-real-key",
        lambda w: _real_key(w, iat=_now() - 7200, nbf=_now() - 7200, exp=_now() - 3600),
        "EXPIRED",
        covers=("expired",),
    ),
    Forgery(
        "expired-just-beyond-leeway-real-key",
        lambda w: _real_key(w, exp=_now() - LEEWAY - 30),
        "EXPIRED",
        covers=("expired",),
    ),
    Forgery(
        "nbf-in-the-future-real-key",
        lambda w: _real_key(w, nbf=_now() + 3600),
        "INVALID",
        covers=("future nbf",),
    ),
    Forgery(
        "iat-far-in-the-future-real-key",
        lambda w: _real_key(w, iat=_now() + 365 * 86400),
        "INVALID",
    ),
    # issuers (real key)
    Forgery(
        "iss-another-host-real-key",
        lambda w: _real_key(w, iss=f"http://evil.test/t/{w.tenant}"),
        "WRONG_ISSUER",
        covers=("wrong iss",),
    ),
    Forgery(
        "iss-https-scheme-real-key",
        lambda w: _real_key(w, iss=f"https://tessera.test/t/{w.tenant}"),
        "WRONG_ISSUER",
        covers=("wrong iss",),
    ),
    Forgery(
        "iss-userinfo-host-trick-real-key",
        lambda w: _real_key(w, iss=f"http://tessera.test@evil.test/t/{w.tenant}"),
        "WRONG_ISSUER",
        covers=("wrong iss",),
    ),
    Forgery(
        "iss-tenant-not-pinned-real-key",
        lambda w: _real_key(w, iss=f"http://tessera.test/t/{w.other_tenant}"),
        "WRONG_TENANT",
        covers=("wrong iss",),
    ),
    Forgery(
        "iss-tenant-that-does-not-exist-real-key",
        lambda w: _real_key(w, iss="http://tessera.test/t/no-such-tenant"),
        "WRONG_TENANT",
        covers=("wrong iss",),
    ),
    Forgery(
        "iss-trailing-slash-real-key",
        lambda w: _real_key(w, iss=f"http://tessera.test/t/{w.tenant}/"),
        "WRONG_ISSUER",
        covers=("wrong iss",),
    ),
    Forgery(
        "iss-dot-segments-a-to-b-real-key",
        lambda w: _real_key(w, iss=f"http://tessera.test/t/{w.tenant}/../{w.other_tenant}"),
        "WRONG_ISSUER",
        covers=("wrong iss",),
    ),
    Forgery(
        "iss-dot-segments-b-to-a-real-key",
        lambda w: _real_key(w, iss=f"http://tessera.test/t/{w.other_tenant}/../{w.tenant}"),
        "WRONG_ISSUER",
        covers=("wrong iss",),
    ),
    Forgery(
        "iss-missing-real-key",
        lambda w: _real_key(w, iss=DROP),
        "WRONG_ISSUER",
        covers=("wrong iss",),
    ),
    # audience: a genuine token of tenant A minted for another app
    Forgery(
        "genuine-token-of-another-app-of-the-tenant",
        lambda w: w.sibling,
        "WRONG_AUDIENCE",
        NOT_ADMIN,
        covers=("wrong aud",),
    ),
    # token types (real key)
    Forgery(
        "typ-jwt-real-key",
        lambda w: _real_key(w, {"typ": "JWT"}),
        "WRONG_TYPE",
        covers=("wrong typ",),
    ),
    Forgery("typ-id-token-real-key", _id_token, "WRONG_TYPE", covers=("wrong typ",)),
    Forgery(
        "typ-missing-real-key",
        lambda w: _real_key(w, {"typ": DROP}),
        "WRONG_TYPE",
        covers=("wrong typ",),
    ),
    # payload and signature edits
    Forgery(
        "tampered-payload-widened-permissions",
        _widened,
        "INVALID",
        covers=("tampered payload",),
    ),
    Forgery(
        "tampered-payload-other-subject",
        lambda w: _tampered(w, sub="tc_someone-else", client_id="tc_someone-else"),
        "INVALID",
        covers=("tampered payload",),
    ),
    Forgery("signature-stripped", lambda w: w.genuine.rsplit(".", 1)[0] + ".", "INVALID"),
    Forgery(
        "signature-truncated",
        lambda w: w.genuine[: w.genuine.rindex(".") + 1 + 40],  # 30 of the 64 signature bytes
        "INVALID",
    ),
    Forgery(
        "signature-cut-mid-character",
        lambda w: w.genuine[:-1],  # no longer valid base64url
        "MALFORMED",
    ),
    Forgery("two-segments-only", lambda w: w.genuine.rsplit(".", 1)[0], "MALFORMED"),
    Forgery(
        "oversized-64kib-payload",
        lambda w: _tampered(w, pad="A" * 64 * 1024),
        "INVALID",
        TOO_LARGE,
    ),
    # other tenants
    Forgery(
        "other-tenant-genuine-token",
        lambda w: w.other_tenant_token,
        "WRONG_TENANT",
        OTHER_TENANT,
        covers=("another tenant's key",),
    ),
    Forgery(
        "other-tenant-genuine-token-for-app-with-same-slug",
        lambda w: w.same_slug_token,
        "WRONG_TENANT",
        OTHER_TENANT,
        covers=("another tenant's token with the same app slug",),
    ),
    Forgery(
        "other-tenant-real-key-and-kid-under-tenant-a-issuer",
        lambda w: _sign(
            {**_parts(w.genuine)[0], "kid": w.key_b.kid},
            _parts(w.genuine)[1],
            w.key_b.private_key,
        ),
        "UNKNOWN_KID",
        covers=("another tenant's key",),
    ),
    Forgery(
        "other-tenant-real-key-under-tenant-a-kid",
        lambda w: _sign(_parts(w.genuine)[0], _parts(w.genuine)[1], w.key_b.private_key),
        "INVALID",
        covers=("another tenant's key",),
    ),
    Forgery(
        "other-tenant-signature-transplanted",
        lambda w: _with_signature_of(w.genuine, w.same_slug_token),
        "INVALID",
        covers=("another tenant's key",),
    ),
)

FORGERY_IDS = [f.name for f in FORGERIES]

# surface -> forgery name -> held (the surface behaved as the row demands)
OUTCOMES: dict[str, dict[str, bool]] = {s: {} for s in SURFACES}


@contextlib.contextmanager
def _recorded(surface: str, forgery: Forgery) -> Iterator[None]:
    OUTCOMES[surface][forgery.name] = False
    yield
    OUTCOMES[surface][forgery.name] = True


def _assert_trap_untouched(attacker: Attacker) -> None:
    assert attacker.trap_hits == [], (
        f"a verifier fetched a URL named by a token: {attacker.trap_hits}"
    )


# -- the three surfaces -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def sdk_verifier(
    platform: Platform, http: httpx.AsyncClient, worlds: dict[str, World]
) -> TokenVerifier:
    """Tenant A's resource server for app ``shop``, as SPEC "JWT" says to configure it."""
    world = worlds["sdk"]
    public_url = platform.settings.public_url
    return TokenVerifier(
        public_url,
        HttpJwksSource(platform.gateway_url, http),
        tenants=[world.tenant],
        audience=f"{public_url}/t/{world.tenant}/apps/{world.app_slug}",
    )


@pytest.fixture(scope="module")
async def registry_stub(platform: Platform) -> AsyncIterator[registry_pb2_grpc.RegistryServiceStub]:
    channel = grpc.aio.insecure_channel(platform.components["registry"].address)
    try:
        yield registry_pb2_grpc.RegistryServiceStub(channel)
    finally:
        await channel.close()


@pytest.mark.parametrize("forgery", FORGERIES, ids=FORGERY_IDS)
async def test_the_admin_api_refuses_the_forgery_with_401_token_reason(
    forgery: Forgery, worlds: dict[str, World], http: httpx.AsyncClient
) -> None:
    world = worlds["admin"]
    with _recorded("admin", forgery):
        response = await http.get(
            f"/api/v1/tenants/{world.tenant}/apps",
            headers={"Authorization": f"Bearer {forgery.forge(world)}"},
        )
        if forgery.edge == ACCEPT:
            assert response.status_code == 200, response.text
            assert world.app_slug in {a["slug"] for a in response.json()["items"]}
        else:
            assert not 200 <= response.status_code < 300, response.text
            assert response.headers["content-type"].startswith("application/problem+json"), (
                response.status_code,
                response.text[:300],
            )
            body = response.json()
            if forgery.edge == TOKEN:
                assert response.status_code == 401, response.text
                assert body["reason"].startswith("TOKEN_"), body
                assert response.headers["www-authenticate"].startswith("Bearer"), response.headers
            elif forgery.edge == OTHER_TENANT:
                assert (response.status_code, body["reason"]) == (403, "TENANT_FORBIDDEN"), body
            elif forgery.edge == NOT_ADMIN:
                assert (response.status_code, body["reason"]) == (403, "PERMISSION_MISSING"), body
            else:
                assert forgery.edge == TOO_LARGE
                assert response.status_code == 431, response.text[:300]
        _assert_trap_untouched(world.attacker)


@pytest.mark.parametrize("forgery", FORGERIES, ids=FORGERY_IDS)
async def test_the_sdk_verifier_of_a_tenant_a_resource_server_rejects_the_forgery_with_its_reason(
    forgery: Forgery, worlds: dict[str, World], sdk_verifier: TokenVerifier
) -> None:
    world = worlds["sdk"]
    with _recorded("sdk", forgery):
        token = forgery.forge(world)
        if forgery.sdk_reason is None:
            verified = await sdk_verifier.verify(token)
            assert verified.tenant == world.tenant
            assert verified.claims["jti"] == _parts(world.genuine)[1]["jti"]
        else:
            with pytest.raises(TokenRejected) as rejected:
                await sdk_verifier.verify(token)
            assert rejected.value.reason == forgery.sdk_reason, rejected.value.message
        _assert_trap_untouched(world.attacker)


@pytest.mark.parametrize("forgery", FORGERIES, ids=FORGERY_IDS)
async def test_the_registry_grpc_check_refuses_the_forgery_as_unauthenticated(
    forgery: Forgery,
    worlds: dict[str, World],
    registry_stub: registry_pb2_grpc.RegistryServiceStub,
) -> None:
    world = worlds["grpc"]
    with _recorded("grpc", forgery):
        try:
            reply = await registry_stub.ListApps(
                registry_pb2.ListAppsRequest(tenant=world.tenant),
                metadata=(("authorization", f"Bearer {forgery.forge(world)}"),),
                timeout=10,
            )
        except grpc.aio.AioRpcError as failure:
            error = remote_error(failure)
            assert forgery.edge != ACCEPT, (error.code, error.reason, error.message)
            if forgery.edge == TOKEN:
                assert error.code == grpc.StatusCode.UNAUTHENTICATED, (error.code, error.reason)
                assert error.reason.startswith("TOKEN_"), (error.reason, error.message)
            elif forgery.edge == OTHER_TENANT:
                assert (error.code, error.reason) == (
                    grpc.StatusCode.PERMISSION_DENIED,
                    "TENANT_FORBIDDEN",
                )
            elif forgery.edge == NOT_ADMIN:
                assert (error.code, error.reason) == (
                    grpc.StatusCode.PERMISSION_DENIED,
                    "PERMISSION_MISSING",
                )
            else:
                assert forgery.edge == TOO_LARGE
                # Over gRPC's metadata limit the transport refuses the call before any servicer.
                assert error.code in (
                    grpc.StatusCode.UNAUTHENTICATED,
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                ), (error.code, error.reason)
        else:
            assert forgery.edge == ACCEPT, f"the registry ACCEPTED the forgery: {reply}"
            assert world.app_slug in {a.slug for a in reply.apps}
        _assert_trap_untouched(world.attacker)


async def test_apps_with_the_same_slug_in_two_tenants_never_share_an_audience(
    platform: Platform, worlds: dict[str, World]
) -> None:
    """The SDK rows above refuse tenant B's same-slug token by the tenant pin first; the
    audience alone must tell the two apps apart too (SPEC "JWT": unique platform-wide)."""
    world = worlds["sdk"]
    public_url = platform.settings.public_url
    audiences = {
        tenant: _parts(token)[1]["aud"]
        for tenant, token in (
            (world.tenant, world.genuine),
            (world.other_tenant, world.same_slug_token),
        )
    }
    assert audiences == {
        tenant: f"{public_url}/t/{tenant}/apps/{world.app_slug}" for tenant in audiences
    }


def test_the_table_covers_every_attack_the_issue_lists(capsys: pytest.CaptureFixture[str]) -> None:
    covered = {item for f in FORGERIES for item in f.covers}
    assert set(ISSUE_ITEMS) <= covered, sorted(set(ISSUE_ITEMS) - covered)
    assert covered <= set(ISSUE_ITEMS), sorted(covered - set(ISSUE_ITEMS))
    assert len(set(FORGERY_IDS)) == len(FORGERY_IDS)
    assert [f for f in FORGERIES if f.edge == ACCEPT] == [FORGERIES[0]]
    assert all(f.sdk_reason is not None for f in FORGERIES[1:])
    with capsys.disabled():
        print()
        for surface in SURFACES:
            outcomes = OUTCOMES[surface]
            held = sum(outcomes.values())
            failed = sorted(name for name, ok in outcomes.items() if not ok)
            print(
                f"JWT attacks on {surface:5}: {len(outcomes)}/{len(FORGERIES)} tried, "
                f"{held} held" + (f"; NOT held: {', '.join(failed)}" if failed else "")
            )
