"""What the API answers: one model per kind of answer, so the OpenAPI schema says what a client gets.

The JSON is what the use cases' records give (`routers.common.row`, `refill_json`, `flag_json` …): exact numbers
as text (never floats), instants as ISO 8601 text in UTC (`2026-11-21T15:00:00+00:00`), dates as `YYYY-MM-DD`.
Instants stay text rather than `datetime` so the answer is the same text the record gives. Fields a record only
sometimes has are optional and absent when it does not (the routes answer with `response_model_exclude_unset`).
Errors are `openidds.api.errors.ErrorOut`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from openidds.clinic.dashboard import RefillStatus, Urgency
from openidds.clinic.evaluation import Eligibility, ItemStatus
from openidds.clinic.trial import TrialStatus
from openidds.evidence import Severity

# Text that reads back exactly: a decimal of any length, no exponent (quantities.units.format_number).
Exact = Annotated[
    str,
    Field(
        json_schema_extra={"pattern": r"^-?[0-9]+(\.[0-9]+)?$"},
        examples=["12.5"],
        description="an exact decimal, as text",
    ),
]
Instant = Annotated[str, Field(json_schema_extra={"format": "date-time"}, examples=["2026-11-21T15:00:00+00:00"])]
Day = Annotated[str, Field(json_schema_extra={"format": "date"}, examples=["1961-04-02"])]
UserId = Annotated[int, Field(description="a user's id")]
Priority = Literal["critical", "non-critical"]


class Out(BaseModel):
    pass


# --- pieces ---------------------------------------------------------------------------------------------------------
class CitationOut(Out):
    """Where a rule comes from; `unconfirmed` when no retrieved source confirms it ([U])."""

    source: str
    source_url: str
    basis: str
    unconfirmed: bool
    note: str | None = Field(default=None, description="present when the source needs a word of explanation")


class DrugOut(Out):
    name: str
    concentration: str = Field(examples=["10 mg/mL"])


class ActiveAlarmOut(Out):
    alarm: str
    priority: Priority
    raised_at: Instant


class ProjectedAlarmOut(Out):
    alarm: str
    priority: Priority
    at: Instant
    silent: bool | None = Field(default=None, description="present (true) when the pump has no alarm: nobody is warned")


class OpenFlagOut(Out):
    """An open flag, in words (a use case's flag or a follow-up's urgent one)."""

    code: str
    urgent: bool
    message: str
    link: str = Field(default="", description="the record it is about, relative to the patient (`flags/3`)")


class WindowReasonOut(Out):
    code: str
    message: str
    citation: CitationOut | None = None


class RefillWindowOut(Out):
    """Book the next refill between `earliest` (useful) and `latest` (safe), the clinic's days (clinic.window)."""

    earliest: Day
    latest: Day
    overdue: bool = Field(description="the latest safe day has passed: book now")
    limit: str = Field(description="what sets the latest safe day")
    words: str
    reasons: list[WindowReasonOut]
    missed_on: Day | None = Field(default=None, description="the last refill visit was missed that day (none since)")


class StatusOut(Out):
    """What the twin projects for a patient, as the dashboard row keeps it."""

    next_refill_due: Instant | None
    refill_reason: str
    reservoir_ml: Exact | None
    active_alarms: list[ActiveAlarmOut]
    projected_alarms: list[ProjectedAlarmOut]
    replacement_due: Instant | None = Field(description="plan the pump's replacement by")
    eri_at: Instant | None = Field(description="elective replacement indicator: reached or projected")
    end_of_service: Instant | None
    urgent_flags: int
    withdrawal_risk: bool
    flags: list[OpenFlagOut]
    pending_program: str = Field(description="a program awaiting its refill, in words (empty: none)")
    refill_earliest: Day | None = Field(default=None, description="book the next refill from this clinic day")
    refill_latest: Day | None = Field(default=None, description="... and at the latest on this one (latest safe day)")
    refill_window: RefillWindowOut | None = Field(default=None, description="the refill window with its reasons")
    refill_window_words: str | None = Field(default=None, description="dashboard rows: the refill window in words")
    booked_refill_at: Instant | None = Field(default=None, description="the next booked refill visit")
    recheck_at: Instant | None = Field(default=None, description="when this status goes stale without a write")


# --- patients -------------------------------------------------------------------------------------------------------
class PatientOut(Out):
    """A patient's chart. In a search (`GET /patients` with a parameter) each row also has `drugs`, `pump_model`,
    `next_refill_due` and `refill_reason`; the plain list and the other routes leave them out."""

    id: int
    mrn: str
    family_name: str
    given_name: str
    birth_date: Day
    sex: str
    timezone: str
    care_area: str
    indications: list[str]
    oral_mme_per_day: str | None
    allergies: list[str]
    anticoagulants: list[str]
    psychosis_history: bool | None
    life_expectancy_months: int | None
    stage: str
    version: int = Field(description="send it back with a change: a concurrent change answers 409")
    drugs: list[DrugOut] | None = Field(default=None, description="search rows: the drugs in the pump now")
    pump_model: str | None = Field(default=None, description="search rows: the pump implanted now")
    next_refill_due: Instant | None = Field(default=None, description="search rows: the next refill due")
    refill_reason: str | None = Field(default=None, description="search rows: what sets the refill due")


class PumpOut(StatusOut):
    """The pump now, from the twin. Without a programmed pump: `programmed` false, `patient_id` and the status; the
    pump's own fields are then absent."""

    programmed: bool
    patient_id: int | None = Field(default=None, description="only when no pump is programmed")
    updated_at: Instant = Field(description="when the status was last worked out")
    mode: str | None = None
    solution: list[DrugOut] | None = None
    program_version: int | None = Field(default=None, description="the running program's number")
    bridge_ends_at: Instant | None = Field(default=None, description="a bridge bolus running until then")
    expected_residual_ml: Exact | None = None
    pocket: dict[str, Exact] | None = Field(default=None, description="drug → amount suspected outside the reservoir")


# --- the pathway's records ------------------------------------------------------------------------------------------
class ChecklistItemOut(Out):
    item: str
    question: str
    answer: Any = Field(description="the answer read (a yes/no, a choice, a list or null for unknown)")
    status: ItemStatus
    message: str
    citation: CitationOut | None = None


class EvaluationOut(Out):
    id: int
    patient_id: int
    answers: dict[str, Any] = Field(description="the checklist as entered (POST …/evaluations' fields)")
    outcome: Eligibility
    reasons: list[ChecklistItemOut] = Field(description="every checklist item with its status and reason")
    recorded_by: UserId
    recorded_at: Instant


class TrialOut(Out):
    id: int
    patient_id: int
    details: dict[str, Any] = Field(description="the trial as entered (POST …/trials' fields) and its `result`")
    outcome: TrialStatus
    rule: str = Field(description="the rule that decided the outcome, in words")
    recorded_by: UserId
    recorded_at: Instant


class ImplantOut(Out):
    id: int
    patient_id: int
    kind: Literal["implant", "replacement", "revision"]
    pump_model: str
    pump_serial: str
    catheter_model: str
    catheter_length_cm: Exact
    tip_level: str
    implanted_at: Instant
    surgeon: str
    notes: str
    recorded_by: UserId
    recorded_at: Instant


class AdverseEventOut(Out):
    item: str
    grade: int


class FollowUpFlagOut(Out):
    code: str
    urgent: bool
    message: str
    citation: CitationOut | None = None
    actions: list[str] | None = Field(default=None, description="what to do, in words (present when there is)")


class FollowUpOut(Out):
    id: int
    patient_id: int
    at: Instant
    scores: dict[str, Any] = Field(description="each scale entered (pain, oswestry, phq9, ashworth, penn …) scored")
    complications: list[AdverseEventOut]
    flags: list[FollowUpFlagOut]
    urgent: bool
    resolved_at: Instant | None
    recorded_by: UserId
    resolved_by: UserId | None
    resolution: str = Field(description="what was done about its urgent flags")


class ReportedDrugOut(Out):
    name: str
    concentration: str
    daily_dose: str | None


class InterrogationOut(Out):
    id: int
    patient_id: int
    at: Instant
    reservoir_ml: Exact | None
    alarms: list[str]
    eri: bool
    reported: list[ReportedDrugOut]
    recorded_by: UserId


class RemoteRequestOut(Out):
    id: int
    patient_id: int
    at: Instant
    accepted: bool
    reason: str = Field(description="why the twin gave or refused it")
    requested_by: UserId


# One record of any kind (GET /patients/{id}/{kind}/{record_id}): each kind has fields no other has.
RecordOut = EvaluationOut | TrialOut | ImplantOut | FollowUpOut | InterrogationOut | RemoteRequestOut


class FlagOut(Out):
    id: int
    code: str
    urgent: bool
    message: str
    actions: list[str]
    citation: CitationOut | None
    entity: str = Field(description="what raised it, e.g. `refill/12`")
    raised_at: Instant
    raised_by: UserId
    resolved_at: Instant | None
    resolved_by: UserId | None
    resolution: str


# --- programs -------------------------------------------------------------------------------------------------------
class FindingOut(Out):
    severity: Severity
    code: str
    message: str
    limit: dict[str, Any] | None = Field(default=None, description="the limit it was checked against, cited")


class DiffRowOut(Out):
    setting: str
    old: str
    new: str
    changed: bool


class ProgramOut(Out):
    """A program version: `document` is the program file; `bridge_plan` (only when read, for a program awaiting its
    verification or refill) says the bridge it will run from what the pump holds now."""

    id: int
    patient_id: int
    number: int
    status: str = Field(
        description="proposed, confirmed, active, superseded, refused, cancelled, awaiting-verification or "
        "awaiting-refill"
    )
    findings: list[FindingOut]
    overrides: dict[str, str] = Field(description="soft finding code → the prescriber's reason")
    diff: list[DiffRowOut] = Field(description="every setting, old beside new")
    needs_second: bool = Field(description="a new drug or concentration: a second person verifies it")
    bridge: bool
    bridge_off_reason: str
    based_on: int | None = Field(description="the running version's number when it was proposed")
    effective_at: Instant | None
    applied_by: int | None = Field(description="the refill that started it")
    proposed_by: UserId
    proposed_at: Instant
    confirmed_by: UserId | None
    confirmed_at: Instant | None
    verified_by: UserId | None
    verified_at: Instant | None
    closed_reason: str
    cancelled_by: UserId | None
    cancelled_at: Instant | None
    version: int
    document: str
    bridge_plan: str | None = None


class ImplantRecordedOut(Out):
    implant: ImplantOut
    program: ProgramOut | None = Field(description="the first program, running now; null for a catheter revision")


# --- refills --------------------------------------------------------------------------------------------------------
class RefillOut(Out):
    id: int
    status: str = Field(description="prepared, checked, completed or cancelled")
    solution: list[DrugOut]
    solution_text: str
    drug_lot: str
    expires_at: Instant | None
    volume_ml: Exact | None
    compounded: bool
    compounded_reasons: list[str]
    program_version: int | None = Field(description="the waiting program it brings")
    prepared_by: UserId
    prepared_at: Instant | None
    checked_by: UserId | None
    checked_at: Instant | None
    at: Instant | None = Field(description="the fill instant (completed)")
    expected_ml: Exact | None
    expected_band_ml: list[Exact] | None = Field(description="the twin's band, low and high")
    withdrawn_ml: Exact | None
    filled_ml: Exact | None
    pocket_ml: Exact | None
    reconciliation: str | None
    discrepancy_ml: Exact | None
    likely_causes: list[str]
    next_refill_due: Instant | None
    emergency_reason: str
    recorded_by: UserId | None
    cancelled_by: UserId | None
    cancel_reason: str


# --- clinic-wide ----------------------------------------------------------------------------------------------------
class DashboardRowOut(StatusOut):
    patient_id: int
    mrn: str
    name: str = Field(description="family, given")
    stage: str
    urgency: Urgency
    refill: RefillStatus
    concerns: list[str] = Field(description="every concern in words, most urgent first")


class QueueItemOut(Out):
    kind: Literal["check", "confirm", "verify", "awaiting-refill", "flag", "discrepancy", "override", "refill-overdue"]
    patient_id: int
    patient: str
    mrn: str
    what: str = Field(description="what waits, in words")
    since: datetime = Field(description="when it began waiting (UTC)")
    waited: str = Field(description="how long it has waited, in words")
    link: str = Field(description="the web page to act on it")
    urgent: bool


class WorkQueuesOut(Out):
    """What waits for the user asking: only what they may do (GET /api/v1/queues)."""

    at: datetime
    awaiting_my_check: list[QueueItemOut]
    awaiting_refill: list[QueueItemOut]
    flags: list[QueueItemOut]
    discrepancies: list[QueueItemOut]
    overrides: list[QueueItemOut]
    refills_overdue: list[QueueItemOut]


class DashboardOut(Out):
    """Every patient, most urgent first (GET /api/v1/dashboard)."""

    at: Instant
    patients: list[DashboardRowOut]
    total: int = Field(description="every patient, whatever `limit` says")
