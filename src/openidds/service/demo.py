"""A realistic demo clinic, seeded through the care pathway's own use cases (so every record is checked, audited
and consistent with the pump twins), for `idds serve --demo`.

Forty patients, every stage of the pathway, every drug of the library and every pump family, with years of
history: implants, titrations (some past a soft limit, with the prescriber's reason), concentration changes verified
by a second person, refills reconciled against the twin (one flagged: far less withdrawn than expected), an overdue
refill, a baclofen refill due this week, a pump at its elective replacement indicator and one about to reach it, a
replaced pump, a refill waiting for its second check, an urgent PHQ-9 flag and patient remote requests (given and
refused). The clinic is fictional and every value is synthetic.

Deterministic: the same `now` gives the same clinic, to the byte; a different `now` gives the same clinic moved
in time (every instant is so many clinic days before `now`). The seeder runs the clinic forward in time, all
patients together, each use case at its own instant, so the audit chain is in time order too.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from openidds.clinic.evaluation import Candidate
from openidds.clinic.followup import AdverseEvent, FollowUpVisit
from openidds.clinic.trial import SideEffect, TrialDose
from openidds.clinic.trial import Trial as TrialInput
from openidds.data import load_catalog, load_library
from openidds.db.models import AuditHead, Patient, PatientStatus, Refill, User
from openidds.programfile import parse_program
from openidds.programs.program import PumpProgram
from openidds.service import pathway, programs
from openidds.service import refills as refill_steps
from openidds.service.access import actor_name
from openidds.service.errors import Conflict
from openidds.service.pump import refresh_status
from openidds.service.users import add_user

ZONE = "America/Chicago"
SEED_ACTOR = "demo-seed"  # who created the demo's first admin, in the audit trail
CLINIC_HOUR = 15  # 09:00 in Chicago in winter, 10:00 in summer: visits start then
DAY = timedelta(days=1)

Story = Iterator[datetime]  # a patient's history: yields the instant of its next step, and acts when resumed
Steps = Generator[datetime, None, datetime]  # more steps of a story: returns the instant of the last


# --- logins -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: str
    full_name: str
    patient_mrn: str | None = None  # a patient's own login


@dataclass(frozen=True)
class DemoLogins:
    """The demo's logins (the passwords are public: the demo clinic is for trying the service, never for care)."""

    logins: tuple[DemoLogin, ...]
    patients: int = 0
    audit_records: int = 0

    def by_role(self, role: str) -> DemoLogin:
        return next(login for login in self.logins if login.role == role)

    def lines(self) -> list[str]:
        """One line per login, for a terminal."""
        width = max(len(login.username) for login in self.logins)
        out = []
        for login in self.logins:
            whose = f", patient {login.patient_mrn}" if login.patient_mrn else ""
            out.append(
                f"{login.username:<{width}}  {login.password:<{width + 5}}  {login.role} ({login.full_name}{whose})"
            )
        return out


def _login(username: str, role: str, full_name: str, mrn: str | None = None) -> DemoLogin:
    return DemoLogin(username, f"{username}-demo", role, full_name, mrn)


ADMIN = _login("admin", "admin", "Clinic Administrator")
OKAFOR = _login("dr.okafor", "physician", "Dr Amara Okafor")
LINDQVIST = _login("dr.lindqvist", "physician", "Dr Erik Lindqvist")
GARCIA = _login("nurse.garcia", "nurse", "Rosa Garcia, RN")
CHEN = _login("pharm.chen", "pharmacist", "Wei Chen, PharmD")
STAFF = (ADMIN, OKAFOR, LINDQVIST, GARCIA, CHEN)
# Patients with a remote who use the patient app: their logins are made at the implant.
PATIENT_LOGINS = {
    "DEMO-0014": _login("t.hale", "patient", "Thomas Hale", "DEMO-0014"),
    "DEMO-0015": _login("m.rossi", "patient", "Maria Rossi", "DEMO-0015"),
    "DEMO-0027": _login("r.silva", "patient", "Rafael Silva", "DEMO-0027"),
}
LOGINS = DemoLogins((*STAFF, *PATIENT_LOGINS.values()))
README_REFILL_MRN = "DEMO-0035"  # the implanted patient the README's curl session refills

# The demo's public passwords, hashed once with the service's argon2 parameters (the hash carries its salt), so
# seeding spends no second on hashing; tests/test_demo.py checks that each still matches its password.
DEMO_HASHES = {
    "admin": "$argon2id$v=19$m=65536,t=3,p=4$oqgwpXLX1apyZzeugm+ZTA$Tm++XCJED3/k4K6KLFKcyp0baZo9hdK2a8u/agoFp2E",
    "dr.okafor": "$argon2id$v=19$m=65536,t=3,p=4$6vqSGcMa2p2ODmnr15CLtA$Lce2iqEzV+7ErJjC5Vw4EogDrKSdJqVGCZ6aqTCd0bQ",
    "dr.lindqvist": "$argon2id$v=19$m=65536,t=3,p=4$w4HYJyNYvgIgrLLAW6yNoA$tkPmmji8CEkeHqVOegxEBNDjk96OQKO6FZRGLEG0R30",
    "nurse.garcia": "$argon2id$v=19$m=65536,t=3,p=4$HU9A+58MSo/XV3Djgs4+CQ$LhCAAzxV/yDEArqS+NytO+oKqVKzWpIk3bljem1Ds08",
    "pharm.chen": "$argon2id$v=19$m=65536,t=3,p=4$sQWOF6qYwgJ8gQoKo/NZFQ$6pEuPh9cuisfGQ6Jx3Uuk1v8RDTHyDX4n5f0VvQ2EY4",
    "t.hale": "$argon2id$v=19$m=65536,t=3,p=4$0/tcHwvDkR7ZxmLGcQyuRA$hFLRxq6GCuhD+LfURHwS39/8SakCAyCHTdL+/EbHpc0",
    "m.rossi": "$argon2id$v=19$m=65536,t=3,p=4$03Q3fcQlOpHON3eQJOYQ4g$f4eT8HBN+uTaQN81wr99y/g+eMCq7fLLyiGqeBgKm0Y",
    "r.silva": "$argon2id$v=19$m=65536,t=3,p=4$5z7fX6mhdzvEiZSErnVDgw$zuvplXW7qO4n3OMLnwkeBEqsDYA3aI21f3Vh43J3rPQ",
}


# --- who the patients are -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Person:
    mrn: str
    family: str
    given: str
    sex: Literal["female", "male"]
    born: date
    care_area: str
    indication: str
    mme: int | None = None  # oral morphine milligram equivalents a day, pain patients
    allergies: tuple[str, ...] = ()
    anticoagulants: tuple[str, ...] = ()
    psychosis: bool | None = False
    life_months: int | None = None

    @property
    def pain(self) -> bool:
        return self.care_area.startswith("pain")


@dataclass(frozen=True)
class Rx:
    """A pump program, written out as its program file for each fill."""

    pump: str
    drugs: tuple[tuple[str, str], ...]  # (name, concentration), the first is the one doses are written in
    rate: str | None = None  # continuous, mL/day
    steps: tuple[tuple[str, str], ...] = ()  # day flex: (at, rate); week flex: ("mon 00:00", rate)
    bolus: tuple[str, ...] = ()  # the [patient_bolus] lines
    low_alarm: str | None = None
    first_fill: bool = False
    catheter: tuple[str, int] | None = ("intrathecal-one-piece", 60)

    @property
    def solution(self) -> list[dict[str, str]]:
        return [{"name": n, "concentration": c} for n, c in self.drugs]


def program_file(rx: Rx, person: Person, filled_at: datetime, volume: Fraction) -> str:
    lines = ["[pump]", f'model = "{rx.pump}"']
    if rx.catheter is not None:
        lines.append(f'catheter = {{ model = "{rx.catheter[0]}", length = "{rx.catheter[1]} cm" }}')
    lines += ["", "[reservoir]", f'filled_at = "{filled_at.isoformat()}"', f'timezone = "{ZONE}"']
    lines.append(f'volume = "{_ml(volume)} mL"')
    if rx.low_alarm:
        lines.append(f'low_alarm = "{rx.low_alarm}"')
    if rx.first_fill:
        lines.append("first_fill = true")
    for name, concentration in rx.drugs:
        lines += ["", "[[drugs]]", f'name = "{name}"', f'concentration = "{concentration}"']
    lines += ["", "[program]"]
    if rx.steps and " " in rx.steps[0][0]:
        steps = ", ".join(f'{{ day = "{w[:3]}", at = "{w[4:]}", rate = "{r}" }}' for w, r in rx.steps)
        lines += ['mode = "flex"', 'period = "week"', f"steps = [ {steps} ]"]
    elif rx.steps:
        steps = ", ".join(f'{{ at = "{a}", rate = "{r}" }}' for a, r in rx.steps)
        lines += ['mode = "flex"', 'period = "day"', f"steps = [ {steps} ]"]
    else:
        lines += ['mode = "continuous"', f'rate = "{rx.rate}"']
    if rx.bolus:
        lines += ["", "[patient_bolus]", *rx.bolus]
    lines += ["", "[context]", f'care_area = "{person.care_area}"']
    names = {n for n, _ in rx.drugs}
    if names & {"morphine", "hydromorphone", "fentanyl", "sufentanil"}:
        lines.append("opioid_naive = false")
    if "ziconotide" in names:
        lines.append("psychosis_history = false")
    return "\n".join(lines) + "\n"


def _ml(volume: Fraction) -> str:
    return str(int(volume)) if volume.denominator == 1 else f"{float(volume):g}"


# --- the roster ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    """Something that happens to an implanted patient besides the refills: `days` after the implant or, with
    `ago`, before now (a fraction of a day: that long before now, any time of day; whole days: at the clinic)."""

    kind: Literal[
        "program", "replacement", "interrogation", "follow-up", "remote", "urgent-phq9", "spasm-flag", "prepare-refill"
    ]
    days: float
    ago: bool = False
    rx: Rx | None = None
    overrides: tuple[tuple[str, str], ...] = ()
    at_refill: bool = False  # programmed at the next refill visit (a new solution is filled right after)
    alarms: tuple[str, ...] = ()
    eri: bool = False


@dataclass(frozen=True)
class Implanted:
    person: Person
    rx: Rx
    implant_days: float  # days before now
    surgeon: LoginRef = "okafor"
    steps: tuple[Step, ...] = ()
    due_in: float | None = None  # place the last refill so the next falls due this many days from now
    lead: int = 4  # the refill visit is booked this many days before the refill is due
    flag_last_refill: bool = False  # the last refill withdraws well under what the twin expects
    unchecked_last_refill: str = ""  # the last refill was filled without its check, for this emergency reason
    eri_in_days: float | None = None  # place the implant so the pump's ERI falls this many days from now
    tip: str = "T10"


LoginRef = Literal["okafor", "lindqvist", "garcia", "chen", "admin"]
BY_REF: dict[LoginRef, DemoLogin] = {
    "okafor": OKAFOR,
    "lindqvist": LINDQVIST,
    "garcia": GARCIA,
    "chen": CHEN,
    "admin": ADMIN,
}


def _p(
    n: int, family: str, given: str, sex: Literal["female", "male"], born: str, area: str, ind: str, **kw: Any
) -> Person:
    return Person(f"DEMO-{n:04d}", family, given, sex, date.fromisoformat(born), area, ind, **kw)


PAIN, CANCER, SPINAL, CEREBRAL = "pain-noncancer", "pain-cancer", "spasticity-spinal", "spasticity-cerebral"
M10 = ("morphine", "10 mg/mL")
BOLUS_002 = ('volume = "0.02 mL"', 'duration = "10 min"', 'lockout = "4 h"', "max_per_day = 3")
BOLUS_001 = ('volume = "0.01 mL"', 'duration = "10 min"', 'lockout = "4 h"', "max_per_day = 3")
BACLOFEN_BOLUS = ('dose = "25 mcg"', 'duration = "10 min"', 'lockout = "3 h"', "max_per_day = 4")
VALVE_CATHETER = ("valve-gated-catheter", 55)

# Evaluations: (person, planned drugs, answers that differ from an eligible candidate, expected outcome, days ago).
EVALUATIONS: tuple[tuple[Person, tuple[str, ...], dict[str, Any], str, int], ...] = (
    (
        _p(1, "Ng", "Laura", "female", "1971-04-12", PAIN, "failed-back-surgery-syndrome", mme=90),
        ("morphine",),
        {},
        "eligible",
        14,
    ),
    (
        _p(2, "Brennan", "Michael", "male", "1983-09-30", SPINAL, "multiple-sclerosis-spasticity"),
        ("baclofen",),
        {},
        "eligible",
        9,
    ),
    (
        _p(3, "Okonkwo", "Grace", "female", "1966-01-21", PAIN, "complex-regional-pain-syndrome", mme=60),
        ("ziconotide",),
        {"psychological_evaluation": "not-done"},
        "needs-review",
        6,
    ),
    (
        _p(4, "Keller", "Frank", "male", "1952-07-08", PAIN, "spinal-stenosis", mme=120),
        ("morphine",),
        {"further_surgery_indicated": True, "realistic_expectations": False},
        "needs-review",
        11,
    ),
    (
        _p(5, "Duarte", "Ana", "female", "1979-11-02", PAIN, "chronic-pancreatitis", mme=150),
        ("hydromorphone",),
        {"active_infection": True},
        "not-eligible",
        4,
    ),
    (
        _p(6, "Walsh", "Peter", "male", "1990-03-15", CEREBRAL, "traumatic-brain-injury-spasticity"),
        ("baclofen",),
        {"time_since_onset": "180 days"},
        "not-eligible",
        8,
    ),
)
NEW_REFERRAL = _p(7, "Yamamoto", "Ken", "male", "1961-06-19", CANCER, "cancer-pain", mme=240, life_months=10)

# Trials: (person, the trial as the API takes it, expected outcome, days ago).
TRIALS: tuple[tuple[Person, dict[str, Any], str, int], ...] = (
    (
        _p(8, "Fischer", "Helen", "female", "1958-02-27", PAIN, "failed-back-surgery-syndrome", mme=100),
        {
            "method": "single-shot-bolus",
            "therapy": "pain",
            "drug": "morphine",
            "baseline_nrs": 8,
            "doses": [{"dose": "0.2 mg", "observation_hours": 24, "nrs": 3}],
        },
        "success",
        12,
    ),
    (
        _p(9, "Adeyemi", "Tunde", "male", "1987-05-05", SPINAL, "spinal-cord-injury-spasticity"),
        {
            "method": "baclofen-screening",
            "therapy": "spasticity",
            "drug": "baclofen",
            "baseline_ashworth": "3",
            "doses": [{"dose": "50 mcg", "observation_hours": 6, "ashworth": "1", "effect_hours": 6}],
        },
        "success",
        17,
    ),
    (
        _p(10, "Moreau", "Claire", "female", "1949-12-01", CANCER, "cancer-pain", mme=300, life_months=9),
        {
            "method": "single-shot-bolus",
            "therapy": "pain",
            "drug": "morphine",
            "baseline_nrs": 9,
            "doses": [
                {
                    "dose": "0.5 mg",
                    "observation_hours": 24,
                    "nrs": 4,
                    "side_effects": [{"name": "pruritus", "intolerable": False}],
                }
            ],
        },
        "success",
        5,
    ),
    (
        _p(11, "Petrov", "Ivan", "male", "1969-08-14", PAIN, "neuropathic-pain", mme=80),
        {
            "method": "single-shot-bolus",
            "therapy": "pain",
            "drug": "hydromorphone",
            "baseline_nrs": 7,
            "doses": [
                {
                    "dose": "0.1 mg",
                    "observation_hours": 8,
                    "nrs": 5,
                    "side_effects": [{"name": "nausea", "intolerable": False}],
                }
            ],
        },
        "failure",
        20,
    ),
    (
        _p(12, "Lindgren", "Sofia", "female", "2004-10-09", CEREBRAL, "cerebral-palsy-spasticity"),
        {
            "method": "baclofen-screening",
            "therapy": "spasticity",
            "drug": "baclofen",
            "baseline_ashworth": "3",
            "doses": [
                {"dose": "50 mcg", "observation_hours": 6, "ashworth": "3"},
                {"dose": "75 mcg", "observation_hours": 6, "ashworth": "3"},
                {"dose": "100 mcg", "observation_hours": 8, "ashworth": "3"},
            ],
        },
        "failure",
        24,
    ),
    (
        _p(13, "O'Brien", "Sean", "male", "1975-01-30", SPINAL, "multiple-sclerosis-spasticity"),
        {
            "method": "baclofen-screening",
            "therapy": "spasticity",
            "drug": "baclofen",
            "baseline_ashworth": "3",
            "doses": [{"dose": "50 mcg", "observation_hours": 6, "ashworth": "3"}],
        },
        "needs-review",
        3,
    ),
)


def _program(days: float, rx: Rx, *overrides: tuple[str, str], at_refill: bool = False) -> Step:
    return Step("program", days, rx=rx, overrides=overrides, at_refill=at_refill)


def _remotes(*days_ago: float) -> tuple[Step, ...]:
    """Presses of the patient remote, each so many days before now."""
    return tuple(Step("remote", days, ago=True) for days in days_ago)


_TITRATION_REASON = (
    "titration.soft-max",
    "NRS 7/10 at two visits on the current dose, no sedation or constipation: a 25 % step agreed with the patient",
)
HALE_RX = Rx(
    "programmable-40",
    (M10,),
    steps=(("00:00", "0.25 mL/day"), ("07:00", "0.35 mL/day"), ("22:00", "0.25 mL/day")),
    bolus=BOLUS_002,
)
ROSSI_RX = Rx("programmable-40", (M10, ("clonidine", "100 mcg/mL")), rate="0.3 mL/day", bolus=BOLUS_002)
SCHMIDT_RX = Rx("programmable-20", (M10,), rate="0.8 mL/day")
HARRIS_RX = Rx("programmable-20", (("hydromorphone", "2 mg/mL"),), rate="0.075 mL/day")
GREENE_RX = Rx("programmable-20", (("ziconotide", "25 mcg/mL"),), rate="0.048 mL/day", first_fill=True)
NOVAK_RX = Rx("programmable-20", (("baclofen", "2000 mcg/mL"),), rate="0.075 mL/day", low_alarm="4 mL")
SILVA_RX = Rx(
    "programmable-40", (("baclofen", "500 mcg/mL"),), rate="0.3 mL/day", low_alarm="4 mL", bolus=BACLOFEN_BOLUS
)
WEBER_RX = Rx("constant-flow-30-0.5", (("baclofen", "300 mcg/mL"),), rate="0.5 mL/day", low_alarm="3 mL")
IBRAHIM_RX = Rx("programmable-40", (("baclofen", "2000 mcg/mL"),), rate="0.075 mL/day", low_alarm="4 mL")
BAUER_RX = Rx("programmable-40", (("sufentanil", "50 mcg/mL"),), rate="0.3 mL/day")
TAYLOR_RX = Rx("programmable-20", (("fentanyl", "500 mcg/mL"),), rate="0.1 mL/day", bolus=BOLUS_002)
ORTIZ_RX = Rx("programmable-40", (("baclofen", "500 mcg/mL"),), rate="0.3 mL/day", low_alarm="4 mL")
PRICE_RX = Rx(
    "programmable-40",
    (("hydromorphone", "2 mg/mL"),),
    steps=(("00:00", "0.06 mL/day"), ("07:00", "0.084 mL/day"), ("22:00", "0.06 mL/day")),
)

IMPLANTED: tuple[Implanted, ...] = (
    # Morphine on a programmable pump, day/night flex with a remote: the patient login of the demo.
    Implanted(
        _p(14, "Hale", "Thomas", "male", "1964-03-03", PAIN, "failed-back-surgery-syndrome", mme=120),
        HALE_RX,
        420,
        steps=_remotes(3.4, 3.2, 2.5, 2.45, 1.6, 0.5),
    ),
    # Morphine + clonidine: a 25 % dose step needs an override reason (soft titration limit).
    Implanted(
        _p(15, "Rossi", "Maria", "female", "1959-11-23", PAIN, "failed-back-surgery-syndrome", mme=90),
        ROSSI_RX,
        540,
        steps=(
            _program(63, replace(ROSSI_RX, rate="0.375 mL/day"), _TITRATION_REASON),
            *_remotes(2.3, 2.2, 1.3),
        ),
    ),
    # Morphine 10 → 20 mg/mL (compounded) at a refill: half the rate, fewer refills; a pharmacist verifies.
    Implanted(
        _p(16, "Schmidt", "Karl", "male", "1955-05-17", PAIN, "failed-back-surgery-syndrome", mme=200),
        SCHMIDT_RX,
        240,
        steps=(
            _program(90, replace(SCHMIDT_RX, drugs=(("morphine", "20 mg/mL"),), rate="0.4 mL/day"), at_refill=True),
        ),
    ),
    Implanted(
        _p(17, "Jensen", "Lars", "male", "1970-09-09", PAIN, "radiculopathy", mme=80),
        Rx("valve-gated-40", (M10,), rate="0.4 mL/day", bolus=BOLUS_002, catheter=VALVE_CATHETER),
        540,
    ),
    Implanted(
        _p(18, "Costa", "Beatriz", "female", "1962-12-12", PAIN, "arachnoiditis", mme=60),
        Rx("valve-gated-20", (M10,), rate="0.25 mL/day", catheter=VALVE_CATHETER),
        270,
        surgeon="lindqvist",
    ),
    Implanted(
        _p(19, "Murphy", "Joan", "female", "1948-04-04", CANCER, "cancer-pain", mme=360, life_months=8),
        Rx("constant-flow-30-0.5", (M10,), rate="0.5 mL/day", low_alarm="3 mL"),
        150,
    ),
    Implanted(
        _p(20, "Abbott", "Ruth", "female", "1957-08-28", PAIN, "spinal-stenosis", mme=90),
        Rx("constant-flow-30-1.0", (("morphine", "5 mg/mL"),), rate="1 mL/day", low_alarm="3 mL"),
        120,
    ),
    # Hydromorphone: the missed refill (the drug has run past its stability in the pump).
    Implanted(
        _p(21, "Harris", "Dean", "male", "1966-02-14", PAIN, "chronic-pancreatitis", mme=180),
        HARRIS_RX,
        420,
        steps=(_program(30, replace(HARRIS_RX, rate="0.09 mL/day")),),
        due_in=-6,
    ),
    Implanted(
        _p(22, "Kowalski", "Anna", "female", "1973-06-06", PAIN, "neuropathic-pain", mme=100),
        Rx(
            "programmable-40",
            (("hydromorphone", "2 mg/mL"), ("bupivacaine", "10 mg/mL")),
            rate="0.06 mL/day",
            bolus=BOLUS_001,
        ),
        360,
    ),
    # Fentanyl for cancer pain: a 50 % step past the soft titration limit, with the reason.
    Implanted(
        _p(23, "Taylor", "Simon", "male", "1961-10-31", CANCER, "cancer-pain", mme=400, life_months=12),
        TAYLOR_RX,
        120,
        steps=(
            _program(
                40,
                replace(TAYLOR_RX, rate="0.15 mL/day"),
                ("titration.soft-max", "progressing bone metastases, NRS 8/10 with three boluses a day"),
            ),
            Step("follow-up", 41),
        ),
    ),
    # Sufentanil 50 → 100 mcg/mL at half the rate (the same 15 mcg/day): confirmed and verified yesterday, it waits
    # for the refill that brings the new solution; the pump runs the 50 mcg/mL program until then.
    Implanted(
        _p(24, "Bauer", "Eva", "female", "1968-01-08", PAIN, "failed-back-surgery-syndrome", mme=140),
        BAUER_RX,
        300,
        steps=(
            Step(
                "program", 1, ago=True, rx=replace(BAUER_RX, drugs=(("sufentanil", "100 mcg/mL"),), rate="0.15 mL/day")
            ),
        ),
    ),
    # Ziconotide: the first fill of a new pump lasts 14 days; then a small step; an urgent PHQ-9 flag (item 9).
    Implanted(
        _p(25, "Greene", "Olivia", "female", "1976-07-19", PAIN, "complex-regional-pain-syndrome", mme=45),
        GREENE_RX,
        200,
        steps=(
            _program(0, replace(GREENE_RX, rate="0.064 mL/day", first_fill=False), at_refill=True),
            Step("urgent-phq9", 2, ago=True),
        ),
        lead=1,
    ),
    # Baclofen (spinal), titrated up after the implant; the refill is due within 7 days.
    Implanted(
        _p(26, "Novak", "Jan", "male", "1980-12-24", SPINAL, "spinal-cord-injury-spasticity"),
        NOVAK_RX,
        700,
        surgeon="lindqvist",
        steps=(
            _program(2, replace(NOVAK_RX, rate="0.0975 mL/day")),
            _program(4, replace(NOVAK_RX, rate="0.125 mL/day")),
            Step("prepare-refill", 0.2, ago=True),  # prepared this morning: it waits for its check
        ),
        due_in=4,
    ),
    # Baclofen with a remote; muscle spasms (grade 2) raised an urgent flag, resolved after a pump check.
    Implanted(
        _p(27, "Silva", "Rafael", "male", "1972-03-29", SPINAL, "multiple-sclerosis-spasticity"),
        SILVA_RX,
        450,
        surgeon="lindqvist",
        steps=(
            _program(3, replace(SILVA_RX, rate="0.39 mL/day")),
            _program(6, replace(SILVA_RX, rate="0.5 mL/day")),
            Step("spasm-flag", 400),
            *_remotes(4.3, 4.25, 1.4),
        ),
    ),
    # Baclofen on a constant-flow pump: the dose changes only with the concentration, at refills.
    Implanted(
        _p(28, "Weber", "Lukas", "male", "1985-11-11", SPINAL, "spinal-cord-injury-spasticity"),
        WEBER_RX,
        300,
        surgeon="lindqvist",
        steps=(
            _program(40, replace(WEBER_RX, drugs=(("baclofen", "390 mcg/mL"),)), at_refill=True),
            _program(95, replace(WEBER_RX, drugs=(("baclofen", "500 mcg/mL"),)), at_refill=True),
        ),
    ),
    # Baclofen (cerebral) with a weekly pattern: more on therapy days.
    Implanted(
        _p(29, "Fontaine", "Lucie", "female", "2001-05-02", CEREBRAL, "cerebral-palsy-spasticity"),
        Rx(
            "programmable-20",
            (("baclofen", "1000 mcg/mL"),),
            steps=(("mon 00:00", "0.12 mL/day"), ("sat 00:00", "0.1 mL/day")),
            low_alarm="4 mL",
        ),
        730,
        surgeon="lindqvist",
        tip="C7",
    ),
    Implanted(
        _p(30, "Ortiz", "Daniel", "male", "1994-09-17", CEREBRAL, "traumatic-brain-injury-spasticity"),
        ORTIZ_RX,
        365,
        surgeon="lindqvist",
        tip="T6",
        steps=(_program(3, replace(ORTIZ_RX, rate="0.345 mL/day")),),
    ),
    # Morphine at a higher daily volume for more than six years: the pump's battery reached ERI a month ago.
    Implanted(
        _p(31, "Ward", "Patricia", "female", "1956-10-10", PAIN, "failed-back-surgery-syndrome", mme=150),
        Rx("programmable-40", (M10,), rate="0.42 mL/day"),
        0,
        eri_in_days=-30,
        lead=2,
        steps=(Step("interrogation", 20, ago=True, alarms=("eri",), eri=True),),
    ),
    # Baclofen, low volume: the pump reaches ERI (its 7-year hard stop, less 90 days) within the week.
    Implanted(
        _p(32, "Young", "Harold", "male", "1950-01-25", SPINAL, "spinal-cord-injury-spasticity"),
        Rx("programmable-40", (("baclofen", "2000 mcg/mL"),), rate="0.1 mL/day", low_alarm="4 mL"),
        0,
        surgeon="lindqvist",
        eri_in_days=5,
    ),
    # Baclofen: the first pump's motor stalled (reported at an interrogation); replaced the next day, eight months
    # ago, the therapy continuing at the same dose.
    Implanted(
        _p(33, "Ibrahim", "Layla", "female", "1967-04-30", SPINAL, "multiple-sclerosis-spasticity"),
        IBRAHIM_RX,
        1300,
        surgeon="lindqvist",
        steps=(
            _program(2, replace(IBRAHIM_RX, rate="0.0975 mL/day")),
            _program(4, replace(IBRAHIM_RX, rate="0.125 mL/day")),
            Step("interrogation", 246, ago=True, alarms=("motor-stall",)),
            Step("replacement", 245, ago=True, rx=replace(IBRAHIM_RX, rate="0.125 mL/day")),
        ),
    ),
    # Morphine: the last refill withdrew far less than expected (possible over-infusion), flagged.
    Implanted(
        _p(34, "Carter", "Nina", "female", "1963-08-08", PAIN, "failed-back-surgery-syndrome", mme=110),
        Rx("programmable-40", (M10,), rate="0.35 mL/day"),
        545,
        flag_last_refill=True,
        steps=(Step("interrogation", 1, ago=True),),
    ),
    # Morphine, plain and steady: the patient the README's curl session refills.
    Implanted(
        _p(35, "Lopez", "Miguel", "male", "1960-12-05", PAIN, "failed-back-surgery-syndrome", mme=60),
        Rx("programmable-20", (M10,), rate="0.2 mL/day"),
        365,
        due_in=50,
    ),
    # Hydromorphone for cancer pain, day/night flex; the latest refill was filled without its check (flagged).
    Implanted(
        _p(36, "Price", "Diane", "female", "1958-06-21", CANCER, "cancer-pain", mme=260, life_months=14),
        PRICE_RX,
        240,
        steps=(
            _program(
                21,
                replace(
                    PRICE_RX, steps=(("00:00", "0.09 mL/day"), ("07:00", "0.126 mL/day"), ("22:00", "0.09 mL/day"))
                ),
                ("titration.soft-max", "cancer pain escalating, NRS 8/10; tolerating the current dose well"),
            ),
        ),
        unchecked_last_refill="home visit with the low-reservoir alarm sounding; the pharmacist could not be reached",
        due_in=86,
    ),
    Implanted(
        _p(37, "Nguyen", "Peter", "male", "1971-02-02", PAIN, "failed-back-surgery-syndrome", mme=130),
        Rx("programmable-40", (M10, ("bupivacaine", "10 mg/mL")), rate="0.3 mL/day"),
        600,
    ),
    Implanted(
        _p(38, "Evans", "Gloria", "female", "1953-03-13", CANCER, "cancer-pain", mme=480, life_months=6),
        Rx("programmable-40", (("morphine", "25 mg/mL"),), rate="0.4 mL/day"),
        90,
        steps=(Step("follow-up", 60),),
    ),
    Implanted(
        _p(39, "Schultz", "Brian", "male", "1977-07-07", PAIN, "failed-back-surgery-syndrome", mme=100),
        Rx(
            "valve-gated-40",
            (M10,),
            steps=(("00:00", "0.3 mL/day"), ("08:00", "0.4 mL/day"), ("21:00", "0.3 mL/day")),
            catheter=VALVE_CATHETER,
        ),
        800,
    ),
    Implanted(
        _p(40, "Kim", "Soo-ah", "female", "1982-09-01", SPINAL, "spinal-cord-injury-spasticity"),
        Rx(
            "programmable-40",
            (("baclofen", "500 mcg/mL"),),
            steps=(("00:00", "0.36 mL/day"), ("07:00", "0.3 mL/day"), ("22:00", "0.36 mL/day")),
            low_alarm="4 mL",
            bolus=BACLOFEN_BOLUS,
        ),
        400,
        surgeon="lindqvist",
    ),
)


# --- the engine ---------------------------------------------------------------------------------------------------
def _days(span: timedelta) -> Fraction:
    return Fraction(span.days) + Fraction(span.seconds, 86_400) + Fraction(span.microseconds, 86_400_000_000)


@dataclass
class Reservoir:
    """What the clinic expects in the pump (the twin's expected residual, closely enough for a believable
    withdrawn volume, without replaying the twin): the last fill, less each program's mean daily volume for its
    time, less every bolus given."""

    rx: Rx  # the running program
    fill_at: datetime
    fill_ml: Fraction
    rate: Fraction  # its mean mL/day
    since: datetime
    used: Fraction = Fraction(0)

    def program(self, at: datetime, rx: Rx, rate: Fraction) -> None:
        self.used += self.rate * _days(at - self.since)
        self.rx, self.rate, self.since = rx, rate, at

    def expected(self, at: datetime) -> Fraction:
        return self.fill_ml - self.used - self.rate * _days(at - self.since)

    def refill(self, at: datetime, volume: Fraction) -> None:
        self.fill_at, self.fill_ml, self.used, self.since = at, volume, Fraction(0), at


@dataclass
class Demo:
    s: Session
    now: datetime
    users: dict[str, User] = field(default_factory=dict)
    lots: int = 0

    def __post_init__(self) -> None:
        self.base = datetime.combine(self.now.astimezone(UTC).date(), time(CLINIC_HOUR), UTC)
        self.latest = self.base.date() - DAY  # the last clinic day a visit of the seed may fall on
        self.catalog = load_catalog()

    # --- time
    def day(self, days_ago: float, minutes: float = 0) -> datetime:
        """A clinic morning so many days ago (fractions of a day: so long before now, e.g. a remote press)."""
        if days_ago != int(days_ago):
            return (self.now - timedelta(days=days_ago)).replace(second=0, microsecond=0)
        return self.base - timedelta(days=days_ago) + timedelta(minutes=minutes)

    def clinic_day(self, instant: datetime, minutes: float) -> datetime:
        return datetime.combine(instant.astimezone(UTC).date(), time(CLINIC_HOUR), UTC) + timedelta(minutes=minutes)

    def user(self, login: DemoLogin) -> User:
        return self.users[login.username]

    def add_login(self, login: DemoLogin, actor: str, at: datetime, patient_id: int | None = None) -> User:
        user = add_user(
            self.s,
            actor,
            login.username,
            login.full_name,
            login.role,
            login.password,
            at,
            patient_id,
            password_hash=DEMO_HASHES[login.username],
        )
        self.users[login.username] = user
        return user

    # --- the use cases, with the inputs shaped as the API shapes them
    def create_patient(self, p: Person, at: datetime) -> int:
        data = {
            "mrn": p.mrn,
            "family_name": p.family,
            "given_name": p.given,
            "birth_date": p.born,
            "sex": p.sex,
            "timezone": ZONE,
            "care_area": p.care_area,
            "indications": [p.indication],
            "oral_mme_per_day": None if p.mme is None else Fraction(p.mme),
            "allergies": list(p.allergies),
            "anticoagulants": list(p.anticoagulants),
            "psychosis_history": p.psychosis,
            "life_expectancy_months": p.life_months,
        }
        return pathway.create_patient(self.s, self.user(GARCIA), data, at).id

    def evaluate(
        self, pid: int, p: Person, planned: tuple[str, ...], changes: dict[str, Any], expect: str, at: datetime
    ) -> None:
        answers: dict[str, Any] = {
            "indication": p.indication,
            "planned_drugs": list(planned),
            "conservative_therapy_failed": True,
            "further_surgery_indicated": False,
            "psychological_evaluation": "cleared",
            "active_infection": False,
            "uncorrected_coagulopathy": False,
            "on_anticoagulants": False,
            "anticoagulation_plan": None,
            "allergies": list(p.allergies),
            "psychosis_history": p.psychosis,
            "active_substance_misuse": False,
            "life_expectancy_3_months_or_more": True,
            "realistic_expectations": True,
            "committed_to_refills_and_follow_up": True,
            "time_since_onset": "3 years" if p.indication == "traumatic-brain-injury-spasticity" else None,
            **changes,
        }
        fields = {**answers, "planned_drugs": tuple(planned), "allergies": tuple(answers["allergies"])}
        who = self.user(GARCIA) if p.pain else self.user(LINDQVIST)
        row = pathway.record_evaluation(self.s, who, pid, Candidate(**fields), answers, at)
        if row.outcome != expect:
            raise AssertionError(f"demo {p.mrn}: evaluation {row.outcome}, expected {expect}: {row.reasons}")

    def trial(self, pid: int, p: Person, body: dict[str, Any], expect: str, at: datetime) -> None:
        details = {"baseline_nrs": None, "baseline_ashworth": None, **body}
        details["doses"] = [
            {"nrs": None, "ashworth": None, "side_effects": [], "effect_hours": None, **dose} for dose in body["doses"]
        ]
        doses = tuple(
            TrialDose(
                dose=d["dose"],
                observation_hours=d["observation_hours"],
                nrs=d["nrs"],
                ashworth=d["ashworth"],
                side_effects=tuple(SideEffect(e["name"], e["intolerable"]) for e in d["side_effects"]),
                effect_hours=d["effect_hours"],
            )
            for d in details["doses"]
        )
        trial = TrialInput(
            details["method"],
            details["therapy"],
            details["drug"],
            doses,
            details["baseline_nrs"],
            details["baseline_ashworth"],
        )
        who = self.user(OKAFOR) if p.pain else self.user(LINDQVIST)
        row = pathway.record_trial(self.s, who, pid, trial, details, at)
        if row.outcome != expect:
            raise AssertionError(f"demo {p.mrn}: trial {row.outcome}, expected {expect}: {row.rule}")

    def implant(self, pid: int, spec: Implanted, rx: Rx, at: datetime, kind: str, serial: str) -> Fraction:
        capacity = self.capacity(rx)
        catheter = rx.catheter or ("intrathecal-one-piece", 60)
        data = {
            "kind": kind,
            "pump_model": rx.pump,
            "pump_serial": serial,
            "catheter_model": catheter[0],
            "catheter_length_cm": Fraction(catheter[1]),
            "tip_level": spec.tip,
            "implanted_at": at,
            "surgeon": BY_REF[spec.surgeon].full_name,
            "notes": "" if kind == "implant" else "pump replaced: motor stall reported at interrogation",
        }
        pathway.record_implant(
            self.s, self.user(BY_REF[spec.surgeon]), pid, data, program_file(rx, spec.person, at, capacity), at
        )
        return capacity

    def interrogate(
        self, pid: int, reservoir: Reservoir, at: datetime, alarms: tuple[str, ...] = (), eri: bool = False
    ) -> None:
        """The nurse reads the pump: the reservoir as the clinic expects it, to 0.1 mL, and what the pump reports."""
        level = round(reservoir.expected(at) * 10) / Fraction(10)
        cmd = pathway.RecordInterrogation(level, alarms, eri)
        pathway.record_interrogation(self.s, self.user(GARCIA), pid, cmd, at)

    def refill(
        self,
        pid: int,
        at: datetime,
        solution: list[dict[str, str]],
        volume: Fraction,
        withdrawn: Fraction | None,
        checker: DemoLogin | None,
        emergency: str = "",
    ) -> Generator[datetime, None, Refill]:
        """Prepared by the nurse, checked by a second person (unless `checker` is None), then filled (unless
        `withdrawn` is None: the preparation waits). Yields the instants; returns the refill."""
        cmd = refill_steps.PrepareRefill(
            tuple((d["name"], d["concentration"]) for d in solution),
            self.lot(at),
            at + timedelta(days=60),
            volume,
        )
        refill = refill_steps.prepare_refill(self.s, self.user(GARCIA), pid, cmd, at)
        if checker is not None:
            at += timedelta(minutes=10)
            yield at
            refill_steps.check_refill(self.s, self.user(checker), pid, refill.id, at)
        if withdrawn is None:
            return refill
        at += timedelta(minutes=15)
        yield at
        done = refill_steps.CompleteRefill(withdrawn, volume, "" if checker is not None else emergency)
        return refill_steps.complete_refill(self.s, self.user(GARCIA), pid, refill.id, done, at)

    def capacity(self, rx: Rx) -> Fraction:
        return self.catalog.pump(rx.pump, "pump").capacity.to("mL")

    def due(self, pid: int) -> datetime:
        status = self.s.get(PatientStatus, pid)
        assert status is not None and status.next_refill_due is not None
        return status.next_refill_due

    def lot(self, at: datetime) -> str:
        self.lots += 1
        return f"L{at:%y%m}-{self.lots:04d}"


def _parsed(rx: Rx, person: Person, at: datetime, volume: Fraction = Fraction(20)) -> PumpProgram:
    return parse_program(program_file(rx, person, at, volume), load_library(), load_catalog())


def _rate(rx: Rx, person: Person, at: datetime, volume: Fraction) -> Fraction:
    rate: Fraction = _parsed(rx, person, at, volume).mean_daily_volume().to("mL/day")
    return rate


def _bolus_ml(rx: Rx, person: Person, at: datetime) -> Fraction:
    bolus = _parsed(rx, person, at).patient_bolus
    assert bolus is not None
    volume: Fraction = bolus.volume.to("mL")
    return volume


# --- the stories --------------------------------------------------------------------------------------------------
def evaluation_story(
    d: Demo, p: Person, planned: tuple[str, ...], changes: dict[str, Any], expect: str, ago: int
) -> Story:
    at = d.day(ago + 21, 40)
    yield at
    pid = d.create_patient(p, at)
    at = d.day(ago, 75)
    yield at
    d.evaluate(pid, p, planned, changes, expect, at)


def referral_story(d: Demo, p: Person, ago: int) -> Story:
    at = d.day(ago, 200)
    yield at
    d.create_patient(p, at)


def trial_story(d: Demo, p: Person, body: dict[str, Any], expect: str, ago: int) -> Story:
    at = d.day(ago + 50, 50)
    yield at
    pid = d.create_patient(p, at)
    at = d.day(ago + 28, 90)
    yield at
    d.evaluate(pid, p, (body["drug"],), {}, "eligible", at)
    at = d.day(ago, 120)
    yield at
    d.trial(pid, p, body, expect, at)


def _trial_body(spec: Implanted) -> dict[str, Any]:
    drug = spec.rx.drugs[0][0]
    if not spec.person.pain:
        return {
            "method": "baclofen-screening",
            "therapy": "spasticity",
            "drug": "baclofen",
            "baseline_ashworth": "3",
            "doses": [{"dose": "50 mcg", "observation_hours": 6, "ashworth": "1+", "effect_hours": 6}],
        }
    dose = {"morphine": "0.2 mg", "hydromorphone": "0.05 mg", "fentanyl": "25 mcg", "sufentanil": "5 mcg"}
    return {
        "method": "single-shot-bolus",
        "therapy": "pain",
        "drug": drug,
        "baseline_nrs": 8,
        "doses": [{"dose": dose.get(drug, "2.5 mcg"), "observation_hours": 24, "nrs": 3}],
    }


def _serial(spec: Implanted, n: int) -> str:
    prefix = {"programmable": "NGP", "valve-gated": "PTX", "constant-flow": "CFX"}
    family = load_catalog().pump(spec.rx.pump, "pump").family
    return f"{prefix[family]}{int(spec.person.mrn[-4:]) * 7919 % 100_000 + n:05d}"


def _follow_up(d: Demo, pid: int, p: Person, rng: random.Random, at: datetime, **entered: Any) -> int:
    if not entered:
        if p.pain:
            entered = {
                "nrs": rng.randint(2, 5),
                "baseline_nrs": 8,
                "oswestry": [rng.randint(0, 3) for _ in range(10)],
                "phq9": [rng.randint(0, 1) for _ in range(8)] + [0],
                "adverse_events": [{"item": "constipation", "grade": 1}] if rng.random() < 0.4 else [],
            }
        else:
            entered = {"ashworth": "1", "previous_ashworth": "1", "penn_frequency": 1, "penn_severity": 1}
    full = {
        "nrs": None,
        "baseline_nrs": None,
        "oswestry": None,
        "phq9": None,
        "ashworth": None,
        "previous_ashworth": None,
        "penn_frequency": None,
        "penn_severity": None,
        "adverse_events": [],
        **entered,
    }
    visit = FollowUpVisit(
        nrs=full["nrs"],
        baseline_nrs=full["baseline_nrs"],
        oswestry=None if full["oswestry"] is None else tuple(full["oswestry"]),
        phq9=None if full["phq9"] is None else tuple(full["phq9"]),
        ashworth=full["ashworth"],
        previous_ashworth=full["previous_ashworth"],
        penn_frequency=full["penn_frequency"],
        penn_severity=full["penn_severity"],
        adverse_events=tuple(AdverseEvent(e["item"], e["grade"]) for e in full["adverse_events"]),
    )
    who = d.user(GARCIA)
    return pathway.record_follow_up(d.s, who, pid, visit, full, at).id


def implanted_story(d: Demo, spec: Implanted, index: int) -> Story:
    p, rx = spec.person, spec.rx
    rng = random.Random(p.mrn)  # the same seed, the same clinic
    minutes = 20 + (index * 37) % 330  # this patient's usual time at the clinic, after the morning start
    implant_at = d.day(spec.implant_days, minutes)
    if spec.eri_in_days is not None:
        implant_at = d.clinic_day(d.now + timedelta(days=spec.eri_in_days) - _eri_span(rx, p), minutes)
    last = implant_at - timedelta(days=90)
    yield last
    pid = d.create_patient(p, last)
    last += timedelta(days=30)
    yield last
    d.evaluate(pid, p, tuple(n for n, _ in rx.drugs), {}, "eligible", last)
    last += timedelta(days=30)
    yield last
    d.trial(pid, p, _trial_body(spec), "success", last)
    yield implant_at
    capacity = d.implant(pid, spec, rx, implant_at, "implant", _serial(spec, 0))
    last = implant_at
    reservoir = Reservoir(rx, implant_at, capacity, _rate(rx, p, implant_at, capacity), implant_at)
    login = PATIENT_LOGINS.get(p.mrn)
    if login is not None:
        last = implant_at + timedelta(hours=2)
        yield last
        d.add_login(login, actor_name(d.user(ADMIN)), last, pid)

    def when(step: Step) -> datetime:
        return d.day(step.days, minutes) if step.ago else d.clinic_day(implant_at + timedelta(days=step.days), minutes)

    steps = sorted(spec.steps, key=when)
    due, refills = d.due(pid), 0
    for _ in range(200):
        visit = d.clinic_day(due - timedelta(days=spec.lead), minutes)
        interval = due - reservoir.fill_at
        final = False
        if spec.due_in is not None and visit + interval >= d.now + timedelta(days=spec.due_in):
            visit, final = d.clinic_day(d.now + timedelta(days=spec.due_in) - interval, minutes), True
        if visit.date() > d.latest:
            if spec.due_in is not None or due > d.now + timedelta(days=8):
                break
            visit = d.clinic_day(d.base - DAY, minutes)  # not due this week by chance: refilled yesterday
        # whatever comes before this visit happens first (a program change or a new pump moves the due date)
        while steps and not steps[0].at_refill and when(steps[0]) <= visit:
            step = steps.pop(0)
            last = max(when(step), last + timedelta(minutes=5))
            yield last
            last = yield from _step(d, pid, spec, step, last, reservoir, rng)
        if due != d.due(pid):
            due = d.due(pid)
            continue
        at = max(visit, last + timedelta(minutes=5))
        pending: Step | None = None
        if steps and steps[0].at_refill and when(steps[0]) <= at:  # a change at this visit, then the fill
            yield at
            step = steps.pop(0)
            at, waits = yield from _change_program(d, pid, spec, step, at, reservoir, at + timedelta(minutes=30))
            pending = step if waits else None  # a new solution: the refill that brings it applies it
        compounded = _compounded(reservoir.rx)
        is_last = final or (spec.due_in is None and (at + interval - timedelta(days=spec.lead)).date() > d.latest)
        at += timedelta(minutes=30)
        yield at
        expected = reservoir.expected(at)
        delivered = reservoir.fill_ml - expected
        off = (
            delivered * Fraction(-3, 10)
            if (is_last and spec.flag_last_refill)
            else delivered * Fraction(rng.randint(-40, 40), 1000)
        )
        step_ml = Fraction(1, 10) if delivered > 5 else Fraction(1, 100)
        withdrawn = max(Fraction(0), round((expected + off) / step_ml) * step_ml)
        refills += 1
        unchecked = spec.unchecked_last_refill if is_last else ""
        checker = None if unchecked else CHEN if compounded or refills % 3 == 0 else (OKAFOR if p.pain else LINDQVIST)
        solution = (pending.rx or reservoir.rx).solution if pending is not None else reservoir.rx.solution
        refill = yield from d.refill(pid, at, solution, capacity, withdrawn, checker, unchecked)
        assert refill.at is not None
        at = refill.at
        reservoir.refill(at, capacity)
        if pending is not None:  # the refill brought the new solution: its program runs from the fill
            assert pending.rx is not None
            reservoir.program(at, pending.rx, _rate(pending.rx, p, at, capacity))
            pending = None
        if refill.next_refill_due is not None:
            due = refill.next_refill_due
        if is_last:
            at += timedelta(minutes=20)
            yield at
            _follow_up(d, pid, p, rng, at)
        last = at
        if final:
            break
    for step in steps:  # what happens after the last refill, up to now
        last = max(when(step), last + timedelta(minutes=5))
        assert last <= d.now, (p.mrn, step)
        yield last
        last = yield from _step(d, pid, spec, step, last, reservoir, rng)


def _step(
    d: Demo, pid: int, spec: Implanted, step: Step, at: datetime, reservoir: Reservoir, rng: random.Random
) -> Steps:
    """One step at `at` (already yielded); yields the instants of any further use cases; returns the last."""
    p = spec.person
    if step.kind == "program":
        at, _ = yield from _change_program(d, pid, spec, step, at, reservoir, fill_at=reservoir.fill_at)
        return at
    if step.kind == "prepare-refill":
        capacity = d.capacity(reservoir.rx)
        yield from d.refill(pid, at, reservoir.rx.solution, capacity, None, None)
        return at
    if step.kind == "replacement":
        assert step.rx is not None
        capacity = d.implant(pid, spec, step.rx, at, "replacement", _serial(spec, 1))
        reservoir.refill(at, capacity)
        reservoir.program(at, step.rx, _rate(step.rx, p, at, capacity))
    elif step.kind == "interrogation":
        d.interrogate(pid, reservoir, at, step.alarms, step.eri)
    elif step.kind == "follow-up":
        _follow_up(d, pid, p, rng, at)
    elif step.kind == "remote":
        login = PATIENT_LOGINS[p.mrn]
        decision = pathway.request_bolus(d.s, d.user(login), pid, at)
        if decision.accepted:
            reservoir.used += _bolus_ml(reservoir.rx, p, at)
    elif step.kind == "urgent-phq9":
        phq9 = [2, 2, 1, 2, 1, 2, 1, 0, 1]  # item 9 (thoughts of self-harm) above 0: urgent, today
        _follow_up(d, pid, p, rng, at, nrs=5, baseline_nrs=8, phq9=phq9)
    elif step.kind == "spasm-flag":
        spasms = [{"item": "muscle-spasm", "grade": 2}]
        fid = _follow_up(
            d,
            pid,
            p,
            rng,
            at,
            ashworth="2",
            previous_ashworth="1",
            penn_frequency=3,
            penn_severity=2,
            adverse_events=spasms,
        )
        at += timedelta(minutes=30)
        yield at
        d.interrogate(pid, reservoir, at)
        at += timedelta(hours=1)
        yield at
        pathway.resolve_follow_up(d.s, d.user(LINDQVIST), pid, fid, at)
    return at


def _change_program(
    d: Demo, pid: int, spec: Implanted, step: Step, at: datetime, reservoir: Reservoir, fill_at: datetime
) -> Generator[datetime, None, tuple[datetime, bool]]:
    """Propose (the physician), confirm with the reasons for any soft finding and, for a new drug or
    concentration, verify (the pharmacist). The same solution runs from its confirmation; a new one waits for the
    refill that brings it. Returns the last instant and whether the program waits."""
    assert step.rx is not None
    p = spec.person
    doctor = d.user(BY_REF[spec.surgeon])
    volume = reservoir.fill_ml if fill_at == reservoir.fill_at else d.capacity(step.rx)
    document = program_file(step.rx, p, fill_at, volume)
    version = programs.propose_program(d.s, doctor, pid, document, at)
    if version.status != "proposed":
        raise AssertionError(f"demo {p.mrn}: program refused: {version.closed_reason}")
    at += timedelta(minutes=5)
    yield at
    version = programs.confirm_program(d.s, doctor, pid, version.number, dict(step.overrides), at)
    if version.needs_second:
        at += timedelta(minutes=10)
        yield at
        version = programs.verify_program(d.s, d.user(CHEN), pid, version.number, at)
        assert version.status == "awaiting-refill", (p.mrn, version.status)
        return at, True
    assert version.status == "active", (p.mrn, version.status)
    reservoir.program(at, step.rx, _rate(step.rx, p, fill_at, volume))
    return at, False


def _compounded(rx: Rx) -> bool:
    """A solution that is not a product strength as it is (an admixture, or diluted): the pharmacy compounds it."""
    library = load_library()
    if len(rx.drugs) > 1:
        return True
    name, concentration = rx.drugs[0]
    drug = library.drug(name, "drug")
    return not any(str(f.concentration.value) == concentration for f in drug.formulations)


def _eri_span(rx: Rx, p: Person) -> timedelta:
    """From the implant to the elective replacement indicator at this program's daily volume (the twin's rule:
    the battery's life at that volume, or its hard stop by age, less the ERI-to-end-of-service gap)."""
    pump = load_catalog().pump(rx.pump, "pump")
    any_fill = datetime(2026, 1, 5, CLINIC_HOUR, tzinfo=UTC)  # the mean daily volume does not depend on it
    life = pump.battery.expected_life(_parsed(rx, p, any_fill).mean_daily_volume())
    assert life is not None and pump.battery.eri_to_eos is not None
    days = life.to("day")
    if pump.battery.hard_stop is not None:
        days = min(days, pump.battery.hard_stop.value.to("day"))
    return timedelta(days=float(days - pump.battery.eri_to_eos.value.to("day")))


def _text(ml: Fraction) -> str:
    text = f"{float(ml):.2f}".rstrip("0").rstrip(".")
    assert Fraction(text) == ml, ml
    return text


# --- seeding ------------------------------------------------------------------------------------------------------
def _run(stories: list[Story], now: datetime) -> None:
    """Run every patient's story forward in time together: the earliest next step first (ties: roster order)."""
    queue: list[tuple[datetime, int]] = []
    by_index = dict(enumerate(stories))
    last: dict[int, datetime] = {}

    def advance(i: int) -> None:
        at = next(by_index[i], None)
        if at is None:
            return
        if at > now or (i in last and at < last[i]):
            raise AssertionError(f"demo story {i}: step at {at} is out of order (last {last.get(i)}, now {now})")
        last[i] = at
        heapq.heappush(queue, (at, i))

    for i in by_index:
        advance(i)
    while queue:
        _, i = heapq.heappop(queue)
        advance(i)


def patient_count(s: Session) -> int:
    return s.scalar(select(func.count()).select_from(Patient)) or 0


def seed_demo(sessions: sessionmaker[Session], now: datetime) -> DemoLogins:
    """Seed the demo clinic into an empty database, in one transaction (all of it or nothing), and return its
    logins. Refuses (Conflict) a database that already holds patients or any of the demo's usernames."""
    with sessions() as s, s.begin():
        found = patient_count(s)
        if found:
            raise Conflict(
                f"the database already holds {found} patients: the demo clinic is seeded only into an empty one"
            )
        names = [login.username for login in LOGINS.logins]
        taken = s.scalars(select(User.username).where(User.username.in_(names))).all()
        if taken:
            raise Conflict(
                f"the database already has the user {taken[0]}: the demo clinic is seeded only into an empty one"
            )
        d = Demo(s, now)
        start = d.day(8 * 365, 0)  # the clinic's records open before its oldest patient's referral
        admin = d.add_login(ADMIN, SEED_ACTOR, start)
        for login in STAFF[1:]:
            d.add_login(login, actor_name(admin), start)
        stories: list[Story] = []
        for person, planned, changes, expect, ago in EVALUATIONS:
            stories.append(evaluation_story(d, person, planned, changes, expect, ago))
        stories.append(referral_story(d, NEW_REFERRAL, 2))
        for person, body, expect, ago in TRIALS:
            stories.append(trial_story(d, person, body, expect, ago))
        for i, spec in enumerate(IMPLANTED):
            stories.append(implanted_story(d, spec, i))
        _run(stories, now)
        for pid in s.scalars(select(Patient.id).order_by(Patient.id)):
            refresh_status(s, pid, now)  # the dashboard as it stands now (alarms raised since each last visit)
        patients = patient_count(s)
        head = s.get(AuditHead, 1)
        return replace(LOGINS, patients=patients, audit_records=0 if head is None else head.sequence)


__all__ = ["LOGINS", "README_REFILL_MRN", "DemoLogin", "DemoLogins", "patient_count", "seed_demo"]
