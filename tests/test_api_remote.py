"""The patient's remote through the API, on SQLite and PostgreSQL: the twin decides each request (lockout,
daily maximum) with the reason, and every request is kept.

The README's flex example: a bolus of 0.02 mL over 10 min, lockout 4 h, at most 3 in any 24 h. Filled with 40 mL
at START (2026-11-21 09:00 CST).
"""

from __future__ import annotations

import pytest

from tests.api_support import Clinic, fast_argon2, implanted_patient


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_argon2(monkeypatch)


def test_remote_requests_are_decided_by_the_twin_and_all_kept(clinic: Clinic) -> None:
    pid = implanted_patient(clinic, "B-1")
    clinic.user("pat", "patient", pid)
    path = f"/patients/{pid}/remote-requests"

    def press(hours: float) -> tuple[bool, str]:
        clinic.advance(hours=hours)
        r = clinic.call("POST", path, "pat")
        assert r.status_code == 201, r.text
        return r.json()["accepted"], r.json()["reason"]

    assert press(1) == (True, "dose given")  # 10:00 CST
    assert press(2) == (False, "lockout: next dose possible in 120 min")  # 12:00: 2 h of the 4 h lockout left
    assert press(2) == (True, "dose given")  # 14:00
    assert press(4) == (True, "dose given")  # 18:00: the third in 24 h
    # 22:30: the lockout ended at 22:00, but 3 doses in the last 24 h; the first (10:00) leaves the window at
    # 10:00 tomorrow: 11 h 30 min = 690 min.
    assert press(4.5) == (False, "daily maximum of 3 reached: next dose possible in 690 min")

    kept = clinic.call("GET", path, "pat").json()
    assert [(k["at"], k["accepted"]) for k in kept] == [
        ("2026-11-21T16:00:00+00:00", True),
        ("2026-11-21T18:00:00+00:00", False),
        ("2026-11-21T20:00:00+00:00", True),
        ("2026-11-22T00:00:00+00:00", True),
        ("2026-11-22T04:30:00+00:00", False),
    ]
    assert kept[1]["reason"] == "lockout: next dose possible in 120 min"
    assert clinic.call("GET", path, "nora").json() == kept  # the care team sees the same log

    # The twin counts what was given: 09:00-22:00 at 0.6 mL/day (0.325 mL) and 22:00-22:30 at 0.4 mL/day
    # (0.0083333 mL) = 1/3 mL by the program, plus 3 × 0.02 mL: 40 - 0.3333333 - 0.06 = 39.6066667 mL.
    pump = clinic.call("GET", f"/patients/{pid}/pump", "pat").json()
    assert (pump["reservoir_ml"], pump["expected_residual_ml"]) == ("39.6066667", "39.6066667")

    clinic.advance(hours=11.5)  # 10:00 the next day: the first dose has left the window
    r = clinic.call("POST", path, "pat")
    assert (r.json()["accepted"], r.json()["reason"]) == (True, "dose given")
    assert len(clinic.call("GET", path, "pat").json()) == 6
