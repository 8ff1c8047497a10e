"""The demo clinic (`idds serve --demo`) and the service's CLI commands: `idds serve`, `idds audit verify|anchor`
and `idds user add`.

The demo is seeded once per test session at a fixed clock (tests/demo_db.py) and copied for each test.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.orm import Session

from openidds.api.app import create_app
from openidds.data import load_catalog, load_library
from openidds.db import make_engine, sessions
from openidds.db.models import (
    AuditHead,
    AuditRecord,
    Evaluation,
    Flag,
    Implant,
    Interrogation,
    Patient,
    ProgramVersion,
    Refill,
    RemoteRequest,
    Trial,
    User,
)
from openidds.programfile import parse_program
from openidds.service import audit
from openidds.service.auth import password_ok
from openidds.service.demo import DEMO_HASHES, LOGINS, README_REFILL_MRN, DemoLogins, seed_demo
from openidds.service.errors import Conflict
from openidds.service.pump import pump_state
from tests.cli_helpers import WIDE, assert_bad_input, assert_no_crash, run
from tests.clinic_db import engine_for
from tests.demo_db import NOW, demo_copy, seed_into


@pytest.fixture
def demo(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Iterator[tuple[Engine, str]]:
    """A fresh copy of the seeded demo clinic: its engine and its URL (for the CLI)."""
    path = tmp_path / "demo.sqlite3"
    engine, _ = demo_copy(tmp_path_factory, path)
    yield engine, f"sqlite:///{path}"
    engine.dispose()


def _by_mrn(s: Session, mrn: str) -> Patient:
    patient = s.scalar(select(Patient).where(Patient.mrn == mrn))
    assert patient is not None, mrn
    return patient


# The demo's logins, by hand from the README: five staff and three patients with the remote.
DEMO_ROLES = {
    "admin": "admin",
    "dr.okafor": "physician",
    "dr.lindqvist": "physician",
    "nurse.garcia": "nurse",
    "pharm.chen": "pharmacist",
    "t.hale": "patient",
    "m.rossi": "patient",
    "r.silva": "patient",
}


def _solutions(s: Session) -> list[tuple[str, tuple[str, ...]]]:
    """(care area, drugs) of every program a pump has run."""
    found = []
    for v in s.scalars(select(ProgramVersion).where(ProgramVersion.status.in_(("active", "superseded")))):
        program = parse_program(v.document, load_library(), load_catalog())
        found.append((program.context.care_area, tuple(i.drug.name for i in program.solution)))
    return found


# --- what the demo holds ------------------------------------------------------------------------------------------
def test_every_stage_drug_and_pump_family(demo: tuple[Engine, str]) -> None:
    with sessions(demo[0])() as s:
        stages = Counter(s.scalars(select(Patient.stage)))
        assert sum(stages.values()) == 40
        assert set(stages) == {"evaluation", "not-eligible", "trial", "trial-failed", "awaiting-implant", "implanted"}
        assert stages["implanted"] >= 20
        assert set(s.scalars(select(Evaluation.outcome))) == {"eligible", "needs-review", "not-eligible"}
        assert set(s.scalars(select(Trial.outcome))) == {"success", "failure", "needs-review"}
        # a referral with nothing recorded yet
        assert any(p.stage == "evaluation" and not _has(s, Evaluation, p.id) for p in s.scalars(select(Patient)))

        solutions = _solutions(s)
        every_drug = {d.name for d in load_library().drugs}
        assert {name for _, drugs in solutions for name in drugs} == every_drug
        admixed = {name for _, drugs in solutions if len(drugs) > 1 for name in drugs}
        assert {"bupivacaine", "clonidine"} <= admixed
        assert {area for area, drugs in solutions if "baclofen" in drugs} == {
            "spasticity-spinal",
            "spasticity-cerebral",
        }

        families = {load_catalog().pump(m, "pump").family for m in s.scalars(select(Implant.pump_model))}
        assert families == {"programmable", "valve-gated", "constant-flow"}


def _has(s: Session, model: Any, patient_id: int) -> bool:
    return bool(s.scalar(select(func.count()).select_from(model).where(model.patient_id == patient_id)))


def test_history(demo: tuple[Engine, str]) -> None:
    with sessions(demo[0])() as s:
        implants = list(s.scalars(select(Implant)))
        assert min(i.implanted_at for i in implants) < NOW - timedelta(days=round(6.5 * 365))  # years of history
        assert any(i.kind == "replacement" for i in implants)
        refills = list(s.scalars(select(Refill)))
        assert len(refills) > 100
        assert Counter(r.reconciliation for r in refills)["less-than-expected"] == 1  # the flagged refill
        # one prepared this morning, waiting for its check; one filled unchecked in an emergency (flagged)
        assert Counter(r.status for r in refills) == {"completed": len(refills) - 1, "prepared": 1}
        unchecked = [r for r in refills if r.status == "completed" and r.checked_by is None]
        assert len(unchecked) == 1 and unchecked[0].emergency_reason
        assert _by_mrn(s, "DEMO-0036").id == unchecked[0].patient_id
        waiting = next(r for r in refills if r.status == "prepared")
        assert waiting.patient_id == _by_mrn(s, "DEMO-0026").id and waiting.checked_by is None
        assert all(r.checked_by != r.prepared_by for r in refills if r.checked_by is not None)
        assert all(r.checked_at < r.at for r in refills if r.checked_at is not None and r.at is not None)
        assert any(r.compounded for r in refills)
        # a dose step past a soft limit, with the prescriber's reason
        overridden = [v for v in s.scalars(select(ProgramVersion)) if v.overrides]
        assert overridden and all(reason.strip() for v in overridden for reason in v.overrides.values())
        # a concentration change, verified by a second person, started by the refill that brought the new solution
        changed = [v for v in s.scalars(select(ProgramVersion)) if v.needs_second]
        assert changed
        assert all(v.verified_by is not None and v.verified_by not in (v.proposed_by, v.confirmed_by) for v in changed)
        started = [v for v in changed if v.status in ("active", "superseded")]
        assert started and all(v.applied_by is not None for v in started)
        for v in started:
            applied = s.get(Refill, v.applied_by)
            assert applied is not None and applied.at == v.effective_at
        # and one still waiting for its refill: the pump runs the program it holds
        waits = [v for v in changed if v.status == "awaiting-refill"]
        assert [v.patient_id for v in waits] == [_by_mrn(s, "DEMO-0024").id]
        # the patient remote: doses given and refused, with the reasons
        decisions = list(s.scalars(select(RemoteRequest)))
        assert {q.accepted for q in decisions} == {True, False}
        assert any(q.reason.startswith("lockout") for q in decisions)
        assert any(q.reason.startswith("daily maximum") for q in decisions)
        assert s.scalar(select(func.count()).select_from(Interrogation)) >= 3
        # the logins: staff and three patients, each patient login tied to its record
        users = {u.username: u for u in s.scalars(select(User))}
        assert {name: u.role for name, u in users.items()} == DEMO_ROLES
        assert {login.username for login in LOGINS.logins} == set(DEMO_ROLES)
        for login in LOGINS.logins:
            user = users[login.username]
            assert user.role == login.role
            if login.patient_mrn:
                assert user.patient_id == _by_mrn(s, login.patient_mrn).id


def test_the_audit_chain_is_intact_and_in_time_order(demo: tuple[Engine, str]) -> None:
    with sessions(demo[0])() as s:
        checked, findings = audit.verify(s)
        assert findings == [] and checked > 500
        ats = list(s.scalars(select(AuditRecord.at).order_by(AuditRecord.sequence)))
        assert ats == sorted(ats)  # the clinic was run forward in time, all patients together
        actions = Counter(s.scalars(select(AuditRecord.action)))
        assert actions["create-patient"] == 40
        assert actions["prepare-refill"] == s.scalar(select(func.count()).select_from(Refill))
        completed = s.scalar(select(func.count()).select_from(Refill).where(Refill.status == "completed"))
        assert actions["complete-refill"] == completed
        assert actions["create-user"] == len(LOGINS.logins)


def test_the_demo_passwords_match_their_hashes() -> None:
    assert set(DEMO_HASHES) == set(DEMO_ROLES)  # a hash for every demo login, and no other
    for login in LOGINS.logins:
        assert password_ok(DEMO_HASHES[login.username], login.password), login.username


def test_the_eri_patient(demo: tuple[Engine, str]) -> None:
    """Implanted more than 6.5 years ago: the twin has raised ERI, and the status row asks for a replacement."""
    engine = demo[0]
    with sessions(engine)() as s:
        ward = _by_mrn(s, "DEMO-0031")
        implant = s.scalar(select(Implant).where(Implant.patient_id == ward.id))
        assert implant is not None and NOW - implant.implanted_at > timedelta(days=round(6.5 * 365))
        state = pump_state(s, ward.id, NOW)
        assert state is not None and state.twin.eri_at is not None
        assert "eri" in [a.name for a in state.twin.alarms if a.cleared_at is None]


def _dashboard(engine: Engine) -> list[dict[str, Any]]:
    client = TestClient(create_app(engine, clock=lambda: NOW, migrate_db=False))
    nurse = LOGINS.by_role("nurse")
    login = client.post("/api/v1/auth/login", json={"username": nurse.username, "password": nurse.password})
    assert login.status_code == 200, login.text
    r = client.get("/api/v1/dashboard", headers={"Authorization": f"Bearer {login.json()['token']}"})
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()["patients"]
    return rows


def test_the_dashboard_opens_on_what_needs_the_team(demo: tuple[Engine, str]) -> None:
    rows = _dashboard(demo[0])
    assert len(rows) == 40
    by_mrn = {r["mrn"]: r for r in rows}
    assert by_mrn["DEMO-0025"]["urgency"] == "urgent-flag"  # PHQ-9 item 9 above 0, on ziconotide
    assert by_mrn["DEMO-0021"]["urgency"] == "refill-overdue"
    ward = by_mrn["DEMO-0031"]
    assert "eri" in [a["alarm"] for a in ward["active_alarms"]]
    assert any(c.startswith("pump replacement: plan it now (planned by ") for c in ward["concerns"])
    # ERI a month ago, end of service 90 days after it (label): 60 days from now
    assert ward["end_of_service"] is not None and ward["eri_at"] is not None
    eos, eri = datetime.fromisoformat(ward["end_of_service"]), datetime.fromisoformat(ward["eri_at"])
    assert eos - eri == timedelta(days=90)
    assert by_mrn["DEMO-0032"]["urgency"] == "replacement-due-soon"
    baclofen_soon = by_mrn["DEMO-0026"]
    assert baclofen_soon["withdrawal_risk"] and baclofen_soon["refill"] == "due-soon"
    assert [r["urgency"] for r in rows[:8]] == [
        "withdrawal-risk",  # baclofen: its refill visit was missed and the latest safe day (margin taken) has passed
        "urgent-flag",
        "urgent-flag",  # 9 mL of morphine 10 mg/mL unaccounted for at a refill: assess the patient now
        "refill-overdue",
        "alarm",
        "review-flag",
        "program-awaits-refill",
        "replacement-due-soon",
    ]
    price = by_mrn["DEMO-0036"]  # filled without its check, in an emergency: for review
    assert price["urgency"] == "review-flag" and price["concerns"][0].startswith("review: filled without its")
    bauer = by_mrn["DEMO-0024"]  # sufentanil 50 → 100 mcg/mL, waiting for the refill that brings it
    assert bauer["pending_program"] == (
        "program v2 awaits its refill: written for sufentanil 100 mcg/mL, pump holds sufentanil 50 mcg/mL"
    )
    with sessions(demo[0])() as s:
        flagged = s.scalar(select(Refill).where(Refill.reconciliation != "within-band"))
        assert flagged is not None and flagged.patient_id == _by_mrn(s, "DEMO-0034").id
        assert flagged.withdrawn_ml < flagged.expected_low_ml
        assert flagged.likely_causes[0].startswith("over-infusion")
        # Outside the band: a flag to acknowledge with a note, on the dashboard until someone does.
        ack = s.scalar(select(Flag).where(Flag.code == "refill.discrepancy"))
        assert ack is not None and ack.entity == f"refill/{flagged.id}" and ack.resolved_at is None
        assert by_mrn["DEMO-0034"]["urgency"] == "urgent-flag"
        assert by_mrn["DEMO-0034"]["concerns"][0] == (
            "urgent: reconciliation discrepancy: 0.9 mL withdrawn, less than the 9.9 mL expected (band 5.4 to 14.4 "
            "mL): up to 9 mL unaccounted for (morphine 90 mg), delivered beyond the program or lost"
        )  # 9.9 - 0.9 = 9 mL of 10 mg/mL
        # the README's refill patient has weeks of drug used since its last fill, and nothing pressing
        lopez = by_mrn[README_REFILL_MRN]
        assert lopez["urgency"] == "later"
        last = s.scalar(select(func.max(Refill.at)).where(Refill.patient_id == _by_mrn(s, README_REFILL_MRN).id))
        assert last is not None and timedelta(days=20) < NOW - last < timedelta(days=60)


def test_seeding_twice_does_not_duplicate(demo: tuple[Engine, str]) -> None:
    engine = demo[0]
    with pytest.raises(Conflict, match="already holds 40 patients"):
        seed_demo(sessions(engine), NOW + timedelta(days=1))
    with sessions(engine)() as s:
        assert s.scalar(select(func.count()).select_from(Patient)) == 40


def test_the_demo_on_postgresql(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The same clinic on PostgreSQL (the CI database): the same records, chain and dashboard as on SQLite."""
    sqlite_engine, _ = demo_copy(tmp_path_factory, tmp_path / "demo.sqlite3")
    for engine in engine_for("postgresql", tmp_path):
        logins = seed_into(engine)
        assert logins.patients == 40
        with sessions(engine)() as pg, sessions(sqlite_engine)() as lite:
            assert audit.verify(pg)[1] == []
            assert pg.get(AuditHead, 1).hash == lite.get(AuditHead, 1).hash  # the same records, to the byte
        got = [(r["mrn"], r["urgency"], r["next_refill_due"]) for r in _dashboard(engine)]
        assert got == [(r["mrn"], r["urgency"], r["next_refill_due"]) for r in _dashboard(sqlite_engine)]
    sqlite_engine.dispose()


# --- idds serve ---------------------------------------------------------------------------------------------------
class FakeUvicorn:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def run(self, app: Any, host: str, port: int, proxy_headers: bool = True, forwarded_allow_ips: Any = None) -> None:
        # the client's address is the connection's unless a proxy is named (the login throttle counts it)
        self.calls.append({"app": app, "host": host, "port": port, "proxy": (proxy_headers, forwarded_allow_ips)})


@pytest.fixture
def uvicorn_runs(monkeypatch: pytest.MonkeyPatch) -> FakeUvicorn:
    """`idds serve` up to the point where it would start listening."""
    fake = FakeUvicorn()
    monkeypatch.setattr("uvicorn.run", fake.run)
    return fake


def test_serve_help() -> None:
    result = run("serve", "--help")
    assert result.exit_code == 0, result.output
    for option in ("--demo", "--host", "--port", "--database"):
        assert option in result.stdout


def test_serve_demo_seeds_an_empty_database_and_prints_the_logins(
    tmp_path: Path, uvicorn_runs: FakeUvicorn, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded: list[Any] = []

    def fake_seed(sessionmaker: Any, now: Any) -> DemoLogins:  # the real seeding is tested above
        seeded.append(now)
        return DemoLogins(LOGINS.logins, patients=40, audit_records=603)

    monkeypatch.setattr("openidds.service.demo.seed_demo", fake_seed)
    url = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    result = run("serve", "--demo", "--port", "8123", "--database", url)
    assert_no_crash(result)
    assert result.exit_code == 0, result.output
    assert len(seeded) == 1
    out = result.stdout
    assert "Seeded the demo clinic: 40 patients, 603 audit records" in out
    for login in LOGINS.logins:
        assert re.search(rf"^\s+{re.escape(login.username)}\s+{re.escape(login.password)}\s", out, re.M), login
    assert "TOKEN=$(curl -s -X POST http://127.0.0.1:8123/api/v1/auth/login" in out
    assert 'curl -s "http://127.0.0.1:8123/api/v1/dashboard?limit=5" -H "Authorization: Bearer $TOKEN"' in out
    assert uvicorn_runs.calls[0]["host"] == "127.0.0.1" and uvicorn_runs.calls[0]["port"] == 8123
    assert uvicorn_runs.calls[0]["proxy"] == (False, None)  # X-Forwarded-For believed from nobody
    with make_engine(url).connect() as c:  # created and migrated
        assert c.execute(select(func.count()).select_from(AuditRecord)).scalar() == 0


def test_serve_demo_again_does_not_duplicate(demo: tuple[Engine, str], uvicorn_runs: FakeUvicorn) -> None:
    engine, url = demo
    result = run("serve", "--demo", "--database", url)
    assert result.exit_code == 0, result.output
    assert "already holds 40 patients: the demo clinic is not seeded again" in result.stdout
    assert "nurse.garcia-demo" in result.stdout  # its logins still work, so they are printed
    assert uvicorn_runs.calls
    with sessions(engine)() as s:
        assert s.scalar(select(func.count()).select_from(Patient)) == 40


def test_serve_without_demo_on_an_empty_database_says_how_to_add_the_first_admin(
    tmp_path: Path, uvicorn_runs: FakeUvicorn
) -> None:
    result = run("serve", "--database", f"sqlite:///{tmp_path / 'c.sqlite3'}")
    assert result.exit_code == 0, result.output
    assert "idds user add admin --role admin" in result.stdout
    assert "Seeded" not in result.stdout and uvicorn_runs.calls


def test_serve_bad_port(tmp_path: Path) -> None:
    assert_bad_input(run("serve", "--port", "0", "--database", f"sqlite:///{tmp_path / 'c.sqlite3'}"), "--port")
    # click's int() read other scripts' digits: '٨٠٠٠' was port 8000
    assert_bad_input(run("serve", "--port", "٨٠٠٠", "--database", f"sqlite:///{tmp_path / 'c.sqlite3'}"), "--port")


def test_serve_behind_a_named_proxy_believes_only_its_forwarded_address(
    tmp_path: Path, uvicorn_runs: FakeUvicorn
) -> None:
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    assert_bad_input(run("serve", "--trusted-proxy", "proxy.local", "--database", url), "--trusted-proxy")
    result = run("serve", "--trusted-proxy", "10.0.0.5", "--database", url)
    assert result.exit_code == 0, result.output
    assert uvicorn_runs.calls[-1]["proxy"] == (True, "10.0.0.5")


# --- idds audit -----------------------------------------------------------------------------------------------------
def test_audit_verify_intact_then_tampered(demo: tuple[Engine, str]) -> None:
    engine, url = demo
    result = run("audit", "verify", "--database", url)
    assert result.exit_code == 0, result.output
    total = int(re.fullmatch(r"(\d+) records, intact\n", result.stdout).group(1))  # type: ignore[union-attr]
    assert total > 500

    with sessions(engine)() as s, s.begin():  # someone edits record 200 in the database
        s.execute(update(AuditRecord).where(AuditRecord.sequence == 200).values(actor="mallory (physician)"))
    result = run("audit", "verify", "--database", url)
    assert_no_crash(result)
    assert result.exit_code == 1
    assert "record 200 was edited" in result.stdout
    doc = json.loads(run("audit", "verify", "--database", url, "--json").stdout)
    assert doc["intact"] is False and doc["records"] == total
    assert [(f["kind"], f["sequence"]) for f in doc["findings"]] == [("edited", 200)]


def test_audit_anchor_catches_the_newest_records_removed(demo: tuple[Engine, str]) -> None:
    engine, url = demo
    result = run("audit", "anchor", "--database", url)
    assert result.exit_code == 0, result.output
    anchor = result.stdout.strip()
    seq, digest = anchor.split(":")
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    with sessions(engine)() as s, s.begin():  # the newest record removed, and the head moved back: no trace inside
        s.execute(delete(AuditRecord).where(AuditRecord.sequence == int(seq)))
        previous = s.get(AuditRecord, int(seq) - 1)
        assert previous is not None
        s.execute(update(AuditHead).values(sequence=previous.sequence, hash=previous.hash))
    assert run("audit", "verify", "--database", url).exit_code == 0
    result = run("audit", "verify", "--database", url, "--anchor", anchor)
    assert result.exit_code == 1
    assert f"record {seq} is missing" in result.stdout


def test_audit_verify_bad_input(tmp_path: Path, demo: tuple[Engine, str]) -> None:
    assert_bad_input(run("audit", "verify", "--database", f"sqlite:///{tmp_path / 'none.sqlite3'}"), "--database")
    assert_bad_input(run("audit", "verify", "--database", demo[1], "--anchor", "12:abc"), "--anchor")
    assert_bad_input(run("audit", "anchor", "--database", f"sqlite:///{tmp_path / 'none.sqlite3'}"), "--database")


# --- idds user add ------------------------------------------------------------------------------------------------
def test_user_add(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'clinic.sqlite3'}"
    env = {**WIDE, "IDDS_PASSWORD": "a long enough password"}
    result = run("user", "add", "boss", "--role", "admin", "--name", "Clinic Boss", "--database", url, env=env)
    assert result.exit_code == 0, result.output
    assert "Added admin boss" in result.stdout
    engine = make_engine(url)
    with sessions(engine)() as s:
        user = s.scalar(select(User).where(User.username == "boss"))
        assert user is not None and user.role == "admin" and user.full_name == "Clinic Boss"
        assert password_ok(user.password_hash, "a long enough password")
        record = s.scalar(select(AuditRecord).where(AuditRecord.action == "create-user"))
        assert record is not None and record.actor == "cli" and record.entity == f"user/{user.id}"
        assert audit.verify(s)[1] == []
    engine.dispose()
    # and the new admin can log in to the service
    client = TestClient(create_app(make_engine(url), clock=lambda: NOW))
    login = client.post("/api/v1/auth/login", json={"username": "boss", "password": "a long enough password"})
    assert login.status_code == 200 and login.json()["user"]["role"] == "admin"


def test_user_add_bad_input(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'clinic.sqlite3'}"
    env = {**WIDE, "IDDS_PASSWORD": "a long enough password"}

    def add(*args: str, password: str | None = "a long enough password") -> Any:
        return run("user", "add", *args, "--database", url, env={**env, "IDDS_PASSWORD": password})

    assert_bad_input(add("bob", "--role", "surgeon", "--name", "Bob"), "--role", "surgeon")
    assert_bad_input(add("bob", "--role", "nurse", "--name", "Bob", password="short"), "IDDS_PASSWORD")
    assert_bad_input(add("pat", "--role", "patient", "--name", "Pat"), "--patient-id")
    assert_bad_input(add("Bad Name", "--role", "nurse", "--name", "Bob"), "USERNAME")
    assert add("bob", "--role", "nurse", "--name", "Bob").exit_code == 0
    assert_bad_input(add("bob", "--role", "nurse", "--name", "Bob"), "USERNAME", "already exists")
