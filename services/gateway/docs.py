"""The interactive API documentation, served from the gateway itself.

Swagger UI's assets come from a pinned package (``fastapi-swagger``) instead of a third-party
CDN, and the page carries a Content-Security-Policy that allows scripts and styles from the
gateway only (no inline script: the start-up code is a file of ours).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, Response

router = APIRouter(include_in_schema=False)

DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'"
)
_STATIC = Path(__file__).parent / "static"
_SWAGGER = Path(str(resources.files("fastapi_swagger") / "resources"))
_ASSETS: dict[str, tuple[Path, str]] = {
    "swagger-ui-bundle.js": (_SWAGGER / "swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": (_SWAGGER / "swagger-ui.css", "text/css"),
    "favicon-32x32.png": (_SWAGGER / "favicon-32x32.png", "image/png"),
    "docs-init.js": (_STATIC / "docs-init.js", "text/javascript"),
}


@router.get("/docs")
async def docs_page() -> Response:
    return HTMLResponse(
        (_STATIC / "docs.html").read_text(encoding="utf-8"),
        headers={"Content-Security-Policy": DOCS_CSP, "Cache-Control": "no-cache"},
    )


@router.get("/docs/assets/{name}")
async def docs_asset(name: str) -> Response:
    found = _ASSETS.get(name)
    if found is None:
        return Response(status_code=404)
    path, media_type = found
    return FileResponse(
        path,
        media_type=media_type,
        headers={"Content-Security-Policy": DOCS_CSP, "Cache-Control": "public, max-age=86400"},
    )
