"""Dose-error reduction: every check is pure and says why, citing the limit it applied.

Hard findings cannot be programmed; soft findings need a recorded override reason; info findings are read.
Daily doses are the most delivered in any 24 h of the schedule; the worst case adds every allowed patient bolus.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from fractions import Fraction

from openidds import display
from openidds.calculations.bridge import bridge_rate, bridge_rule, unworkable_advice
from openidds.calculations.projection import Projection, project
from openidds.drugs import CareAreaLimits, DrugLibrary, TitrationRule
from openidds.errors import InputError
from openidds.evidence import Cited, Guardrail
from openidds.programs.program import Context, Ingredient, PumpProgram
from openidds.quantities import DOSE_RATE, Quantity, format_number
from openidds.safety.findings import SEVERITY_RANK, Finding

SourceLookup = Callable[[str], str]


def check(
    program: PumpProgram,
    context: Context | None = None,
    current: PumpProgram | None = None,
    *,
    library: DrugLibrary | None = None,
    now: datetime | None = None,
    starting: bool = False,
    history: Sequence[tuple[datetime, PumpProgram]] = (),
) -> list[Finding]:
    """All findings for `program`, most severe first.

    `current` is the program the pump runs now (for titration steps); `now` dates the titration window;
    `starting` says this program starts the therapy (starting-dose ranges apply); `library` supplies source URLs.
    `history`: every program the pump has run, oldest first, each with the instant it took effect (the clinic's
    record). With it, the last increase of each drug and every step inside its titration window come from the
    record, whatever the program file's `last_dose_change_at` says; its last program is the current one.
    """
    if history and current is None:
        current = history[-1][1]
    ctx = context or program.context
    if now is not None and ctx.last_dose_change_at is not None and ctx.last_dose_change_at > now:
        raise InputError(
            "context.last_dose_change_at",
            f"{display.instant(ctx.last_dose_change_at, program.reservoir.zone)} is after the time of this change "
            f"({display.instant(now, program.reservoir.zone)})",
        )
    urls: dict[str, str] = {k: s.url for k, s in library.sources.items()} if library is not None else {}
    checker = _Checker(program, ctx, current, urls.get, now, starting, tuple(history))
    findings = list(checker.run())
    findings.sort(key=lambda f: -SEVERITY_RANK[f.severity])
    return findings


class _Checker:
    def __init__(
        self,
        program: PumpProgram,
        context: Context,
        current: PumpProgram | None,
        url: Callable[[str], str | None],
        now: datetime | None,
        starting: bool,
        history: tuple[tuple[datetime, PumpProgram], ...] = (),
    ) -> None:
        self.history = history
        self._history_doses: list[dict[str, Quantity]] | None = None
        self.p = program
        self.ctx = context
        self.current = current
        self._url = url
        self.now = now
        self.starting = starting
        self.projection: Projection = project(program)

    def finding(self, severity: str, code: str, message: str, limit: Cited | None = None) -> Finding:
        url = (self._url(limit.source) or "") if limit is not None else ""
        return Finding(severity, code, message, limit, url)  # type: ignore[arg-type]

    def rail(
        self, rail: Guardrail | None, value: Quantity, family: str, what: str, unit: str, variant: str = ""
    ) -> Iterator[Finding]:
        """A guardrail finding: '{what} {value} is above the hard maximum {limit}'."""
        if rail is None:
            return
        bound = rail.crossed(value)
        if bound is None:
            return
        side = "above the" if bound.side == "max" else "below the"
        kind = "maximum" if bound.side == "max" else "minimum"
        consequence = {"hard": "cannot be programmed", "soft": "needs an override reason"}[bound.severity]
        yield self.finding(
            bound.severity,
            f"{family}.{variant}{bound.severity}-{bound.side}",
            f"{what} {value.format(unit)} is {side} {bound.severity} {kind} "
            f"{bound.limit.describe(unit)}: {consequence}",
            bound.limit,
        )

    def run(self) -> Iterator[Finding]:
        yield from self.pump_and_mode()
        yield from self.reservoir()
        for ing in self.p.solution:
            limits = ing.drug.care_areas.get(self.ctx.care_area)
            if limits is None:
                areas = ", ".join(ing.drug.care_areas) or "none"
                yield self.finding(
                    "hard",
                    "drug.not-for-care-area",
                    f"{ing.drug.name} has no limits for care area {self.ctx.care_area} in this library "
                    f"(it has: {areas}): it cannot be checked, so it cannot be programmed",
                )
                continue
            yield from self.drug(ing, limits)
        yield from self.patient_bolus()
        yield from self.titration()
        yield from self.refill()

    # --- pump ---------------------------------------------------------------------------------------------------
    def pump_and_mode(self) -> Iterator[Finding]:
        p, pump = self.p, self.p.pump
        if p.mode not in pump.modes:
            yield self.finding(
                "hard",
                "mode.unsupported",
                f"the {pump.id} pump ({pump.family}) has no {p.mode} mode (it has: {', '.join(pump.modes)})",
            )
        if p.mode == "flex" and "flex" in pump.modes:
            per_day: dict[int | None, int] = {}
            for s in p.steps:
                per_day[s.day] = per_day.get(s.day, 0) + 1
            most = max(per_day.values())
            if pump.max_steps_per_day is not None and most > pump.max_steps_per_day:
                yield self.finding(
                    "hard",
                    "flex.too-many-steps",
                    f"{most} rate changes in a day; the {pump.id} pump allows at most {pump.max_steps_per_day}",
                )
            if p.period == "week" and not pump.week_patterns:
                yield self.finding(
                    "hard", "flex.week-unsupported", f"the {pump.id} pump cannot vary its program by day of week"
                )
        if pump.fixed_rate is not None:
            fixed = pump.fixed_rate.value
            for s in p.steps:
                if s.rate != fixed:
                    ing = p.primary
                    wanted = s.dose or ing.dose_rate(s.rate)
                    needed = (wanted / fixed).in_unit(ing.drug.concentration_unit)
                    yield self.finding(
                        "hard",
                        "rate.fixed-by-pump",
                        f"the {pump.id} pump runs only at {fixed}: {s.rate} cannot be programmed; to give "
                        f"{wanted} of {ing.drug.name}, fill {needed} at the next refill",
                        pump.fixed_rate,
                    )
            return
        if p.mode in ("continuous", "flex"):
            for s in p.steps:
                where = "the rate" if p.mode == "continuous" else f"the rate at {s.label()}"
                if pump.rate_max is not None and s.rate > pump.rate_max.value:
                    yield self.finding(
                        "hard",
                        "rate.above-pump-max",
                        f"{where} {s.rate} is above the {pump.id} pump's maximum {pump.rate_max.describe()}",
                        pump.rate_max,
                    )
                if pump.rate_min is not None and s.rate < pump.rate_min.value:
                    yield self.finding(
                        "hard",
                        "rate.below-pump-min",
                        f"{where} {s.rate} is below the {pump.id} pump's minimum {pump.rate_min.describe()}"
                        + (" (use stopped or minimum-rate mode to pause)" if s.rate.base == 0 else ""),
                        pump.rate_min,
                    )
        if p.mode in ("stopped", "minimum-rate"):
            for ing in p.solution:
                risk = ing.drug.withdrawal_risk
                if risk is not None:
                    yield self.finding(
                        risk.severity,
                        "withdrawal.delivery-stopped" if p.mode == "stopped" else "withdrawal.minimum-rate",
                        f"{ing.drug.name} {'stopped' if p.mode == 'stopped' else 'at minimum rate'}: {risk.message}",
                    )

    def reservoir(self) -> Iterator[Finding]:
        p, pump, res = self.p, self.p.pump, self.p.reservoir
        if not pump.has_alarms:
            yield self.finding(
                "info",
                "alarm.none",
                f"the {pump.id} pump has no alarms: the refill date is the only safeguard against an empty reservoir",
            )
        else:
            for bound, side, word in ((pump.low_alarm_min, "min", "below"), (pump.low_alarm_max, "max", "above")):
                if bound is None:
                    continue
                if (side == "min" and res.low_alarm < bound.value) or (side == "max" and res.low_alarm > bound.value):
                    yield self.finding(
                        "hard",
                        f"low-alarm.pump-{side}",
                        f"low-reservoir alarm {res.low_alarm} is {word} what the {pump.id} pump allows "
                        f"({bound.describe()})",
                        bound,
                    )
        if res.volume <= res.low_alarm:
            yield self.finding(
                "soft",
                "low-alarm.at-fill",
                f"filled with {res.volume}, at or below the low-reservoir level {res.low_alarm}: "
                "the alarm sounds at once",
            )
        for ing in p.solution:
            advice = ing.drug.low_alarm_at_least
            if advice is not None and res.low_alarm < advice.value and pump.has_alarms:
                yield self.finding(
                    "info",
                    "low-alarm.withdrawal-margin",
                    f"{ing.drug.name}: a low-reservoir alarm of {res.low_alarm} may sound only after withdrawal "
                    f"starts; consider {advice.describe()}",
                    advice,
                )

    # --- drug ---------------------------------------------------------------------------------------------------
    def drug(self, ing: Ingredient, limits: CareAreaLimits) -> Iterator[Finding]:
        drug, name = ing.drug, ing.drug.name
        conc_unit, dose_unit = drug.concentration_unit, drug.dose_rate_unit
        yield from self.rail(
            limits.concentration, ing.concentration, "concentration", f"{name} concentration", conc_unit
        )
        if drug.formulations and not drug.is_formulation(ing.concentration):
            strengths = ", ".join(str(f.concentration.value) for f in drug.formulations)
            yield self.finding(
                "info",
                "concentration.not-a-product-strength",
                f"{name} {ing.concentration} is not a product strength ({strengths}): it must be diluted or "
                "compounded; have the pharmacist verify it",
            )
        dose = self.projection.daily_dose[name]
        program_bound = limits.daily_dose.crossed(dose.program)
        yield from self.rail(limits.daily_dose, dose.program, "daily-dose", f"{name} daily dose", dose_unit)
        worst_bound = limits.daily_dose.crossed(dose.worst_case)
        if worst_bound is not None and (
            program_bound is None or SEVERITY_RANK[worst_bound.severity] > SEVERITY_RANK[program_bound.severity]
        ):
            yield from self.rail(
                limits.daily_dose,
                dose.worst_case,
                "daily-dose",
                f"{name} daily dose with every allowed patient bolus",
                dose_unit,
                variant="worst-case-",
            )
        if self.starting or (self.current is not None and not _holds(self.current, name)):
            tolerant = drug.is_opioid and not self.ctx.opioid_naive and limits.starting_dose_opioid_tolerant
            rail = limits.starting_dose_opioid_tolerant if tolerant else limits.starting_dose
            who = " (opioid-tolerant)" if tolerant else (" (opioid-naive)" if drug.is_opioid else "")
            yield from self.rail(rail, dose.program, "starting-dose", f"{name} starting dose{who}", dose_unit)
        for caution in drug.cautions:
            if self.ctx.flag(caution.when):
                yield self.finding(caution.severity, f"caution.{caution.code}", f"{name}: {caution.message}")
        risk = drug.granuloma_risk
        if risk is not None:
            if risk.concentration is not None and ing.concentration >= risk.concentration.value:
                yield self.finding(
                    "info",
                    "granuloma-risk.concentration",
                    f"{name} {ing.concentration} is at or above {risk.concentration.describe(conc_unit)}, where "
                    "catheter-tip inflammatory masses are more likely: keep dose and concentration as low as possible",
                    risk.concentration,
                )
            if risk.daily_dose is not None and dose.program >= risk.daily_dose.value:
                yield self.finding(
                    "info",
                    "granuloma-risk.daily-dose",
                    f"{name} {dose.program.format(dose_unit)} is at or above {risk.daily_dose.describe(dose_unit)}, "
                    "where catheter-tip inflammatory masses are more likely: watch for loss of effect or new deficits",
                    risk.daily_dose,
                )

    # --- patient remote -----------------------------------------------------------------------------------------
    def patient_bolus(self) -> Iterator[Finding]:
        p, pb = self.p, self.p.patient_bolus
        if pb is None:
            return
        pump = p.pump
        if "patient-bolus" not in pump.modes:
            yield self.finding(
                "hard", "patient-bolus.unsupported-by-pump", f"the {pump.id} pump has no patient remote (patient bolus)"
            )
        allowed = pump.patient_bolus_drugs
        for ing in p.solution:
            name = ing.drug.name
            if allowed is not None and name not in allowed:
                yield self.finding(
                    "hard",
                    "patient-bolus.drug-not-allowed-by-pump",
                    f"the {pump.id} pump's remote gives boluses of {', '.join(allowed)} only, not {name}",
                )
            limits = ing.drug.care_areas.get(self.ctx.care_area)
            if limits is None:
                continue
            if not ing.drug.patient_bolus_allowed or limits.patient_bolus_dose is None:
                yield self.finding(
                    "hard",
                    "patient-bolus.not-for-drug",
                    f"the library sets no patient-bolus limits for {name} in {self.ctx.care_area}: "
                    "no patient bolus can be programmed",
                )
                continue
            if ing.drug.is_opioid and self.ctx.opioid_naive:
                yield self.finding(
                    "hard",
                    "patient-bolus.opioid-naive",
                    f"patient boluses of {name} for an opioid-naive patient: contraindicated",
                )
            yield from self.rail(
                limits.patient_bolus_dose,
                ing.dose(pb.volume),
                "patient-bolus-dose",
                f"{name} patient bolus",
                ing.drug.dose_unit,
            )
            yield from self.rail(
                limits.patient_boluses_per_day,
                Quantity.of(pb.max_per_day, ""),
                "patient-bolus-count",
                f"{name}: patient boluses a day",
                "",
            )
        if pb.lockout < pb.duration:
            yield self.finding(
                "hard",
                "patient-bolus.lockout-shorter-than-duration",
                f"the lockout {pb.lockout} is shorter than the bolus itself ({pb.duration})",
            )
        reachable = Fraction(1) / pb.lockout.to("day")
        if pb.max_per_day > reachable + 1:  # the first bolus needs no lockout before it
            yield self.finding(
                "info",
                "patient-bolus.daily-max-unreachable",
                f"with a {pb.lockout} lockout at most {int(reachable) + 1} boluses fit in 24 h, "
                f"fewer than the daily maximum of {pb.max_per_day}",
            )

    # --- titration against the current program ------------------------------------------------------------------
    def titration(self) -> Iterator[Finding]:
        cur = self.current
        if cur is None:
            if not self.starting:
                yield self.finding(
                    "info",
                    "titration.not-checked",
                    "no current program given: dose steps were not checked against it (give the current program)",
                )
            return
        old_proj = project(cur)
        old_by_name = {i.drug.name: i for i in cur.solution}
        for ing in self.p.solution:
            name = ing.drug.name
            old_ing = old_by_name.get(name)
            limits = ing.drug.care_areas.get(self.ctx.care_area)
            if limits is None:
                continue
            if old_ing is not None and old_ing.concentration != ing.concentration:
                yield self.finding(
                    "info",
                    "concentration.changed",
                    f"{name} concentration changes from {old_ing.concentration} to {ing.concentration}: a second "
                    "clinician must verify, and the old solution in pump and catheter needs a bridge bolus",
                )
            new, unit = self.projection.daily_dose[name].program, ing.drug.dose_rate_unit
            old = old_proj.daily_dose[name].program if old_ing is not None and _holds(cur, name) else None
            if old is None or old.base == 0:
                # Stopped or left out, then back: a titration step from the dose it ran at inside the window, not a
                # new start (otherwise a stop, or a drug taken out and put back, would bypass every step limit).
                recent = self.recent_dose(name, limits)
                if recent is None:
                    continue
                old = recent
            if new > old and limits.titration is not None and old.base > 0:
                t = limits.titration
                for severity, rule in (("hard", t.hard), ("soft", t.soft)):
                    if rule is None:
                        continue
                    excess = _step_excess(rule, old, new)
                    if excess is not None:
                        consequence = "cannot be programmed" if severity == "hard" else "needs an override reason"
                        yield self.finding(
                            severity,
                            f"titration.{severity}-max",
                            f"{name} rises from {old.format(unit)} to {new.format(unit)} (+{_pct(new, old)}); "
                            f"{severity} limit {excess.describe(unit if excess.value.is_kind(DOSE_RATE) else None)} "
                            f"per {rule.window.value}: {consequence}",
                            excess,
                        )
                        break
                yield from self.titration_window(name, limits)
                yield from self.titration_cumulative(name, limits, old, new)
            if new < old and limits.titration is not None and limits.titration.max_decrease_percent is not None:
                cut = limits.titration.max_decrease_percent
                if (old - new).ratio(old) > cut.value.base:
                    yield self.finding(
                        "soft",
                        "titration.steep-decrease",
                        f"{name} falls from {old.format(unit)} to {new.format(unit)} (−{_cut(old, new)}), more than "
                        f"{cut.describe('%')}: risk of withdrawal; needs an override reason",
                        cut,
                    )
        new_names = {i.drug.name for i in self.p.solution}
        for old_ing in cur.solution:
            risk = old_ing.drug.withdrawal_risk
            if old_ing.drug.name not in new_names and risk is not None:
                yield self.finding(
                    risk.severity, "withdrawal.drug-removed", f"{old_ing.drug.name} is removed: {risk.message}"
                )

    def window_doses(self, name: str, limits: CareAreaLimits) -> list[Quantity]:
        """The doses the drug ran at inside its hard titration window, oldest first: the one running at the
        window's start, then each program's that took effect inside it (empty without a record or a clock)."""
        rule = limits.titration.hard if limits.titration else None
        if rule is None or self.now is None or not self.history:
            return []
        start = self.now - timedelta(seconds=float(rule.window.value.to("s")))
        doses = self._doses(name)
        before = [d for at, d in doses if at <= start]
        return ([before[-1]] if before else []) + [d for at, d in doses if at > start]

    def recent_dose(self, name: str, limits: CareAreaLimits) -> Quantity | None:
        """The last dose above zero the drug ran at inside its hard titration window, or None."""
        recent = [d for d in self.window_doses(name, limits) if d.base > 0]
        return recent[-1] if recent else None

    def _doses(self, name: str) -> list[tuple[datetime, Quantity]]:
        """The drug's programmed daily dose under each program of the record, from when it took effect (each
        program projected once per check)."""
        if self._history_doses is None:
            self._history_doses = [
                {n: d.program for n, d in project(prog).daily_dose.items() if _holds(prog, n)}
                for _, prog in self.history
            ]
        zero = Quantity.of(0, self.unit(name))
        return [(at, doses.get(name, zero)) for (at, _), doses in zip(self.history, self._history_doses, strict=True)]

    def unit(self, name: str) -> str:
        return next(i.drug.dose_rate_unit for i in self.p.solution if i.drug.name == name)

    def last_increase(self, name: str) -> datetime | None:
        """When the drug's dose last went up: from the record (a start counts), or the file's
        `last_dose_change_at`, whichever is later."""
        last = self.ctx.last_dose_change_at
        previous = Quantity.of(0, self.unit(name))
        for at, dose in self._doses(name):
            if dose > previous and (last is None or at > last):
                last = at
            previous = dose
        return last

    def titration_window(self, name: str, limits: CareAreaLimits) -> Iterator[Finding]:
        last, now, t = self.last_increase(name), self.now, limits.titration
        if last is None or now is None or t is None:
            return
        elapsed = Quantity.of(Fraction(max(int((now - last).total_seconds()), 0)), "s")
        for severity, rule in (("hard", t.hard), ("soft", t.soft)):
            if rule is not None and elapsed < rule.window.value:
                yield self.finding(
                    severity,
                    f"titration-window.{severity}",
                    f"{name} was last increased {elapsed.format('h', 3)} ago; at most one increase per "
                    f"{rule.window.describe()}",
                    rule.window,
                )
                return

    def titration_cumulative(
        self, name: str, limits: CareAreaLimits, old: Quantity, new: Quantity
    ) -> Iterator[Finding]:
        """Steps inside the hard rule's window add up: from the lowest dose the pump ran in the window to the new
        one, against the hard limit (one step alone is checked above)."""
        rule = limits.titration.hard if limits.titration else None
        ran = self.window_doses(name, limits)
        if rule is None or not ran:
            return
        low = min(ran)
        if low.base <= 0 or low >= old or new <= low:
            return
        excess = _step_excess(rule, low, new)
        if excess is None:
            return
        unit = self.unit(name)
        path = " → ".join(d.format(unit) for d in [*ran, new])
        yield self.finding(
            "hard",
            "titration.cumulative-hard-max",
            f"{name} rises from {low.format(unit)} to {new.format(unit)} (+{_pct(new, low)}) within "
            f"{rule.window.value}, step by step ({path}); hard limit "
            f"{excess.describe(unit if excess.value.is_kind(DOSE_RATE) else None)} per {rule.window.value}: "
            "cannot be programmed",
            excess,
        )

    # --- refill interval ----------------------------------------------------------------------------------------
    def at(self, instant: datetime) -> str:
        """An instant in a finding's words: on the patient's wall clock ('25 Jan 2027 08:05 CST')."""
        return display.instant(instant, self.p.reservoir.zone)

    def refill(self) -> Iterator[Finding]:
        proj = self.projection
        expires, alarm = proj.stability_expires_at, proj.low_reservoir_alarm_at.worst_case
        if alarm is not None and expires < alarm:
            yield self.finding(
                "info",
                "refill.stability-first",
                f"the drug expires in the pump at {self.at(expires)}, before the low-reservoir alarm: "
                "the refill is due by stability, not by the alarm",
            )
        planned = self.ctx.planned_refill_at
        if planned is None:
            return
        empty = proj.reservoir_empty_at.worst_case
        withdrawal = [i.drug for i in self.p.solution if i.drug.withdrawal_risk is not None]
        if empty is not None and planned >= empty:
            severity = "hard" if withdrawal else "soft"
            extra = f" ({withdrawal[0].name}: withdrawal)" if withdrawal else ""
            yield self.finding(
                severity,
                "refill.after-empty",
                f"the planned refill {self.at(planned)} comes after the reservoir may run empty "
                f"({self.at(empty)}, worst case){extra}",
            )
        elif alarm is not None and planned > alarm:
            yield self.finding(
                "soft",
                "refill.after-low-alarm",
                f"the planned refill {self.at(planned)} comes after the low-reservoir alarm "
                f"({self.at(alarm)}, worst case)",
            )
        if planned > expires:
            yield self.finding(
                "soft",
                "refill.after-stability",
                f"the planned refill {self.at(planned)} comes after the drug expires in the pump ({self.at(expires)})",
            )


def bridge_findings(old: PumpProgram, new: PumpProgram) -> list[Finding]:
    """A bridge bolus from `old`'s solution to `new` that the pump cannot run is a finding that says what the old
    solution then gives and what to do instead: soft when its rate is outside a programmable pump's range, info on a
    fixed-rate pump (the old dose runs on until the old solution has flushed). With no drug in common there is no
    bridge at all (an InputError naming `new`)."""
    rule = bridge_rule(old.solution, new.solution)
    kept = next(i for i in new.solution if i.drug.name == rule.kept)
    path = new.pathway_volume()
    for step in new.steps:
        rate = bridge_rate(new.pump, step.rate * rule.factor)
        if rate.problem:
            programmable = new.pump.fixed_rate is None
            advice = unworkable_advice(rule, rate, step.rate, path, kept.drug.dose_rate_unit, programmable)
            if not programmable:  # nothing to choose: the new dose starts once the old solution has flushed
                return [Finding("info", "bridge.fixed-rate", advice, rate.limit)]
            return [Finding("soft", "bridge.unworkable", advice, rate.limit)]
    return []


def _holds(program: PumpProgram, name: str) -> bool:
    return any(i.drug.name == name for i in program.solution) and program.mode not in ("stopped",)


def _pct(a: Quantity, b: Quantity) -> str:
    """How much a is above b, in % of b."""
    return f"{format_number((a - b).ratio(b) * 100, 3)} %"


def _cut(old: Quantity, new: Quantity) -> str:
    """How much new is below old, in % of old."""
    return f"{format_number((old - new).ratio(old) * 100, 3)} %"


def _step_excess(rule: TitrationRule, old: Quantity, new: Quantity) -> Cited | None:
    """The rule's limit that the step from old to new breaks, or None."""
    if rule.max_increase is not None and new - old > rule.max_increase.value:
        return rule.max_increase
    if rule.max_increase_percent is not None and (new - old).ratio(old) > rule.max_increase_percent.value.base:
        return rule.max_increase_percent
    return None
