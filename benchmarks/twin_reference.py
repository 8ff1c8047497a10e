"""Two independent references for the pump twin: a 1-minute time-stepping loop and a SimPy discrete-event model.

Neither uses the twin, the core's closed-form integrals (RateSchedule, DeliveryProfile) or its clock helpers: they
read a program's plain settings and find the local wall clock through zoneinfo. Nor do they share their delivery
or remote logic with each other, so each one checks the twin on its own.

The subset they model:
- a continuous or flex (day or week) program on a programmable pump, in the clinic's zone with daylight saving:
  the rate at an instant is the step in effect at the local wall-clock time, in mL per 24 h of elapsed time;
- the patient's remote, for a program whose pump and drugs allow it (the checker's remote blocks are not
  modelled): denied with no bolus programmed, an empty or low reservoir, inside the lockout since the last
  accepted request, or at the daily maximum in the trailing 24 h; an accepted bolus runs evenly over its duration
  on top of the schedule;
- refills of the same solution (a pocket fill is subtracted), the low-reservoir alarm when the reservoir comes down
  to the low level (cleared by a refill; like the twin, none after a refill at or below the level) and the
  empty-reservoir alarm, after which nothing is delivered.

The catheter pathway is primed with the same solution, so the outlet receives exactly what leaves the reservoir.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections import deque
from collections.abc import Generator, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import simpy

from openidds.programs.program import PumpProgram
from openidds.twin.events import Event, Refill, RemoteRequest

US = 1_000_000
MINUTE_US = 60 * US
DAY_US = 86_400 * US
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TOLERANCE_ML = Fraction(1, 1000)  # 1 µL, the bound for the 1-minute reference

LOW = "the reservoir is low: call the clinic for a refill"


@dataclass
class Summary:
    """What a run ends with, the same for the twin and both references."""

    reservoir: Fraction  # mL
    outlet_volume: Fraction  # mL
    decisions: list[tuple[int, bool, str]]  # (at, accepted, reason)
    alarms: list[tuple[str, int]]  # (name, raised at), in the order raised
    samples: dict[int, tuple[Fraction, Fraction]] = field(default_factory=dict)  # at → (reservoir, outlet volume)


@dataclass(frozen=True)
class Settings:
    """A program's plain settings, as the references read them."""

    zone: ZoneInfo
    start: int  # the fill, UTC µs
    fill_ml: Fraction
    low_ml: Fraction
    has_alarms: bool
    period_us: int
    steps: tuple[tuple[int, Fraction], ...]  # (wall µs from the start of the period, mL/day), in order
    starts: tuple[int, ...]  # the steps' wall µs alone, for bisection
    bolus: tuple[Fraction, int, int, int] | None  # (volume mL, duration µs, lockout µs, max per day)

    @classmethod
    def of(cls, program: PumpProgram) -> Settings:
        if program.mode not in ("continuous", "flex") or program.pump.fixed_rate is not None:
            raise ValueError("the references model continuous and flex programs on programmable pumps only")
        res = program.reservoir
        week = program.mode == "flex" and program.period == "week"
        steps = tuple(
            (((s.day or 0) * 86_400 + s.at.hour * 3600 + s.at.minute * 60 + s.at.second) * US, s.rate.to("mL/day"))
            for s in program.steps
        )
        pb = program.patient_bolus
        bolus = None
        if pb is not None:
            # Truncated to whole µs, as the pump's timer counts.
            bolus = (pb.volume.to("mL"), int(pb.duration.to("s") * US), int(pb.lockout.to("s") * US), pb.max_per_day)
        return cls(
            zone=res.zone,
            start=(res.filled_at - _EPOCH) // timedelta(microseconds=1),
            fill_ml=res.volume.to("mL"),
            low_ml=res.low_alarm.to("mL"),
            has_alarms=program.pump.has_alarms,
            period_us=(7 if week else 1) * DAY_US,
            steps=steps,
            starts=tuple(at for at, _ in steps),
            bolus=bolus,
        )

    def wall_position(self, local: datetime) -> int:
        """Local wall-clock µs from the start of the period (Monday 00:00 for a week)."""
        day = local.weekday() if self.period_us > DAY_US else 0
        return ((day * 24 + local.hour) * 3600 + local.minute * 60 + local.second) * US + local.microsecond

    def step_at(self, position: int) -> int:
        """Index of the step in effect at a wall position: before the first, the last of the previous period."""
        return bisect_right(self.starts, position) - 1  # -1 is the last step


def _validate(events: Sequence[Event], start: int, until: int, samples: Iterable[int]) -> None:
    if until < start:
        raise ValueError("the run ends before the fill")
    for prev, e in pairwise(events):
        if e.at < prev.at:
            raise ValueError("events must be in time order")
    for e in events:
        if not start <= e.at <= until:
            raise ValueError("an event falls outside the run")
        if not isinstance(e, RemoteRequest | Refill) or (isinstance(e, Refill) and e.solution is not None):
            raise ValueError(f"outside the modelled subset: {e!r}")
    if any(not start <= s <= until for s in samples):
        raise ValueError("a sample instant falls outside the run")


def _ceil(x: Fraction) -> int:
    return -((-x.numerator) // x.denominator)


# --- (a) 1-minute time stepping ---------------------------------------------------------------------------------


def minute_stepping(program: PumpProgram, events: Sequence[Event], until: int, samples: Iterable[int] = ()) -> Summary:
    """The classic loop: minute by minute on whole UTC minutes, the rate read off the local wall clock at the start
    of each minute, plus each running bolus's share of that minute. A minute holding an event or a sample is split
    there, so decisions and samples see the reservoir at their exact instant. Alarms fall at the end of the
    (part-)minute in which the level is reached: up to one minute after the exact instant."""
    s = Settings.of(program)
    marks = sorted(set(samples))
    _validate(events, s.start, until, marks)
    # mL/day and mL per minute for each wall minute of the period: lookup tables, as pump firmware would hold.
    per_minute = [s.steps[s.step_at(m * MINUTE_US)][1] for m in range(s.period_us // MINUTE_US)]
    minute_ml = [rate / 1440 for rate in per_minute]

    reservoir, outlet = s.fill_ml, Fraction(0)
    low = s.low_ml
    armed = s.has_alarms and reservoir > low  # the low alarm can still go off before the next refill
    decisions: list[tuple[int, bool, str]] = []
    alarms: list[tuple[str, int]] = []
    taken: dict[int, tuple[Fraction, Fraction]] = {}
    accepted: list[int] = []
    running: list[tuple[int, int, Fraction]] = []  # boluses: (start, end, volume mL)

    t, i, j = s.start, 0, 0
    minute = 0  # wall minute of the period, read at each whole UTC minute
    next_grid = t
    while True:
        while i < len(events) and events[i].at == t:
            e = events[i]
            i += 1
            if isinstance(e, Refill):
                reservoir = e.volume_ml - e.pocket_ml
                armed = s.has_alarms and reservoir > low
                if s.has_alarms and not armed:  # filled to at or below the alarm level: it sounds at once
                    alarms.append(("low-reservoir", t))
                continue
            # A remote request, in the order of the pump's checks.
            reason = ""
            if s.bolus is None:
                reason = "no patient bolus is programmed"
            elif reservoir <= 0:
                reason = "the reservoir is empty"
            elif s.has_alarms and reservoir <= low:
                reason = LOW
            else:
                volume, duration, lockout, most = s.bolus
                recent = [a for a in accepted[-most:] if t - a < DAY_US]
                locked = bool(accepted) and t - accepted[-1] < lockout
                if locked or len(recent) >= most:
                    # The first instant both rules allow: lockout over, and the oldest recent dose 24 h old.
                    free = [accepted[-1] + lockout] if locked else []
                    if len(recent) >= most:
                        free.append(recent[0] + DAY_US)
                    minutes = _ceil(Fraction(max(free) - t, MINUTE_US))
                    rule = f"daily maximum of {most} reached" if len(recent) >= most else "lockout"
                    reason = f"{rule}: next dose possible in {minutes} min"
                else:
                    accepted.append(t)
                    running.append((t, t + duration, volume))
            decisions.append((t, not reason, reason or "dose given"))
        while j < len(marks) and marks[j] == t:
            taken[t] = (reservoir, outlet)
            j += 1
        if t >= until:
            break
        if t >= next_grid:
            minute = s.wall_position(datetime.fromtimestamp(t // US, s.zone)) // MINUTE_US
            next_grid = (t // MINUTE_US + 1) * MINUTE_US
        end = min(next_grid, until)
        if i < len(events) and events[i].at < end:
            end = events[i].at
        if j < len(marks) and marks[j] < end:
            end = marks[j]

        volume_ml = minute_ml[minute] if end - t == MINUTE_US else per_minute[minute] * (end - t) / DAY_US
        if running:
            running = [b for b in running if b[1] > t]
            for b_start, b_end, b_volume in running:
                overlap = min(end, b_end) - max(t, b_start)
                if overlap > 0:
                    volume_ml += b_volume * overlap / (b_end - b_start)
        if reservoir and volume_ml:  # never negative: zero is empty
            if volume_ml >= reservoir:
                volume_ml = reservoir
            reservoir -= volume_ml
            outlet += volume_ml
            if armed and reservoir <= low:
                alarms.append(("low-reservoir", end))
                armed = False
            if not reservoir and s.has_alarms:
                alarms.append(("empty-reservoir", end))
        t = end
    return Summary(reservoir, outlet, decisions, alarms, taken)


# --- (b) SimPy discrete-event model -----------------------------------------------------------------------------


def _offset_changes(zone: ZoneInfo, start: int, end: int) -> list[int]:
    """UTC µs of each UTC-offset change in (start, end]: 6-hourly probes, then bisection to the second."""

    def offset(second: int) -> timedelta | None:
        return datetime.fromtimestamp(second, zone).utcoffset()

    found: list[int] = []
    lo_s, hi_s = start // US, -(-end // US)
    probes = [*range(lo_s, hi_s, 6 * 3600), hi_s]
    for a, b in pairwise(probes):
        if offset(a) != offset(b):
            before = offset(a)
            while b - a > 1:
                mid = (a + b) // 2
                a, b = (mid, b) if offset(mid) == before else (a, mid)
            if start < b * US <= end:
                found.append(b * US)
    return found


class _SimPump:
    """The pump as SimPy sees it: its delivery is the current rate integrated exactly between events."""

    def __init__(self, env: simpy.Environment, s: Settings, until: int) -> None:
        self.env, self.s = env, s
        self.t = s.start  # delivery is integrated up to here
        self.reservoir, self.outlet = s.fill_ml, Fraction(0)
        self.schedule_rate = Fraction(0)  # mL/day
        self.bolus_rate = Fraction(0)  # mL/day, all running boluses
        self.low_on = False
        self.accepted: deque[int] = deque()  # accepted requests of the trailing 24 h
        self.last_accepted: int | None = None
        self.decisions: list[tuple[int, bool, str]] = []
        self.alarms: list[tuple[str, int]] = []
        self.samples: dict[int, tuple[Fraction, Fraction]] = {}
        self.level_token = 0  # only the newest level watcher may act
        self.steps_process = env.process(self.steps())
        env.process(self.clock(_offset_changes(s.zone, s.start, until)))

    @property
    def now(self) -> int:
        now = self.env.now
        assert isinstance(now, int)  # whole µs throughout: every delay is an int
        return now

    def integrate(self, now: int) -> None:
        """Deliver the constant rate of [self.t, now), solving any level crossing inside it exactly."""
        if now <= self.t:
            return
        rate = self.schedule_rate + self.bolus_rate
        if self.reservoir > 0 and rate > 0:
            before, t0 = self.reservoir, self.t
            volume = rate * (now - t0) / DAY_US
            low = self.s.low_ml
            if self.s.has_alarms and not self.low_on and before > low >= before - volume:
                # The pump reports the whole µs at or just after the level is reached.
                self.alarms.append(("low-reservoir", t0 + _ceil((before - low) * DAY_US / rate)))
                self.low_on = True
            if volume >= before:
                if self.s.has_alarms:
                    self.alarms.append(("empty-reservoir", t0 + _ceil(before * DAY_US / rate)))
                volume = before
            self.reservoir -= volume
            self.outlet += volume
        self.t = now

    def watch_levels(self) -> None:
        """(Re)start the watcher that wakes the pump when the reservoir reaches its next level at this rate."""
        self.level_token += 1
        rate = self.schedule_rate + self.bolus_rate
        if self.reservoir <= 0 or rate <= 0:
            return
        low = self.s.low_ml
        level = low if self.s.has_alarms and not self.low_on and self.reservoir > low else Fraction(0)
        self.env.process(self._wake(self.level_token, _ceil((self.reservoir - level) * DAY_US / rate)))

    def _wake(self, token: int, delay: int) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(delay)
        if token == self.level_token:
            self.integrate(self.now)
            self.watch_levels()

    def steps(self) -> Generator[simpy.Event, Any, None]:
        """Schedule step changes: read the wall clock, run that step until the clock reaches the next one."""
        s = self.s
        while True:
            now = self.now
            self.integrate(now)
            local = (_EPOCH + timedelta(microseconds=now)).astimezone(s.zone)
            position = s.wall_position(local)
            k = s.step_at(position)
            self.schedule_rate = s.steps[k][1]
            self.watch_levels()
            next_at = s.starts[k + 1] if k + 1 < len(s.starts) else s.starts[0] + s.period_us
            # Under one UTC offset the wall clock runs with elapsed time; the clock process interrupts at a change.
            with suppress(simpy.Interrupt):
                yield self.env.timeout(next_at - position)

    def clock(self, changes: list[int]) -> Generator[simpy.Event, Any, None]:
        """Daylight-saving changes: the wall clock jumps, so the step in effect is read again."""
        for at in changes:
            yield self.env.timeout(at - self.now)
            self.steps_process.interrupt()

    def inputs(self, items: list[tuple[int, Event | None]]) -> Generator[simpy.Event, Any, None]:
        """Remote requests, refills and sample instants (None), in their listed order."""
        for at, item in items:
            if at > self.now:
                yield self.env.timeout(at - self.now)
            self.integrate(at)
            if item is None:
                self.samples[at] = (self.reservoir, self.outlet)
            elif isinstance(item, Refill):
                self.reservoir = item.volume_ml - item.pocket_ml
                self.low_on = self.s.has_alarms and self.reservoir <= self.s.low_ml
                if self.low_on:  # filled to at or below the alarm level
                    self.alarms.append(("low-reservoir", at))
                self.watch_levels()
            else:
                self.request(at)

    def request(self, at: int) -> None:
        s = self.s
        if s.bolus is None:
            self.decisions.append((at, False, "no patient bolus is programmed"))
            return
        volume, duration, lockout, most = s.bolus
        while self.accepted and at - self.accepted[0] >= DAY_US:
            self.accepted.popleft()
        if self.reservoir <= 0:
            self.decisions.append((at, False, "the reservoir is empty"))
        elif s.has_alarms and self.reservoir <= s.low_ml:
            self.decisions.append((at, False, LOW))
        elif (self.last_accepted is not None and at < self.last_accepted + lockout) or len(self.accepted) >= most:
            until = self.last_accepted + lockout if self.last_accepted is not None else at
            if len(self.accepted) >= most:
                until = max(until, self.accepted[0] + DAY_US)
            minutes = _ceil(Fraction(until - at, MINUTE_US))
            rule = f"daily maximum of {most} reached" if len(self.accepted) >= most else "lockout"
            self.decisions.append((at, False, f"{rule}: next dose possible in {minutes} min"))
        else:
            self.decisions.append((at, True, "dose given"))
            self.accepted.append(at)
            self.last_accepted = at
            self.env.process(self.bolus(volume * DAY_US / duration, duration))

    def bolus(self, rate: Fraction, duration: int) -> Generator[simpy.Event, Any, None]:
        """A bolus adds its rate for its duration."""
        self.bolus_rate += rate
        self.watch_levels()
        yield self.env.timeout(duration)
        self.integrate(self.now)
        self.bolus_rate -= rate
        self.watch_levels()


def simpy_model(program: PumpProgram, events: Sequence[Event], until: int, samples: Iterable[int] = ()) -> Summary:
    """SimPy processes for step changes, clock changes, inputs (remote, refill), boluses and level watchers; the
    pump integrates rate × elapsed time exactly between them, so this model should equal the twin exactly."""
    s = Settings.of(program)
    marks = sorted(set(samples))
    _validate(events, s.start, until, marks)
    env = simpy.Environment(initial_time=s.start)
    pump = _SimPump(env, s, until)
    # Samples come after the events at their instant; events keep their listed order.
    items = sorted([(e.at, 0, n, e) for n, e in enumerate(events)] + [(m, 1, 0, None) for m in marks])
    env.process(pump.inputs([(at, e) for at, _, _, e in items]))
    env.run(until=until + 1)  # whole µs: everything at `until` runs, nothing after it
    pump.integrate(until)
    return Summary(pump.reservoir, pump.outlet, pump.decisions, pump.alarms, pump.samples)


# --- the twin, summarised the same way, and comparisons ---------------------------------------------------------


def twin_summary(program: PumpProgram, events: Sequence[Event], until: int, samples: Iterable[int] = ()) -> Summary:
    """The twin through its public API (a fresh run per sample). The models above never call this."""
    from openidds.twin import PumpTwin

    def run(end: int) -> Any:
        return PumpTwin(program).run([e for e in events if e.at <= end], end)

    twin = run(until)
    taken = {}
    for m in sorted(set(samples)):
        at_m = run(m)
        taken[m] = (at_m.reservoir, at_m.outlet_volume)
    return Summary(
        twin.reservoir,
        twin.outlet_volume,
        [(d.at, d.accepted, d.reason) for d in twin.decisions],
        [(a.name, a.raised_at) for a in twin.alarms],
        taken,
    )


def differences(expected: Summary, got: Summary, volume_tolerance: Fraction, alarm_late_us: int) -> list[str]:
    """What differs, in words (empty when they agree). `got`'s alarms may be up to `alarm_late_us` late."""
    out: list[str] = []
    if expected.decisions != got.decisions:
        first = next(
            (pair for pair in zip(expected.decisions, got.decisions, strict=False) if pair[0] != pair[1]), None
        )
        out.append(f"decisions differ ({len(expected.decisions)} vs {len(got.decisions)}; first: {first})")
    names = [a[0] for a in expected.alarms], [a[0] for a in got.alarms]
    if names[0] != names[1] or any(
        not 0 <= b[1] - a[1] <= alarm_late_us for a, b in zip(expected.alarms, got.alarms, strict=True)
    ):
        out.append(f"alarms differ: {expected.alarms} vs {got.alarms}")
    pairs: list[tuple[str, tuple[Fraction, Fraction], tuple[Fraction, Fraction] | None]]
    pairs = [("end", (expected.reservoir, expected.outlet_volume), (got.reservoir, got.outlet_volume))]
    pairs += [(str(at), v, got.samples.get(at)) for at, v in expected.samples.items()]
    for where, a, b in pairs:
        if b is None or abs(a[0] - b[0]) > volume_tolerance or abs(a[1] - b[1]) > volume_tolerance:
            out.append(f"volumes differ at {where}: {a} vs {b}")
    return out


# --- one pump-year ----------------------------------------------------------------------------------------------


def poisson_requests(per_day: float, seed: int, start: int, end: int) -> list[RemoteRequest]:
    rng = random.Random(seed)
    out: list[RemoteRequest] = []
    t = start
    while (t := t + int(rng.expovariate(per_day) * DAY_US)) < end:
        out.append(RemoteRequest(t))
    return out


# Refills every 60 days. A short fill at day 120 runs into the low-reservoir level, one at day 240 runs dry.
REFILL_ML = (Fraction(40), Fraction(34), Fraction(40), Fraction(30), Fraction(40), Fraction(40))


def pump_year(seed: int = 2027) -> tuple[PumpProgram, list[Event], int]:
    """The 13-step flex program of benchmarks/projection.py (America/Chicago, both clock changes inside the year),
    4 remote requests a day (seeded Poisson) and a refill every 60 days."""
    from benchmarks.projection import PROGRAM
    from openidds.data import load_catalog, load_library
    from openidds.programfile import parse_program

    program = parse_program(PROGRAM, load_library(), load_catalog())
    start = (program.reservoir.filled_at - _EPOCH) // timedelta(microseconds=1)
    until = start + 365 * DAY_US
    refills = [Refill(start + 60 * k * DAY_US, v) for k, v in enumerate(REFILL_ML, 1)]
    events: list[Event] = [*refills, *poisson_requests(4, seed, start, until)]
    return program, sorted(events, key=lambda e: e.at), until
