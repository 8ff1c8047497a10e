"""The evaluation against the chart: a checklist answer that contradicts what the chart records is not taken on
trust. The item needs review, with both values shown; an answer left unknown takes the chart's value.

The chart's facts: allergies, anticoagulant or antiplatelet medicines, a history of psychosis, the life expectancy
in months. An empty list on the chart means nothing recorded (the chart cannot tell "none known" from "not asked").
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

from openidds.clinic.evaluation import Candidate, allergen_key, excluded_by_allergy
from openidds.clinic.followup import psychiatric_risk_drugs
from openidds.programs.program import PumpProgram
from openidds.safety.findings import Finding

LIFE_EXPECTANCY_MONTHS = 3  # the evaluation's item: 3 months or more (cancer-life-expectancy)


@dataclass(frozen=True, slots=True)
class ChartFacts:
    allergies: tuple[str, ...] = ()
    anticoagulants: tuple[str, ...] = ()
    psychosis_history: bool | None = None
    life_expectancy_months: int | None = None
    oral_mme_per_day: Fraction | None = None  # 0: opioid-naive; None: not recorded


@dataclass(frozen=True, slots=True)
class ChartReading:
    """The candidate with unknown answers taken from the chart, and per checklist item what contradicts it."""

    candidate: Candidate
    conflicts: dict[str, str]
    from_chart: dict[str, str]


def _key(entry: str) -> str:
    return allergen_key(entry)


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def read_chart(candidate: Candidate, chart: ChartFacts) -> ChartReading:
    conflicts: dict[str, str] = {}
    from_chart: dict[str, str] = {}
    changes: dict[str, object] = {}

    months = chart.life_expectancy_months
    if months is not None:
        chart_says = months >= LIFE_EXPECTANCY_MONTHS
        answer = candidate.life_expectancy_3_months_or_more
        if answer is None:
            changes["life_expectancy_3_months_or_more"] = chart_says
            from_chart["life-expectancy"] = f"the chart records a life expectancy of {months} months"
        elif answer != chart_says:
            conflicts["life-expectancy"] = (
                f"the chart records a life expectancy of {months} months; the checklist answers "
                f"'3 months or more: {_yes(answer)}': correct the chart or the answer"
            )

    if chart.allergies:
        answered = candidate.allergies
        if answered is None:
            changes["allergies"] = tuple(chart.allergies)
            from_chart["allergy"] = "allergies from the chart: " + ", ".join(chart.allergies)
        else:
            given = {_key(a) for a in answered}
            missing = [a for a in chart.allergies if _key(a) not in given]
            if missing:
                changes["allergies"] = (*answered, *missing)  # every drug the chart rules out stays ruled out
                conflicts["allergy"] = (
                    f"the chart records {', '.join(missing)}, which the checklist's allergies "
                    f"({', '.join(answered) if answered else 'none known'}) leave out: reconcile them"
                )

    if chart.anticoagulants:
        on = candidate.on_anticoagulants
        listed = ", ".join(chart.anticoagulants)
        if on is None:
            changes["on_anticoagulants"] = True
            from_chart["anticoagulation"] = f"the chart lists {listed}"
        elif on is False:
            conflicts["anticoagulation"] = (
                f"the chart lists {listed}; the checklist answers 'on anticoagulants: no': reconcile the medicines"
            )

    if chart.psychosis_history is not None:
        answer = candidate.psychosis_history
        if answer is None:
            changes["psychosis_history"] = chart.psychosis_history
            from_chart["psychosis-history"] = (
                f"the chart records a history of psychosis: {_yes(chart.psychosis_history)}"
            )
        elif answer != chart.psychosis_history:
            conflicts["psychosis-history"] = (
                f"the chart records a history of psychosis: {_yes(chart.psychosis_history)}; the checklist answers "
                f"{_yes(answer)}: correct the chart or the answer"
            )
    return ChartReading(replace(candidate, **changes), conflicts, from_chart)  # type: ignore[arg-type]


def program_against_chart(program: PumpProgram, chart: ChartFacts, care_area: str, *, implant: bool) -> list[Finding]:
    """A program against the chart, hard where they disagree: the program file's facts (care area, opioid-naive,
    history of psychosis, anticoagulants) are what its checks read, so a file that contradicts the chart would be
    checked against the wrong patient. A drug the chart records an allergy to, and ziconotide with a history of
    psychosis, are refused; at an implant, so is a life expectancy under 3 months (an external system may fit)."""
    ctx = program.context
    drugs = [i.drug for i in program.solution]
    out: list[Finding] = []
    if ctx.care_area != care_area:
        out.append(
            Finding(
                "hard",
                "chart.care-area",
                f"the program is written for {ctx.care_area.replace('-', ' ')}; the chart's care is "
                f"{care_area.replace('-', ' ')}: correct the program's care area",
            )
        )
    for name, entry in excluded_by_allergy(drugs, chart.allergies).items():
        out.append(Finding("hard", "chart.allergy", f"{name}: the chart records an allergy ({entry})"))
    risky = psychiatric_risk_drugs(drugs)
    if chart.psychosis_history is True and risky:
        out.append(
            Finding(
                "hard",
                "chart.psychosis",
                f"{', '.join(risky)} with a history of psychosis on the chart: contraindicated (boxed warning)",
            )
        )
    if chart.psychosis_history is not None and ctx.psychosis_history != chart.psychosis_history:
        out.append(
            Finding(
                "hard",
                "chart.psychosis-history",
                f"the program file says history of psychosis: {_yes(ctx.psychosis_history)}; the chart records "
                f"{_yes(chart.psychosis_history)}: correct the file",
            )
        )
    opioid = any(d.is_opioid for d in drugs)
    if opioid and chart.oral_mme_per_day == 0 and not ctx.opioid_naive:
        out.append(
            Finding(
                "hard",
                "chart.opioid-naive",
                "the chart records no oral opioid (0 MME/day): the patient is opioid-naive, the program file says "
                "not: correct the file (opioid-naive limits apply)",
            )
        )
    if chart.anticoagulants and not ctx.anticoagulants:
        out.append(
            Finding(
                "hard",
                "chart.anticoagulants",
                f"the chart lists {', '.join(chart.anticoagulants)}; the program file says no anticoagulants: "
                "correct the file",
            )
        )
    months = chart.life_expectancy_months
    if implant and months is not None and months < LIFE_EXPECTANCY_MONTHS:
        out.append(
            Finding(
                "hard",
                "chart.life-expectancy",
                f"the chart records a life expectancy of {months} months: an implanted pump needs 3 months or more "
                "(an external system may fit)",
            )
        )
    return out
