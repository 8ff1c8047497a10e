"""How a message leaves: e-mail over SMTP, and SMS through a gateway's webhook.

E-mail: `$IDDS_SMTP_URL`, `smtp://[user:password@]host[:port][?starttls=1]` or `smtps://…` (TLS from the start,
port 465 by default). SMS: `$IDDS_SMS_WEBHOOK_URL` receives a POST of JSON `{"to", "body", "id"}`, signed with
HMAC-SHA256 of the exact body under `$IDDS_SMS_WEBHOOK_SECRET` (header `X-OpenIDDS-Signature: sha256=<hex>`); a
2xx answer is delivered, anything else (or no answer within the timeout) is an error the worker retries. A plain
http:// webhook is accepted on loopback only: a message must not cross a network unencrypted.

Both carry an id derived from the message's dedupe key (the e-mail's Message-ID, the webhook's `id` and its
Idempotency-Key header), the same on every attempt: a receiver that sees the same id twice can drop the second.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import os
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formatdate
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import httpx

SMTP_ENV = "IDDS_SMTP_URL"
SMS_URL_ENV = "IDDS_SMS_WEBHOOK_URL"
SMS_SECRET_ENV = "IDDS_SMS_WEBHOOK_SECRET"
SIGNATURE_HEADER = "X-OpenIDDS-Signature"
TIMEOUT_S = 10.0
NO_EMAIL = f"no mail server configured (set ${SMTP_ENV})"
NO_SMS = f"no SMS gateway configured (set ${SMS_URL_ENV} and ${SMS_SECRET_ENV})"


class DeliveryError(Exception):
    """The receiver refused the message or could not be reached: tried again later (the back-off)."""


class ConfigError(ValueError):
    """A transport's setting that cannot work (a malformed URL): named, never guessed around."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message as a transport sends it."""

    key: str  # the dedupe key
    to: str
    subject: str
    body: str
    sender: str
    sent_at: datetime | None = None  # for the Date header (None: the time it is sent)

    @property
    def id(self) -> str:
        """The message's stable id: the same on every attempt, so a receiver can drop a duplicate."""
        return hashlib.sha256(self.key.encode()).hexdigest()[:32]


class Transport(Protocol):
    def send(self, message: Outgoing) -> str:
        """Deliver `message`; the receiver's answer (the receipt). DeliveryError when it is not delivered."""
        ...


def message_id(message: Outgoing) -> str:
    domain = message.sender.rpartition("@")[2] or "openidds.invalid"
    return f"<{message.id}@{domain}>"


@dataclass(frozen=True, slots=True)
class Smtp:
    host: str
    port: int
    tls: bool = False  # smtps: TLS from the first byte
    starttls: bool = False
    user: str | None = None
    password: str | None = None
    timeout: float = TIMEOUT_S

    @classmethod
    def from_url(cls, url: str) -> Smtp:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigError(f"${SMTP_ENV}: expected smtp://host:port or smtps://host:port, got '{_hidden(url)}'")
        try:
            port = parts.port or (465 if parts.scheme == "smtps" else 25)
        except ValueError:
            raise ConfigError(f"${SMTP_ENV}: the port is not a number in '{_hidden(url)}'") from None
        query = parse_qs(parts.query)
        starttls = query.get("starttls", ["0"])[0] in ("1", "true", "yes")
        user = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password else None
        return cls(parts.hostname, port, parts.scheme == "smtps", starttls, user, password)

    def send(self, message: Outgoing) -> str:
        mail = EmailMessage()
        mail["From"] = message.sender
        mail["To"] = message.to
        mail["Subject"] = message.subject
        mail["Message-ID"] = message_id(message)
        mail["Date"] = format_datetime(message.sent_at) if message.sent_at else formatdate(usegmt=True)
        mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to a notice
        mail.set_content(message.body)
        try:
            if self.tls:
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with client:
                if self.starttls:
                    client.starttls(context=ssl.create_default_context())
                if self.user is not None:
                    client.login(self.user, self.password or "")
                refused = client.send_message(mail)
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"mail server {self.host}:{self.port}: {_one_line(exc)}") from None
        if refused:
            raise DeliveryError(f"mail server {self.host}:{self.port} refused {', '.join(refused)}")
        return f"accepted by {self.host}:{self.port} as {mail['Message-ID']}"


@dataclass(frozen=True, slots=True)
class SmsWebhook:
    url: str
    secret: str
    timeout: float = TIMEOUT_S

    @classmethod
    def from_env(cls, url: str, secret: str | None) -> SmsWebhook:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"${SMS_URL_ENV}: expected an https:// URL, got '{_hidden(url)}'")
        if parts.scheme == "http" and not _loopback(parts.hostname):
            raise ConfigError(f"${SMS_URL_ENV}: plain http is for a gateway on this machine only: use https://")
        if not secret:
            raise ConfigError(f"${SMS_SECRET_ENV} is not set: the gateway could not tell our messages from forgeries")
        return cls(url, secret)

    def signature(self, body: bytes) -> str:
        return "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()

    def send(self, message: Outgoing) -> str:
        body = json.dumps({"to": message.to, "body": message.body, "id": message.id}, ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: self.signature(body),
            "Idempotency-Key": message.id,
        }
        try:
            answer = httpx.post(self.url, content=body, headers=headers, timeout=self.timeout, follow_redirects=False)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"SMS gateway: {_one_line(exc) or type(exc).__name__}") from None
        said = _one_line(answer.text)[:200]
        if not 200 <= answer.status_code < 300:
            raise DeliveryError(f"SMS gateway answered {answer.status_code}{': ' + said if said else ''}")
        return f"{answer.status_code} {said}".strip()


@dataclass(frozen=True, slots=True)
class Transports:
    """The transports configured, by channel; a channel with none is named in `missing` with why."""

    by_channel: Mapping[str, Transport]
    missing: Mapping[str, str]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Transports:
        env = os.environ if env is None else env
        found: dict[str, Transport] = {}
        missing: dict[str, str] = {}
        smtp_url, sms_url = env.get(SMTP_ENV, "").strip(), env.get(SMS_URL_ENV, "").strip()
        try:
            if smtp_url:
                found["email"] = Smtp.from_url(smtp_url)
            else:
                missing["email"] = NO_EMAIL
        except ConfigError as exc:
            missing["email"] = str(exc)
        try:
            if sms_url:
                found["sms"] = SmsWebhook.from_env(sms_url, env.get(SMS_SECRET_ENV))
            else:
                missing["sms"] = NO_SMS
        except ConfigError as exc:
            missing["sms"] = str(exc)
        return cls(found, missing)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _hidden(url: str) -> str:
    """A URL with its password hidden, for an error message."""
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url


def _one_line(exc: object) -> str:
    return " ".join(str(exc).split())[:300]
