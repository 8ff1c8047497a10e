"""The worker's loop: the jobs in order, once (`run_once`) or every `interval_s` seconds until stopped
(`run_forever`).

A job is a callable `(engine, now) -> int` (how many things it did). A job written against a Session instead
(its first parameter named `s`) is run in a writer's transaction of its own. The default jobs, in this order:

1. `openidds.service.recheck.recheck_due`: patients whose projected instants have passed, re-evaluated;
2. `openidds.service.appointments.sweep_missed`: visits past their end and not attended, marked missed (which
   queues the missed-visit notices in the same transaction);
3. `openidds.service.notify.queue_reminders`: the visit reminders now due, queued;
4. `openidds.worker.delivery.deliver_due`: the outbox delivered.

Each is imported when the loop starts: a job whose module or function does not exist (yet) is skipped with a
logged warning. A job that raises is logged and the next runs: one failure never stops the others, or the loop.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from sqlalchemy import Engine

from openidds.db import writers

log = logging.getLogger(__name__)
Job = Callable[[Engine, datetime], int]
DEFAULT_JOBS = (
    ("recheck", "openidds.service.recheck", "recheck_due"),
    ("missed", "openidds.service.appointments", "sweep_missed"),
    ("reminders", "openidds.service.notify", "queue_reminders"),
    ("delivery", "openidds.worker.delivery", "deliver_due"),
)
INTERVAL_S = 30.0


def _in_transaction(function: Callable[..., int | None]) -> Job:
    def job(engine: Engine, now: datetime) -> int:
        with writers(engine)() as s, s.begin():
            return int(function(s, now) or 0)

    return job


def as_job(function: Callable[..., int | None]) -> Job:
    """`function` as a job: given the engine, or a writer's Session when its first parameter is `s`."""
    params = list(inspect.signature(function).parameters)
    if params and params[0] == "s":
        return _in_transaction(function)

    def job(engine: Engine, now: datetime) -> int:
        return int(function(engine, now) or 0)

    return job


def default_jobs() -> list[tuple[str, Job]]:
    """The jobs that exist in this installation, in order; the missing ones logged and left out."""
    found: list[tuple[str, Job]] = []
    for name, module, attribute in DEFAULT_JOBS:
        try:
            function = getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError) as exc:
            log.warning("worker job %s skipped: %s.%s is not available (%s)", name, module, attribute, exc)
            continue
        found.append((name, as_job(function)))
    return found


def run_once(engine: Engine, now: datetime, jobs: Sequence[tuple[str, Job]] | None = None) -> dict[str, int]:
    """Each job once, in order, at `now`: how many things each did (-1: it failed, and was logged)."""
    done: dict[str, int] = {}
    for name, job in default_jobs() if jobs is None else jobs:
        try:
            done[name] = job(engine, now)
        except Exception:
            log.exception("worker job %s failed", name)
            done[name] = -1
    return done


def utc_now() -> datetime:
    return datetime.now(UTC)


def run_forever(
    engine: Engine,
    stop: threading.Event,
    interval_s: float = INTERVAL_S,
    clock: Callable[[], datetime] = utc_now,
    jobs: Sequence[tuple[str, Job]] | None = None,
) -> None:
    """Run the jobs every `interval_s` seconds until `stop` is set (it is checked while waiting, so stopping takes
    at most the rest of the current run)."""
    found = default_jobs() if jobs is None else list(jobs)
    log.info("worker started: %s every %s s", ", ".join(name for name, _ in found) or "no jobs", interval_s)
    while not stop.is_set():
        done = run_once(engine, clock(), found)
        if any(done.values()):
            log.info("worker: %s", ", ".join(f"{k} {v}" for k, v in done.items()))
        stop.wait(interval_s)


def start_thread(engine: Engine, interval_s: float = INTERVAL_S) -> tuple[threading.Thread, threading.Event]:
    """The worker in a daemon thread beside the web server (`idds serve`): set the event to stop it."""
    stop = threading.Event()
    thread = threading.Thread(target=run_forever, args=(engine, stop, interval_s), name="openidds-worker", daemon=True)
    thread.start()
    return thread, stop
