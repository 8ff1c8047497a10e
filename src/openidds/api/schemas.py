"""What the API takes in: each field named as the clinician knows it; bad input is a 422 naming the field.

The web app reads its forms through the same models, and both adapters turn them into what the use cases take
with the `to_…` methods here, so the two accept, refuse and record the same things.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import date, datetime
from fractions import Fraction
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
)

from openidds.clinic.evaluation import Candidate
from openidds.clinic.followup import AdverseEvent, FollowUpVisit
from openidds.clinic.trial import SideEffect, Trial, TrialDose
from openidds.service import pathway
from openidds.service.pathway import RecordEvaluation, RecordFollowUp, RecordImplant, RecordInterrogation, RecordTrial
from openidds.service.pathway import ReportedDrugIn as ReportedDrug
from openidds.service.programs import ProposeProgram
from openidds.service.refills import CompleteRefill, PrepareRefill
from openidds.validation import (
    canonical_mrn,
    catheter_length_problem,
    instant_problem,
    normal_text,
    text_problem,
    timezone_problem,
)

# A record's id or number (in a path, a query or a body): what the database's integer columns hold (32 bits), so a
# longer number is a 422 naming it rather than a database error. Path and query ids arrive as text: `Id` reads them;
# in a body a number is a JSON number (`RecordId`, strict: true is no id).
Id = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
RecordId = Annotated[StrictInt, Field(ge=-(2**31), le=2**31 - 1)]
# An exact, non-negative decimal such as "12.5" (mL, cm, mg/day): read as a Fraction. Short, so reading it is cheap.
DecimalText = Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)?$", max_length=40)]  # ASCII digits only


def _most(bound: int, what: str) -> Callable[[str], str]:
    def check(text: str) -> str:
        if Fraction(text) > bound:
            raise ValueError(f"at most {bound} {what}, got {text}")
        return text

    return check


# A volume read off a pump or typed at a refill: no implanted reservoir holds a litre (the pump's own capacity is
# checked by the use case).
VolumeText = Annotated[DecimalText, AfterValidator(_most(1000, "mL"))]


def _catheter_cm(text: str) -> str:
    problem = catheter_length_problem(Fraction(text))
    if problem is not None:
        raise ValueError(problem)
    return text


CatheterCm = Annotated[DecimalText, AfterValidator(_catheter_cm)]
# An oral morphine-equivalent dose: a typo bound, not a clinical one (the highest doses reported are a few thousand
# mg/day; 100,000 is beyond any patient, and "9" * 40 was stored).
MmeText = Annotated[DecimalText, AfterValidator(_most(100_000, "mg/day"))]


def _whole_as_text(value: object) -> object:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _ascii_digits(text: str) -> str:
    if any(c.isdecimal() and not c.isascii() for c in text):
        raise ValueError("write the number in the digits 0-9")
    return text


# Hours as a JSON number (6) or text ("1.5"): one type (a union would name its members in the field's path); what
# the text says is the trial's to judge (clinic/trial.py, in words).
Hours = Annotated[
    str, Field(min_length=1, max_length=20), BeforeValidator(_whole_as_text), AfterValidator(_ascii_digits)
]


# --- text: every str of every input model is one of these (tests/test_crafted_input.py walks them) ----------------
def _line(value: str) -> str:
    return normal_text(value)


def _lines(value: str) -> str:
    return normal_text(value, multiline=True)


def _required_line(value: str) -> str:
    text = normal_text(value)
    if not text:
        raise ValueError("is blank: type it")
    return text


def _document(value: str) -> str:
    """A program file as typed: NFC, no control character but its line ends and tabs (what it means is the
    parser's business, which bounds its size and nesting)."""
    text = unicodedata.normalize("NFC", value.replace("\r\n", "\n"))
    problem = text_problem(text, multiline=True)
    if problem is not None:
        raise ValueError(problem)
    return text


def _mrn(value: str) -> str:
    found = canonical_mrn(value)
    if found.value is None:
        raise ValueError(found.reason)
    return found.value


def _zone(value: str) -> str:
    problem = timezone_problem(value.strip())
    if problem is not None:
        raise ValueError(problem)
    return value.strip()


# Free text in a record (a reason, a resolution, notes): NFC, lines and tabs kept, no other control character,
# zero-width or bidirectional character (PostgreSQL refuses NUL; none belongs in a record), trimmed.
Text = Annotated[str, Field(max_length=2000), AfterValidator(_lines)]
# A name as a person writes it (a family name, a surgeon, a side effect): one line, something visible.
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_required_line)]
# A key or short value from a catalog or a label (a drug, a pump model, a lot, "50 mcg"): one line.
Code = Annotated[str, Field(min_length=1, max_length=80), AfterValidator(_required_line)]
# The same, as the record's columns hold them: a person's name (100), a label or lot (60), a level ("T10": 20).
PersonName = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_required_line)]
Label = Annotated[str, Field(min_length=1, max_length=60), AfterValidator(_required_line)]
Level = Annotated[str, Field(min_length=1, max_length=20), AfterValidator(_required_line)]
# Notes: free text, longer.
Note = Annotated[str, Field(max_length=4000), AfterValidator(_lines)]
# A medical record number in its canonical form (validation.canonical_mrn): what is stored and compared.
Mrn = Annotated[str, Field(min_length=1, max_length=80), AfterValidator(_mrn)]
# A time zone of the tz database.
Zone = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_zone)]
# A program file (TOML) as typed.
Document = Annotated[str, Field(min_length=1, max_length=100_000), AfterValidator(_document)]
# A password: compared as typed (never normalised: a hash of other bytes would not match), bounded.
Password = Annotated[str, Field(min_length=1, max_length=200)]
# A password being set (the rest of its rules: clinic.accounts).
NewPassword = Annotated[str, Field(min_length=10, max_length=200)]
# A username: lower-case letters, digits, '.', '_' and '-'.
Username = Annotated[str, Field(min_length=2, max_length=80, pattern=r"^[a-z0-9._-]+$")]

NOT_AN_ENTRY = frozenset({"none", "nil", "no", "nka", "nkda", "n/a", "na", "-", "unknown"})


def _chart_entry(value: str) -> str:
    """One allergy or medicine on the chart: plain text, something visible, never a word for 'none' (an empty
    list says none recorded)."""
    text = normal_text(value)
    if not text:
        raise ValueError("an empty entry: leave it out")
    if text.casefold() in NOT_AN_ENTRY:
        raise ValueError(f"'{text}' is not an entry: leave the list empty when there is none")
    return text


ChartEntry = Annotated[str, Field(max_length=200), AfterValidator(_chart_entry)]
ChartList = Annotated[list[ChartEntry], Field(max_length=50)]


def _instant(value: datetime) -> datetime:
    problem = instant_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


# ISO 8601 as JSON writes it: a date, 'T', hours and minutes (seconds and a fraction optional), and the offset.
_ISO_INSTANT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})"
)
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _instant_text(value: object) -> object:
    """Text only (pydantic read 1700000000, or "1700000000", as seconds since 1970); a datetime is the web's own."""
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_INSTANT.fullmatch(value)):
        return value
    raise ValueError("expected a date and time with its offset, such as '2026-11-21T08:00:00-06:00'")


def _day_text(value: object) -> object:
    """Text only, YYYY-MM-DD (pydantic read 0 as 1970-01-01, "19600203" as seconds since 1970, and a midnight
    datetime as its date)."""
    if (isinstance(value, date) and not isinstance(value, datetime)) or (
        isinstance(value, str) and _ISO_DAY.fullmatch(value)
    ):
        return value
    raise ValueError("expected a date written YYYY-MM-DD, such as '1960-02-03'")


# An instant with its UTC offset, as ISO 8601 text, inside the years every part of OpenIDDS handles.
Instant = Annotated[AwareDatetime, BeforeValidator(_instant_text), AfterValidator(_instant)]
# A calendar day (a birth date), as YYYY-MM-DD text.
Day = Annotated[date, BeforeValidator(_day_text)]

_WHOLE_TEXT = re.compile(r"-?[0-9]{1,18}")


def _whole(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("expected a whole number, not true or false")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _WHOLE_TEXT.fullmatch(value):
        return int(value)
    if value == "":
        raise ValueError("is blank: give a whole number")
    raise ValueError("expected a whole number in the digits 0-9, such as 40 (not 40.0 or 1e2)")


# A whole number in a body: a JSON integer, or text of ASCII digits (the web's forms send text). true is no score
# (JSON's true was read as 1), and 40.0 or 1e2 are no whole numbers (pydantic read them as 40 and 100).
Count = Annotated[int, BeforeValidator(_whole)]
# Yes or no in a body: true or false only (1, "yes" and "on" were read as yes). The web's forms turn their radio
# buttons and boxes into these before validation (web/forms.py tri, Fields.checked).
YesNo = StrictBool


def _exact(text: str | None) -> Fraction | None:
    return None if text is None else Fraction(text)


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Login(In):
    username: Code
    password: Password


class NewUser(In):
    username: Username
    full_name: Name
    role: Literal["admin", "physician", "nurse", "pharmacist", "patient"]
    password: NewPassword
    patient_id: RecordId | None = None  # for a patient's own login


Sex = Literal["female", "male", "other", "unknown"]
Indications = Annotated[list[Code], Field(max_length=20)]


class NewPatient(In):
    mrn: Mrn
    family_name: PersonName
    given_name: PersonName
    birth_date: Day = Field(description="YYYY-MM-DD: not after today, not more than 130 years ago")
    sex: Sex
    timezone: Zone = "America/Chicago"
    care_area: Code
    indications: Indications = Field(default_factory=list)
    oral_mme_per_day: MmeText | None = None
    allergies: ChartList = Field(default_factory=list)
    anticoagulants: ChartList = Field(default_factory=list)
    psychosis_history: YesNo | None = None
    life_expectancy_months: Count | None = Field(default=None, ge=0, le=1200)

    def to_command(self) -> pathway.NewPatient:
        """The new patient as `pathway.create_patient` takes it."""
        return pathway.NewPatient(**_patient_values(self))


def _patient_values(model: NewPatient | PatientChanges) -> dict[str, Any]:
    """A patient's fields as the commands hold them: lists as tuples, the oral MME exact (no version)."""
    values = {name: getattr(model, name) for name in type(model).model_fields if name != "version"}
    lists = {name: tuple(v) for name, v in values.items() if isinstance(v, list)}
    return {**values, **lists, "oral_mme_per_day": _exact(model.oral_mme_per_day)}


class PatientChanges(In):
    """A PATCH: only the fields given change, and the patient they make is checked as a new one is (POST)."""

    version: RecordId  # the version you read: a concurrent change answers 409
    family_name: PersonName | None = None
    given_name: PersonName | None = None
    birth_date: Day | None = None
    sex: Sex | None = None
    timezone: Zone | None = None
    care_area: Code | None = None
    indications: Indications | None = None
    oral_mme_per_day: MmeText | None = None
    allergies: ChartList | None = None
    anticoagulants: ChartList | None = None
    psychosis_history: YesNo | None = None
    life_expectancy_months: Count | None = Field(default=None, ge=0, le=1200)

    def to_command(self) -> pathway.PatientChange:
        """The change as `pathway.update_patient` takes it: `given` names the fields sent."""
        given = frozenset(self.model_fields_set - {"version"})
        return pathway.PatientChange(version=self.version, given=given, **_patient_values(self))


class EvaluationIn(In):
    indication: Code
    planned_drugs: list[Code] = Field(min_length=1, max_length=12)
    conservative_therapy_failed: YesNo | None = None
    further_surgery_indicated: YesNo | None = None
    psychological_evaluation: Literal["cleared", "not-cleared", "not-done"] | None = None
    active_infection: YesNo | None = None
    uncorrected_coagulopathy: YesNo | None = None
    on_anticoagulants: YesNo | None = None
    anticoagulation_plan: YesNo | None = None
    allergies: ChartList | None = None
    psychosis_history: YesNo | None = None
    active_substance_misuse: YesNo | None = None
    life_expectancy_3_months_or_more: YesNo | None = None
    realistic_expectations: YesNo | None = None
    committed_to_refills_and_follow_up: YesNo | None = None
    time_since_onset: Code | None = None

    def to_candidate(self) -> Candidate:
        """The checklist as `evaluate_candidate` reads it (the answers themselves are `model_dump()`)."""
        fields = {**self.model_dump(), "planned_drugs": tuple(self.planned_drugs)}
        if self.allergies is not None:
            fields["allergies"] = tuple(self.allergies)
        return Candidate(**fields)

    def to_command(self) -> RecordEvaluation:
        return RecordEvaluation(self.to_candidate(), self.model_dump())


class SideEffectIn(In):
    name: Name
    intolerable: YesNo


class TrialDoseIn(In):
    dose: Code  # e.g. "50 mcg"
    observation_hours: Hours
    nrs: Count | None = Field(default=None, ge=0, le=10)
    ashworth: Literal["0", "1", "1+", "2", "3", "4"] | None = None
    side_effects: list[SideEffectIn] = Field(default_factory=list, max_length=20)
    effect_hours: Hours | None = None


class TrialIn(In):
    method: Literal["single-shot-bolus", "repeated-bolus", "continuous-catheter", "baclofen-screening"]
    therapy: Literal["pain", "spasticity"]
    drug: Code
    doses: list[TrialDoseIn] = Field(min_length=1, max_length=20)
    baseline_nrs: Count | None = Field(default=None, ge=0, le=10)
    baseline_ashworth: Literal["0", "1", "1+", "2", "3", "4"] | None = None
    override_reason: Text = Field(
        default="",
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
    pump_model: Code
    pump_serial: Label
    catheter_model: Code
    catheter_length_cm: CatheterCm
    tip_level: Level  # e.g. "T10"
    implanted_at: Instant
    surgeon: Name
    notes: Note = ""
    program: Document | None = Field(
        default=None, description="the first program file (TOML), its fill at the implant; none for a revision"
    )
    override_reason: Text = Field(
        default="",
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
    document: Document = Field(description="the proposed program file (TOML)")
    bridge: YesNo | None = Field(
        default=None,
        description="for a new drug or concentration: run the old solution in pump and catheter out at the new dose "
        "first (the default); false needs bridge_off_reason",
    )
    bridge_off_reason: Text = ""

    def to_command(self) -> ProposeProgram:
        return ProposeProgram(self.document, self.bridge, self.bridge_off_reason)


class ConfirmIn(In):
    overrides: dict[Code, Text] = Field(default_factory=dict, max_length=50, description="soft finding code → reason")


class ReasonIn(In):
    reason: Text = Field(min_length=1)


class ResolveIn(In):
    resolution: Text = Field(min_length=1, description="what was done")


class DrugIn(In):
    name: Label
    concentration: Label


class PrepareIn(In):
    """Step 1 of a refill: the solution as labelled; a second person checks it (POST …/check) before the fill."""

    solution: list[DrugIn] = Field(min_length=1, max_length=8)
    drug_lot: Label
    expires_at: Instant = Field(description="the solution's expiry or beyond-use date")
    volume_ml: VolumeText = Field(description="the volume prepared to fill")
    program_version: RecordId | None = Field(
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

    withdrawn_ml: VolumeText
    filled_ml: VolumeText
    emergency_reason: Text = ""
    pocket_fill_suspected: YesNo = False
    pocket_ml: VolumeText | None = Field(default=None, description="how much may have gone outside (default all)")

    def to_command(self) -> CompleteRefill:
        return CompleteRefill(
            Fraction(self.withdrawn_ml),
            Fraction(self.filled_ml),
            self.emergency_reason,
            self.pocket_fill_suspected,
            _exact(self.pocket_ml),
        )


class AdverseEventIn(In):
    item: Code  # e.g. "nausea", "respiratory-depression", "catheter-tip-mass" (see the follow-up checklist)
    grade: Count = Field(ge=0, le=5)


OswestryItem = Annotated[Count, Field(ge=0, le=5)]
Phq9Item = Annotated[Count, Field(ge=0, le=3)]


class FollowUpIn(In):
    nrs: Count | None = Field(default=None, ge=0, le=10)
    baseline_nrs: Count | None = Field(default=None, ge=0, le=10)
    # Each item's own scale (Oswestry 0-5, PHQ-9 0-3): a number beyond it is a typo, and an unbounded one (2**70)
    # cannot even be fingerprinted for the Idempotency-Key.
    oswestry: list[OswestryItem | None] | None = Field(default=None, min_length=10, max_length=10)
    phq9: list[Phq9Item] | None = Field(default=None, min_length=9, max_length=9)
    ashworth: Literal["0", "1", "1+", "2", "3", "4"] | None = None
    previous_ashworth: Literal["0", "1", "1+", "2", "3", "4"] | None = None
    penn_frequency: Count | None = Field(default=None, ge=0, le=4)
    penn_severity: Count | None = Field(default=None, ge=1, le=3)
    adverse_events: list[AdverseEventIn] = Field(default_factory=list, max_length=40)

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
    name: Label
    concentration: Label = Field(description="as the pump was told, e.g. '500 mcg/mL'")
    daily_dose: Label | None = Field(default=None, description="as the pump shows, e.g. '240 mcg/day'")


class InterrogationIn(In):
    reservoir_ml: VolumeText | None = None
    alarms: list[AlarmName] = Field(default_factory=list, max_length=20)
    eri: YesNo = False
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
