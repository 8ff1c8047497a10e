"""The program form: it starts from the fill the pump holds now (the last refill, not the implant's fill), a refused
proposal comes back as typed with the reasons, Propose is off while a hard finding stands, and the modes offered are
the pump's own (a constant-flow pump runs at its fixed rate: no flex, no stop, no remote).

Expected values are worked out by hand in the comments, never by the code under test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from openidds.data import load_catalog, load_library
from openidds.db.models import ProgramVersion
from openidds.programfile import parse_program
from openidds.safety import check
from openidds.web import programform
from tests.api_support import implant, implant_body, refill, through_trial
from tests.web_support import (
    START,
    Browser,
    Clinic,
    fast_argon2,
    has_id,
    implanted_patient,
    new_patient,
    program_data,
    text_by_id,
)


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    fast_argon2(monkeypatch)
    yield


def value_of(html: str, element_id: str) -> str:
    """The value an <input> with this id was rendered with."""
    found = re.search(rf'<input id="{re.escape(element_id)}"[^>]*?\bvalue="([^"]*)"', html)
    assert found is not None, f"no input {element_id!r}"
    return found.group(1)


def selected_in(html: str, element_id: str) -> str:
    """The option selected in a <select> with this id ("" when none is)."""
    found = re.search(rf'<select id="{re.escape(element_id)}".*?</select>', html, re.S)
    assert found is not None, f"no select {element_id!r}"
    option = re.search(r'<option value="([^"]*)" selected>', found.group(0))
    return "" if option is None else option.group(1)


def checked(html: str, element_id: str) -> bool:
    found = re.search(rf'<input [^>]*\bid="{re.escape(element_id)}"[^>]*>', html)
    assert found is not None, f"no input {element_id!r}"
    return " checked" in found.group(0)


def propose_button(html: str) -> str:
    found = re.search(r'<button [^>]*\bid="program-propose"[^>]*>', html)
    assert found is not None, "no Propose button"
    return found.group(0)


def constant_flow(mode: str = 'mode = "continuous"\nrate = "0.5 mL/day"', bolus: str = "") -> str:
    """Morphine 10 mg/mL in the 0.5 mL/day constant-flow pump (5 mg/day), 30 mL at START (09:00 in Chicago)."""
    return f"""[pump]
model = "constant-flow-30-0.5"
catheter = {{ model = "intrathecal-one-piece", length = "60 cm" }}

[reservoir]
filled_at = "2026-11-21T09:00"
timezone = "America/Chicago"
volume = "30 mL"
low_alarm = "3 mL"

[[drugs]]
name = "morphine"
concentration = "10 mg/mL"

[program]
{mode}
{bolus}
[context]
care_area = "pain-noncancer"
opioid_naive = false
"""


VALVE_GATED = """[pump]
model = "valve-gated-20"
catheter = { model = "valve-gated-catheter", length = "60 cm" }

[reservoir]
filled_at = "2026-11-21T09:00"
timezone = "America/Chicago"
volume = "20 mL"
low_alarm = "3 mL"

[[drugs]]
name = "morphine"
concentration = "10 mg/mL"

[program]
mode = "continuous"
rate = "0.5 mL/day"

[context]
care_area = "pain-noncancer"
opioid_naive = false
"""


def constant_flow_patient(clinic: Clinic) -> int:
    pid = new_patient(clinic, "CF-1", "Flow")
    implant(clinic, pid, constant_flow(), START, model="constant-flow-30-0.5")
    return pid


# --- 1. the form starts from what the pump holds now ------------------------------------------------------------------
def test_the_form_starts_from_the_last_refill_and_the_stability_runs_from_it(clinic: Clinic) -> None:
    # The worked example: 40 mL at START, 2026-11-21 09:00 CST. Morphine and clonidine keep 90 days in the pump:
    # until 2027-02-19 09:00 CST (9 days left of November, 31 of December, 31 of January, 19 of February).
    pid = implanted_patient(clinic)
    page = Browser(clinic, "ada").get(f"/patients/{pid}/program").text
    assert value_of(page, "fill-filled-at") == "2026-11-21T09:00"
    assert value_of(page, "fill-volume") == "40 mL"
    fill = text_by_id(page, "program-check-fill")
    assert "reservoir filled at 21 Nov 2026 09:00 CST" in fill
    assert "drugs stable in the pump until 19 Feb 2027 09:00 CST" in fill

    # 30 days later, 2026-12-21 09:00 CST (15:00 UTC), a refill of 36 mL of the same solution (0.525 mL/day for
    # 30 days: 40 - 15.75 = 24.25 mL withdrawn). 90 days from it: 10 days of December, 31 of January, 28 of
    # February, 21 of March: 2027-03-21 15:00 UTC, 10:00 CDT (daylight time from 2027-03-14).
    clinic.advance(days=30)
    refill(clinic, pid, withdrawn="24.25", filled="36")
    ada = Browser(clinic, "ada")
    page = ada.get(f"/patients/{pid}/program").text
    assert value_of(page, "fill-filled-at") == "2026-12-21T09:00:00-06:00"
    assert value_of(page, "fill-volume") == "36 mL"
    assert value_of(page, "fill-low-alarm") == "2 mL"  # kept from the running program
    assert selected_in(page, "drug-0-name") == "morphine" and value_of(page, "drug-0-concentration") == "10 mg/mL"
    assert selected_in(page, "drug-1-name") == "clonidine"
    assert value_of(page, "drug-1-concentration") == "100 mcg/mL"
    fill = text_by_id(page, "program-check-fill")
    assert "reservoir filled at 21 Dec 2026 09:00 CST" in fill and "volume filled 36 mL" in fill
    assert "drugs stable in the pump until 21 Mar 2027 10:00 CDT" in fill
    assert "19 Feb 2027" not in page  # nothing from the implant's fill
    assert not has_id(page, "program-check-changes")  # nothing changed: the refill is what the pump holds
    assert "No hard or soft finding" in text_by_id(page, "program-check-summary")

    # the live check reads the same, and a proposal carries the refill's fill in its file
    typed = program_data(**{"fill-filled-at": "2026-12-21T09:00:00-06:00", "fill-volume": "36 mL"})
    r = ada.post(f"/patients/{pid}/program/preview", typed, htmx=True)
    assert "drugs stable in the pump until 21 Mar 2027 10:00 CDT" in text_by_id(r.text, "program-check-fill")
    r = ada.post(f"/patients/{pid}/programs", typed)
    assert r.status_code == 303 and r.headers["location"] == f"/patients/{pid}/programs/2"
    document = text_by_id(ada.follow(r).text, "review-document")
    assert 'filled_at = "2026-12-21T09:00:00-06:00"' in document and 'volume = "36 mL"' in document


def test_after_a_refill_the_fill_is_no_longer_the_pumps_first() -> None:
    first = constant_flow().replace('low_alarm = "3 mL"', 'low_alarm = "3 mL"\nfirst_fill = true')
    kept = programform.at_fill(programform.from_document(first), "2026-11-21T09:00", "30 mL", None, first_fill=True)
    assert kept.as_dict()["reservoir"]["first_fill"] is True  # still the implant's fill
    form = programform.from_document(first)
    assert form.base["reservoir"]["first_fill"] is True
    programform.at_fill(form, "2026-12-21T09:00:00-06:00", "28 mL", None)
    doc = form.as_dict()
    assert doc["reservoir"] == {
        "filled_at": "2026-12-21T09:00:00-06:00",
        "timezone": "America/Chicago",
        "volume": "28 mL",
        "low_alarm": "3 mL",
    }
    assert [(d.name, d.concentration) for d in form.drugs] == [("morphine", "10 mg/mL")]


# --- 2 and 3. a refusal keeps the form; Propose is off while a hard finding stands ------------------------------------
def test_a_refused_proposal_comes_back_as_typed_with_the_reasons_at_the_top(clinic: Clinic) -> None:
    pid = implanted_patient(clinic)
    ada = Browser(clinic, "ada")
    # 2 mL/day of 10 mg/mL morphine is 20 mg/day; with the 2 remote doses a day typed here (0.02 mL, 0.2 mg each)
    # 20.4 mg/day: above the hard maximum 20 mg/day
    typed = program_data(
        mode="continuous",
        rate="2 mL/day",
        **{"bolus-lockout": "6 h", "bolus-max": "2", "fill-low-alarm": "2.5 mL", "step-1-rate": "0.65 mL/day"},
    )
    r = ada.post(f"/patients/{pid}/programs", typed)  # a forced post: the button was off
    assert r.status_code == 422 and "location" not in r.headers
    error = text_by_id(r.text, "form-error")
    assert (
        "Refused: morphine daily dose with every allowed patient bolus 20.4 mg/day is above the hard maximum" in error
    )
    assert "kept on the record as program version 2" in error
    # every value as typed
    assert checked(r.text, "mode-continuous") and value_of(r.text, "rate") == "2 mL/day"
    assert value_of(r.text, "dose") == ""
    assert selected_in(r.text, "drug-0-name") == "morphine" and value_of(r.text, "drug-0-concentration") == "10 mg/mL"
    assert selected_in(r.text, "drug-1-name") == "clonidine"
    assert [value_of(r.text, f"step-{i}-at") for i in range(3)] == ["00:00", "07:00", "22:00"]
    assert [value_of(r.text, f"step-{i}-rate") for i in range(3)] == ["0.40 mL/day", "0.65 mL/day", "0.40 mL/day"]
    assert checked(r.text, "bolus") and value_of(r.text, "bolus-volume") == "0.02 mL"
    assert value_of(r.text, "bolus-lockout") == "6 h" and value_of(r.text, "bolus-max") == "2"
    assert value_of(r.text, "fill-low-alarm") == "2.5 mL"
    assert " disabled" in propose_button(r.text)  # still refused as it stands
    assert text_by_id(r.text, "program-propose-why") == "Refused: fix the hard findings first."
    # on the record, refused, with its reasons: nothing proposed
    with clinic.sessions() as s:
        versions = s.scalars(select(ProgramVersion).where(ProgramVersion.patient_id == pid)).all()
        assert sorted((v.number, v.status) for v in versions) == [(1, "active"), (2, "refused")]

    # bad input (a rate as a mass) and a missing bridge reason: the form again, as typed, the error in words
    r = ada.post(f"/patients/{pid}/programs", {**typed, "rate": "0.6 mg"})
    assert r.status_code == 422 and value_of(r.text, "rate") == "0.6 mg"
    assert value_of(r.text, "bolus-lockout") == "6 h" and has_id(r.text, "form-error")
    doubled = {**typed, "rate": "0.3 mL/day", "drug-0-concentration": "20 mg/mL", "bridge_off_reason": "  "}
    del doubled["bridge"]
    r = ada.post(f"/patients/{pid}/programs", doubled)
    assert r.status_code == 422 and "say why it is turned off" in text_by_id(r.text, "form-error")
    assert value_of(r.text, "drug-0-concentration") == "20 mg/mL" and not checked(r.text, "bridge")
    with clinic.sessions() as s:
        assert len(s.scalars(select(ProgramVersion).where(ProgramVersion.patient_id == pid)).all()) == 2


def test_propose_is_off_while_a_hard_finding_stands_and_on_again_when_it_goes(clinic: Clinic) -> None:
    pid = implanted_patient(clinic)
    clinic.advance(days=2)  # past the 24 h titration window the implant opened
    ada = Browser(clinic, "ada")
    page = ada.get(f"/patients/{pid}/program").text
    assert " disabled" not in propose_button(page) and not has_id(page, "program-propose-why")
    assert 'href="/static/program.css"' in page

    # as typed (htmx): the check panel, and the button sent with it out of band
    r = ada.post(f"/patients/{pid}/program/preview", program_data(mode="continuous", rate="2 mL/day"), htmx=True)
    assert "<html" not in r.text and "Refused" in text_by_id(r.text, "program-check-summary")
    assert re.search(r'<span class="propose" id="program-propose-box" hx-swap-oob="true">', r.text)
    assert " disabled" in propose_button(r.text)
    assert text_by_id(r.text, "program-propose-why") == "Refused: fix the hard findings first."

    # 5.25 → 6 mg/day (0.6 mL/day, +14.3 %): no finding, Propose on again
    r = ada.post(f"/patients/{pid}/program/preview", program_data(mode="continuous", rate="0.6 mL/day"), htmx=True)
    assert "No hard or soft finding" in text_by_id(r.text, "program-check-summary")
    assert " disabled" not in propose_button(r.text) and not has_id(r.text, "program-propose-why")

    # a program that cannot be read: off, and says so
    r = ada.post(f"/patients/{pid}/program/preview", program_data(mode="continuous", rate="0.6 mg"), htmx=True)
    assert has_id(r.text, "program-check-error") and " disabled" in propose_button(r.text)
    assert text_by_id(r.text, "program-propose-why") == "Not ready: the program cannot be read; correct it first."

    # without JavaScript the Check button posts the form: the whole page, the button off, the values kept
    r = ada.post(f"/patients/{pid}/program/preview", program_data(mode="continuous", rate="2 mL/day"))
    assert "<html" in r.text and " disabled" in propose_button(r.text) and value_of(r.text, "rate") == "2 mL/day"
    assert "hx-swap-oob" not in r.text

    # the server refuses a forced post whatever the button showed: refused, nothing proposed
    r = ada.post(f"/patients/{pid}/programs", program_data(mode="continuous", rate="2 mL/day"))
    assert r.status_code == 422
    with clinic.sessions() as s:
        statuses = s.scalars(select(ProgramVersion.status).where(ProgramVersion.patient_id == pid)).all()
        assert sorted(statuses) == ["active", "refused"]


# --- 4. the modes are the pump's --------------------------------------------------------------------------------------
MODE_IDS = ("mode-continuous", "mode-flex", "mode-stopped", "mode-minimum-rate")


def offered(html: str) -> list[str]:
    return [m for m in MODE_IDS if has_id(html, m)]


def test_each_pump_family_is_offered_its_own_modes(clinic: Clinic) -> None:
    ada_programmable = implanted_patient(clinic)  # programmable-40
    flow = constant_flow_patient(clinic)
    valve = new_patient(clinic, "VG-1", "Valve")
    through_trial(clinic, valve)
    body = {**implant_body(VALVE_GATED, START, "valve-gated-20"), "catheter_model": "valve-gated-catheter"}
    r = clinic.call("POST", f"/patients/{valve}/implants", "ada", json=body)
    assert r.status_code == 201, r.text
    ada = Browser(clinic, "ada")

    page = ada.get(f"/patients/{ada_programmable}/program").text
    assert offered(page) == list(MODE_IDS)
    assert has_id(page, "f-flex") and has_id(page, "f-bolus") and '<option value="week"' in page

    page = ada.get(f"/patients/{valve}/program").text  # no minimum-rate mode, no week patterns; a remote
    assert offered(page) == ["mode-continuous", "mode-flex", "mode-stopped"]
    assert has_id(page, "f-flex") and has_id(page, "f-bolus") and '<option value="week"' not in page

    page = ada.get(f"/patients/{flow}/program").text  # continuous at its fixed rate only, and no remote
    assert offered(page) == ["mode-continuous"] and checked(page, "mode-continuous")
    assert not has_id(page, "f-flex") and not has_id(page, "f-bolus") and not has_id(page, "bolus-volume")
    hint = text_by_id(page, "mode-hint")
    assert "runs at its fixed rate, 0.5 mL/day: continuous is its only mode" in hint
    assert "a dose change is a concentration change" in hint
    assert "has no patient remote" in text_by_id(page, "no-remote")

    # flex forced onto the constant-flow pump: refused by the safety check, the form kept
    flex = {
        **program_data(constant_flow()),
        "mode": "flex",
        "step-0-at": "00:00",
        "step-0-rate": "0.5 mL/day",
        "step-1-at": "07:00",
        "step-1-rate": "1 mL/day",
    }
    r = ada.post(f"/patients/{flow}/programs", flex)
    assert r.status_code == 422
    error = text_by_id(r.text, "form-error")
    assert "the constant-flow-30-0.5 pump (constant-flow) has no flex mode (it has: continuous)" in error


IMPLANT = {
    "kind": "implant",
    "pump_model": "constant-flow-30-0.5",
    "pump_serial": "CF-9",
    "catheter_model": "intrathecal-one-piece",
    "catheter_length_cm": "60",
    "tip_level": "T10",
    "implanted_at": "2026-11-21T09:00",
    "surgeon": "Dr Ada",
    "source": "form",
    "drug-0-name": "morphine",
    "drug-0-concentration": "10 mg/mL",
    "drug-1-name": "",
    "drug-1-concentration": "",
    "fill-volume": "30 mL",
    "fill-low-alarm": "3 mL",
    "mode": "flex",
    "period": "day",
    "step-0-at": "00:00",
    "step-0-rate": "0.5 mL/day",
    "step-1-at": "07:00",
    "step-1-rate": "0.5 mL/day",
    "opioid-naive": "no",
}


def test_the_implant_form_offers_every_mode_then_checks_them_against_the_pump_chosen(clinic: Clinic) -> None:
    pid = new_patient(clinic)
    through_trial(clinic, pid)
    ada = Browser(clinic, "ada")
    page = ada.get(f"/patients/{pid}/implant").text  # no pump chosen yet: every mode
    assert offered(page) == list(MODE_IDS) and has_id(page, "f-flex") and has_id(page, "f-bolus")

    # flex on a constant-flow pump: said in words, live and on the save, and the page shows that pump's modes
    r = ada.post(f"/patients/{pid}/implant/preview", IMPLANT, htmx=True)
    assert "a constant-flow pump runs at its fixed rate: flex is not possible" in text_by_id(
        r.text, "implant-check-error"
    )
    r = ada.post(f"/patients/{pid}/implant", IMPLANT)
    assert r.status_code == 422
    error = text_by_id(r.text, "form-error")
    assert "a constant-flow pump runs at its fixed rate: flex is not possible" in error
    assert "runs 0.5 mL/day" in error
    assert selected_in(r.text, "f-pump_model") == "constant-flow-30-0.5"
    assert offered(r.text) == ["mode-continuous"] and not has_id(r.text, "f-flex") and not has_id(r.text, "f-bolus")

    # stopped, and a remote, on the same pump: refused too
    r = ada.post(f"/patients/{pid}/implant", {**IMPLANT, "mode": "stopped"})
    assert r.status_code == 422 and "stopped is not possible" in text_by_id(r.text, "form-error")
    remote = {**IMPLANT, "mode": "continuous", "rate": "0.5 mL/day", "bolus": "on", "bolus-volume": "0.02 mL"}
    remote |= {"bolus-duration": "10 min", "bolus-lockout": "4 h", "bolus-max": "3"}
    r = ada.post(f"/patients/{pid}/implant", remote)
    assert r.status_code == 422
    assert "the Constant-flow pump, 30 mL, 0.5 mL/day has no patient remote" in text_by_id(r.text, "form-error")

    # continuous at its fixed rate: saved
    r = ada.post(f"/patients/{pid}/implant", {**IMPLANT, "mode": "continuous", "rate": "0.5 mL/day"})
    assert r.status_code == 303, text_by_id(r.text, "form-error")


def test_the_core_refuses_flex_on_a_constant_flow_pump_so_the_api_does_too(clinic: Clinic) -> None:
    flex = 'mode = "flex"\nsteps = [ { at = "00:00", rate = "0.5 mL/day" }, { at = "07:00", rate = "0.5 mL/day" } ]'
    program = parse_program(constant_flow(flex), load_library(), load_catalog())
    hard = {f.code: f.message for f in check(program, program.context) if f.severity == "hard"}
    assert (
        hard["mode.unsupported"]
        == "the constant-flow-30-0.5 pump (constant-flow) has no flex mode (it has: continuous)"
    )

    pid = constant_flow_patient(clinic)
    r = clinic.call("POST", f"/patients/{pid}/programs", "ada", json={"document": constant_flow(flex)})
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "refused" and "has no flex mode" in r.json()["closed_reason"]

    other = new_patient(clinic, "CF-2", "Other")
    through_trial(clinic, other)
    body = implant_body(constant_flow(flex), START, "constant-flow-30-0.5")
    r = clinic.call("POST", f"/patients/{other}/implants", "ada", json=body)
    assert r.status_code == 422 and "has no flex mode" in r.text
