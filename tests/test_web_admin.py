"""The admin's web pages: users (add, disable and enable, reset a password, change a role) and the audit trail
(filter, pages, chain check, CSV export), on SQLite and PostgreSQL. The account rules themselves are checked on the
pure core (openidds.clinic.accounts) at the end."""

from __future__ import annotations

import csv
import io
import re
import threading
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import select

from openidds.clinic.accounts import check_password, check_role_change, disable_refusal, role_change_refusal
from openidds.db import writers
from openidds.db.models import AuditRecord, Token, User
from openidds.errors import InputError
from openidds.service import audit, users
from openidds.service.errors import Conflict
from openidds.web import admin
from tests.api_support import patient_body
from tests.web_support import (
    PASSWORD,
    START,
    Browser,
    Clinic,
    fast_argon2,
    form_token,
    has_id,
    new_patient,
    page_text,
    text_by_id,
)

NEW_PASSWORD = "a new password for her"  # not holding the username (clinic.accounts)


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    fast_argon2(monkeypatch)
    yield


# --- helpers --------------------------------------------------------------------------------------------------------
def uid(clinic: Clinic, username: str) -> int:
    with clinic.sessions() as s:
        found = s.scalar(select(User.id).where(User.username == username))
        assert found is not None, username
        return found


SESSIONS = ("login", "logout", "login-failed", "login-locked")  # audited too (test_api_accounts.py), not asked here


def trail(clinic: Clinic) -> list[AuditRecord]:
    """The audit records of the admin's writes (the logins and logouts around them left out)."""
    with clinic.sessions() as s:
        query = select(AuditRecord).where(AuditRecord.action.not_in(SESSIONS)).order_by(AuditRecord.sequence)
        return list(s.scalars(query))


def live_tokens(clinic: Clinic, username: str) -> int:
    with clinic.sessions() as s:
        rows = s.scalars(select(Token).where(Token.user_id == uid(clinic, username), Token.revoked_at.is_(None)))
        return len(list(rows))


def submit(browser: Browser, form_id: str, action: str, data: dict[str, str] | None = None) -> httpx.Response:
    """A form of the users page, as the page renders it (with its one-time form token)."""
    page = browser.get("/admin/users")
    assert page.status_code == 200, page.text[:500]
    return browser.post(action, {**(data or {}), "form_token": form_token(page.text, form_id)})


def api_login(clinic: Clinic, username: str, password: str = PASSWORD) -> httpx.Response:
    return clinic.client.post("/api/v1/auth/login", json={"username": username, "password": password})


def me(clinic: Clinic, token: str) -> httpx.Response:
    return clinic.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})


def field_value(html: str, field_id: str) -> str:
    found = re.search(rf'<input\b[^>]*\bid="{re.escape(field_id)}"[^>]*>', html)
    assert found is not None, field_id
    value = re.search(r'\bvalue="([^"]*)"', found.group(0))
    return "" if value is None else value.group(1)


# --- the landing page -------------------------------------------------------------------------------------------------
def test_the_landing_page_shows_the_chain_and_links_by_role(clinic: Clinic) -> None:
    root = Browser(clinic, "root")
    assert root.get("/").headers["location"] == "/admin"  # home_of still sends an admin here
    page = root.get("/admin")
    assert page.status_code == 200
    assert text_by_id(page.text, "audit-status") == "The audit chain is intact: 1 records checked."  # root's login
    assert has_id(page.text, "link-users") and has_id(page.text, "link-audit")

    ada = Browser(clinic, "ada")  # a physician reads the audit trail but manages no user
    page = ada.get("/admin")
    assert page.status_code == 200 and has_id(page.text, "link-audit") and not has_id(page.text, "link-users")
    assert Browser(clinic, "nora").get("/admin").status_code == 403


# --- adding a user --------------------------------------------------------------------------------------------------
def test_an_admin_adds_a_user_who_can_then_log_in(clinic: Clinic) -> None:
    root = Browser(clinic, "root")
    r = submit(
        root,
        "add-user",
        "/admin/users",
        {"username": "kim", "full_name": "Kim Lee, RN", "role": "nurse", "password": "kim's first pw"},
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/admin/users?done=added&user=")
    page = root.follow(r)
    assert text_by_id(page.text, "done-notice") == "Kim Lee, RN (kim) was added as a nurse: they can log in now."
    kim = uid(clinic, "kim")
    assert text_by_id(page.text, f"user-{kim}-role") == "nurse"
    assert text_by_id(page.text, f"user-{kim}-status") == "active"

    r = Browser(clinic).login("kim", "kim's first pw")
    assert (r.status_code, r.headers["location"]) == (303, "/clinic")
    [record] = trail(clinic)
    assert (record.actor, record.action, record.entity) == ("root (admin)", "create-user", f"user/{kim}")
    assert record.after == {
        "id": kim,
        "username": "kim",
        "full_name": "Kim Lee, RN",
        "role": "nurse",
        "patient_id": None,
    }


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        (
            {"username": "kim", "full_name": "Kim Lee", "role": "nurse", "password": "short"},
            422,
            "Password: must be at least 10 characters (it has 5)",
        ),
        (
            {"username": "Kim Lee", "full_name": "Kim Lee", "role": "nurse", "password": "long enough"},
            422,
            "Username: use 2-80 lower-case letters, digits, '.', '_' or '-', got 'Kim Lee'",
        ),
        (
            {"username": "kim", "full_name": " ", "role": "nurse", "password": "long enough"},
            422,
            "Full name: give the user's full name",
        ),
        (
            {"username": "kim", "full_name": "Kim Lee", "role": "wizard", "password": "long enough"},
            422,
            "Role: expected one of admin, physician, nurse, pharmacist, patient, got 'wizard'",
        ),
        (
            {"username": "kim", "full_name": "Kim Lee", "role": "patient", "password": "long enough"},
            422,
            "Role: a patient's login is added with their patient record (idds user add or the API)",
        ),
        (
            {"username": "nora", "full_name": "Nora Again", "role": "nurse", "password": "long enough"},
            409,
            "User nora already exists",
        ),
    ],
)
def test_a_refused_new_user_shows_the_form_again_with_the_field_in_words(
    clinic: Clinic, data: dict[str, str], status: int, message: str
) -> None:
    root = Browser(clinic, "root")
    r = submit(root, "add-user", "/admin/users", data)
    assert r.status_code == status
    assert text_by_id(r.text, "form-error-message") == message
    assert field_value(r.text, "f-username") == data["username"]  # the form is kept…
    assert field_value(r.text, "f-full_name") == data["full_name"].strip()
    assert field_value(r.text, "f-password") == ""  # …but never the password
    assert data["password"] not in r.text
    assert trail(clinic) == []  # nothing written


# --- disabling and enabling -------------------------------------------------------------------------------------------
def test_a_disabled_user_loses_their_sessions_and_cannot_log_in_until_enabled(clinic: Clinic) -> None:
    nora_web = Browser(clinic, "nora")
    token = api_login(clinic, "nora").json()["token"]
    assert nora_web.get("/clinic").status_code == 200 and me(clinic, token).status_code == 200
    nora = uid(clinic, "nora")

    root = Browser(clinic, "root")
    r = submit(root, f"disable-{nora}", f"/admin/users/{nora}/disable")
    assert (r.status_code, r.headers["location"]) == (303, f"/admin/users?done=disabled&user={nora}")
    page = root.follow(r)
    assert text_by_id(page.text, "done-notice") == (
        "Nora (nora) is disabled: their sessions are ended and they cannot log in."
    )
    assert text_by_id(page.text, f"user-{nora}-status") == "disabled"
    assert has_id(page.text, f"enable-{nora}") and not has_id(page.text, f"disable-{nora}")

    # the web session and the API token stop working at once
    r = nora_web.get("/clinic")
    assert (r.status_code, r.headers["location"]) == (303, "/login?next=/clinic")
    assert me(clinic, token).status_code == 401
    assert live_tokens(clinic, "nora") == 0
    # and she cannot log in, on the web or through the API (the same answer as a wrong password)
    r = Browser(clinic).login("nora")
    assert r.status_code == 401 and "wrong username or password" in r.text
    assert api_login(clinic, "nora").status_code == 401

    r = submit(root, f"enable-{nora}", f"/admin/users/{nora}/enable")
    assert (r.status_code, r.headers["location"]) == (303, f"/admin/users?done=enabled&user={nora}")
    assert text_by_id(root.follow(r).text, "done-notice") == "Nora (nora) is enabled: they can log in again."
    assert me(clinic, token).status_code == 401  # the old token stays revoked
    assert Browser(clinic).login("nora").status_code == 303

    records = [(a.actor, a.action, a.entity) for a in trail(clinic)]
    assert records == [
        ("root (admin)", "disable-user", f"user/{nora}"),
        ("root (admin)", "enable-user", f"user/{nora}"),
    ]
    disabled = trail(clinic)[0]
    assert disabled.before == {
        "id": nora,
        "username": "nora",
        "full_name": "Nora",
        "role": "nurse",
        "patient_id": None,
        "active": True,
    }
    assert disabled.after == {
        "id": nora,
        "username": "nora",
        "full_name": "Nora",
        "role": "nurse",
        "patient_id": None,
        "active": False,
        "sessions_ended": 2,
    }


def test_an_admin_cannot_disable_themself_and_the_last_admin_stays_an_admin(clinic: Clinic) -> None:
    root = Browser(clinic, "root")
    me_id = uid(clinic, "root")
    page = root.get("/admin/users").text
    assert not has_id(page, f"disable-{me_id}")  # not offered…
    assert text_by_id(page, f"user-{me_id}-self") == "Your own login: another admin disables it."
    r = root.post(f"/admin/users/{me_id}/disable")  # …and refused when sent all the same
    assert r.status_code == 409
    assert text_by_id(r.text, "form-error-message") == "You cannot disable your own login: another admin must do it"

    r = submit(root, f"role-{me_id}", f"/admin/users/{me_id}/role", {"role": "nurse"})
    assert r.status_code == 409  # nobody changes their own role (an admin would make themself a physician)
    assert text_by_id(r.text, "form-error-message") == "You cannot change your own role: another admin must do it"
    assert 'id="role-' + str(me_id) + '-details" open' in r.text  # the refused form is shown open
    assert trail(clinic) == []

    # with a second admin, the first may step down, and then the second is the last one
    r = submit(
        root,
        "add-user",
        "/admin/users",
        {"username": "ann", "full_name": "Ann", "role": "admin", "password": "ann's password"},
    )
    assert r.status_code == 303
    ann = Browser(clinic)
    assert ann.login("ann", "ann's password").status_code == 303
    r = submit(ann, f"role-{me_id}", f"/admin/users/{me_id}/role", {"role": "physician"})
    assert r.status_code == 303
    assert root.get("/admin/users").headers["location"] == "/login?next=/admin/users"  # root's session ended
    ann_id = uid(clinic, "ann")
    r = submit(ann, f"role-{ann_id}", f"/admin/users/{ann_id}/role", {"role": "nurse"})
    assert r.status_code == 409
    assert text_by_id(r.text, "form-error-message") == "You cannot change your own role: another admin must do it"
    assert [(a.actor, a.action) for a in trail(clinic)] == [
        ("root (admin)", "create-user"),
        ("ann (admin)", "change-role"),
    ]


def test_disabling_twice_answers_the_first_result_once_and_a_stale_enable_is_refused(clinic: Clinic) -> None:
    root = Browser(clinic, "root")
    nora = uid(clinic, "nora")
    page = root.get("/admin/users").text
    token = form_token(page, f"disable-{nora}")
    first = root.post(f"/admin/users/{nora}/disable", {"form_token": token})
    again = root.post(f"/admin/users/{nora}/disable", {"form_token": token})  # a double click
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert [a.action for a in trail(clinic)] == ["disable-user"]
    r = root.post(f"/admin/users/{nora}/disable")  # from a page shown before: she is disabled already
    assert r.status_code == 409
    assert text_by_id(r.text, "form-error-message") == "The login nora is already disabled"
    assert root.post("/admin/users/9999/disable").status_code == 404


# --- passwords -------------------------------------------------------------------------------------------------------
def test_a_password_reset_ends_the_sessions_and_only_the_new_password_works(clinic: Clinic) -> None:
    nora_web = Browser(clinic, "nora")
    nora = uid(clinic, "nora")
    root = Browser(clinic, "root")

    r = submit(root, f"password-{nora}", f"/admin/users/{nora}/password", {"new_password": "abcd"})
    assert r.status_code == 422
    assert text_by_id(r.text, "form-error-message") == "New password: must be at least 10 characters (it has 4)"
    assert f'id="password-{nora}-details" open' in r.text
    assert "new_password:" not in page_text(r.text)  # the field's words, never its code
    assert nora_web.get("/clinic").status_code == 200  # nothing changed

    r = submit(root, f"password-{nora}", f"/admin/users/{nora}/password", {"new_password": NEW_PASSWORD})
    assert (r.status_code, r.headers["location"]) == (303, f"/admin/users?done=password&user={nora}")
    assert text_by_id(root.follow(r).text, "done-notice") == (
        "The password of Nora (nora) is reset: their sessions are ended and a lock on the login is lifted. Give "
        "them the new password in person."
    )
    assert nora_web.get("/clinic").headers["location"] == "/login?next=/clinic"
    assert Browser(clinic).login("nora").status_code == 401  # the old password
    assert Browser(clinic).login("nora", NEW_PASSWORD).status_code == 303

    [record] = trail(clinic)
    assert (record.actor, record.action, record.entity) == ("root (admin)", "reset-password", f"user/{nora}")
    assert record.after["password"] == "reset" and record.after["sessions_ended"] == 1
    assert "argon2" not in str(record.before) + str(record.after)  # no hash in the trail


def test_ending_every_session_of_a_login_logs_it_out_everywhere_and_keeps_it_usable(clinic: Clinic) -> None:
    desk, ward = Browser(clinic, "nora"), Browser(clinic, "nora")
    nora = uid(clinic, "nora")
    root = Browser(clinic, "root")
    r = submit(root, f"revoke-{nora}", f"/admin/users/{nora}/revoke-tokens")
    assert (r.status_code, r.headers["location"]) == (303, f"/admin/users?done=revoked&user={nora}")
    assert text_by_id(root.follow(r).text, "done-notice") == (
        "Every session of Nora (nora) is ended: they log in again with their password."
    )
    for browser in (desk, ward):
        assert browser.get("/clinic").headers["location"] == "/login?next=/clinic"
    [record] = trail(clinic)
    assert (record.actor, record.action, record.entity) == ("root (admin)", "revoke-tokens", f"user/{nora}")
    assert record.after["sessions_ended"] == 2 and record.after["active"] is True
    assert Browser(clinic).login("nora").status_code == 303


# --- roles -----------------------------------------------------------------------------------------------------------
def test_a_role_change_revokes_the_tokens_so_the_next_login_acts_in_the_new_role(clinic: Clinic) -> None:
    nora_web = Browser(clinic, "nora")
    token = api_login(clinic, "nora").json()["token"]
    nora = uid(clinic, "nora")
    root = Browser(clinic, "root")

    r = submit(root, f"role-{nora}", f"/admin/users/{nora}/role", {"role": "physician"})
    assert (r.status_code, r.headers["location"]) == (303, f"/admin/users?done=role&user={nora}")
    page = root.follow(r)
    assert text_by_id(page.text, "done-notice") == (
        "Nora (nora) is now a physician: their sessions are ended, and they act as a physician from their next login."
    )
    assert text_by_id(page.text, f"user-{nora}-role") == "physician"
    assert me(clinic, token).status_code == 401
    assert nora_web.get("/clinic").headers["location"] == "/login?next=/clinic"
    fresh = api_login(clinic, "nora").json()
    assert fresh["user"]["role"] == "physician"

    [record] = trail(clinic)
    assert (record.action, record.before["role"], record.after["role"]) == ("change-role", "nurse", "physician")
    assert record.after["sessions_ended"] == 2


@pytest.mark.parametrize(
    ("role", "message"),
    [
        ("nurse", "Role: the user is already a nurse"),
        (
            "patient",
            "Role: a patient's login belongs to their patient record: it cannot become a staff login, nor a staff "
            "login a patient's (add a new login instead)",
        ),
        ("wizard", "Role: expected one of admin, physician, nurse, pharmacist, got 'wizard'"),
    ],
)
def test_a_refused_role_change_says_why(clinic: Clinic, role: str, message: str) -> None:
    root = Browser(clinic, "root")
    nora = uid(clinic, "nora")
    r = submit(root, f"role-{nora}", f"/admin/users/{nora}/role", {"role": role})
    assert r.status_code == 422
    assert text_by_id(r.text, "form-error-message") == message
    assert trail(clinic) == []


def test_a_patients_login_keeps_its_role(clinic: Clinic) -> None:
    pid = new_patient(clinic)
    jane = clinic.user("jane", "patient", patient_id=pid)
    root = Browser(clinic, "root")
    page = root.get("/admin/users").text
    assert not has_id(page, f"role-{jane}")  # no role form for a patient's login
    r = root.post(f"/admin/users/{jane}/role", {"role": "nurse"})
    assert r.status_code == 422
    assert text_by_id(r.text, "form-error-message").startswith("Role: a patient's login belongs to their patient")
    # but it can be disabled like any other
    assert submit(root, f"disable-{jane}", f"/admin/users/{jane}/disable").status_code == 303


# --- who may ---------------------------------------------------------------------------------------------------------
def test_only_an_admin_manages_users(clinic: Clinic) -> None:
    pid = new_patient(clinic)
    clinic.user("jane", "patient", patient_id=pid)
    writes = len(trail(clinic))
    nora = uid(clinic, "nora")
    for who in ("ada", "nora", "phil", "jane"):
        b = Browser(clinic, who)
        assert b.get("/admin/users").status_code == 403, who
        r = b.post("/admin/users", {"username": "x1", "full_name": "X", "role": "admin", "password": "long enough"})
        assert r.status_code == 403, who
        for action in ("disable", "enable", "password", "role"):
            r = b.post(f"/admin/users/{nora}/{action}", {"new_password": "long enough", "role": "admin"})
            assert r.status_code == 403, (who, action)
    assert len(trail(clinic)) == writes  # nothing written
    assert Browser(clinic).get("/admin/users").headers["location"] == "/login?next=/admin/users"


def test_the_audit_trail_is_for_admins_and_physicians(clinic: Clinic) -> None:
    for who, status in (("root", 200), ("ada", 200), ("nora", 403), ("phil", 403)):
        b = Browser(clinic, who)
        assert b.get("/admin/audit").status_code == status, who
        assert b.get("/admin/audit.csv").status_code == status, who


def test_every_admin_post_checks_the_csrf_token(clinic: Clinic) -> None:
    posts = [r.path for r in admin.router.routes if isinstance(r, APIRoute) and "POST" in r.methods]
    assert sorted(posts) == [
        "/admin/users",
        "/admin/users/{user_id}/disable",
        "/admin/users/{user_id}/enable",
        "/admin/users/{user_id}/password",
        "/admin/users/{user_id}/revoke-tokens",
        "/admin/users/{user_id}/role",
    ]
    root = Browser(clinic, "root")
    nora = Browser(clinic, "nora")
    nora_id = uid(clinic, "nora")
    data = {
        "username": "x1",
        "full_name": "X",
        "role": "nurse",
        "password": "long enough",
        "new_password": "long enough",
    }
    for path in posts:
        url = path.replace("{user_id}", str(nora_id))
        r = root.post(url, data, csrf=False)
        assert r.status_code == 403 and "security token" in r.text, path
        assert root.post(url, {**data, "csrf_token": "0" * 64}).status_code == 403, path
        assert root.post(url, {**data, "csrf_token": nora.csrf}).status_code == 403, path  # another session's
    assert trail(clinic) == []
    assert nora.get("/clinic").status_code == 200  # still enabled, still logged in


# --- the audit trail --------------------------------------------------------------------------------------------------
def _seed_trail(clinic: Clinic) -> tuple[int, int]:
    """Two patients by nora (21 Nov, 09:00 Chicago), nora disabled by root two days later (23 Nov, 09:00) and
    enabled a day after that (24 Nov, 09:00), each after a login: records 1 (nora's login), 2 and 3 (the patients),
    4 (root's login), 5 (disable), 6 (root's login), 7 (enable)."""
    first = clinic.call("POST", "/patients", "nora", json=patient_body("A-0001", family_name="Doe"))
    second = clinic.call("POST", "/patients", "nora", json=patient_body("A-0002", family_name="Roe"))
    assert first.status_code == second.status_code == 201
    nora = uid(clinic, "nora")
    clinic.advance(days=2)
    root = Browser(clinic, "root")  # a new login each day: a session lasts one shift
    assert submit(root, f"disable-{nora}", f"/admin/users/{nora}/disable").status_code == 303
    clinic.advance(days=1)
    root = Browser(clinic, "root")
    assert submit(root, f"enable-{nora}", f"/admin/users/{nora}/enable").status_code == 303
    return first.json()["id"], nora


def _rows(html: str) -> list[str]:
    return [text_by_id(html, f"audit-{n}") for n in range(1, 10) if has_id(html, f"audit-{n}")]


def test_the_audit_trail_filters_by_actor_action_entity_and_dates(clinic: Clinic) -> None:
    pid, nora = _seed_trail(clinic)
    root = Browser(clinic, "root")
    page = root.get("/admin/audit").text  # root's login of this page: record 8
    assert text_by_id(page, "audit-count") == "Records 1 to 8 of 8, newest first."
    # newest first; the times on the clinic's clock
    assert re.findall(r'<tr id="audit-(\d+)">', page) == ["8", "7", "6", "5", "4", "3", "2", "1"]
    assert text_by_id(page, "audit-7") == f"7 24 Nov 2026 09:00 CST root (admin) enable-user user/{nora}"
    assert text_by_id(page, "audit-2") == f"2 21 Nov 2026 09:00 CST nora (nurse) create-patient patient/{pid}"
    assert text_by_id(page, "audit-1") == f"1 21 Nov 2026 09:00 CST nora (nurse) login user/{nora}"

    def shown(query: str) -> list[str]:
        r = root.get("/admin/audit?" + query)
        assert r.status_code == 200, r.text[:500]
        return re.findall(r'<tr id="audit-(\d+)">', r.text)

    assert shown("actor=NORA") == ["3", "2", "1"]  # part of the actor, any case
    assert shown("actor=admin") == ["8", "7", "6", "5", "4"]
    assert shown("action=disable-user") == ["5"]
    assert shown(f"entity=patient/{pid}") == ["2"]
    assert shown("entity=user/") == ["8", "7", "6", "5", "4", "1"]
    assert shown("since=2026-11-23") == ["8", "7", "6", "5", "4"]
    assert shown("until=2026-11-23") == ["5", "4", "3", "2", "1"]  # the whole day, included
    assert shown("since=2026-11-22&until=2026-11-23") == ["5", "4"]
    assert shown("actor=admin&action=enable-user") == ["7"]
    r = root.get("/admin/audit?actor=nobody")
    assert text_by_id(r.text, "audit-count") == "No record matches." and not has_id(r.text, "audit-csv")
    assert shown("actor=%25") == []  # a '%' is a character to look for, not a wildcard

    r = root.get("/admin/audit?since=2026-11-24&until=2026-11-21")
    assert r.status_code == 422
    assert text_by_id(r.text, "filter-error-message") == "To (date): is before the From date"
    assert field_value(r.text, "f-since") == "2026-11-24"  # the filter is kept
    r = root.get("/admin/audit?since=tomorrow")
    assert (
        text_by_id(r.text, "filter-error-message") == "From (date): expected a date such as 2026-11-21, got 'tomorrow'"
    )


def test_the_admin_sees_no_clinical_payload_and_a_physician_does(clinic: Clinic) -> None:
    _seed_trail(clinic)
    page = Browser(clinic, "root").get("/admin/audit").text
    assert "Doe" not in page and "A-0001" not in page  # the new patients' names and MRNs
    assert "What each record changed is not shown to an admin" in text_by_id(page, "audit-table")

    page = Browser(clinic, "ada").get("/admin/audit").text
    assert "Doe" in text_by_id(page, "audit-2") and "A-0001" in text_by_id(page, "audit-2")
    assert "not shown" not in text_by_id(page, "audit-table")


def test_the_audit_trail_pages_newest_first(clinic: Clinic) -> None:
    with clinic.sessions() as s, s.begin():
        for i in range(1, 55):  # and root's login below: 55 records
            audit.record(s, "seed (test)", "test-write", f"thing/{i}", START + timedelta(minutes=i))
    root = Browser(clinic, "root")
    first = root.get("/admin/audit").text
    assert text_by_id(first, "audit-count") == "Records 1 to 50 of 55, newest first."
    numbers = re.findall(r'<tr id="audit-(\d+)">', first)
    assert (numbers[0], numbers[-1], len(numbers)) == ("55", "6", 50)
    assert text_by_id(first, "audit-page") == "Page 1 of 2" and not has_id(first, "audit-newer")
    older = re.search(r'href="([^"]+)" id="audit-older"', first)
    assert older is not None and older.group(1) == "/admin/audit?page=2"
    second = root.get(older.group(1).replace("&amp;", "&")).text
    assert re.findall(r'<tr id="audit-(\d+)">', second) == ["5", "4", "3", "2", "1"]
    assert text_by_id(second, "audit-count") == "Records 51 to 55 of 55, newest first."
    # the filter is kept from page to page
    filtered = root.get("/admin/audit?entity=thing/1").text  # thing/1 and thing/10 to thing/19
    assert text_by_id(filtered, "audit-count") == "Records 1 to 11 of 11, newest first."
    assert root.get("/admin/audit?page=99").status_code == 200  # past the last page: the last page
    assert text_by_id(root.get("/admin/audit?page=x").text, "audit-page") == "Page 1 of 2"


def test_the_chain_check_shows_the_status_and_a_broken_chain(clinic: Clinic) -> None:
    _seed_trail(clinic)
    root = Browser(clinic, "root")
    page = root.get("/admin/audit").text
    assert not has_id(page, "audit-verify-status")  # checked on request
    page = root.get("/admin/audit?verify=1&actor=admin").text
    assert text_by_id(page, "audit-verify-status") == "The audit chain is intact: 8 records checked."
    assert re.findall(r'<tr id="audit-(\d+)">', page) == ["8", "7", "6", "5", "4"]  # the filter stays
    with clinic.sessions() as s, s.begin():
        record = s.get(AuditRecord, 2)
        assert record is not None
        record.actor = "someone else"
    page = root.get("/admin/audit?verify=1").text
    status = text_by_id(page, "audit-verify-status")
    assert status.startswith("The audit chain is broken : 1 finding(s) in 8 records.")
    assert "record 2" in status
    assert text_by_id(root.get("/admin").text, "audit-status").startswith("The audit chain is broken")


def _csv(r: httpx.Response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(r.text)))


def test_the_csv_export_has_the_filtered_rows_and_no_payloads_for_the_admin(clinic: Clinic) -> None:
    pid, nora = _seed_trail(clinic)
    root = Browser(clinic, "root")
    page = root.get("/admin/audit?actor=admin").text
    link = re.search(r'href="([^"]+)" id="audit-csv"', page)
    assert link is not None and link.group(1) == "/admin/audit.csv?actor=admin"
    r = root.get(link.group(1))
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == 'attachment; filename="audit-trail-2026-11-24.csv"'
    assert r.headers["cache-control"] == "no-store"
    root_id = uid(clinic, "root")
    assert _csv(r) == [
        ["record", "when", "who", "action", "entity"],
        ["8", "2026-11-24 09:00 CST", "root (admin)", "login", f"user/{root_id}"],
        ["7", "2026-11-24 09:00 CST", "root (admin)", "enable-user", f"user/{nora}"],
        ["6", "2026-11-24 09:00 CST", "root (admin)", "login", f"user/{root_id}"],
        ["5", "2026-11-23 09:00 CST", "root (admin)", "disable-user", f"user/{nora}"],
        ["4", "2026-11-23 09:00 CST", "root (admin)", "login", f"user/{root_id}"],
    ]
    everything = root.get("/admin/audit.csv")
    assert [row[0] for row in _csv(everything)] == ["record", "8", "7", "6", "5", "4", "3", "2", "1"]
    assert "Doe" not in everything.text and "A-0001" not in everything.text

    physician = _csv(Browser(clinic, "ada").get(f"/admin/audit.csv?entity=patient/{pid}"))
    assert physician[0] == ["record", "when", "who", "action", "entity", "before", "after"]
    [row] = physician[1:]
    assert row[:6] == ["2", "2026-11-21 09:00 CST", "nora (nurse)", "create-patient", f"patient/{pid}", ""]
    assert '"family_name":"Doe"' in row[6] and '"mrn":"A-0001"' in row[6]


def test_a_csv_cell_that_a_spreadsheet_would_run_is_neutralised(clinic: Clinic) -> None:
    with clinic.sessions() as s, s.begin():
        audit.record(s, "=HYPERLINK(1)", "-x", "@thing", START)
    r = Browser(clinic, "root").get("/admin/audit.csv")
    assert _csv(r)[-1] == ["1", "2026-11-21 09:00 CST", "'=HYPERLINK(1)", "'-x", "'@thing"]  # (2: root's login)


def test_every_admin_write_is_in_the_audit_trail_and_the_chain_holds(clinic: Clinic) -> None:
    root = Browser(clinic, "root")
    assert (
        submit(
            root,
            "add-user",
            "/admin/users",
            {"username": "kim", "full_name": "Kim Lee", "role": "nurse", "password": "kim's first pw"},
        ).status_code
        == 303
    )
    kim = uid(clinic, "kim")
    for form, action, data in (
        (f"role-{kim}", "role", {"role": "pharmacist"}),
        (f"password-{kim}", "password", {"new_password": "kim's second pw"}),
        (f"disable-{kim}", "disable", {}),
        (f"enable-{kim}", "enable", {}),
    ):
        assert submit(root, form, f"/admin/users/{kim}/{action}", data).status_code == 303, action
    assert [(a.actor, a.action, a.entity) for a in trail(clinic)] == [
        ("root (admin)", "create-user", f"user/{kim}"),
        ("root (admin)", "change-role", f"user/{kim}"),
        ("root (admin)", "reset-password", f"user/{kim}"),
        ("root (admin)", "disable-user", f"user/{kim}"),
        ("root (admin)", "enable-user", f"user/{kim}"),
    ]
    page = root.get(f"/admin/audit?entity=user/{kim}&verify=1").text
    assert text_by_id(page, "audit-verify-status") == "The audit chain is intact: 6 records checked."  # + the login
    assert text_by_id(page, "audit-count") == "Records 1 to 5 of 5, newest first."


def test_the_admin_pages_are_accessible_and_offline(clinic: Clinic) -> None:
    _seed_trail(clinic)
    root = Browser(clinic, "root")
    for path in ("/admin", "/admin/users", "/admin/audit?verify=1"):
        html = root.get(path).text
        assert html.count("<h1") == 1, path
        assert '<link rel="stylesheet" href="/static/admin.css">' in html, path
        assert "style=" not in html and "<script>" not in html, path  # the CSP forbids inline style and script
        for th in re.findall(r"<th\b[^>]*>", html):
            assert "scope=" in th, (path, th)
        for control in re.findall(r'<(?:input|select)\b[^>]*\bid="([^"]+)"', html):
            assert f'for="{control}"' in html, (path, control)
        assert not re.search(r'(?:src|href|action)="(?:https?:)?//', html), path
    css = root.get("/static/admin.css")
    assert css.status_code == 200 and "@media (max-width: 40rem)" in css.text


# --- two admins at once -------------------------------------------------------------------------------------------
def test_two_admins_disabling_each_other_at_once_leave_one_admin(clinic: Clinic) -> None:
    """The second waits for the first one's lock, then counts the admins the first one left: one, so it is refused
    (before the lock, each counted two active admins and both were disabled)."""
    ann = clinic.user("ann", "admin")
    root = uid(clinic, "root")
    make = writers(clinic.engine)
    outcome: list[BaseException | None] = []

    def second() -> None:
        try:
            with make() as s, s.begin():
                actor = s.get(User, ann)
                assert actor is not None
                users.set_active(s, actor, root, False, clinic.now)
        except BaseException as exc:  # handed to the test's thread
            outcome.append(exc)
        else:
            outcome.append(None)

    with make() as s, s.begin():
        actor = s.get(User, root)
        assert actor is not None
        users.set_active(s, actor, ann, False, clinic.now)
        thread = threading.Thread(target=second)
        thread.start()
        thread.join(timeout=0.5)
        assert thread.is_alive()  # waiting for the first one's commit
    thread.join(timeout=30)
    [error] = outcome
    assert isinstance(error, Conflict)
    assert error.message == "this is the clinic's last active admin: make another user an admin first"
    with clinic.sessions() as s:
        active = s.scalars(select(User.username).where(User.role == "admin", User.active.is_(True)))
        assert list(active) == ["root"]
    assert [a.action for a in trail(clinic)] == ["disable-user"]


# --- the rules (pure) ---------------------------------------------------------------------------------------------
def test_the_account_rules() -> None:
    assert disable_refusal(1, 1, "admin", True, 3) == "you cannot disable your own login: another admin must do it"
    assert disable_refusal(1, 2, "admin", True, 1) == (
        "this is the clinic's last active admin: make another user an admin first"
    )
    assert disable_refusal(1, 2, "admin", True, 2) is None
    assert disable_refusal(1, 2, "nurse", True, 1) is None
    assert role_change_refusal("admin", "nurse", True, 1) is not None
    assert role_change_refusal("admin", "nurse", False, 1) is None  # a disabled admin is not the clinic's admin
    assert role_change_refusal("admin", "nurse", True, 2) is None
    assert role_change_refusal("nurse", "admin", True, 1) is None
    for old, new in (("nurse", "patient"), ("patient", "nurse"), ("nurse", "nurse"), ("nurse", "boss")):
        with pytest.raises(InputError) as err:
            check_role_change(old, new)
        assert err.value.field == "role"
    check_role_change("nurse", "physician")
    check_password("0123456789")
    with pytest.raises(InputError, match=r"password: must be at least 10 characters \(it has 9\)"):
        check_password("012345678")
    with pytest.raises(InputError, match="new_password: must be at most 200 characters"):
        check_password("x" * 201, "new_password")


def test_a_filter_that_is_no_plain_text_or_no_date_of_the_years_handled_is_refused_in_words(clinic: Clinic) -> None:
    """A NUL in a text filter was a 500 on PostgreSQL (psycopg refuses it in a query); a To date of 9999-12-31 a
    500 on both databases (the day after it is no date). Each is refused naming its field as the form labels it,
    the page and the export alike."""
    _seed_trail(clinic)
    root = Browser(clinic, "root")
    for query, message in (
        ("actor=%00", "Who: contains a control or invisible character (U+0000): type plain text"),
        ("action=%00", "Action: contains a control or invisible character (U+0000): type plain text"),
        ("entity=%00", "Entity: contains a control or invisible character (U+0000): type plain text"),
        ("entity=user%2F%E2%80%AE1", "Entity: contains a control or invisible character (U+202E): type plain text"),
        ("actor=" + "n" * 121, "Who: at most 120 characters, got 121"),
        ("until=9999-12-31", "To (date): 9999-12-31 is outside the years 1970 to 2199"),
        ("since=9999-12-31", "From (date): 9999-12-31 is outside the years 1970 to 2199"),
        ("since=0001-01-01", "From (date): 0001-01-01 is outside the years 1970 to 2199"),
        ("since=1969-12-31", "From (date): 1969-12-31 is outside the years 1970 to 2199"),
        (
            "until=2199-12-31",
            "To (date): 2199-12-31 is the last day of the years 1970 to 2199: leave the date empty to include every "
            "later record",
        ),
    ):
        r = root.get("/admin/audit?" + query)
        assert r.status_code == 422, (query, r.text[:300])
        assert text_by_id(r.text, "filter-error-message") == message, query
        export = root.get("/admin/audit.csv?" + query)
        assert export.status_code == 422, (query, export.text[:300])
        assert message in page_text(export.text), query
    # the years' ends themselves are found
    assert root.get("/admin/audit?since=1970-01-01&until=2199-12-30").status_code == 200
    assert root.get("/admin/audit.csv?since=1970-01-01&until=2199-12-30").status_code == 200


def test_no_page_of_the_trail_shows_a_hash(clinic: Clinic) -> None:
    """The hashes cover before and after (a guess of a withheld record could be checked against them): the web's
    trail and export show none, to the admin as to a physician (the API gives them to the physician)."""
    _seed_trail(clinic)
    with clinic.sessions() as s:
        hashes = [r.hash[:12] for r in s.scalars(select(AuditRecord))]
    for who in ("root", "ada"):
        browser = Browser(clinic, who)
        for path in ("/admin/audit", "/admin/audit?verify=1", "/admin/audit.csv", "/admin"):
            r = browser.get(path)
            assert r.status_code == 200
            assert not [h for h in hashes if h in r.text], (who, path)


def test_the_users_page_shows_a_locked_login_and_a_reset_lifts_it(clinic: Clinic) -> None:
    """A nurse who mistyped ten times is locked for 15 minutes: the admin sees until when, in the clinic's time,
    and the reset that gives her a new password in person lifts it."""
    root = Browser(clinic, "root")
    nora = uid(clinic, "nora")
    for _ in range(10):  # 20 s apart, past every back-off: the 10th at 15:03:00 UTC locks until 15:18 (09:18 CST)
        assert Browser(clinic).login("nora", "not her password").status_code == 401
        clinic.advance(seconds=20)
    page = root.get("/admin/users").text
    assert text_by_id(page, f"user-{nora}-locked") == "locked until 21 Nov 2026 09:18 CST"
    assert f'id="user-{uid(clinic, "ada")}-locked"' not in page
    r = submit(root, f"password-{nora}", f"/admin/users/{nora}/password", {"new_password": NEW_PASSWORD})
    assert r.status_code == 303
    assert f'id="user-{nora}-locked"' not in root.follow(r).text
    assert Browser(clinic).login("nora", NEW_PASSWORD).status_code == 303
