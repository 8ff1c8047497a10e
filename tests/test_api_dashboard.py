"""The clinic dashboard through the API, on SQLite and PostgreSQL: patients at different points, sorted by urgency,
each refill class and due date worked out by hand from the program.

Every pump is recorded at START (2026-11-21 15:00 UTC) as implanted and filled in the past (a fill instant with
its UTC offset, so no clock change is involved). Morphine 10 mg/mL, continuous, no remote: the worst case is the
program, 40 mL with the alarm at 2 mL (38 mL to the alarm); morphine is stable 90 days in the pump. Baclofen
500 mcg/mL at 100 mcg/day = 0.2 mL/day in a 20 mL pump with the alarm at 4 mL; stable 180 days.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.api_support import (
    START,
    Clinic,
    baclofen_program,
    fast_argon2,
    implant,
    morphine_program,
    new_patient,
)


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_argon2(monkeypatch)


def test_patients_sorted_by_urgency_with_their_refill_class(clinic: Clinic) -> None:
    # Later: filled 10 days ago at 0.5 mL/day: the alarm after 38 / 0.5 = 76 days, before stability (90 days).
    later_fill = START - timedelta(days=10)  # 2026-11-11 15:00 UTC
    later = new_patient(clinic, "D-LATER")
    implant(clinic, later, morphine_program(later_fill, "0.5 mL/day"), later_fill)
    # Due within 7 days: filled 85 days ago at 0.3 mL/day: the alarm after 126.7 days, stability after 90 days.
    soon_fill = START - timedelta(days=85)  # 2026-08-28 15:00 UTC
    soon = new_patient(clinic, "D-SOON")
    implant(clinic, soon, morphine_program(soon_fill, "0.3 mL/day"), soon_fill)
    # Overdue: filled 95 days ago at 0.3 mL/day: 40 - 28.5 = 11.5 mL left, but stable only 90 days.
    overdue_fill = START - timedelta(days=95)  # 2026-08-18 15:00 UTC
    overdue = new_patient(clinic, "D-OVERDUE")
    implant(clinic, overdue, morphine_program(overdue_fill, "0.3 mL/day"), overdue_fill)
    # Baclofen, filled 110 days ago: the 4 mL alarm after 16 / 0.2 = 80 days, empty after 100 days.
    baclofen_fill = START - timedelta(days=110)  # 2026-08-03 15:00 UTC
    baclofen = new_patient(
        clinic, "D-BACLOFEN", care_area="spasticity-spinal", indications=["spinal-cord-injury-spasticity"]
    )
    implant(clinic, baclofen, baclofen_program(baclofen_fill), baclofen_fill, model="programmable-20")
    # Being evaluated: no pump, no refill date.
    no_pump = new_patient(clinic, "D-NEW")

    clinic.advance(hours=1)
    body = clinic.call("GET", "/dashboard", "phil").json()
    assert (body["at"], body["total"]) == ("2026-11-21T16:00:00+00:00", 5)
    rows = {r["patient_id"]: r for r in body["patients"]}
    assert [r["patient_id"] for r in body["patients"]] == [baclofen, overdue, soon, later, no_pump]
    assert [(r["urgency"], r["refill"]) for r in body["patients"]] == [
        ("withdrawal-risk", "overdue"),
        ("refill-overdue", "overdue"),
        # stability ends in 5 days (Wed 26 Nov), less the 4-day margin is Sat 22 Nov, a closed day: the latest safe
        # day was Fri 20 Nov, yesterday (clinic.window), though the stability date itself is still ahead
        ("refill-booking", "due-soon"),
        ("later", "later"),
        ("later", "none"),
    ]

    b = rows[baclofen]
    # Due when the reservoir reached the 4 mL alarm: 2026-08-03 + 80 days = 2026-10-22 (30 days ago).
    assert (b["next_refill_due"], b["refill_reason"]) == ("2026-10-22T15:00:00+00:00", "worst-case low-reservoir alarm")
    assert (b["reservoir_ml"], b["withdrawal_risk"]) == ("0", True)
    assert [(a["alarm"], a["priority"], a["raised_at"]) for a in b["active_alarms"]] == [
        ("low-reservoir", "non-critical", "2026-10-22T15:00:00+00:00"),
        ("empty-reservoir", "critical", "2026-11-11T15:00:00+00:00"),  # 2026-08-03 + 100 days
    ]
    assert b["concerns"][0] == (
        "withdrawal risk (baclofen): refill overdue by 30 days 1 h (due 22 Oct 2026 10:00 CDT); critical alarm: "
        "empty-reservoir: restore delivery before withdrawal starts"
    )
    assert b["concerns"][1:] == ["alarm: low-reservoir"]

    o = rows[overdue]
    # 2026-08-18 + 90 days = 2026-11-16 15:00 UTC: 5 days 1 h ago.
    assert (o["next_refill_due"], o["refill_reason"]) == (
        "2026-11-16T15:00:00+00:00",
        "drug stability in the pump runs out",
    )
    assert (o["reservoir_ml"], o["active_alarms"]) == ("11.5", [])
    # the words are on the clinic's clock (America/Chicago: CST from 1 Nov 2026, UTC-6)
    assert o["concerns"] == ["refill overdue by 5 days 1 h (due 16 Nov 2026 09:00 CST)"]
    # Still projected from the reservoir: 9.5 mL to the alarm at 0.3 mL/day = 31 days 16 h from START.
    assert o["projected_alarms"][0] == {
        "alarm": "low-reservoir",
        "priority": "non-critical",
        "at": "2026-12-23T07:00:00+00:00",
    }

    s = rows[soon]
    # 2026-08-28 + 90 days = 2026-11-26 15:00 UTC: in 4 days 23 h. 40 - 25.5 = 14.5 mL left.
    assert (s["next_refill_due"], s["reservoir_ml"]) == ("2026-11-26T15:00:00+00:00", "14.5")
    assert s["concerns"] == [
        "past the latest safe day (Fri 20 Nov 2026): refill now",  # 26 Nov less 4 days is a Saturday: Friday 20
        "refill due in 4 days 23 h (26 Nov 2026 09:00 CST)",
    ]

    lt = rows[later]
    # 2026-11-11 + 76 days = 2027-01-26 15:00 UTC (stability would run out on 2027-02-09). 40 - 5 = 35 mL left.
    assert (lt["next_refill_due"], lt["refill_reason"]) == (
        "2027-01-26T15:00:00+00:00",
        "worst-case low-reservoir alarm",
    )
    assert lt["reservoir_ml"] == "35"

    n = rows[no_pump]
    assert (n["stage"], n["next_refill_due"], n["refill_reason"]) == ("evaluation", None, "no pump programmed")

    # Time passes with nothing written: the classes move on from the stored due dates.
    clinic.advance(days=5)  # 2026-11-26 16:00 UTC: the "soon" patient is now an hour overdue
    body = clinic.call("GET", "/dashboard", "nora").json()
    assert [(r["patient_id"], r["urgency"]) for r in body["patients"]] == [
        (baclofen, "withdrawal-risk"),
        (overdue, "refill-overdue"),  # overdue since 2026-11-16: earlier than the other, first in its level
        (soon, "refill-overdue"),
        (later, "later"),
        (no_pump, "later"),
    ]
    assert clinic.call("GET", "/dashboard?limit=2", "nora").json()["total"] == 5
    assert len(clinic.call("GET", "/dashboard?limit=2", "nora").json()["patients"]) == 2
