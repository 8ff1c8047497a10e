"""Benchmark: microseconds per next-refill-due projection of a 13-step flex program, closed form vs a
1-minute time-stepping reference computed in the same run. Run by hand: `make bench`.

The reference walks minute by minute from the fill, reading the rate off the local wall clock with zoneinfo,
until the worst-case delivery reaches the low-reservoir level; both answers must agree within one minute.
"""

from __future__ import annotations

import statistics
import time
from datetime import datetime, timedelta
from fractions import Fraction

from openidds.calculations import project
from openidds.data import load_catalog, load_library
from openidds.programfile import parse_program
from openidds.programs.program import PumpProgram

STEPS = [
    ("00:00", "0.40"),
    ("02:00", "0.35"),
    ("04:00", "0.30"),
    ("06:00", "0.45"),
    ("07:30", "0.60"),
    ("09:00", "0.55"),
    ("11:00", "0.50"),
    ("13:00", "0.65"),
    ("15:00", "0.55"),
    ("17:00", "0.60"),
    ("19:00", "0.50"),
    ("21:00", "0.45"),
    ("22:30", "0.40"),
]
PROGRAM = f"""
[pump]
model = "programmable-40"
[reservoir]
filled_at = "2027-01-20T09:00"
timezone = "America/Chicago"
volume = "40 mL"
low_alarm = "2 mL"
[[drugs]]
name = "morphine"
concentration = "10 mg/mL"
[program]
mode = "flex"
steps = [{", ".join(f'{{ at = "{a}", rate = "{r} mL/day" }}' for a, r in STEPS)}]
[patient_bolus]
volume = "0.02 mL"
duration = "10 min"
lockout = "4 h"
max_per_day = 3
[context]
care_area = "pain-noncancer"
opioid_naive = false
"""


def reference_next_refill_due(program: PumpProgram) -> tuple[datetime, int]:
    """1-minute stepping: the minute at which the worst case crosses the alarm level, vs stability expiry."""
    res = program.reservoir
    minutes = [(int(a[:2]) * 60 + int(a[3:]), Fraction(r)) for a, r in STEPS]
    extra = Fraction(program.worst_case_extra.to("mL/day"))
    target = Fraction(res.volume.to("mL") - res.low_alarm.to("mL"))
    delivered, t, n = Fraction(0), res.filled_at, 0
    while delivered < target:
        local = t.astimezone(res.zone)
        pos = local.hour * 60 + local.minute
        rate = minutes[-1][1]
        for start, r in minutes:
            if start <= pos:
                rate = r
        delivered += (rate + extra) / 1440
        t += timedelta(minutes=1)
        n += 1
    stability = res.filled_at + timedelta(days=90)
    return min(t, stability), n


def main() -> None:
    program = parse_program(PROGRAM, load_library(), load_catalog())
    closed = project(program).next_refill_due
    runs = []
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(200):
            project(program)
        runs.append((time.perf_counter() - start) / 200)
    closed_us = statistics.median(runs) * 1e6
    profile, res = program.worst_case_profile, program.reservoir
    to_alarm = res.volume - res.low_alarm
    solves = []
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(500):
            profile.time_when_delivered(res.filled_at, to_alarm)
        solves.append((time.perf_counter() - start) / 500)
    solve_us = statistics.median(solves) * 1e6

    start = time.perf_counter()
    stepped, minutes = reference_next_refill_due(program)
    stepped_us = (time.perf_counter() - start) * 1e6

    agree = abs((closed - stepped).total_seconds()) <= 60
    print("13-step flex program, 40 mL, worst case with 3 patient boluses a day, America/Chicago")
    print(
        f"closed form   : next refill due {closed.isoformat()}  {closed_us:10.1f} µs per projection "
        "(all of project(): both alarms, both empties, stability)"
    )
    print(f"closed form   : one inverse solve (worst-case alarm) {solve_us:10.1f} µs")
    print(f"1-min stepping: next refill due {stepped.isoformat()}  {stepped_us:10.1f} µs ({minutes} steps)")
    print(f"ratio         : {stepped_us / closed_us:,.0f}× faster; answers agree within one minute: {agree}")
    if not agree:
        raise SystemExit("the closed form and the reference disagree")


if __name__ == "__main__":
    main()
