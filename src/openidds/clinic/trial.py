"""The intrathecal trial: what was given, what was seen, and whether it succeeded — with the rule and the numbers.

Rules:
- **pain**: success when the pain score (NRS 0-10) falls by at least 50 % from baseline without intolerable side
  effects (idd-patient-selection, literature). Relief = (baseline − after) / baseline, exactly. A baseline of 0
  leaves nothing to relieve: the dose needs review.
- **spasticity**: success when the Modified Ashworth grade falls by at least 1 point without intolerable side
  effects. The reference names tone improvement (Ashworth/Penn) without a number, so the 1 point is OpenIDDS
  policy [U], and so is counting 1+ as 1.5 points. A baseline of 0 leaves nothing to fall: needs review.
- A trial with several doses succeeds at its first successful dose (the effective dose). Without one, it needs
  review if any dose could not be judged, and fails otherwise.
- **baclofen screening** (label): 50 → 75 → 100 mcg, each at least 24 h after the last and observed 4-8 h
  (25 mcg may open the sequence in very small patients). No response by 50 or 75 mcg: the screening continues
  (needs review). No response at 100 mcg: not a candidate (failure). After a response, the implanted pump starts
  at twice the effective dose a day, or at the dose itself if the effect lasted more than 8 h (CMSC 2015).

Observation shorter than the sources advise (PACC 2017: at least 6 h after a single-shot opioid trial; morphine
label: at least 24 h after each test dose; baclofen label: 4-8 h) adds a note; it does not change the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal, get_args

from openidds.calculations.result import Calculated
from openidds.clinic.citations import Citation, Reason, cite, policy
from openidds.clinic.scales import (
    ASHWORTH_ONE_PLUS,
    ASHWORTH_POINTS,
    AshworthGrade,
    check_ashworth,
    check_nrs,
    percent,
    points,
)
from openidds.drugs import Drug, DrugLibrary
from openidds.errors import InputError
from openidds.quantities import DOSE_RATE, MASS, Quantity, format_number, parse_quantity

TrialMethod = Literal["single-shot-bolus", "repeated-bolus", "continuous-catheter", "baclofen-screening"]
TRIAL_METHODS: tuple[TrialMethod, ...] = get_args(TrialMethod)
TrialStatus = Literal["success", "failure", "needs-review"]
Therapy = Literal["pain", "spasticity"]

PAIN_RELIEF_NEEDED = Fraction(1, 2)
PAIN_RULE = cite(
    "idd-patient-selection",
    "literature",
    note="A positive response is usually a 50% reduction in baseline pain without intolerable side effects.",
)
ASHWORTH_FALL_NEEDED = Fraction(1)
SPASTICITY_RULE = policy(
    "The reference names tone or spasm improvement (Ashworth/Penn) as intrathecal baclofen trial success without "
    "a number; a fall of at least 1 Modified Ashworth point is an OpenIDDS choice."
)
SCREENING_LABEL = cite("baclofen-screening-label", "label")
SCREENING_DOSES_MCG = (Fraction(50), Fraction(75), Fraction(100))
SMALL_PATIENT_DOSE_MCG = Fraction(25)
SCREENING_OBSERVATION_H = Fraction(4)
BACLOFEN_START = cite("itb-dosing-cmsc-2015", "literature")
LONG_EFFECT_H = Fraction(8)
OPIOID_OBSERVATION_H = Fraction(6)
OPIOID_OBSERVATION = cite("pacc-2017-statements", "consensus", note="At least 6 h after a single-shot opioid trial.")
MORPHINE_OBSERVATION_H = Fraction(24)
MORPHINE_OBSERVATION = cite("infumorph-label", "label", note="At least 24 h after the initial or test dose.")


@dataclass(frozen=True, slots=True)
class SideEffect:
    name: str  # e.g. "nausea", "urinary retention", "weakness"
    intolerable: bool


@dataclass(frozen=True, slots=True)
class TrialDose:
    """One dose of the trial and what was seen after it.

    `dose` is a bolus ("0.2 mg", "50 mcg") or, for a continuous catheter trial, a daily dose ("0.5 mg/day"), in the
    trial drug. Record the score the response is judged on (e.g. the lowest pain score while observed).
    """

    dose: Quantity | str
    observation_hours: Fraction | int | str
    nrs: int | None = None  # pain trials
    ashworth: AshworthGrade | int | None = None  # spasticity trials
    side_effects: tuple[SideEffect, ...] = ()
    effect_hours: Fraction | int | str | None = None  # how long the effect lasted (baclofen starting dose)


@dataclass(frozen=True, slots=True)
class Trial:
    method: TrialMethod
    therapy: Therapy
    drug: str  # the trial drug in the library; doses are in its units
    doses: tuple[TrialDose, ...]
    baseline_nrs: int | None = None  # pain trials
    baseline_ashworth: AshworthGrade | int | None = None  # spasticity trials


@dataclass(frozen=True, slots=True)
class DoseResponse:
    dose: Quantity
    status: TrialStatus
    message: str  # the rule applied to the numbers, e.g. "NRS 8 → 3: 62.5 % relief ≥ 50 % → success"
    relief: Fraction | None = None  # pain: the fraction of baseline pain relieved
    fall: Fraction | None = None  # spasticity: Ashworth points fallen
    intolerable: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dose": str(self.dose), "status": self.status, "message": self.message}
        if self.relief is not None:
            out["relief_percent"] = float(self.relief * 100)
        if self.fall is not None:
            out["ashworth_fall"] = float(self.fall)
        if self.intolerable:
            out["intolerable_side_effects"] = list(self.intolerable)
        return out


@dataclass(frozen=True, slots=True)
class TrialOutcome:
    status: TrialStatus
    rule: str  # the success rule in words
    rule_citation: Citation
    responses: tuple[DoseResponse, ...]
    reasons: tuple[Reason, ...]  # why this status, then notes on how the trial was run
    effective_dose: Quantity | None = None
    starting_daily_dose: Calculated[Quantity] | None = None  # baclofen screening success

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "status": self.status,
            "rule": self.rule,
            "rule_citation": self.rule_citation.as_json(),
            "responses": [r.as_json() for r in self.responses],
            "reasons": [r.as_json() for r in self.reasons],
            "effective_dose": None if self.effective_dose is None else str(self.effective_dose),
        }
        if self.starting_daily_dose is not None:
            out["starting_daily_dose"] = {
                "value": str(self.starting_daily_dose.value),
                "assumptions": list(self.starting_daily_dose.assumptions),
            }
        return out


def evaluate_trial(trial: Trial, *, library: DrugLibrary) -> TrialOutcome:
    """The outcome of a trial: per dose, then overall (see the module doc for the rules)."""
    drug = _check_trial(trial, library)
    baseline_nrs: int = 0
    baseline_grade: AshworthGrade = "0"
    if trial.therapy == "pain":
        baseline_nrs = check_nrs(trial.baseline_nrs, "baseline_nrs")
        rule = (
            f"success when pain falls by at least {percent(PAIN_RELIEF_NEEDED)} from baseline "
            "without intolerable side effects"
        )
        citation = PAIN_RULE
    else:
        baseline_grade = check_ashworth(trial.baseline_ashworth, "baseline_ashworth")
        rule = (
            f"success when the Modified Ashworth grade falls by at least {points(ASHWORTH_FALL_NEEDED)} "
            "(1+ counts as 1.5) without intolerable side effects [U]"
        )
        citation = SPASTICITY_RULE

    responses: list[DoseResponse] = []
    notes: list[Reason] = []
    one_plus = False
    for i, d in enumerate(trial.doses):
        where = f"doses[{i}]"
        dose = _dose(d.dose, trial.method, drug, f"{where}.dose")
        hours = _hours(d.observation_hours, f"{where}.observation_hours")
        if hours <= 0:
            raise InputError(f"{where}.observation_hours", "must be more than 0 hours")
        intolerable = _side_effects(d.side_effects, f"{where}.side_effects")
        if trial.therapy == "pain":
            if d.ashworth is not None:
                raise InputError(f"{where}.ashworth", "a pain trial records pain scores (nrs), not Ashworth grades")
            after = None if d.nrs is None else check_nrs(d.nrs, f"{where}.nrs")
            responses.append(_pain_response(dose, drug, baseline_nrs, after, intolerable))
        else:
            if d.nrs is not None:
                raise InputError(f"{where}.nrs", "a spasticity trial records Ashworth grades, not pain scores")
            grade = None if d.ashworth is None else check_ashworth(d.ashworth, f"{where}.ashworth")
            responses.append(_ashworth_response(dose, drug, baseline_grade, grade, intolerable))
            one_plus = one_plus or "1+" in (baseline_grade, grade)
        notes.extend(_observation_notes(trial, drug, dose, hours, where))
        if d.effect_hours is not None and _hours(d.effect_hours, f"{where}.effect_hours") < 0:
            raise InputError(f"{where}.effect_hours", "cannot be negative")

    success = next((k for k, r in enumerate(responses) if r.status == "success"), None)
    effective = None if success is None else responses[success].dose
    starting: Calculated[Quantity] | None = None
    if success is not None:
        status: TrialStatus = "success"
        first = responses[success]
        reasons = [Reason("trial.success", f"{_dose_text(first.dose, drug)}: {first.message}", citation)]
        if trial.method == "baclofen-screening":
            starting = _baclofen_start(responses[success].dose, trial.doses[success].effect_hours, success)
    elif any(r.status == "needs-review" for r in responses):
        status = "needs-review"
        reasons = [
            Reason("trial.needs-review", f"{_dose_text(r.dose, drug)}: {r.message}")
            for r in responses
            if r.status == "needs-review"
        ]
    elif trial.method == "baclofen-screening":
        status, reasons = _screening_without_response(responses[-1].dose)
    else:
        status = "failure"
        reasons = [Reason("trial.failure", f"no dose met the rule ({rule})", citation)]
    if one_plus:
        notes.append(Reason("trial.ashworth-one-plus", "Ashworth 1+ is counted as 1.5 points", ASHWORTH_ONE_PLUS))
    return TrialOutcome(status, rule, citation, tuple(responses), (*reasons, *notes), effective, starting)


# --- input ----------------------------------------------------------------------------------------------------------


def _check_trial(trial: Trial, library: DrugLibrary) -> Drug:
    if trial.method not in TRIAL_METHODS:
        raise InputError("method", f"expected one of {', '.join(TRIAL_METHODS)}, got {trial.method!r}")
    if trial.therapy not in ("pain", "spasticity"):
        raise InputError("therapy", f"expected pain or spasticity, got {trial.therapy!r}")
    if not isinstance(trial.drug, str):
        raise InputError("drug", f"expected a drug name, got {trial.drug!r}")
    drug = library.drug(trial.drug, "drug")
    if trial.method == "baclofen-screening":
        if drug.name != "baclofen":
            raise InputError("drug", f"a baclofen screening trial gives baclofen, not {drug.name}")
        if trial.therapy != "spasticity":
            raise InputError("therapy", "a baclofen screening trial is a spasticity trial")
    if not isinstance(trial.doses, tuple | list) or not trial.doses:
        raise InputError("doses", "record at least one dose")
    if trial.therapy == "pain" and trial.baseline_ashworth is not None:
        raise InputError("baseline_ashworth", "a pain trial has a baseline pain score (baseline_nrs)")
    if trial.therapy == "spasticity" and trial.baseline_nrs is not None:
        raise InputError("baseline_nrs", "a spasticity trial has a baseline Ashworth grade (baseline_ashworth)")
    return drug


def _dose(value: Quantity | str, method: TrialMethod, drug: Drug, field: str) -> Quantity:
    kind = DOSE_RATE if method == "continuous-catheter" else MASS
    dose = value if isinstance(value, Quantity) else parse_quantity(value, kind, field)
    if not dose.is_kind(kind):
        raise InputError(field, f"expected {kind.describe()}, got '{dose}'")
    if dose.value <= 0:
        raise InputError(field, f"must be more than zero, got '{dose}'")
    return dose


def _hours(value: object, field: str) -> Fraction:
    if isinstance(value, bool):
        raise InputError(field, f"expected a number of hours, got {value!r}")
    try:
        if isinstance(value, Fraction | int):
            return Fraction(value)
        if isinstance(value, float | Decimal | str):
            return Fraction(str(value).strip())  # a float's shortest decimal, as parse_quantity reads numbers
    except (ValueError, ZeroDivisionError):
        pass
    raise InputError(field, f"expected a number of hours, got {value!r}")


def _side_effects(effects: object, field: str) -> tuple[str, ...]:
    if not isinstance(effects, tuple | list):
        raise InputError(field, f"expected a list of side effects, got {effects!r}")
    intolerable: list[str] = []
    for i, e in enumerate(effects):
        if not isinstance(e, SideEffect) or not isinstance(e.name, str) or not e.name.strip():
            raise InputError(f"{field}[{i}]", f"expected a side effect with a name, got {e!r}")
        if not isinstance(e.intolerable, bool):
            raise InputError(f"{field}[{i}].intolerable", f"expected yes (true) or no (false), got {e.intolerable!r}")
        if e.intolerable:
            intolerable.append(e.name.strip())
    return tuple(intolerable)


# --- rules ----------------------------------------------------------------------------------------------------------


def _dose_text(dose: Quantity, drug: Drug) -> str:
    unit = drug.dose_rate_unit if dose.is_kind(DOSE_RATE) else drug.dose_unit
    return f"{drug.name} {dose.format(unit)}"


def _pain_response(
    dose: Quantity, drug: Drug, baseline: int, after: int | None, intolerable: tuple[str, ...]
) -> DoseResponse:
    if after is None:
        return DoseResponse(
            dose, "needs-review", "no pain score recorded after the dose: the response cannot be judged"
        )
    if baseline == 0:
        return DoseResponse(dose, "needs-review", f"NRS 0 → {after}: no pain at baseline, so relief cannot be computed")
    relief = Fraction(baseline - after, baseline)
    numbers = f"NRS {baseline} → {after}: {percent(relief)} relief"
    if relief < PAIN_RELIEF_NEEDED:
        return DoseResponse(dose, "failure", f"{numbers} < {percent(PAIN_RELIEF_NEEDED)} → failure", relief=relief)
    met = f"{numbers} ≥ {percent(PAIN_RELIEF_NEEDED)}"
    if intolerable:
        return DoseResponse(
            dose,
            "failure",
            f"{met}, but intolerable side effects ({', '.join(intolerable)}) → failure",
            relief=relief,
            intolerable=intolerable,
        )
    return DoseResponse(dose, "success", f"{met} → success", relief=relief)


def _ashworth_response(
    dose: Quantity, drug: Drug, baseline: AshworthGrade, after: AshworthGrade | None, intolerable: tuple[str, ...]
) -> DoseResponse:
    if after is None:
        return DoseResponse(
            dose, "needs-review", "no Ashworth grade recorded after the dose: the response cannot be judged"
        )
    if baseline == "0":
        return DoseResponse(
            dose, "needs-review", f"Ashworth 0 → {after}: no spasticity at baseline, so a fall cannot be measured"
        )
    fall = ASHWORTH_POINTS[baseline] - ASHWORTH_POINTS[after]
    numbers = f"Ashworth {baseline} → {after}: a fall of {points(fall)}"
    if fall < ASHWORTH_FALL_NEEDED:
        return DoseResponse(dose, "failure", f"{numbers} < {format_number(ASHWORTH_FALL_NEEDED)} → failure", fall=fall)
    met = f"{numbers} ≥ {format_number(ASHWORTH_FALL_NEEDED)}"
    if intolerable:
        return DoseResponse(
            dose,
            "failure",
            f"{met}, but intolerable side effects ({', '.join(intolerable)}) → failure",
            fall=fall,
            intolerable=intolerable,
        )
    return DoseResponse(dose, "success", f"{met} → success", fall=fall)


def _observation_notes(trial: Trial, drug: Drug, dose: Quantity, hours: Fraction, where: str) -> list[Reason]:
    shown = f"{_dose_text(dose, drug)} observed {format_number(hours)} h"
    notes: list[Reason] = []
    if trial.method == "baclofen-screening":
        mcg = dose.to("mcg")
        if mcg not in (*SCREENING_DOSES_MCG, SMALL_PATIENT_DOSE_MCG):
            notes.append(
                Reason(
                    "trial.screening-dose",
                    f"{where}: {_dose_text(dose, drug)} is not a labeled screening dose (50, 75, 100 mcg; 25 mcg in "
                    "very small patients)",
                    SCREENING_LABEL,
                )
            )
        if hours < SCREENING_OBSERVATION_H:
            notes.append(
                Reason(
                    "trial.observation",
                    f"{where}: {shown}; the label advises observing 4-8 h after each screening dose",
                    SCREENING_LABEL,
                )
            )
    elif trial.method in ("single-shot-bolus", "repeated-bolus") and drug.is_opioid:
        if hours < OPIOID_OBSERVATION_H:
            notes.append(
                Reason(
                    "trial.observation",
                    f"{where}: {shown}; PACC 2017 advises at least 6 h after a single-shot opioid trial",
                    OPIOID_OBSERVATION,
                )
            )
        if drug.name == "morphine" and hours < MORPHINE_OBSERVATION_H:
            notes.append(
                Reason(
                    "trial.observation-morphine",
                    f"{where}: {shown}; the morphine label advises at least 24 h after each test dose "
                    "(delayed respiratory depression)",
                    MORPHINE_OBSERVATION,
                )
            )
    return notes


def _screening_without_response(last: Quantity) -> tuple[TrialStatus, list[Reason]]:
    mcg = last.to("mcg")
    if mcg >= SCREENING_DOSES_MCG[-1]:
        return "failure", [
            Reason(
                "trial.screening-no-response",
                f"no response at {format_number(mcg)} mcg: not a candidate for intrathecal baclofen",
                SCREENING_LABEL,
            )
        ]
    following = next(d for d in SCREENING_DOSES_MCG if d > mcg)
    return "needs-review", [
        Reason(
            "trial.screening-continues",
            f"no response at {format_number(mcg)} mcg: the screening continues with {format_number(following)} mcg "
            "at least 24 h after the last dose",
            SCREENING_LABEL,
        )
    ]


def _baclofen_start(dose: Quantity, effect_hours: object, index: int) -> Calculated[Quantity]:
    mcg = dose.to("mcg")
    hours = None if effect_hours is None else _hours(effect_hours, f"doses[{index}].effect_hours")
    rule = "twice the effective screening dose a day, or the dose itself if its effect lasted more than 8 h"
    if hours is not None and hours > LONG_EFFECT_H:
        why = (
            f"the effect of {format_number(mcg)} mcg lasted {format_number(hours)} h (> 8 h): start at the dose itself"
        )
        daily = mcg
    else:
        daily = 2 * mcg
        why = (
            f"the effect of {format_number(mcg)} mcg lasted {format_number(hours)} h (≤ 8 h): start at twice the dose"
            if hours is not None
            else f"effect duration not recorded: 2 × {format_number(mcg)} mcg; if the effect lasted more than 8 h, "
            f"start at {format_number(mcg)} mcg/day instead"
        )
    return Calculated(
        Quantity.of(daily, "mcg/day"),
        (f"starting daily dose: {rule} ({BACLOFEN_START.describe()})", why),
    )
