"""Every API response the test suite sees, checked against the app's own OpenAPI schema.

`install()` (tests/conftest.py calls it) gives every Starlette/FastAPI `TestClient` a response hook: a response to
`/api/v1/...` must have a status the operation documents, a content type it documents for that status, and a body
that validates against the documented JSON Schema (OpenAPI 3.1: JSON Schema 2020-12, `#/components/schemas/...`
resolved in the document itself). A violation raises in the request that got it, so the test that saw the bad
response fails, naming the method, path, status and what is wrong. There is no opt-out: responses always conform.
Web pages are not checked; neither is a path or method the schema has no operation for (counted as unmatched).
"""

from __future__ import annotations

import functools
import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote
from weakref import WeakKeyDictionary

import httpx
from fastapi import FastAPI
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from jsonschema.protocols import Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from starlette.testclient import TestClient

API_PREFIX = "/api/v1/"
# An answer with a status the operation does not document (a 409 where only 422 is) fails the test. False only
# while routes still lack their `responses=`: the violations are then listed at the end of the run, not raised.
STRICT_STATUS = True
_DOC_URI = "urn:openidds:openapi"
_EMPTY_OK = {204, 304}
_PARAM = re.compile(r"\{[^}/]+\}")


class OpenAPIViolation(AssertionError):
    """A response the app's OpenAPI schema does not allow."""


@dataclass
class Stats:
    validated: int = 0  # responses checked against an operation of the schema
    unmatched: int = 0  # API paths or methods with no operation (404/405 on unknown routes)
    seconds: float = 0.0  # time spent in the hook, building the schema included
    building: float = 0.0  # of which generating the schema (once per distinct app)
    tolerated: list[str] = field(default_factory=list)  # undocumented statuses while STRICT_STATUS is False
    lock: threading.Lock = field(default_factory=threading.Lock)


STATS = Stats()
NOTES: list[str] = []  # more lines for the end of the run (tests/test_schemathesis.py: what it ran)


class Contract:
    """One app's OpenAPI document, its operations in routing order, and compiled body validators."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        # The document lists paths in the app's route order; the first full match wins, as in Starlette.
        self.paths = [
            (re.compile("^" + "[^/]+".join(re.escape(part) for part in _PARAM.split(t)) + "$"), t)
            for t in document.get("paths", {})
        ]
        self.registry: Registry[Any] = Registry().with_resource(_DOC_URI, DRAFT202012.create_resource(document))
        self._validators: dict[tuple[str, str, str, str], Validator] = {}

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]] | None:
        """The documented operation this request is routed to, if any."""
        for pattern, template in self.paths:
            op = self.document["paths"][template].get(method.lower())
            if op is not None and pattern.match(path):
                return template, op
        return None

    def validator(self, template: str, method: str, status_key: str, media: str) -> Validator:
        key = (template, method, status_key, media)
        found = self._validators.get(key)
        if found is None:
            pointer = "/".join(
                p.replace("~", "~0").replace("/", "~1")
                for p in ("", "paths", template, method.lower(), "responses", status_key, "content", media, "schema")
            )
            # A $ref into the whole document, so the schema's own `#/components/...` refs resolve against it.
            schema = {"$ref": f"{_DOC_URI}#{quote(pointer, safe='/~')}"}
            found = Draft202012Validator(
                schema, registry=self.registry, format_checker=Draft202012Validator.FORMAT_CHECKER
            )
            self._validators[key] = found
        return found

    def problem(self, method: str, path: str, response: httpx.Response) -> tuple[str, str | None] | None:
        """None when there is no operation to check against, else (the operation, what breaks its contract)."""
        found = self.operation(method, path)
        if found is None:
            return None
        template, op = found
        where = f"{method} {template}"
        responses: Mapping[str, Any] = op.get("responses", {})
        status = response.status_code
        status_key = next((k for k in (str(status), f"{status // 100}XX", "default") if k in responses), None)
        if status_key is None:
            return where, f"status {status} is not documented (documented: {', '.join(sorted(responses))})"
        content: Mapping[str, Any] = responses[status_key].get("content") or {}
        media = response.headers.get("content-type", "").split(";")[0].strip().lower()
        body = response.content
        if not body:
            if content and status not in _EMPTY_OK and method != "HEAD":
                return where, f"empty body, where the schema documents {', '.join(content)}"
            return where, None
        if not content:
            return where, None  # nothing documented to hold the body to (FastAPI documents JSON for every route)
        if media not in content:
            return where, f"content type {media or '(none)'} is not documented (documented: {', '.join(content)})"
        if media != "application/json" and not media.endswith("+json"):
            return where, None
        try:
            data = json.loads(body)
        except ValueError as exc:
            return where, f"the body is not JSON ({exc})"
        error: ValidationError | None = best_match(
            self.validator(template, method, status_key, media).iter_errors(data)
        )
        if error is None:
            return where, None
        return where, f"the body breaks the documented schema at {error.json_path}: {_short(error.message, 400)}"


_contracts: WeakKeyDictionary[FastAPI, Contract] = WeakKeyDictionary()
_by_routes: dict[tuple[Any, ...], Contract] = {}


def contract_for(app: FastAPI) -> Contract:
    """The app's contract. Each test makes its own app, and the schema takes a second or two to generate, so apps
    built from the same routers (the same route objects and endpoints) share one."""
    found = _contracts.get(app)
    if found is None:
        fingerprint = (
            app.title,
            app.version,
            app.openapi_url,
            *(
                (
                    type(r).__name__,
                    getattr(r, "path", None),
                    # a route outside the schema (openapi.json, the docs) has an endpoint made per app
                    id(getattr(r, "endpoint", None)) if getattr(r, "include_in_schema", True) else None,
                    id(getattr(r, "original_router", None)),  # FastAPI keeps an included router as one route
                )
                for r in app.routes
            ),
        )
        found = _by_routes.get(fingerprint)
        if found is None:
            started = time.perf_counter()
            found = _by_routes[fingerprint] = Contract(app.openapi())
            STATS.building += time.perf_counter() - started
        _contracts[app] = found
    return found


def check_response(app: Any, response: httpx.Response) -> None:
    """The response hook: raises OpenAPIViolation for an API response the schema does not allow."""
    request = response.request
    path = request.url.path
    if not path.startswith(API_PREFIX) or not isinstance(app, FastAPI):
        return
    response.read()  # the app's time (the body arrives from the app here), not the check's
    started = time.perf_counter()
    found = contract_for(app).problem(request.method, path, response)
    with STATS.lock:
        STATS.seconds += time.perf_counter() - started
        if found is None:
            STATS.unmatched += 1
            return
        STATS.validated += 1
    where, problem = found
    if problem is None:
        return
    message = (
        f"{request.method} {path} answered {response.status_code}, which the OpenAPI schema of {where} does not "
        f"allow: {problem}\n  body: {_short(response.text, 600)}"
    )
    if not STRICT_STATUS and problem.startswith("status "):
        with STATS.lock:
            STATS.tolerated.append(message)
        return
    raise OpenAPIViolation(message)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} characters)"


def install() -> None:
    """Hook every TestClient made from now on (fastapi.testclient.TestClient is Starlette's class)."""
    original: Callable[..., None] = TestClient.__init__
    if getattr(original, "openapi_checked", False):
        return

    @functools.wraps(original)
    def __init__(self: TestClient, app: Any, *args: Any, **kwargs: Any) -> None:
        original(self, app, *args, **kwargs)
        hooks = self.event_hooks
        hooks["response"] = [*hooks["response"], functools.partial(check_response, app)]
        self.event_hooks = hooks

    __init__.openapi_checked = True  # type: ignore[attr-defined]
    TestClient.__init__ = __init__  # type: ignore[method-assign]


def summary() -> Iterator[str]:
    """Lines for the end of the test run."""
    yield from NOTES
    if not (STATS.validated or STATS.unmatched):
        return
    yield (
        f"OpenAPI check: {STATS.validated} API responses validated against the schema"
        f" ({STATS.unmatched} to no documented operation): {STATS.seconds * 1000:.0f} ms in the check, of which"
        f" {STATS.building * 1000:.0f} ms generating the schema"
    )
    if STATS.tolerated:
        unique = sorted(set(STATS.tolerated))
        yield f"OpenAPI check: {len(STATS.tolerated)} undocumented statuses tolerated (STRICT_STATUS is False):"
        yield from (f"  {line.splitlines()[0]}" for line in unique)
