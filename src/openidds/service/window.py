"""A patient's refill window from their pump twin (clinic.window), and the refill cycle the planner uses.

The twin gives today's residual as the clinic expects it and the band the pump's accuracy allows; from the lowest
residual in that band, the pump at the top of its band with every allowed bolus reaches the low-reservoir level
soonest. The expected residual at the programmed rate alone (no boluses: the most that may be left) tells when a
refill stops wasting more than the clinic's share.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from math import floor
from zoneinfo import ZoneInfo

from openidds.calculations import stability_limit
from openidds.clinic.calendar import ClinicCalendar
from openidds.clinic.citations import Citation, from_cited
from openidds.clinic.settings import ClinicSettings
from openidds.clinic.window import RefillWindow, WindowInputs, refill_window
from openidds.programs.clock import DAY_US, to_us
from openidds.programs.program import ML_PER_DAY, PumpProgram
from openidds.twin import PumpTwin


def margin_of(settings: ClinicSettings, program: PumpProgram) -> tuple[int, str, Citation]:
    """The booking margin for the drugs in the pump (the largest of theirs), in days, where it comes from in words,
    and its citation."""
    scheduling = settings.scheduling
    assert scheduling is not None
    days, which = scheduling.margin_days(i.drug.name for i in program.solution)
    cited = scheduling.margins.default if which == "default" else scheduling.margins.drugs[which]
    name = "the clinic's margin" if which == "default" else f"the {which} margin"
    return days, f"{name}, {cited.describe('day')}", from_cited(cited, settings.sources)


def window_for(
    twin: PumpTwin,
    program: PumpProgram,
    settings: ClinicSettings,
    now: datetime,
    expires_at: datetime | None,
    replacement_by: int | None,
    replacement_words: str = "the pump replacement is planned by",
) -> RefillWindow | None:
    """The window for the fill in the pump now (None: the clinic has no scheduling settings)."""
    scheduling = settings.scheduling
    if scheduling is None:
        return None
    zone = ZoneInfo(settings.timezone)
    accuracy = program.pump.accuracy.value.base
    low_level = program.reservoir.low_alarm.to("mL")
    band = twin.expected_residual()
    lowest = band.low.to("mL")
    to_go = lowest - low_level
    if to_go <= 0:
        # already at the level at the worst case: when it got there, counted from the fill at the program's worst case
        # (not "now": a window that slid with the clock would never be overdue)
        reached = (twin.recorded_fill - low_level) / (1 + accuracy)
        alarm_at: int | None = min(
            twin.t, program.worst_case_profile.time_when_delivered_us(twin.recorded_fill_at, reached) or twin.t
        )
    else:
        # at the top of the band the pump delivers (1 + accuracy) × the programmed volume
        alarm_at = twin.projected_at(to_go / (1 + accuracy), worst_case=True)
    stable_until = twin.recorded_fill_at + int(stability_limit(program).value.to("day") * DAY_US)
    expires = None if expires_at is None else to_us(expires_at)
    days, why, citation = margin_of(settings, program)
    bounds = [b for b in (alarm_at, stable_until, expires, replacement_by) if b is not None]
    limit = min(bounds) - days * DAY_US  # about the latest safe instant (the pure rule settles the day)
    share = scheduling.max_waste.value.base
    left = band.high.to("mL")  # the most that may be left: the bottom of the band, no boluses
    # What refilling at the limit throws away anyway (stability or a date comes first), plus the share of the fill
    # the clinic accepts to throw away on top of it by refilling earlier
    at_limit = max(Fraction(0), left - program.profile.delivered_ml(twin.t, limit)) if limit > twin.t else left
    keep = share * twin.recorded_fill + at_limit
    useful = twin.t if left <= keep else twin.projected_at(left - keep, worst_case=False)
    inputs = WindowInputs(
        today=now.astimezone(zone).date(),
        zone=settings.timezone,
        alarm_worst_at=alarm_at,
        accuracy=f"±{_percent(accuracy)}",
        stability_until=stable_until,
        expires_at=expires,
        replacement_by=replacement_by,
        replacement_words=replacement_words,
        useful_from=useful,
        waste_share=_percent(share),
        margin_days=days,
        margin_why=why,
        margin_citation=citation,
    )
    return refill_window(inputs, ClinicCalendar(scheduling))


def _percent(share: Fraction) -> str:
    value = share * 100
    return f"{value.numerator // value.denominator if value.denominator == 1 else float(value):g} %"


@dataclass(frozen=True, slots=True)
class Cycle:
    """Days from a full refill to the next one: useful from `shortest`, safe until `longest` (margin taken)."""

    shortest: int
    longest: int


def cycle_for(program: PumpProgram, settings: ClinicSettings, volume: Fraction) -> Cycle | None:
    """The refill cycle after a fill of `volume` mL at the program's rates (closed form: the mean and the
    worst-case daily volumes), for the planner's later visits. None without scheduling settings."""
    scheduling = settings.scheduling
    if scheduling is None:
        return None
    low = program.reservoir.low_alarm.to("mL")
    accuracy = program.pump.accuracy.value.base
    worst = program.worst_case_daily_volume().to(ML_PER_DAY) * (1 + accuracy)
    mean = program.mean_daily_volume().to(ML_PER_DAY)
    days, _, _ = margin_of(settings, program)
    stable = stability_limit(program).value.to("day")
    longest_raw = min((volume - low) / worst if worst > 0 else stable, stable)
    longest = max(1, floor(longest_raw) - days)
    # The window's rule (clinic.window): useful once refilling throws away at most the waste share of the fill more
    # than refilling on the latest safe day would, at the mean rate
    extra = scheduling.max_waste.value.base * volume
    spread = floor(extra / mean) if mean > 0 else longest
    shortest = max(1, longest - spread)
    return Cycle(shortest, longest)
