"""Benchmark: the clinic-wide refill planner, CP-SAT against the earliest-deadline-first greedy, on a synthetic clinic
of 5,000 patients × 26 weeks, with its full nurse capacity and with a tenth of the nurse-days removed. Run by hand:
`python benchmarks/planner.py [--patients 5000 --weeks 26]`.

Targets: CP-SAT planning ≤ 60 s on 2 cores; 0 patients past their latest safe day when capacity allows; CP-SAT's
visits ≤ 90 % of the greedy's. The time is wall-clock for everything `plan_cpsat` does (the greedy it compares with,
every block's model and solve, the nurse assignment and the plan check).
"""

from __future__ import annotations

import argparse
import os
import time

from openidds.planning import Plan, check_plan, plan_cpsat, plan_greedy
from openidds.planning.synthetic import reduce_capacity, synthetic_capacity, synthetic_needs

TARGET_S = 60.0
TARGET_RATIO = 0.90


def _late(plan: Plan) -> str:
    patients = {s.patient_id for s in plan.shortfalls}
    risk = {s.patient_id for s in plan.shortfalls if s.withdrawal_risk}
    return f"{len(patients)} patients past their latest safe day ({len(risk)} with withdrawal risk)"


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=5000)
    parser.add_argument("--weeks", type=int, default=26)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=45.0, help="CP-SAT's time limit, seconds")
    parser.add_argument(
        "--slack", type=float, default=1.4, help="capacity ÷ the visits an as-soon-as-possible clinic needs"
    )
    args = parser.parse_args()
    horizon = args.weeks * 7
    needs = synthetic_needs(args.patients, horizon, args.seed)
    full = synthetic_capacity(needs, horizon, args.slack, args.seed)
    print(f"clinic: {args.patients:,} patients × {args.weeks} weeks ({horizon} days, Monday to Friday open)")
    print(f"workers: {args.workers} (this machine has {os.cpu_count()} CPUs); CP-SAT time limit {args.time_limit:g} s")
    for name, capacity in (
        ("full capacity", full),
        ("a tenth of nurse-days removed", reduce_capacity(full, 0.1, args.seed)),
    ):
        nurses = len({nd.nurse for nd in capacity})
        print(
            f"\n{name}: {len(capacity):,} nurse-days of {nurses} nurses, {sum(nd.visits for nd in capacity):,} visits"
        )
        began = time.perf_counter()
        greedy = plan_greedy(needs, capacity, horizon)
        g_seconds = time.perf_counter() - began
        plan = plan_cpsat(needs, capacity, horizon, time_limit_s=args.time_limit, workers=args.workers, seed=args.seed)
        problems = check_plan(needs, capacity, horizon, plan) + check_plan(needs, capacity, horizon, greedy)
        ratio = plan.visits / greedy.visits
        print(f"  greedy: {greedy.visits:,} visits in {g_seconds:.2f} s; {_late(greedy)}")
        print(f"  cp-sat: {plan.visits:,} visits in {plan.seconds:.1f} s ({plan.status}); {_late(plan)}")
        print(f"  {plan.reasons[0]}")
        print(f"  visits cp-sat ÷ greedy: {ratio:.3f} (target ≤ {TARGET_RATIO:.2f}: {_met(ratio <= TARGET_RATIO)})")
        print(f"  time: {plan.seconds:.1f} s (target ≤ {TARGET_S:.0f} s: {_met(plan.seconds <= TARGET_S)})")
        print(f"  busiest day: cp-sat {plan.max_daily_load} visits, greedy {greedy.max_daily_load}")
        print(f"  days into windows: cp-sat {plan.late_in_window:,}, greedy {greedy.late_in_window:,}")
        for s in plan.shortfalls[:5]:
            print(f"  shortfall: {s.patient_id}{' (withdrawal risk)' if s.withdrawal_risk else ''}: {s.reason}")
        if len(plan.shortfalls) > 5:
            print(f"  ... and {len(plan.shortfalls) - 5} more")
        print(f"  plan check: {'valid' if not problems else f'{len(problems)} problems, first: {problems[0]}'}")


if __name__ == "__main__":
    main()
