"""The API's docs offline and its answers never cached (issue 11).

/api/v1/docs is Swagger UI from files vendored in the package (src/openidds/api/static/swagger-ui), started by our
own script under a CSP that refuses inline scripts and every other host; FastAPI's CDN pages are gone. Every answer
under /api/ (errors included) is `Cache-Control: no-store`, but the docs' static assets. The browser half (the page
really renders offline, no CSP violation) is tests/test_browser.py::test_the_api_docs_load_offline_under_their_csp.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from openidds.api.docs import ApiHeaders
from openidds.api.slots import DatabaseSlots
from tests.api_support import Clinic, fast_argon2, implanted_patient, patient_body
from tests.clinic_db import clinic_fixture

# Written out by hand (not read from the code): what the docs page must say.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
# sha256 of the files in the npm tarball swagger-ui-dist-5.36.0.tgz (package/…), computed when they were vendored.
VENDORED = {
    "swagger-ui/swagger-ui-bundle.js": "b164c5a22535e40dae08c00271674a67e437ec195098c55fcedf8ffac7ac3c88",
    "swagger-ui/swagger-ui.css": "7eb9f5a125e4bc9b3f0b71869b66d1a3d7c501f972f53d44ef91c2ae6c5bda5e",
}
STATIC = Path(__file__).resolve().parent.parent / "src" / "openidds" / "api" / "static"


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_argon2(monkeypatch)


@pytest.fixture
def clinic(tmp_path: Path) -> Iterator[Clinic]:
    """SQLite only: the headers are the HTTP layer's, the same whatever the database."""
    yield from clinic_fixture("sqlite", tmp_path)


def _references(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)="([^"]*)\"""", html)


def test_the_docs_page_loads_only_vendored_files_under_a_strict_csp(clinic: Clinic) -> None:
    r = clinic.client.get("/api/v1/docs")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["content-security-policy"] == CSP
    assert (r.headers["x-frame-options"], r.headers["x-content-type-options"]) == ("DENY", "nosniff")
    assert (r.headers["referrer-policy"], r.headers["cache-control"]) == ("same-origin", "no-store")
    html = r.text
    assert "http://" not in html and "https://" not in html and "//" not in html.replace("<!doctype", "")
    assert _references(html) == [
        "data:,",  # no favicon request
        "/api/v1/docs/static/swagger-ui/swagger-ui.css?v=5.36.0",
        "/api/v1/docs/static/swagger-ui/swagger-ui-bundle.js?v=5.36.0",
        "/api/v1/docs/static/docs-init.js?v=5.36.0",
    ]
    # no inline script: every <script> has a src (the CSP would refuse one anyway)
    assert html.count("<script") == html.count("<script src=") == 2
    assert 'data-openapi-url="/api/v1/openapi.json"' in html


def test_the_docs_assets_are_served_unchanged_with_their_types(clinic: Clinic) -> None:
    types = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
    for path in [*VENDORED, "docs-init.js"]:
        r = clinic.client.get(f"/api/v1/docs/static/{path}?v=5.36.0")
        assert r.status_code == 200, path
        assert r.headers["content-type"] == types[Path(path).suffix], path
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "cache-control" not in r.headers  # the same files for everyone: a browser may keep them
        assert r.content == (STATIC / path).read_bytes()
    for path, digest in VENDORED.items():
        assert hashlib.sha256((STATIC / path).read_bytes()).hexdigest() == digest, f"{path} is not npm's file"
    for name in ("LICENSE", "NOTICE", "VERSION", "swagger-ui-bundle.js.LICENSE.txt"):
        assert (STATIC / "swagger-ui" / name).stat().st_size > 0, name
    assert "5.36.0" in (STATIC / "swagger-ui" / "VERSION").read_text()


def test_swagger_ui_is_started_without_the_online_validator_or_a_stored_token() -> None:
    init = (STATIC / "docs-init.js").read_text()
    assert "validatorUrl: null," in init  # Swagger UI's default sends the schema to validator.swagger.io
    assert "persistAuthorization: false," in init
    assert "http://" not in init and "https://" not in init


def test_fastapis_cdn_pages_are_gone(clinic: Clinic) -> None:
    # FastAPI's own /redoc and /docs pages load their scripts from cdn.jsdelivr.net
    for path in ("/redoc", "/docs", "/api/v1/redoc", "/api/v1/docs/oauth2-redirect"):
        r = clinic.client.get(path)
        assert r.status_code == 404, path
        assert "cdn.jsdelivr.net" not in r.text, path
    schema = clinic.client.get("/api/v1/openapi.json").json()
    assert "/api/v1/docs" not in schema["paths"]  # the page is no API operation


def _path_for(template: str, pid: int) -> str:
    values = {"patient_id": str(pid), "kind": "follow-ups"}
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "1"), template)


def test_every_api_answer_is_no_store_errors_included(clinic: Clinic) -> None:
    """Every operation of the API (from its OpenAPI schema), as a physician on an implanted patient (bodies empty:
    a 422 or a refusal is an answer too); then the errors that come from elsewhere than a route."""
    pid = implanted_patient(clinic, "NS-1")
    headers = clinic.as_("ada")
    paths: dict[str, dict[str, Any]] = clinic.client.get("/api/v1/openapi.json").json()["paths"]
    operations = sorted((path, method.upper()) for path, methods in paths.items() for method in methods)
    operations.sort(key=lambda op: op[0] == "/api/v1/auth/logout")  # last: it revokes the token
    seen: dict[int, int] = {}
    for template, method in operations:
        body: Any = {} if method in ("POST", "PATCH", "PUT") else None
        r = clinic.client.request(method, _path_for(template, pid), headers=headers, json=body)
        assert r.status_code < 500, (method, template, r.text)
        assert r.headers.get("cache-control") == "no-store", (method, template, r.status_code)
        assert r.headers.get("x-content-type-options") == "nosniff", (method, template)
        seen[r.status_code] = seen.get(r.status_code, 0) + 1
    assert len(operations) >= 40  # 50 operations today: the loop really walked the API
    # patient records read, and refusals: an empty body writes nothing (an empty follow-up or interrogation is a 422)
    assert {200, 404, 422} <= set(seen) and 201 not in seen, seen

    c = clinic.client
    duplicate = c.post("/api/v1/patients", headers=clinic.as_("nora"), json=patient_body("NS-1"))
    answers = {
        "records read": c.get(f"/api/v1/patients/{pid}", headers=clinic.as_("nora")),
        "401 no token": c.get(f"/api/v1/patients/{pid}"),
        "403 role": c.get("/api/v1/audit", headers=clinic.as_("nora")),
        "404 no route": c.get("/api/v1/no-such-thing"),
        "405 method": c.delete("/api/v1/patients"),
        "409 duplicate": duplicate,
        "413 too large (DatabaseSlots)": c.post("/api/v1/patients", content=b"x" * 1_048_577),
        "422 syntax": c.post(
            "/api/v1/patients", headers={**clinic.as_("nora"), "Content-Type": "application/json"}, content=b"{"
        ),
        "schema": c.get("/api/v1/openapi.json"),
    }
    statuses = {name: r.status_code for name, r in answers.items()}
    assert statuses == {
        "records read": 200,
        "401 no token": 401,
        "403 role": 403,
        "404 no route": 404,
        "405 method": 405,
        "409 duplicate": 409,
        "413 too large (DatabaseSlots)": 413,
        "422 syntax": 422,
        "schema": 200,
    }
    assert {name: r.headers.get("cache-control") for name, r in answers.items()} == dict.fromkeys(answers, "no-store")
    # the web app's pages keep their own headers (no-store too), and its static files stay cacheable
    assert "cache-control" not in c.get("/static/openidds.css").headers


async def _plain(scope: Scope, receive: Receive, send: Send) -> None:
    """An ASGI answer that sends no headers at all (allowed by ASGI) and one that says it may be cached."""
    if scope["path"].endswith("/bare"):
        await send({"type": "http.response.start", "status": 200})
    else:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"cache-control", b"max-age=3600")]})
    await send({"type": "http.response.body", "body": b"{}"})


def test_the_middleware_sets_no_store_on_any_answer_under_the_api() -> None:
    client = TestClient(ApiHeaders(_plain))
    assert client.get("/api/v1/bare").headers["cache-control"] == "no-store"
    assert client.get("/api/v1/cached").headers.get_list("cache-control") == ["no-store"]  # replaced, not added to
    assert client.get("/static/x.css").headers["cache-control"] == "max-age=3600"  # not the API: left as it was
    assert client.get("/api/v1/docs/static/x.js").headers["cache-control"] == "max-age=3600"


def test_the_busy_503_of_the_database_slots_is_no_store_too() -> None:
    slots = DatabaseSlots(_plain, size=1, wait_seconds=0.05)
    app = ApiHeaders(slots)  # as create_app stacks them: the headers outside the slots
    answers: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        answers.append(message)

    async def call() -> None:
        slots._slots[asyncio.get_running_loop()] = asyncio.Semaphore(0)  # every slot taken
        scope = {"type": "http", "method": "GET", "path": "/api/v1/patients", "headers": [], "query_string": b""}
        await app(scope, receive, send)

    asyncio.run(call())
    start = answers[0]
    assert start["status"] == 503
    assert (dict(start["headers"])[b"cache-control"], dict(start["headers"])[b"retry-after"]) == (b"no-store", b"5")
