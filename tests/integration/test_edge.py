"""What the gateway refuses or adds before any route runs: authentication before bodies,
size limits, security headers, self-hosted docs and CORS from allowed domains only."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.integration.conftest import Api, client_credentials, unique

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"slug": 1, "display_name": []}', b"[]" * 1000],
    ids=["malformed", "wrong-types", "array"],
)
async def test_without_a_token_every_body_gets_401_not_a_validation_answer(
    http: httpx.AsyncClient, body: bytes
) -> None:
    for path in ("/api/v1/tenants", "/api/v1/tenants/acme/clients", "/api/v1/regions"):
        response = await http.post(path, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 401, (path, response.text)
        assert response.json()["reason"] == "BEARER_MISSING"
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_another_tenants_token_is_refused_before_the_body_is_looked_at(
    admin: Api, world: dict[str, Any]
) -> None:
    other = await admin.tenant()
    credentials = other["admin_client"]
    token = (
        await client_credentials(
            admin.http, other["slug"], credentials["client_id"], credentials["client_secret"]
        )
    ).json()["access_token"]
    foreign = Api(admin.http, token)
    response = await foreign.post(f"/api/v1/tenants/{world['tenant']['slug']}/clients", {})
    assert response.status_code == 403
    assert response.json()["reason"] == "TENANT_FORBIDDEN"


async def test_an_admin_body_over_one_mebibyte_is_413_by_declared_length_or_by_counting(
    admin: Api,
) -> None:
    big = b'{"slug": "' + b"a" * (1024 * 1024) + b'"}'
    declared = await admin.http.post(
        "/api/v1/tenants",
        content=big,
        headers={**admin.headers, "Content-Type": "application/json"},
    )
    assert declared.status_code == 413
    assert declared.headers["content-type"] == "application/problem+json"
    assert declared.json()["reason"] == "BODY_TOO_LARGE"

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b" " * (64 * 1024)

    chunked = await admin.http.post(
        "/api/v1/tenants",
        content=chunks(),
        headers={**admin.headers, "Content-Type": "application/json"},
    )
    assert chunked.status_code == 413
    assert chunked.json()["reason"] == "BODY_TOO_LARGE"


async def test_oversized_targets_and_headers_get_414_and_431_problems(admin: Api) -> None:
    long_path = await admin.get("/api/v1/tenants/" + "a" * 3000)
    assert long_path.status_code == 414
    assert long_path.json()["reason"] == "URI_TOO_LONG"
    huge_bearer = await admin.http.get(
        "/api/v1/tenants", headers={"Authorization": "Bearer " + "x" * 9000}
    )
    assert huge_bearer.status_code == 431
    assert huge_bearer.json()["reason"] == "AUTHORIZATION_TOO_LARGE"
    assert "grpc" not in huge_bearer.text.lower()
    many = {f"X-Filler-{i}": "y" * 1000 for i in range(17)}
    headers = await admin.http.get("/api/v1/tenants", headers={**admin.headers, **many})
    assert headers.status_code == 431
    assert headers.json()["reason"] == "HEADERS_TOO_LARGE"


async def test_integers_beyond_their_range_are_400_naming_the_field(admin: Api) -> None:
    response = await admin.post(
        "/api/v1/tenants", {"slug": unique("tn"), "display_name": "X", "app_limit": 2**63}
    )
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["app_limit"]
    stale = await admin.patch(
        "/api/v1/tenants/control-plane",
        {"display_name": "X"},
        headers={"If-Match": '"9' * 30 + '"'},
    )
    assert stale.status_code == 400
    assert stale.json()["errors"][0]["field"] == "If-Match"
    forged_page = await admin.get("/api/v1/tenants", params={"page_token": "9" * 40})
    assert forged_page.status_code == 400


async def test_every_response_says_nosniff_and_api_documents_forbid_rendering(
    http: httpx.AsyncClient,
) -> None:
    for path in (
        "/healthz",
        "/api/v1/tenants",
        "/openapi.json",
        "/t/control-plane/.well-known/jwks.json",
    ):
        response = await http.get(path)
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert "default-src 'none'" in response.headers["content-security-policy"], path


async def test_docs_are_served_without_any_third_party_host_and_without_inline_script(
    http: httpx.AsyncClient,
) -> None:
    page = await http.get("/docs")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "'unsafe-inline'" not in csp
    assert "script-src 'self'" in csp
    assert not re.search(r"<script>(?!\s*</script>)", page.text)  # no inline script body
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources
    assert all(s.startswith("/docs/assets/") for s in sources), sources
    for source in sources:
        asset = await http.get(source)
        assert asset.status_code == 200, source
        assert asset.content
    assert (await http.get("/docs/assets/../app.py")).status_code == 404


async def test_a_malformed_basic_header_says_what_is_wrong(
    admin: Api, world: dict[str, Any]
) -> None:
    response = await admin.http.post(
        f"/t/{world['tenant']['slug']}/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic not-base64!"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "not valid HTTP Basic" in response.json()["error_description"]


async def test_cors_answers_only_the_tenants_allowed_domains(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    await admin.app(
        tenant,
        world["region"]["code"],
        allowed_domains=["https://app.example.com/", "localhost:3000"],
    )
    token_path = f"/t/{tenant}/oauth2/token"
    for origin in ("https://app.example.com", "http://localhost:3000"):
        preflight = await admin.http.options(
            token_path,
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        )
        assert preflight.status_code == 204, (origin, preflight.text)
        assert preflight.headers["access-control-allow-origin"] == origin
        assert "POST" in preflight.headers["access-control-allow-methods"]
        jwks = await admin.http.get(
            f"/t/{tenant}/.well-known/jwks.json", headers={"Origin": origin}
        )
        assert jwks.headers["access-control-allow-origin"] == origin
        assert "Origin" in jwks.headers["vary"]
    for origin in (
        "https://evil.example.com",
        "http://app.example.com",  # plain http only for localhost
        "https://app.example.com.evil.com",
        "https://localhost:3001",
        "null",
    ):
        preflight = await admin.http.options(
            token_path, headers={"Origin": origin, "Access-Control-Request-Method": "POST"}
        )
        assert preflight.status_code == 403, origin
        assert "access-control-allow-origin" not in preflight.headers
        jwks = await admin.http.get(
            f"/t/{tenant}/.well-known/jwks.json", headers={"Origin": origin}
        )
        assert "access-control-allow-origin" not in jwks.headers, origin
    other = await admin.tenant()
    elsewhere = await admin.http.options(
        f"/t/{other['slug']}/oauth2/token",
        headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"},
    )
    assert elsewhere.status_code == 403
    admin_api = await admin.http.get(
        "/api/v1/tenants", headers={**admin.headers, "Origin": "https://app.example.com"}
    )
    assert "access-control-allow-origin" not in admin_api.headers


async def test_nul_characters_are_refused_at_the_edge_on_every_surface(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    json_body = await admin.post(
        f"/api/v1/tenants/{tenant}/clients", {"display_name": "a\x00b", "apps": ["x"]}
    )
    assert json_body.status_code == 400
    assert json_body.json()["reason"] == "NUL_CHARACTER"
    form = await admin.http.post(
        f"/t/{tenant}/oauth2/token",
        content=b"grant_type=client_credentials&client_id=%00abc&client_secret=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 400
    assert form.json()["error"] == "invalid_request"
    query = await admin.get(f"/api/v1/tenants/{tenant}/users", params={"q": "a\x00"})
    assert query.status_code == 400
    path = await admin.get(f"/api/v1/tenants/{tenant}/users/a%00b")
    assert path.status_code == 400
