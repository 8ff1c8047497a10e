"""Benchmark: milliseconds per pump-year of the twin, against the 1-minute time-stepping reference and the SimPy
model timed in the same run. Run by hand from the repository root: `make bench-twin`
(or `.venv/bin/python benchmarks/twin_throughput.py`).

One pump-year: the 13-step flex program of benchmarks/projection.py in America/Chicago (both clock changes),
4 remote requests a day (seeded Poisson) and a refill every 60 days. Events are built outside the timed part. The
three results must agree (decisions identical, volumes within 1 µL of the 1-minute reference and exactly equal to
SimPy), or the script exits non-zero.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `benchmarks` as a package, run from anywhere

from benchmarks.twin_reference import (
    DAY_US,
    MINUTE_US,
    TOLERANCE_ML,
    differences,
    minute_stepping,
    pump_year,
    simpy_model,
    twin_summary,
)
from openidds.programs.clock import to_us
from openidds.twin import PumpTwin

TARGET_MS = 5.0  # the targets
TARGET_SPEEDUP = 1_000


def timed(run: Callable[[], Any]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    program, events, until = pump_year()
    # Long-lived data (drug library, device catalog, the program) as a clinic service or fleet worker holds it:
    # out of the cyclic collector's way, so every run pays for its own objects only.
    gc.freeze()
    start = to_us(program.reservoir.filled_at)
    samples = [start + k * 30 * DAY_US for k in range(1, 13)]

    twin_runs = [timed(lambda: PumpTwin(program).run(events, until)) for _ in range(21)]
    twin_s = statistics.median(twin_runs)
    simpy_s = statistics.median(timed(lambda: simpy_model(program, events, until)) for _ in range(3))
    minute_s = timed(lambda: minute_stepping(program, events, until))

    # The comparison runs (with samples) are separate from the timed ones.
    twin = twin_summary(program, events, until, samples)
    problems = [
        *(
            f"1-minute: {p}"
            for p in differences(twin, minute_stepping(program, events, until, samples), TOLERANCE_ML, MINUTE_US - 1)
        ),
        *(f"SimPy: {p}" for p in differences(twin, simpy_model(program, events, until, samples), Fraction(0), 0)),
    ]

    accepted = sum(1 for _, ok, _ in twin.decisions if ok)
    twin_ms, best_ms = twin_s * 1e3, min(twin_runs) * 1e3
    print(
        f"one pump-year: 13-step flex program, America/Chicago, {len(twin.decisions)} remote requests "
        f"({accepted} accepted), {len(events) - len(twin.decisions)} refills, alarms: "
        f"{', '.join(name for name, _ in twin.alarms) or 'none'}"
    )
    print(
        f"twin           : {twin_ms:8.2f} ms per pump-year (median of {len(twin_runs)}, best {best_ms:.2f}; "
        f"target ≤ {TARGET_MS:g} ms: {'met' if twin_ms <= TARGET_MS else 'NOT met'})"
    )
    print(f"SimPy model    : {simpy_s:8.3f} s  ({simpy_s / twin_s:,.0f}× the twin's time)")
    print(
        f"1-min stepping : {minute_s:8.3f} s  ({minute_s / twin_s:,.0f}× the twin's time; "
        f"target ≥ {TARGET_SPEEDUP:,}×: {'met' if minute_s / twin_s >= TARGET_SPEEDUP else 'NOT met'})"
    )
    if problems:
        print("results DIFFER:", *problems, sep="\n  ", file=sys.stderr)
        raise SystemExit(1)
    print(
        f"results agree  : decisions identical; reservoir and outlet at the end and {len(samples)} samples within "
        "1 µL of the 1-minute reference and exactly equal to SimPy; alarms exact (SimPy) and within the minute"
    )


if __name__ == "__main__":
    main()
