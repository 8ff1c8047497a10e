"""Run a fleet study: every patient through the event-driven pump twin under one refill policy, then numpy sums.

A patient's refill visits are planned from what the clinic knows (policy.py), shifted by the patient's habits
(late, missed and rebooked), and handed to the twin with the patient's remote presses and the pump's true
accuracy. The clinic does not react between visits: a low-reservoir alarm or a reconciliation flag changes no
booking, so the figures show what each policy leaves to those safeguards.

Patients run in chunks, in this process or in a process pool; each patient draws from its own child seed, so
the report is the same whatever the number of workers.
"""

from __future__ import annotations

import gc
import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import count
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from openidds.devices import DeviceCatalog
from openidds.drugs import DrugLibrary
from openidds.errors import InputError
from openidds.fleet import population as pop
from openidds.fleet.policy import Planner, Policy
from openidds.programfile import parse_instant
from openidds.programs.clock import DAY_US, to_us
from openidds.programs.program import PumpProgram
from openidds.twin import AccuracyChange, Event, PumpTwin, Refill, RemoteRequest

START_US = to_us(parse_instant(pop.START, ZoneInfo(pop.ZONE), "start"))
YEAR_US = 36525 * DAY_US // 100  # a Julian year: patient-years are years × patients
MAX_YEARS = 5  # pump replacement at the battery's ERI is not modelled: keep studies inside the battery life
MAX_PATIENTS = 1_000_000
ALARM_NAMES = ("low-reservoir", "empty-reservoir", "motor-stall", "eri", "end-of-service")
# One row per patient, these columns (integers: counts, and the empty time in µs).
COLUMNS = (
    *ALARM_NAMES,
    "empty_episodes",
    "empty_us",
    "refill_visits",
    "missed_visits",
    "late_visits",
    "pocket_fills",
    "less_than_expected",
    "more_than_expected",
    "remote_requests",
    "remote_doses_given",
    "over_infusing",
)
COL = {name: i for i, name in enumerate(COLUMNS)}


# --- one patient -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Visit:
    """What happens at one booked visit, and the pump's accuracy over the fill that follows it."""

    late_days: int = 0
    missed: bool = False  # not attended; rebooked `rebook_days` later
    rebook_days: int = 0
    pocket_ml: Fraction = Fraction(0)
    factor: Fraction = Fraction(1)  # delivered / programmed until the next refill


class Habits(Protocol):
    def visit(self, k: int) -> Visit:
        """The k-th booked visit (0 = the first after the study starts)."""


@dataclass(frozen=True)
class Scripted:
    """Habits written out by hand; every visit past the list is on time, exact and clean."""

    visits: Sequence[Visit] = ()

    def visit(self, k: int) -> Visit:
        return self.visits[k] if k < len(self.visits) else Visit()


def accuracy_factor(value: float) -> Fraction:
    """A sampled accuracy as an exact factor to 1/1000, inside the clip range."""
    lo, hi = pop.ACCURACY_CLIP
    return Fraction(round(min(max(value, lo), hi) * 1000), 1000)


@dataclass
class Sampled:
    """Habits drawn from a patient's own generator, a batch of visits at a time (all arrays)."""

    rng: np.random.Generator
    late_chance: float
    late_mean_days: float
    drawn: list[Visit] = field(default_factory=list)

    def visit(self, k: int) -> Visit:
        while k >= len(self.drawn):
            self._draw(16)
        return self.drawn[k]

    def _draw(self, n: int) -> None:
        rng = self.rng
        late = rng.random(n) < self.late_chance
        late_days = np.floor(rng.exponential(self.late_mean_days, n)).astype(np.int64) + 1
        missed = rng.random(n) < pop.MISSED_VISIT
        rebook = rng.integers(pop.REBOOK_DAYS[0], pop.REBOOK_DAYS[1] + 1, n)
        pocket = rng.random(n) < pop.POCKET_FILL
        pocket_tenths = np.round(rng.uniform(*pop.POCKET_ML, n) * 10).astype(np.int64)
        factor = rng.normal(pop.ACCURACY_MEAN, pop.ACCURACY_SD, n)
        for i in range(n):
            self.drawn.append(
                Visit(
                    int(late_days[i]) if late[i] else 0,
                    bool(missed[i]),
                    int(rebook[i]),
                    Fraction(int(pocket_tenths[i]), 10) if pocket[i] else Fraction(0),
                    accuracy_factor(float(factor[i])),
                )
            )


@dataclass(frozen=True)
class Patient:
    program: PumpProgram  # filled at the study start with the volume it holds then
    remote_at: Sequence[int] = ()  # remote presses, sorted UTC µs
    habits: Habits = Scripted()
    factor: Fraction = Fraction(1)  # accuracy over the first fill
    over_infusion_at: int | None = None  # the pump starts over-infusing (OVER_INFUSION_FACTOR) from here on


@dataclass(frozen=True)
class Outcome:
    alarms: dict[str, int]  # raised, by name
    empty_episodes: int  # times the reservoir ran empty, with an alarm or (pumps without alarms) unannounced
    empty_us: int  # time the reservoir was empty
    visits: tuple[int, ...]  # refill instants
    missed: int
    late: int
    pocket_fills: int
    reconciliation: dict[str, int]  # refill count by status
    remote_requests: int
    remote_doses_given: int
    over_infusing: bool

    def row(self) -> list[int]:
        values = {
            **{name: self.alarms.get(name, 0) for name in ALARM_NAMES},
            "empty_episodes": self.empty_episodes,
            "empty_us": self.empty_us,
            "refill_visits": len(self.visits),
            "missed_visits": self.missed,
            "late_visits": self.late,
            "pocket_fills": self.pocket_fills,
            "less_than_expected": self.reconciliation.get("less-than-expected", 0),
            "more_than_expected": self.reconciliation.get("more-than-expected", 0),
            "remote_requests": self.remote_requests,
            "remote_doses_given": self.remote_doses_given,
            "over_infusing": int(self.over_infusing),
        }
        return [values[c] for c in COLUMNS]


def simulate_patient(
    patient: Patient, policy: Policy, end: int, planner: Planner | None = None
) -> tuple[Outcome, PumpTwin]:
    """Plan the visits, run the twin from the fill to `end`, and count what happened."""
    program = patient.program
    planner = planner or Planner.for_program(program)
    start = to_us(program.reservoir.filled_at)
    capacity = program.pump.capacity.to("mL")
    over_at = patient.over_infusion_at
    over_at = over_at if over_at is not None and start < over_at < end else None

    def true_factor(base: Fraction, at: int) -> Fraction:
        return base * pop.OVER_INFUSION_FACTOR if over_at is not None and at >= over_at else base

    # The clinic's plan: from each fill, the policy's booking, shifted by the patient's habits.
    others: list[Event] = []
    visits: list[int] = []
    bases: list[Fraction] = [patient.factor]  # the accuracy over each fill, before any fault
    missed = late = pockets = 0
    fill_at, fill_ml = start, program.reservoir.volume.to("mL")
    for k in count():  # ends: each visit is at least a day after the last
        booked = fill_at + policy.days_to_next_visit(planner, fill_at, fill_ml) * DAY_US
        v = patient.habits.visit(k)
        at = booked + (v.rebook_days if v.missed else v.late_days) * DAY_US
        if booked < end and v.missed:
            missed += 1
        if at >= end:
            break
        late += not v.missed and v.late_days > 0
        pocket = min(v.pocket_ml, capacity)
        pockets += pocket > 0
        others.append(Refill(at, capacity, pocket_ml=pocket))
        if true_factor(v.factor, at) != true_factor(bases[-1], at):
            others.append(AccuracyChange(at, true_factor(v.factor, at)))
        visits.append(at)
        bases.append(v.factor)
        fill_at, fill_ml = at, capacity
    if over_at is not None and over_at not in visits:
        base = bases[bisect_right(visits, over_at)]
        others.insert(
            next((j for j, e in enumerate(others) if e.at > over_at), len(others)),
            AccuracyChange(over_at, base * pop.OVER_INFUSION_FACTOR),
        )

    # Remote presses between them (each of the few planned events goes after presses at the same instant).
    remote = patient.remote_at
    events: list[Event] = []
    done = 0
    for e in others:
        cut = bisect_right(remote, e.at, lo=done)
        events.extend(map(RemoteRequest, remote[done:cut]))
        events.append(e)
        done = cut
    events.extend(map(RemoteRequest, remote[done:]))

    twin = PumpTwin(program, factor=patient.factor).run(events, end)

    # Empty time: from the empty-reservoir alarm to its clearing (the refill). A pump without alarms only logs
    # the condition ("unannounced"); it lasts until the next refill.
    alarms: dict[str, int] = {}
    empty: list[tuple[int, int]] = []
    for a in twin.alarms:
        alarms[a.name] = alarms.get(a.name, 0) + 1
        if a.name == "empty-reservoir":
            empty.append((a.raised_at, end if a.cleared_at is None else a.cleared_at))
    statuses: dict[str, int] = {}
    for entry in twin.log:
        if entry["event"] == "refill":
            statuses[entry["reconciliation"]] = statuses.get(entry["reconciliation"], 0) + 1
        elif entry["event"] == "unannounced" and entry["condition"] == "empty-reservoir":
            nxt = bisect_left(visits, entry["at"])
            empty.append((entry["at"], visits[nxt] if nxt < len(visits) else end))
    outcome = Outcome(
        alarms,
        len(empty),
        sum(b - a for a, b in empty),
        tuple(visits),
        missed,
        late,
        pockets,
        statuses,
        len(twin.decisions),
        sum(d.accepted for d in twin.decisions),
        over_at is not None,
    )
    return outcome, twin


# --- the population's patients ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Study:
    population: pop.Population
    templates: dict[pop.TemplateKey, PumpProgram]
    policy: Policy
    end: int
    planners: dict[pop.TemplateKey, Planner] = field(default_factory=dict, compare=False)

    def planner(self, key: pop.TemplateKey) -> Planner:
        found = self.planners.get(key)
        if found is None:
            found = self.planners[key] = Planner.for_program(self.templates[key])
        return found

    def patient(self, i: int) -> Patient:
        """Patient i, its random draws from its own child seed (SeedSequence(seed, spawn_key=(1, i)))."""
        p = self.population
        rng = np.random.default_rng(np.random.SeedSequence(p.seed, spawn_key=(1, i)))
        program = pop.with_first_fill(self.templates[p.key(i)], float(p.first_fill[i]))
        start = to_us(program.reservoir.filled_at)
        presses: list[int] = []
        rate = float(p.remote_per_day[i])
        if rate > 0:
            n = int(rng.poisson(rate * (self.end - start) / DAY_US))
            if n:
                presses = np.sort(rng.integers(start, self.end, n)).tolist()
        factor = accuracy_factor(float(rng.normal(pop.ACCURACY_MEAN, pop.ACCURACY_SD)))
        habits = Sampled(rng, float(p.late_chance[i]), float(p.late_mean_days[i]))
        day = float(p.over_infusion_day[i])
        over_at = None if math.isnan(day) else start + int(day * DAY_US)
        return Patient(program, presses, habits, factor, over_at)

    def run(self, lo: int, hi: int) -> npt.NDArray[np.int64]:
        rows = [
            simulate_patient(self.patient(i), self.policy, self.end, self.planner(self.population.key(i)))[0].row()
            for i in range(lo, hi)
        ]
        return np.array(rows, dtype=np.int64).reshape(hi - lo, len(COLUMNS))


_worker_study: Study | None = None


def _init_worker(study: Study) -> None:
    global _worker_study
    _worker_study = study
    # The library, catalog and program templates live as long as the worker: keep the cyclic collector from
    # walking them again at every full collection (a third of a short twin run's time otherwise).
    gc.freeze()


def _run_chunk(lo: int, hi: int) -> tuple[int, npt.NDArray[np.int64]]:
    assert _worker_study is not None
    return lo, _worker_study.run(lo, hi)


def run_patients(study: Study, workers: int, progress: Callable[[int], None] | None = None) -> npt.NDArray[np.int64]:
    """Every patient's row, in patient order. workers > 1: a process pool over chunks of patients."""
    n = len(study.population)
    size = max(1, min(100, math.ceil(n / (8 * workers))))
    chunks = [(lo, min(lo + size, n)) for lo in range(0, n, size)]
    out = np.zeros((n, len(COLUMNS)), dtype=np.int64)
    if workers == 1 or len(chunks) == 1:
        for lo, hi in chunks:
            out[lo:hi] = study.run(lo, hi)
            if progress is not None:
                progress(hi - lo)
        return out
    with ProcessPoolExecutor(min(workers, len(chunks)), initializer=_init_worker, initargs=(study,)) as pool:
        futures = {pool.submit(_run_chunk, lo, hi): hi - lo for lo, hi in chunks}
        for future in as_completed(futures):
            lo, rows = future.result()
            out[lo : lo + len(rows)] = rows
            if progress is not None:
                progress(futures[future])
    return out


# --- the report --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Figures:
    """Totals of a group of patients, and the same per patient-year."""

    patients: int
    patient_years: float
    totals: dict[str, Any]

    @classmethod
    def of(cls, rows: npt.NDArray[np.int64], years: float) -> Figures:
        s = rows.sum(axis=0)
        totals: dict[str, Any] = {
            "alarms": {name: int(s[COL[name]]) for name in ALARM_NAMES},
            "empty_reservoir_episodes": int(s[COL["empty_episodes"]]),
            "empty_reservoir_days": int(s[COL["empty_us"]]) / DAY_US,
            "reconciliation_flags": int(s[COL["less_than_expected"]] + s[COL["more_than_expected"]]),
            "refill_visits": int(s[COL["refill_visits"]]),
            "missed_visits": int(s[COL["missed_visits"]]),
            "late_visits": int(s[COL["late_visits"]]),
            "remote_requests": int(s[COL["remote_requests"]]),
            "remote_doses_given": int(s[COL["remote_doses_given"]]),
        }
        return cls(len(rows), len(rows) * years, totals)

    def per_patient_year(self) -> dict[str, Any]:
        py = self.patient_years

        def rate(value: int | float) -> float:
            return value / py if py else 0.0

        return {
            k: {name: rate(n) for name, n in v.items()} if isinstance(v, dict) else rate(v)
            for k, v in self.totals.items()
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "patients": self.patients,
            "patient_years": self.patient_years,
            "per_patient_year": self.per_patient_year(),
            "totals": self.totals,
        }


@dataclass(frozen=True)
class FleetReport:
    patients: int
    years: float
    seed: int
    policy: Policy
    overall: Figures
    details: dict[str, int]  # counts behind the figures: patients ever empty, flags by status, ...
    by_drug: dict[str, Figures]
    by_pump_family: dict[str, Figures]
    assumptions: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "fleet": {
                "patients": self.patients,
                "years": self.years,
                "patient_years": self.overall.patient_years,
                "seed": self.seed,
                "policy": {"name": self.policy.name, "description": self.policy.describe()},
            },
            "overall": self.overall.as_json(),
            "details": self.details,
            "by_drug": {k: f.as_json() for k, f in self.by_drug.items()},
            "by_pump_family": {k: f.as_json() for k, f in self.by_pump_family.items()},
            "assumptions": list(self.assumptions),
        }


def _groups(
    rows: npt.NDArray[np.int64], labels: npt.NDArray[np.int64], names: Sequence[str], years: float
) -> dict[str, Figures]:
    return {names[g]: Figures.of(rows[labels == g], years) for g in np.unique(labels).tolist()}


ASSUMPTIONS = (
    "synthetic population: the drug, pump, program and habit mix is assumed (openidds.fleet.population), "
    "not registry data",
    "every program passes the safety check with no hard or soft finding; all are filled to capacity at refills",
    "the clinic books each visit at a fill and does not react between visits: an alarm or a reconciliation flag "
    "changes no booking; a missed visit is rebooked 7-28 days later",
    "patients are late for some visits (whole days), miss 2 %, and 0.2 % of refills are pocket fills",
    "pump accuracy varies per refill interval (mean 0.995, 95 % within ±0.15); 0.5 % of pumps a year start "
    "over-infusing by 20 %",
    "remote presses arrive at random (Poisson) for patients with a remote; the pump refuses those over its limits",
    "every pump starts the study new; pump replacement at the battery's ERI is not modelled (at most 5 years)",
    "empty-reservoir days: from the twin's empty-reservoir alarm, raised to cleared (or the end of the study); "
    "on a pump without alarms, from the logged (unannounced) empty reservoir to the next refill",
)


def run_fleet(
    library: DrugLibrary,
    catalog: DeviceCatalog,
    patients: int,
    years: float,
    seed: int,
    policy: Policy,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
) -> FleetReport:
    """Sample the population, run every patient through the twin under `policy`, and sum up."""
    if not 1 <= patients <= MAX_PATIENTS:
        raise InputError("patients", f"must be 1 to {MAX_PATIENTS:,}, got {patients}")
    if not (0 < years <= MAX_YEARS) or math.isnan(years):
        raise InputError("years", f"must be more than 0 and at most {MAX_YEARS} (pump replacement is not modelled)")
    if not 0 <= seed < 2**63:
        raise InputError("seed", f"must be a whole number of 0 or more, got {seed}")
    if workers < 1:
        raise InputError("workers", f"must be 1 or more, got {workers}")
    population = pop.sample_population(patients, years, seed, catalog)
    templates = pop.Templates(library, catalog).for_population(population).programs
    study = Study(population, templates, policy, START_US + round(years * YEAR_US))
    rows = run_patients(study, workers, progress)

    drug_names = sorted({r.drugs[0] for r in pop.REGIMENS})
    drug_of = np.array([drug_names.index(r.drugs[0]) for r in pop.REGIMENS])[population.regimen]
    families = sorted({catalog.pump(p, "population").family for p in pop.PUMP_IDS})
    family_of = np.array([families.index(catalog.pump(p, "population").family) for p in pop.PUMP_IDS])
    details = {
        "patients_ever_empty": int((rows[:, COL["empty_us"]] > 0).sum()),
        "patients_with_a_remote": int((population.remote_per_day > 0).sum()),
        "less_than_expected": int(rows[:, COL["less_than_expected"]].sum()),
        "more_than_expected": int(rows[:, COL["more_than_expected"]].sum()),
        "pocket_fills": int(rows[:, COL["pocket_fills"]].sum()),
        "over_infusing_pumps": int(rows[:, COL["over_infusing"]].sum()),
    }
    return FleetReport(
        patients,
        years,
        seed,
        policy,
        Figures.of(rows, years),
        details,
        _groups(rows, drug_of, drug_names, years),
        _groups(rows, family_of[population.pump], families, years),
        (f"policy {policy.name}: {policy.describe()}", *ASSUMPTIONS),
    )
