"""What the API takes in: each field named as the clinician knows it; bad input is a 422 naming the field.

The web app reads its forms through the same models, and both adapters turn them into what the use cases take
with the `to_…` methods here, so the two accept, refuse and record the same things.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from fractions import Fraction
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from openidds.clinic.evaluation import Candidate
from openidds.clinic.followup import AdverseEvent, FollowUpVisit
from openidds.clinic.trial import SideEffect, Trial, TrialDose
from openidds.service.pathway import RecordEvaluation, RecordFollowUp, RecordImplant, RecordInterrogation, RecordTrial
from openidds.service.pathway import ReportedDrugIn as ReportedDrug
from openidds.service.programs import ProposeProgram
from openidds.service.refills import CompleteRefill, PrepareRefill
from openidds.validation import control_character, visible

# A record's id or number (in a path, a query or a body): what the database's integer columns hold (32 bits), so a
# longer number is a 422 naming it rather than a database error.
Id = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
# An exact, non-negative decimal such as "12.5" (mL, cm, mg/day): read as a Fraction. Short, so reading it is cheap.
DecimalText = Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)?$", max_length=40)]  # ASCII digits only


def _plain(value: str) -> str:
    bad = control_character(value)
    if bad is not None:
        raise ValueError(f"contains a control character (U+{ord(bad):04X}): type plain text")
    return value


NOT_AN_ENTRY = frozenset({"none", "nil", "no", "nka", "nkda", "n/a", "na", "-", "unknown"})


def _chart_entry(value: str) -> str:
    """One allergy or medicine on the chart: plain text, something visible, never a word for 'none' (an empty
    list says none recorded)."""
    text = visible(_plain(value))
    if not text:
        raise ValueError("an empty entry: leave it out")
    if text.casefold() in NOT_AN_ENTRY:
        raise ValueError(f"'{text}' is not an entry: leave the list empty when there is none")
    return text


ChartEntry = Annotated[str, AfterValidator(_chart_entry), Field(max_length=200)]
ChartList = Annotated[list[ChartEntry], Field(max_length=50)]


def _instant(value: datetime) -> datetime:
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is outside the years 1970 to 2199") from None
    if not 1970 <= utc.year <= 2199:
        raise ValueError("is outside the years 1970 to 2199")
    return value


# Free text in a record: no NUL or control character (PostgreSQL refuses NUL; none belongs in a record).
Text = Annotated[str, AfterValidator(_plain)]
# An instant with its UTC offset, inside the years every part of OpenIDDS handles.
Instant = Annotated[AwareDatetime, AfterValidator(_instant)]


def _exact(text: str | None) -> Fraction | None:
    return None if text is None else Fraction(text)


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Login(In):
    username: str = Field(min_length=1, max_length=80)
    password: str = Field(min_length=1, max_length=200)


class NewUser(In):
    username: str = Field(min_length=2, max_length=80, pattern=r"^[a-z0-9._-]+$")
    full_name: str = Field(min_length=1, max_length=200)
    role: Literal["admin", "physician", "nurse", "pharmacist", "patient"]
    password: str = Field(min_length=10, max_length=200)
    patient_id: Id | None = None  # for a patient's own login


class NewPatient(In):
    mrn: str = Field(min_length=1, max_length=40)
    family_name: str = Field(min_length=1, max_length=100)
    given_name: str = Field(min_length=1, max_length=100)
    birth_date: date
    sex: Literal["female", "male", "other", "unknown"]
    timezone: str = Field(default="America/Chicago", min_length=1, max_length=64)
    care_area: str
    indications: list[str] = Field(default_factory=list)
    oral_mme_per_day: DecimalText | None = None
    allergies: ChartList = Field(default_factory=list)
    anticoagulants: ChartList = Field(default_factory=list)
    psychosis_history: bool | None = None
    life_expectancy_months: int | None = Field(default=None, ge=0, le=1200)

    def to_data(self) -> dict[str, Any]:
        """The new patient as `pathway.create_patient` takes it."""
        return {**self.model_dump(), "oral_mme_per_day": _exact(self.oral_mme_per_day)}


class PatientChanges(In):
    version: int  # the version you read: a concurrent change answers 409
    family_name: str | None = Field(default=None, min_length=1, max_length=100)
    given_name: str | None = Field(default=None, min_length=1, max_length=100)
    indications: list[str] | None = None
    oral_mme_per_day: DecimalText | None = None
    allergies: ChartList | None = None
    anticoagulants: ChartList | None = None
    psychosis_history: bool | None = None
    life_expectancy_months: int | None = Field(default=None, ge=0, le=1200)


class EvaluationIn(In):
    indication: str
    planned_drugs: list[str] = Field(min_length=1)
    conservative_therapy_failed: bool | None = None
    further_surgery_indicated: bool | None = None
    psychological_evaluation: Literal["cleared", "not-cleared", "not-done"] | None = None
    active_infection: bool | None = None
    uncorrected_coagulopathy: bool | None = None
    on_anticoagulants: bool | None = None
    anticoagulation_plan: bool | None = None
    allergies: ChartList | None = None
    psychosis_history: bool | None = None
    active_substance_misuse: bool | None = None
    life_expectancy_3_months_or_more: bool | None = None
    realistic_expectations: bool | None = None
    committed_to_refills_and_follow_up: bool | None = None
    time_since_onset: str | None = None

    def to_candidate(self) -> Candidate:
        """The checklist as `evaluate_candidate` reads it (the answers themselves are `model_dump()`)."""
        fields = {**self.model_dump(), "planned_drugs": tuple(self.planned_drugs)}
        if self.allergies is not None:
            fields["allergies"] = tuple(self.allergies)
        return Candidate(**fields)

    def to_command(self) -> RecordEvaluation:
        return RecordEvaluation(self.to_candidate(), self.model_dump())


class SideEffectIn(In):
    name: str = Field(min_length=1)
    intolerable: bool


class TrialDoseIn(In):
    dose: str  # e.g. "50 mcg"
    observation_hours: str | int
    nrs: int | None = Field(default=None, ge=0, le=10)
    ashworth: Literal["0", "1", "1+", "2", "3", "4"] | None = None
    side_effects: list[SideEffectIn] = Field(default_factory=list)
    effect_hours: str | int | None = None


class TrialIn(In):
    method: Literal["single-shot-bolus", "repeated-bolus", "continuous-catheter", "baclofen-screening"]
    therapy: Literal["pain", "spasticity"]
    drug: str
    doses: list[TrialDoseIn] = Field(min_length=1)
    baseline_nrs: int | None = Field(default=None, ge=0, le=10)
    baseline_ashworth: Literal["0", "1", "1+", "2", "3", "4"] | None = None
    override_reason: Text = Field(
        default="",
        max_length=2000,
        description="a physician going ahead after an evaluation that needs review: why (recorded and audited)",
    )

    def to_trial(self) -> Trial:
        """The trial as `evaluate_trial` reads it (the details recorded are `model_dump()`)."""
        doses = tuple(
            TrialDose(
                dose=d.dose,
                observation_hours=d.observation_hours,
                nrs=d.nrs,
                ashworth=d.ashworth,
                side_effects=tuple(SideEffect(e.name, e.intolerable) for e in d.side_effects),
                effect_hours=d.effect_hours,
            )
            for d in self.doses
        )
        return Trial(self.method, self.therapy, self.drug, doses, self.baseline_nrs, self.baseline_ashworth)

    def to_command(self) -> RecordTrial:
        return RecordTrial(self.to_trial(), self.model_dump(exclude={"override_reason"}), self.override_reason)


class ImplantIn(In):
    kind: Literal["implant", "replacement", "revision"] = "implant"
    pump_model: str
    pump_serial: str = Field(min_length=1, max_length=60)
    catheter_model: str
    catheter_length_cm: DecimalText
    tip_level: str = Field(min_length=1, max_length=20)  # e.g. "T10"
    implanted_at: Instant
    surgeon: str = Field(min_length=1, max_length=200)
    notes: str = ""
    program: str | None = Field(
        default=None, description="the first program file (TOML), its fill at the implant; none for a revision"
    )
    override_reason: Text = Field(
        default="",
        max_length=2000,
        description="a physician implanting without a successful trial (omitted, or one that needs review): why",
    )

    def to_command(self) -> RecordImplant:
        """The implant as `pathway.record_implant` takes it, with its first program and the override."""
        return RecordImplant(
            kind=self.kind,
            pump_model=self.pump_model,
            pump_serial=self.pump_serial,
            catheter_model=self.catheter_model,
            catheter_length_cm=Fraction(self.catheter_length_cm),
            tip_level=self.tip_level,
            implanted_at=self.implanted_at,
            surgeon=self.surgeon,
            notes=self.notes,
            program=self.program,
            override_reason=self.override_reason,
        )


class ProgramIn(In):
    document: str = Field(min_length=1, max_length=100_000, description="the proposed program file (TOML)")
    bridge: bool | None = Field(
        default=None,
        description="for a new drug or concentration: run the old solution in pump and catheter out at the new dose "
        "first (the default); false needs bridge_off_reason",
    )
    bridge_off_reason: Text = Field(default="", max_length=2000)

    def to_command(self) -> ProposeProgram:
        return ProposeProgram(self.document, self.bridge, self.bridge_off_reason)


class ConfirmIn(In):
    overrides: dict[Annotated[str, Field(max_length=80)], Text] = Field(
        default_factory=dict, max_length=50, description="soft finding code → reason"
    )


class ReasonIn(In):
    reason: Text = Field(min_length=1, max_length=2000)


class ResolveIn(In):
    resolution: Text = Field(min_length=1, max_length=2000, description="what was done")


class DrugIn(In):
    name: Text = Field(min_length=1, max_length=60)
    concentration: Text = Field(min_length=1, max_length=60)


class PrepareIn(In):
    """Step 1 of a refill: the solution as labelled; a second person checks it (POST …/check) before the fill."""

    solution: list[DrugIn] = Field(min_length=1, max_length=8)
    drug_lot: Text = Field(min_length=1, max_length=60)
    expires_at: Instant = Field(description="the solution's expiry or beyond-use date")
    volume_ml: DecimalText = Field(description="the volume prepared to fill")
    program_version: Id | None = Field(
        default=None, description="the program waiting for this solution (found from the solution when left out)"
    )

    def to_command(self) -> PrepareRefill:
        return PrepareRefill(
            tuple((d.name, d.concentration) for d in self.solution),
            self.drug_lot,
            self.expires_at,
            Fraction(self.volume_ml),
            self.program_version,
        )


class CompleteIn(In):
    """Step 3 of a refill: withdrawn and filled volumes (and, unchecked, the emergency reason)."""

    withdrawn_ml: DecimalText
    filled_ml: DecimalText
    emergency_reason: Text = Field(default="", max_length=2000)
    pocket_fill_suspected: bool = False
    pocket_ml: DecimalText | None = Field(default=None, description="how much may have gone outside (default all)")

    def to_command(self) -> CompleteRefill:
        return CompleteRefill(
            Fraction(self.withdrawn_ml),
            Fraction(self.filled_ml),
            self.emergency_reason,
            self.pocket_fill_suspected,
            _exact(self.pocket_ml),
        )


class AdverseEventIn(In):
    item: str  # e.g. "nausea", "respiratory-depression", "catheter-tip-mass" (see the follow-up checklist)
    grade: int = Field(ge=0, le=5)


class FollowUpIn(In):
    nrs: int | None = Field(default=None, ge=0, le=10)
    baseline_nrs: int | None = Field(default=None, ge=0, le=10)
    oswestry: list[int | None] | None = Field(default=None, min_length=10, max_length=10)
    phq9: list[int] | None = Field(default=None, min_length=9, max_length=9)
    ashworth: Literal["0", "1", "1+", "2", "3", "4"] | None = None
    previous_ashworth: Literal["0", "1", "1+", "2", "3", "4"] | None = None
    penn_frequency: int | None = Field(default=None, ge=0, le=4)
    penn_severity: int | None = Field(default=None, ge=1, le=3)
    adverse_events: list[AdverseEventIn] = Field(default_factory=list)

    def to_visit(self) -> FollowUpVisit:
        """The visit as `assess_follow_up` reads it (what was entered is `model_dump()`)."""
        return FollowUpVisit(
            nrs=self.nrs,
            baseline_nrs=self.baseline_nrs,
            oswestry=None if self.oswestry is None else tuple(self.oswestry),
            phq9=None if self.phq9 is None else tuple(self.phq9),
            ashworth=self.ashworth,
            previous_ashworth=self.previous_ashworth,
            penn_frequency=self.penn_frequency,
            penn_severity=self.penn_severity,
            adverse_events=tuple(AdverseEvent(e.item, e.grade) for e in self.adverse_events),
        )

    def to_command(self) -> RecordFollowUp:
        return RecordFollowUp(self.to_visit(), self.model_dump())


AlarmName = Literal["low-reservoir", "eri", "empty-reservoir", "motor-stall", "end-of-service"]  # the twin's


class ReportedDrugIn(In):
    name: Text = Field(min_length=1, max_length=60)
    concentration: Text = Field(min_length=1, max_length=60, description="as the pump was told, e.g. '500 mcg/mL'")
    daily_dose: Text | None = Field(default=None, max_length=60, description="as the pump shows, e.g. '240 mcg/day'")


class InterrogationIn(In):
    reservoir_ml: DecimalText | None = None
    alarms: list[AlarmName] = Field(default_factory=list, max_length=20)
    eri: bool = False
    reported: list[ReportedDrugIn] = Field(
        default_factory=list, max_length=8, description="the drugs the pump holds by its program, if read"
    )

    def to_command(self) -> RecordInterrogation:
        """The interrogation as `pathway.record_interrogation` takes it."""
        return RecordInterrogation(
            _exact(self.reservoir_ml),
            tuple(self.alarms),
            self.eri,
            tuple(ReportedDrug(d.name, d.concentration, d.daily_dose) for d in self.reported),
        )


# --- answers ------------------------------------------------------------------------------------------------------
class QueueItemOut(BaseModel):
    kind: Literal["check", "confirm", "verify", "awaiting-refill", "flag", "discrepancy", "override", "refill-overdue"]
    patient_id: int
    patient: str
    mrn: str
    what: str = Field(description="what waits, in words")
    since: datetime = Field(description="when it began waiting (UTC)")
    waited: str = Field(description="how long it has waited, in words")
    link: str = Field(description="the web page to act on it")
    urgent: bool


class WorkQueuesOut(BaseModel):
    """What waits for the user asking: only what they may do (GET /api/v1/queues)."""

    at: datetime
    awaiting_my_check: list[QueueItemOut]
    awaiting_refill: list[QueueItemOut]
    flags: list[QueueItemOut]
    discrepancies: list[QueueItemOut]
    overrides: list[QueueItemOut]
    refills_overdue: list[QueueItemOut]
