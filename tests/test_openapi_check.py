"""The suite-wide OpenAPI response check (tests/openapi_check.py), on a small app whose schema is known by hand, and
the service's answer to an unexpected fault (500 in the one error model, which the check then accepts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.testclient import TestClient
from pydantic import BaseModel

from openidds.api import app as api_app
from openidds.api.routers import auth as auth_router
from openidds.db import make_engine
from tests import openapi_check
from tests.openapi_check import OpenAPIViolation


class Thing(BaseModel):
    id: int
    name: str


class Problem(BaseModel):
    message: str


def small_app() -> FastAPI:
    app = FastAPI(openapi_url="/api/v1/openapi.json")
    missing: dict[int | str, dict[str, Any]] = {404: {"model": Problem}}

    @app.get("/api/v1/things/special", response_model=Thing)
    def special() -> Any:
        return JSONResponse({"id": 0, "name": "special"})

    @app.get("/api/v1/things/{thing_id}", response_model=Thing, responses=missing)
    def one(thing_id: int) -> Any:
        if thing_id == 404:
            return JSONResponse({"message": "no such thing"}, status_code=404)
        if thing_id == 409:
            return JSONResponse({"message": "conflict"}, status_code=409)
        if thing_id == 7:
            return JSONResponse({"id": "seven", "name": "x"})  # past the response model, as a careless route might
        if thing_id == 8:
            return PlainTextResponse("id=8")
        return JSONResponse({"id": thing_id, "name": "ok"})

    @app.get("/api/v1/things", response_model=list[Thing])
    def many() -> Any:
        return JSONResponse([{"id": 1, "name": "a"}, {"id": 2, "name": None}])

    @app.get("/api/v1/anything")
    def anything() -> Any:
        return {"whatever": [1, "two"]}

    @app.get("/page")
    def page() -> Any:
        return PlainTextResponse("a web page", status_code=418)

    return app


@pytest.fixture
def client() -> TestClient:
    return TestClient(small_app())  # hooked: tests/conftest.py installed the check


def test_a_conforming_answer_passes_and_is_counted(client: TestClient) -> None:
    before = openapi_check.STATS.validated
    r = client.get("/api/v1/things/5")
    assert r.json() == {"id": 5, "name": "ok"}
    assert client.get("/api/v1/things/404").status_code == 404  # documented, and the body is a Problem
    assert openapi_check.STATS.validated == before + 2


def test_a_body_that_breaks_the_schema_fails_the_request_that_got_it(client: TestClient) -> None:
    with pytest.raises(OpenAPIViolation) as caught:
        client.get("/api/v1/things/7")
    first = str(caught.value).splitlines()[0]
    assert first.startswith(
        "GET /api/v1/things/7 answered 200, which the OpenAPI schema of GET /api/v1/things/{thing_id} does not allow:"
    )
    assert "at $.id: 'seven' is not of type 'integer'" in first
    assert '"id":"seven"' in str(caught.value)  # the body, to see what came back


def test_a_component_reached_through_a_ref_is_checked_item_by_item(client: TestClient) -> None:
    with pytest.raises(OpenAPIViolation, match=r"at \$\[1\]\.name: None is not of type 'string'"):
        client.get("/api/v1/things")


def test_an_undocumented_status_fails(client: TestClient) -> None:
    with pytest.raises(OpenAPIViolation, match=r"status 409 is not documented \(documented: 200, 404, 422\)"):
        client.get("/api/v1/things/409")


def test_an_undocumented_status_is_listed_not_raised_while_strictness_is_off(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(openapi_check, "STRICT_STATUS", False)
    monkeypatch.setattr(openapi_check.STATS, "tolerated", [])
    assert client.get("/api/v1/things/409").status_code == 409
    lines = list(openapi_check.summary())
    at = lines.index("OpenAPI check: 1 undocumented statuses tolerated (STRICT_STATUS is False):")
    assert lines[at + 1].startswith("  GET /api/v1/things/409 answered 409")


def test_a_content_type_the_operation_does_not_document_fails(client: TestClient) -> None:
    with pytest.raises(OpenAPIViolation, match="content type text/plain is not documented"):
        client.get("/api/v1/things/8")


def test_the_first_matching_route_is_the_operation_checked(client: TestClient) -> None:
    # /things/special would be a 422 for /things/{thing_id} (not an int): it is its own operation, declared first.
    assert client.get("/api/v1/things/special").json() == {"id": 0, "name": "special"}


def test_an_operation_documenting_no_body_schema_takes_any_json(client: TestClient) -> None:
    assert client.get("/api/v1/anything").json() == {"whatever": [1, "two"]}


def test_web_pages_and_unknown_api_paths_are_not_checked(client: TestClient) -> None:
    before = (openapi_check.STATS.validated, openapi_check.STATS.unmatched)
    assert client.get("/page").status_code == 418
    assert client.get("/api/v1/nowhere").status_code == 404
    assert (openapi_check.STATS.validated, openapi_check.STATS.unmatched) == (before[0], before[1] + 1)


def test_an_unexpected_fault_answers_500_in_the_error_model_without_a_trace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> str:
        raise RuntimeError("secret detail from deep inside")

    monkeypatch.setattr(auth_router, "matrix_markdown", broken)
    app = api_app.create_app(make_engine(f"sqlite:///{tmp_path / 'fault.sqlite3'}"))
    r = TestClient(app, raise_server_exceptions=False).get("/api/v1/roles")  # the check accepts it: 500 is documented
    assert r.status_code == 500
    assert r.json() == {
        "field": None,
        "message": api_app.INTERNAL,
        "detail": api_app.INTERNAL,
        "codes": [],
        "errors": [],
    }
    assert "secret" not in r.text


def test_a_body_that_is_not_utf8_is_a_422_on_body_not_fastapis_400(tmp_path: Path) -> None:
    app = api_app.create_app(make_engine(f"sqlite:///{tmp_path / 'utf8.sqlite3'}"))
    r = TestClient(app).post(
        "/api/v1/auth/login", content=b'{"username": "\xff"}', headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422  # and the check accepted it: 422 is documented, the body is the error model
    assert r.json()["field"] == "body"
    assert r.json()["errors"] == [{"field": "body", "message": "is not valid JSON (it is not UTF-8 text)"}]


def test_other_http_errors_keep_their_answers(tmp_path: Path) -> None:
    client = TestClient(api_app.create_app(make_engine(f"sqlite:///{tmp_path / 'http.sqlite3'}")))
    assert client.get("/api/v1/nowhere").json()["message"] == "no such address in the API"
    assert client.delete("/api/v1/roles").status_code == 405
    page = client.get("/no-such-page")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
