"""Accounts (issue 11), on SQLite and PostgreSQL: logout with the bearer scheme in any case revokes the token; a
login takes the same argon2 work whether the username exists or not (no probing of usernames by timing); logins,
logouts and failures audited; a disabled login refused in a wrong password's words; one's own password change
ending every other session; the admin's API (list, disable, enable, revoke all, reset, role); the password rules
(length, not the username, not a common password). Throttling: tests/test_login_throttle.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from openidds.clinic.accounts import check_password
from openidds.db.models import AuditRecord, User
from openidds.errors import InputError
from openidds.service import auth
from tests.api_support import Clinic, fast_argon2, implanted_patient
from tests.cli_helpers import WIDE, assert_bad_input, run
from tests.clinic_db import PASSWORD
from tests.web_support import Browser


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_argon2(monkeypatch)


def test_logout_with_a_lowercase_scheme_revokes_the_token(clinic: Clinic) -> None:
    token = clinic.client.post("/api/v1/auth/login", json={"username": "nora", "password": PASSWORD}).json()["token"]
    lower = {"Authorization": f"bearer {token}"}
    assert clinic.client.get("/api/v1/auth/me", headers=lower).status_code == 200
    r = clinic.client.post("/api/v1/auth/logout", headers=lower)
    assert r.status_code == 200 and r.json() == {"status": "token revoked"}
    assert clinic.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


class Counting(PasswordHasher):
    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> Any:
        self.verified += 1
        return super().verify(hash, password)


def test_an_unknown_username_costs_one_argon2_verify_like_a_known_one(
    clinic: Clinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    hasher = Counting()
    monkeypatch.setattr(auth, "_hasher", hasher)
    for username in ("nora", "nobody-at-all"):
        before = hasher.verified
        r = clinic.client.post("/api/v1/auth/login", json={"username": username, "password": "wrong password"})
        assert r.status_code == 401 and r.json()["detail"] == "wrong username or password"
        assert hasher.verified - before == 1, username


# --- issue 11: accounts with a lifecycle ------------------------------------------------------------------------------
LOGIN = "/api/v1/auth/login"
ME = "/api/v1/auth/me"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def log_in(clinic: Clinic, username: str, password: str = PASSWORD) -> str:
    r = clinic.client.post(LOGIN, json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    token: str = r.json()["token"]
    return token


def trail(clinic: Clinic, *actions: str) -> list[AuditRecord]:
    with clinic.sessions() as s:
        query = select(AuditRecord).order_by(AuditRecord.sequence)
        return [r for r in s.scalars(query) if not actions or r.action in actions]


def uid(clinic: Clinic, username: str) -> int:
    with clinic.sessions() as s:
        found: int = s.scalars(select(User.id).where(User.username == username)).one()
    return found


def test_logins_logouts_and_failed_logins_are_audited_without_the_password(clinic: Clinic) -> None:
    token = log_in(clinic, "nora")
    typed = "Nora " + "y" * 70  # 75 characters as typed (the API takes at most 80)
    wrong = clinic.client.post(LOGIN, json={"username": typed, "password": "s3cret guess"})
    assert wrong.status_code == 401
    # her password typed into the username box: a name that is no login is never kept as typed
    assert clinic.client.post(LOGIN, json={"username": PASSWORD, "password": "nora"}).status_code == 401
    assert clinic.client.post(LOGIN, json={"username": "nora", "password": "s3cret guess"}).status_code == 401
    assert clinic.client.post("/api/v1/auth/logout", headers=bearer(token)).status_code == 200
    nora = uid(clinic, "nora")
    records = trail(clinic, "login", "login-failed", "logout")
    assert [(r.actor, r.action, r.entity) for r in records] == [
        ("nora (nurse)", "login", f"user/{nora}"),
        ("anonymous", "login-failed", "login/unknown"),
        ("anonymous", "login-failed", "login/unknown"),
        ("anonymous", "login-failed", "login/nora"),
        ("nora (nurse)", "logout", f"user/{nora}"),
    ]
    assert records[0].after == {"address": "testclient"}
    unknown = {"username": None, "address": "testclient", "failures": 1}
    assert records[1].after == {**unknown, "typed": "a name that is no login (60 characters)"}  # kept to 60
    assert records[2].after == {**unknown, "typed": f"a name that is no login ({len(PASSWORD)} characters)"}
    assert records[3].after == {"username": "nora", "typed": "a login's name", "address": "testclient", "failures": 1}
    with clinic.sessions() as s:
        everything = " ".join(str((r.before, r.after)) for r in s.scalars(select(AuditRecord)))
    assert "s3cret" not in everything and PASSWORD not in everything and "yyyy" not in everything


def test_a_disabled_account_cannot_log_in_and_gets_the_words_of_a_wrong_password(clinic: Clinic) -> None:
    token = log_in(clinic, "nora")
    nora = uid(clinic, "nora")
    r = clinic.call("POST", f"/users/{nora}/disable", "root")
    assert r.status_code == 200 and r.json()["active"] is False
    assert clinic.client.get(ME, headers=bearer(token)).status_code == 401  # the session ended
    disabled = clinic.client.post(LOGIN, json={"username": "nora", "password": PASSWORD})
    wrong = clinic.client.post(LOGIN, json={"username": "ada", "password": "not her password"})
    assert disabled.status_code == wrong.status_code == 401
    assert disabled.json() == wrong.json()
    assert disabled.json()["message"] == "wrong username or password"
    r = clinic.call("POST", f"/users/{nora}/enable", "root")
    assert r.status_code == 200 and r.json()["active"] is True
    assert log_in(clinic, "nora")
    assert [r.action for r in trail(clinic, "disable-user", "enable-user")] == ["disable-user", "enable-user"]


def test_changing_ones_password_revokes_every_other_token_but_this_one(clinic: Clinic) -> None:
    phone, desk, here = log_in(clinic, "nora"), log_in(clinic, "nora"), log_in(clinic, "nora")
    r = clinic.client.post(
        "/api/v1/auth/password",
        headers=bearer(here),
        json={"current_password": PASSWORD, "new_password": "three blind mice ran"},
    )
    assert (r.status_code, r.json()) == (200, {"status": "password changed", "sessions_ended": 2})
    assert clinic.client.get(ME, headers=bearer(here)).status_code == 200
    assert clinic.client.get(ME, headers=bearer(phone)).status_code == 401
    assert clinic.client.get(ME, headers=bearer(desk)).status_code == 401
    assert clinic.client.post(LOGIN, json={"username": "nora", "password": PASSWORD}).status_code == 401
    assert log_in(clinic, "nora", "three blind mice ran")
    [changed] = trail(clinic, "change-password")
    assert (changed.actor, changed.entity) == ("nora (nurse)", f"user/{uid(clinic, 'nora')}")
    assert changed.after == {"password": "changed", "sessions_ended": 2}


def test_a_wrong_current_password_is_a_422_counted_and_throttled_like_a_login(clinic: Clinic) -> None:
    token = log_in(clinic, "nora")
    body = {"current_password": "not my password", "new_password": "three blind mice ran"}
    for _ in range(5):
        r = clinic.client.post("/api/v1/auth/password", headers=bearer(token), json=body)
        assert r.status_code == 422
        assert r.json()["field"] == "current_password"
        assert r.json()["message"] == "is not your current password"
    assert len(trail(clinic, "password-change-failed")) == 5
    right = {**body, "current_password": PASSWORD}
    r = clinic.client.post("/api/v1/auth/password", headers=bearer(token), json=right)
    assert (r.status_code, r.headers["retry-after"]) == (429, "1")
    assert clinic.client.post(LOGIN, json={"username": "nora", "password": PASSWORD}).status_code == 429
    clinic.advance(seconds=1)
    assert clinic.client.post("/api/v1/auth/password", headers=bearer(token), json=right).status_code == 200


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("qwertyuiop", "is one of the most common passwords, the first that attackers try: choose a longer phrase"),
        ("1234567890", "is one of the most common passwords, the first that attackers try: choose a longer phrase"),
        ("Password123", "is one of the most common passwords, the first that attackers try: choose a longer phrase"),
        ("my name is kim.lee", "must not contain the username: choose words nobody links to the login"),
        ("KIM.LEE.2026", "must not contain the username: choose words nobody links to the login"),
    ],
)
def test_a_breached_password_or_one_holding_the_username_is_refused_naming_the_field(
    clinic: Clinic, password: str, message: str
) -> None:
    new = {"username": "kim.lee", "full_name": "Kim Lee", "role": "nurse", "password": password}
    r = clinic.call("POST", "/users", "root", json=new)
    assert r.status_code == 422
    assert (r.json()["field"], r.json()["message"]) == ("password", f"The password: {message}")
    r = clinic.call("POST", "/users", "root", json={**new, "password": "a sound pass phrase"})
    assert r.status_code == 201
    kim = r.json()["id"]
    r = clinic.call("POST", f"/users/{kim}/password", "root", json={"new_password": password})
    assert (r.status_code, r.json()["field"]) == (422, "new_password")
    token = log_in(clinic, "kim.lee", "a sound pass phrase")
    change = {"current_password": "a sound pass phrase", "new_password": password}
    r = clinic.client.post("/api/v1/auth/password", headers=bearer(token), json=change)
    assert (r.status_code, r.json()["field"]) == (422, "new_password")
    assert trail(clinic, "password-change-failed") == []  # a refused new password is no guess at the current one


def test_a_short_username_is_refused_only_as_the_whole_password(clinic: Clinic) -> None:
    """'bo' is inside many words: a pass phrase holding it is fine."""
    token = log_in(clinic, "bo")
    body = {"current_password": PASSWORD, "new_password": "a bonny boat sailed"}
    assert clinic.client.post("/api/v1/auth/password", headers=bearer(token), json=body).status_code == 200


def test_revoke_all_ends_every_session_api_and_web(clinic: Clinic) -> None:
    first, second = log_in(clinic, "ada"), log_in(clinic, "ada")
    browser = Browser(clinic, "ada")
    assert browser.get("/clinic").status_code == 200
    ada = uid(clinic, "ada")
    r = clinic.call("POST", f"/users/{ada}/revoke-tokens", "root")
    assert r.status_code == 200
    assert r.json()["sessions_ended"] == 3 and r.json()["user"]["username"] == "ada"
    assert clinic.client.get(ME, headers=bearer(first)).status_code == 401
    assert clinic.client.get(ME, headers=bearer(second)).status_code == 401
    assert browser.get("/clinic").headers["location"] == "/login?next=/clinic"
    [revoked] = trail(clinic, "revoke-tokens")
    assert (revoked.actor, revoked.entity, revoked.after["sessions_ended"]) == ("root (admin)", f"user/{ada}", 3)
    assert log_in(clinic, "ada")  # the account stays usable


def test_the_admin_api_for_accounts(clinic: Clinic) -> None:
    r = clinic.call("GET", "/users", "root")
    assert r.status_code == 200
    assert [(u["username"], u["role"], u["active"]) for u in r.json()] == [
        ("root", "admin", True),
        ("nora", "nurse", True),
        ("phil", "pharmacist", True),
        ("ada", "physician", True),
        ("bo", "physician", True),
    ]
    nora, root = uid(clinic, "nora"), uid(clinic, "root")
    r = clinic.call("POST", f"/users/{nora}/role", "root", json={"role": "pharmacist"})
    assert (r.status_code, r.json()["role"]) == (200, "pharmacist")
    r = clinic.call("POST", f"/users/{nora}/password", "root", json={"new_password": "reset by the admin"})
    assert r.status_code == 200
    assert log_in(clinic, "nora", "reset by the admin")
    assert clinic.call("POST", f"/users/{root}/disable", "root").status_code == 409  # not one's own
    assert clinic.call("POST", "/users/999/disable", "root").status_code == 404
    assert clinic.call("POST", f"/users/{nora}/role", "root", json={"role": "patient"}).status_code == 422
    for path in ("/disable", "/enable", "/revoke-tokens"):
        assert clinic.call("POST", f"/users/{nora}{path}", "ada").status_code == 403, path
    assert clinic.call("GET", "/users", "ada").status_code == 403
    assert [r.action for r in trail(clinic, "change-role", "reset-password")] == ["change-role", "reset-password"]
    # repeated with its Idempotency-Key: the first answer again, one audit record
    headers = {**clinic.as_("root"), "Idempotency-Key": "revoke-nora-1"}
    once = clinic.client.post(f"/api/v1/users/{nora}/revoke-tokens", headers=headers)
    again = clinic.client.post(f"/api/v1/users/{nora}/revoke-tokens", headers=headers)
    assert once.json() == again.json() and again.headers["idempotent-replayed"] == "true"
    assert len(trail(clinic, "revoke-tokens")) == 1


def test_idds_user_add_refuses_a_common_password(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'clinic.sqlite3'}"
    env: dict[str, str | None] = {**WIDE, "IDDS_PASSWORD": "qwertyuiop"}
    result = run("user", "add", "boss", "--role", "admin", "--name", "Clinic Boss", "--database", url, env=env)
    assert_bad_input(result, "IDDS_PASSWORD", "most common passwords")


def test_the_password_rules_by_hand() -> None:
    common = frozenset({"qwertyuiop"})
    check_password("a sound pass phrase", "password", "kim.lee", common)
    check_password("kim's first pw", "password", "kim", common)  # 'kim' is under 4 characters: inside is fine
    for password, words in (
        ("kim.lee-demo", "must not contain the username"),
        ("QWERTYUIOP", "is one of the most common passwords"),
        (" qwertyuiop ", "is one of the most common passwords"),  # spaces at the ends do not make it new
        ("kim", r"must be at least 10 characters \(it has 3\)"),
        ("x" * 201, "must be at most 200 characters"),
    ):
        with pytest.raises(InputError, match=words) as err:
            check_password(password, "new_password", "kim.lee", common)
        assert err.value.field == "new_password"
    with pytest.raises(InputError, match="must not contain the username"):
        check_password("kimkimkimk", "password", "kimkimkimk", common)  # the whole password
    # what the audit keeps of a name typed at the login: printable characters, at most 60
    assert auth.typed_name(" Nora\u200b\u0000\n") == "Nora"
    assert auth.typed_name("z" * 100) == "z" * 59 + "…"


def test_an_admins_password_reset_lifts_the_lock_on_the_login(clinic: Clinic) -> None:
    """Someone guessed nora's password 10 times: her login is locked. The admin gives her a new password in person;
    she logs in with it at once."""
    for _ in range(10):
        clinic.client.post(LOGIN, json={"username": "nora", "password": "a guess"})
        clinic.advance(seconds=20)
    assert clinic.client.post(LOGIN, json={"username": "nora", "password": PASSWORD}).status_code == 429
    r = clinic.call("POST", f"/users/{uid(clinic, 'nora')}/password", "root", json={"new_password": "given in person"})
    assert r.status_code == 200
    assert log_in(clinic, "nora", "given in person")


def test_a_replayed_key_does_not_outlive_a_change_of_role(clinic: Clinic) -> None:
    """A nurse records a follow-up with a key; her login becomes a pharmacist's (who may not record one). Sending the
    key again must not hand her the first answer, a clinical record, as if the old role still held."""
    pid = implanted_patient(clinic, "P-ROLE")
    path = f"/api/v1/patients/{pid}/follow-ups"
    key = {"Idempotency-Key": "follow-up-4711"}
    as_nurse = {**bearer(log_in(clinic, "nora")), **key}
    first = clinic.client.post(path, json={"nrs": 4}, headers=as_nurse)
    assert first.status_code == 201, first.text
    again = clinic.client.post(path, json={"nrs": 4}, headers=as_nurse)
    assert (again.status_code, again.headers.get("idempotent-replayed")) == (201, "true")
    r = clinic.call("POST", f"/users/{uid(clinic, 'nora')}/role", "root", json={"role": "pharmacist"})
    assert r.status_code == 200, r.text
    as_pharmacist = {**bearer(log_in(clinic, "nora")), **key}
    replay = clinic.client.post(path, json={"nrs": 4}, headers=as_pharmacist)
    assert replay.status_code == 422 and replay.json()["field"] == "Idempotency-Key", replay.text
    assert "idempotent-replayed" not in replay.headers
