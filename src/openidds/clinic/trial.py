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
from openidds.drugs import CareArea, CareAreaLimits, Drug, DrugLibrary
from openidds.errors import InputError
from openidds.quantities import DOSE_RATE, MASS, Quantity, format_number, parse_quantity
from openidds.safety.findings import Finding

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
SMALL_PATIENT_DOSE_MCG = Fraction(25)  # the paediatric opening dose the module doc cites (itb-paediatric-screening)
DEFAULT_CARE_AREA: dict[str, CareArea] = {"pain": "pain-noncancer", "spasticity": "spasticity-spinal"}
SCREENING_OBSERVATION_H = Fraction(4)
BACLOFEN_START = cite("itb-dosing-cmsc-2015", "literature")
LONG_EFFECT_H = Fraction(8)
CONTINUOUS_START = policy(
    "After a continuous catheter trial the implanted pump starts at (or below) the daily dose that worked: an OpenIDDS "
    "choice; no retrieved source gives a number."
)
MAX_HOURS = Fraction(24 * 30)  # observation or effect beyond a month is a typo (a trial lasts hours to days)
DOSE_RANGE = {  # a bolus or a daily dose outside these is a typo, whatever the drug (the library's limits then apply)
    "mass": ("0.001 mcg", "10 g"),
    "dose rate": ("0.001 mcg/day", "10 g/day"),
}
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


def evaluate_trial(trial: Trial, *, library: DrugLibrary, care_area: str | None = None) -> TrialOutcome:
    """The outcome of a trial: per dose, then overall (see the module doc for the rules).

    Each dose is checked against the library's trial doses for `care_area` (the patient's; by default the
    therapy's first, pain-noncancer or spasticity-spinal): beyond a hard bound it is refused (InputError); outside
    the usual range, a success needs review."""
    drug = _check_trial(trial, library)
    limits = _limits(drug, trial.therapy, care_area)
    screening = _screening_doses(limits)
    if trial.method == "baclofen-screening" and not screening:
        raise InputError("method", f"the library gives no screening doses for {drug.name} in this care area")
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
    outside: list[Reason] = []
    one_plus = False
    for i, d in enumerate(trial.doses):
        where = f"doses[{i}]"
        dose = _dose(d.dose, trial.method, drug, f"{where}.dose")
        outside.extend(_dose_limits(dose, trial.method, drug, limits, where, f"dose {i + 1}"))
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
        notes.extend(_observation_notes(trial, drug, dose, hours, f"dose {i + 1}", screening))
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
        elif trial.method == "continuous-catheter":
            starting = Calculated(
                first.dose,
                (f"starting daily dose: the continuous trial's effective dose ({CONTINUOUS_START.describe()})",),
            )
    elif any(r.status == "needs-review" for r in responses):
        status = "needs-review"
        reasons = [
            Reason("trial.needs-review", f"{_dose_text(r.dose, drug)}: {r.message}")
            for r in responses
            if r.status == "needs-review"
        ]
    elif trial.method == "baclofen-screening":
        largest = max((r.dose for r in responses), key=lambda q: q.to("mcg"))  # the order given does not matter
        status, reasons = _screening_without_response(largest, screening)
    else:
        status = "failure"
        reasons = [Reason("trial.failure", f"no dose met the rule ({rule})", citation)]
    if outside and status == "success":  # a success at an unusual dose is the team's to confirm
        status = "needs-review"
        reasons = [*reasons, *outside]
    else:
        notes.extend(outside)
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
        raise InputError(field, f"expected {kind.describe()}, got '{dose.format(None, 3)}'")
    if dose.value <= 0:
        raise InputError(field, f"must be more than zero, got '{dose.format(None, 3)}'")
    low, high = (parse_quantity(v) for v in DOSE_RANGE["dose rate" if kind is DOSE_RATE else "mass"])
    if not low <= dose <= high:
        raise InputError(field, f"must be between {low} and {high}: check the dose and its unit")
    return dose


def _hours(value: object, field: str) -> Fraction:
    if isinstance(value, bool):
        raise InputError(field, f"expected a number of hours, got {value!r}")
    hours: Fraction | None = None
    try:
        if isinstance(value, Fraction | int):
            hours = Fraction(value)
        elif isinstance(value, float | Decimal | str) and len(str(value)) <= 20:
            hours = Fraction(str(value).strip())  # a float's shortest decimal, as parse_quantity reads numbers
    except (ValueError, ZeroDivisionError, OverflowError):
        hours = None
    if hours is None:
        raise InputError(field, f"expected a number of hours, got {str(value)[:40]!r}")
    if abs(hours) > MAX_HOURS:
        raise InputError(field, f"at most {format_number(MAX_HOURS)} hours (30 days): check the number")
    return hours


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


def _limits(drug: Drug, therapy: str, care_area: str | None) -> CareAreaLimits:
    """The drug's limits for the care area the trial is for (None: the library has none for it)."""
    area = care_area if care_area is not None else DEFAULT_CARE_AREA[therapy]
    if not area.startswith(therapy):
        raise InputError(
            "therapy", f"a {therapy} trial does not fit this patient's care ({area.replace('-', ', ')}): check both"
        )
    limits = next((v for k, v in drug.care_areas.items() if k == area), None)
    if limits is None:
        raise InputError("drug", f"{drug.name} has no intrathecal limits for {area.replace('-', ' ')} in the library")
    return limits


def _screening_doses(limits: CareAreaLimits) -> tuple[Fraction, ...]:
    """The screening sequence in mcg, read from the library (baclofen: 50, 75, 100 mcg)."""
    if limits.screening is None:
        return ()
    return tuple(d.value.to("mcg") for d in limits.screening.doses)


def _dose_limits(
    dose: Quantity, method: TrialMethod, drug: Drug, limits: CareAreaLimits, where: str, shown: str
) -> list[Reason]:
    """A trial dose against the library: a bolus against the trial bolus range, a continuous trial's daily dose
    against the daily dose (hard) and the starting dose (usual range). Beyond a hard bound: refused."""
    if method == "continuous-catheter":
        checks = [("the daily dose", limits.daily_dose), ("the usual starting dose", limits.starting_dose)]
        unit = drug.dose_rate_unit
    else:
        checks = [("the trial bolus", limits.trial_bolus)]
        unit = drug.dose_unit
    out: list[Reason] = []
    for what, rail in checks:
        if rail is None:
            continue
        bound = rail.crossed(dose)
        if bound is None:
            continue
        side = "above" if bound.side == "max" else "below"
        text = f"{_dose_text(dose, drug)} is {side} {what}'s {bound.severity} limit {bound.limit.describe(unit)}"
        if bound.severity == "hard":
            raise InputError(f"{where}.dose", f"{text}: check the dose and its unit")
        out.append(Reason("trial.dose-outside-range", f"{shown}: {text}: the team confirms the dose given"))
    return out


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


def _observation_notes(
    trial: Trial, drug: Drug, dose: Quantity, hours: Fraction, where: str, screening: tuple[Fraction, ...]
) -> list[Reason]:
    shown = f"{_dose_text(dose, drug)} observed {format_number(hours)} h"
    notes: list[Reason] = []
    if trial.method == "baclofen-screening":
        mcg = dose.to("mcg")
        if mcg not in (*screening, SMALL_PATIENT_DOSE_MCG):
            labeled = ", ".join(format_number(d) for d in screening)
            notes.append(
                Reason(
                    "trial.screening-dose",
                    f"{where}: {_dose_text(dose, drug)} is not a labeled screening dose ({labeled} mcg; "
                    f"{format_number(SMALL_PATIENT_DOSE_MCG)} mcg in very small patients)",
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


def _screening_without_response(last: Quantity, screening: tuple[Fraction, ...]) -> tuple[TrialStatus, list[Reason]]:
    mcg = last.to("mcg")
    if mcg >= screening[-1]:
        return "failure", [
            Reason(
                "trial.screening-no-response",
                f"no response at {format_number(mcg)} mcg: not a candidate for intrathecal baclofen",
                SCREENING_LABEL,
            )
        ]
    following = next(d for d in screening if d > mcg)
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


def first_program_findings(
    drug: str,
    starting_daily_dose: Quantity | None,
    effective_dose: Quantity | None,
    program_daily_doses: dict[str, Quantity],
    *,
    library: DrugLibrary,
) -> list[Finding]:
    """The implant's first program against the trial it follows: above the starting dose the trial gives (baclofen
    screening: CMSC 2015) is a soft finding (a first program needs none: start there, then titrate). A trial drug
    missing from the program is told (info). Without a starting dose from the trial, the effective dose is told."""
    d = library.drug(drug, "drug")
    unit = d.dose_rate_unit
    dose = program_daily_doses.get(d.name)
    if dose is None:
        return [Finding("info", "trial.drug-not-programmed", f"the trial gave {d.name}; the first program holds none")]
    if starting_daily_dose is not None:
        if dose.to(unit) > starting_daily_dose.to(unit):
            shown = None
            if effective_dose is not None:
                shown = effective_dose.format(d.dose_unit if effective_dose.is_kind(MASS) else unit, 3)
            effective = "" if shown is None or effective_dose == starting_daily_dose else f" (effective at {shown})"
            return [
                Finding(
                    "soft",
                    "trial.above-starting-dose",
                    f"{d.name} {dose.format(unit, 3)} is above the {starting_daily_dose.format(unit, 3)} the "
                    f"trial gives as the starting dose{effective}: start there, then titrate",
                )
            ]
        return []
    if effective_dose is not None:
        shown = effective_dose.format(d.dose_unit if effective_dose.is_kind(MASS) else unit, 3)
        return [
            Finding(
                "info",
                "trial.effective-dose",
                f"the trial was effective at {d.name} {shown}; the first program gives {dose.format(unit, 3)}",
            )
        ]
    return []
