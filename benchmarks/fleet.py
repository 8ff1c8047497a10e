"""Benchmark: a 10,000 pump-year fleet study on 2 worker processes, against the ≤ 30 s target. Run by hand:
`make bench-fleet` (or `python benchmarks/fleet.py --patients 10000 --years 1`).

The time is wall-clock for everything `idds fleet` does: sampling the population, building and checking the
template programs, the process pool, every patient through the twin, and the sums.
"""

from __future__ import annotations

import argparse
import os
import time

from openidds.data import load_catalog, load_library
from openidds.fleet import parse_policy, run_fleet

TARGET_S = 30.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--years", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--policy", default="alarm-minus:7")
    args = parser.parse_args()
    library, catalog = load_library(), load_catalog()
    policy = parse_policy(args.policy)

    began = time.perf_counter()
    report = run_fleet(library, catalog, args.patients, args.years, args.seed, policy, args.workers)
    seconds = time.perf_counter() - began

    pump_years = report.overall.patient_years
    per_year = report.overall.per_patient_year()
    totals = report.overall.totals
    print(f"fleet: {args.patients:,} patients × {args.years:g} years = {pump_years:,.0f} pump-years, {policy.name}")
    print(f"workers: {args.workers} (this machine has {os.cpu_count()} CPUs)")
    print(f"remote presses simulated: {totals['remote_requests']:,}; refill visits: {totals['refill_visits']:,}")
    print(
        f"per patient-year: {per_year['alarms']['low-reservoir']:.3f} low-reservoir alarms, "
        f"{per_year['empty_reservoir_days']:.3f} empty days, {per_year['reconciliation_flags']:.3f} flags, "
        f"{per_year['refill_visits']:.3f} visits"
    )
    scaled = seconds * 10_000 / pump_years
    print(f"time: {seconds:.1f} s ({seconds / pump_years * 1000 * args.workers:.2f} ms per pump-year per worker)")
    print(f"10,000 pump-years: {scaled:.1f} s against the target of ≤ {TARGET_S:.0f} s on 2 cores", end=" ")
    print("(met)" if scaled <= TARGET_S else "(NOT met)")


if __name__ == "__main__":
    main()
