"""Logging in through the API, on SQLite and PostgreSQL: one message for any failed login, tokens that expire after
8 h and can be revoked, and passwords kept only as argon2 hashes (tokens only as SHA-256 digests)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from openidds.db.models import Token, User
from openidds.service import auth
from tests.api_support import Clinic, fast_argon2
from tests.clinic_db import PASSWORD

LOGIN = "/api/v1/auth/login"
ME = "/api/v1/auth/me"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


REAL_HASHER = auth._hasher  # the service's own argon2 parameters


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_argon2(monkeypatch)


def log_in(clinic: Clinic, username: str, password: str = PASSWORD) -> str:
    r = clinic.client.post(LOGIN, json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    token: str = r.json()["token"]
    return token


def test_a_failed_login_says_the_same_for_an_unknown_user_and_a_wrong_password(clinic: Clinic) -> None:
    wrong = clinic.client.post(LOGIN, json={"username": "ada", "password": "not her password"})
    unknown = clinic.client.post(LOGIN, json={"username": "nobody", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert (
        wrong.json()
        == unknown.json()
        == {
            "field": None,
            "message": "wrong username or password",
            "detail": "wrong username or password",
            "codes": [],
            "errors": [],
        }
    )
    assert wrong.headers["www-authenticate"] == unknown.headers["www-authenticate"] == "Bearer"
    case = clinic.client.post(LOGIN, json={"username": "ADA", "password": PASSWORD})
    assert case.status_code == 401  # user names are exact
    r = clinic.client.post(LOGIN, json={"username": "ada", "password": ""})
    assert (r.status_code, r.json()["field"]) == (422, "password")
    with clinic.sessions() as s:
        assert s.scalars(select(Token)).all() == []  # no token for a failed login

    r = clinic.client.post(LOGIN, json={"username": "ada", "password": PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["expires_at"] == "2026-11-21T23:00:00+00:00"  # START + 8 h
    with clinic.sessions() as s:
        ada_id = s.scalars(select(User.id).where(User.username == "ada")).one()
    assert body["user"] == {
        "id": ada_id,
        "username": "ada",
        "full_name": "Ada",
        "role": "physician",
        "patient_id": None,
    }

    assert clinic.client.get(ME).status_code == 401  # no token
    r = clinic.client.get(ME, headers=bearer("made-up"))
    assert (r.status_code, r.json()["detail"]) == (401, "the token is unknown, expired or revoked: log in again")


def test_tokens_expire_after_8_hours_and_logout_revokes(clinic: Clinic) -> None:
    morning = log_in(clinic, "nora")
    clinic.advance(hours=7, minutes=59, seconds=59)
    assert clinic.client.get(ME, headers=bearer(morning)).status_code == 200
    clinic.advance(seconds=1)  # 8 h exactly: expired
    r = clinic.client.get(ME, headers=bearer(morning))
    assert (r.status_code, r.json()["detail"]) == (401, "the token is unknown, expired or revoked: log in again")
    assert clinic.client.get("/api/v1/patients", headers=bearer(morning)).status_code == 401

    first, second = log_in(clinic, "nora"), log_in(clinic, "nora")  # two devices
    r = clinic.client.post("/api/v1/auth/logout", headers=bearer(first))
    assert (r.status_code, r.json()) == (200, {"status": "token revoked"})
    assert clinic.client.get(ME, headers=bearer(first)).status_code == 401
    assert clinic.client.post("/api/v1/auth/logout", headers=bearer(first)).status_code == 401
    assert clinic.client.get(ME, headers=bearer(second)).json()["username"] == "nora"  # the other stays valid
    with clinic.sessions() as s:
        tokens = {t.token_hash: t for t in s.scalars(select(Token))}
    revoked = tokens[hashlib.sha256(first.encode()).hexdigest()]
    assert revoked.revoked_at == clinic.now and revoked.expires_at == clinic.now + timedelta(hours=8)
    assert first not in tokens and second not in tokens  # only digests are stored


def test_passwords_are_stored_as_argon2_hashes(clinic: Clinic, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the service's real hasher: the stored hash is argon2id, verifies, and never leaves the service."""
    monkeypatch.setattr(auth, "_hasher", REAL_HASHER)
    headers = clinic.as_("root")
    r = clinic.client.post(
        "/api/v1/users",
        headers=headers,
        json={"username": "pia", "full_name": "Pia Pharm", "role": "pharmacist", "password": "a long pass phrase"},
    )
    assert r.status_code == 201, r.text
    assert "password" not in r.text and "argon2" not in r.text
    with clinic.sessions() as s:
        stored = s.scalars(select(User.password_hash).where(User.username == "pia")).one()
        everyone = list(s.scalars(select(User.password_hash)))
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")  # argon2-cffi's RFC 9106 low-memory profile
    assert "a long pass phrase" not in stored
    assert PasswordHasher().verify(stored, "a long pass phrase")
    assert all(h.startswith("$argon2") for h in everyone) and len(set(everyone)) == len(everyone)  # salted
    assert log_in(clinic, "pia", "a long pass phrase")

    r = clinic.client.post(
        "/api/v1/users",
        headers=headers,
        json={"username": "pia", "full_name": "Again", "role": "nurse", "password": "another pass phrase"},
    )
    assert r.status_code == 409
    r = clinic.client.post(
        "/api/v1/users",
        headers=headers,
        json={"username": "short", "full_name": "S", "role": "nurse", "password": "short"},
    )
    assert (r.status_code, r.json()["field"]) == (422, "password")
