"""The ``tessera`` command: run services, migrate databases, manage signing keys.

``tessera serve`` (all four services in one process) is what ``make run`` calls;
``tessera serve registry`` runs one service, as each Kubernetes Deployment does.
``tessera keys list|rotate TENANT`` call the gateway's admin API (README "Signing keys").
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Annotated, Any

import httpx
import typer
import uvloop
from rich.console import Console
from rich.table import Table

from services.common.dev_secrets import key_material
from services.common.log_config import configure_logging
from services.common.settings import CONTEXTS, SERVICES, Settings, SettingsError, load_settings
from services.common.vocabulary import CONTROL_PLANE_TENANT

app = typer.Typer(help="Tessera: multi-tenant app registration and tokens.", no_args_is_help=True)
console = Console(stderr=True)


def _settings() -> Settings:
    try:
        settings = load_settings()
    except SettingsError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from error
    configure_logging(settings.log_level, settings.log_format)
    return settings


def _banner(settings: Settings, url: str) -> str:
    keys = key_material(settings)
    client_id = settings.bootstrap_admin_client_id
    secret = keys.bootstrap_admin_secret or "<TESSERA_BOOTSTRAP_ADMIN_SECRET>"
    public = settings.public_url
    return f"""
Tessera is running at {url}  (issuer base {public}/t/<tenant>, API docs {url}/docs)

Bootstrap admin client (control-plane tenant):
  client_id:     {client_id}
  client_secret: {secret}

Quickstart (paste into a shell):
  export TESSERA={url}
  export TOKEN=$(curl -s -u '{client_id}:{secret}' -d grant_type=client_credentials \\
      $TESSERA/t/control-plane/oauth2/token | python3 -c 'import sys,json;print(json.load(sys.stdin)["access_token"])')
  curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
      -d '{{"slug":"acme","display_name":"Acme"}}' $TESSERA/api/v1/tenants; echo
  curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
      -d '{{"code":"eu-west","name":"EU West","databases":[{{"db_code":"eu-west-db1"}}]}}' $TESSERA/api/v1/regions; echo
  APP=$(curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
      -d '{{"slug":"billing","display_name":"Billing","region":"eu-west"}}' $TESSERA/api/v1/tenants/acme/apps)
  echo "$APP"
  CLIENT_ID=$(echo "$APP" | python3 -c 'import sys,json;print(json.load(sys.stdin)["client_id"])')
  CLIENT_SECRET=$(echo "$APP" | python3 -c 'import sys,json;print(json.load(sys.stdin)["client_secret"])')
  curl -s -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials $TESSERA/t/acme/oauth2/token; echo
  curl -s $TESSERA/t/acme/.well-known/openid-configuration; echo
  curl -s $TESSERA/t/acme/.well-known/jwks.json; echo
"""


@app.command()
def serve(
    services: list[str] = typer.Argument(
        None, help=f"Any of {', '.join(SERVICES)} (default: all)."
    ),
) -> None:
    """Run services in this process until SIGINT/SIGTERM."""
    from services.platform import serve as run

    settings = _settings()
    chosen = services or list(SERVICES)
    bad = [s for s in chosen if s not in SERVICES]
    if bad:
        console.print(
            f"[red]unknown service(s) {', '.join(bad)}; choose from {', '.join(SERVICES)}[/red]"
        )
        raise typer.Exit(2)

    def started(platform: object) -> None:
        from services.platform import Platform

        assert isinstance(platform, Platform)
        if "gateway" in platform.services and not settings.production:
            print(_banner(settings, platform.gateway_url), flush=True)
        else:
            print(f"started {', '.join(platform.services)}", flush=True)

    # uvloop: a faster event loop for every service (the token path above all).
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(run(settings, chosen, started))


@app.command()
def migrate(
    contexts: list[str] = typer.Argument(
        None, help=f"Any of {', '.join(CONTEXTS)} (default: all)."
    ),
) -> None:
    """Apply database migrations (the Kubernetes migration Job runs this)."""
    from services.common.migrate import upgrade

    settings = _settings()
    chosen = tuple(contexts or CONTEXTS)
    bad = [c for c in chosen if c not in CONTEXTS]
    if bad:
        console.print(
            f"[red]unknown context(s) {', '.join(bad)}; choose from {', '.join(CONTEXTS)}[/red]"
        )
        raise typer.Exit(2)
    upgrade(settings, chosen)
    console.print(f"migrated: {', '.join(chosen)}")


# -- tessera keys: a tenant's signing keys, through the gateway's admin API -----------------

keys_app = typer.Typer(
    help="A tenant's signing keys, through the gateway's admin API. Authenticate with a bearer "
    "token (--token / TESSERA_TOKEN) or a client's credentials (--client-id, --client-secret, "
    "--client-tenant / TESSERA_CLIENT_ID, TESSERA_CLIENT_SECRET, TESSERA_CLIENT_TENANT): a "
    "tenant admin client of TENANT, or an operator client of the control plane.",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")

Url = Annotated[str, typer.Option("--url", envvar="TESSERA_URL", help="The gateway's base URL.")]
Token = Annotated[
    str, typer.Option("--token", envvar="TESSERA_TOKEN", help="A bearer token to act with.")
]
ClientId = Annotated[str, typer.Option("--client-id", envvar="TESSERA_CLIENT_ID")]
ClientSecret = Annotated[str, typer.Option("--client-secret", envvar="TESSERA_CLIENT_SECRET")]
ClientTenant = Annotated[
    str,
    typer.Option(
        "--client-tenant", envvar="TESSERA_CLIENT_TENANT", help="The client's own tenant."
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
_DEFAULT_URL = "http://127.0.0.1:8000"


def _fail(message: str, code: int = 1) -> typer.Exit:
    console.print(f"[red]{message}[/red]")
    return typer.Exit(code)


def _explain(response: httpx.Response) -> typer.Exit:
    """An error answer of the API (problem+json, RFC 9457, or an OAuth error) as one line per
    problem, and exit status 1."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    detail = body.get("detail") or body.get("error_description") or response.text
    lines = [f"{response.status_code} {body.get('reason') or body.get('error', '')}: {detail}"]
    lines += [f"  {e.get('field')}: {e.get('message')}" for e in body.get("errors") or []]
    return _fail("\n".join(lines))


def _admin(url: str, token: str, client_id: str, client_secret: str, tenant: str) -> httpx.Client:
    """An HTTP client carrying a bearer token: the one given, or one obtained by the
    client_credentials grant (RFC 6749 §4.4) at the client tenant's token endpoint."""
    base = url.rstrip("/")
    if not token:
        if not (client_id and client_secret):
            raise _fail(
                "Give a bearer token (--token or TESSERA_TOKEN) or a client's credentials "
                "(--client-id/--client-secret or TESSERA_CLIENT_ID/TESSERA_CLIENT_SECRET).",
                2,
            )
        try:
            response = httpx.post(
                f"{base}/t/{tenant}/oauth2/token",
                data={"grant_type": "client_credentials"},
                auth=(client_id, client_secret),
                timeout=30,
            )
        except httpx.HTTPError as error:
            raise _fail(f"Cannot reach {base}: {error}") from error
        if response.status_code != 200:
            raise _explain(response)
        token = response.json()["access_token"]
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _call(client: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
    try:
        with client:
            response = client.request(method, path, **kwargs)
    except httpx.HTTPError as error:
        raise _fail(f"Cannot reach {client.base_url}: {error}") from error
    if response.status_code >= 400:
        raise _explain(response)
    return response.json()


def _print_keys(keys: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print(json.dumps(keys, indent=2))
        return
    table = Table("kid", "alg", "state", "created", "signs from", "published until")
    for key in keys:
        table.add_row(
            key["kid"],
            key["alg"],
            key["state"],
            key["created_at"],
            key.get("activated_at") or key.get("activates_at") or "",
            key.get("publish_until") or "",
        )
    Console().print(table)


@keys_app.command("list")
def keys_list(
    tenant: str,
    url: Url = _DEFAULT_URL,
    token: Token = "",
    client_id: ClientId = "",
    client_secret: ClientSecret = "",
    client_tenant: ClientTenant = CONTROL_PLANE_TENANT,
    as_json: AsJson = False,
) -> None:
    """List TENANT's published signing keys: next, current and retired ones with their
    windows (needs key:read)."""
    client = _admin(url, token, client_id, client_secret, client_tenant)
    body = _call(client, "GET", f"/api/v1/tenants/{tenant}/signing-keys")
    _print_keys(body["items"], as_json)


@keys_app.command("rotate")
def keys_rotate(
    tenant: str,
    alg: Annotated[
        str, typer.Option("--alg", help="ES256 or EdDSA; default: the current key's.")
    ] = "",
    lead_seconds: Annotated[
        int,
        typer.Option(
            "--lead-seconds",
            help="How long the new key is published before it signs (default: "
            "TESSERA_KEY_ROTATION_LEAD_SECONDS of the platform).",
        ),
    ] = 0,
    url: Url = _DEFAULT_URL,
    token: Token = "",
    client_id: ClientId = "",
    client_secret: ClientSecret = "",
    client_tenant: ClientTenant = CONTROL_PLANE_TENANT,
    as_json: AsJson = False,
) -> None:
    """Start a rotation of TENANT's signing key (needs key:write): the new key is published
    now and signs after its lead time; the old one stays published until its tokens expired."""
    client = _admin(url, token, client_id, client_secret, client_tenant)
    body = {"alg": alg or None, "lead_seconds": lead_seconds or None}
    key = _call(client, "POST", f"/api/v1/tenants/{tenant}/signing-keys/rotate", json=body)
    _print_keys([key], as_json)


def main() -> None:
    app()


def serve_only(service: str) -> None:
    """Entry point of ``python -m services.<service>``."""
    sys.argv = [sys.argv[0], "serve", service]
    app()
