"""The clinic service's HTTP API (FastAPI). `create_app()` wires the database, the clock and the errors."""

from __future__ import annotations

import gc
import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from openidds import display
from openidds.api.docs import ApiHeaders, mount_docs
from openidds.api.errors import ErrorOut, FieldProblem, error_response
from openidds.api.routers import router
from openidds.api.slots import BUSY, DatabaseSlots, slots_for
from openidds.data import load_catalog, load_library
from openidds.db import make_engine, migrate, sessions, writers
from openidds.errors import InputError
from openidds.service.errors import ServiceError

API_VERSION = "1"
MAX_LISTED = 20  # the problems a 422 lists in `errors`
INTERNAL = "an internal error of the service: reload the record to see whether it was saved before trying again"


def utc_now() -> datetime:
    return datetime.now(UTC)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """At server start: what the process loads once and keeps (the app, drug library, device catalog) is put out of
    the cyclic collector's way, so a collection walks only what requests made since (a dashboard read makes
    thousands of rows; benchmarks/dashboard.py)."""
    load_library(), load_catalog()
    gc.collect()
    gc.freeze()
    yield


def create_app(
    engine: Engine | None = None, clock: Callable[[], datetime] = utc_now, migrate_db: bool = True
) -> FastAPI:
    engine = engine or make_engine()
    if migrate_db:
        migrate(engine)
    app = FastAPI(
        title="OpenIDDS clinic service",
        version=API_VERSION,
        description="Intrathecal drug-delivery therapy: the care pathway, pump twins, roles and audit. "
        "Not a certified medical device.",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,  # FastAPI's docs pages load from a CDN: api/docs.py serves vendored ones
        redoc_url=None,
        lifespan=_lifespan,
        # Any route can fail unexpectedly: its 500 is answered in the one error model too (the handler below).
        responses={
            500: {"model": ErrorOut, "description": "an internal error (a fault of the service, not of the request)"}
        },
    )
    app.state.engine = engine
    app.state.sessions = sessions(engine)
    app.state.writers = writers(engine)
    app.state.clock = clock
    app.include_router(router)

    # The web app (pages at /, static files at /static): another adapter over the same use cases.
    from openidds.web import mount_web

    mount_web(app)
    mount_docs(app)
    app.add_middleware(DatabaseSlots, size=slots_for(engine))
    app.add_middleware(ApiHeaders)  # outside the slots: their 413 and 503 are no-store too

    # A refusal's `detail` is for people: its field in words (display.message); `field` keeps the code.
    @app.exception_handler(InputError)
    def _input(_: Request, exc: InputError) -> JSONResponse:
        return error_response(422, display.message(exc), field=exc.field or None, codes=exc.codes)

    @app.exception_handler(RequestValidationError)
    def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        found = exc.errors()
        # The first few only: a body of 50,000 unknown keys (under the 1 MiB limit) was answered with all 50,000.
        problems = [_problem(e) for e in found[:MAX_LISTED]]
        first = problems[0]
        words = display.message(InputError(first.field, first.message))
        if len(found) > MAX_LISTED:
            more = len(found) - MAX_LISTED
            words += f" (and {more:,} more problem{'s' if more > 1 else ''}: the first {MAX_LISTED} are listed)"
        return error_response(422, words, field=first.field, errors=problems)

    @app.exception_handler(ServiceError)
    def _service(_: Request, exc: ServiceError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return error_response(exc.status, exc.message, field=exc.field, headers=headers)

    @app.exception_handler(StaleDataError)
    def _stale(_: Request, exc: StaleDataError) -> JSONResponse:
        return error_response(409, "the record changed while you were editing it: reload and try again")

    @app.exception_handler(IntegrityError)
    def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        return error_response(
            409, "that conflicts with a record already there (a duplicate, or written at the same time)"
        )

    def busy(request: Request) -> Response:
        if request.url.path.startswith("/api/"):
            return error_response(503, BUSY, headers={"Retry-After": "5"})
        from openidds.web.session import WebError  # a page (or htmx fragment) like any other refusal

        page = app.exception_handlers[WebError](request, WebError(503, BUSY))
        assert isinstance(page, Response)  # the web's handler is synchronous
        page.headers["Retry-After"] = "5"
        return page

    @app.exception_handler(PoolTimeout)
    def _pool(request: Request, exc: PoolTimeout) -> Response:
        return busy(request)

    @app.exception_handler(OperationalError)
    def _operational(request: Request, exc: OperationalError) -> Response:
        # SQLite's write lock held past its timeout is a busy server, not a fault; anything else is re-raised.
        if "database is locked" in str(exc.orig):
            return busy(request)
        raise exc

    # FastAPI answers a JSON body it cannot read (not UTF-8 text, or nested so deep that Python's json parser runs
    # out of stack) with a bare, undocumented 400 "There was an error parsing the body" (a Starlette HTTPException,
    # the web's handler's class): it is bad input like any other, a 422 on `body`; every other HTTPException as
    # before. (Here rather than in the web's handler, web/__init__.py _no_route, beside the UTF-8 case it joins.)
    answer_http = app.exception_handlers.get(StarletteHTTPException, http_exception_handler)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/api/") and exc.status_code == 400:
            cause = exc.__cause__
            why = (
                "it is not UTF-8 text"
                if isinstance(cause, UnicodeDecodeError)
                else "it is nested too deeply: a few levels of objects and lists are all the API reads"
                if isinstance(cause, RecursionError)
                else "it could not be read"
            )
            problem = FieldProblem(field="body", message=f"is not valid JSON ({why})")
            words = display.message(InputError(problem.field, problem.message))
            return error_response(422, words, field=problem.field, errors=[problem])
        answer = answer_http(request, exc)
        return await answer if inspect.isawaitable(answer) else answer

    @app.exception_handler(Exception)
    def _unexpected(request: Request, exc: Exception) -> Response:
        # Starlette still re-raises it after this answer, so the server logs the traceback; the client gets no trace.
        if request.url.path.startswith("/api/"):
            return error_response(500, INTERNAL)
        return PlainTextResponse("Internal Server Error", status_code=500)

    return app


def _problem(error: Any) -> FieldProblem:
    """One of pydantic's findings as the field in the request's words and what is wrong with it."""
    loc = tuple(error["loc"])
    kind = error["type"]
    if kind == "json_invalid":  # loc is ("body", character offset): the body as a whole is unreadable
        where = loc[1] if len(loc) > 1 else 0
        why = str(error.get("ctx", {}).get("error", "")).strip()
        return FieldProblem(field="body", message=f"is not valid JSON (at character {where}{': ' if why else ''}{why})")
    # Pydantic's own steps (a validator's `function-after[...]`) are not fields the client sent.
    skip = ("body", "query", "path", "header")
    field = ".".join(str(p) for p in loc if p not in skip and not str(p).startswith("function-"))
    if not field:  # about the whole body: missing, or not an object
        if kind == "missing":
            return FieldProblem(field="body", message="is missing: send a JSON object")
        return FieldProblem(field="body", message=f"must be a JSON object ({error['msg']})")
    said = "missing (required)" if kind == "missing" else str(error["msg"]).removeprefix("Value error, ")
    return FieldProblem(field=field, message=said[:1].lower() + said[1:])
