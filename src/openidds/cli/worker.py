"""`idds worker`: the background jobs (re-checks, missed visits, reminders, the outbox's delivery) on their own,
for a clinic that runs the web server elsewhere or with `idds serve --no-worker`. Registered on the `idds` app by
cli/app.py."""

from __future__ import annotations

import logging
import os
import sys
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from openidds.cli.app import app, guarded
from openidds.cli.database import DatabaseOpt
from openidds.cli.database import say as _say
from openidds.errors import InputError

if TYPE_CHECKING:
    from sqlalchemy import Engine


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 1 <= value <= 3600:
        raise InputError("--interval", f"expected seconds from 1 to 3600, got '{text}'")
    return value


def transports_line() -> str:
    """Where messages go, in one line (the e-mail server's address without its password)."""
    from openidds.worker.transports import SmsWebhook, Smtp, Transports

    found = Transports.from_env()
    parts = []
    for channel, label in (("email", "e-mail"), ("sms", "SMS")):
        transport = found.by_channel.get(channel)
        if isinstance(transport, Smtp):
            scheme = "smtps" if transport.tls else "smtp"
            parts.append(f"{label} via {scheme}://{transport.host}:{transport.port}")
        elif isinstance(transport, SmsWebhook):
            parts.append(f"{label} via {transport.url.split('?')[0]}")
        else:
            parts.append(f"{label}: {found.missing.get(channel, 'not configured')}")
    return "; ".join(parts)


@app.command()
def worker(
    database: DatabaseOpt = None,
    once: Annotated[bool, typer.Option("--once", help="Run each job once and exit (e.g. from cron).")] = False,
    interval: Annotated[str, typer.Option("--interval", metavar="S", help="Seconds between runs.")] = "30",
) -> None:
    """Run the background jobs: re-check patients whose projections passed, mark missed visits, queue visit
    reminders, deliver the outbox (e-mail: $IDDS_SMTP_URL; SMS: $IDDS_SMS_WEBHOOK_URL and
    $IDDS_SMS_WEBHOOK_SECRET). Ctrl+C stops it."""
    with guarded():
        seconds = _interval(interval)
        from openidds.cli.database import open_database as _open_database
        from openidds.cli.database import shown_url as _shown_url

        engine = _open_database(database, create=False)
    from openidds.worker.loop import default_jobs, run_forever, run_once

    logging.basicConfig(level=logging.WARNING if once else logging.INFO, format="%(levelname)s %(message)s")
    _say(f"OpenIDDS worker. Database: {_shown_url(str(engine.url))}")
    _say(f"Delivery: {transports_line()}")
    jobs = default_jobs()
    if once:
        done = run_once(engine, datetime.now(UTC), jobs)
        engine.dispose()
        _say(", ".join(f"{name} {count}" for name, count in done.items()))
        if any(count < 0 for count in done.values()):
            sys.stderr.write("error: a job failed (see above)\n")
            raise typer.Exit(1)
        return
    _say(f"Every {seconds:g} s (Ctrl+C stops it).")
    stop = threading.Event()
    try:
        run_forever(engine, stop, seconds, jobs=jobs)
    except KeyboardInterrupt:
        stop.set()
    finally:
        engine.dispose()


def demo_mail(engine: Engine, site: str, seeded: bool) -> object:
    """The demo's loopback mail catcher (worker/mailcatcher.py), $IDDS_SMTP_URL pointed at it unless set; in the
    demo's own database (`seeded`: its logins are there), its patients reminded by e-mail at fictitious addresses,
    with one visit booked to remind if none is. None if the catcher cannot start."""
    from openidds.db import writers
    from openidds.service.contacts import demo_contacts, demo_visit
    from openidds.worker import mailcatcher

    try:
        mailbox, _controller = mailcatcher.start()
    except (OSError, RuntimeError) as exc:
        _say(f"Demo mail catcher not started: {exc}")
        return None
    if os.environ.get("IDDS_SMTP_URL"):
        _say(f"Demo mail catcher on {mailbox.address}, unused: IDDS_SMTP_URL is set.")
    else:
        os.environ["IDDS_SMTP_URL"] = mailbox.address
        _say(f"Demo mail catcher: {mailbox.address} (what it receives: {site}/outbox/demo-mail).")
    if seeded:
        with writers(engine)() as s, s.begin():
            demo_contacts(s, datetime.now(UTC))
            demo_visit(s, datetime.now(UTC))
    return mailbox


def background(engine: Engine) -> threading.Event:
    """The worker in a thread beside `idds serve` (set the event to stop it), said in serve's startup lines."""
    from openidds.worker.loop import INTERVAL_S, start_thread

    _say(f"Background worker: on, every {INTERVAL_S:g} s ({transports_line()}).")
    return start_thread(engine)[1]
