"""Instants and wall-clock time, as integers of microseconds.

Instants are UTC. A schedule runs on the clinic's local wall clock: the rate at an instant is the step in
effect at the local wall-clock time of that instant. So on a spring-forward day the steps inside the skipped
hour take effect when the clock jumps, and on a fall-back day the repeated hour runs twice; a rate in mL/day
is always per 24 h of elapsed time.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

US = 1_000_000
MINUTE_US = 60 * US
HOUR_US = 3600 * US
DAY_US = 86_400 * US
WEEK_US = 7 * DAY_US
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Wall-clock microseconds count from Monday 2001-01-01 00:00, so week offsets start on Monday.
WALL_REFERENCE = datetime(2001, 1, 1)
_WALL_REFERENCE_US = (WALL_REFERENCE - datetime(1970, 1, 1)) // timedelta(microseconds=1)
HORIZON_YEARS = 200  # projections stop here: nothing in a pump lasts longer
HORIZON_US = HORIZON_YEARS * 366 * DAY_US
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)  # instants a program may name: the projections must fit a datetime
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def to_us(instant: datetime) -> int:
    if instant.tzinfo is None:
        raise ValueError("instant without a time zone")
    return (instant - EPOCH) // timedelta(microseconds=1)


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def _offset_us(zone: ZoneInfo, second: int) -> int:
    off = datetime.fromtimestamp(second, tz=zone).utcoffset()
    assert off is not None
    return off // timedelta(microseconds=1)


@lru_cache(maxsize=4096)
def _transitions_in_year(zone_key: str, year: int) -> tuple[tuple[int, int], ...]:
    """(instant µs, new offset µs) of every UTC-offset change in [year-01-01Z, next year-01-01Z)."""
    zone = ZoneInfo(zone_key)
    start = int(datetime(year, 1, 1, tzinfo=UTC).timestamp())
    end = int(datetime(year + 1, 1, 1, tzinfo=UTC).timestamp())
    found: list[tuple[int, int]] = []
    prev_second, prev = start - 1, _offset_us(zone, start - 1)
    # Daily probes, then bisection to the second: offsets never change twice within a day.
    for second in range(start, end + 1, 86_400):
        second = min(second, end - 1)
        off = _offset_us(zone, second)
        if off != prev:
            lo, hi = prev_second, second
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _offset_us(zone, mid) == prev:
                    lo = mid
                else:
                    hi = mid
            found.append((hi * US, off))
            prev = off
        prev_second = second
    return tuple(found)


def offset_at(zone: ZoneInfo, us: int) -> int:
    return _offset_us(zone, us // US)


def offset_spans(zone: ZoneInfo, start_us: int, end_us: int | None) -> Iterator[tuple[int, int | None, int]]:
    """Consecutive (span start, span end or None, UTC offset µs) covering [start_us, end_us)."""
    year = from_us(start_us).year
    last_year = from_us(end_us).year if end_us is not None else year + HORIZON_YEARS
    cur, off = start_us, offset_at(zone, start_us)
    while year <= last_year:
        for instant, new_off in _transitions_in_year(zone.key, year):
            if instant <= cur:
                continue
            if end_us is not None and instant >= end_us:
                yield cur, end_us, off
                return
            yield cur, instant, off
            cur, off = instant, new_off
        year += 1
    if end_us is None:
        yield cur, None, off
    elif cur < end_us:
        yield cur, end_us, off


def wall_us(utc_us: int, offset_us: int) -> int:
    """Local wall-clock microseconds since the Monday reference, for an instant and its UTC offset."""
    return utc_us + offset_us - _WALL_REFERENCE_US


def utc_from_wall(wall: int, offset_us: int) -> int:
    return wall - offset_us + _WALL_REFERENCE_US


class LocalTimeError(ValueError):
    """A local date-time that does not exist (DST gap) or exists twice (DST overlap)."""


def localize(naive: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock time; refuses times in a DST gap or overlap."""
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    utc_first, utc_second = first.astimezone(UTC), second.astimezone(UTC)
    if utc_first.astimezone(zone).replace(tzinfo=None) != naive:
        raise LocalTimeError(f"{naive:%Y-%m-%d %H:%M} does not exist in {zone.key} (the clocks jump forward over it)")
    if utc_first != utc_second:
        raise LocalTimeError(
            f"{naive:%Y-%m-%d %H:%M} happens twice in {zone.key} (the clocks fall back): "
            "give the UTC offset, e.g. '2026-11-01T01:30-05:00'"
        )
    return utc_first
