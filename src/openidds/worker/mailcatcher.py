"""The demo's mail catcher: an SMTP server on loopback (aiosmtpd) that keeps what it receives in memory, for the
Demo mailbox page (/outbox/demo-mail). `idds serve --demo` starts it and points $IDDS_SMTP_URL at it (unless the
user set one), so a new user sees the reminders arrive without a real mail server. Never for patient care: it
delivers nothing anywhere, and forgets everything when the service stops."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

KEEP = 200  # the newest messages kept


@dataclass(frozen=True, slots=True)
class Received:
    at: datetime
    sender: str
    to: tuple[str, ...]
    subject: str
    message_id: str
    body: str


class Mailbox:
    """What the catcher received, newest last (thread-safe: the SMTP server's thread writes, pages read)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Received] = []
        self.address = ""  # smtp://host:port once started

    def add(self, item: Received) -> None:
        with self._lock:
            self._items.append(item)
            del self._items[:-KEEP]

    def messages(self) -> list[Received]:
        with self._lock:
            return list(self._items)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        part = parsed.get_body(preferencelist=("plain",))
        body = part.get_content() if part is not None else ""
        self.add(
            Received(
                at=datetime.now(UTC),
                sender=str(envelope.mail_from),
                to=tuple(str(r) for r in envelope.rcpt_tos),
                subject=str(parsed.get("Subject", "")),
                message_id=str(parsed.get("Message-ID", "")),
                body=str(body).replace("\r\n", "\n"),
            )
        )
        return "250 Message accepted for delivery"


def free_port(host: str = "127.0.0.1", wanted: int = 8025) -> int:
    """`wanted` if nothing listens there, else any free port."""
    for port in (wanted, 0):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise OSError("no free port on loopback")


def start(host: str = "127.0.0.1", port: int = 8025) -> tuple[Mailbox, Controller]:
    """A mail catcher listening on loopback (`port`, or a free one when it is taken): stop it with .stop()."""
    mailbox = Mailbox()
    chosen = free_port(host, port)
    controller = Controller(mailbox, hostname=host, port=chosen)
    controller.start()
    mailbox.address = f"smtp://{host}:{chosen}"
    return mailbox, controller
