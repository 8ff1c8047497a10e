"""What a pump interrogation tells the clinic: does the pump hold what the record says, and run what it says?

The pump's own reservoir figure is computed from its programmed rate and the volume entered at the last refill,
not measured; so is the twin's expected residual. The two disagreeing beyond the pump's accuracy band means the
pump was told another fill volume, or the record misses an event: a discrepancy to review. A pump that reports
another drug, concentration or daily dose than the running program is a programming error until shown otherwise:
urgent.

Pure: the service supplies the running program and the twin's estimate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from openidds import display
from openidds.calculations.projection import project
from openidds.calculations.reconcile import ResidualEstimate
from openidds.clinic.citations import policy
from openidds.clinic.followup import Flag
from openidds.programs.program import Ingredient, PumpProgram
from openidds.quantities import Quantity, format_ml

MISMATCH = policy(
    "A pump reporting another drug, concentration or daily dose than the running program is an urgent flag; "
    "daily doses agree when they are equal to 3 significant figures (what the pump and OpenIDDS display): an "
    "OpenIDDS choice."
)
SHOWN_TO = Fraction(1, 20)  # half of the 0.1 mL a pump shows its reservoir to
OUTSIDE_BAND = policy(
    "An interrogated reservoir outside the twin's accuracy band is a discrepancy for review: an OpenIDDS choice."
)


@dataclass(frozen=True, slots=True)
class ReportedDrug:
    ingredient: Ingredient  # the drug and the concentration the pump was told
    daily_dose: Quantity | None  # the daily dose it shows, when read


def same_to_3_figures(a: Fraction, b: Fraction) -> bool:
    return _round3(a) == _round3(b)


def _round3(x: Fraction) -> Decimal:
    if x == 0:
        return Decimal(0)
    d = Decimal(x.numerator) / Decimal(x.denominator)
    return d.quantize(Decimal(1).scaleb(d.adjusted() - 2), rounding=ROUND_HALF_UP)


def program_differences(running: PumpProgram, reported: Sequence[ReportedDrug]) -> list[str]:
    """Each way the pump's report differs from the running program, in words (empty: they agree)."""
    out: list[str] = []
    expected = {i.drug.name: i for i in running.solution}
    doses = project(running).daily_dose
    seen = set()
    for r in reported:
        name = r.ingredient.drug.name
        seen.add(name)
        ours = expected.get(name)
        if ours is None:
            out.append(f"the pump reports {name}, which the running program does not hold")
            continue
        if ours.concentration != r.ingredient.concentration:
            told = r.ingredient.concentration
            what = f"{name}: the pump was told {told}, the running program is written for {ours.concentration}"
            if r.daily_dose is not None:
                # The pump sets its rate from the dose and the concentration it was told; the reservoir holds the
                # record's solution, so what reaches the patient is scaled by the true concentration over the told.
                unit = ours.drug.dose_rate_unit
                actual = r.daily_dose.to(unit) * ours.concentration.ratio(told)
                side = "more" if actual > r.daily_dose.to(unit) else "less"
                what += (
                    f": with the solution in it, the pump gives about {display.number(actual)} {unit}, {side} than "
                    f"the {display.number(r.daily_dose.to(unit))} {unit} it shows"
                )
            out.append(what)
        if r.daily_dose is not None:
            unit = ours.drug.dose_rate_unit
            ours_dose = doses[name].program.to(unit)
            theirs = r.daily_dose.to(unit)
            if not same_to_3_figures(ours_dose, theirs):
                out.append(
                    f"{name}: the pump reports {display.number(theirs)} {unit}, the running program gives "
                    f"{display.number(ours_dose)} {unit}"
                )
    for name in expected:
        if name not in seen:
            out.append(f"the pump does not report {name}, which the running program holds")
    return out


def mismatch_flag(differences: Sequence[str], drugs: Sequence[Ingredient] = ()) -> Flag:
    """The urgent flag, with the drugs' own warnings: a wrong program may be an overdose or a withdrawal."""
    actions = [
        "check the pump against the prescription now: reprogram it, or correct the record, with a second person",
        "assess the patient for an overdose or a withdrawal of each drug until the pump is put right",
    ]
    actions += [i.drug.withdrawal_risk.message for i in drugs if i.drug.withdrawal_risk is not None]
    return Flag(
        "interrogation.program-mismatch",
        True,
        "the pump runs another program than the record: " + "; ".join(differences),
        MISMATCH,
        tuple(actions),
    )


def reservoir_discrepancy(reported_ml: Fraction, estimate: ResidualEstimate) -> Flag | None:
    """A review flag when the pump's reservoir figure lies outside the twin's accuracy band."""
    low, high = estimate.low.to("mL"), estimate.high.to("mL")
    if low - SHOWN_TO <= reported_ml <= high + SHOWN_TO:  # the pump shows its figure to 0.1 mL
        return None
    side = "more" if reported_ml > high else "less"
    return Flag(
        "interrogation.reservoir-discrepancy",
        False,
        f"the pump reports {format_ml(reported_ml)} in the reservoir, {side} than the record expects "
        f"({format_ml(estimate.expected.to('mL'))}, band {format_ml(low).removesuffix(' mL')} to {format_ml(high)})",
        OUTSIDE_BAND,
        (
            "compare the fill volume entered into the pump at the last refill with the record; a wrong volume "
            "there makes the pump's own low-reservoir alarm wrong",
        ),
    )
