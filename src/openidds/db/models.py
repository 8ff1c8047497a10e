"""The clinic's records as tables (SQLAlchemy 2). Rules live in the pure core; these only hold what happened.

Program versions, refills, follow-ups and audit records are written once and never updated in place (a new
program is a new version); patients, program versions and refills carry an optimistic version number (Versioned)
so two concurrent edits cannot both win.
"""

from __future__ import annotations

from datetime import date, datetime
from fractions import Fraction
from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from openidds.db.types import ExactNumber, UTCDateTime


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        Fraction: ExactNumber,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class Versioned:
    """An optimistic version number, the table's last column: the ORM checks and bumps it on every UPDATE, so of
    two concurrent edits of the same row the second fails (StaleDataError) instead of silently winning."""

    version: Mapped[int] = mapped_column(Integer, default=1)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.version}


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), default=None)  # a patient's own login
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    email: Mapped[str | None] = mapped_column(String(200), default=None)  # where urgent notices reach them


class Token(Base):
    """A bearer token: only its SHA-256 is stored, so a copy of the database cannot be used to log in."""

    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class LoginThrottle(Base):
    """Failed password guesses per login name (as typed, case-folded) and per client address, shared by every
    server worker: the policy is clinic.throttle's. One row per key; a success deletes its account's row."""

    __tablename__ = "login_throttle"
    __table_args__ = (UniqueConstraint("kind", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # "account" or "address"
    key: Mapped[str] = mapped_column(String(80))
    failures: Mapped[int] = mapped_column(Integer)
    last_failure_at: Mapped[datetime] = mapped_column(index=True)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)


class Patient(Versioned, Base):
    __tablename__ = "patients"
    id: Mapped[int] = mapped_column(primary_key=True)
    mrn: Mapped[str] = mapped_column(String(40), unique=True)
    family_name: Mapped[str] = mapped_column(String(100))
    given_name: Mapped[str] = mapped_column(String(100))
    birth_date: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(20))
    timezone: Mapped[str] = mapped_column(String(64))  # the clinic's wall clock for this patient's programs
    care_area: Mapped[str] = mapped_column(String(40))
    indications: Mapped[list[Any]] = mapped_column(default=list)
    oral_mme_per_day: Mapped[Fraction | None] = mapped_column(default=None)
    allergies: Mapped[list[Any]] = mapped_column(default=list)
    anticoagulants: Mapped[list[Any]] = mapped_column(default=list)
    psychosis_history: Mapped[bool | None] = mapped_column(Boolean, default=None)
    life_expectancy_months: Mapped[int | None] = mapped_column(Integer, default=None)
    stage: Mapped[str] = mapped_column(String(30))
    created_at: Mapped[datetime]


class Evaluation(Base):
    __tablename__ = "evaluations"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    answers: Mapped[dict[str, Any]]
    outcome: Mapped[str] = mapped_column(String(20))
    reasons: Mapped[list[Any]]
    recorded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime]


class Trial(Base):
    __tablename__ = "trials"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    details: Mapped[dict[str, Any]]  # method, drug, doses, hours, scores, side effects: as entered
    outcome: Mapped[str] = mapped_column(String(20))
    rule: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime]


class Implant(Base):
    __tablename__ = "implants"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # implant, revision, replacement
    pump_model: Mapped[str] = mapped_column(String(60))
    pump_serial: Mapped[str] = mapped_column(String(60))
    catheter_model: Mapped[str] = mapped_column(String(60))
    catheter_length_cm: Mapped[Fraction]
    tip_level: Mapped[str] = mapped_column(String(20))
    implanted_at: Mapped[datetime]
    surgeon: Mapped[str] = mapped_column(String(200))
    notes: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime]


class ProgramVersion(Versioned, Base):
    """One program, as its program file: proposed → confirmed → active (→ superseded), or refused / cancelled. A
    new drug or concentration goes proposed → awaiting-verification → awaiting-refill, and the refill that brings
    its solution makes it active (`applied_by`): until then the pump runs the program that matches what it holds.
    """

    __tablename__ = "program_versions"
    __table_args__ = (UniqueConstraint("patient_id", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    document: Mapped[str] = mapped_column(Text)  # the TOML program file: what the pump is told
    status: Mapped[str] = mapped_column(String(30))
    findings: Mapped[list[Any]]
    overrides: Mapped[dict[str, Any]]  # soft finding code → the prescriber's reason
    diff: Mapped[list[Any]]  # every setting old beside new
    needs_second: Mapped[bool] = mapped_column(Boolean)  # concentration or drug change
    # Run the old solution in pump and catheter out at the rate that gives the new dose first (calculations.bridge)
    bridge: Mapped[bool] = mapped_column(Boolean, default=False)
    bridge_off_reason: Mapped[str] = mapped_column(Text, default="")  # a solution change without a bridge: why
    based_on: Mapped[int | None] = mapped_column(Integer, default=None)  # the running version number at proposal
    effective_at: Mapped[datetime | None] = mapped_column(default=None)  # when the pump was programmed
    applied_by: Mapped[int | None] = mapped_column(ForeignKey("refills.id"), default=None)  # the refill, if any
    proposed_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    proposed_at: Mapped[datetime]
    confirmed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    confirmed_at: Mapped[datetime | None] = mapped_column(default=None)
    verified_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    verified_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_reason: Mapped[str] = mapped_column(Text, default="")
    cancelled_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    cancelled_at: Mapped[datetime | None] = mapped_column(default=None)


class Refill(Versioned, Base):
    """A refill through prepared → checked → completed (or cancelled): see openidds.clinic.refill. Only a completed
    refill is in the pump twin; the withdrawn and filled volumes and the reconciliation are known from then on."""

    __tablename__ = "refills"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="prepared")
    # The preparation
    solution: Mapped[list[Any]]  # [{name, concentration}] as written on the syringe label
    drug_lot: Mapped[str] = mapped_column(String(60))
    expires_at: Mapped[datetime | None] = mapped_column(default=None)  # expiry or beyond-use date (None: legacy)
    volume_ml: Mapped[Fraction]  # prepared to fill
    compounded: Mapped[bool] = mapped_column(Boolean)  # derived from the solution (clinic.refill.compounded)
    compounded_reasons: Mapped[list[Any]] = mapped_column(default=list)
    program_number: Mapped[int | None] = mapped_column(Integer, default=None)  # the waiting program it brings
    prepared_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    prepared_at: Mapped[datetime]
    # The independent double check, before the fill
    checked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    checked_at: Mapped[datetime | None] = mapped_column(default=None)
    # The fill
    at: Mapped[datetime | None] = mapped_column(default=None)  # completed at: the fill instant
    expected_ml: Mapped[Fraction | None] = mapped_column(default=None)
    expected_low_ml: Mapped[Fraction | None] = mapped_column(default=None)
    expected_high_ml: Mapped[Fraction | None] = mapped_column(default=None)
    withdrawn_ml: Mapped[Fraction | None] = mapped_column(default=None)
    filled_ml: Mapped[Fraction | None] = mapped_column(default=None)
    pocket_ml: Mapped[Fraction | None] = mapped_column(default=None)  # suspected outside the reservoir
    reconciliation: Mapped[str | None] = mapped_column(String(30), default=None)
    discrepancy_ml: Mapped[Fraction | None] = mapped_column(default=None)
    likely_causes: Mapped[list[Any]] = mapped_column(default=list)
    next_refill_due: Mapped[datetime | None] = mapped_column(default=None)
    emergency_reason: Mapped[str] = mapped_column(Text, default="")  # completed without its check: why
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)  # who filled it
    cancelled_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    cancelled_at: Mapped[datetime | None] = mapped_column(default=None)
    cancel_reason: Mapped[str] = mapped_column(Text, default="")


class FollowUp(Base):
    __tablename__ = "follow_ups"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    at: Mapped[datetime]
    scores: Mapped[dict[str, Any]]
    complications: Mapped[list[Any]]
    flags: Mapped[list[Any]]  # what the rules raised, with reasons
    urgent: Mapped[bool] = mapped_column(Boolean)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    recorded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    resolution: Mapped[str] = mapped_column(Text, default="")  # what was done about its urgent flags


class Interrogation(Base):
    __tablename__ = "interrogations"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    at: Mapped[datetime]
    reservoir_ml: Mapped[Fraction | None] = mapped_column(default=None)
    alarms: Mapped[list[Any]]  # alarm names the pump reported
    eri: Mapped[bool] = mapped_column(Boolean, default=False)
    reported: Mapped[list[Any]] = mapped_column(default=list)  # [{name, concentration, daily_dose}] the pump shows
    recorded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


class Flag(Versioned, Base):
    """A concern raised by a use case (a suspected pocket fill, an unchecked refill, a pump that reports another
    program or reservoir than the record), open until a clinician resolves it. Follow-up flags stay on FollowUp."""

    __tablename__ = "flags"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    code: Mapped[str] = mapped_column(String(60))  # e.g. "refill.pocket-fill"
    urgent: Mapped[bool] = mapped_column(Boolean)
    message: Mapped[str] = mapped_column(Text)
    actions: Mapped[list[Any]] = mapped_column(default=list)  # what to do, in words
    citation: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    entity: Mapped[str] = mapped_column(String(80))  # what raised it, e.g. "refill/12"
    raised_at: Mapped[datetime]
    raised_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    resolution: Mapped[str] = mapped_column(Text, default="")


class PathwayOverride(Base):
    """A physician's override of a pathway gate (openidds.clinic.pathway): a trial after an evaluation that needs
    review, an implant without a successful trial. Written once, with the reason; shown on the dashboard."""

    __tablename__ = "pathway_overrides"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    step: Mapped[str] = mapped_column(String(20))  # trial, implant
    code: Mapped[str] = mapped_column(String(60))  # the gate's code, e.g. "gate.no-trial"
    gate: Mapped[str] = mapped_column(Text)  # the gate's reason, as shown when overridden
    reason: Mapped[str] = mapped_column(Text)
    entity: Mapped[str] = mapped_column(String(80))  # what it let through, e.g. "implant/3"
    by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime]


class IdempotencyKey(Base):
    """A POST's first result, kept by (user, key): a repeat answers it again instead of writing twice. The API's
    Idempotency-Key header and the web's one-time form tokens both land here."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 of method, path and body
    status_code: Mapped[int] = mapped_column(Integer, default=0)  # 0 while the first request runs
    response: Mapped[Any] = mapped_column(JSON, nullable=True, default=None)
    created_at: Mapped[datetime]


class RemoteRequest(Base):
    __tablename__ = "remote_requests"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    at: Mapped[datetime]
    accepted: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


class PatientStatus(Base):
    """What the twin projects for a patient, kept current on every write that changes it: the dashboard reads
    this one row per patient instead of running thousands of twins per request."""

    __tablename__ = "patient_status"
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), primary_key=True)
    reservoir_ml: Mapped[Fraction | None] = mapped_column(default=None)
    next_refill_due: Mapped[datetime | None] = mapped_column(default=None, index=True)
    refill_reason: Mapped[str] = mapped_column(Text, default="")
    active_alarms: Mapped[list[Any]] = mapped_column(default=list)
    projected_alarms: Mapped[list[Any]] = mapped_column(default=list)  # [{alarm, at}]
    replacement_due: Mapped[datetime | None] = mapped_column(
        default=None
    )  # plan the replacement by (clinic.replacement)
    eri_at: Mapped[datetime | None] = mapped_column(
        default=None
    )  # elective replacement indicator: reached or projected
    end_of_service: Mapped[datetime | None] = mapped_column(default=None)  # the pump stops
    urgent_flags: Mapped[int] = mapped_column(Integer, default=0)
    withdrawal_risk: Mapped[bool] = mapped_column(Boolean, default=False)  # baclofen in the pump
    # Open flags in words ([{code, urgent, message}]: follow-up flags and use-case flags alike)
    flags: Mapped[list[Any]] = mapped_column(default=list)
    # A program confirmed and verified for another solution, waiting for the refill that brings it, in words
    pending_program: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime]
    # The next instant at which what this row says goes stale without a write (a projected alarm, the end of the
    # reservoir, stability, ERI, a latest safe day, a booked visit's end): the worker re-evaluates the patient then.
    recheck_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    # The refill window (clinic.window): book between these two clinic days; its reasons in words
    refill_earliest: Mapped[date | None] = mapped_column(Date, default=None)
    refill_latest: Mapped[date | None] = mapped_column(Date, default=None, index=True)
    refill_window: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    booked_refill_at: Mapped[datetime | None] = mapped_column(default=None)  # the next booked refill visit


class DashboardVersion(Base):
    """One row (id 1): a counter that database triggers bump on every insert, update or delete in patients and
    patient_status, in the writer's own transaction (migration 0003). The dashboard keeps what it read per
    version, so a write shows on the next read after its commit. Audit appends bump it too, before they lock the
    audit head: every writer takes this row first, so two writers never wait on each other in opposite orders."""

    __tablename__ = "dashboard_version"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)


class AuditRecord(Base):
    """Append-only; see openidds.clinic.audit for the chain. `at` is integer µs UTC, as the chain hashes it."""

    __tablename__ = "audit"
    sequence: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[int] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(60))
    entity: Mapped[str] = mapped_column(String(80), index=True)  # e.g. "patient/12", "program/40"
    before: Mapped[Any] = mapped_column(JSON, nullable=True)
    after: Mapped[Any] = mapped_column(JSON, nullable=True)
    previous_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """One row: the last sequence number and hash. Writers lock it, so appends are strictly one after another."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sequence: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class ClinicSettingsVersion(Base):
    """The clinic's settings as an administrator saved them (openidds.clinic.settings.ClinicSettings as JSON): a new
    row per save, never updated; the newest is in force (none: the shipped data file)."""

    __tablename__ = "clinic_settings_versions"
    id: Mapped[int] = mapped_column(primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text, default="")
    saved_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    saved_at: Mapped[datetime]


class PatientContact(Base):
    """How a patient is reached, and by whom they are looked after: the channel they chose for reminders (e-mail,
    SMS or none), the addresses, the language of the messages, and the responsible clinician."""

    __tablename__ = "patient_contacts"
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(10), default="none")  # email, sms, none
    email: Mapped[str | None] = mapped_column(String(200), default=None)
    phone: Mapped[str | None] = mapped_column(String(40), default=None)
    language: Mapped[str] = mapped_column(String(10), default="en")
    responsible_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    updated_at: Mapped[datetime]


class Appointment(Versioned, Base):
    """A booked visit (refill, follow-up, replacement surgery, MRI pre/post check) through booked → confirmed →
    attended (linked to the refill or follow-up recorded) or missed or cancelled (openidds.clinic.appointments)."""

    __tablename__ = "appointments"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    starts_at: Mapped[datetime] = mapped_column(index=True)
    minutes: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), index=True)
    nurse_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    skills: Mapped[list[Any]] = mapped_column(default=list)  # what the visit needs (compounded, ziconotide, home-visit)
    note: Mapped[str] = mapped_column(Text, default="")
    window_override: Mapped[str] = mapped_column(Text, default="")  # booked outside the refill window: why
    refill_id: Mapped[int | None] = mapped_column(ForeignKey("refills.id"), default=None)
    follow_up_id: Mapped[int | None] = mapped_column(ForeignKey("follow_ups.id"), default=None)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"), default=None)  # booked from this proposal
    status_reason: Mapped[str] = mapped_column(Text, default="")  # why cancelled or missed
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Plan(Base):
    """A planner run: its proposal (bookings, the greedy baseline beside it, shortfalls) as JSON, and which of its
    bookings the care team accepted."""

    __tablename__ = "plans"
    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime]
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    first_day: Mapped[date] = mapped_column(Date)
    weeks: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    accepted: Mapped[list[Any]] = mapped_column(default=list)  # keys of the proposed bookings booked from it


class OutboxMessage(Base):
    """A notification, written in the same transaction as the event that causes it and delivered by the worker
    (e-mail or an SMS gateway's webhook) with retries; `dedupe_key` is unique, so one event never makes two."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    event: Mapped[str] = mapped_column(String(60))  # e.g. "refill-reminder-7d", "missed-visit", "urgent-flag"
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), default=None, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    channel: Mapped[str] = mapped_column(String(10))  # email, sms
    address: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(10), default="en")
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), index=True)  # pending, sending, sent, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(index=True)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str] = mapped_column(Text, default="")
    receipt: Mapped[str] = mapped_column(Text, default="")  # what the server or gateway answered


class CalendarFeed(Base):
    """A secret iCalendar feed URL (for the clinic, one clinician or one patient): only the token's SHA-256 is
    stored; revoking it ends the URL."""

    __tablename__ = "calendar_feeds"
    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(12))  # clinic, clinician, patient
    subject_id: Mapped[int | None] = mapped_column(Integer, default=None)  # the user or patient id
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
