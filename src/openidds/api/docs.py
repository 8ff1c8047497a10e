"""The API's interactive docs at /api/v1/docs, and the headers every API answer carries.

Swagger UI is served from files vendored in this package (static/swagger-ui, see its VERSION), never from a CDN: the
docs work offline, and no script from another host runs on the origin of the cookie-authenticated web app. The page
starts Swagger UI from its own file (static/docs-init.js), so its Content-Security-Policy allows no inline script.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openidds.web.session import SECURITY_HEADERS

DOCS_PATH = "/api/v1/docs"
STATIC_PATH = "/api/v1/docs/static"
STATIC_DIR = Path(__file__).resolve().parent / "static"
SWAGGER_UI_VERSION = "5.36.0"  # static/swagger-ui/VERSION; in the asset URLs so an update is never served stale

# The web app's policy plus what Swagger UI needs: `connect-src 'self'` for the schema and "Try it out". Its
# inline styles are set through the DOM (element.style), which `style-src 'self'` allows.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
DOCS_HEADERS = {**SECURITY_HEADERS, "Content-Security-Policy": CSP}


def docs_page(title: str, openapi_url: str) -> str:
    asset = f"{STATIC_PATH}/swagger-ui/{{}}?v={SWAGGER_UI_VERSION}"
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}: API docs</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{asset.format("swagger-ui.css")}">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{escape(openapi_url)}"></div>
<script src="{asset.format("swagger-ui-bundle.js")}"></script>
<script src="{STATIC_PATH}/docs-init.js?v={SWAGGER_UI_VERSION}"></script>
</body>
</html>
"""


def mount_docs(app: FastAPI) -> None:
    """The docs page and its assets. Create the app with `docs_url=None, redoc_url=None`: FastAPI's own pages load
    Swagger UI and ReDoc from a CDN."""
    assert app.openapi_url is not None
    page = docs_page(app.title, app.openapi_url)
    app.mount(STATIC_PATH, StaticFiles(directory=str(STATIC_DIR)), name="api-docs-static")

    @app.get(DOCS_PATH, include_in_schema=False)
    def _docs() -> HTMLResponse:
        return HTMLResponse(page, headers=DOCS_HEADERS)


class ApiHeaders:
    """ASGI middleware: every answer under /api/ says `X-Content-Type-Options: nosniff`, and all but the docs' static
    assets `Cache-Control: no-store`: API answers carry health records (errors too name patients and values), so no
    browser or proxy cache keeps them. `no-store` alone is enough: HTTP/1.1 caches obey it, and `Pragma` is defined
    for requests only (RFC 9111 §5.4), so adding `Pragma: no-cache` would protect nothing more.

    Add it after DatabaseSlots, so it wraps the 413 and 503 that gives too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or not path.startswith("/api/"):
            await self.app(scope, receive, send)
            return
        store = path.startswith(STATIC_PATH + "/")  # vendored files, the same for everyone

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])  # optional in ASGI
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                if not store:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
