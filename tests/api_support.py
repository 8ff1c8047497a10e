"""Shared pieces for the clinic API tests (tests/test_api_*.py): patients, program files, and counting records.

Every test uses the `clinic` fixture, so it runs on SQLite and on PostgreSQL. Password hashing is made cheap
(still argon2id, with minimal cost parameters) for the users the fixture creates, so the whole set stays fast;
tests/test_api_auth.py checks the service's real hashing separately.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from openidds.db.models import AuditRecord, Base
from openidds.service import auth
from tests.clinic_db import PASSWORD, START, Clinic

__all__ = ["PASSWORD", "START", "Clinic"]


def cheap_hasher(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id at its lowest cost: the same code path, about a thousandth of the time."""
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


def fast_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cheap hasher, and logins reused until the token's own expiry instead of asking /auth/me before every
    call."""
    cheap_hasher(monkeypatch)
    monkeypatch.setattr(Clinic, "as_", _as)


def _as(self: Clinic, username: str) -> dict[str, str]:
    expires: dict[str, datetime] = self.__dict__.setdefault("expires", {})
    token = self.tokens.get(username)
    if token is None or username not in expires or self.now >= expires[username]:
        r = self.client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        token = self.tokens[username] = r.json()["token"]
        expires[username] = datetime.fromisoformat(r.json()["expires_at"])
    return {"Authorization": f"Bearer {token}"}


# --- program files ------------------------------------------------------------------------------------------------
# The README's worked example: morphine 10 mg/mL + clonidine 100 mcg/mL, 0.40 mL/day 00:00-07:00 and 22:00-24:00,
# 0.60 mL/day 07:00-22:00 → 0.525 mL/day; remote 0.02 mL, 10 min, lockout 4 h, at most 3 a day (worst case
# 0.585 mL/day). Filled with 40 mL at START (2026-11-21 09:00 CST).
FLEX_STEPS = """mode = "flex"
period = "day"
steps = [ { at = "00:00", rate = "0.40 mL/day" },
          { at = "07:00", rate = "0.60 mL/day" },
          { at = "22:00", rate = "0.40 mL/day" } ]"""


def flex_program(
    filled_at: str = "2026-11-21T09:00",
    morphine: str = "10 mg/mL",
    clonidine: str = "100 mcg/mL",
    program: str = FLEX_STEPS,
    bolus: str = 'volume = "0.02 mL"',
) -> str:
    return f"""[pump]
model = "programmable-40"
catheter = {{ model = "intrathecal-one-piece", length = "60 cm" }}

[reservoir]
filled_at = "{filled_at}"
timezone = "America/Chicago"
volume = "40 mL"
low_alarm = "2 mL"

[[drugs]]
name = "morphine"
concentration = "{morphine}"

[[drugs]]
name = "clonidine"
concentration = "{clonidine}"

[program]
{program}

[patient_bolus]
{bolus}
duration = "10 min"
lockout = "4 h"
max_per_day = 3

[context]
care_area = "pain-noncancer"
opioid_naive = false
"""


FLEX = flex_program()
FLEX_SOLUTION = [
    {"name": "morphine", "concentration": "10 mg/mL"},
    {"name": "clonidine", "concentration": "100 mcg/mL"},
]
# Both drugs doubled, rates a little over half: morphine 5.25 → 5.775 mg/day (+10 %, under the 20 % soft limit).
CONCENTRATED_STEPS = """mode = "flex"
period = "day"
steps = [ { at = "00:00", rate = "0.22 mL/day" },
          { at = "07:00", rate = "0.33 mL/day" },
          { at = "22:00", rate = "0.22 mL/day" } ]"""
CONCENTRATED = flex_program(
    morphine="20 mg/mL", clonidine="200 mcg/mL", program=CONCENTRATED_STEPS, bolus='dose = "0.2 mg"'
)
CONCENTRATED_SOLUTION = [
    {"name": "morphine", "concentration": "20 mg/mL"},
    {"name": "clonidine", "concentration": "200 mcg/mL"},
]


def continuous_flex(rate: str) -> str:
    """The flex example's solution and remote, at one continuous rate."""
    return flex_program(program=f'mode = "continuous"\nrate = "{rate}"')


def morphine_program(filled_at: datetime, rate: str) -> str:
    """Morphine 10 mg/mL alone, continuous, no remote (the worst case is the program), 40 mL, alarm at 2 mL."""
    return f"""[pump]
model = "programmable-40"
catheter = {{ model = "intrathecal-one-piece", length = "60 cm" }}

[reservoir]
filled_at = "{filled_at.isoformat()}"
timezone = "America/Chicago"
volume = "40 mL"
low_alarm = "2 mL"

[[drugs]]
name = "morphine"
concentration = "10 mg/mL"

[program]
mode = "continuous"
rate = "{rate}"

[context]
care_area = "pain-noncancer"
opioid_naive = false
"""


def baclofen(
    concentration: str = "2000 mcg/mL",
    dose: str = "200 mcg/day",
    filled_at: str = START.isoformat(),
    volume: str = "20 mL",
    catheter: bool = True,
) -> str:
    """Spinal baclofen alone in a 20 mL programmable pump, the alarm raised to 4 mL; with 50 cm of two-piece
    catheter (pathway 0.2 + 50 × 0.0024 = 0.32 mL) unless `catheter` is False."""
    line = 'catheter = { model = "intrathecal-two-piece", length = "50 cm" }\n' if catheter else ""
    return f"""[pump]
model = "programmable-20"
{line}
[reservoir]
filled_at = "{filled_at}"
timezone = "America/Chicago"
volume = "{volume}"
low_alarm = "4 mL"

[[drugs]]
name = "baclofen"
concentration = "{concentration}"

[program]
mode = "continuous"
dose = "{dose}"

[context]
care_area = "spasticity-spinal"
"""


def baclofen_program(filled_at: datetime) -> str:
    """Baclofen 500 mcg/mL at 100 mcg/day = 0.2 mL/day, no catheter in the file."""
    return baclofen("500 mcg/mL", "100 mcg/day", filled_at.isoformat(), catheter=False)


# --- patients -----------------------------------------------------------------------------------------------------
# A morphine single-shot trial: NRS 8 → 3 is 5/8 = 62.5 % relief, a success.
TRIAL: dict[str, Any] = {
    "method": "single-shot-bolus",
    "therapy": "pain",
    "drug": "morphine",
    "baseline_nrs": 8,
    "doses": [{"dose": "0.2 mg", "observation_hours": 8, "nrs": 3}],
}


# Baclofen screening: Ashworth 3 → 1 after 100 mcg is a fall of 2 points, a success; its effect lasted 6 h (≤ 8 h),
# so the pump starts at twice the dose, 200 mcg/day (CMSC 2015).
SCREENING: dict[str, Any] = {
    "method": "baclofen-screening",
    "therapy": "spasticity",
    "drug": "baclofen",
    "baseline_ashworth": "3",
    "doses": [{"dose": "100 mcg", "observation_hours": 6, "ashworth": "1", "effect_hours": 6}],
}


def eligible_evaluation(indication: str, drugs: list[str], **changes: Any) -> dict[str, Any]:
    """Every checklist item answered as met."""
    body: dict[str, Any] = {
        "indication": indication,
        "planned_drugs": drugs,
        "conservative_therapy_failed": True,
        "further_surgery_indicated": False,
        "psychological_evaluation": "cleared",
        "active_infection": False,
        "uncorrected_coagulopathy": False,
        "on_anticoagulants": False,
        "allergies": [],
        "psychosis_history": False,
        "active_substance_misuse": False,
        "life_expectancy_3_months_or_more": True,
        "realistic_expectations": True,
        "committed_to_refills_and_follow_up": True,
        "time_since_onset": "2 years",
    }
    body.update(changes)
    return body


def through_trial(clinic: Clinic, pid: int, who: str = "ada") -> None:
    """The pathway up to the implant: an eligible evaluation and a successful trial fitted to the patient's care."""
    patient = clinic.call("GET", f"/patients/{pid}", who).json()
    spastic = patient["care_area"].startswith("spasticity")
    indication = patient["indications"][0] if patient["indications"] else "failed-back-surgery-syndrome"
    # every drug the tests' programs may hold is planned: a drug the evaluation did not plan needs a reason
    planned = ["baclofen"] if spastic else ["morphine", "hydromorphone", "fentanyl", "sufentanil", "bupivacaine"]
    evaluation = eligible_evaluation(indication, [*planned, *([] if spastic else ["clonidine", "ziconotide"])])
    r = clinic.call("POST", f"/patients/{pid}/evaluations", who, json=evaluation)
    assert (r.status_code, r.json().get("outcome")) == (201, "eligible"), r.text
    r = clinic.call("POST", f"/patients/{pid}/trials", who, json=SCREENING if spastic else TRIAL)
    assert (r.status_code, r.json().get("outcome")) == (201, "success"), r.text


def patient_body(mrn: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "mrn": mrn,
        "family_name": f"Doe-{mrn}",
        "given_name": "Jane",
        "birth_date": "1960-02-03",
        "sex": "female",
        "care_area": "pain-noncancer",
        "indications": ["failed-back-surgery-syndrome"],
    }
    body.update(changes)
    return body


def new_patient(clinic: Clinic, mrn: str, who: str = "nora", **changes: Any) -> int:
    r = clinic.call("POST", "/patients", who, json=patient_body(mrn, **changes))
    assert r.status_code == 201, r.text
    pid: int = r.json()["id"]
    return pid


def implant_body(program: str, implanted_at: datetime | str, model: str = "programmable-40") -> dict[str, Any]:
    at = implanted_at if isinstance(implanted_at, str) else implanted_at.isoformat()
    body: dict[str, Any] = {
        "pump_model": model,
        "pump_serial": "SN-1",
        "catheter_model": "intrathecal-one-piece",
        "catheter_length_cm": "60",
        "tip_level": "T10",
        "implanted_at": at,
        "surgeon": "Dr Ada",
        "program": program,
    }
    return body


def implant(
    clinic: Clinic,
    pid: int,
    program: str = FLEX,
    implanted_at: datetime | str = START,
    model: str = "programmable-40",
    review_first_fill: bool = True,
) -> dict[str, Any]:
    """The first implant, after the pathway's evaluation and trial (recorded here if the patient has neither); a
    compounded first fill then reviewed by the pharmacist (unless `review_first_fill` is False)."""
    if clinic.call("GET", f"/patients/{pid}", "ada").json()["stage"] in ("evaluation", "trial"):
        through_trial(clinic, pid)
    r = clinic.call("POST", f"/patients/{pid}/implants", "ada", json=implant_body(program, implanted_at, model))
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    if review_first_fill:
        first_fill_reviewed(clinic, pid)
    return out


def first_fill_reviewed(clinic: Clinic, pid: int) -> None:
    """A compounded first fill is reviewed by a second person: the pharmacist, as the clinic would."""
    for f in clinic.call("GET", f"/patients/{pid}/flags", "phil").json():
        if f["code"] == "implant.first-fill-unchecked" and f["resolved_at"] is None:
            done = {"resolution": "compounding record checked against the prescription and the label"}
            r = clinic.call("POST", f"/patients/{pid}/flags/{f['id']}/resolve", "phil", json=done)
            assert r.status_code == 200, r.text


def implanted_patient(clinic: Clinic, mrn: str, program: str = FLEX, implanted_at: datetime | str = START) -> int:
    pid = new_patient(clinic, mrn)
    implant(clinic, pid, program, implanted_at)
    return pid


def prepare_body(
    volume: str = "40",
    solution: list[dict[str, str]] | None = None,
    expires_at: str = "2030-01-01T00:00:00+00:00",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "drug_lot": "L-1",
        "solution": FLEX_SOLUTION if solution is None else solution,
        "expires_at": expires_at,
        "volume_ml": volume,
        **extra,
    }


def complete_body(withdrawn: str, filled: str = "40", **extra: Any) -> dict[str, Any]:
    return {"withdrawn_ml": withdrawn, "filled_ml": filled, **extra}


def refill(
    clinic: Clinic,
    pid: int,
    withdrawn: str,
    filled: str = "40",
    solution: list[dict[str, str]] | None = None,
    preparer: str = "nora",
    checker: str = "bo",
    filler: str = "nora",
) -> dict[str, Any]:
    """A whole refill, step by step: prepared, checked by a second person, completed. Returns the completed one."""
    r = clinic.call("POST", f"/patients/{pid}/refills", preparer, json=prepare_body(filled, solution))
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    r = clinic.call("POST", f"/patients/{pid}/refills/{rid}/check", checker)
    assert r.status_code == 200, r.text
    r = clinic.call("POST", f"/patients/{pid}/refills/{rid}/complete", filler, json=complete_body(withdrawn, filled))
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


# --- counting what was written ------------------------------------------------------------------------------------
def count(clinic: Clinic, model: type[Base]) -> int:
    with clinic.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def audit_actions(clinic: Clinic) -> list[str]:
    with clinic.sessions() as s:
        return list(s.scalars(select(AuditRecord.action).order_by(AuditRecord.sequence)))


# --- spasticity: one baclofen patient and its refills ----------------------------------------------------------
def spastic_patient(clinic: Clinic, mrn: str, concentration: str = "2000 mcg/mL", dose: str = "200 mcg/day") -> int:
    pid = new_patient(clinic, mrn, care_area="spasticity-spinal", indications=["spinal-cord-injury-spasticity"])
    implant(clinic, pid, baclofen(concentration, dose), START, model="programmable-20")
    return pid


def solution(concentration: str) -> list[dict[str, str]]:
    return [{"name": "baclofen", "concentration": concentration}]


def prepare(clinic: Clinic, pid: int, concentration: str, volume: str = "20", who: str = "nora", **extra: Any) -> Any:
    """A baclofen refill prepared at `concentration` (step 1 only)."""
    return clinic.call(
        "POST", f"/patients/{pid}/refills", who, json=prepare_body(volume, solution(concentration), **extra)
    )
