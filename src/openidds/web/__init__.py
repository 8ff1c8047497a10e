"""The web app for the care team and for patients: server-rendered pages (Jinja2, htmx) served at `/` by the
same FastAPI app as the API (`/api/v1`). Another thin adapter over the same use cases: it decides nothing itself.

Every file it needs is in this package (templates/, static/ with the vendored htmx): no CDN, so it works offline.
"""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from openidds.web.session import SECURITY_HEADERS, LoginNeeded, WebError, is_htmx, login_redirect, render


def mount_web(app: FastAPI) -> None:
    """Add the pages, their static files and their error pages to the service's app."""
    from openidds.web import (
        admin,
        calendar,
        clinic_settings,
        feeds,
        notifications,
        pages,
        patient,
        planner,
        printing,
        programming,
        refill,
        workflows,
    )

    app.include_router(pages.router)
    app.include_router(workflows.router)
    app.include_router(programming.router)
    app.include_router(refill.router)
    app.include_router(patient.router)
    app.include_router(admin.router)
    app.include_router(calendar.router)
    app.include_router(planner.router)
    app.include_router(clinic_settings.router)
    app.include_router(printing.router)
    app.include_router(notifications.router)
    app.include_router(feeds.router)
    static = resources.files("openidds.web").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.exception_handler(LoginNeeded)
    def _login(request: Request, exc: LoginNeeded) -> Response:
        return login_redirect(request)

    @app.exception_handler(WebError)
    def _refused(request: Request, exc: WebError) -> Response:
        if is_htmx(request):  # a fragment for the page's alert region (base.html lets htmx swap 4xx answers)
            html = render(request, "_error.html", exc.status, error=exc)
            html.headers["HX-Retarget"] = "#page-error"
            html.headers["HX-Reswap"] = "innerHTML"
            return html
        return render(request, "error.html", exc.status, error=exc)

    @app.exception_handler(HTTPException)
    async def _no_route(request: Request, exc: HTTPException) -> Response:
        # An address that matches no page (a typo, an old bookmark) is the site's own "Not found" page, with its
        # title, language and way back, not the API's JSON; the API and the static files answer as before.
        path = request.url.path
        if path.startswith("/api/"):  # the API's one error model
            from openidds.api.errors import error_response

            words = {404: "no such address in the API", 405: "this address does not take that method"}
            message = words.get(exc.status_code, str(exc.detail))
            return error_response(exc.status_code, message, headers=getattr(exc, "headers", None))
        if exc.status_code != 404 or path.startswith("/static/"):
            return await http_exception_handler(request, exc)
        return _refused(request, WebError(404, "no such page"))


__all__ = ["SECURITY_HEADERS", "mount_web"]
