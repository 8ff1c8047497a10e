"""Accounts (issue 11, first steps): logout with the bearer scheme in any case revokes the token; a login takes the
same argon2 work whether the username exists or not (no probing of usernames by timing)."""

from __future__ import annotations

from typing import Any

import pytest
from argon2 import PasswordHasher

from openidds.service import auth
from tests.api_support import Clinic, fast_argon2
from tests.clinic_db import PASSWORD


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
