"""The admin's pages: the landing page (the audit chain's status), the users (add, disable or enable, end every
session, reset a password, change a role) and the audit trail (filter, check the chain, export CSV).

Who may do what is the role matrix's: `manage-users` (the admin) for the users, `read-audit` (the admin and the
physicians) for the trail. What a record says before and after is shown only to a role that reads patients'
records (service.audit_trail), never to the admin. Every POST carries the session's CSRF token and the page's
one-time form token (web/session.py), like the clinic's forms.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from openidds import display
from openidds.api.schemas import Id
from openidds.data import load_clinic_settings
from openidds.db.models import User
from openidds.errors import InputError
from openidds.service import audit, audit_trail, throttle, users
from openidds.service.access import require
from openidds.service.audit_trail import AuditEntry, AuditQuery
from openidds.validation import LAST_YEAR, YEARS, instant_problem
from openidds.web import format as fmt
from openidds.web.forms import whole_number
from openidds.web.pages import may
from openidds.web.session import SECURITY_HEADERS, Posted, WebError, Work, render, submit, unit_of_work

router = APIRouter(include_in_schema=False)

# The clinic has no zone setting of its own yet: the new-patient form's default (and the demo's), unless the app
# is given one as `app.state.clinic_zone`.
DEFAULT_ZONE = "America/Chicago"

# A refused form names its field in words, never by its code.
FIELD_WORDS = {
    "username": "Username",
    "full_name": "Full name",
    "role": "Role",
    "password": "Password",
    "new_password": "New password",
    "patient_id": "Patient record",
    "actor": "Who",
    "action": "Action",
    "entity": "Entity",
    "since": "From (date)",
    "until": "To (date)",
    "form_token": "The form",
}

DONE = {
    "added": "{name} ({username}) was added as {role}: they can log in now.",
    "disabled": "{name} ({username}) is disabled: their sessions are ended and they cannot log in.",
    "enabled": "{name} ({username}) is enabled: they can log in again.",
    "password": "The password of {name} ({username}) is reset: their sessions are ended and a lock on the login "
    "is lifted. Give them the new password in person.",
    "role": "{name} ({username}) is now {role}: their sessions are ended, and they act as {role} from their next "
    "login.",
    "revoked": "Every session of {name} ({username}) is ended: they log in again with their password.",
}


def clinic_zone(request: Request) -> str:
    """The clinic's time zone: an app's own (tests), else the clinic settings' (data/clinic.toml)."""
    zone: str = getattr(request.app.state, "clinic_zone", None) or load_clinic_settings().timezone or DEFAULT_ZONE
    return zone


def in_words(err: WebError) -> str:
    """The refusal as one line that names its field as the form labels it ('New password: must be at least 10
    characters'; a field of no form here in the common words, `display.message`)."""
    if err.field:
        return display.message(InputError(err.field, err.said), FIELD_WORDS)
    return fmt.capitalize_first(err.message)


def _article(role: str) -> str:
    return f"an {role}" if role[:1] in "aeiou" else f"a {role}"


# --- the landing page -------------------------------------------------------------------------------------------------
@router.get("/admin")
def admin(request: Request) -> Response:
    with unit_of_work(request) as w:
        require(w.user, "read-audit")
        checked, findings = audit.verify(w.s)
        return render(
            request,
            "admin.html",
            user=w.user,
            checked=checked,
            findings=findings,
            manages_users=may(w.user, "manage-users"),
        )


# --- users ------------------------------------------------------------------------------------------------------------
def _users_page(
    request: Request,
    w: Work,
    error: WebError | None = None,
    failed: str = "",
    values: dict[str, str] | None = None,
) -> Response:
    """The user list and its forms; `failed`: the id of the form that was refused (shown open, its values kept)."""
    found = users.list_users(w.s, w.user)
    locks = throttle.locked_logins(w.s, [u.username for u in found], w.now)
    done = request.query_params.get("done", "")
    notice = ""
    if done in DONE:
        uid = whole_number(request.query_params.get("user", ""))
        target = w.s.get(User, uid) if isinstance(uid, int) else None
        if target is not None:
            words = {"name": target.full_name, "username": target.username, "role": _article(target.role)}
            notice = DONE[done].format(**words)
    return render(
        request,
        "admin_users.html",
        status=error.status if error else 200,
        user=w.user,
        users=found,
        locks=locks,
        zone=clinic_zone(request),
        roles=users.STAFF_ROLES,
        min_password=users.MIN_PASSWORD,
        notice=notice,
        error=in_words(error) if error else "",
        error_field=(error.field or "") if error else "",
        failed=failed,
        values=values or {},
    )


@router.get("/admin/users")
def users_page(request: Request) -> Response:
    with unit_of_work(request) as w:
        return _users_page(request, w)


def _done(code: str, user_id: int) -> str:
    return f"/admin/users?done={code}&user={user_id}"


@router.post("/admin/users")
def add_user(request: Request, form: Posted) -> Response:
    def write(w: Work) -> str:
        new = users.create_user(
            w.s, w.user, form.get("username"), form.get("full_name"), form.get("role"), form.raw("password"), w.now
        )
        return _done("added", new.id)

    def show_again(w: Work, err: WebError) -> Response:
        kept = {k: form.get(k) for k in ("username", "full_name", "role")}  # never the password
        return _users_page(request, w, err, "add-user", kept)

    return submit(request, write, show_again)


@router.post("/admin/users/{user_id}/disable")
def disable_user(request: Request, user_id: Id, form: Posted) -> Response:
    return _set_active(request, user_id, False)


@router.post("/admin/users/{user_id}/enable")
def enable_user(request: Request, user_id: Id, form: Posted) -> Response:
    return _set_active(request, user_id, True)


def _set_active(request: Request, user_id: int, active: bool) -> Response:
    def write(w: Work) -> str:
        users.set_active(w.s, w.user, user_id, active, w.now)
        return _done("enabled" if active else "disabled", user_id)

    def show_again(w: Work, err: WebError) -> Response:
        return _users_page(request, w, err, f"{'enable' if active else 'disable'}-{user_id}")

    return submit(request, write, show_again)


@router.post("/admin/users/{user_id}/password")
def reset_password(request: Request, user_id: Id, form: Posted) -> Response:
    def write(w: Work) -> str:
        users.reset_password(w.s, w.user, user_id, form.raw("new_password"), w.now)
        return _done("password", user_id)

    def show_again(w: Work, err: WebError) -> Response:
        return _users_page(request, w, err, f"password-{user_id}")

    return submit(request, write, show_again)


@router.post("/admin/users/{user_id}/revoke-tokens")
def revoke_tokens(request: Request, user_id: Id, form: Posted) -> Response:
    """Every session of the login ends (a lost phone, a computer left logged in); the login stays usable."""

    def write(w: Work) -> str:
        users.revoke_all(w.s, w.user, user_id, w.now)
        return _done("revoked", user_id)

    def show_again(w: Work, err: WebError) -> Response:
        return _users_page(request, w, err, f"revoke-{user_id}")

    return submit(request, write, show_again)


@router.post("/admin/users/{user_id}/role")
def change_role(request: Request, user_id: Id, form: Posted) -> Response:
    def write(w: Work) -> str:
        users.change_role(w.s, w.user, user_id, form.get("role"), w.now)
        return _done("role", user_id)

    def show_again(w: Work, err: WebError) -> Response:
        return _users_page(request, w, err, f"role-{user_id}", {"role": form.get("role")})

    return submit(request, write, show_again)


# --- the audit trail --------------------------------------------------------------------------------------------------
FILTERS = ("actor", "action", "entity", "since", "until")


def _local_day(text: str, tz: str, field: str) -> datetime | None:
    """The start of a day (YYYY-MM-DD) on the clinic's wall clock, or None for an empty field."""
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InputError(field, f"expected a date such as 2026-11-21, got {text[:40]!r}") from None
    start = datetime.combine(day, time(), tzinfo=fmt.zone(tz))
    problem = instant_problem(start)  # and the day after it (the To date's end) still a date: 9999-12-31 was a 500
    if problem is None and day.year == LAST_YEAR and (day.month, day.day) == (12, 31):
        problem = f"{day.isoformat()} is the last day of {YEARS}: leave the date empty to include every later record"
    if problem is not None:
        raise InputError(field, problem)
    return start


def audit_query(params: dict[str, str], tz: str) -> AuditQuery:
    """The filter form's fields as a query: the dates are whole days on the clinic's clock, both included; each
    field checked as input (audit_trail.checked), refused naming it."""
    since = _local_day(params.get("since", ""), tz, "since")
    last = _local_day(params.get("until", ""), tz, "until")
    if since is not None and last is not None and last < since:
        raise InputError("until", "is before the From date")
    until = None
    if last is not None:
        until = datetime.combine(last.date() + timedelta(days=1), time(), tzinfo=fmt.zone(tz))
    return audit_trail.checked(
        AuditQuery(
            actor=params.get("actor", ""),
            action=params.get("action", ""),
            entity=params.get("entity", ""),
            since=since,
            until=until,
        )
    )


def _filters(request: Request) -> dict[str, str]:
    return {k: request.query_params.get(k, "").strip() for k in FILTERS}


def _payload(value: Any) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True, indent=1)


@router.get("/admin/audit")
def audit_page(request: Request) -> Response:
    tz = clinic_zone(request)
    params = _filters(request)
    wanted = whole_number(request.query_params.get("page", "1") or "1")
    with unit_of_work(request) as w:
        require(w.user, "read-audit")
        error = ""
        try:
            query = audit_query(params, tz)
        except InputError as exc:
            error, query = display.message(exc, FIELD_WORDS), None
        found = None
        if query is not None:
            found = audit_trail.find(w.s, w.user, query, wanted if isinstance(wanted, int) else 1)
        verified = None
        if request.query_params.get("verify"):
            verified = audit.verify(w.s)
        shown = {k: v for k, v in params.items() if v}
        return render(
            request,
            "admin_audit.html",
            status=422 if error else 200,
            user=w.user,
            tz=tz,
            values=params,
            actions=audit_trail.actions(w.s, w.user),
            error=error,
            found=found,
            payload=_payload,
            verified=verified,
            query_string=urlencode(shown),
            page_url=lambda n: "/admin/audit?" + urlencode({**shown, "page": n}),
        )


CSV_UNSAFE = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet would read such a cell as a formula


def _cell(value: str) -> str:
    return "'" + value if value.startswith(CSV_UNSAFE) else value


def csv_rows(entries: Iterator[AuditEntry], tz: str, payloads: bool) -> Iterator[list[str]]:
    header = ["record", "when", "who", "action", "entity"]
    yield [*header, "before", "after"] if payloads else header
    for e in entries:
        row = [str(e.sequence), display.sortable(e.at, tz), _cell(e.actor), _cell(e.action), _cell(e.entity)]
        if payloads:
            row += [_cell(_compact(e.before)), _cell(_compact(e.after))]
        yield row


def _compact(value: Any) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


@router.get("/admin/audit.csv")
def audit_csv(request: Request) -> Response:
    tz = clinic_zone(request)
    params = _filters(request)
    with unit_of_work(request) as w:
        require(w.user, "read-audit")
        try:
            query = audit_query(params, tz)
        except InputError as exc:  # the error page, the field named as the form on /admin/audit labels it
            raise WebError(422, display.message(exc, FIELD_WORDS), exc.field or None, exc.message) from None
        entries = audit_trail.export(w.s, w.user, query)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerows(csv_rows(entries, tz, audit_trail.sees_payloads(w.user)))
        stamp = f"{w.now.astimezone(fmt.zone(tz)):%Y-%m-%d}"
    headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="audit-trail-{stamp}.csv"'}
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)
