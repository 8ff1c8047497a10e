"""Follow-up visit scoring: pain, disability, depression, spasticity, side effects and complications, and flags.

Every score returns its value with the reasons behind it; every finding that needs action becomes a `Flag`,
urgent (act today, before the patient leaves) or not (review at this visit).

Side effects and complications are graded with the CTCAE general grades, 1 mild, 2 moderate, 3 severe or
medically significant (hospitalisation indicated), 4 life-threatening (urgent intervention indicated), 5 death
(0 = asked, absent). Why CTCAE rather than mild/moderate/severe: it separates "severe" from "life-threatening",
which is the line between a planned and an emergency response, and oncology teams (cancer pain) already use it.

Urgent, whatever the grade (sources in ADVERSE_EVENTS): respiratory depression; signs of a catheter-tip mass;
infection; pump failure; baclofen withdrawal signs; confusion or hallucinations; PHQ-9 item 9 above 0. Urgent with
a withdrawal-risk drug in the pump (baclofen): pruritus, muscle spasm and catheter problems (early withdrawal
signs or a cut supply). Urgent with a drug contraindicated in psychosis (ziconotide): depression and anxiety.
Sedation is urgent from grade 2 (it comes before respiratory depression); every other item from grade 3 (policy [U]).
With baclofen in the pump, a Modified Ashworth rise of at least 1 point since the last visit is urgent (policy [U]).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

from openidds.clinic.citations import Citation, cite, policy
from openidds.clinic.scales import (
    ASHWORTH_POINTS,
    ASHWORTH_TEXT,
    MODIFIED_ASHWORTH,
    NRS,
    PENN,
    PENN_FREQUENCY_TEXT,
    PENN_SEVERITY_TEXT,
    AshworthGrade,
    check_ashworth,
    check_int,
    check_nrs,
    percent,
    points,
)
from openidds.drugs import Drug, DrugLibrary
from openidds.errors import InputError
from openidds.quantities import format_number

ODI = cite("odi-scoring", "literature")
ODI_SECTIONS = 10
ODI_MIN_ANSWERED = 8
ODI_FEW_ANSWERED = policy(
    "The reference lowers the denominator by 5 for each missing section but sets no limit; warning when fewer "
    "than 8 of 10 sections are answered is an OpenIDDS choice."
)
OdiBand = Literal["minimal", "moderate", "severe", "crippled", "bed-bound"]
# (upper bound in %, band, words). The bands are 0-20, 21-40 … on whole percentages; with at most 10 sections no
# score lies strictly between 20 and 21 (it would need 20 × total / answered in (20, 21), so more than 20 sections),
# so the upper bounds decide.
ODI_BANDS: tuple[tuple[int, OdiBand, str], ...] = (
    (20, "minimal", "minimal disability"),
    (40, "moderate", "moderate disability"),
    (60, "severe", "severe disability"),
    (80, "crippled", "crippled"),
    (100, "bed-bound", "bed-bound, or exaggerating symptoms"),
)

PHQ9 = cite("phq9", "literature")
PHQ9_ITEMS = 9
Phq9Severity = Literal["none-minimal", "mild", "moderate", "moderately-severe", "severe"]
PHQ9_BANDS: tuple[tuple[int, Phq9Severity, str], ...] = (  # (lowest total, band, words)
    (20, "severe", "severe depression"),
    (15, "moderately-severe", "moderately severe depression"),
    (10, "moderate", "moderate depression"),
    (5, "mild", "mild depression"),
    (0, "none-minimal", "no or minimal depression"),
)
PHQ9_FREQUENCY = ("not at all", "several days", "more than half the days", "nearly every day")

CTCAE = cite("ctcae-grades", "literature")
GRADE_TEXT = {
    0: "absent",
    1: "mild",
    2: "moderate",
    3: "severe",
    4: "life-threatening",
    5: "death",
}
GRADE_URGENT_DEFAULT = 3
GRADE_POLICY = policy(
    "Urgent from CTCAE grade 3 (hospitalisation indicated) for items without their own rule: an OpenIDDS choice."
)
WITHDRAWAL = cite("baclofen-withdrawal-signs", "literature")
ASHWORTH_RISE_URGENT = Fraction(1)
ASHWORTH_RISE_POLICY = policy(
    "Returning spasticity is a withdrawal sign (baclofen-withdrawal-signs); treating a rise of at least 1 Modified "
    "Ashworth point as urgent, and a smaller rise as a review, is an OpenIDDS choice (the trial uses the same point)."
)
PSYCHIATRIC = cite("prialt-fda-label", "label")

Kind = Literal["drug-effect", "device-complication"]


@dataclass(frozen=True, slots=True)
class AdverseEventType:
    id: str
    name: str
    kind: Kind
    urgent_from: int = GRADE_URGENT_DEFAULT  # the lowest grade that is urgent (1: always)
    why_urgent: str = ""
    citation: Citation = GRADE_POLICY
    urgent_with_withdrawal_risk: str = ""  # why it is urgent when a withdrawal-risk drug (baclofen) is in the pump
    urgent_with_psychiatric_risk: str = ""  # why it is urgent with a drug contraindicated in psychosis (ziconotide)


def _event(
    id: str,
    name: str,
    kind: Kind,
    urgent_from: int = GRADE_URGENT_DEFAULT,
    why_urgent: str = "",
    citation: Citation = GRADE_POLICY,
    withdrawal: str = "",
    psychiatric: str = "",
) -> AdverseEventType:
    return AdverseEventType(id, name, kind, urgent_from, why_urgent, citation, withdrawal, psychiatric)


_WITHDRAWAL_SIGN = "an early sign of baclofen withdrawal: check the pump, reservoir and catheter today"
_SUPPLY_CUT = "the baclofen supply may be cut off (withdrawal can kill): check the pump and catheter today"
_PSYCHIATRIC_SIGN = "psychiatric symptoms are reported with ziconotide; its label says to stop it for serious ones"

ADVERSE_EVENTS: dict[str, AdverseEventType] = {
    e.id: e
    for e in (
        # --- drug effects ---
        _event(
            "respiratory-depression",
            "respiratory depression",
            "drug-effect",
            1,
            "can be fatal and can recur after naloxone wears off: treat now, stop or cut the infusion, observe",
            cite("infumorph-label", "label", note="Respiratory depression up to 24 h after a neuraxial dose."),
        ),
        _event(
            "sedation",
            "sedation",
            "drug-effect",
            2,
            "sedation comes before respiratory depression: assess breathing today",
            policy("Urgent from grade 2 because sedation precedes respiratory depression: an OpenIDDS choice."),
        ),
        _event("myoclonus", "myoclonus", "drug-effect"),
        _event("muscle-spasm", "muscle spasm", "drug-effect", withdrawal=_WITHDRAWAL_SIGN),
        _event("urinary-retention", "urinary retention", "drug-effect"),
        _event("constipation", "constipation", "drug-effect"),
        _event("nausea", "nausea", "drug-effect"),
        _event("vomiting", "vomiting", "drug-effect"),
        _event("dizziness", "dizziness", "drug-effect"),
        _event("anxiety", "anxiety", "drug-effect", psychiatric=_PSYCHIATRIC_SIGN),
        _event("depression", "depression", "drug-effect", psychiatric=_PSYCHIATRIC_SIGN),
        _event(
            "confusion-or-hallucinations",
            "confusion or hallucinations",
            "drug-effect",
            1,
            "new confusion or hallucinations can mean ziconotide toxicity, baclofen withdrawal or overdose, or "
            "meningitis: assess today",
            cite("prialt-fda-label", "label", note="Stop ziconotide on serious neurological or psychiatric signs."),
        ),
        _event("edema", "edema", "drug-effect"),
        _event("pruritus", "pruritus (itching)", "drug-effect", withdrawal=_WITHDRAWAL_SIGN),
        _event("hypogonadism", "hypogonadism", "drug-effect"),
        _event(
            "baclofen-withdrawal-signs",
            "signs of baclofen withdrawal (returning spasticity, itching without rash, fast heart rate, fever, "
            "altered mental state)",
            "drug-effect",
            1,
            "abrupt baclofen withdrawal progresses over 24-72 h to rhabdomyolysis, organ failure and death: "
            "restore intrathecal delivery now",
            WITHDRAWAL,  # the signs and the 24-72 h course are in this source
        ),
        # --- device complications ---
        _event("catheter-migration", "catheter migration", "device-complication", withdrawal=_SUPPLY_CUT),
        _event("catheter-occlusion", "catheter occlusion", "device-complication", withdrawal=_SUPPLY_CUT),
        _event(
            "pump-failure",
            "pump failure",
            "device-complication",
            1,
            "a failed pump can stop delivery (withdrawal) or over-infuse (overdose): interrogate it today",
            policy("Always urgent: a pump failure can stop or over-deliver the drug; an OpenIDDS choice."),
        ),
        _event("seroma", "seroma or fluid around the pump", "device-complication"),
        _event("csf-leak", "CSF leak or post-dural-puncture headache", "device-complication"),
        _event(
            "infection",
            "infection (wound, pump pocket or meningitis)",
            "device-complication",
            1,
            "an infected implant or meningitis needs assessment today",
            policy(
                "Always urgent: the reference lists infection as a contraindication and meningitis as a watch item "
                "(Prialt label) but gives no urgency; an OpenIDDS choice."
            ),
        ),
        _event("bleeding", "bleeding or hematoma", "device-complication"),
        _event(
            "catheter-tip-mass-signs",
            "signs of a catheter-tip mass (granuloma): loss of effect despite dose rises, new pain at the tip level, "
            "new numbness or weakness, bladder or bowel change",
            "device-complication",
            1,
            "a catheter-tip mass can compress the spinal cord: stop the drug through that catheter, image (MRI with "
            "gadolinium) and involve neurosurgery",
            cite("granuloma-management", "consensus"),
        ),
    )
}


@dataclass(frozen=True, slots=True)
class Flag:
    code: str  # stable, e.g. "phq9.item-9", "adverse-event.respiratory-depression"
    urgent: bool
    message: str
    citation: Citation | None = None
    actions: tuple[str, ...] = ()  # what to do, in words (e.g. per drug after a pocket fill)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "urgent": self.urgent, "message": self.message}
        if self.citation is not None:
            out["citation"] = self.citation.as_json()
        if self.actions:
            out["actions"] = list(self.actions)
        return out


@dataclass(frozen=True, slots=True)
class PainScore:
    nrs: int
    relief: Fraction | None  # vs baseline, when a baseline > 0 is given
    message: str
    citation: Citation = NRS


@dataclass(frozen=True, slots=True)
class OswestryScore:
    percent: Fraction | None  # None when no section is answered
    band: OdiBand | None
    total: int
    answered: int
    reasons: tuple[str, ...]
    flags: tuple[Flag, ...] = ()
    citation: Citation = ODI


@dataclass(frozen=True, slots=True)
class Phq9Score:
    total: int
    severity: Phq9Severity
    item_9: int
    reasons: tuple[str, ...]
    flags: tuple[Flag, ...]
    citation: Citation = PHQ9


@dataclass(frozen=True, slots=True)
class AshworthScore:
    grade: AshworthGrade
    points: Fraction  # 1+ counts as 1.5 (policy [U], see scales)
    description: str
    flags: tuple[Flag, ...] = ()
    citation: Citation = MODIFIED_ASHWORTH


@dataclass(frozen=True, slots=True)
class PennScore:
    frequency: int
    severity: int | None  # 1-3, only when there are spasms
    description: str
    citation: Citation = PENN


@dataclass(frozen=True, slots=True)
class AdverseEvent:
    item: str  # an id of ADVERSE_EVENTS, e.g. "nausea"
    grade: int  # CTCAE 1-5; 0 = asked, absent


def pain_score(nrs: int, *, baseline: int | None = None) -> PainScore:
    """The pain score, and the relief from baseline when there is one."""
    score = check_nrs(nrs, "nrs")
    if baseline is None:
        return PainScore(score, None, f"NRS {score}")
    base = check_nrs(baseline, "baseline_nrs")
    if base == 0:
        return PainScore(score, None, f"NRS {score} (baseline 0: relief cannot be computed)")
    relief = Fraction(base - score, base)
    return PainScore(score, relief, f"NRS {base} → {score}: {percent(relief)} relief from baseline")


def oswestry(sections: Sequence[int | None]) -> OswestryScore:
    """ODI % = total / (5 × answered sections) × 100; an unanswered section (None) lowers the denominator by 5."""
    if isinstance(sections, str | bytes) or not isinstance(sections, Sequence) or len(sections) != ODI_SECTIONS:
        raise InputError("oswestry", f"expected {ODI_SECTIONS} sections (each 0-5, or null if unanswered)")
    answers = [
        None if s is None else check_int(s, 0, 5, f"oswestry[{i}]", "a section score") for i, s in enumerate(sections)
    ]
    given = [a for a in answers if a is not None]
    total, answered = sum(given), len(given)
    if answered == 0:
        reason = "no section answered: the index cannot be computed"
        return OswestryScore(None, None, 0, 0, (reason,), (Flag("oswestry.not-scored", False, reason, ODI),))
    value = Fraction(100 * total, 5 * answered)
    band, words = next((b, w) for upper, b, w in ODI_BANDS if value <= upper)
    reasons = [f"{total} / (5 × {answered}) × 100 = {percent(value / 100)}: {words}"]
    flags: list[Flag] = []
    if answered < ODI_MIN_ANSWERED:
        missing = ODI_SECTIONS - answered
        text = f"{missing} of {ODI_SECTIONS} sections unanswered: the index is less reliable; ask them again"
        reasons.append(text)
        flags.append(Flag("oswestry.few-sections", False, text, ODI_FEW_ANSWERED))
    return OswestryScore(value, band, total, answered, tuple(reasons), tuple(flags))


def phq9(items: Sequence[int], *, psychiatric_risk_drugs: Sequence[str] = ()) -> Phq9Score:
    """PHQ-9 total and severity; item 9 above 0 raises an urgent flag, whatever the total.

    `psychiatric_risk_drugs`: drugs in the pump that are contraindicated in psychosis (ziconotide), named in the flag.
    """
    if isinstance(items, str | bytes) or not isinstance(items, Sequence) or len(items) != PHQ9_ITEMS:
        raise InputError("phq9", f"expected all {PHQ9_ITEMS} items (each 0-3): item 9 must never be skipped")
    scores = [check_int(s, 0, 3, f"phq9[{i}]", "an item score") for i, s in enumerate(items)]
    total = sum(scores)
    severity, words = next((b, w) for low, b, w in PHQ9_BANDS if total >= low)
    reasons = [f"total {total} of 27: {words}"]
    flags: list[Flag] = []
    item_9 = scores[8]
    if item_9 > 0:
        extra = (
            f" ({', '.join(psychiatric_risk_drugs)} in the pump: suicidality is reported with it)"
            if psychiatric_risk_drugs
            else ""
        )
        text = (
            f"URGENT: PHQ-9 item 9 (thoughts of being better off dead or of self-harm) answered "
            f"'{PHQ9_FREQUENCY[item_9]}' ({item_9}): assess suicide risk today, before the patient leaves, "
            f"whatever the total{extra}"
        )
        reasons.append(text)
        flags.append(Flag("phq9.item-9", True, text, PHQ9))
    if severity in ("moderately-severe", "severe"):
        flags.append(Flag(f"phq9.{severity}", False, f"PHQ-9 {total}: {words}; review treatment and referral", PHQ9))
    return Phq9Score(total, severity, item_9, tuple(reasons), tuple(flags))


def ashworth(
    grade: AshworthGrade | int,
    *,
    previous: AshworthGrade | int | None = None,
    withdrawal_risk_drugs: Sequence[str] = (),
) -> AshworthScore:
    """The grade in words. With baclofen in the pump, a rise since `previous` of at least 1 point is urgent (returning
    spasticity can be withdrawal), a smaller rise is flagged for review (policy [U])."""
    g = check_ashworth(grade, "ashworth")
    flags: list[Flag] = []
    if previous is not None:
        before = check_ashworth(previous, "previous_ashworth")
        rise = ASHWORTH_POINTS[g] - ASHWORTH_POINTS[before]
        if rise > 0 and withdrawal_risk_drugs:
            drugs = ", ".join(withdrawal_risk_drugs)
            shown = f"Ashworth {before} → {g} (a rise of {points(rise)}) with {drugs} in the pump"
            if rise >= ASHWORTH_RISE_URGENT:
                text = f"URGENT: {shown}: returning spasticity can be {_WITHDRAWAL_SIGN}"
                flags.append(Flag("ashworth.rise", True, text, WITHDRAWAL))
            else:
                text = f"{shown}: less than {points(ASHWORTH_RISE_URGENT)}; re-examine and watch for withdrawal signs"
                flags.append(Flag("ashworth.rise", False, text, ASHWORTH_RISE_POLICY))
    return AshworthScore(g, ASHWORTH_POINTS[g], ASHWORTH_TEXT[g], tuple(flags))


def penn(frequency: int, severity: int | None = None) -> PennScore:
    """Penn spasm frequency 0-4, with severity 1-3 only when there are spasms."""
    f = check_int(frequency, 0, 4, "penn_frequency", "a Penn spasm frequency")
    if f == 0:
        if severity is not None:
            raise InputError("penn_severity", "no severity when the frequency is 0 (no spasms)")
        return PennScore(0, None, PENN_FREQUENCY_TEXT[0])
    if severity is None:
        raise InputError(
            "penn_severity", "give the spasm severity (1 mild, 2 moderate, 3 severe) when there are spasms"
        )
    s = check_int(severity, 1, 3, "penn_severity", "a Penn spasm severity")
    return PennScore(f, s, f"{PENN_FREQUENCY_TEXT[f]}; {PENN_SEVERITY_TEXT[s]}")


def adverse_event_flags(
    events: Sequence[AdverseEvent],
    *,
    withdrawal_risk_drugs: Sequence[str] = (),
    psychiatric_risk_drugs: Sequence[str] = (),
) -> tuple[Flag, ...]:
    """A flag for each side effect or complication present (grade ≥ 1), urgent ones first."""
    if isinstance(events, str | bytes) or not isinstance(events, Sequence):
        raise InputError("adverse_events", "expected a list of side effects and complications")
    flags: list[Flag] = []
    seen: set[str] = set()
    for i, e in enumerate(events):
        where = f"adverse_events[{i}]"
        if not isinstance(e, AdverseEvent):
            raise InputError(where, f"expected an item and a grade, got {e!r}")
        kind = ADVERSE_EVENTS.get(e.item) if isinstance(e.item, str) else None
        if kind is None:
            raise InputError(f"{where}.item", f"unknown item {e.item!r} (known: {', '.join(ADVERSE_EVENTS)})")
        if e.item in seen:
            raise InputError(f"{where}.item", f"{e.item} is recorded twice")
        seen.add(e.item)
        grade = check_int(e.grade, 0, 5, f"{where}.grade", "a CTCAE grade (0 absent)")
        if grade > 0:
            flags.append(_flag(kind, grade, withdrawal_risk_drugs, psychiatric_risk_drugs))
    return tuple(sorted(flags, key=lambda f: not f.urgent))


def _flag(kind: AdverseEventType, grade: int, withdrawal: Sequence[str], psychiatric: Sequence[str]) -> Flag:
    shown = f"{kind.name} (grade {grade}, {GRADE_TEXT[grade]})"
    code = f"adverse-event.{kind.id}"
    if grade == 5:
        return Flag(code, True, f"{shown}: report as a serious adverse event", CTCAE)
    if grade >= kind.urgent_from and kind.urgent_from < GRADE_URGENT_DEFAULT:
        return Flag(code, True, f"URGENT: {shown}: {kind.why_urgent}", kind.citation)
    if withdrawal and kind.urgent_with_withdrawal_risk:
        drugs = ", ".join(withdrawal)
        return Flag(
            code, True, f"URGENT: {shown} with {drugs} in the pump: {kind.urgent_with_withdrawal_risk}", WITHDRAWAL
        )
    if psychiatric and kind.urgent_with_psychiatric_risk:
        drugs = ", ".join(psychiatric)
        return Flag(
            code, True, f"URGENT: {shown} with {drugs} in the pump: {kind.urgent_with_psychiatric_risk}", PSYCHIATRIC
        )
    if grade >= kind.urgent_from:
        return Flag(code, True, f"URGENT: {shown}: act today", GRADE_POLICY)
    return Flag(code, False, f"{shown}: review at this visit", CTCAE)


@dataclass(frozen=True, slots=True)
class FollowUpVisit:
    """What was recorded at a visit; leave out what was not measured."""

    drugs: tuple[str, ...] = ()  # the drugs in the pump (library names): some findings are urgent only with them
    nrs: int | None = None
    baseline_nrs: int | None = None
    oswestry: tuple[int | None, ...] | None = None
    phq9: tuple[int, ...] | None = None
    ashworth: AshworthGrade | int | None = None
    previous_ashworth: AshworthGrade | int | None = None
    penn_frequency: int | None = None
    penn_severity: int | None = None
    adverse_events: tuple[AdverseEvent, ...] = ()


# What a patient reports on their own questionnaire: pain (NRS), disability (Oswestry), mood (PHQ-9) and their
# spasms (the Penn scale is self-reported). The rest is the care team's to rate: a Modified Ashworth grade is an
# examination, a baseline is the record's, and an adverse event's grade is a clinical judgement.
CLINICIAN_RATED = ("baseline_nrs", "ashworth", "previous_ashworth", "adverse_events")


def clinician_rated(visit: FollowUpVisit) -> tuple[str, ...]:
    """The fields of `visit` a patient's questionnaire may not give (empty when it is only self-reports)."""
    return tuple(name for name in CLINICIAN_RATED if getattr(visit, name) not in (None, ()))


@dataclass(frozen=True, slots=True)
class FollowUpAssessment:
    pain: PainScore | None
    oswestry: OswestryScore | None
    phq9: Phq9Score | None
    ashworth: AshworthScore | None
    penn: PennScore | None
    flags: tuple[Flag, ...]  # urgent first

    @property
    def urgent(self) -> tuple[Flag, ...]:
        return tuple(f for f in self.flags if f.urgent)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"flags": [f.as_json() for f in self.flags]}
        if self.pain is not None:
            out["pain"] = {
                "nrs": self.pain.nrs,
                "relief_percent": None if self.pain.relief is None else float(self.pain.relief * 100),
                "message": self.pain.message,
            }
        if self.oswestry is not None:
            o = self.oswestry
            out["oswestry"] = {
                "percent": None if o.percent is None else float(o.percent),
                "percent_exact": None if o.percent is None else format_number(o.percent),
                "band": o.band,
                "total": o.total,
                "answered": o.answered,
                "reasons": list(o.reasons),
            }
        if self.phq9 is not None:
            p = self.phq9
            out["phq9"] = {"total": p.total, "severity": p.severity, "item_9": p.item_9, "reasons": list(p.reasons)}
        if self.ashworth is not None:
            out["ashworth"] = {"grade": self.ashworth.grade, "description": self.ashworth.description}
        if self.penn is not None:
            out["penn"] = {
                "frequency": self.penn.frequency,
                "severity": self.penn.severity,
                "description": self.penn.description,
            }
        return out


def withdrawal_risk_drugs(drugs: Sequence[Drug]) -> tuple[str, ...]:
    """Drugs whose sudden stop is dangerous (the library's withdrawal_risk: baclofen)."""
    return tuple(d.name for d in drugs if d.withdrawal_risk is not None)


def psychiatric_risk_drugs(drugs: Sequence[Drug]) -> tuple[str, ...]:
    """Drugs the library contraindicates with a history of psychosis (ziconotide)."""
    return tuple(
        d.name for d in drugs if any(c.when == "psychosis_history" and c.severity == "hard" for c in d.cautions)
    )


def assess_follow_up(visit: FollowUpVisit, *, library: DrugLibrary) -> FollowUpAssessment:
    """Score what was recorded and gather every flag, urgent first."""
    if not isinstance(visit.drugs, tuple | list):
        raise InputError("drugs", "expected a list of drug names")
    in_pump = [library.drug(name, f"drugs[{i}]") for i, name in enumerate(visit.drugs)]
    withdrawal, psychiatric = withdrawal_risk_drugs(in_pump), psychiatric_risk_drugs(in_pump)

    pain = None if visit.nrs is None else pain_score(visit.nrs, baseline=visit.baseline_nrs)
    if visit.nrs is None and visit.baseline_nrs is not None:
        check_nrs(visit.baseline_nrs, "baseline_nrs")
    odi = None if visit.oswestry is None else oswestry(visit.oswestry)
    depression = None if visit.phq9 is None else phq9(visit.phq9, psychiatric_risk_drugs=psychiatric)
    if visit.ashworth is None and visit.previous_ashworth is not None:
        raise InputError("ashworth", "give today's grade to compare with previous_ashworth")
    tone = (
        None
        if visit.ashworth is None
        else ashworth(visit.ashworth, previous=visit.previous_ashworth, withdrawal_risk_drugs=withdrawal)
    )
    if visit.penn_frequency is None and visit.penn_severity is not None:
        raise InputError("penn_frequency", "give the spasm frequency with its severity")
    spasms = None if visit.penn_frequency is None else penn(visit.penn_frequency, visit.penn_severity)
    events = adverse_event_flags(
        visit.adverse_events, withdrawal_risk_drugs=withdrawal, psychiatric_risk_drugs=psychiatric
    )
    flags = [
        *(odi.flags if odi else ()),
        *(depression.flags if depression else ()),
        *(tone.flags if tone else ()),
        *events,
    ]
    return FollowUpAssessment(pain, odi, depression, tone, spasms, tuple(sorted(flags, key=lambda f: not f.urgent)))
