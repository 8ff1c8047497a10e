"""One error answer for every refusal of the API (4xx and 503): `{"field": …, "message": …}`, with the same words
in `detail` for clients written against earlier answers. The OpenAPI schema documents it for every status a route
can answer, so a client reads one shape whatever went wrong."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field


class FieldProblem(BaseModel):
    field: str = Field(description="the field, as the request names it (e.g. `doses.0.nrs`)")
    message: str = Field(description="what is wrong with it, in words")


class ErrorOut(BaseModel):
    """Why a request was refused; nothing was written."""

    field: str | None = Field(description="the field the refusal is about, or null when it is about no one field")
    message: str = Field(description="what went wrong and what to do, in words")
    detail: str = Field(description="the same words as `message` (kept for earlier clients)")
    codes: list[str] = Field(default_factory=list, description="the codes of the findings the refusal is about")
    errors: list[FieldProblem] = Field(
        default_factory=list, description="every field found wrong, when there is more than one"
    )


def error_body(
    message: str,
    field: str | None = None,
    codes: tuple[str, ...] | list[str] = (),
    errors: list[FieldProblem] | None = None,
) -> dict[str, Any]:
    return ErrorOut(field=field, message=message, detail=message, codes=list(codes), errors=errors or []).model_dump(
        mode="json"
    )


def error_response(
    status: int,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    codes: tuple[str, ...] | list[str] = (),
    errors: list[FieldProblem] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(message, field, codes, errors), status_code=status, headers=headers)


_WHY = {
    401: "not logged in, or the token is unknown, expired or revoked",
    403: "logged in, but this role may not do this (or a second person must)",
    404: "no such record, or one this user may not see",
    409: "conflicts with the record as it is now (changed meanwhile, out of order, a duplicate)",
    413: "the request body is larger than 1 MiB: nothing was read or saved",
    422: "bad input: the field named, in words; nothing was saved",
    429: "too many failed logins: wait for the time in Retry-After",
    503: "the database is busy: nothing was saved; try again after Retry-After",
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error answers a route can give, each with the one error model, for `responses=` in a route or router."""
    return {status: {"model": ErrorOut, "description": _WHY[status]} for status in statuses}


# What every route behind a login can answer (a route adds 409/429 where it can give them).
AUTHENTICATED = responses(401, 403, 404, 413, 422, 503)
