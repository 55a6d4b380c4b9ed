"""The issuance rules of the token endpoint, in one place (ARCHITECTURE §3; TrueParser seed
"Creation Workflow"; RFC 6749 §3.3, RFC 8707): which app a token is for, whether that app may
get tokens now, which scopes and which audience it carries. The client is already
authenticated (services.token.domain.authentication)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from services.common import oauth_errors as oauth
from services.token.domain.snapshots import AppGrant, ClientSnapshot


@dataclass(frozen=True)
class Grant:
    """What one token is issued for."""

    app: AppGrant
    scopes: tuple[str, ...]
    audience: str | list[str]


def choose_app(client: ClientSnapshot, requested: str) -> AppGrant:
    """The app named by ``requested`` (slug or id) among the client's, or its only app."""
    if requested:
        match = next((a for a in client.apps if requested in (a.slug, a.id)), None)
        if match is None:
            raise oauth.invalid_request(
                "APP_NOT_SERVED", f"This client does not serve an app {requested!r}."
            )
        return match
    if len(client.apps) == 1:
        return client.apps[0]
    if not client.apps:
        raise oauth.unauthorized_client("CLIENT_HAS_NO_APP", "This client serves no app.")
    raise oauth.invalid_request(
        "APP_REQUIRED", "This client serves several apps; name one with the 'app' parameter."
    )


def ensure_issuable(app: AppGrant) -> None:
    """A disabled app gets no tokens; neither does an app on a retired plan (TrueParser seed:
    retiring a plan blocks issuance for the apps on it)."""
    if not app.enabled:
        raise oauth.unauthorized_client(
            "APP_DISABLED", f"App {app.slug!r} is disabled; it gets no tokens."
        )
    if app.plan_retired:
        raise oauth.unauthorized_client(
            "PLAN_RETIRED",
            f"App {app.slug!r} is on a retired plan, so token issuance is blocked; assign an "
            "active plan or remove the plan.",
        )


def requested_scopes(scope: str, client: ClientSnapshot, app: AppGrant) -> tuple[str, ...]:
    """RFC 6749 §3.3: the client may request its tenant-wide scopes and those of this app; an
    unknown scope is refused (invalid_scope), never silently dropped."""
    allowed = {name for name, app_id in client.scopes if app_id in (None, app.id)}
    requested = [s for s in scope.split(" ") if s]
    unknown = [s for s in requested if s not in allowed]
    if unknown:
        raise oauth.invalid_scope(
            f"The client may not request the scope(s) {' '.join(unknown)!r}; "
            "ask an administrator to allow them on the client."
        )
    return tuple(dict.fromkeys(requested))


def audience(resources: tuple[str, ...], app: AppGrant, app_audience: str) -> str | list[str]:
    """RFC 8707 resource indicators narrow the audience to the app itself or its resource
    servers; without one the audience is the issuer-qualified app."""
    if not resources:
        return app_audience
    allowed = {app_audience, *app.audiences}
    unknown = [r for r in resources if r not in allowed]
    if unknown:
        raise oauth.invalid_target(
            f"The resource(s) {', '.join(unknown)} are not served by app {app.slug!r}.",
        )
    return resources[0] if len(resources) == 1 else list(resources)


def decide(
    client: ClientSnapshot,
    grant_type: str,
    app_ref: str,
    scope: str,
    resources: tuple[str, ...],
    app_audience: Callable[[AppGrant], str],
) -> Grant:
    """Every rule after authentication, in the order a client hears about them.
    ``app_audience`` gives an app's default audience (issuer-qualified, ARCHITECTURE §3)."""
    if grant_type not in client.grant_types:
        raise oauth.unauthorized_client(
            "GRANT_TYPE_NOT_ALLOWED", f"This client may not use the {grant_type} grant."
        )
    app = choose_app(client, app_ref)
    ensure_issuable(app)
    scopes = requested_scopes(scope, client, app)
    return Grant(app=app, scopes=scopes, audience=audience(resources, app, app_audience(app)))
