"""The baseline refill planner: earliest deadline first, booking each visit as soon as its window opens.

This is what a clinic does without a planner: walk the days in order; each day, among the patients whose window is
open (earliest <= day), take them by latest safe day (ties: withdrawal risk first, then patient id) while a suitable
nurse (least-skilled first, so skilled room is kept) has room. A patient whose latest safe day passes without room
stays first in line and is booked on the first day with room, as a named Shortfall.
"""

from __future__ import annotations

import heapq
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace

from openidds.planning.model import (
    Need,
    NurseDay,
    Plan,
    Visit,
    build_plan,
    needed_until,
    next_window,
    reserve_fixed,
    validate,
)


def greedy_visits(
    needs: Sequence[Need], capacity: Sequence[NurseDay], horizon: int
) -> tuple[list[Visit], list[tuple[Need, int, int]], list[str]]:
    """The greedy's visits (fixed ones included, every nurse chosen), the visits no day had room for, and reasons."""
    visits, room, reasons = reserve_fixed(needs, capacity)
    by_day: dict[int, list[NurseDay]] = defaultdict(list)
    for nd in capacity:
        by_day[nd.day].append(nd)
    for nurses in by_day.values():
        nurses.sort(key=lambda nd: (len(nd.skills), nd.nurse))
    waiting: list[tuple[int, int]] = []  # (earliest, index): windows not open yet
    window: dict[int, tuple[int, int]] = {}
    for i, need in enumerate(needs):
        e, lat = next_window(need)
        if lat <= needed_until(need, horizon):
            window[i] = (e, lat)
            heapq.heappush(waiting, (e, i))
    ready: list[tuple[int, bool, str, int]] = []  # (latest, no withdrawal risk, id, index): windows open
    for day in range(horizon):
        while waiting and waiting[0][0] <= day:
            _, i = heapq.heappop(waiting)
            need = needs[i]
            heapq.heappush(ready, (window[i][1], not need.withdrawal_risk, need.patient_id, i))
        nurses = [nd for nd in by_day.get(day, []) if room[(day, nd.nurse)] > 0]
        skipped = []
        while ready and nurses:
            item = heapq.heappop(ready)
            need = needs[item[3]]
            fits = [nd for nd in nurses if need.skills <= nd.skills]
            if not fits:
                skipped.append(item)
                continue
            nurse = fits[0].nurse  # least-skilled suitable nurse: skilled room is kept for who needs it
            room[(day, nurse)] -= 1
            if room[(day, nurse)] == 0:
                nurses = [nd for nd in nurses if nd.nurse != nurse]
            e, lat = window.pop(item[3])
            visits.append(Visit(need, day, e, lat, nurse=nurse))
            e, lat = day + need.cycle_min, day + need.cycle_max
            if lat <= needed_until(need, horizon):
                window[item[3]] = (e, lat)
                heapq.heappush(waiting, (e, item[3]))
        for item in skipped:
            heapq.heappush(ready, item)
    unbooked = [(needs[i], e, lat) for i, (e, lat) in sorted(window.items())]
    return visits, unbooked, reasons


def plan_greedy(needs: Sequence[Need], capacity: Sequence[NurseDay], horizon_days: int) -> Plan:
    """Earliest-deadline-first plan: each visit as soon as its window opens and a suitable nurse has room."""
    began = time.perf_counter()
    validate(needs, capacity, horizon_days)
    visits, unbooked, reasons = greedy_visits(needs, capacity, horizon_days)
    reasons = [
        "greedy: earliest deadline first, each visit booked as soon as its window opens and a suitable nurse has room",
        *reasons,
    ]
    plan = build_plan("greedy", needs, capacity, horizon_days, visits, unbooked, {}, "greedy", 0.0, reasons)
    return replace(plan, seconds=time.perf_counter() - began)
