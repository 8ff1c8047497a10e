"""The demo clinic's people and prescriptions: the logins, who the patients are, and each patient's story as data
(the engine that records it through the use cases: service/demo.py)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Any, Literal

ZONE = "America/Chicago"
SEED_ACTOR = "demo-seed"  # who created the demo's first admin, in the audit trail
CLINIC_HOUR = 15  # 09:00 in Chicago in winter, 10:00 in summer: visits start then
DAY = timedelta(days=1)


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
    # Baclofen, low volume: the pump reaches ERI (its 7-year hard stop, less 90 days) in 110 days, so the
    # replacement is to be planned within the month (182 days before the end of service, the label's advice).
    Implanted(
        _p(32, "Young", "Harold", "male", "1950-01-25", SPINAL, "spinal-cord-injury-spasticity"),
        Rx("programmable-40", (("baclofen", "2000 mcg/mL"),), rate="0.1 mL/day", low_alarm="4 mL"),
        0,
        surgeon="lindqvist",
        eri_in_days=110,
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
