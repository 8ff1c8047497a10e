"""Delivering the outbox, on SQLite and PostgreSQL, to real receivers on loopback: an SMTP server (aiosmtpd) and an
SMS gateway's webhook (http.server in a thread). Retries with the back-off, never twice (two workers at once), a
channel with no transport, a send lost mid-way; and `idds worker --once`."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import update
from typer.testing import CliRunner

from openidds.cli.app import app as cli
from openidds.db import make_engine, migrate, sessions
from openidds.db.models import OutboxMessage
from openidds.service import notify
from openidds.worker import delivery, mailcatcher
from openidds.worker.loop import run_once
from openidds.worker.transports import SIGNATURE_HEADER, Transports
from tests.clinic_db import START, Clinic

SECRET = "test-webhook-secret"


@pytest.fixture
def smtp() -> Iterator[mailcatcher.Mailbox]:
    mailbox, controller = mailcatcher.start("127.0.0.1", 0)
    yield mailbox
    controller.stop()


class Gateway:
    """An SMS gateway's webhook on loopback: keeps what it receives; `answer` is the status it gives."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, Any], str, bytes]] = []
        self.answer = 202
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                gateway.received.append((json.loads(body), self.headers[SIGNATURE_HEADER], body))
                self.send_response(gateway.answer)
                self.end_headers()
                self.wfile.write(b'{"queued": true}')

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    found = Gateway()
    yield found
    found.server.shutdown()
    found.server.server_close()


def transports(smtp_url: str | None = None, sms_url: str | None = None) -> Transports:
    env = {"IDDS_SMTP_URL": smtp_url or "", "IDDS_SMS_WEBHOOK_URL": sms_url or "", "IDDS_SMS_WEBHOOK_SECRET": SECRET}
    return Transports.from_env(env)


def queue(clinic: Clinic, n: int = 1, channel: str = "email", key: str = "m") -> None:
    with clinic.sessions() as s, s.begin():
        for i in range(n):
            address = f"p{i}@example.org" if channel == "email" else f"+1 555 555 01{i:02d}"
            notify.enqueue(
                s, key=f"{key}{i}", event="visit-reminder-1d", channel=channel, address=address,  # type: ignore[arg-type]
                subject=f"Reminder {i}", body=f"Your visit {i} is tomorrow.\n", language="en", now=clinic.now,
            )  # fmt: skip


def rows(clinic: Clinic) -> list[OutboxMessage]:
    with clinic.sessions() as s:
        return list(s.query(OutboxMessage).order_by(OutboxMessage.id))


def test_delivered_by_email_and_sms_to_real_receivers(
    clinic: Clinic, smtp: mailcatcher.Mailbox, gateway: Gateway
) -> None:
    queue(clinic, 1, "email")
    queue(clinic, 1, "sms", key="s")
    assert delivery.deliver_due(clinic.engine, clinic.now, transports(smtp.address, gateway.url)) == 2
    [mail] = smtp.messages()
    expected_id = hashlib.sha256(b"m0").hexdigest()[:32]
    assert mail.to == ("p0@example.org",) and mail.sender == "pump-clinic@example.org"
    assert (mail.subject, mail.body) == ("Reminder 0", "Your visit 0 is tomorrow.\n")
    assert mail.message_id == f"<{expected_id}@example.org>"
    [(sms, signature, raw)] = gateway.received
    assert sms == {
        "to": "+1 555 555 0100",
        "body": "Your visit 0 is tomorrow.\n",
        "id": hashlib.sha256(b"s0").hexdigest()[:32],
    }
    assert signature == "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    email_row, sms_row = rows(clinic)
    assert (email_row.status, email_row.attempts, email_row.sent_at) == ("sent", 1, clinic.now)
    assert email_row.receipt == f"accepted by {smtp.address.removeprefix('smtp://')} as <{expected_id}@example.org>"
    assert (sms_row.status, sms_row.receipt) == ("sent", '202 {"queued": true}')
    # nothing more to send
    assert (
        delivery.deliver_due(clinic.engine, clinic.now + timedelta(hours=1), transports(smtp.address, gateway.url)) == 0
    )
    assert len(smtp.messages()) == 1 and len(gateway.received) == 1


def test_retried_with_the_back_off_until_the_receiver_is_up(clinic: Clinic, gateway: Gateway) -> None:
    port = mailcatcher.free_port("127.0.0.1", 0)  # nothing listens there yet
    queue(clinic, 1, "email")
    queue(clinic, 1, "sms", key="s")
    gateway.answer = 503
    down = transports(f"smtp://127.0.0.1:{port}", gateway.url)
    assert delivery.deliver_due(clinic.engine, START, down) == 0
    mail, sms = rows(clinic)
    # first failure: pending again 1 min later (15:00 → 15:01 UTC), with what went wrong
    assert (mail.status, mail.attempts, mail.next_attempt_at) == ("pending", 1, START + timedelta(minutes=1))
    assert mail.last_error.startswith(f"mail server 127.0.0.1:{port}:")
    assert (sms.status, sms.attempts, sms.last_error) == ("pending", 1, 'SMS gateway answered 503: {"queued": true}')
    assert delivery.deliver_due(clinic.engine, START + timedelta(seconds=59), down) == 0  # not due yet
    assert rows(clinic)[0].attempts == 1
    # second failure at 15:01: the next try 5 min later, 15:06
    assert delivery.deliver_due(clinic.engine, START + timedelta(minutes=1), down) == 0
    assert [(m.attempts, m.next_attempt_at) for m in rows(clinic)] == [(2, START + timedelta(minutes=6))] * 2
    # up again: sent at the next try
    mailbox = mailcatcher.Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        gateway.answer = 200
        up = transports(f"smtp://127.0.0.1:{port}", gateway.url)
        assert delivery.deliver_due(clinic.engine, START + timedelta(minutes=6), up) == 2
    finally:
        controller.stop()
    assert [(m.status, m.attempts, m.sent_at) for m in rows(clinic)] == [("sent", 3, START + timedelta(minutes=6))] * 2
    assert len(mailbox.messages()) == 1


def test_failed_for_good_after_the_last_attempt(clinic: Clinic) -> None:
    port = mailcatcher.free_port("127.0.0.1", 0)
    queue(clinic, 1)
    down, at = transports(f"smtp://127.0.0.1:{port}"), START
    for _ in range(6):
        delivery.deliver_due(clinic.engine, at, down)
        at = rows(clinic)[0].next_attempt_at
    [mail] = rows(clinic)
    assert (mail.status, mail.attempts) == ("failed", 6)
    assert at == START + timedelta(minutes=1 + 5 + 30 + 120 + 360)  # the last try's time, kept


def test_never_twice_with_two_workers_at_once(clinic: Clinic, smtp: mailcatcher.Mailbox, gateway: Gateway) -> None:
    queue(clinic, 30, "email")
    queue(clinic, 10, "sms", key="s")
    both = transports(smtp.address, gateway.url)
    barrier = threading.Barrier(3)
    sent: list[int] = []

    def work() -> None:
        barrier.wait()
        for _ in range(3):  # each worker goes on claiming until nothing is left
            sent.append(delivery.deliver_due(clinic.engine, clinic.now, both, limit=7))

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [m.message_id for m in smtp.messages()]
    assert len(ids) == len(set(ids)) == 30
    texts = [r[0]["id"] for r in gateway.received]
    assert len(texts) == len(set(texts)) == 10
    assert sum(sent) == 40 and all(m.status == "sent" and m.attempts == 1 for m in rows(clinic))


def test_a_channel_with_no_transport_waits_and_says_why(clinic: Clinic, smtp: mailcatcher.Mailbox) -> None:
    queue(clinic, 1, "sms")
    assert delivery.deliver_due(clinic.engine, clinic.now, transports(smtp.address)) == 0
    [sms] = rows(clinic)
    assert (sms.status, sms.attempts) == ("pending", 0)
    assert sms.last_error.startswith("no SMS gateway configured")
    plain = Transports.from_env(
        {"IDDS_SMS_WEBHOOK_URL": "http://gateway.example.org/sms", "IDDS_SMS_WEBHOOK_SECRET": "x"}
    )
    assert "https" in plain.missing["sms"]  # plain http off this machine: refused
    unsigned = Transports.from_env({"IDDS_SMS_WEBHOOK_URL": "https://gateway.example.org/sms"})
    assert "IDDS_SMS_WEBHOOK_SECRET" in unsigned.missing["sms"]


def test_a_send_lost_mid_way_is_sent_again_with_the_same_id(clinic: Clinic, smtp: mailcatcher.Mailbox) -> None:
    queue(clinic, 1)
    [claimed] = delivery.claim(clinic.engine, START, ["email"])  # a worker claims it, then dies before recording
    assert rows(clinic)[0].status == "sending"
    mail = transports(smtp.address)
    assert delivery.deliver_due(clinic.engine, START + timedelta(minutes=4), mail) == 0  # its lease still holds
    assert delivery.deliver_due(clinic.engine, START + delivery.LEASE, mail) == 1
    [row] = rows(clinic)
    assert (row.status, row.attempts) == ("sent", 2)  # the lost try counted
    assert smtp.messages()[0].message_id.startswith(f"<{claimed.message.id}@")
    # the first worker, back, cannot record over it
    with clinic.sessions() as s, s.begin():
        s.execute(update(OutboxMessage).values(status="sent"))
    assert delivery._record(clinic.engine, claimed, {"status": "failed"}) is False


def test_the_worker_loop_runs_its_jobs_and_survives_a_failing_one(clinic: Clinic, smtp: mailcatcher.Mailbox) -> None:
    queue(clinic, 2)
    calls: list[str] = []

    def broken(engine: Any, now: Any) -> int:
        calls.append("broken")
        raise RuntimeError("a bug")

    def deliver(engine: Any, now: Any) -> int:
        return delivery.deliver_due(engine, now, transports(smtp.address))

    assert run_once(clinic.engine, clinic.now, [("broken", broken), ("delivery", deliver)]) == {
        "broken": -1,
        "delivery": 2,
    }
    assert calls == ["broken"]


def test_idds_worker_once(tmp_path: Path, smtp: mailcatcher.Mailbox, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'clinic.sqlite3'}"
    engine = make_engine(url)
    migrate(engine)
    with sessions(engine)() as s, s.begin():
        notify.enqueue(
            s, key="cli", event="visit-reminder-1d", channel="email", address="p@example.org", subject="Hello",
            body="Tomorrow.\n", language="en", now=START,
        )  # fmt: skip
    engine.dispose()
    monkeypatch.setenv("IDDS_SMTP_URL", smtp.address)
    monkeypatch.delenv("IDDS_SMS_WEBHOOK_URL", raising=False)
    result = CliRunner().invoke(cli, ["worker", "--database", url, "--once"])
    assert result.exit_code == 0, result.output
    assert f"e-mail via {smtp.address}" in result.output and "SMS: no SMS gateway configured" in result.output
    assert "delivery 1" in result.output and "reminders 0" in result.output
    assert [m.subject for m in smtp.messages()] == ["Hello"]
    bad = CliRunner().invoke(cli, ["worker", "--database", url, "--interval", "0"])
    assert bad.exit_code == 2 and "--interval" in bad.output


def test_a_job_that_does_not_exist_is_skipped_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from openidds.worker import loop

    jobs = (
        ("ghost", "openidds.service.no_such_module", "run"),
        ("reminders", "openidds.service.notify", "queue_reminders"),
    )
    monkeypatch.setattr(loop, "DEFAULT_JOBS", jobs)
    with caplog.at_level("WARNING", logger="openidds.worker.loop"):
        found = loop.default_jobs()
    assert [name for name, _ in found] == ["reminders"]
    assert "worker job ghost skipped" in caplog.text


def test_run_forever_stops_when_told(tmp_path: Path) -> None:
    from openidds.worker import loop

    engine = make_engine(f"sqlite:///{tmp_path / 'clinic.sqlite3'}")
    runs: list[int] = []
    stop = threading.Event()

    def job(engine: Any, now: Any) -> int:
        runs.append(1)
        if len(runs) == 2:
            stop.set()
        return 0

    loop.run_forever(engine, stop, interval_s=0.01, jobs=[("count", job)])
    assert len(runs) == 2
    engine.dispose()


def test_the_transports_read_from_the_environment() -> None:
    from openidds.worker.transports import SmsWebhook, Smtp

    found = Transports.from_env({"IDDS_SMTP_URL": "smtps://clinic%40x.org:p%40ss@mail.example.org"})
    smtp = found.by_channel["email"]
    assert smtp == Smtp("mail.example.org", 465, tls=True, user="clinic@x.org", password="p@ss")
    assert Smtp.from_url("smtp://127.0.0.1:2525?starttls=1") == Smtp("127.0.0.1", 2525, starttls=True)
    bad = Transports.from_env({"IDDS_SMTP_URL": "http://mail.example.org", "IDDS_SMS_WEBHOOK_URL": ""})
    assert "expected smtp://" in bad.missing["email"] and bad.missing["sms"].startswith("no SMS gateway")
    hidden = Transports.from_env({"IDDS_SMTP_URL": "smtp://u:secret@host:x"})
    assert "secret" not in hidden.missing["email"] and "***" in hidden.missing["email"]
    hook = SmsWebhook.from_env("https://sms.example.org/hook", "k")
    assert hook.signature(b"{}") == "sha256=" + hmac.new(b"k", b"{}", hashlib.sha256).hexdigest()
