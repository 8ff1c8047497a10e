"""Shared pieces for the web app tests (tests/test_web_*.py): a logged-in browser per user, and a patient with an
implanted, programmed pump set up through the API (the web pages are what is under test, not the set-up).

The `clinic` fixture runs each test on SQLite and on PostgreSQL. Password hashing is made cheap (argon2id at its
lowest cost) for the users the fixture creates, so the whole set stays fast.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import httpx
from fastapi.testclient import TestClient

from openidds.web.programform import from_document
from openidds.web.session import SESSION_COOKIE, csrf_for
from tests.api_support import FLEX, first_fill_reviewed, implant_body, patient_body, through_trial
from tests.api_support import cheap_hasher as fast_argon2
from tests.clinic_db import PASSWORD, START, Clinic

__all__ = ["PASSWORD", "START", "Browser", "Clinic", "fast_argon2"]


def hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', html)
    assert found is not None, f"no hidden field {name}"
    return found.group(1)


def form_token(html: str, form_id: str) -> str:
    """The one-time form token inside the form with this id, as the page rendered it."""
    found = re.search(rf'<form\b[^>]*\bid="{re.escape(form_id)}".*?</form>', html, re.S)
    assert found is not None, f"no form {form_id!r}"
    return hidden(found.group(0), "form_token")


class Browser:
    """One user's browser: its own cookie jar; posts carry the page's CSRF token unless told otherwise. A post
    carries a one-time form token only when `data` has one (tests/web_support.form_token reads it from a page)."""

    def __init__(self, clinic: Clinic, username: str | None = None, https: bool = False) -> None:
        self.clinic = clinic
        base = "https://testserver" if https else "http://testserver"
        self.client = TestClient(clinic.app, base_url=base, follow_redirects=False)
        if username is not None:
            r = self.login(username)
            assert r.status_code == 303, r.text

    def login(self, username: str, password: str = PASSWORD, next_url: str = "/") -> httpx.Response:
        page = self.client.get("/login")
        token = hidden(page.text, "csrf_token")
        return self.client.post(
            "/login", data={"username": username, "password": password, "csrf_token": token, "next": next_url}
        )

    @property
    def csrf(self) -> str:
        return csrf_for(self.client.cookies.get(SESSION_COOKIE) or "")

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, **kwargs)

    def post(
        self, path: str, data: dict[str, Any] | None = None, htmx: bool = False, csrf: bool = True
    ) -> httpx.Response:
        body = dict(data or {})
        if csrf:
            body.setdefault("csrf_token", self.csrf)
        headers = {"HX-Request": "true"} if htmx else {}
        return self.client.post(path, data=body, headers=headers)

    def follow(self, r: httpx.Response) -> httpx.Response:
        assert r.status_code == 303, (r.status_code, r.text[:2000])
        return self.get(r.headers["location"])


# --- a patient with a pump (through the API) ---------------------------------------------------------------------
# The README's worked example (tests/api_support.py): morphine 10 mg/mL + clonidine 100 mcg/mL, 0.40 / 0.60 /
# 0.40 mL/day (0.525 mL/day); remote 0.02 mL over 10 min, lockout 4 h, at most 3 a day. 40 mL at START (09:00 CST).
PROGRAM = FLEX


def new_patient(clinic: Clinic, mrn: str = "W-0001", family: str = "Doe") -> int:
    r = clinic.call("POST", "/patients", "nora", json=patient_body(mrn, family_name=family))
    assert r.status_code == 201, r.text
    pid: int = r.json()["id"]
    return pid


def implanted_patient(clinic: Clinic, mrn: str = "W-0001", family: str = "Doe", program: str = PROGRAM) -> int:
    """A patient through evaluation and trial, implanted at START with the worked example's program (or another
    one filled at START)."""
    pid = new_patient(clinic, mrn, family)
    through_trial(clinic, pid)
    implant = {**implant_body(program, START), "pump_serial": f"S-{mrn}"}
    r = clinic.call("POST", f"/patients/{pid}/implants", "ada", json=implant)
    assert r.status_code == 201, r.text
    first_fill_reviewed(clinic, pid)
    return pid


def prepare_data(**changes: str) -> dict[str, str]:
    """The refill's prepare form as a nurse fills it in: the running program's solution, a lot, the label's expiry
    date and 40 mL (the programmable-40 reservoir), with `changes` on top."""
    return {"solution_choice": "running", "drug_lot": "L-77", "expires_at": "2030-01-01", "volume_ml": "40", **changes}


def patient_login(clinic: Clinic, pid: int, username: str) -> Browser:
    clinic.user(username, "patient", patient_id=pid)
    return Browser(clinic, username)


# --- reading pages ------------------------------------------------------------------------------------------------
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _ById(HTMLParser):
    def __init__(self, wanted: str) -> None:
        super().__init__(convert_charrefs=True)
        self.wanted, self.depth, self.found = wanted, 0, False
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.depth:
            if tag not in _VOID:
                self.depth += 1
        elif dict(attrs).get("id") == self.wanted:
            self.found = True
            self.depth = 0 if tag in _VOID else 1

    def handle_endtag(self, tag: str) -> None:
        if self.depth and tag not in _VOID:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.parts.append(data)


def text_by_id(html: str, element_id: str) -> str:
    """The text inside the element with this id, whitespace collapsed (AssertionError when there is none)."""
    parser = _ById(element_id)
    parser.feed(html)
    assert parser.found, f"no element with id {element_id!r}"
    return " ".join(" ".join(parser.parts).split())


def has_id(html: str, element_id: str) -> bool:
    return f'id="{element_id}"' in html


def page_text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def program_data(document: str = PROGRAM, **changes: str) -> dict[str, str]:
    """The program form's fields for a program file, as the page fills them in, with `changes` on top."""
    form = from_document(document).with_blank_rows()
    data = {
        "source": "form",
        "mode": form.mode,
        "period": form.period,
        "rate": form.rate,
        "dose": form.dose,
        "fill-filled-at": form.filled_at,
        "fill-volume": form.fill_volume,
        "fill-low-alarm": form.low_alarm,
        "bolus-volume": form.bolus_volume,
        "bolus-dose": form.bolus_dose,
        "bolus-duration": form.bolus_duration,
        "bolus-lockout": form.bolus_lockout,
        "bolus-max": form.bolus_max,
        "opioid-naive": form.opioid_naive,
    }
    if form.bolus:
        data["bolus"] = "on"
    if form.bridge:  # checked on the page: a new drug or concentration gets a bridge unless turned off
        data["bridge"] = "on"
    for i, step in enumerate(form.steps):
        data |= {f"step-{i}-at": step.at, f"step-{i}-day": step.day, f"step-{i}-rate": step.rate}
        data[f"step-{i}-dose"] = step.dose
    for i, drug in enumerate(form.drugs):
        data |= {f"drug-{i}-name": drug.name, f"drug-{i}-concentration": drug.concentration}
    data.update(changes)
    return data
