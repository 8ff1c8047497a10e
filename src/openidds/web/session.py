"""The web app's plumbing: the session cookie, CSRF tokens, one transaction per use case, and rendering.

Session: the cookie holds the same revocable, expiring token the API hands out (`service.auth.log_in`), so a
web login is one row in `tokens`, logging out revokes it, and every page acts as that user under the same role
checks as the API. The cookie is HttpOnly, SameSite=Lax, and Secure when the request came over https.

CSRF: every POST carries a token, in the form field `csrf_token` or the `X-CSRF-Token` header (htmx). Logged in,
the token is an HMAC of the session token (a secret the attacker cannot read), so nothing more is stored. The
login form, before any session exists, uses a double-submit cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError
from starlette.datastructures import FormData

from openidds import display
from openidds.db.models import User
from openidds.errors import InputError
from openidds.service import idempotency
from openidds.service.access import actor_name
from openidds.service.auth import CosignRefused, record_cosign_failure, user_for_token
from openidds.service.errors import NotFound, ServiceError, Unauthorized
from openidds.web import charts
from openidds.web import format as fmt

SESSION_COOKIE = "idds_session"
LOGIN_CSRF_COOKIE = "idds_login_csrf"
CSRF_FIELD = "csrf_token"
FORM_TOKEN_FIELD = "form_token"  # one per rendered page: the form it is in is done once (service.idempotency)
CSRF_HEADER = "X-CSRF-Token"
# No inline script or style anywhere: the policy forbids both, so injected markup cannot run.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",  # pages hold health records: not kept in shared caches or the back button
}

templates = Environment(
    loader=PackageLoader("openidds.web", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,  # a misspelt name fails the tests instead of rendering blank
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters.update(fmt.FILTERS)
templates.filters["svg"] = charts.render


class WebError(Exception):
    """A refusal shown as a page (or an htmx fragment) with its HTTP status. `message` is what the page shows (a
    refused field named in words, `display.message`); `said`, the refusal without its field; `field`, the code."""

    def __init__(
        self, status: int, message: str, field: str | None = None, said: str | None = None, retry_after: int = 0
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field
        self.said = message if said is None else said
        self.retry_after = retry_after  # a throttled co-sign: seconds to wait (the Retry-After header)


class LoginNeeded(Exception):
    """No valid session: send the browser to the login page."""


def csrf_for(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"openidds-web-csrf", hashlib.sha256).hexdigest()


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


# --- posted forms ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fields:
    """A posted form: text values, trimmed; a missing field is the empty string."""

    data: FormData

    def get(self, name: str, default: str = "") -> str:
        value = self.data.get(name)
        return value.strip() if isinstance(value, str) else default

    def raw(self, name: str) -> str:
        """As typed, untrimmed (a password)."""
        value = self.data.get(name)
        return value if isinstance(value, str) else ""

    def getlist(self, name: str) -> list[str]:
        return [v.strip() for v in self.data.getlist(name) if isinstance(v, str)]

    def checked(self, name: str) -> bool:
        return self.get(name) in ("on", "true", "yes", "1")

    def names(self) -> list[str]:
        return list(self.data.keys())

    def as_dict(self) -> dict[str, str]:
        return {k: self.get(k) for k in self.data}


async def posted_form(request: Request) -> Fields:
    """The form of a logged-in POST, after its CSRF token is checked (403 otherwise). Its one-time form token, if
    any, is kept for `submit` (a repeat of the same form answers the first result)."""
    form = await request.form()
    session = request.cookies.get(SESSION_COOKIE, "")
    sent = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
    if not session or not isinstance(sent, str) or not hmac.compare_digest(sent, csrf_for(session)):
        raise WebError(403, "the form's security token is missing or out of date: reload the page and try again")
    token = form.get(FORM_TOKEN_FIELD)
    request.state.form_token = token if isinstance(token, str) and token else None
    return Fields(form)


async def login_form(request: Request) -> Fields:
    """The login form: its token must match the cookie set with the form (double submit)."""
    form = await request.form()
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    sent = form.get(CSRF_FIELD)
    if not cookie or not isinstance(sent, str) or not hmac.compare_digest(sent, cookie):
        raise WebError(403, "the login form's security token is missing or out of date: reload the page")
    return Fields(form)


Posted = Annotated[Fields, Depends(posted_form)]
LoginPosted = Annotated[Fields, Depends(login_form)]


def new_login_token() -> str:
    return secrets.token_urlsafe(32)


def new_form_token() -> str:
    return secrets.token_urlsafe(24)


# --- one use case, one transaction -----------------------------------------------------------------------------------
@dataclass
class Work:
    s: Session
    user: User
    now: datetime
    address: str | None = None  # the client's, from the ASGI scope (never X-Forwarded-For: service/throttle.py)


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def now_of(request: Request) -> datetime:
    value: datetime = request.app.state.clock()
    return value


@contextmanager
def unit_of_work(request: Request, write: bool = False) -> Iterator[Work]:
    """The logged-in user and a transaction: committed when the block ends, rolled back (nothing half-written)
    when it raises. Refusals from the use cases come out as WebError, after the rollback. `write`: a writer's
    session (db.writers), for a use case that reads and then writes."""
    now = now_of(request)
    make = request.app.state.writers if write else request.app.state.sessions
    on_screen = "anonymous"
    try:
        with make() as s, s.begin():
            token = request.cookies.get(SESSION_COOKIE)
            if not token:
                raise LoginNeeded()
            try:
                user = user_for_token(s, token, now)
            except Unauthorized:
                raise LoginNeeded() from None
            on_screen = actor_name(user)
            yield Work(s, user, now, client_address(request))
    except CosignRefused as exc:
        # The co-sign's wrong password rolled back the use case it was in; its failure is counted and audited
        # now, in a transaction of its own, so the throttle sees it (service/auth.py).
        with request.app.state.writers() as s, s.begin():
            record_cosign_failure(s, exc, now, on_screen)
        raise WebError(exc.status, display.message(exc), exc.field or None, exc.message, exc.retry_after) from exc
    except ServiceError as exc:
        raise WebError(exc.status, exc.message) from exc
    except InputError as exc:
        raise WebError(422, display.message(exc), exc.field or None, exc.message) from exc  # its field in words
    except StaleDataError as exc:
        raise WebError(409, "the record changed while you were editing it: reload and try again") from exc
    except IntegrityError as exc:
        raise WebError(409, "that conflicts with a record already there (a duplicate, or written at once)") from exc


def staff_page(w: Work, patient_id: int) -> None:
    """A clinic record's page (a program, a refill, a flag): a patient sees their own pump, not the clinic's
    working records; another patient's id is refused as the API refuses it."""
    if w.user.role == "patient":
        from openidds.service.pathway import read_patient  # the pathway imports nothing of the web

        read_patient(w.s, w.user, patient_id)
        raise NotFound("no such page")


# Refusals about who may do something (or whether the record exists) are their own page; a form shows the rest.
NOT_ON_FORM = (401, 403, 404)
NOT_ON_RECORD = (401, 404)  # a record's page shows a 403 too (e.g. the second person must be someone else)


def submit(
    request: Request,
    write: Callable[[Work], str],
    show_again: Callable[[Work, WebError], Response],
    own_page: tuple[int, ...] = NOT_ON_FORM,
) -> Response:
    """A POST: `write` runs the use case in one unit of work and says where to go next, and the browser is sent
    there once it is committed. Refused, nothing is written and `show_again` shows the page with the refusal (in a
    new unit of work), unless the status is one of `own_page`: then the refusal is its own page."""
    try:
        with unit_of_work(request, write=True) as w:
            once = claim_form(request, w)
            url = once.replay["redirect"] if once.status_code else write(w)
            once.store(303, {"redirect": url})
    except WebError as err:
        if err.status in own_page:
            raise
        with unit_of_work(request) as w:
            page = show_again(w, err)
        if err.retry_after:
            page.headers["Retry-After"] = str(err.retry_after)
        return page
    return redirect(url)


def claim_form(request: Request, w: Work) -> idempotency.Claim:
    """The form's one-time token, claimed for this user and this form's address: a form sent twice (a double
    click, a reload, the back button) answers the first result."""
    token = getattr(request.state, "form_token", None)
    if token is None:
        return idempotency.Claim(None)
    path = request.url.path
    key = "form:" + hashlib.sha256(f"{token} {path}".encode()).hexdigest()
    return idempotency.claim(
        w.s, w.user.id, key, idempotency.fingerprint("POST", path, None, w.user.role), w.now, FORM_TOKEN_FIELD
    )


# --- responses ------------------------------------------------------------------------------------------------------
def render(
    request: Request, template: str, status: int = 200, user: User | None = None, **context: Any
) -> HTMLResponse:
    session = request.cookies.get(SESSION_COOKIE, "")
    html = templates.get_template(template).render(
        request_path=request.url.path,
        user=user,
        csrf_token=csrf_for(session) if session else "",
        form_token=new_form_token(),
        **context,
    )
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def redirect(url: str) -> Response:
    """After a POST: 303, so reloading the next page never repeats the write."""
    return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)


def login_redirect(request: Request) -> Response:
    target = request.url.path
    if request.method != "GET":
        target = request.headers.get("HX-Current-URL", "") or "/"
    url = "/login?next=" + quote(_local(target), safe="/")
    if is_htmx(request):  # htmx follows a redirect inside the fragment; ask it to move the whole page
        return Response(status_code=401, headers={"HX-Redirect": url, **SECURITY_HEADERS})
    return redirect(url)


def _local(target: str) -> str:
    """Only a path on this site (no scheme, no host): an open redirect is a phishing tool."""
    if "://" in target:
        target = "/" + target.split("://", 1)[1].partition("/")[2]
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def safe_next(target: str) -> str:
    return _local(target or "/")


def set_session_cookie(response: Response, request: Request, token: str, expires: datetime, now: datetime) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max(int((expires - now).total_seconds()), 0),
        httponly=True,
        samesite="lax",
        secure=is_https(request),
        path="/",
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=is_https(request))
