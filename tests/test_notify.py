"""The pure notification rules (openidds.notify): the texts in each language, the retry back-off and which visit
reminders are due, with the instants worked out by hand (America/Chicago: CDT is UTC-5, CST is UTC-6; the clocks go
back on Sun 1 Nov 2026 and forward on Sun 14 Mar 2027)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from openidds import display
from openidds.notify import (
    BACKOFF,
    EVENTS,
    MAX_ATTEMPTS,
    choose,
    days_until,
    due_from,
    due_reminders,
    language,
    next_attempt,
    render,
)
from openidds.notify.templates import available, part

CHICAGO = "America/Chicago"
DRUGS = ("morphine", "baclofen", "hydromorphone", "fentanyl", "ziconotide", "clonidine", "bupivacaine", "sufentanil")


@dataclass
class Visit:
    starts_at: datetime
    status: str = "booked"
    kind: str = "refill"


def values(lang_code: str) -> dict[str, object]:
    lang = language(lang_code)
    return {
        "clinic_name": "Demo Pump Clinic",
        "kind": lang.kind("refill"),
        "day": lang.day(datetime(2026, 11, 3, 16, tzinfo=UTC), CHICAGO),
        "time": "10:00 CST",
        "when": lang.when(7),
        "phone": "+1 555 555 0100",
        "hours": "Monday to Friday",
        "on_call_phone": "+1 555 555 0199",
        "mrn": "M-1",
        "patient_name": "Jane Doe",
        "code": "phq9.item9",
        "message": "thoughts of self-harm",
        "raised": "Tue 3 Nov 2026 10:00 CST",
        "plan_id": 4,
        "count": 2,
        "lines": "- M-1 Jane Doe",
    }


@pytest.mark.parametrize("code", ["en", "es"])
def test_every_event_renders_in_each_language_with_nothing_left_unfilled(code: str) -> None:
    assert {"en", "es"} <= set(available())
    lang = language(code)
    for event in EVENTS:
        texts = render(lang, event, values(code))
        for text in (texts.subject, texts.body, texts.sms):
            assert "$" not in text and text.strip(), (event, text)
        assert "\n" not in texts.subject and "\n" not in texts.sms
        assert len(texts.sms) <= 320
    # the capacity shortfall's pieces
    line = part(
        lang, "capacity-shortfall", "line", {**values(code), "latest": "x", "booked": "y", "risk": "", "reason": ""}
    )
    assert "M-1" in line


@pytest.mark.parametrize("code", ["en", "es"])
def test_patient_messages_carry_no_drug_name(code: str) -> None:
    lang = language(code)
    for event in ("reminder", "missed-visit"):
        texts = render(lang, event, values(code))
        for text in (texts.subject, texts.body, texts.sms):
            assert not any(drug in text.lower() for drug in DRUGS), (event, text)
    # nor does a clinician's SMS (it is read on a lock screen too)
    for event in ("missed-refill-escalation", "urgent-flag", "capacity-shortfall"):
        sms = render(lang, event, values(code)).sms
        assert not any(drug in sms.lower() for drug in DRUGS), sms


def test_the_reminder_in_english_and_in_spanish() -> None:
    en = render(language("en"), "reminder", values("en"))
    assert en.subject == "Demo Pump Clinic: your pump refill on Tue 3 Nov 2026"
    assert en.sms == (
        "Demo Pump Clinic: your pump refill is in 7 days, Tue 3 Nov 2026 at 10:00 CST. "
        "Cannot come? Call +1 555 555 0100."
    )
    es = render(language("es"), "reminder", values("es"))
    assert es.subject == "Demo Pump Clinic: su recarga de la bomba el mar 3 nov 2026"
    assert "dentro de 7 días, el mar 3 nov 2026 a las 10:00 CST" in es.body


def test_the_day_on_the_clinics_clock() -> None:
    evening = datetime(2026, 11, 4, 3, 30, tzinfo=UTC)  # Tue 3 Nov 2026 21:30 CST
    assert language("en").day(evening, CHICAGO) == display.day(evening, CHICAGO) == "Tue 3 Nov 2026"
    assert language("es").day(evening, CHICAGO) == "mar 3 nov 2026"
    assert [language("en").when(n) for n in (0, 1, 2)] == ["today", "tomorrow", "in 2 days"]
    assert [language("es").when(n) for n in (0, 1, 7)] == ["hoy", "mañana", "dentro de 7 días"]


def test_a_missing_language_falls_back_to_the_clinics_default() -> None:
    assert choose("es", ("en", "es")).code == "es"
    assert choose("fr", ("en", "es")).code == "en"  # no French file
    assert choose("es", ("en",)).code == "en"  # the clinic does not send in Spanish
    assert choose(None, ("es", "en")).code == "es"  # the clinic's default is its first language
    assert choose("de", ("de",)).code == "en"  # a language with no file: English


def test_the_back_off_then_failed_for_good() -> None:
    now = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
    assert [next_attempt(n, now) for n in range(1, MAX_ATTEMPTS)] == [
        datetime(2026, 11, 21, 15, 1, tzinfo=UTC),
        datetime(2026, 11, 21, 15, 5, tzinfo=UTC),
        datetime(2026, 11, 21, 15, 30, tzinfo=UTC),
        datetime(2026, 11, 21, 17, 0, tzinfo=UTC),
        datetime(2026, 11, 21, 21, 0, tzinfo=UTC),
    ]
    assert MAX_ATTEMPTS == 6 and len(BACKOFF) == 5
    assert next_attempt(MAX_ATTEMPTS, now) is None
    with pytest.raises(ValueError, match="from 1"):
        next_attempt(0, now)


def test_reminders_across_the_autumn_clock_change() -> None:
    # Tue 3 Nov 2026 10:00 CST = 16:00 UTC. 7 days before: Tue 27 Oct 09:00 CDT = 14:00 UTC (the clocks go back on
    # Sun 1 Nov in between: the reminder is at the wall clock's 09:00, not 168 h before). 1 day before: Mon 2 Nov
    # 09:00 CST = 15:00 UTC.
    visit = Visit(datetime(2026, 11, 3, 16, 0, tzinfo=UTC))
    seven, one = datetime(2026, 10, 27, 14, 0, tzinfo=UTC), datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    assert due_from(visit.starts_at, 7, CHICAGO) == seven
    assert due_from(visit.starts_at, 1, CHICAGO) == one

    def due(at: datetime) -> list[int]:
        return [d.days for d in due_reminders([visit], at, (7, 1), CHICAGO)]

    assert due(seven - timedelta(seconds=1)) == []
    assert due(seven) == [7]
    assert due(one - timedelta(seconds=1)) == [7]
    assert due(one) == [1]  # only the latest: never both at once
    assert due(visit.starts_at - timedelta(seconds=1)) == [1]
    assert due(visit.starts_at) == []  # the visit has started


def test_reminders_across_the_spring_clock_change() -> None:
    # Mon 15 Mar 2027 10:00 CDT = 15:00 UTC. 7 days before: Mon 8 Mar 09:00 CST = 15:00 UTC. 1 day before: Sun 14
    # Mar (the clocks went forward at 02:00) 09:00 CDT = 14:00 UTC.
    start = datetime(2027, 3, 15, 15, 0, tzinfo=UTC)
    assert due_from(start, 7, CHICAGO) == datetime(2027, 3, 8, 15, 0, tzinfo=UTC)
    assert due_from(start, 1, CHICAGO) == datetime(2027, 3, 14, 14, 0, tzinfo=UTC)


def test_no_reminder_for_a_visit_not_open_or_past() -> None:
    at = datetime(2026, 11, 2, 16, 0, tzinfo=UTC)
    start = datetime(2026, 11, 3, 16, 0, tzinfo=UTC)
    for status in ("cancelled", "attended", "missed"):
        assert due_reminders([Visit(start, status)], at, (7, 1), CHICAGO) == []
    assert [d.days for d in due_reminders([Visit(start, "confirmed")], at, (7, 1), CHICAGO)] == [1]
    assert due_reminders([Visit(at - timedelta(hours=1))], at, (7, 1), CHICAGO) == []


def test_a_same_day_reminder_of_an_early_visit_is_due_from_midnight() -> None:
    early = datetime(2026, 11, 3, 14, 0, tzinfo=UTC)  # 08:00 CST: before 09:00
    assert due_from(early, 0, CHICAGO) == datetime(2026, 11, 3, 6, 0, tzinfo=UTC)  # 00:00 CST
    assert days_until(early, datetime(2026, 11, 2, 23, 0, tzinfo=UTC), CHICAGO) == 1  # 17:00 CST the day before


def test_dedupe_friendly_event_names() -> None:
    assert all(re.fullmatch(r"[a-z-]+", e) for e in EVENTS)
