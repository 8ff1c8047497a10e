"""Benchmark: the clinic dashboard (GET /api/v1/dashboard) for 5,000 patients with two years of history, on SQLite
and PostgreSQL, against the issue's target p99 ≤ 100 ms. Run by hand from the repository root:
`make bench-dashboard` (or `.venv/bin/python benchmarks/dashboard.py --help`). Exits non-zero if a correctness
check fails (the latency target is reported, not enforced).

1. The clinic is written in bulk (the use cases would replay each twin thousands of times): staff and patient
   logins, patients, implants, program versions (program files from the shipped examples with the pump, drugs,
   concentrations and rates varied; each checked: no hard finding, soft ones overridden with a reason), refills
   every ~60-90 days sized to the pump and drug stability, an interrogation at each refill, remote requests decided
   by the lockout and daily maximum, follow-ups every 3-6 months with some urgent flags (a few still open), 2 % of
   pumps near their replacement. Then each patient's dashboard row comes from
   `openidds.service.pump.refresh_status` (the twin replayed from those records) on 2 processes. The SQLite file
   is cached in the temp directory under a key of BUILD_VERSION, the size and a digest of the code that made the
   rows (BUILT_FROM); PostgreSQL gets the same rows copied into the schema `bench_dashboard`, made again when the
   key changes.
2. The app (`openidds.api.app.create_app`) runs under uvicorn in a process of its own, its clock starting at NOW
   and running in real time. The load generator is another process: closed loop, N threads each with a keep-alive
   httpx connection and a nurse's bearer token, a warm-up, then a fixed time; latency per request, client side,
   the whole body read. 2 cores: by default 1 uvicorn worker (one core for the server, the other for the load
   generator and PostgreSQL); `--workers 2` gives the server both, shared with the load.
   Then the first read after a write (a new dashboard version: the rows are read again), one client, no other load.
3. Correctness: total = 5,000; the first row is an overdue baclofen patient (withdrawal-risk); urgency never goes
   back up along the list; ?limit=50 is the first 50 rows; a write (an urgent follow-up) shows on the next read,
   and resolving it puts the list back as it was (checked on a server with its clock fixed at NOW).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from bisect import bisect_left, bisect_right
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `benchmarks` as a package, run from anywhere

import tomli_w
from sqlalchemy import Engine, insert, text

from openidds.calculations.reconcile import ResidualEstimate, reconcile
from openidds.clinic.dashboard import URGENCY_ORDER
from openidds.clinic.followup import AdverseEvent, FollowUpVisit, assess_follow_up
from openidds.data import load_catalog, load_library
from openidds.db import make_engine, migrate
from openidds.db.models import (
    Base,
    FollowUp,
    Implant,
    Interrogation,
    Patient,
    PatientStatus,
    ProgramVersion,
    Refill,
    RemoteRequest,
    User,
)
from openidds.programfile import parse_program
from openidds.quantities import Quantity
from openidds.safety import check
from openidds.service.auth import hash_password
from openidds.service.pump import refresh_status, solution_json

BUILD_VERSION = "dashboard-3"  # change whenever the generated clinic changes: the caches are rebuilt
PATIENTS = 5_000
SEED = 20261121
NOW = datetime(2028, 11, 21, 15, 0, tzinfo=UTC)  # the clinic's "now": the server's clock starts here
HISTORY = timedelta(days=730)
TARGET_P99_MS = 100.0
POSTGRES_URL = os.environ.get("IDDS_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PG_SCHEMA = "bench_dashboard"
NURSE, PASSWORD = "nurse1", "bench dashboard password"
DAY = timedelta(days=1)
ROOT = Path(__file__).resolve().parent.parent
RESOLVED = {"resolution": "seen by the physician today: no plan or intent; safety plan agreed"}
LOCKOUT = timedelta(hours=4)


# --- the clinic, generated ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Kind:
    """A therapy, from one of the shipped examples: what varies per patient is picked in `_therapy`."""

    name: str
    share: float
    care_area: str
    indications: tuple[str, ...]
    zones: tuple[str, ...]


KINDS = (
    Kind(
        "morphine-flex",  # examples/morphine-clonidine-flex.toml
        0.51,
        "pain-noncancer",
        (
            "failed-back-surgery-syndrome",
            "complex-regional-pain-syndrome",
            "arachnoiditis",
            "radiculopathy",
            "spinal-stenosis",
            "neuropathic-pain",
            "chronic-pancreatitis",
        ),
        ("America/Chicago", "America/New_York"),
    ),
    Kind("morphine-constant", 0.12, "pain-cancer", ("cancer-pain",), ("Europe/London",)),  # constant-flow-morphine
    Kind(
        "baclofen-continuous",  # examples/baclofen-spinal-continuous.toml
        0.22,
        "spasticity-spinal",
        ("multiple-sclerosis-spasticity", "spinal-cord-injury-spasticity"),
        ("Europe/Berlin",),
    ),
    Kind(
        "baclofen-week",  # examples/baclofen-cerebral-week.toml
        0.10,
        "spasticity-cerebral",
        ("cerebral-palsy-spasticity", "traumatic-brain-injury-spasticity", "hypoxic-brain-injury-spasticity"),
        ("America/New_York",),
    ),
    Kind("ziconotide", 0.05, "pain-noncancer", ("neuropathic-pain",), ("America/Chicago",)),  # ziconotide-first-fill
)
NOT_IMPLANTED = 0.05  # in evaluation or trial: no pump yet
OLD_PUMP = 0.02  # implanted ~6.7 years ago: the battery's replacement indicator is near or past
STAFF = (
    [("dr.ada", "physician"), ("dr.bo", "physician"), ("dr.cy", "physician"), ("dr.di", "physician")]
    + [(f"nurse{i}", "nurse") for i in range(1, 9)]
    + [("pharm1", "pharmacist"), ("pharm2", "pharmacist"), ("admin", "admin")]
)
PATIENT_USER_BASE = 100  # a patient's own login (their remote) has id PATIENT_USER_BASE + patient id
FAMILY = ("Smith", "Garcia", "Müller", "Nguyen", "Kowalski", "Okafor", "Rossi", "Dubois", "Jensen", "Tanaka", "Silva")
GIVEN = ("Ana", "Ben", "Chloé", "Dev", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jo", "Kai", "Lena", "Mo", "Noor")


@dataclass(frozen=True)
class Therapy:
    kind: Kind
    zone: str
    pump: str
    volume: Fraction  # mL, filled full at each visit
    low: Fraction  # mL: the low-reservoir alarm (constant flow: the reserve the refill is planned around)
    drugs: list[dict[str, str]]
    program: dict[str, Any]  # [program] at the final rate
    bolus: dict[str, Any] | None
    context: dict[str, Any]
    rate: Fraction  # mean mL/day of the final program
    bolus_ml: Fraction  # one patient bolus, mL
    stability_days: int

    def document(self, filled_at: datetime, scale: Fraction = Fraction(1)) -> str:
        """The program file, filled at `filled_at`, with every rate scaled by `scale` (earlier programs)."""
        program = _scaled(self.program, scale)
        doc: dict[str, Any] = {"pump": {"model": self.pump}}
        if self.pump.startswith("programmable"):
            doc["pump"]["catheter"] = {"model": "intrathecal-one-piece", "length": "60 cm"}
        doc["reservoir"] = {
            "filled_at": filled_at.astimezone(ZoneInfo(self.zone)).strftime("%Y-%m-%dT%H:%M"),
            "timezone": self.zone,
            "volume": f"{_num(self.volume)} mL",
            "low_alarm": f"{_num(self.low)} mL",
        }
        doc["drugs"] = self.drugs
        doc["program"] = program
        if self.bolus is not None:
            doc["patient_bolus"] = self.bolus
        doc["context"] = self.context
        return tomli_w.dumps(doc)


def _num(x: Fraction) -> str:
    return format(float(x), ".10g")


def _rate(x: Fraction) -> str:
    return f"{float(x):.3f} mL/day"


def _scaled(program: dict[str, Any], scale: Fraction) -> dict[str, Any]:
    if scale == 1:
        return program
    out = dict(program)
    if "steps" in out:
        out["steps"] = [{**s, "rate": _rate(Fraction(s["rate"].split()[0]) * scale)} for s in out["steps"]]
    if "dose" in out:
        value, unit = out["dose"].split(" ", 1)
        out["dose"] = f"{_num(round(Fraction(value) * scale, 1))} {unit}"
    return out


def _therapy(kind: Kind, zone: str, rng: random.Random) -> Therapy:
    """The pump, drugs and program for one patient: the final rate empties to the low alarm in the worst case (with
    every allowed bolus) in 75-125 days, unless the pump's fixed rate decides."""
    days = Fraction(rng.choice((75, 85, 95, 105, 115, 125)))
    bolus: dict[str, Any] | None = None
    bolus_ml = Fraction(0)
    if kind.name == "morphine-flex":
        pump = "programmable-40" if rng.random() < 0.7 else "programmable-20"
        volume, low = (Fraction(40), Fraction(2)) if pump.endswith("40") else (Fraction(20), Fraction(2))
        morphine = rng.choice((10, 20))
        drugs = [{"name": "morphine", "concentration": f"{morphine} mg/mL"}]
        if rng.random() < 0.6:
            drugs.append({"name": "clonidine", "concentration": f"{morphine * 10} mcg/mL"})
        if rng.random() < 0.75:
            bolus_ml = Fraction(2, 100) if morphine == 10 else Fraction(1, 100)
            bolus = {"volume": f"{_num(bolus_ml)} mL", "duration": "10 min", "lockout": "4 h", "max_per_day": 3}
        mean = (volume - low) / days - 3 * bolus_ml
        night = mean * 24 / Fraction(63, 2)  # 9 h at the night rate, 15 h at 1.5 times it
        night = max(Fraction(round(night * 1000), 1000), Fraction(60, 1000))
        steps = [
            {"at": "00:00", "rate": _rate(night)},
            {"at": "07:00", "rate": _rate(night * 3 / 2)},
            {"at": "22:00", "rate": _rate(night)},
        ]
        program: dict[str, Any] = {"mode": "flex", "period": "day", "steps": steps}
        rate = Fraction(round(night * 1000), 1000) * 9 / 24 + Fraction(round(night * 1500), 1000) * 15 / 24
        context: dict[str, Any] = {"care_area": kind.care_area, "opioid_naive": False}
        stability = 90
    elif kind.name == "morphine-constant":
        pump = "constant-flow-30-0.5" if rng.random() < 0.8 else "constant-flow-30-1.0"
        volume, low = Fraction(30), Fraction(3)
        rate = Fraction(1, 2) if pump.endswith("0.5") else Fraction(1)
        morphine = rng.choice((5, 10, 20))
        drugs = [{"name": "morphine", "concentration": f"{morphine} mg/mL"}]
        program = {"mode": "continuous", "dose": f"{_num(morphine * rate)} mg/day"}
        context = {"care_area": kind.care_area, "opioid_naive": False}
        stability = 90
    elif kind.name in ("baclofen-continuous", "baclofen-week"):
        pump = "programmable-20" if rng.random() < 0.7 else "programmable-40"
        volume, low = (Fraction(20), Fraction(4)) if pump.endswith("20") else (Fraction(40), Fraction(4))
        mcg = rng.choice((500, 1000, 2000))
        drugs = [{"name": "baclofen", "concentration": f"{mcg} mcg/mL"}]
        target = (volume - low) / days
        if kind.name == "baclofen-continuous":
            dose = max(Fraction(round(target * mcg / 5) * 5), Fraction(50))
            program = {"mode": "continuous", "dose": f"{dose} mcg/day"}
            rate = dose / mcg
        else:
            weekday = Fraction(round(target * 7 / Fraction(5 + 2 * Fraction(5, 6)) * 1000), 1000)
            weekend = Fraction(round(weekday * 5 / 6 * 1000), 1000)
            steps = [{"day": "mon", "at": "00:00", "rate": _rate(weekday)}]
            steps.append({"day": "sat", "at": "00:00", "rate": _rate(weekend)})
            program = {"mode": "flex", "period": "week", "steps": steps}
            rate = (weekday * 5 + weekend * 2) / 7
        context = {"care_area": kind.care_area}
        stability = 180
    else:  # ziconotide, undiluted 25 mcg/mL: the stability (84 days) decides
        pump = "programmable-20"
        volume, low = Fraction(20), Fraction(2)
        dose = Fraction(rng.choice((24, 30, 36, 48, 60)), 10)
        drugs = [{"name": "ziconotide", "concentration": "25 mcg/mL"}]
        program = {"mode": "continuous", "dose": f"{_num(dose)} mcg/day"}
        rate = dose / 25
        context = {"care_area": kind.care_area, "psychosis_history": False}
        stability = 84
    return Therapy(kind, zone, pump, volume, low, drugs, program, bolus, context, rate, bolus_ml, stability)


def _due_days(t: Therapy) -> float:
    """Days from a full fill to the refill due (roughly what the twin works out: stability or worst-case low)."""
    worst = t.rate + (3 * t.bolus_ml if t.bolus is not None else 0)
    return min(float(t.stability_days), float((t.volume - t.low) / worst))


def _follow_up_templates() -> dict[str, tuple[dict[str, Any], list[Any], list[Any], bool]]:
    """A few follow-up visits assessed by the core once: (scores, complications, flags, urgent)."""
    visits = {
        "pain": (("morphine",), FollowUpVisit(nrs=4, baseline_nrs=8, phq9=(1, 1, 0, 1, 0, 0, 1, 0, 0))),
        "pain-side-effect": (
            ("morphine",),
            FollowUpVisit(nrs=5, baseline_nrs=8, adverse_events=(AdverseEvent("constipation", 2),)),
        ),
        "pain-urgent": (("morphine",), FollowUpVisit(nrs=7, baseline_nrs=8, phq9=(2, 2, 1, 2, 1, 1, 1, 1, 1))),
        "spasticity": (
            ("baclofen",),
            FollowUpVisit(ashworth="1+", previous_ashworth="1+", penn_frequency=1, penn_severity=1),
        ),
        "spasticity-urgent": (
            ("baclofen",),
            FollowUpVisit(ashworth="3", previous_ashworth="1", penn_frequency=3, penn_severity=2),
        ),
    }
    out = {}
    for name, (drugs, visit) in visits.items():
        visit = FollowUpVisit(**{**{f: getattr(visit, f) for f in visit.__slots__}, "drugs": drugs})
        doc = assess_follow_up(visit, library=load_library()).as_json()
        events = [{"item": e.item, "grade": e.grade} for e in visit.adverse_events]
        urgent = any(f.get("urgent") for f in doc["flags"])
        out[name] = ({k: v for k, v in doc.items() if k != "flags"}, events, doc["flags"], urgent)
    assert out["pain-urgent"][3] and out["spasticity-urgent"][3] and not out["pain"][3], "urgent templates"
    return out


@dataclass
class Rows:
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, table: str, row: dict[str, Any]) -> None:
        self.tables.setdefault(table, []).append(row)


def _minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def _visit(day: datetime, rng: random.Random) -> datetime:
    """A clinic visit on that day, between 14:00 and 21:00 UTC."""
    return _minute(day.replace(hour=14, minute=0) + timedelta(minutes=rng.randrange(7 * 60)))


_CHECKED: dict[tuple[str, str], list[Any]] = {}


def _checked(document: str, previous: str | None) -> list[Any]:
    """The findings of a generated program (against the one before it): none may be hard. Programs that differ
    only in the fill instant are checked once."""
    key = (_undated(document), _undated(previous or ""))
    if key not in _CHECKED:
        library, catalog = load_library(), load_catalog()
        program = parse_program(document, library, catalog)
        before = None if previous is None else parse_program(previous, library, catalog)
        findings = [f.as_json() for f in check(program, program.context, before, library=library)]
        hard = [f for f in findings if f["severity"] == "hard"]
        assert not hard, f"a generated program has hard findings: {hard}\n{document}"
        _CHECKED[key] = findings
    return _CHECKED[key]


def _undated(document: str) -> str:
    return "\n".join(line for line in document.splitlines() if not line.startswith("filled_at"))


_SOLUTIONS: dict[str, list[dict[str, str]]] = {}


def _solution(document: str) -> list[dict[str, str]]:
    """The refill's solution as the service writes it (`solution_json` of the parsed program)."""
    key = _undated(document)
    if key not in _SOLUTIONS:
        _SOLUTIONS[key] = solution_json(parse_program(document, load_library(), load_catalog()).solution)
    return _SOLUTIONS[key]


@cache
def _causes(status: str) -> list[str]:
    expected = Quantity.of(10, "mL")
    estimate = ResidualEstimate(expected, Quantity.of(9, "mL"), Quantity.of(11, "mL"), Quantity.of(10, "mL"))
    withdrawn = {"less-than-expected": 5, "more-than-expected": 15, "within-band": 10}[status]
    result = reconcile(estimate, Quantity.of(withdrawn, "mL")).value
    assert result.status == status
    return list(result.likely_causes)


def generate_patient(pid: int, rows: Rows, follow_ups: dict[str, Any], staff: dict[str, list[int]]) -> None:
    """One patient and their history up to NOW, deterministic in (SEED, pid)."""
    rng = random.Random(SEED * 100_003 + pid)
    u = rng.random()
    kind, acc = KINDS[-1], 0.0  # the shares add up to 1
    for k in KINDS:
        acc += k.share
        if u < acc:
            kind = k
            break
    implanted = rng.random() >= NOT_IMPLANTED
    zone = rng.choice(kind.zones)
    born = datetime(1940, 1, 1) + timedelta(days=rng.randrange(60 * 365))
    ago = HISTORY + timedelta(days=rng.randrange(120, 200)) if implanted else timedelta(days=rng.randrange(1, 120))
    created = _visit(NOW - ago, rng)  # referred before the implant, or lately (still being evaluated)
    rows.add(
        "patients",
        {
            "id": pid,
            "mrn": f"BD{pid:06d}",
            "family_name": rng.choice(FAMILY),
            "given_name": rng.choice(GIVEN),
            "birth_date": born.date(),
            "sex": rng.choice(("female", "male")),
            "timezone": zone,
            "care_area": kind.care_area,
            "indications": [rng.choice(kind.indications)],
            "oral_mme_per_day": Fraction(rng.choice((0, 30, 60, 90, 120))) if "pain" in kind.care_area else None,
            "allergies": [],
            "anticoagulants": [],
            "psychosis_history": False,
            "life_expectancy_months": 12 if kind.care_area == "pain-cancer" else None,
            "stage": "implanted" if implanted else rng.choice(("evaluation", "trial", "awaiting-implant")),
            "created_at": created,
            "version": 1,
        },
    )
    if not implanted:
        return
    t = _therapy(kind, zone, rng)
    nurse, physician = rng.choice(staff["nurse"]), rng.choice(staff["physician"])
    old = rng.random() < OLD_PUMP and t.pump.startswith("programmable")
    if old:  # ERI by age falls 7 years - 90 days after the implant: from 15 days ahead to 30 days past
        implant_at = _visit(NOW - timedelta(days=2556.75 - 90 + rng.uniform(-15, 30)), rng)
    else:
        implant_at = _visit(NOW - HISTORY - timedelta(days=rng.randrange(0, 90)), rng)
    rows.add(
        "implants",
        {
            "patient_id": pid,
            "kind": "implant",
            "pump_model": t.pump,
            "pump_serial": f"SN{pid:07d}",
            "catheter_model": "intrathecal-one-piece",
            "catheter_length_cm": Fraction(60),
            "tip_level": rng.choice(("T8", "T10", "T11")),
            "implanted_at": implant_at,
            "surgeon": "Dr Ada",
            "notes": "",
            "recorded_by": physician,
            "recorded_at": implant_at,
        },
    )
    # The refill visits, backward from the last one: how long ago sets the patient's state at NOW.
    due = _due_days(t)
    v = rng.random()
    if v < 0.04:  # overdue
        since = due + rng.uniform(0.3, 20)
    elif v < 0.05:  # lost to follow-up: well overdue, the reservoir low or empty
        since = due + rng.uniform(20, 60)
    elif v < 0.14:  # due within 7 days
        since = due - rng.uniform(0.05, 7)
    else:
        since = rng.uniform(0.5, max(due - 7.2, 1))
    visits: list[datetime] = []
    at = _visit(NOW - timedelta(days=since), rng)
    while at > implant_at + timedelta(days=10):
        visits.append(at)
        at = _visit(at - timedelta(days=max(14.0, due * rng.uniform(0.7, 0.95))), rng)
    visits.reverse()
    visits = [a for a in visits if a < NOW]
    # Program versions: the first at the implant; some patients have 1-2 dose changes at a refill visit.
    n_changes = 0 if t.pump.startswith("constant-flow") else rng.choice((0, 0, 0, 1, 1, 2))  # fixed rate
    changes = sorted(rng.sample(range(len(visits)), k=min(len(visits), n_changes)))
    scales = [Fraction(1)]
    for _ in changes:
        scales.insert(0, scales[0] * Fraction(rng.choice((90, 95, 105, 110)), 100))
    starts = [implant_at] + [visits[i] + timedelta(minutes=20) for i in changes]
    previous: str | None = None
    for number, (start, scale) in enumerate(zip(starts, scales, strict=True), start=1):
        document = t.document(start if number == 1 else visits[changes[number - 2]], scale)
        findings = _checked(document, previous)
        soft = sorted({str(f["code"]) for f in findings if f["severity"] == "soft"})
        last = number == len(starts)
        rows.add(
            "program_versions",
            {
                "patient_id": pid,
                "number": number,
                "document": document,
                "status": "active" if last else "superseded",
                "findings": findings,
                "overrides": {code: "titration agreed with the patient" for code in soft},
                "diff": [],
                "needs_second": False,
                "bridge": False,
                "effective_at": start,
                "proposed_by": physician,
                "proposed_at": start - timedelta(minutes=10),
                "confirmed_by": physician,
                "confirmed_at": start,
                "verified_by": None,
                "verified_at": None,
                "closed_reason": "",
                "version": 1,
            },
        )
        previous = document
    solution = _solution(rows.tables["program_versions"][-1]["document"])

    # Remote requests (patients with a bolus): the lockout and the daily maximum decide, as the twin does.
    accepted_at: list[datetime] = []
    if t.bolus is not None:
        user = PATIENT_USER_BASE + pid
        rows.add(
            "users",
            {
                "id": user,
                "username": f"patient{pid}",
                "full_name": f"Patient {pid}",
                "role": "patient",
                "password_hash": staff["hash"][0],
                "patient_id": pid,
                "active": True,
                "created_at": implant_at,
            },
        )
        per_day = rng.uniform(0.05, 0.8)
        day = implant_at + DAY
        window: list[datetime] = []  # accepted in the trailing 24 h
        while day < NOW:
            for req in sorted(
                _minute(day.replace(hour=13) + timedelta(minutes=rng.randrange(14 * 60)))
                for _ in range(_poisson(rng, per_day))
            ):
                if req >= NOW:
                    continue
                window = [a for a in window if req - a < DAY]
                in_lockout = bool(accepted_at) and req - accepted_at[-1] < LOCKOUT
                full = len(window) >= 3
                if in_lockout or full:
                    ok_at = accepted_at[-1] + LOCKOUT if in_lockout else req
                    if full:
                        ok_at = max(ok_at, window[-3] + DAY)
                    rule = "daily maximum of 3 reached" if full else "lockout"
                    ok, why = False, f"{rule}: next dose possible in {_minutes(ok_at - req)} min"
                else:
                    ok, why = True, "dose given"
                    accepted_at.append(req)
                    window.append(req)
                rows.add(
                    "remote_requests",
                    {"patient_id": pid, "at": req, "accepted": ok, "reason": why, "requested_by": user},
                )
            day += DAY

    # Refills, each after an interrogation; the expected residual from the mean rate and the boluses taken.
    fill_at = implant_at
    for n, at in enumerate(visits, start=1):
        rate = t.rate * scales[sum(1 for i in changes if visits[i] < at)]  # the program running since the fill
        days = Fraction(round((at - fill_at).total_seconds()), 86_400)
        taken = bisect_left(accepted_at, at) - bisect_right(accepted_at, fill_at)
        delivered = rate * days + taken * t.bolus_ml
        expected = max(t.volume - delivered, Fraction(0))
        band = delivered * Fraction(15, 100) if t.pump.startswith("programmable") else delivered * Fraction(10, 100)
        noise = band * Fraction(round(rng.gauss(0, 0.35) * 100), 100)  # most within the accuracy band
        if rng.random() < 0.03:
            noise = band * Fraction(rng.choice((-1, 1)) * rng.randint(120, 200), 100)  # a reconciliation flag
        withdrawn = max(Fraction(round((expected + noise) * 100), 100), Fraction(0))
        low_ml, high_ml = max(expected - band, Fraction(0)), expected + band
        status = "less-than-expected" if withdrawn < low_ml else "within-band"
        status = "more-than-expected" if withdrawn > high_ml else status
        low_now = expected <= t.low
        rows.add(
            "interrogations",
            {
                "patient_id": pid,
                "at": at - timedelta(minutes=5),
                "reservoir_ml": Fraction(round(expected * 10), 10),
                "alarms": ["low-reservoir"] if low_now and t.pump.startswith("programmable") else [],
                "eri": False,
                "recorded_by": nurse,
            },
        )
        verifier = rng.choice(staff["pharmacist"] + staff["physician"])
        rows.add(
            "refills",
            {
                "patient_id": pid,
                "status": "completed",  # prepared, checked by a second person, then filled
                "prepared_by": nurse,
                "prepared_at": at - timedelta(minutes=30),
                "volume_ml": t.volume,
                "at": at,
                "drug_lot": f"L{pid % 97:02d}-{n:03d}",
                "solution": solution,
                "compounded": len(solution) > 1,
                "expected_ml": expected,
                "expected_low_ml": low_ml,
                "expected_high_ml": high_ml,
                "withdrawn_ml": withdrawn,
                "filled_ml": t.volume,
                "reconciliation": status,
                "discrepancy_ml": withdrawn - expected,
                "likely_causes": _causes(status),
                "next_refill_due": at + timedelta(days=due),
                "recorded_by": nurse,
                "checked_by": verifier,
                "checked_at": at - timedelta(minutes=15),
                "version": 1,
            },
        )
        fill_at = at

    # Follow-ups every 3-6 months; some urgent (resolved within days), and a few urgent flags still open.
    spastic = kind.care_area.startswith("spasticity")
    at = implant_at + timedelta(days=rng.randint(20, 40))
    open_flag = rng.random() < 0.025
    while at < NOW:
        recent = NOW - at < timedelta(days=40)
        urgent = (open_flag and recent) or rng.random() < 0.02
        name = ("spasticity" if spastic else rng.choice(("pain", "pain", "pain-side-effect"))) + (
            "-urgent" if urgent else ""
        )
        if name == "pain-side-effect-urgent":
            name = "pain-urgent"
        scores, events, flags, is_urgent = follow_ups[name]
        visit_at = _visit(at, rng)
        if visit_at < NOW:
            resolved = None if (open_flag and recent) or not is_urgent else visit_at + timedelta(days=rng.randint(1, 7))
            if resolved is not None and resolved >= NOW:
                resolved = None
            rows.add(
                "follow_ups",
                {
                    "patient_id": pid,
                    "at": visit_at,
                    "scores": scores,
                    "complications": events,
                    "flags": flags,
                    "urgent": is_urgent,
                    "resolved_at": resolved,
                    "recorded_by": nurse,
                },
            )
        at += timedelta(days=rng.randint(90, 180))


def _minutes(delta: timedelta) -> int:
    return -(-int(delta.total_seconds() * 1_000_000) // 60_000_000)


def _poisson(rng: random.Random, mean: float) -> int:
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def staff_rows(rows: Rows) -> dict[str, list[Any]]:
    """The clinic's staff (ids 1..), one argon2 hash shared by every generated login (hashing is slow on purpose)."""
    hashed = hash_password(PASSWORD)
    staff: dict[str, list[Any]] = {"hash": [hashed]}
    for uid, (username, role) in enumerate(STAFF, start=1):
        staff.setdefault(role, []).append(uid)
        rows.add(
            "users",
            {
                "id": uid,
                "username": username,
                "full_name": username.title(),
                "role": role,
                "password_hash": hashed,
                "patient_id": None,
                "active": True,
                "created_at": NOW - HISTORY - timedelta(days=400),
            },
        )
    assert len(STAFF) < PATIENT_USER_BASE
    return staff


# --- building the databases ---------------------------------------------------------------------------------------
TABLES = {
    t.__tablename__: t
    for t in (User, Patient, Implant, ProgramVersion, Refill, Interrogation, RemoteRequest, FollowUp, PatientStatus)
}
INSERT_ORDER = ("patients", "users", "implants", "program_versions", "refills", "interrogations", "remote_requests")


# What the built rows depend on: the generator (BUILD_VERSION), and the code that checks programs and replays the
# twins into the status rows, and the schema. A change there builds the clinic again; the API's does not.
BUILT_FROM = (
    "service/pump.py",
    "clinic/followup.py",
    "twin",
    "programs",
    "programfile",
    "calculations",
    "safety",
    "drugs",
    "devices",
    "evidence",
    "quantities",
    "data",
    "db",
)


def build_key(patients: int) -> str:
    """The cache key: BUILD_VERSION, the patient count and a digest of the code in BUILT_FROM."""
    digest = hashlib.sha256()
    src = ROOT / "src" / "openidds"
    for part in BUILT_FROM:
        for path in sorted((src / part).rglob("*")) if (src / part).is_dir() else [src / part]:
            if path.suffix in (".py", ".toml"):
                digest.update(str(path.relative_to(src)).encode() + b"\0" + path.read_bytes())
    return f"{BUILD_VERSION}-{patients}-{digest.hexdigest()[:12]}"


def sqlite_path(key: str) -> Path:
    return Path(tempfile.gettempdir()) / "openidds-bench" / f"{key}.sqlite3"


def _statuses(url: str, lo: int, hi: int) -> list[dict[str, Any]]:
    """Each patient's dashboard row from `refresh_status` (the twin replayed from the records), not written: the
    parent writes them all at once (two SQLite writers would wait on each other)."""
    from sqlalchemy.orm import Session

    engine = make_engine(url)
    columns = [c.key for c in PatientStatus.__table__.columns]
    out = []
    with Session(engine, autoflush=False) as s:
        for pid in range(lo, hi):
            status = refresh_status(s, pid, NOW)
            out.append({c: getattr(status, c) for c in columns})
            s.expunge_all()
        s.rollback()
    engine.dispose()
    return out


def build_sqlite(path: Path, patients: int, workers: int) -> dict[str, Any]:
    path.parent.mkdir(parents=True, exist_ok=True)
    building = path.with_name(path.name + ".building")
    for p in (building, Path(f"{building}-wal"), Path(f"{building}-shm")):
        p.unlink(missing_ok=True)
    url = f"sqlite:///{building}"
    engine = make_engine(url)
    migrate(engine)
    began = time.perf_counter()
    rows = Rows()
    staff = staff_rows(rows)
    follow_ups = _follow_up_templates()
    for pid in range(1, patients + 1):
        generate_patient(pid, rows, follow_ups, staff)
    generated = time.perf_counter()
    counts = {name: len(rows.tables.get(name, [])) for name in (*INSERT_ORDER, "follow_ups")}
    with engine.begin() as c:
        for name in (*INSERT_ORDER, "follow_ups"):
            batch = rows.tables.get(name, [])
            for i in range(0, len(batch), 20_000):
                c.execute(insert(TABLES[name]), batch[i : i + 20_000])
    del rows
    inserted = time.perf_counter()
    bounds = [1 + patients * k // workers for k in range(workers + 1)]
    with ProcessPoolExecutor(workers) as pool:
        parts = list(pool.map(_statuses, [url] * workers, bounds[:-1], bounds[1:]))
    replayed = time.perf_counter()
    with engine.begin() as c:
        for part in parts:
            c.execute(insert(PatientStatus), part)
        c.execute(text("ANALYZE"))
    with engine.connect() as c:
        c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    done = time.perf_counter()
    building.replace(path)
    meta = {
        "version": BUILD_VERSION,
        "patients": patients,
        "rows": counts,
        "generate_s": round(generated - began, 2),
        "insert_s": round(inserted - generated, 2),
        "refresh_status_s": round(replayed - inserted, 2),
        "refresh_status_workers": workers,
        "write_status_s": round(done - replayed, 2),
        "total_s": round(done - began, 2),
    }
    path.with_suffix(".json").write_text(json.dumps(meta, indent=1))
    return meta


def _pg_engines(url: str) -> tuple[Engine, Engine]:
    admin = make_engine(url)
    return admin, make_engine(url, connect_args={"options": f"-csearch_path={PG_SCHEMA}"})


def build_postgres(source: Path, url: str, key: str) -> float | None:
    """The same rows, copied from the SQLite build into the schema bench_dashboard (kept while `key` matches).
    The time taken, or None when the schema was already there."""
    import sqlite3

    admin, engine = _pg_engines(url)
    with admin.connect() as c:
        have = c.execute(
            text("SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = :n"), {"n": PG_SCHEMA}
        ).scalar()
    if have == key:
        admin.dispose()
        engine.dispose()
        return None
    began = time.perf_counter()
    with admin.begin() as c:
        c.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
        c.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
    migrate(engine)
    src = sqlite3.connect(source)
    raw = engine.raw_connection()
    try:
        cur = raw.driver_connection.cursor()  # type: ignore[union-attr]
        for table in Base.metadata.sorted_tables:
            if table.name == "dashboard_version":
                continue  # the migration made its row
            names = [c.name for c in table.columns]
            quoted = ", ".join(f'"{n}"' for n in names)
            with cur.copy(f"COPY {table.name} ({quoted}) FROM STDIN") as copy:
                for row in src.execute(f"SELECT {quoted} FROM {table.name}"):
                    copy.write_row(row)
            if "id" in names and table.c.id.autoincrement in (True, "auto"):
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), max(id)) FROM {table.name}")
        cur.execute(f"COMMENT ON SCHEMA {PG_SCHEMA} IS '{key}'")
        raw.commit()
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
        src.close()
    engine.dispose()
    admin.dispose()
    return time.perf_counter() - began


# --- the server and the load generator (separate processes) -------------------------------------------------------
def app_from_env() -> Any:
    """The app for uvicorn (`factory=True`): the database from $IDDS_BENCH_URL; its clock starts at NOW when the
    server starts and runs in real time (so the dashboard's ranking is worked out again whenever a patient crosses
    a threshold, as in a clinic)."""
    from openidds.api.app import create_app

    url = os.environ["IDDS_BENCH_URL"]
    engine = _pg_engines(url)[1] if url.startswith("postgresql") else make_engine(url)
    if os.environ.get("IDDS_BENCH_CLOCK") == "fixed":  # for the checks: the same instant on every read
        return create_app(engine, clock=lambda: NOW, migrate_db=False)
    started = time.monotonic()
    return create_app(engine, clock=lambda: NOW + timedelta(seconds=time.monotonic() - started), migrate_db=False)


def serve(url: str, port: int, workers: int) -> None:
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    os.environ["IDDS_BENCH_URL"] = url
    target = "benchmarks.dashboard:app_from_env"
    options: dict[str, Any] = {"factory": True, "log_level": "warning", "access_log": False}
    if workers == 1:
        uvicorn.run(target, host="127.0.0.1", port=port, **options)
        return
    # With workers, uvicorn binds the shared socket without naming TCP (protocol 0), so asyncio does not set
    # TCP_NODELAY on the connections: every answer then waits ~40 ms for the client's delayed ACK. Bound here, as TCP.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.set_inheritable(True)
    Multiprocess(uvicorn.Config(target, workers=workers, **options), sockets=[sock]).run()


def load(base: str, path: str, token: str, concurrency: int, warmup: float, seconds: float) -> dict[str, Any]:
    """Closed loop: each thread sends the next request when the last answer is read. Only requests that start
    after the warm-up and end before the deadline count."""
    import httpx

    start = time.perf_counter()
    measure_from, deadline = start + warmup, start + warmup + seconds
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    sizes = [0] * concurrency

    def worker(i: int) -> None:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
            while True:
                t0 = time.perf_counter()
                if t0 >= deadline:
                    return
                r = client.get(path)
                t1 = time.perf_counter()
                if r.status_code != 200:
                    errors[i] += 1
                elif t0 >= measure_from and t1 <= deadline:
                    latencies[i].append(t1 - t0)
                    sizes[i] = len(r.content)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    every = sorted(x for part in latencies for x in part)
    if not every:
        return {"requests": 0, "errors": sum(errors)}

    def pct(q: float) -> float:
        return every[min(len(every) - 1, math.ceil(q * len(every)) - 1)] * 1000

    return {
        "requests": len(every),
        "errors": sum(errors),
        "rps": len(every) / seconds,
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": every[-1] * 1000,
        "mean_ms": statistics.fmean(every) * 1000,
        "bytes": max(sizes),
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    url: str
    workers: int
    clock: str = "running"  # or "fixed" (at NOW)
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "IDDS_BENCH_CLOCK": self.clock}
        command = [sys.executable, __file__, "serve", self.url, str(self.port), str(self.workers)]
        self.process = subprocess.Popen(command, env=env, start_new_session=True)
        import httpx

        for _ in range(300):
            try:
                httpx.get(f"{self.base}/api/v1/roles", timeout=1)
                return self
            except httpx.TransportError:
                if self.process.poll() is not None:
                    raise SystemExit(f"the server exited ({self.process.returncode})") from None
                time.sleep(0.1)
        raise SystemExit("the server did not come up in 30 s")

    def __exit__(self, *_: object) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGINT)  # its own session: uvicorn and its workers
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def run_load(server: Server, path: str, token: str, concurrency: int, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, "load", server.base, path, token]
    command += [str(concurrency), str(args.warmup), str(args.seconds)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


PHQ9_URGENT = [2, 2, 1, 2, 1, 1, 1, 1, 1]  # item 9 > 0: an urgent flag


def check_dashboard(server: Server, token: str, patients: int) -> list[str]:
    """What the dashboard must show; the failures in words."""
    import httpx

    failures: list[str] = []
    with httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        body = client.get("/api/v1/dashboard").json()
        rows = body["patients"]
        if body["total"] != patients or len(rows) != patients:
            failures.append(f"total {body['total']} ({len(rows)} rows), expected {patients}")
        first = rows[0]
        if not (first["urgency"] == "withdrawal-risk" and first["withdrawal_risk"] and first["refill"] == "overdue"):
            failures.append(f"the first row is not an overdue baclofen patient: {first}")
        levels = [URGENCY_ORDER.index(r["urgency"]) for r in rows]
        if levels != sorted(levels):
            failures.append("urgency goes down and up again along the list")
        top = client.get("/api/v1/dashboard", params={"limit": 50}).json()
        if top["patients"] != rows[:50] or top["total"] != patients:
            failures.append("?limit=50 is not the first 50 rows of the full list")
        # A write shows at once: an urgent follow-up for the last patient on the list, then resolved again.
        pid = rows[-1]["patient_id"]
        r = client.post(f"/api/v1/patients/{pid}/follow-ups", json={"nrs": 6, "phq9": PHQ9_URGENT})
        if r.status_code != 201:
            return [*failures, f"recording a follow-up failed: {r.status_code} {r.text}"]
        after = client.get("/api/v1/dashboard").json()["patients"]
        moved = next(i for i, row in enumerate(after) if row["patient_id"] == pid)
        if after[moved]["urgency"] not in ("withdrawal-risk", "urgent-flag") or after[moved]["urgent_flags"] != 1:
            failures.append(f"an urgent follow-up did not show at once: {after[moved]}")
        r = client.post(f"/api/v1/patients/{pid}/follow-ups/{r.json()['id']}/resolve", json=RESOLVED)
        if r.status_code != 200:
            failures.append(f"resolving the flag failed: {r.status_code} {r.text}")
        again = client.get("/api/v1/dashboard").json()["patients"]
        if again != rows:
            failures.append("resolving the flag did not bring the dashboard back to what it was")
        print(f"  checks: total {body['total']:,}; first row: patient {first['patient_id']}, {first['concerns'][0]}")
        counts = {level: levels.count(URGENCY_ORDER.index(level)) for level in URGENCY_ORDER}
        print("  urgency: " + ", ".join(f"{k} {v}" for k, v in counts.items() if v))
        refill = {k: sum(1 for r in rows if r["refill"] == k) for k in ("overdue", "due-soon", "later", "none")}
        print(f"  refills: {refill}; baclofen in the pump: {sum(r['withdrawal_risk'] for r in rows)}")
        print(
            f"  a write (an urgent follow-up) moved the last patient to row {moved + 1} at once; resolving put it back"
        )
    return failures


def after_writes(server: Server, token: str, rounds: int) -> dict[str, list[float]]:
    """The first read after a write (the rows are read again: a new dashboard version), one client, no other load:
    an urgent follow-up then ?limit=50; resolving it then the full list."""
    import httpx

    out: dict[str, list[float]] = {"limit=50": [], "full": []}
    with httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        pid = client.get("/api/v1/dashboard").json()["patients"][-1]["patient_id"]
        for _ in range(rounds):
            r = client.post(f"/api/v1/patients/{pid}/follow-ups", json={"nrs": 6, "phq9": PHQ9_URGENT})
            r.raise_for_status()
            t0 = time.perf_counter()
            client.get("/api/v1/dashboard", params={"limit": 50}).raise_for_status()
            out["limit=50"].append((time.perf_counter() - t0) * 1000)
            client.post(f"/api/v1/patients/{pid}/follow-ups/{r.json()['id']}/resolve", json=RESOLVED).raise_for_status()
            t0 = time.perf_counter()
            client.get("/api/v1/dashboard").raise_for_status()
            out["full"].append((time.perf_counter() - t0) * 1000)
    return out


def ranking_note(path: Path) -> str:
    """How often the server works the ranking out again (clinic.dashboard.Ranking): each threshold a patient
    crosses (refill or replacement due or within 7 days, a critical alarm projected within 7 days)."""
    from openidds.clinic.dashboard import rank
    from openidds.programs.clock import HOUR_US, to_us
    from openidds.service.dashboard import _read_committed

    engine = make_engine(f"sqlite:///{path}")
    snapshots = _read_committed(engine, None).snapshots
    engine.dispose()
    at, end, crossings = to_us(NOW), to_us(NOW) + 24 * HOUR_US, 0
    while at < end:
        at = rank(snapshots, at).until
        crossings += at < end
    return (
        f"ranking: {crossings} thresholds crossed in the 24 h from NOW: ranked again about every "
        f"{24 * 60 / max(crossings, 1):.0f} min (the rows shown are put in words at each read's own instant)"
    )


def login(server: Server) -> str:
    import httpx

    r = httpx.post(f"{server.base}/api/v1/auth/login", json={"username": NURSE, "password": PASSWORD}, timeout=30)
    r.raise_for_status()
    token: str = r.json()["token"]
    return token


REQUESTS = (("full", "/api/v1/dashboard"), ("limit=50", "/api/v1/dashboard?limit=50"))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--patients", type=int, default=PATIENTS)
    parser.add_argument("--databases", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (the load takes the rest)")
    parser.add_argument("--build-workers", type=int, default=2, help="processes replaying the twins in the build")
    parser.add_argument(
        "--concurrency", default="1,4", help="connections of the closed-loop load generator, comma-separated runs"
    )
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring")
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds measured per run")
    parser.add_argument("--write-rounds", type=int, default=10, help="writes, each followed by a timed read")
    parser.add_argument("--rebuild", action="store_true", help="build the clinic again even if cached")
    args = parser.parse_args()
    databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    levels = [int(c) for c in args.concurrency.split(",")]

    key = build_key(args.patients)
    path = sqlite_path(key)
    if args.rebuild or not path.exists():
        for old in path.parent.glob(f"{BUILD_VERSION.split('-')[0]}-*-{args.patients}-*"):
            old.unlink()  # earlier builds of this clinic size
        print(f"building the clinic: {args.patients:,} patients, two years of history ({path}) …", flush=True)
        meta = build_sqlite(path, args.patients, args.build_workers)
        cached = ""
    else:
        meta = json.loads(path.with_suffix(".json").read_text())
        cached = " (cached, from the run that built it)"
    print(
        f"build{cached}: {meta['total_s']:.1f} s = generate {meta['generate_s']:.1f} s + bulk insert "
        f"{meta['insert_s']:.1f} s + refresh_status {meta['refresh_status_s']:.1f} s on "
        f"{meta['refresh_status_workers']} processes + write {meta['write_status_s']:.1f} s"
    )
    print("rows: " + ", ".join(f"{k} {v:,}" for k, v in meta["rows"].items()))
    if "postgresql" in databases:
        pg_key = key if not args.rebuild else f"{key}-{time.time_ns()}"
        took = build_postgres(path, args.postgres_url, pg_key)
        print(f"PostgreSQL schema {PG_SCHEMA}: " + ("already there" if took is None else f"copied in {took:.1f} s"))
    print(ranking_note(path))
    print(
        f"server: uvicorn, {args.workers} worker process(es); load generator: another process, closed loop, "
        f"{args.concurrency} connection(s), {args.warmup:g} s warm-up + {args.seconds:g} s measured; "
        f"{os.cpu_count()} CPUs; load average before: {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    failures: list[str] = []
    results: list[tuple[str, str, int, dict[str, Any]]] = []
    writes: list[tuple[str, str, list[float]]] = []
    for db in databases:
        url = f"sqlite:///{path}" if db == "sqlite" else args.postgres_url
        print(f"{db}:", flush=True)
        with Server(url, args.workers, clock="fixed") as server:
            failures += [f"{db}: {f}" for f in check_dashboard(server, login(server), args.patients)]
        with Server(url, args.workers) as server:
            token = login(server)
            for concurrency in levels:
                for label, request in REQUESTS:
                    result = run_load(server, request, token, concurrency, args)
                    results.append((db, label, concurrency, result))
                    if result.get("errors"):
                        failures.append(f"{db} {label}: {result['errors']} requests failed")
                    print(f"  {label}, {concurrency} connection(s): {_line(result)}", flush=True)
            if args.write_rounds:
                for label, ms in after_writes(server, token, args.write_rounds).items():
                    writes.append((db, label, ms))
                    print(
                        f"  first read after a write, {label}: median {statistics.median(ms):.1f} ms, "
                        f"max {max(ms):.1f} ms"
                    )
    print()
    print(
        f"{'database':<11}{'request':<10}{'conns':>6}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'req/s':>8}  p99 ≤ 100 ms"
    )
    for db, label, concurrency, r in results:
        if not r.get("requests"):
            print(f"{db:<11}{label:<10}{concurrency:>6}  no requests completed")
            continue
        verdict = "met" if r["p99_ms"] <= TARGET_P99_MS else "NOT met"
        print(
            f"{db:<11}{label:<10}{concurrency:>6}{r['p50_ms']:>9.1f}{r['p90_ms']:>9.1f}{r['p99_ms']:>9.1f}"
            f"{r['rps']:>8.1f}  {verdict}"
        )
    for db, label, ms in writes:
        print(
            f"{db:<11}{label:<10}{'1':>6}{statistics.median(ms):>9.1f}  first read after a write (median; "
            f"max {max(ms):.1f} ms)"
        )
    if failures:
        print("\nCORRECTNESS FAILURES:\n  " + "\n  ".join(failures))
        sys.exit(1)


def _line(r: dict[str, Any]) -> str:
    if not r.get("requests"):
        return f"no requests completed ({r.get('errors', 0)} errors)"
    return (
        f"p50 {r['p50_ms']:.1f} ms, p90 {r['p90_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, {r['rps']:.1f} req/s "
        f"({r['requests']:,} requests, {r['bytes'] / 1e6:.2f} MB each)"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif len(sys.argv) > 1 and sys.argv[1] == "load":
        base, request, token = sys.argv[2:5]
        n, warm, secs = int(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7])
        print(json.dumps(load(base, request, token, n, warm, secs)))
    else:
        main()
