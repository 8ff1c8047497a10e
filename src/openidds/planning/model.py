"""The refill planner's inputs and outputs, its input checks, the independent plan checker and the shared plan builder.

Days are integers: day 0 is the first planning day; the service maps dates to indices and leaves closed days without
any `NurseDay`. A patient's refills form a chain: the first within [max(earliest, 0), latest], each next one within
[previous + cycle_min, previous + cycle_max]. A visit is needed while its latest safe day falls inside the horizon and
is not after `last_day`. Existing appointments (`fixed`) start the chain and are kept as they are.

Pure: no I/O, no clock (the planners time themselves with `time.perf_counter`, which decides nothing).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from openidds.errors import InputError

MARGIN_DAYS = 2  # a booking on the last two days of its window leaves no room for a missed appointment


@dataclass(frozen=True, slots=True)
class Need:
    """One patient's refills to plan."""

    patient_id: str
    earliest: int  # earliest useful day of the next refill (may be <= 0: already useful)
    latest: int  # latest safe day of the next refill (may be < 0: already past it, urgent)
    cycle_min: int  # after a refill on day d, the following refill is useful from d + cycle_min
    cycle_max: int  # ... and must be done by d + cycle_max
    skills: frozenset[str] = frozenset()  # what every visit of this patient needs
    withdrawal_risk: bool = False  # baclofen: named first in shortfalls
    last_day: int | None = None  # no refill needed after this day (e.g. a pump replacement is planned)
    fixed: tuple[int, ...] = ()  # days already booked: kept, counted as visits and against capacity
    fixed_nurses: tuple[str, ...] = ()  # the nurse of each fixed day, if known ("" = any suitable nurse)


@dataclass(frozen=True, slots=True)
class NurseDay:
    """One nurse's bookable visits on one day, and the nurse's skills."""

    day: int
    nurse: str
    visits: int
    skills: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Booking:
    """A proposed (or, `fixed`, existing) refill visit and the window it was placed in."""

    patient_id: str
    day: int
    nurse: str  # "" only for a fixed appointment no suitable nurse had room for (said in the plan's reasons)
    earliest: int
    latest: int
    fixed: bool = False


@dataclass(frozen=True, slots=True)
class Shortfall:
    """Capacity (or a latest safe day already past) cannot keep this patient safe."""

    patient_id: str
    latest: int
    day: int | None  # the first day with room, or None: no room before the end of the horizon
    days_late: int
    withdrawal_risk: bool
    reason: str


@dataclass(frozen=True, slots=True)
class Plan:
    """Bookings for every patient over the horizon, what could not be kept safe, and why."""

    method: str  # "cp-sat" or "greedy"
    bookings: tuple[Booking, ...]  # sorted by day, nurse, patient
    shortfalls: tuple[Shortfall, ...]  # withdrawal risk first, then most days late
    visits: int
    late_in_window: int  # sum over bookings of (day - earliest)
    max_daily_load: int
    status: str  # "optimal", "feasible", "greedy", or e.g. "time-limit: greedy kept"
    seconds: float
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Visit:
    """A visit a planner decided on (internal): the nurse is chosen by `build_plan` when it is None."""

    need: Need
    day: int
    earliest: int
    latest: int
    fixed: bool = False
    nurse: str | None = None


def needed_until(need: Need, horizon: int) -> int:
    """The last latest safe day for which a visit is still needed."""
    return horizon - 1 if need.last_day is None else min(horizon - 1, need.last_day)


def skill_words(skills: Iterable[str]) -> str:
    names = sorted(skills)
    return f"with {' and '.join(names)} skill" if names else ""


def validate(needs: Sequence[Need], capacity: Sequence[NurseDay], horizon: int) -> None:
    """Raise InputError, naming the field in words, for input no plan can be made from."""
    if horizon < 1:
        raise InputError("horizon", f"the planning horizon must be at least 1 day, not {horizon}")
    on_day: dict[int, set[str]] = defaultdict(set)
    skills = {(nd.day, nd.nurse): nd.skills for nd in capacity}
    for i, nd in enumerate(capacity):
        where = f"capacity[{i}]"
        if not nd.nurse:
            raise InputError(f"{where}.nurse", "the nurse needs a name")
        if nd.visits < 0:
            raise InputError(f"{where}.visits", f"nurse {nd.nurse} has negative capacity ({nd.visits}) on day {nd.day}")
        if not 0 <= nd.day < horizon:
            raise InputError(f"{where}.day", f"day {nd.day} of nurse {nd.nurse} is outside the horizon 0–{horizon - 1}")
        if nd.nurse in on_day[nd.day]:
            raise InputError(f"{where}.nurse", f"nurse {nd.nurse} is listed twice on day {nd.day}")
        on_day[nd.day].add(nd.nurse)
    seen: set[str] = set()
    for i, n in enumerate(needs):
        where = f"needs[{i}]"
        if not n.patient_id:
            raise InputError(f"{where}.patient_id", "the patient needs an id")
        if n.patient_id in seen:
            raise InputError(f"{where}.patient_id", f"patient {n.patient_id} is listed twice")
        seen.add(n.patient_id)
        if n.cycle_min < 1:
            raise InputError(
                f"{where}.cycle_min", f"the shortest refill cycle must be at least 1 day, not {n.cycle_min}"
            )
        if n.cycle_min > n.cycle_max:
            raise InputError(
                f"{where}.cycle_min",
                f"the shortest refill cycle ({n.cycle_min} days) is longer than the longest ({n.cycle_max} days)",
            )
        if n.earliest > n.latest:
            raise InputError(
                f"{where}.earliest", f"the earliest useful day ({n.earliest}) is after the latest safe day ({n.latest})"
            )
        if any(not s for s in n.skills):
            raise InputError(f"{where}.skills", "a skill needs a name")
        if list(n.fixed) != sorted(set(n.fixed)):
            raise InputError(f"{where}.fixed", "the booked days must be in order, each once")
        if any(not 0 <= d < horizon for d in n.fixed):
            raise InputError(f"{where}.fixed", f"a booked day is outside the horizon 0–{horizon - 1}")
        if n.fixed_nurses and len(n.fixed_nurses) != len(n.fixed):
            raise InputError(f"{where}.fixed_nurses", "give one nurse for each booked day (or none at all)")
        for d, nurse in zip(n.fixed, n.fixed_nurses, strict=False):
            if nurse and nurse not in on_day[d]:
                raise InputError(f"{where}.fixed_nurses", f"unknown nurse {nurse}: not working on day {d}")
            if nurse and not n.skills <= skills[(d, nurse)]:
                missing = ", ".join(sorted(n.skills - skills[(d, nurse)]))
                raise InputError(f"{where}.fixed_nurses", f"nurse {nurse} (day {d}) lacks the {missing} skill")


def fixed_windows(need: Need) -> list[tuple[int, int]]:
    """The window each fixed day stands in: the first the patient's, each next one after the previous fixed day."""
    windows = []
    prev: int | None = None
    for d in need.fixed:
        windows.append(
            (max(need.earliest, 0), need.latest) if prev is None else (prev + need.cycle_min, prev + need.cycle_max)
        )
        prev = d
    return windows


def next_window(need: Need) -> tuple[int, int]:
    """The window of the first visit to plan (after the fixed days, if any)."""
    if need.fixed:
        return need.fixed[-1] + need.cycle_min, need.fixed[-1] + need.cycle_max
    return max(need.earliest, 0), need.latest


def suits(nurse_skills: frozenset[str], need: Need) -> bool:
    return need.skills <= nurse_skills


def shortfall_reason(need: Need, earliest: int, latest: int, day: int | None, horizon: int) -> str:
    who = f"no nurse {skill_words(need.skills)}".replace("  ", " ").strip()
    if latest < 0:
        head = f"the latest safe day (day {latest}) is before the first planning day"
    elif latest < earliest:
        head = f"the latest safe day (day {latest}) is before the window opens (day {earliest})"
    else:
        head = f"{who} has room between day {earliest} and day {latest}"
    if day is None:
        return f"{head}; no room before the end of the horizon (day {horizon - 1})"
    return f"{head}; first room on day {day} ({days(day - latest)} late)"


def days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def reserve_fixed(
    needs: Sequence[Need], capacity: Sequence[NurseDay]
) -> tuple[list[Visit], dict[tuple[int, str], int], list[str]]:
    """Place the existing appointments first: a named nurse keeps hers, the others get the least-skilled suitable nurse
    with room. Returns the fixed visits, the room left per (day, nurse), and reasons for any that found no room."""
    room = {(nd.day, nd.nurse): nd.visits for nd in capacity}
    by_day: dict[int, list[NurseDay]] = defaultdict(list)
    for nd in capacity:
        by_day[nd.day].append(nd)
    visits: list[Visit] = []
    reasons: list[str] = []
    for need in needs:
        nurses = need.fixed_nurses or ("",) * len(need.fixed)
        for d, (e, lat), named in zip(need.fixed, fixed_windows(need), nurses, strict=True):
            nurse = named
            if nurse:
                room[(d, nurse)] -= 1  # kept even past the nurse's capacity: it exists
                if room[(d, nurse)] < 0:
                    reasons.append(f"{need.patient_id}: the booked visit on day {d} puts nurse {nurse} over capacity")
            else:
                fits = [nd for nd in by_day[d] if suits(nd.skills, need) and room[(d, nd.nurse)] > 0]
                if fits:
                    nurse = min(fits, key=lambda nd: (len(nd.skills), -room[(d, nd.nurse)], nd.nurse)).nurse
                    room[(d, nurse)] -= 1
                else:
                    reasons.append(f"{need.patient_id}: the booked visit on day {d} has no suitable nurse with room")
            visits.append(Visit(need, d, e, lat, fixed=True, nurse=nurse))
    return visits, room, reasons


def assign_nurses(visits: Sequence[Visit], nurses: Sequence[NurseDay], room: dict[tuple[int, str], int]) -> list[str]:
    """One day's nurse for each visit, by augmenting paths from the visits' skill sets to the nurses (a small max
    flow): whenever the day's per-skill-set capacity limits hold, every visit gets a suitable nurse. A visit left over
    gets "" (the checker then rejects the plan)."""
    kinds = sorted({v.need.skills for v in visits}, key=lambda s: (len(s), sorted(s)))
    index = {kind: i for i, kind in enumerate(kinds)}
    order = sorted(nurses, key=lambda nd: (len(nd.skills), nd.nurse))  # least-skilled first: keep skilled room
    comp = [[nd.nurse for nd in order if kind <= nd.skills] for kind in kinds]
    left = {nd.nurse: room.get((nd.day, nd.nurse), 0) for nd in nurses}
    flow: dict[tuple[int, str], int] = defaultdict(int)

    def augment(k: int, seen: set[int]) -> bool:
        seen.add(k)
        for n in comp[k]:
            if left[n] > 0:
                left[n] -= 1
                flow[(k, n)] += 1
                return True
        for n in comp[k]:  # no free room: move a visit of another skill set off nurse n, if it can go elsewhere
            for k2 in range(len(kinds)):
                if k2 not in seen and flow[(k2, n)] > 0:
                    flow[(k2, n)] -= 1
                    if augment(k2, seen):
                        flow[(k, n)] += 1
                        return True
                    flow[(k2, n)] += 1
        return False

    placed = [augment(index[v.need.skills], set()) for v in visits]
    nurse_of = [""] * len(visits)
    for k in range(len(kinds)):  # hand each skill set's nurses out to its visits, in patient order
        slots = [n for n in comp[k] for _ in range(flow[(k, n)])]
        members = [i for i, v in enumerate(visits) if index[v.need.skills] == k and placed[i]]
        members.sort(key=lambda i: visits[i].need.patient_id)
        for i, n in zip(members, slots, strict=True):
            nurse_of[i] = n
    return nurse_of


def build_plan(
    method: str,
    needs: Sequence[Need],
    capacity: Sequence[NurseDay],
    horizon: int,
    visits: Sequence[Visit],
    unbooked: Sequence[tuple[Need, int, int]],
    room: dict[tuple[int, str], int],
    status: str,
    seconds: float,
    reasons: Sequence[str],
) -> Plan:
    """Nurses for the visits that have none yet (per day, from `room`), the shortfalls, the figures, in order.
    `unbooked`: (need, earliest, latest) of visits no day before the horizon's end had room for."""
    by_day: dict[int, list[NurseDay]] = defaultdict(list)
    for nd in capacity:
        by_day[nd.day].append(nd)
    open_visits: dict[int, list[Visit]] = defaultdict(list)
    for v in visits:
        if v.nurse is None:
            open_visits[v.day].append(v)
    bookings: list[Booking] = []
    for v in visits:
        if v.nurse is not None:
            bookings.append(Booking(v.need.patient_id, v.day, v.nurse, v.earliest, v.latest, v.fixed))
    for day, todo in open_visits.items():
        todo.sort(key=lambda v: v.need.patient_id)
        for v, nurse in zip(todo, assign_nurses(todo, by_day[day], room), strict=True):
            bookings.append(Booking(v.need.patient_id, v.day, nurse, v.earliest, v.latest, v.fixed))
    bookings.sort(key=lambda b: (b.day, b.nurse, b.patient_id))
    shortfalls = [
        Shortfall(
            v.need.patient_id,
            v.latest,
            v.day,
            v.day - v.latest,
            v.need.withdrawal_risk,
            f"the booked appointment on day {v.day} is {days(v.day - v.latest)} after the latest safe day (day "
            f"{v.latest})"
            if v.fixed
            else shortfall_reason(v.need, v.earliest, v.latest, v.day, horizon),
        )
        for v in visits
        if v.day > v.latest
    ]
    shortfalls += [
        Shortfall(n.patient_id, lat, None, horizon - lat, n.withdrawal_risk, shortfall_reason(n, e, lat, None, horizon))
        for n, e, lat in unbooked
    ]
    shortfalls.sort(key=lambda s: (not s.withdrawal_risk, -s.days_late, s.patient_id, s.latest))
    load: dict[int, int] = defaultdict(int)
    for b in bookings:
        load[b.day] += 1
    late_in_window = sum(max(0, b.day - b.earliest) for b in bookings)
    summary = [
        f"{len(bookings)} visits for {len(needs)} patients over {horizon} days "
        f"({sum(1 for b in bookings if b.fixed)} already booked); {late_in_window} days into their windows in all",
        f"{len(shortfalls)} visits past the latest safe day"
        + (f" ({sum(1 for s in shortfalls if s.withdrawal_risk)} with withdrawal risk)" if shortfalls else ""),
    ]
    return Plan(
        method=method,
        bookings=tuple(bookings),
        shortfalls=tuple(shortfalls),
        visits=len(bookings),
        late_in_window=late_in_window,
        max_daily_load=max(load.values(), default=0),
        status=status,
        seconds=seconds,
        reasons=(*reasons, *summary),
    )


def check_plan(needs: Sequence[Need], capacity: Sequence[NurseDay], horizon: int, plan: Plan) -> list[str]:
    """Every way the plan breaks the rules, in words (empty: the plan is valid). Independent of the planners: it
    rebuilds each patient's windows from the needs and the plan's own days."""
    problems: list[str] = []
    nurse_days = {(nd.day, nd.nurse): nd for nd in capacity}
    by_id = {n.patient_id: n for n in needs}
    used: dict[tuple[int, str], int] = defaultdict(int)
    mine: dict[str, list[Booking]] = defaultdict(list)
    if list(plan.bookings) != sorted(plan.bookings, key=lambda b: (b.day, b.nurse, b.patient_id)):
        problems.append("bookings are not sorted by day, nurse, patient")
    for b in plan.bookings:
        need = by_id.get(b.patient_id)
        if need is None:
            problems.append(f"booking for unknown patient {b.patient_id} on day {b.day}")
            continue
        mine[b.patient_id].append(b)
        if not 0 <= b.day < horizon:
            problems.append(f"{b.patient_id}: booked on day {b.day}, outside the horizon")
        if b.nurse == "" and b.fixed:
            continue  # an existing appointment no nurse had room for: kept, said in the reasons
        nd = nurse_days.get((b.day, b.nurse))
        if nd is None:
            problems.append(f"{b.patient_id}: nurse {b.nurse or '(none)'} does not work on day {b.day}")
            continue
        used[(b.day, b.nurse)] += 1
        if not need.skills <= nd.skills:
            problems.append(f"{b.patient_id}: nurse {b.nurse} lacks {', '.join(sorted(need.skills - nd.skills))}")
    fixed_used: dict[tuple[int, str], int] = defaultdict(int)
    for b in plan.bookings:
        fixed_used[(b.day, b.nurse)] += b.fixed
    for (day, nurse), count in sorted(used.items()):
        if count > max(nurse_days[(day, nurse)].visits, fixed_used[(day, nurse)]):  # existing ones may overfill
            problems.append(
                f"nurse {nurse} has {count} visits on day {day}, over capacity {nurse_days[(day, nurse)].visits}"
            )
    late = defaultdict(list)
    for s in plan.shortfalls:
        late[s.patient_id].append(s)
    for need in needs:
        problems += _check_chain(
            need, horizon, sorted(mine[need.patient_id], key=lambda b: b.day), late[need.patient_id]
        )
    if plan.visits != len(plan.bookings):
        problems.append(f"visits says {plan.visits}, there are {len(plan.bookings)} bookings")
    order = sorted(plan.shortfalls, key=lambda s: (not s.withdrawal_risk, -s.days_late))
    if [(s.withdrawal_risk, s.days_late) for s in order] != [(s.withdrawal_risk, s.days_late) for s in plan.shortfalls]:
        problems.append("shortfalls are not withdrawal risk first, then most days late")
    return problems


def _check_chain(need: Need, horizon: int, mine: list[Booking], late: list[Shortfall]) -> list[str]:
    who = need.patient_id
    problems: list[str] = []
    fixed_days = [b.day for b in mine if b.fixed]
    if fixed_days != list(need.fixed):
        problems.append(f"{who}: booked days {list(need.fixed)} not kept as they are (plan has {fixed_days})")
    until = horizon - 1 if need.last_day is None else min(horizon - 1, need.last_day)
    earliest, latest = max(need.earliest, 0), need.latest
    named = {(s.latest, s.day): s for s in late}
    accounted = 0
    for b in mine:
        if latest > until and not b.fixed:
            problems.append(
                f"{who}: visit on day {b.day} is not needed (its latest safe day {latest} is after {until})"
            )
        if (b.earliest, b.latest) != (earliest, latest):
            problems.append(
                f"{who}: visit on day {b.day} says window {b.earliest}–{b.latest}, it is {earliest}–{latest}"
            )
        if b.day < earliest and not b.fixed:
            problems.append(f"{who}: visit on day {b.day} is before its earliest useful day {earliest}")
        if b.day > latest:
            s = named.get((latest, b.day))
            if s is None or s.days_late != b.day - latest:
                problems.append(f"{who}: visit on day {b.day} is past the latest safe day {latest} and not named late")
            else:
                accounted += 1
        earliest, latest = b.day + need.cycle_min, b.day + need.cycle_max
    if latest <= until:
        s = named.get((latest, None))
        if s is None:
            problems.append(f"{who}: no visit by the latest safe day {latest}")
        else:
            accounted += 1
    if accounted != len(late):
        problems.append(f"{who}: {len(late)} shortfalls named, {accounted} visits late or missing")
    return problems


def compare(a: Plan, b: Plan) -> dict[str, object]:
    """Two plans' figures side by side (for printing beside each other): visits, their ratio, lateness, shortfalls."""
    return {
        "methods": (a.method, b.method),
        "status": (a.status, b.status),
        "visits": (a.visits, b.visits),
        "ratio": round(a.visits / b.visits, 4) if b.visits else None,
        "late_in_window": (a.late_in_window, b.late_in_window),
        "past_latest": (len(a.shortfalls), len(b.shortfalls)),
        "days_past_latest": (sum(s.days_late for s in a.shortfalls), sum(s.days_late for s in b.shortfalls)),
        "withdrawal_risk_past_latest": (
            sum(1 for s in a.shortfalls if s.withdrawal_risk),
            sum(1 for s in b.shortfalls if s.withdrawal_risk),
        ),
        "max_daily_load": (a.max_daily_load, b.max_daily_load),
        "seconds": (round(a.seconds, 3), round(b.seconds, 3)),
    }
