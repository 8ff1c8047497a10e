"""The refill planner with CP-SAT: fewer visits than booking as soon as possible, never past a latest safe day when
capacity allows, a margin kept before the latest safe day, and the days balanced.

Model (a rolling horizon, so 5,000 patients × 26 weeks is planned within a minute on 2 cores): the horizon is cut
into blocks of `block_days` (28) that start every `step_days` (14). Each block holds every visit whose latest safe day
falls inside it: the patient's next visit and, for short cycles, the visits chained after it (each `cycle_min` to
`cycle_max` days after the one before, there exactly when its latest safe day falls inside the block, the horizon and
`last_day`). Each patient of a block gets one boolean per *option*, a way of placing its due visits, and exactly one
option is taken: the next visit on one of the `WINDOW_DAYS` (10) cheapest open days of its window or one of the first
`LATE_OPTIONS` (2) open days past its latest safe day, each chained visit on one of its `CHOICES` (4) cheapest days
or its earliest. (A boolean per visit and day with reified chain constraints was tried first: CP-SAT was still far
from optimal after seconds on 500 patients; options keep the LP relaxation tight.) If that has no plan, the block
is solved again with options that leave a visit unbooked (no room before the horizon ends) at the cost of its days
to the horizon's end. If the plan has anyone late or unbooked, the block is solved again with every open day, every
chained day and the unbooked options for them; the better plan is kept. A block with at most `EXACT_UP_TO`
options is solved to proved optimality.

Capacity is the per-day Hall condition: for every set of nurses that is the union of some skill sets' suitable
nurses, the visits that can only go to those nurses fit their room, so a nurse can always be named afterwards (a
small max flow per day, `model.assign_nurses`). The visits before the next block's start are kept; the rest are
planned again with the next block. Visits a block leaves out (latest safe day beyond it) wait for a later block,
which is what pushes each visit towards its latest safe day. The solver starts from a hint (by latest safe day, each
patient's cheapest option that fits) and stops when proved within `GAP` (0.5 %) of the best, or at the block's
share of the time limit (what is left once the blocks still to come are built: about 0.8 s a block for 5,000
patients, so `time_limit_s` below about 15 s there leaves the greedy kept).

Objective (integer weights, minimised; each level outweighs what the ones below can gain in practice):
- `W_LATE` = 1,000,000 per day past a latest safe day: allowed only when no day in the window has room, so it is
  zero whenever capacity allows (and then every late visit is a named Shortfall); twice that for a patient with
  withdrawal risk (baclofen), so when someone must be late it is someone else. 0.5 % of a block's objective is
  far less than one such day, so the gap never lets a visit go late.
- `W_VISIT` = 1,000 per visit (the chained visits inside a block).
- per day between the booking and the latest safe day: `W_VISIT // cycle_max` (at least 1). Booking a day earlier
  costs about 1/cycle_max of a visit over a long horizon, so this is the visit count, spread over the days.
- inside the last `MARGIN_DAYS` (2) of a window: 3 × the day weight per day, so the best day is the latest safe day
  less the margin (a missed appointment can still be made up) rather than the very last day.
- `W_BUSY` = 5 per visit past 80 % (`BUSY`) of a day's room: balance. Below the smallest day weight (1,000 ÷ 84 =
  11 for the longest synthetic cycle), so it moves a visit only between days that are otherwise as good (a Friday
  and a Monday around a weekend, say) and keeps some room each day for the unplanned. (The busiest day of a block
  was tried first: it is usually pinned by the visits due on its first day and then balances nothing.)

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
W_BUSY = 5
BUSY = 0.8
WINDOW_DAYS = 10  # days tried for a visit: the cheapest of its window (all of them if a block has no plan)
LATE_OPTIONS = 2  # open days past a latest safe day tried for a visit (all of them if a block has no plan)
CHOICES = 4  # days tried for a visit chained after another inside one block, the cheapest
GAP = 0.005  # a block stops once proved within 0.5 % of the best: a few visits in 3,000, far below a day late
MAX_OPTIONS = 240  # partial ways to place one patient's visits kept at each chained visit, the cheapest
EXACT_UP_TO = 5_000  # a block with no more options than this is solved to proved optimality (no gap)


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


@dataclass(frozen=True, slots=True)
class _Option:
    """One way to place a patient's due visits inside a block: their days, the cost, and, if a visit is left
    unbooked (no room before the horizon ends), its latest safe day."""

    days: tuple[int, ...]
    cost: int
    missing: int | None = None


@dataclass(frozen=True, slots=True)
class _Result:
    status: cp_model.CpSolverStatus
    proved: bool
    objective: int
    picks: dict[int, _Option]


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
    """The rolling horizon's state: the visits kept so far, the room they leave, and each patient's next window."""

    def __init__(self, needs: Sequence[Need], capacity: Sequence[NurseDay], horizon: int) -> None:
        self.needs, self.horizon = needs, horizon
        fixed, self.room, self.reasons = reserve_fixed(needs, capacity)
        self.visits: list[Visit] = list(fixed)
        self.unbooked: list[tuple[Need, int, int]] = []
        self.proved = 0  # blocks whose solution is proved optimal (the others: within GAP, or the time ran out)
        self.building, self.built = 0.0, 0  # seconds spent building models, and how many
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

    def _days(self, i: int, lo: int, latest: int, wide: bool) -> list[int]:
        """Patient i's open days from `lo` to `latest`, then the first `LATE_OPTIONS` after it (all when `wide`)."""
        days = self.open_days[self.kind_of[i]]
        after = days[bisect_right(days, max(latest, lo - 1)) :]
        return days[bisect_left(days, lo) : bisect_right(days, latest)] + (after if wide else after[:LATE_OPTIONS])

    def candidates(self, i: int, start: int, st: _State, wide: bool) -> list[int]:
        """The days patient i's next visit may go on: the `WINDOW_DAYS` cheapest open days of its window, then the
        first `LATE_OPTIONS` open days past its latest safe day (every open day, both, when `wide`)."""
        days = self._days(i, max(st.earliest, start), st.latest, wide)
        if wide:
            return days
        w, lw = day_weight(self.needs[i]), late_weight(self.needs[i])
        inside = [d for d in days if d <= st.latest]
        best = sorted(inside, key=lambda d: visit_cost(d, st.latest, w, lw))[:WINDOW_DAYS]
        return sorted(best) + days[len(inside) :]

    def options(self, i: int, start: int, until: int, wide: bool, spare: bool) -> list[_Option]:
        """The ways to place patient i's visits due by `until` (its next one, then any chained after it inside the
        block), each with its cost: each candidate day of the next visit, and for each the `CHOICES` cheapest days of
        each chained visit (and its earliest; every day when `wide`), the `MAX_OPTIONS` cheapest kept at each step;
        when `wide` or `spare`, also each way of leaving a visit unbooked (no room before the horizon ends), at its
        days to the horizon's end. (Not always: an option on no day at all weakens CP-SAT's relaxation so much that
        5,000 patients take seconds more.)"""
        need, st = self.needs[i], self.state[i]
        w, lw = day_weight(need), late_weight(need)
        done: list[_Option] = []
        unbooked = wide or spare
        done = [_Option((), lw * (self.horizon - st.latest), st.latest)] if unbooked else []
        frontier = [_Option((d,), visit_cost(d, st.latest, w, lw)) for d in self.candidates(i, start, st, wide)]
        while frontier:
            grown = []
            for o in frontier:
                latest = o.days[-1] + need.cycle_max
                if latest > until:  # nothing more due in the block
                    done.append(o)
                    continue
                nxt = self._days(i, o.days[-1] + need.cycle_min, latest, wide)
                if unbooked or not nxt:
                    done.append(_Option(o.days, o.cost + lw * (self.horizon - latest), latest))
                ranked = nxt if wide else sorted(nxt, key=lambda d: visit_cost(d, latest, w, lw))[:CHOICES]
                for d in sorted({*ranked, *nxt[:1]}):
                    grown.append(_Option((*o.days, d), o.cost + W_VISIT + visit_cost(d, latest, w, lw)))
            frontier = sorted(grown, key=lambda o: o.cost)[:MAX_OPTIONS]
        return done

    def _hint(self, wanted: dict[int, list[_Option]]) -> dict[int, _Option]:
        """A start for the solver: by latest safe day, each patient's cheapest option that still fits the day's room
        (so the first solution has no one late when room allows)."""
        used: dict[tuple[int, frozenset[str]], int] = defaultdict(int)
        picks: dict[int, _Option] = {}
        for i in sorted(wanted, key=lambda i: (self.state[i].latest, self.needs[i].patient_id)):
            k = self.kind_of[i]
            for o in wanted[i]:
                sets = [(d, nurses, ks) for d in o.days for nurses, ks in self.hall.get(d, []) if k in ks]
                if all(used[(d, nurses)] < self._rhs(d, nurses, ks) for d, nurses, ks in sets):
                    for d, nurses, _ in sets:
                        used[(d, nurses)] += 1
                    picks[i] = o
                    break
        return picks

    def _rhs(self, day: int, nurses: frozenset[str], kinds: list[int]) -> int:
        """The room of these nurses on this day left for the visits of these skill sets."""
        return sum(self.room_of[day][n] for n in nurses) - sum(self.committed[day][k] for k in kinds)

    def solve_block(
        self,
        start: int,
        end: int,
        wide: frozenset[int],
        spare: bool,
        deadline: float,
        blocks_left: int,
        workers: int,
        seed: int,
    ) -> _Result:
        """Plan the visits whose latest safe day falls in [start, end), trying every day for the patients in `wide`
        and, with `spare`, leaving any visit unbooked (nothing is kept yet: `keep` does that)."""
        began = time.perf_counter()
        m = cp_model.CpModel()
        cost: list[cp_model.LinearExprT] = []
        on_day: dict[int, list[list[cp_model.IntVar]]] = defaultdict(lambda: [[] for _ in self.kinds])
        chosen: dict[int, list[tuple[_Option, cp_model.IntVar]]] = {}
        for i, need in enumerate(self.needs):
            st = self.state[i]
            until = min(end - 1, needed_until(need, self.horizon))
            if st.done or st.latest > until:
                continue
            opts = self.options(i, start, until, i in wide, spare)
            if not opts:  # no suitable nurse has room on any day left
                opts = [_Option((), late_weight(need) * (self.horizon - st.latest), st.latest)]
            xs = [m.new_bool_var(f"x{i}_{n}") for n in range(len(opts))]
            m.add_exactly_one(xs)
            for o, x in zip(opts, xs, strict=True):
                cost.append(o.cost * x)
                for d in o.days:
                    on_day[d][self.kind_of[i]].append(x)
            chosen[i] = list(zip(opts, xs, strict=True))
        if not chosen:
            return _Result(cp_model.OPTIMAL, True, 0, {})
        hints = self._hint({i: sorted((o for o, _ in ways), key=lambda o: o.cost) for i, ways in chosen.items()})
        load: dict[int, int] = defaultdict(int)
        for i, ways in chosen.items():
            for o, x in ways:
                m.add_hint(x, o is hints.get(i))
            for d in hints[i].days if i in hints else ():
                load[d] += 1
        for d, per_kind in on_day.items():
            for nurses, ks in self.hall.get(d, []):
                terms = [x for k in ks for x in per_kind[k]]
                if terms:
                    m.add(sum(terms) <= max(0, self._rhs(d, nurses, ks)))
            # balance: each visit past BUSY of the day's room costs W_BUSY
            before = self.base_load[d] + sum(self.committed[d])
            target = int(BUSY * (self.base_load[d] + sum(self.room_of[d].values())))
            busy = m.new_int_var(0, 10**6, f"busy{d}")
            m.add(busy >= before + sum(x for xs in per_kind for x in xs) - target)
            m.add_hint(busy, max(0, before + load[d] - target))
            cost.append(W_BUSY * busy)
        m.minimize(sum(cost))
        solver = cp_model.CpSolver()
        # this block's share of the time left, after building the blocks still to come (as long as this one took)
        self.building += time.perf_counter() - began
        self.built += 1
        build = self.building / self.built
        seconds = (deadline - time.perf_counter() - (blocks_left - 1) * build) / blocks_left
        solver.parameters.max_time_in_seconds = max(0.05, seconds)
        solver.parameters.num_workers = workers
        solver.parameters.random_seed = seed
        if sum(len(ways) for ways in chosen.values()) > EXACT_UP_TO:
            solver.parameters.relative_gap_limit = GAP
        # presolve costs 1–2 s a block on the long daily capacity sums and finds nothing the search needs; without
        # it the hint is the first solution within a fraction of a second, however short the block's time
        solver.parameters.cp_model_presolve = False
        status = solver.solve(m)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return _Result(status, False, 0, {})
        picks = {i: next(o for o, x in ways if solver.value(x)) for i, ways in chosen.items()}
        proved = solver.objective_value == solver.best_objective_bound
        return _Result(status, proved, round(solver.objective_value), picks)

    def keep(self, result: _Result, keep_until: int, last: bool) -> None:
        """Book the visits of a block's plan that fall before `keep_until` (all of them in the last block)."""
        self.proved += result.proved
        for i, o in result.picks.items():
            need, st = self.needs[i], self.state[i]
            for d in o.days:
                if d >= keep_until and not last:
                    break
                self.visits.append(Visit(need, d, st.earliest, st.latest))
                self.committed[d][self.kind_of[i]] += 1
                st.earliest, st.latest = d + need.cycle_min, d + need.cycle_max
                st.done = st.latest > needed_until(need, self.horizon)
            else:
                if o.missing is not None and (last or o.missing < keep_until):
                    self.unbooked.append((need, st.earliest, st.latest))
                    st.done = True

    def leftover(self) -> None:
        """Visits still due when the horizon is planned: no room for them (named as shortfalls without a day)."""
        for need, st in zip(self.needs, self.state, strict=True):
            if not st.done and st.latest <= needed_until(need, self.horizon):
                self.unbooked.append((need, st.earliest, st.latest))
                st.done = True


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
        last = n == len(starts) - 1
        end = horizon_days if last else min(horizon_days, start + block_days)
        left = len(starts) - n
        if time.perf_counter() >= deadline:
            failed = f"days {start}–{end - 1}: the time limit was reached"
            break
        result = planner.solve_block(start, end, frozenset(), False, deadline, left, workers, seed)
        if not result.picks:  # no room for someone on the days tried: let any visit go unbooked
            result = planner.solve_block(start, end, frozenset(), True, deadline, left, workers, seed)
        behind = frozenset(i for i, o in result.picks.items() if o.cost >= W_LATE)
        if behind:  # someone late or unbooked: try every day, every way for them
            wide = planner.solve_block(start, end, behind, False, deadline, left, workers, seed)
            if wide.picks and (not result.picks or wide.objective < result.objective):
                result = wide
        if not result.picks and result.status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            failed = f"days {start}–{end - 1}: no plan in time"
            break
        planner.keep(result, horizon_days if last else starts[n + 1], last)
        optimal += result.status == cp_model.OPTIMAL
    planner.leftover()
    reasons = [
        f"cp-sat: {len(starts)} blocks of up to {block_days} days every {step_days} days: {planner.proved} proved "
        f"optimal, {optimal - planner.proved} within {GAP:.1%} of optimal, {len(starts) - optimal} stopped by the time "
        "limit",
        f"weights: {W_LATE:,} per day past a latest safe day (twice that with withdrawal risk), {W_VISIT:,} per "
        f"visit, {W_VISIT:,} ÷ cycle_max per day before the latest safe day, 3× that inside the last {MARGIN_DAYS} "
        f"days, {W_BUSY} per visit past {BUSY:.0%} of a day's room",
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
