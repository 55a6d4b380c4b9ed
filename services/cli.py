"""The ``tessera`` command: run services, migrate databases.

``tessera serve`` (all four services in one process) is what ``make run`` calls;
``tessera serve registry`` runs one service, as each Kubernetes Deployment does.
"""

from __future__ import annotations

import asyncio
import sys

import typer
import uvloop
from rich.console import Console

from services.common.dev_secrets import key_material
from services.common.log_config import configure_logging
from services.common.settings import CONTEXTS, SERVICES, Settings, SettingsError, load_settings

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


def main() -> None:
    app()


def serve_only(service: str) -> None:
    """Entry point of ``python -m services.<service>``."""
    sys.argv = [sys.argv[0], "serve", service]
    app()
