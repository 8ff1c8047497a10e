"""A realistic demo clinic, seeded through the care pathway's own use cases (so every record is checked, audited
and consistent with the pump twins), for `idds serve --demo`.

Forty patients, every stage of the pathway, every drug of the library and every pump family, with years of
history: implants, titrations (some past a soft limit, with the prescriber's reason), concentration changes verified
by a second person, refills reconciled against the twin (one flagged: far less withdrawn than expected), an overdue
refill, a baclofen refill due this week, a pump at its elective replacement indicator and one about to reach it, a
replaced pump, a refill waiting for its second check, an urgent PHQ-9 flag and patient remote requests (given and
refused), and its refill operations (service.demo_operations: contacts, a missed baclofen refill visit, a planned
month booked, reminders due). The clinic is fictional and every value is synthetic.

Deterministic: the same `now` gives the same clinic, to the byte; a different `now` gives the same clinic moved
in time (every instant is so many clinic days before `now`). The seeder runs the clinic forward in time, all
patients together, each use case at its own instant, so the audit chain is in time order too.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from fractions import Fraction
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from openidds.clinic.evaluation import Candidate
from openidds.clinic.followup import AdverseEvent, FollowUpVisit
from openidds.clinic.refill import compounded
from openidds.clinic.trial import SideEffect, TrialDose
from openidds.clinic.trial import Trial as TrialInput
from openidds.data import load_catalog, load_library
from openidds.db.models import AuditHead, Flag, Patient, PatientStatus, Refill, User
from openidds.programfile import parse_program
from openidds.programs.program import PumpProgram
from openidds.service import pathway, programs
from openidds.service import refills as refill_steps
from openidds.service.access import actor_name
from openidds.service.demo_operations import operations_story, plan_the_month
from openidds.service.demo_roster import (
    ADMIN,
    BY_REF,
    CHEN,
    CLINIC_HOUR,
    DAY,
    DEMO_HASHES,
    EVALUATIONS,
    GARCIA,
    IMPLANTED,
    LINDQVIST,
    LOGINS,
    NEW_REFERRAL,
    OKAFOR,
    PATIENT_LOGINS,
    README_REFILL_MRN,
    SEED_ACTOR,
    STAFF,
    TRIALS,
    ZONE,
    DemoLogin,
    DemoLogins,
    Implanted,
    Person,
    Rx,
    Step,
    program_file,
)
from openidds.service.errors import Conflict
from openidds.service.pump import refresh_status
from openidds.service.users import add_user

Story = Iterator[datetime]  # a patient's history: yields the instant of its next step, and acts when resumed
Steps = Generator[datetime, None, datetime]  # more steps of a story: returns the instant of the last


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
        cmd = pathway.NewPatient(
            mrn=p.mrn,
            family_name=p.family,
            given_name=p.given,
            birth_date=p.born,
            sex=p.sex,
            timezone=ZONE,
            care_area=p.care_area,
            indications=(p.indication,),
            oral_mme_per_day=None if p.mme is None else Fraction(p.mme),
            allergies=tuple(p.allergies),
            anticoagulants=tuple(p.anticoagulants),
            psychosis_history=p.psychosis,
            life_expectancy_months=p.life_months,
        )
        return pathway.create_patient(self.s, self.user(GARCIA), cmd, at).id

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
        row = pathway.record_evaluation(self.s, who, pid, pathway.RecordEvaluation(Candidate(**fields), answers), at)
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
        row = pathway.record_trial(self.s, who, pid, pathway.RecordTrial(trial, details), at)
        if row.outcome != expect:
            raise AssertionError(f"demo {p.mrn}: trial {row.outcome}, expected {expect}: {row.rule}")

    def implant(
        self, pid: int, spec: Implanted, rx: Rx, at: datetime, kind: pathway.ImplantKind, serial: str
    ) -> Fraction:
        capacity = self.capacity(rx)
        catheter = rx.catheter or ("intrathecal-one-piece", 60)
        cmd = pathway.RecordImplant(
            kind=kind,
            pump_model=rx.pump,
            pump_serial=serial,
            catheter_model=catheter[0],
            catheter_length_cm=Fraction(catheter[1]),
            tip_level=spec.tip,
            implanted_at=at,
            surgeon=BY_REF[spec.surgeon].full_name,
            notes="" if kind == "implant" else "pump replaced: motor stall reported at interrogation",
            program=program_file(rx, spec.person, at, capacity),
        )
        pathway.record_implant(self.s, self.user(BY_REF[spec.surgeon]), pid, cmd, at)
        for flag in self.s.scalars(
            select(Flag).where(
                Flag.patient_id == pid, Flag.code == "implant.first-fill-unchecked", Flag.resolved_at.is_(None)
            )
        ):  # the pharmacist reviews a compounded first fill the same day
            note = "compounding record checked against the prescription and the syringe label"
            pathway.resolve_flag(self.s, self.user(CHEN), pid, flag.id, note, at)
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
            at + timedelta(days=400),  # the label's expiry, well after the next refill
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
            "doses": [
                {"dose": "50 mcg", "observation_hours": 6, "ashworth": "3", "effect_hours": 0},
                {"dose": "75 mcg", "observation_hours": 6, "ashworth": "3", "effect_hours": 0},
                {"dose": "100 mcg", "observation_hours": 6, "ashworth": "1+", "effect_hours": 6},
            ],
        }  # effective at 100 mcg, 6 h: the pump starts at up to 200 mcg/day (twice the dose)
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
    return pathway.record_follow_up(d.s, who, pid, pathway.RecordFollowUp(visit, full), at).id


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
        made = _compounded(reservoir.rx, p)
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
        checker = None if unchecked else CHEN if made or refills % 3 == 0 else (OKAFOR if p.pain else LINDQVIST)
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
        why = "interrogated: the pump runs as programmed; spasms from a urinary infection, treated; review in 2 weeks"
        pathway.resolve_follow_up(d.s, d.user(LINDQVIST), pid, fid, why, at)
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
    version = programs.propose_program(d.s, doctor, pid, programs.ProposeProgram(document), at)
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


def _compounded(rx: Rx, p: Person) -> bool:
    """Whether the pharmacy compounds this solution (the clinic rule the refill use case applies)."""
    any_fill = datetime(2026, 1, 5, CLINIC_HOUR, tzinfo=UTC)
    return compounded(_parsed(rx, p, any_fill).solution).value


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
        stories.append(operations_story(d))
        _run(stories, now)
        for pid in s.scalars(select(Patient.id).order_by(Patient.id)):
            refresh_status(s, pid, now)  # the dashboard as it stands now (alarms raised since each last visit)
        plan_the_month(d)
        patients = patient_count(s)
        head = s.get(AuditHead, 1)
        return replace(LOGINS, patients=patients, audit_records=0 if head is None else head.sequence)


__all__ = ["LOGINS", "README_REFILL_MRN", "DemoLogin", "DemoLogins", "patient_count", "seed_demo"]
