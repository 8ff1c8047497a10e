"""The calendar feeds pages: a nurse makes the clinic's feed (its address shown once), a resend shows it no more, a
revoke ends it; a patient makes and revokes their own; another patient's page is 404. SQLite and PostgreSQL."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from openidds.db.models import CalendarFeed, User
from tests.web_support import Browser, Clinic, fast_argon2, form_token, has_id, new_patient, patient_login, text_by_id


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_argon2(monkeypatch)


def _url(html: str) -> str:
    start = html.index('id="feed-url" value="') + len('id="feed-url" value="')
    return html[start : html.index('"', start)]


def test_nurse_makes_the_clinic_feed_once_and_revokes_it(clinic: Clinic) -> None:
    nora = Browser(clinic, "nora")
    page = nora.get("/calendar-feeds")
    assert page.status_code == 200 and has_id(page.text, "no-feeds")
    sent = {"scope": "clinic", "label": "Front desk", "form_token": form_token(page.text, "make-feed")}
    made = nora.post("/calendar-feeds", sent)
    assert made.status_code == 200, made.text[:2000]
    assert made.headers["cache-control"] == "no-store"
    url = _url(made.text)
    assert urlsplit(url).path.startswith("/calendar/") and "shown only this once" in made.text
    assert nora.get(urlsplit(url).path).status_code == 200
    # The same form sent again: no second feed, and no address.
    again = nora.post("/calendar-feeds", sent)
    assert again.status_code == 200 and not has_id(again.text, "feed-url")
    assert "already sent" in text_by_id(again.text, "done-notice")
    with clinic.sessions() as s:
        feeds = s.scalars(select(CalendarFeed)).all()
    assert [(f.scope, f.label) for f in feeds] == [("clinic", "Front desk")]
    # The list never shows the address; revoking ends it.
    page = nora.get("/calendar-feeds")
    assert urlsplit(url).path not in page.text
    fid = feeds[0].id
    r = nora.post(f"/calendar-feeds/{fid}/revoke", {"form_token": form_token(page.text, f"revoke-{fid}")})
    assert r.status_code == 303
    page = nora.follow(r)
    assert "revoked" in text_by_id(page.text, f"feed-{fid}-status")
    assert nora.get(urlsplit(url).path).status_code == 404


def test_a_pharmacist_makes_only_their_own_clinician_feed(clinic: Clinic) -> None:
    phil = Browser(clinic, "phil")
    page = phil.get("/calendar-feeds")
    made = phil.post("/calendar-feeds", {"scope": "clinician", "form_token": form_token(page.text, "make-feed")})
    assert made.status_code == 200 and has_id(made.text, "feed-url")
    with clinic.sessions() as s:
        ada = s.scalar(select(User.id).where(User.username == "ada"))
    refused = phil.post("/calendar-feeds", {"scope": "clinician", "subject_id": str(ada)})
    assert refused.status_code == 403


def test_patient_makes_and_revokes_their_own_feed(clinic: Clinic) -> None:
    pid = new_patient(clinic)
    other = new_patient(clinic, "W-0002", "Roe")
    rita = patient_login(clinic, pid, "rita")
    assert rita.get("/calendar-feeds").headers["location"] == f"/patients/{pid}/calendar-feed"
    page = rita.get(f"/patients/{pid}/calendar-feed")
    assert page.status_code == 200
    made = rita.post(f"/patients/{pid}/calendar-feed", {"form_token": form_token(page.text, "make-feed")})
    assert made.status_code == 200 and has_id(made.text, "feed-url")
    url = _url(made.text)
    assert b"W-0001" not in rita.get(urlsplit(url).path).content
    with clinic.sessions() as s:
        feed = s.scalars(select(CalendarFeed)).one()
    assert (feed.scope, feed.subject_id) == ("patient", pid)
    assert rita.get(f"/patients/{other}/calendar-feed").status_code == 404
    assert rita.post(f"/patients/{other}/calendar-feed", {}).status_code == 404
    r = rita.post(f"/patients/{pid}/calendar-feed/{feed.id}/revoke", {})
    assert r.status_code == 303
    assert rita.get(urlsplit(url).path).status_code == 404
    # The nurse sees the patient's page; the admin does not.
    assert Browser(clinic, "nora").get(f"/patients/{pid}/calendar-feed").status_code == 200
    assert Browser(clinic, "root").get(f"/patients/{pid}/calendar-feed").status_code in (403, 404)
    assert Browser(clinic, "root").get("/calendar-feeds").status_code == 403
