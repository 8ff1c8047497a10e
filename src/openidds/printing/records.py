"""What each printed record holds, as typed values: pure, no I/O.

A record keeps exact values (Fraction mL, aware UTC instants) where the page formats them itself (the templates'
filters: `openidds.display` through `web.format`), and text where the core already wrote it for people (a program's
settings, a finding's message, a dose in its unit). Nothing here is decided: `printing.gather` reads it from the
clinic's records, and the templates under web/templates/print/ lay it out for the screen and for the PDF.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from fractions import Fraction
from typing import Any


@dataclass(frozen=True)
class Clinic:
    """Who prints, for the header and the footer of every page."""

    name: str
    timezone: str
    demo: bool  # fictitious clinic: every page says DEMO DATA
    in_hours: str
    in_hours_when: str
    on_call: str
    on_call_when: str


@dataclass(frozen=True)
class PatientId:
    """The two identifiers on every page (name and date of birth, and the MRN)."""

    id: int
    family_name: str
    given_name: str
    mrn: str
    birth_date: date
    sex: str
    timezone: str  # the patient's wall clock: every instant of their records is shown on it


@dataclass(frozen=True)
class Device:
    """The pump and catheter in place at a given instant (the latest implant, pump replacement or revision)."""

    pump_model: str  # the catalog's display name
    pump_id: str
    pump_serial: str
    implanted_at: datetime
    catheter_model: str
    catheter_length_cm: Fraction
    tip_level: str
    mri: str  # what an MRI does to this pump, in words
    mri_source: str  # the title of the catalog's source for it


@dataclass(frozen=True)
class Person:
    """Who did a step, and when."""

    name: str
    role: str
    at: datetime | None


@dataclass(frozen=True)
class Setting:
    setting: str
    value: str


@dataclass(frozen=True)
class DrugDose:
    drug: str
    concentration: str  # as the program file writes it: '10 mg/mL'
    daily_dose: str  # to 3 significant figures, in the drug's unit: '5.25 mg/day'
    worst_case: str  # with every allowed patient bolus


@dataclass(frozen=True)
class RefillRecord:
    """The refill session record: the preparation, its check, the fill and what to enter on the programmer."""

    clinic: Clinic
    patient: PatientId
    refill_id: int
    status: str  # prepared, checked, completed, cancelled
    device: Device | None
    solution: list[tuple[str, str]]  # (drug, concentration) as labelled
    lot: str
    expires_at: datetime | None
    volume_prepared_ml: Fraction
    compounded: bool
    compounded_reasons: list[str]
    prepared: Person
    checked: Person | None
    filled: Person | None
    cancelled: Person | None
    cancel_reason: str
    emergency_reason: str  # filled without the check: why
    expected_ml: Fraction | None
    expected_low_ml: Fraction | None
    expected_high_ml: Fraction | None
    withdrawn_ml: Fraction | None
    filled_ml: Fraction | None
    pocket_ml: Fraction | None
    verdict: str | None  # within-band, or the discrepancy's code
    discrepancy_ml: Fraction | None
    likely_causes: list[str]
    program_number: int | None  # the program that runs from the fill
    program_brought: bool  # the refill started that program (a new solution)
    bridge: str  # the bridge bolus to program, in words ('' if none)
    doses: list[DrugDose]
    settings: list[Setting]  # to enter on the programmer
    low_alarm_at: datetime | None  # the projected low-reservoir alarm, worst case
    empty_at: datetime | None
    next_refill_due: datetime | None
    next_refill_reason: str
    flags: list[str]  # what the refill raised, in words


@dataclass(frozen=True)
class DiffLine:
    setting: str
    old: str
    new: str
    changed: bool


@dataclass(frozen=True)
class ProgramRecord:
    """A program change: old beside new, the findings, the overrides with their reasons, who confirmed, verified."""

    clinic: Clinic
    patient: PatientId
    number: int
    status: str
    based_on: int | None
    needs_second: bool
    diff: list[DiffLine]  # every setting, old beside new (the first program: new alone)
    findings: list[dict[str, Any]]  # as stored: severity, code, message, limit (with `unconfirmed`: [U])
    overrides: list[tuple[str, str]]  # (the finding in words, the prescriber's reason)
    bridge: bool
    bridge_plan: str
    bridge_off_reason: str
    proposed: Person
    confirmed: Person | None
    verified: Person | None
    cancelled: Person | None
    closed_reason: str
    effective_at: datetime | None
    applied_by_refill: int | None
    doses: list[DrugDose]


@dataclass(frozen=True)
class Warning:
    drug: str
    never_empty: str
    signs: str
    act: str


@dataclass(frozen=True)
class EmergencyCard:
    """What another hospital needs to know about the pump, on one page the patient carries."""

    clinic: Clinic
    patient: PatientId
    device: Device | None
    program_number: int | None
    doses: list[DrugDose]
    pending: str  # a program waiting for its refill, in words ('' if none)
    warnings: list[Warning]  # withdrawal-risk drugs (baclofen): never empty, the signs
    allergies: list[str]
    next_refill_due: datetime | None
    printed_at: datetime


@dataclass(frozen=True)
class Count:
    label: str
    value: int


@dataclass(frozen=True)
class WorkRow:
    """One clinician's month: the refill steps they did and the visits they were booked for."""

    name: str
    role: str
    prepared: int
    checked: int
    filled: int
    visits_attended: int
    visits_missed: int

    @property
    def total(self) -> int:
        return self.prepared + self.checked + self.filled + self.visits_attended


@dataclass(frozen=True)
class ReportLine:
    """One event of the month, about one patient: when, whom, what."""

    at: datetime
    patient: str  # 'Doe, Jane (MRN 123)'
    what: str


@dataclass(frozen=True)
class MonthlyReport:
    clinic: Clinic
    month: str  # '2026-11'
    title: str  # 'November 2026'
    start: datetime
    end: datetime
    printed_at: datetime
    counts: list[Count]
    refills_per_week: list[tuple[str, int, int]]  # (week starting, completed within band, with a discrepancy)
    discrepancies: list[ReportLine]
    alarms: list[ReportLine]
    overrides: list[ReportLine]
    missed: list[ReportLine]
    workload: list[WorkRow]
    plots: dict[str, str] = field(default_factory=dict)  # name → an SVG as a data: URI (printing.plots)
