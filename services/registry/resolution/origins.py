"""Browser origins allowed to call a tenant's OAuth endpoints (CORS).

TrueParser seed, "Allowed Domain Rules": an app stores up to three normalised domains
(``app.example.com``, ``localhost:3000``), and ARCHITECTURE §2 says they drive CORS. A page's
``Origin`` matches a domain when its host (and port, if the origin names one) equals it, over
https; plain http is accepted only for ``localhost``, as browsers treat it as a secure context.
"""

from __future__ import annotations

from urllib.parse import urlsplit

_DEFAULT_PORTS = {"https": 443, "http": 80}


def domain_of_origin(origin: str) -> str | None:
    """The allowed-domain form of ``origin`` (``https://App.example.com:8443`` →
    ``app.example.com:8443``), or None when no allowed domain could ever match it."""
    if len(origin) > 300 or origin != origin.strip():
        return None
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if (
        parts.scheme not in _DEFAULT_PORTS
        or not host
        or parts.path
        or parts.query
        or parts.fragment
        or parts.username is not None
    ):
        return None
    if parts.scheme == "http" and host != "localhost":
        return None
    if port is None or port == _DEFAULT_PORTS[parts.scheme]:
        return host
    return f"{host}:{port}"


def origin_allowed(origin: str, allowed_domains: set[str]) -> bool:
    domain = domain_of_origin(origin)
    return domain is not None and domain in allowed_domains
