"""A synthetic clinic for the planner's benchmark and tests: seeded and deterministic (no clock, no I/O).

Patients: reservoir 20 or 40 mL, rate 0.2–1.0 mL/day; the longest cycle is the days until the low-reservoir alarm
(2 mL left) or the drug's stability limit (90 days; 60 days for compounded solutions, 56 for ziconotide), less a
3-day margin, kept to 3–12 weeks; the shortest cycle is 60–80 % of it. Each patient is somewhere in the current cycle
on day 0. About 15 % baclofen (withdrawal risk), 10 % compounded, 3 % ziconotide, 2 % home visits; 3 % already have
an appointment in the first two weeks and 1 % a pump replacement planned.

Nurses work Monday to Friday (day 0 is a Monday), 8–12 visits a day each; there are enough of them, and of each skill
(at least two per skill), for `slack` × the visits an as-soon-as-possible clinic would need.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from openidds.planning.model import Need, NurseDay

SKILLS = ("compounded", "ziconotide", "home-visit")


def synthetic_needs(patients: int, horizon: int, seed: int = 1) -> list[Need]:
    rng = random.Random(seed)
    needs = []
    for p in range(patients):
        baclofen = rng.random() < 0.15
        skills = set()
        if rng.random() < 0.10:
            skills.add("compounded")
        if not baclofen and rng.random() < 0.03:
            skills.add("ziconotide")
        if rng.random() < 0.02:
            skills.add("home-visit")
        volume = rng.choice((20.0, 40.0))
        rate = rng.uniform(0.2, 1.0)
        stability = 56 if "ziconotide" in skills else 60 if "compounded" in skills else 90
        cycle_max = max(21, min(84, math.floor(min((volume - 2.0) / rate, stability)) - 3))
        cycle_min = max(1, round(cycle_max * rng.uniform(0.6, 0.8)))
        since = rng.randrange(0, cycle_max)  # days since the last refill, on day 0
        earliest, latest = cycle_min - since, cycle_max - since
        fixed: tuple[int, ...] = ()
        if rng.random() < 0.03:
            days = [d for d in range(max(earliest, 0), min(latest, 13) + 1) if d % 7 < 5]
            fixed = (rng.choice(days),) if days else ()
        last_day = rng.randrange(horizon // 3, horizon) if rng.random() < 0.01 else None
        needs.append(
            Need(
                patient_id=f"P{p:05d}",
                earliest=earliest,
                latest=latest,
                cycle_min=cycle_min,
                cycle_max=cycle_max,
                skills=frozenset(skills),
                withdrawal_risk=baclofen,
                last_day=last_day,
                fixed=fixed,
            )
        )
    return needs


def asap_visits(need: Need, horizon: int) -> int:
    """How many visits booking each one as soon as its window opens takes (the greedy with unlimited room)."""
    until = horizon - 1 if need.last_day is None else min(horizon - 1, need.last_day)
    count, prev = len(need.fixed), need.fixed[-1] if need.fixed else None
    e, lat = (max(need.earliest, 0), need.latest) if prev is None else (prev + need.cycle_min, prev + need.cycle_max)
    while lat <= until:
        day = e + {5: 2, 6: 1}.get(e % 7, 0)  # the next open day
        count += 1
        e, lat = day + need.cycle_min, day + need.cycle_max
    return count


def synthetic_capacity(needs: Sequence[Need], horizon: int, slack: float = 1.4, seed: int = 1) -> list[NurseDay]:
    rng = random.Random(seed + 7919)
    open_days = [d for d in range(horizon) if d % 7 < 5]
    per_day = sum(asap_visits(n, horizon) for n in needs) / max(1, len(open_days))
    skilled_per_day = {s: sum(asap_visits(n, horizon) for n in needs if s in n.skills) / len(open_days) for s in SKILLS}
    nurses: list[tuple[str, int, frozenset[str]]] = []
    total = 0
    for s in SKILLS:  # at least two nurses with each skill, more if its visits need them
        i = 0
        while i < 2 or sum(v for _, v, k in nurses if s in k) < slack * skilled_per_day[s]:
            visits = rng.randint(8, 12)
            senior = i == 0  # the first nurse of each skill has them all: patients needing two skills
            nurses.append((f"N{len(nurses) + 1:02d}-{s}", visits, frozenset(SKILLS) if senior else frozenset({s})))
            total += visits
            i += 1
    while total < slack * per_day:
        visits = rng.randint(8, 12)
        nurses.append((f"N{len(nurses) + 1:02d}", visits, frozenset()))
        total += visits
    return [NurseDay(d, name, visits, skills) for d in open_days for name, visits, skills in nurses]


def reduce_capacity(capacity: Sequence[NurseDay], fraction: float = 0.1, seed: int = 1) -> list[NurseDay]:
    """The same clinic with `fraction` of its nurse-days removed at random (illness, leave, training)."""
    rng = random.Random(seed + 104729)
    drop = set(rng.sample(range(len(capacity)), round(len(capacity) * fraction)))
    return [nd for i, nd in enumerate(capacity) if i not in drop]
