"""Notifications, the pure part: the texts per language (templates), the retry back-off and which visit reminders
are due (schedule). No I/O beyond reading the package's own template files, no clock: the service
(service/notify.py) writes the outbox in the event's transaction, and the worker (openidds.worker) delivers it."""

from openidds.notify.schedule import BACKOFF, MAX_ATTEMPTS, Due, days_until, due_from, due_reminders, next_attempt
from openidds.notify.templates import EVENTS, Language, Texts, choose, language, render

__all__ = [
    "BACKOFF",
    "EVENTS",
    "MAX_ATTEMPTS",
    "Due",
    "Language",
    "Texts",
    "choose",
    "days_until",
    "due_from",
    "due_reminders",
    "language",
    "next_attempt",
    "render",
]
