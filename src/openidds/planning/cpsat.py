"""The refill planner with CP-SAT: fewer visits than booking as soon as possible, never past a latest safe day when
capacity allows, a margin kept before the latest safe day, and the days balanced.

Model (a rolling horizon, so 5,000 patients × 26 weeks solves in well under a minute on 2 cores): the horizon is cut
into blocks of `block_days` (28) that start every `step_days` (14). Each block holds every visit whose latest safe day
falls inside it: the patient's next visit and, for short cycles, the visits chained after it (each `cycle_min` to
`cycle_max` days after the one before, there exactly when its latest safe day falls inside the block, the horizon and
`last_day`). Each patient of a block gets one boolean per *option*, a way of placing its due visits, and exactly one
option is taken: the next visit on one of the `WINDOW_DAYS` (10) cheapest open days of its window or one of the first
`LATE_OPTIONS` (2) open days past its latest safe day, each chained visit on one of its `CHOICES` (4) cheapest days
or its earliest. (A boolean per visit and day with reified chain constraints was tried first: CP-SAT was still far
from optimal after seconds on 500 patients; options keep the LP relaxation tight.) If a block has no plan, it is
solved again with every open day allowed. Capacity is the per-day Hall condition: for every set of nurses that is the
union of some skill sets' suitable nurses, the visits that can only go to those nurses fit their room, so a nurse can
always be named afterwards (a small max flow per day, `model.assign_nurses`). The visits before the next block's
start are kept; the rest are planned again with the next block. Visits a block leaves out (latest safe day beyond it)
wait for a later block, which is what pushes each visit towards its latest safe day. The solver starts from a hint
(by latest safe day, each patient's cheapest option that fits) and stops when proved within `GAP` (0.2 %) of the
best, or at the block's share of the time limit.

Objective (integer weights, minimised; they are strictly ordered so each level only breaks ties of the one above):
- `W_LATE` = 1,000,000 per day past a latest safe day: allowed only when no day in the window has room, so it is
  zero whenever capacity allows (and then every late visit is a named Shortfall); twice that for a patient with
  withdrawal risk (baclofen), so when someone must be late it is someone else. 0.2 % of a block's objective is
  far less than one such day, so the gap never lets a visit go late.
- `W_VISIT` = 1,000 per visit (the chained visits inside a block).
- per day between the booking and the latest safe day: `W_VISIT // cycle_max` (at least 1). Booking a day earlier
  costs about 1/cycle_max of a visit over a long horizon, so this is the visit count, spread over the days.
- inside the last `MARGIN_DAYS` (2) of a window: 3 × the day weight per day, so the best day is the latest safe day
  less the margin (a missed appointment can still be made up) rather than the very last day.
- `W_LOAD` = 1 per visit on the busiest day of the block: balance, only among otherwise equal plans.

The result is checked with `model.check_plan` and compared with the greedy's; the greedy is kept (status says so)
if a block finds nothing in time, if the check fails, or if the greedy is later or fewer visits.
"""

from __future__ import annotations

import time
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ortools.sat.python import cp_model

from openidds.planning.greedy import greedy_visits
from openidds.planning.model import (
    MARGIN_DAYS,
    Need,
    NurseDay,
    Plan,
    Visit,
    build_plan,
    check_plan,
    needed_until,
    next_window,
    reserve_fixed,
    validate,
)

W_LATE = 1_000_000
W_VISIT = 1_000
W_LOAD = 1
WINDOW_DAYS = 10  # days tried for a visit: the cheapest of its window (all of them if a block has no plan)
LATE_OPTIONS = 2  # open days past a latest safe day tried for a visit (all of them if a block has no plan)
CHOICES = 4  # days tried for a visit chained after another inside one block, the cheapest
GAP = 0.002  # a block stops once proved within 0.2 % of the best: about a visit in 500, far below a day late
MAX_OPTIONS = 240  # ways to place one patient's visits inside one block, the cheapest


def day_weight(need: Need) -> int:
    return max(1, W_VISIT // need.cycle_max)


def late_weight(need: Need) -> int:
    return 2 * W_LATE if need.withdrawal_risk else W_LATE


def visit_cost(day: int, latest: int, weight: int, late: int) -> int:
    """A visit's cost on `day`: the days it leaves before the latest safe day (`weight` each), more inside the
    margin, and `late` per day past it."""
    before = latest - day
    if before < 0:
        return late * -before + 3 * weight * MARGIN_DAYS
    return weight * before + 3 * weight * max(0, MARGIN_DAYS - before)


@dataclass(slots=True)
class _State:
    """A patient's planning state between blocks: the window of the next visit, or done."""

    earliest: int
    latest: int
    done: bool = False


def _hall_sets(nurses: Sequence[NurseDay], kinds: Sequence[frozenset[str]]) -> list[tuple[frozenset[str], list[int]]]:
    """The nurse sets whose room bounds a day's visits: every union of some skill sets' suitable nurses, each with
    the skill sets (indices into `kinds`) that can only go to those nurses."""
    compat = [frozenset(nd.nurse for nd in nurses if k <= nd.skills) for k in kinds]
    sets = {c for c in compat if c}
    grown = True
    while grown:
        new = {a | b for a in sets for b in sets} - sets
        grown = bool(new)
        sets |= new
    return [(s, [i for i, c in enumerate(compat) if c and c <= s]) for s in sorted(sets, key=sorted)]


class _Planner:
    def __init__(self, needs: Sequence[Need], capacity: Sequence[NurseDay], horizon: int) -> None:
        self.needs, self.horizon = needs, horizon
        fixed, self.room, self.reasons = reserve_fixed(needs, capacity)
        self.visits: list[Visit] = list(fixed)
        self.unbooked: list[tuple[Need, int, int]] = []
        self.proved = 0  # blocks whose solution is proved optimal (the others: within GAP, or the time ran out)
        self.kinds = sorted({n.skills for n in needs}, key=lambda s: (len(s), sorted(s)))
        self.kind_of = [self.kinds.index(n.skills) for n in needs]
        by_day: dict[int, list[NurseDay]] = defaultdict(list)
        for nd in capacity:
            if self.room[(nd.day, nd.nurse)] > 0:
                by_day[nd.day].append(nd)
        self.hall = {d: _hall_sets(nurses, self.kinds) for d, nurses in by_day.items()}
        self.room_of = {d: {nd.nurse: self.room[(d, nd.nurse)] for nd in nurses} for d, nurses in by_day.items()}
        # the open days of each skill set: some suitable nurse has room
        self.open_days = [
            sorted(d for d, nurses in by_day.items() if any(k <= nd.skills for nd in nurses)) for k in self.kinds
        ]
        self.committed: dict[int, list[int]] = defaultdict(lambda: [0] * len(self.kinds))
        self.base_load: dict[int, int] = defaultdict(int)
        for v in fixed:
            self.base_load[v.day] += 1
        self.state = []
        for n in needs:
            e, lat = next_window(n)
            self.state.append(_State(e, lat, done=lat > needed_until(n, horizon)))

    def _days(self, i: int, lo: int, hi: int) -> list[int]:
        return [d for d in self.open_days[self.kind_of[i]] if lo <= d <= hi]

    def candidates(self, i: int, lo: int, latest: int, wide: bool) -> list[int]:
        """The days patient i's visit may go on: the `WINDOW_DAYS` cheapest open days of its window, then the first
        `LATE_OPTIONS` open days past its latest safe day (every open day, both, when `wide`)."""
        w, lw = day_weight(self.needs[i]), late_weight(self.needs[i])
        days = self.open_days[self.kind_of[i]]
        inside = [d for d in days[bisect_left(days, lo) : bisect_right(days, latest)]]
        if not wide:
            inside = sorted(sorted(inside, key=lambda d: visit_cost(d, latest, w, lw))[:WINDOW_DAYS])
        after = days[bisect_right(days, max(latest, lo - 1)) :]
        return inside + (after if wide else after[:LATE_OPTIONS])

    def options(self, i: int, start: int, until: int, wide: bool) -> list[tuple[tuple[int, ...], int]]:
        """The ways to place patient i's visits due by `until` (its next one, then any chained after it inside the
        block), each with its cost: each candidate day of the next visit, and for each the `CHOICES` cheapest days of
        each chained visit (and its earliest), at most `MAX_OPTIONS` in all, the cheapest kept."""
        need, st = self.needs[i], self.state[i]
        w, lw = day_weight(need), late_weight(need)
        first = self.candidates(i, max(st.earliest, start), st.latest, wide)
        done: list[tuple[tuple[int, ...], int]] = []
        frontier: list[tuple[tuple[int, ...], int]] = [((d,), visit_cost(d, st.latest, w, lw)) for d in first]
        while frontier:
            grown = []
            for chain, cost in frontier:
                last = chain[-1]
                latest = last + need.cycle_max
                nxt = self.candidates(i, last + need.cycle_min, latest, wide) if latest <= until else []
                if not nxt:  # nothing more due in the block (or no room at all: the next block names it)
                    done.append((chain, cost))
                    continue
                ranked = sorted(nxt, key=lambda d: visit_cost(d, latest, w, lw))[:CHOICES]
                for d in sorted({*ranked, nxt[0]}):
                    grown.append(((*chain, d), cost + W_VISIT + visit_cost(d, latest, w, lw)))
            frontier = sorted(grown, key=lambda o: o[1])[: max(0, MAX_OPTIONS - len(done))]
        return done

    def _hint(self, wanted: dict[int, list[tuple[int, ...]]]) -> dict[int, tuple[int, ...]]:
        """A start for the solver: by latest safe day, each patient's cheapest way that still fits the day's room
        (so the first solution has no one late when room allows)."""
        used: dict[tuple[int, frozenset[str]], int] = defaultdict(int)
        picks: dict[int, tuple[int, ...]] = {}
        for i in sorted(wanted, key=lambda i: (self.state[i].latest, self.needs[i].patient_id)):
            k = self.kind_of[i]
            for days in wanted[i]:
                sets = [(d, nurses, ks) for d in days for nurses, ks in self.hall.get(d, []) if k in ks]
                if all(used[(d, nurses)] < self._rhs(d, nurses, ks) for d, nurses, ks in sets):
                    for d, nurses, _ in sets:
                        used[(d, nurses)] += 1
                    picks[i] = days
                    break
        return picks

    def _rhs(self, day: int, nurses: frozenset[str], kinds: list[int]) -> int:
        """The room of these nurses on this day left for the visits of these skill sets."""
        return sum(self.room_of[day][n] for n in nurses) - sum(self.committed[day][k] for k in kinds)

    def solve_block(
        self, start: int, end: int, keep_until: int, wide: bool, seconds: float, workers: int, seed: int
    ) -> cp_model.CpSolverStatus:
        """Plan the visits whose latest safe day falls in [start, end); keep those before `keep_until`."""
        m = cp_model.CpModel()
        cost: list[cp_model.LinearExprT] = []
        on_day: dict[int, list[list[cp_model.IntVar]]] = defaultdict(lambda: [[] for _ in self.kinds])
        chosen: dict[int, list[tuple[tuple[int, ...], cp_model.IntVar]]] = {}
        wanted: dict[int, list[tuple[int, ...]]] = {}
        for i, need in enumerate(self.needs):
            st = self.state[i]
            until = min(end - 1, needed_until(need, self.horizon))
            if st.done or st.latest > until:
                continue
            opts = self.options(i, start, until, wide)
            if not opts:  # no suitable nurse has room on any day left: named, the chain ends
                self.unbooked.append((need, st.earliest, st.latest))
                st.done = True
                continue
            xs = [m.new_bool_var(f"x{i}_{n}") for n in range(len(opts))]
            m.add_exactly_one(xs)
            for (days, c), x in zip(opts, xs, strict=True):
                cost.append(c * x)
                for d in days:
                    on_day[d][self.kind_of[i]].append(x)
            chosen[i] = [(days, x) for (days, _), x in zip(opts, xs, strict=True)]
            wanted[i] = [days for days, _ in sorted(opts, key=lambda o: o[1])]
        if not chosen:
            self.proved += 1
            return cp_model.OPTIMAL
        hints = self._hint(wanted)
        for i, pick in hints.items():
            for days, x in chosen[i]:
                m.add_hint(x, days == pick)
        peak = m.new_int_var(0, 10**6, "peak")
        for d, per_kind in on_day.items():
            for nurses, ks in self.hall.get(d, []):
                terms = [x for k in ks for x in per_kind[k]]
                if terms:
                    m.add(sum(terms) <= max(0, self._rhs(d, nurses, ks)))
            m.add(peak >= self.base_load[d] + sum(self.committed[d]) + sum(x for xs in per_kind for x in xs))
        cost.append(W_LOAD * peak)
        load: dict[int, int] = defaultdict(int)
        for days in hints.values():
            for d in days:
                load[d] += 1
        m.add_hint(peak, max((self.base_load[d] + sum(self.committed[d]) + load[d] for d in on_day), default=0))
        m.minimize(sum(cost))
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = max(0.05, seconds)
        solver.parameters.num_workers = workers
        solver.parameters.random_seed = seed
        solver.parameters.relative_gap_limit = GAP
        # presolve's probing and inclusion searches cost seconds on the long daily capacity sums and find nothing
        solver.parameters.cp_model_probing_level = 0
        solver.parameters.presolve_inclusion_work_limit = 0
        solver.parameters.find_big_linear_overlap = False
        status = solver.solve(m)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return status
        self.proved += solver.objective_value == solver.best_objective_bound
        for i, ways in chosen.items():
            need, st = self.needs[i], self.state[i]
            days = next(days for days, x in ways if solver.value(x))
            for d in days:
                if d >= keep_until:
                    break
                self.visits.append(Visit(need, d, st.earliest, st.latest))
                self.committed[d][self.kind_of[i]] += 1
                st.earliest, st.latest = d + need.cycle_min, d + need.cycle_max
                st.done = st.latest > needed_until(need, self.horizon)
        return status


def plan_cpsat(
    needs: Sequence[Need],
    capacity: Sequence[NurseDay],
    horizon_days: int,
    *,
    time_limit_s: float = 30.0,
    workers: int = 2,
    seed: int = 0,
    block_days: int = 28,
    step_days: int = 14,
) -> Plan:
    """CP-SAT plan over a rolling horizon (see the module's docstring), checked, and the greedy kept if it is better
    or if the solver finds nothing in time."""
    began = time.perf_counter()
    validate(needs, capacity, horizon_days)
    g_visits, g_unbooked, g_reasons = greedy_visits(needs, capacity, horizon_days)
    greedy = build_plan("greedy", needs, capacity, horizon_days, g_visits, g_unbooked, {}, "greedy", 0.0, g_reasons)
    planner = _Planner(needs, capacity, horizon_days)
    deadline = began + time_limit_s
    starts = list(range(0, horizon_days, max(1, step_days)))
    if horizon_days <= block_days:
        starts = [0]
    optimal, failed = 0, ""
    for n, start in enumerate(starts):
        end = horizon_days if n == len(starts) - 1 else min(horizon_days, start + block_days)
        keep = horizon_days if n == len(starts) - 1 else starts[n + 1]
        budget = (deadline - time.perf_counter()) / (len(starts) - n)
        status = planner.solve_block(start, end, keep, False, budget, workers, seed)
        if status == cp_model.INFEASIBLE:  # capacity so short the days tried are not enough: every day then
            budget = (deadline - time.perf_counter()) / (len(starts) - n)
            status = planner.solve_block(start, end, keep, True, budget, workers, seed)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            failed = (
                f"days {start}–{end - 1}: {'no plan exists' if status == cp_model.INFEASIBLE else 'no plan in time'}"
            )
            break
        optimal += status == cp_model.OPTIMAL
    reasons = [
        f"cp-sat: {len(starts)} blocks of up to {block_days} days every {step_days} days: {planner.proved} proved "
        f"optimal, {optimal - planner.proved} within {GAP:.1%} of optimal, {len(starts) - optimal} stopped by the time "
        "limit",
        f"weights: {W_LATE:,} per day past a latest safe day (twice that with withdrawal risk), {W_VISIT:,} per "
        f"visit, {W_VISIT:,} ÷ cycle_max per day before the latest safe day, 3× that inside the last {MARGIN_DAYS} "
        f"days, {W_LOAD} per visit on the busiest day",
        *planner.reasons,
    ]
    if failed:
        return _kept(greedy, f"time-limit: greedy kept ({failed})", began, reasons)
    said = "optimal" if len(starts) == 1 and planner.proved == 1 else "feasible"
    plan = build_plan(
        "cp-sat", needs, capacity, horizon_days, planner.visits, planner.unbooked, planner.room, said, 0.0, reasons
    )
    problems = check_plan(needs, capacity, horizon_days, plan)
    if problems:
        return _kept(greedy, f"check failed: greedy kept ({problems[0]})", began, reasons)
    late = (sum(s.days_late for s in plan.shortfalls if s.withdrawal_risk), sum(s.days_late for s in plan.shortfalls))
    g_late = (
        sum(s.days_late for s in greedy.shortfalls if s.withdrawal_risk),
        sum(s.days_late for s in greedy.shortfalls),
    )
    if (g_late, greedy.visits) < (late, plan.visits):
        why = "fewer days past latest safe days" if g_late < late else "fewer visits"
        return _kept(greedy, f"greedy kept ({why}: {greedy.visits} visits against {plan.visits})", began, reasons)
    return _replace_time(plan, began)


def _replace_time(plan: Plan, began: float) -> Plan:
    return replace(plan, seconds=time.perf_counter() - began)


def _kept(greedy: Plan, status: str, began: float, reasons: Sequence[str]) -> Plan:
    return replace(
        greedy, status=status, seconds=time.perf_counter() - began, reasons=(*reasons, status, *greedy.reasons)
    )
