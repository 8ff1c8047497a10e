"""The bridge bolus after a drug or concentration change: one rule for `idds calc bridge`, the pump twin and the
clinic service.

After a refill with a new solution, pump tubing and catheter still hold the old one. Run at the new program's rate
it would reach the patient at the new rate times the *old* concentration: a double dose when the concentration is
halved, a half dose when it is doubled. The bridge runs the old solution out at the rate that gives the **new**
daily dose with the old concentration (new rate × new concentration ÷ old concentration; in an admixture, of the
drug whose concentration falls most, so that no drug gets more than its new dose), then the new program starts.
The pump must be able to run that rate: below its minimum or above its maximum it runs the nearest rate it can,
and a constant-flow pump only its fixed rate; each case is said in words, with what to do instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from fractions import Fraction

from openidds.calculations.result import Calculated
from openidds.calculations.volumes import pathway_volume
from openidds.devices import CatheterModel, PumpModel
from openidds.errors import InputError
from openidds.evidence import Cited
from openidds.programs.clock import DAY_US
from openidds.programs.program import Ingredient, PumpProgram
from openidds.programs.solution import check_solution
from openidds.quantities import RATE, Quantity, format_number


@dataclass(frozen=True, slots=True)
class BridgeRule:
    """Which drug's new dose the bridge keeps, and by how much the new program's rate is scaled to keep it."""

    kept: str
    old_concentration: Quantity
    new_concentration: Quantity

    @property
    def factor(self) -> Fraction:
        """Bridge rate ÷ new program rate = new concentration ÷ old concentration."""
        return self.new_concentration.ratio(self.old_concentration)


def bridge_rule(old: Sequence[Ingredient], new: Sequence[Ingredient]) -> BridgeRule:
    """Of the drugs both solutions hold, the one whose concentration falls most (the smallest new ÷ old) sets the
    bridge: at that rate no drug of an admixture gets more than its new dose (the others get less while it runs).
    With no drug in common there is no dose to keep (an InputError naming `new`)."""
    old_by_name = {i.drug.name: i for i in old}
    shared = [i for i in new if i.drug.name in old_by_name]
    if not shared:
        raise InputError(
            "new", "the new solution shares no drug with the old one: no dose to keep (plan the switch by hand)"
        )
    keep = min(shared, key=lambda i: i.concentration.ratio(old_by_name[i.drug.name].concentration))
    return BridgeRule(keep.drug.name, old_by_name[keep.drug.name].concentration, keep.concentration)


@dataclass(frozen=True, slots=True)
class BridgeRate:
    wanted: Quantity  # mL/day that gives the new dose with the old solution
    runs: Quantity  # mL/day the pump can run: `wanted`, or the nearest rate it can
    problem: str  # why `runs` differs from `wanted`, in words ("" when it does not)
    limit: Cited | None = None  # the pump's limit that decided it


def bridge_rate(pump: PumpModel, wanted: Quantity) -> BridgeRate:
    """The rate the pump can run for the bridge: its fixed rate (constant-flow), or `wanted` kept inside its range."""
    wanted = wanted.in_unit("mL/day")
    if pump.fixed_rate is not None:
        fixed = pump.fixed_rate.value.in_unit("mL/day")
        if fixed == wanted:
            return BridgeRate(wanted, fixed, "")
        return BridgeRate(
            wanted,
            fixed,
            f"the {pump.id} pump runs only at its fixed {fixed.format('mL/day')}: it cannot run the bridge rate "
            f"{wanted.format('mL/day')}",
            pump.fixed_rate,
        )
    if pump.rate_min is not None and wanted < pump.rate_min.value:
        low = pump.rate_min.value.in_unit("mL/day")
        return BridgeRate(
            wanted,
            low,
            f"the bridge rate {wanted.format('mL/day')} is below the {pump.id} pump's minimum {low.format('mL/day')}",
            pump.rate_min,
        )
    if pump.rate_max is not None and wanted > pump.rate_max.value:
        high = pump.rate_max.value.in_unit("mL/day")
        return BridgeRate(
            wanted,
            high,
            f"the bridge rate {wanted.format('mL/day')} is above the {pump.id} pump's maximum {high.format('mL/day')}",
            pump.rate_max,
        )
    return BridgeRate(wanted, wanted, "")


def _times(dose: Quantity, target: Quantity) -> str:
    return f"{format_number(dose.ratio(target), 3)}× the new dose" if target.base > 0 else "the new dose is zero"


def unworkable_advice(
    rule: BridgeRule, rate: BridgeRate, new_rate: Quantity, volume: Quantity, dose_unit: str, programmable: bool
) -> str:
    """What happens when the pump cannot run the bridge, and what to do instead, in words."""
    new_dose = (new_rate * rule.new_concentration).in_unit(dose_unit)
    unbridged = (new_rate * rule.old_concentration).in_unit(dose_unit)
    at_runs = (rate.runs * rule.old_concentration).in_unit(dose_unit)
    hours = Quantity.of(volume.to("mL") / rate.runs.to("mL/day"), "day").format("h", 3)
    plain_hours = Quantity.of(volume.to("mL") / new_rate.to("mL/day"), "day").format("h", 3) if new_rate.base else ""
    if not programmable:
        return (
            f"{rate.problem}; the old solution runs out at that rate: {rule.kept} {at_runs.format(dose_unit, 3)} "
            f"({_times(at_runs, new_dose)}) for {hours}, then the new solution gives {new_dose.format(dose_unit, 3)}"
        )
    without = (
        f"without a bridge the new rate {new_rate.format('mL/day')} pushes the old solution at {rule.kept} "
        f"{unbridged.format(dose_unit, 3)} ({_times(unbridged, new_dose)}) for {plain_hours}"
    )
    return (
        f"{rate.problem}: no bridge can keep {rule.kept} at the new {new_dose.format(dose_unit, 3)}; {without}. "
        "Instead aspirate the old solution from the catheter access port before the new program starts (then no "
        f"bridge is needed), or run the bridge at {rate.runs.format('mL/day')}: {rule.kept} "
        f"{at_runs.format(dose_unit, 3)} ({_times(at_runs, new_dose)}) for {hours}"
    )


def bridge_program(new: PumpProgram, rule: BridgeRule) -> Calculated[PumpProgram]:
    """What the pump runs while the old solution flushes: the new program with every rate scaled by the rule's
    factor (so each step gives its new dose with the old solution), kept to rates the pump can run. The
    assumptions say where a rate could not be kept."""
    steps = []
    problems: list[str] = []
    for s in new.steps:
        rate = bridge_rate(new.pump, s.rate * rule.factor)
        if rate.problem and rate.problem not in problems:
            problems.append(rate.problem)
        steps.append(replace(s, rate=rate.runs, dose=None))
    notes = [f"keeps {rule.kept} at its new dose: each rate × {rule.new_concentration} ÷ old {rule.old_concentration}"]
    notes += [f"{p}: the pump runs the nearest rate it can, so the dose is not the new one" for p in problems]
    return Calculated(replace(new, steps=tuple(steps)), tuple(notes))


@dataclass(frozen=True, slots=True)
class BridgePlan:
    """The bridge a program change would run, for the screens that show it before it is applied."""

    volume: Quantity  # old solution in pump and catheter
    rates: tuple[Quantity, ...]  # what the pump runs, step by step (mL/day)
    duration: Quantity  # at the bridge's mean daily volume
    kept: str  # the drug whose new daily dose it keeps
    kept_dose: Quantity  # that dose (the most in any 24 h of the new program)

    def about_hours(self) -> str:
        """The duration to 0.1 h: how long the bridge takes, not a setting the pump is given."""
        tenths = round(self.duration.to("h") * 10)
        return f"{format_number(Fraction(tenths, 10))} h"

    def words(self) -> str:
        rates = " / ".join(r.format("mL/day") for r in dict.fromkeys(self.rates))
        return (
            f"{self.volume.format('mL')} of the old solution at {rates} (the new {self.kept} "
            f"{self.kept_dose.format(None, 3)} with the old concentration) for about {self.about_hours()}, "
            "then the new program"
        )


def bridge_plan(old: Sequence[Ingredient], new: PumpProgram) -> Calculated[BridgePlan]:
    """The bridge from `old` (what pump and catheter hold) to `new`: volume, rates, duration (InputError naming
    `new` when the solutions share no drug)."""
    rule = bridge_rule(old, new.solution)
    volume = new.pathway_volume()
    bridge = bridge_program(new, rule)
    mean = bridge.value.mean_daily_volume().to("mL/day")
    duration = Quantity.of(volume.to("mL") / mean, "day").in_unit("h") if mean > 0 else Quantity.of(0, "h")
    kept = next(i for i in new.solution if i.drug.name == rule.kept)
    dose = kept.dose_rate(new.daily_volume())
    rates = tuple(step.rate for step in bridge.value.steps)
    return Calculated(BridgePlan(volume, rates, duration, rule.kept, dose), bridge.assumptions)


@dataclass(frozen=True, slots=True)
class BridgeBolus:
    volume: Quantity  # old solution left in the pump pathway and catheter
    rate: Quantity  # mL/day the old solution runs at (what the pump can run)
    duration: Quantity
    old_doses: dict[str, Quantity]  # each old drug's daily dose while the bridge runs
    new_doses: dict[str, Quantity]  # each new drug's prescribed daily dose
    ends_at: datetime | None  # when the new program starts, if a start was given
    wanted_rate: Quantity  # the rate that would keep the new dose
    workable: bool  # False: the pump cannot run `wanted_rate` (see `advice`)
    advice: str  # what happens instead and what to do, when not workable


def bridge_bolus(
    pump: PumpModel,
    catheter: CatheterModel,
    length: Quantity,
    old: Sequence[Ingredient],
    new: Sequence[Ingredient],
    new_rate: Quantity,
    start: datetime | None = None,
) -> Calculated[BridgeBolus]:
    """Deliver the old solution still in pump and catheter at the rate that keeps the new daily dose.

    The rate keeps the new prescribed daily dose of the drug whose concentration falls most (`bridge_rule`); after
    the bridge the new program starts. When the pump cannot run that rate, the answer runs the nearest rate it can and
    says what that gives and what to do instead.
    """
    if not new_rate.is_kind(RATE) or new_rate.base <= 0:
        raise InputError("new_rate", f"expected a rate above zero such as '0.5 mL/day', got '{new_rate}'")
    check_solution(old, "old[{i}]")
    check_solution(new, "new[{i}]")
    path = pathway_volume(pump, catheter, length)
    notes = list(path.assumptions)
    new_doses = {i.drug.name: i.dose_rate(new_rate) for i in new}
    rule = bridge_rule(old, new)
    kept_dose = new_doses[rule.kept]
    rate = bridge_rate(pump, new_rate * rule.factor)
    runs = rate.runs
    duration_days = path.value.to("mL") / runs.to("mL/day")
    duration = Quantity.of(duration_days, "day").in_unit("h")
    old_doses = {i.drug.name: i.dose_rate(runs) for i in old}
    notes.append(
        f"keeps {rule.kept} at the new {kept_dose}: rate = {kept_dose} ÷ old {rule.old_concentration} = "
        f"{rate.wanted.format('mL/day')}"
    )
    advice = ""
    if rate.problem:
        unit = next(i.drug.dose_rate_unit for i in new if i.drug.name == rule.kept)
        advice = unworkable_advice(rule, rate, new_rate, path.value, unit, pump.fixed_rate is None)
        notes.append(advice)
    for name, dose in old_doses.items():
        if name != rule.kept:
            target = new_doses.get(name)
            notes.append(f"{name} meanwhile runs at {dose}" + (f" (new program: {target})" if target else ""))
    ends = None if start is None else start + timedelta(microseconds=int(duration_days * DAY_US))
    value = BridgeBolus(path.value, runs, duration, old_doses, new_doses, ends, rate.wanted, not rate.problem, advice)
    return Calculated(value, tuple(notes))
