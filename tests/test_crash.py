"""Crash test: `kill -9` of the real server under concurrent writes, on SQLite and on PostgreSQL (issue 11).

`idds serve` runs as a subprocess (its own process group) on a database prepared beforehand: users, and two
implanted patients each with a patient login. Writer threads (httpx, loopback only) create patients with unique
MRNs, record follow-ups and press the remote, each keeping every write the server acknowledged (a 2xx) with its id.
In the middle of the load the server is killed with SIGKILL and started again on the same database, three times.
After each restart: every acknowledged write reads back through the API, nothing is half-written (each patient,
follow-up and remote request has its audit record and each such audit record its row), no patient exists that no
writer sent, and `idds audit verify` exits 0 "intact".

Bounded: each wait has a deadline, each writer stops by itself, and every server started is killed in `finally`.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from openidds.db import make_engine, sessions
from openidds.db.models import AuditRecord, FollowUp, Patient, RemoteRequest
from openidds.service import audit
from tests.api_support import fast_argon2, flex_program, implant, new_patient
from tests.clinic_db import PASSWORD, POSTGRES_URL, Clinic, _postgres_or_skip

ROUNDS = 3
ACKS_BEFORE_KILL = 12  # acknowledged writes in a round before the kill: the load is running, not starting
LOAD_SECONDS = 10.0  # at most, before the kill whatever was acknowledged
START_SECONDS = 45.0  # for `idds serve` to answer (migrating a new database takes a few seconds)
REQUEST_SECONDS = 10.0
CLIENT = httpx.Client  # loopback only, and never through a proxy from the environment (trust_env=False below)


# --- the database -------------------------------------------------------------------------------------------------
@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL `idds serve` gets: a SQLite file, or a new PostgreSQL schema (dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'crash.sqlite3'}"
        return
    _postgres_or_skip()
    schema = f"crash_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield POSTGRES_URL + ("&" if "?" in POSTGRES_URL else "?") + f"options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def prepare(url: str, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Users and two implanted patients (each with a patient login pat1, pat2), through the service in this process,
    an hour before the real time the server will use. Returns the patients' ids."""
    fast_argon2(monkeypatch)  # cheap argon2 parameters in the stored hashes: the server's logins are quick too
    engine = make_engine(url)
    try:
        clinic = Clinic(engine)  # migrates the new database
        clinic.now = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
        for name, role in (("ada", "physician"), ("nora", "nurse"), ("phil", "pharmacist")):
            clinic.user(name, role)
        pids = []
        for i in (1, 2):
            pid = new_patient(clinic, f"CRASH-IMPLANTED-{i}")
            implant(clinic, pid, flex_program(filled_at=clinic.now.isoformat(timespec="minutes")), clinic.now)
            clinic.user(f"pat{i}", "patient", pid)
            pids.append(pid)
        return pids
    finally:
        engine.dispose()


# --- the server ---------------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _idds() -> list[str]:
    script = Path(sys.executable).with_name("idds")
    return [str(script)] if script.exists() else [sys.executable, "-c", "from openidds.cli.app import main; main()"]


def _die_with_parent() -> None:
    """In the child before exec: Linux kills it if pytest itself dies (even by SIGKILL, where no `finally` runs)."""
    if sys.platform == "linux":
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


class Server:
    """`idds serve` in a process group of its own, so a kill reaches everything it started."""

    def __init__(self, url: str, log: Path) -> None:
        self.url, self.log_path = url, log
        self.process: subprocess.Popen[bytes] | None = None
        self.base = ""

    def start(self) -> None:
        for _attempt in range(3):  # a free port can be taken by someone else before the server binds it
            port = _free_port()
            self.base = f"http://127.0.0.1:{port}"
            command = [*_idds(), "serve", "--database", self.url, "--host", "127.0.0.1", "--port", str(port)]
            with self.log_path.open("ab") as log:
                log.write(f"\n--- start on port {port}\n".encode())
                log.flush()
                self.process = subprocess.Popen(
                    command,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                    env={**os.environ},
                )
            if self._wait_until_up():
                return
            self.kill()
            if "address already in use" not in self.log().lower():
                break
        raise RuntimeError(f"idds serve did not start:\n{self.log()}")

    def _wait_until_up(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + START_SECONDS
        with CLIENT(trust_env=False, timeout=2) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    return False
                try:
                    if client.get(f"{self.base}/api/v1/auth/me").status_code == 401:  # ours, not another's port
                        return True
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        return False

    def kill(self) -> None:
        """SIGKILL to the whole group, then reap: no server outlives the test."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.killpg(self.process.pid, signal.SIGKILL)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # SIGKILL cannot be ignored: only a stuck kernel gets here
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:] if self.log_path.exists() else ""


# --- the load -----------------------------------------------------------------------------------------------------
@dataclass
class Acks:
    """What the server acknowledged (2xx), by kind: (patient id, record id, what was sent)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    patients: dict[int, str] = field(default_factory=dict)  # id → MRN
    follow_ups: dict[int, int] = field(default_factory=dict)  # id → patient id
    remote: dict[int, int] = field(default_factory=dict)  # id → patient id
    mrns_sent: set[str] = field(default_factory=set)
    other: list[str] = field(default_factory=list)  # non-2xx answers (a 503 is allowed: nothing saved)

    def count(self) -> int:
        with self.lock:
            return len(self.patients) + len(self.follow_ups) + len(self.remote)


def writer(
    base: str, token: str, stop: threading.Event, deadline: float, write: Callable[[httpx.Client, int], bool]
) -> Callable[[], None]:
    """A thread's loop: write until told to stop or past the deadline; a dead server only makes it pause."""

    def run() -> None:
        headers = {"Authorization": f"Bearer {token}"}
        with CLIENT(base_url=base, headers=headers, trust_env=False, timeout=REQUEST_SECONDS) as client:
            n = 0
            while not stop.is_set() and time.monotonic() < deadline:
                n += 1
                try:
                    write(client, n)
                except httpx.HTTPError:  # killed mid-request, or not listening: unacknowledged, not lost
                    time.sleep(0.05)

    return run


class Load:
    """Six writers: two create patients, two record follow-ups and both patients press their remote."""

    def __init__(self, base: str, tokens: dict[str, str], pids: list[int], round_no: int, acks: Acks) -> None:
        self.acks, self.round_no = acks, round_no
        self.stop = threading.Event()
        deadline = time.monotonic() + LOAD_SECONDS + 15  # the writers' own bound, whatever happens here
        jobs = [
            (tokens["nora"], self.create(1)),
            (tokens["ada"], self.create(2)),
            (tokens["nora"], self.follow_up(pids[0])),
            (tokens["ada"], self.follow_up(pids[1])),
            (tokens["pat1"], self.press(pids[0])),
            (tokens["pat2"], self.press(pids[1])),
        ]
        self.threads = [
            threading.Thread(target=writer(base, token, self.stop, deadline, job), daemon=True) for token, job in jobs
        ]

    def run_until_busy(self) -> int:
        """Start the writers and return once ACKS_BEFORE_KILL more writes were acknowledged (or LOAD_SECONDS
        passed), the writers still running: how many were acknowledged."""
        before = self.acks.count()
        for t in self.threads:
            t.start()
        until = time.monotonic() + LOAD_SECONDS
        while self.acks.count() - before < ACKS_BEFORE_KILL and time.monotonic() < until:
            time.sleep(0.02)
        return self.acks.count() - before

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=REQUEST_SECONDS + 5)
            assert not t.is_alive(), "a writer did not stop"

    def create(self, i: int) -> Callable[[httpx.Client, int], bool]:
        acks = self.acks

        def go(client: httpx.Client, n: int) -> bool:
            mrn = f"CRASH-{self.round_no}-{i}-{n}"
            with acks.lock:
                acks.mrns_sent.add(mrn)
            body = {
                "mrn": mrn,
                "family_name": f"Crash{i}",
                "given_name": "Test",
                "birth_date": "1960-02-03",
                "sex": "female",
                "care_area": "pain-noncancer",
                "indications": ["failed-back-surgery-syndrome"],
            }
            r = client.post("/api/v1/patients", json=body)
            return _kept(r, acks, lambda j: acks.patients.__setitem__(j["id"], mrn))

        return go

    def follow_up(self, pid: int) -> Callable[[httpx.Client, int], bool]:
        acks = self.acks

        def go(client: httpx.Client, n: int) -> bool:
            r = client.post(f"/api/v1/patients/{pid}/follow-ups", json={"nrs": 4, "baseline_nrs": 8})
            return _kept(r, acks, lambda j: acks.follow_ups.__setitem__(j["id"], pid))

        return go

    def press(self, pid: int) -> Callable[[httpx.Client, int], bool]:
        acks = self.acks

        def go(client: httpx.Client, n: int) -> bool:
            r = client.post(f"/api/v1/patients/{pid}/remote-requests")
            return _kept(r, acks, lambda j: acks.remote.__setitem__(j["id"], pid))

        return go


def _kept(r: httpx.Response, acks: Acks, keep: Callable[[Any], None]) -> bool:
    if 200 <= r.status_code < 300:
        with acks.lock:
            keep(r.json())
        return True
    with acks.lock:
        acks.other.append(f"{r.status_code} {r.request.method} {r.request.url.path}: {r.text[:200]}")
    return False


# --- the checks ---------------------------------------------------------------------------------------------------
def check_nothing_lost(base: str, tokens: dict[str, str], pids: list[int], acks: Acks) -> None:
    with CLIENT(base_url=base, trust_env=False, timeout=REQUEST_SECONDS) as client:
        nurse = {"Authorization": f"Bearer {tokens['nora']}"}
        for pid, mrn in acks.patients.items():
            r = client.get(f"/api/v1/patients/{pid}", headers=nurse)
            assert (r.status_code, r.json().get("mrn")) == (200, mrn), f"acknowledged patient {pid} {mrn} lost"
        for kind, acked in (("follow-ups", acks.follow_ups), ("remote-requests", acks.remote)):
            for pid in pids:
                r = client.get(f"/api/v1/patients/{pid}/{kind}", headers=nurse)
                assert r.status_code == 200, r.text
                stored = {row["id"] for row in r.json()}
                lost = {i for i, p in acked.items() if p == pid} - stored
                assert not lost, f"acknowledged {kind} of patient {pid} lost: {sorted(lost)}"


def check_nothing_half_written(url: str, acks: Acks) -> int:
    """Each row its audit record, each audit record its row; no patient that no writer sent. Returns how many
    patients were stored without an answer reaching the writer (committed as the kill came: allowed)."""
    engine = make_engine(url)
    try:
        with sessions(engine)() as s:
            audited: dict[str, set[str]] = {}
            for action, entity in s.execute(select(AuditRecord.action, AuditRecord.entity)):
                audited.setdefault(action, set()).add(entity)
            patients = {pid: mrn for pid, mrn in s.execute(select(Patient.id, Patient.mrn))}
            follow_ups = {(p, i) for p, i in s.execute(select(FollowUp.patient_id, FollowUp.id))}
            remote = {(p, i) for p, i in s.execute(select(RemoteRequest.patient_id, RemoteRequest.id))}
    finally:
        engine.dispose()
    assert {f"patient/{pid}" for pid in patients} == audited.get("create-patient", set())
    assert {f"patient/{p}/follow-up/{i}" for p, i in follow_ups} == {
        e for e in audited.get("record-follow-up", set()) if re.fullmatch(r"patient/\d+/follow-up/\d+", e)
    }
    assert {f"patient/{p}/remote/{i}" for p, i in remote} == audited.get("request-bolus", set())
    crash = {m for m in patients.values() if m.startswith("CRASH-") and not m.startswith("CRASH-IMPLANTED-")}
    assert crash <= acks.mrns_sent, f"patients no writer sent: {sorted(crash - acks.mrns_sent)}"
    assert set(acks.patients.values()) <= crash
    return len(crash - set(acks.patients.values()))


def check_chain(url: str) -> None:
    """The chain recomputed in this process (the CLI, at the end, costs seconds of imports on each call)."""
    engine = make_engine(url)
    try:
        with sessions(engine)() as s:
            records, findings = audit.verify(s)
    finally:
        engine.dispose()
    assert records > 0 and findings == [], findings


def check_audit_intact_by_the_cli(url: str) -> None:
    done = subprocess.run(
        [*_idds(), "audit", "verify", "--database", url], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.fullmatch(r"\d+ records, intact\n", done.stdout), done.stdout


# --- the test -----------------------------------------------------------------------------------------------------
def test_kill_9_under_concurrent_writes_loses_nothing_acknowledged(
    database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = time.monotonic()
    steps: list[tuple[str, float]] = []

    def step(name: str) -> None:
        steps.append((name, round(time.monotonic() - started - sum(s for _, s in steps), 1)))

    pids = prepare(database, monkeypatch)
    step("prepare")
    server = Server(database, tmp_path / "server.log")
    acks = Acks()
    per_round: list[int] = []
    unanswered = 0
    try:
        server.start()
        step("start")
        tokens = {}
        with CLIENT(base_url=server.base, trust_env=False, timeout=REQUEST_SECONDS) as client:
            for name in ("ada", "nora", "pat1", "pat2"):
                r = client.post("/api/v1/auth/login", json={"username": name, "password": PASSWORD})
                assert r.status_code == 200, r.text
                tokens[name] = r.json()["token"]  # kept in the database: valid again after each restart
        for round_no in range(1, ROUNDS + 1):
            writers = Load(server.base, tokens, pids, round_no, acks)
            try:
                per_round.append(writers.run_until_busy())
                server.kill()  # SIGKILL while the writers still send
            finally:
                writers.finish()
            step("load")
            server.start()  # the same database: SQLite's WAL or PostgreSQL's log recovers it
            step("restart")
            check_nothing_lost(server.base, tokens, pids, acks)
            unanswered += check_nothing_half_written(database, acks)
            check_chain(database)
            step("check")
    finally:
        server.kill()
    check_audit_intact_by_the_cli(database)  # `idds audit verify`, as a clinic would run it
    step("idds audit verify")
    # the load was real: writes of every kind acknowledged, enough in every round
    assert all(n >= ACKS_BEFORE_KILL for n in per_round), (per_round, acks.other[:5])
    assert acks.patients and acks.follow_ups and acks.remote, acks.other[:5]
    assert [a for a in acks.other if not a.startswith("503 ")] == []  # a refusal would be a bug; busy is allowed
    # No wall-clock assertion (a loaded machine would make it flaky): every wait above has its own deadline.
    print(
        f"crash test: {time.monotonic() - started:.1f} s; acknowledged per round {per_round} "
        f"({len(acks.patients)} patients of {len(acks.mrns_sent)} sent, {unanswered} stored unanswered, "
        f"{len(acks.follow_ups)} follow-ups, {len(acks.remote)} remote requests); steps (s) {steps}"
    )
