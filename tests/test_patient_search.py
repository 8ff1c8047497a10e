"""Finding a patient: by name (any case, accents optional), MRN or its start, date of birth in both formats, and
by stage, drug, pump and refill window, a page at a time; in the service, the API and the /patients page, on SQLite
and PostgreSQL. And the two identifiers (name and date of birth, with the MRN) on every page about one patient.

The roster (every expected value below is written out by hand from it):
  A  Müller, José    born 1958-07-14  MRN SRCH-001  implanted at START: morphine 10 mg/mL + clonidine 100 mcg/mL in
                     a programmable-40 (the README's worked example: refill due 2027-01-25 08:05 CST, 14:05 UTC)
  B  Muller, Anna    born 1975-12-31  MRN SRCH-002  evaluation
  C  Okafor, Grace   born 1960-02-03  MRN SRCH-010  implanted at START: baclofen 2000 mcg/mL at 200 mcg/day in a
                     programmable-20, 20 mL, alarm at 4 mL: 16 mL at 0.1 mL/day, due 160 days after START
  D  Zimmer, Jane    born 1960-02-03  MRN SRCH-01   evaluation
By name: B, A, C, D ("Muller" and "Müller" sort as one name, then Anna before José).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from openidds.db.models import User
from openidds.errors import InputError
from openidds.service.search import PatientQuery, find_patients
from tests.api_support import baclofen, complete_body, implant, new_patient, prepare_body
from tests.web_support import START, Browser, Clinic, fast_argon2, text_by_id


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    fast_argon2(monkeypatch)
    yield


def roster(clinic: Clinic) -> dict[str, int]:
    a = new_patient(clinic, "SRCH-001", family_name="Müller", given_name="José", birth_date="1958-07-14")
    implant(clinic, a)
    b = new_patient(clinic, "SRCH-002", family_name="Muller", given_name="Anna", birth_date="1975-12-31")
    spastic: dict[str, Any] = {"care_area": "spasticity-spinal", "indications": ["spinal-cord-injury-spasticity"]}
    c = new_patient(clinic, "SRCH-010", family_name="Okafor", given_name="Grace", **spastic)
    implant(clinic, c, baclofen(), START, model="programmable-20")
    d = new_patient(clinic, "SRCH-01", family_name="Zimmer", given_name="Jane")
    return {"A": a, "B": b, "C": c, "D": d}


def names(clinic: Clinic, who: str = "nora", **params: Any) -> list[str]:
    """The API's answer to a search, as "Family, Given" in its order."""
    r = clinic.call("GET", "/patients", who, params=params)
    assert r.status_code == 200, r.text
    return [f"{p['family_name']}, {p['given_name']}" for p in r.json()]


A, B, C, D = "Müller, José", "Muller, Anna", "Okafor, Grace", "Zimmer, Jane"


def found(clinic: Clinic, username: str, query: PatientQuery) -> tuple[list[str], int]:
    """The use case itself: the names on the page and how many match."""
    with clinic.sessions() as s:
        actor = s.scalars(select(User).where(User.username == username)).one()
        page = find_patients(s, actor, query, clinic.now)
        return [f"{r.patient.family_name}, {r.patient.given_name}" for r in page.rows], page.total


# --- the use case -------------------------------------------------------------------------------------------------
def test_the_use_case_finds_by_name_mrn_and_date_of_birth_and_pages(clinic: Clinic) -> None:
    roster(clinic)
    assert found(clinic, "nora", PatientQuery()) == ([B, A, C, D], 4)
    assert found(clinic, "nora", PatientQuery(q="muller")) == ([B, A], 2)  # accents and case set aside
    assert found(clinic, "nora", PatientQuery(q="MÜLLER josé")) == ([A], 1)
    assert found(clinic, "nora", PatientQuery(q="jose")) == ([A], 1)
    assert found(clinic, "nora", PatientQuery(q="kafo")) == ([C], 1)  # part of a name
    assert found(clinic, "nora", PatientQuery(q="srch-001")) == ([A], 1)  # an MRN, any case
    assert found(clinic, "nora", PatientQuery(q="SRCH-01")) == ([D, C], 2)  # the exact MRN first, then its start
    assert found(clinic, "nora", PatientQuery(q="1960-02-03")) == ([C, D], 2)
    # 03/02/1960 is 3 February day first, 2 March month first: a search never guesses which patient was meant
    for ambiguous in ("03/02/1960", "3/2/1960"):
        with pytest.raises(InputError, match="could be read day first or month first"):
            found(clinic, "nora", PatientQuery(q=ambiguous))
    assert found(clinic, "nora", PatientQuery(q="14/07/1958")) == ([A], 1)  # day first when the day is above 12
    assert found(clinic, "nora", PatientQuery(q="okafor 1960-02-03")) == ([C], 1)  # name and date of birth
    assert found(clinic, "nora", PatientQuery(q="nobody")) == ([], 0)
    assert found(clinic, "nora", PatientQuery(stage="implanted", drug="baclofen")) == ([C], 1)
    assert found(clinic, "nora", PatientQuery(limit=3, offset=2)) == ([C, D], 4)
    with pytest.raises(InputError) as bad:
        found(clinic, "nora", PatientQuery(limit=0))
    assert bad.value.field == "limit" and bad.value.message == "must be a whole number from 1 to 200, not 0"
    with pytest.raises(InputError) as bad:
        found(clinic, "nora", PatientQuery(q="31/02/1960"))
    assert bad.value.field == "q" and bad.value.message.startswith("'31/02/1960' is not a date of birth")


def test_a_patient_login_finds_only_itself(clinic: Clinic) -> None:
    pids = roster(clinic)
    clinic.user("jose", "patient", patient_id=pids["A"])
    assert found(clinic, "jose", PatientQuery()) == ([A], 1)
    assert found(clinic, "jose", PatientQuery(q="muller")) == ([A], 1)  # not Anna Muller
    assert found(clinic, "jose", PatientQuery(q="okafor")) == ([], 0)
    assert names(clinic, "jose", q="muller") == [A]
    assert names(clinic, "jose", stage="evaluation") == []
    assert names(clinic, "jose") == [A]  # the list without a search, as before


# --- the API ------------------------------------------------------------------------------------------------------
def test_the_api_searches_by_name_mrn_and_date_of_birth(clinic: Clinic) -> None:
    roster(clinic)
    assert names(clinic, q="muller") == [B, A]
    assert names(clinic, q="Muller Anna") == [B]
    assert names(clinic, q="Anna, Muller") == [B]
    assert names(clinic, q="SRCH-00") == [B, A]  # the start of an MRN
    assert names(clinic, q="SRCH-002") == [B]
    assert names(clinic, q="1958-07-14") == [A]
    assert names(clinic, q="14/07/1958") == [A]
    assert names(clinic, q="1958-7-14") == [A]
    assert names(clinic, q="zimmer 1960-02-03") == [D]
    assert names(clinic, q="zimmer 1958-07-14") == []  # both must hold
    assert names(clinic, q="  ") == [B, A, C, D]


def test_the_api_filters_by_stage_drug_and_pump(clinic: Clinic) -> None:
    roster(clinic)
    assert names(clinic, stage="implanted") == [A, C]
    assert names(clinic, stage="evaluation") == [B, D]
    assert names(clinic, stage="trial") == []
    assert names(clinic, drug="morphine") == [A]
    assert names(clinic, drug="clonidine") == [A]
    assert names(clinic, drug="Baclofen") == [C]  # as the library reads a drug's name
    assert names(clinic, drug="ziconotide") == []
    assert names(clinic, pump="programmable-40") == [A]
    assert names(clinic, pump="programmable-20") == [C]
    assert names(clinic, pump="valve-gated-20") == []
    assert names(clinic, pump="programmable-40", drug="baclofen") == []
    assert names(clinic, q="muller", stage="implanted") == [A]


def test_the_api_filters_by_the_refill_window(clinic: Clinic) -> None:
    roster(clinic)
    assert names(clinic, due_within_days="0") == []  # nothing overdue at the implant
    assert names(clinic, due_within_days="64") == []  # A is due 65 days after START, less 55 min
    assert names(clinic, due_within_days="65") == [A]
    clinic.advance(days=60)  # 2027-01-20 15:00 UTC: A due in 4 days 23 h 5 min
    assert names(clinic, due_within_days="4") == []
    assert names(clinic, due_within_days="5") == [A]
    assert names(clinic, due_within_days="99") == [A]  # C is due 160 days after START: in 100 days
    assert names(clinic, due_within_days="100") == [A, C]
    clinic.advance(days=6)  # 2027-01-26 15:00 UTC: A overdue since yesterday 14:05 UTC
    assert names(clinic, due_within_days="0") == [A]
    assert names(clinic, due_within_days="366") == [A, C]
    assert names(clinic, due_within_days="0", drug="baclofen") == []


def test_the_api_answers_a_search_with_each_patients_drugs_pump_and_refill_due(clinic: Clinic) -> None:
    pids = roster(clinic)
    r = clinic.call("GET", "/patients", "nora", params={"q": "josé"})
    assert r.status_code == 200 and r.headers["X-Total-Count"] == "1"
    (row,) = r.json()
    assert row["id"] == pids["A"] and row["mrn"] == "SRCH-001" and row["birth_date"] == "1958-07-14"
    assert row["drugs"] == [
        {"name": "morphine", "concentration": "10 mg/mL"},
        {"name": "clonidine", "concentration": "100 mcg/mL"},
    ]
    assert row["pump_model"] == "programmable-40"
    assert row["next_refill_due"].startswith("2027-01-25T14:05:")  # the README's 08:05 CST, to the minute
    assert row["refill_reason"] == "worst-case low-reservoir alarm"
    (waiting,) = clinic.call("GET", "/patients", "nora", params={"q": "anna"}).json()
    assert (waiting["drugs"], waiting["pump_model"], waiting["next_refill_due"]) == ([], None, None)


def test_the_api_list_without_a_search_keeps_its_shape(clinic: Clinic) -> None:
    roster(clinic)
    r = clinic.call("GET", "/patients", "nora")
    assert r.status_code == 200 and "X-Total-Count" not in r.headers
    assert [p["mrn"] for p in r.json()] == ["SRCH-002", "SRCH-001", "SRCH-010", "SRCH-01"]
    assert set(r.json()[0]) == {
        "id",
        "mrn",
        "family_name",
        "given_name",
        "birth_date",
        "sex",
        "timezone",
        "care_area",
        "indications",
        "oral_mme_per_day",
        "allergies",
        "anticoagulants",
        "psychosis_history",
        "life_expectancy_months",
        "stage",
        "version",
    }


def test_the_api_pages_within_bounds(clinic: Clinic) -> None:
    roster(clinic)

    def page(limit: str, offset: str) -> tuple[list[str], str]:
        r = clinic.call("GET", "/patients", "nora", params={"limit": limit, "offset": offset})
        assert r.status_code == 200, r.text
        return [p["mrn"] for p in r.json()], r.headers["X-Total-Count"]

    assert page("2", "0") == (["SRCH-002", "SRCH-001"], "4")
    assert page("2", "2") == (["SRCH-010", "SRCH-01"], "4")
    assert page("2", "3") == (["SRCH-01"], "4")
    assert page("2", "4") == ([], "4")
    assert page("200", "1000000") == ([], "4")
    assert page("1", "0") == (["SRCH-002"], "4")


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"limit": "0"}, "limit", "The number of patients on a page: must be a whole number from 1 to 200, not 0"),
        ({"limit": "201"}, "limit", "The number of patients on a page: must be a whole number from 1 to 200"),
        ({"limit": "ten"}, "limit", "The number of patients on a page: must be a whole number from 1 to 200"),
        ({"offset": "-1"}, "offset", "Where the page starts: must be a whole number from 0 to 1000000"),
        ({"offset": "1000001"}, "offset", "Where the page starts: must be a whole number from 0 to 1000000"),
        ({"due_within_days": "367"}, "due_within_days", "The refill window: must be a whole number of days"),
        (
            {"due_within_days": "1.5"},
            "due_within_days",
            "The refill window: must be a whole number of days from 0 to 366",
        ),
        ({"q": "31/02/1960"}, "q", "The search: '31/02/1960' is not a date of birth: write it as YYYY-MM-DD"),
        ({"q": "1960-13-01"}, "q", "The search: '1960-13-01' is not a date of birth"),
        ({"q": "1960-02-03 1961-02-03"}, "q", "The search: two dates of birth (1960-02-03 and 1961-02-03): give one"),
        ({"q": "x" * 201}, "q", "The search: at most 200 characters, got 201"),
        ({"q": "doe\x00"}, "q", "The search: contains a control character (U+0000)"),
        (
            {"stage": "done"},
            "stage",
            "The stage: unknown stage 'done' (choose evaluation, not-eligible, trial, trial-failed",
        ),
        ({"drug": "aspirin"}, "drug", "The drug: unknown drug 'aspirin'"),
        ({"pump": "pump-9000"}, "pump", "The pump: unknown pump model 'pump-9000'"),
    ],
)
def test_bad_search_input_is_a_422_naming_the_field_in_words(
    clinic: Clinic, params: dict[str, str], field: str, words: str
) -> None:
    r = clinic.call("GET", "/patients", "nora", params=params)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field  # the code, for programs; the words, for people
    assert r.json()["detail"].startswith(words), r.json()["detail"]
    assert f"({field})" not in r.json()["detail"]


# --- the web page -------------------------------------------------------------------------------------------------
def rows(html: str) -> list[str]:
    """The result table's names, in order."""
    return re.findall(r'<a class="patient-link" href="/patients/\d+" data-patient-id="\d+">([^<]*)</a>', html)


def test_the_patient_page_searches_and_keeps_what_was_asked(clinic: Clinic) -> None:
    pids = roster(clinic)
    nora = Browser(clinic, "nora")
    page = nora.get("/patients").text
    assert rows(page) == [B, A, C, D]
    assert text_by_id(page, "results-count") == "4 patients, by name"
    for pid in pids.values():
        assert f'href="/patients/{pid}"' in page  # each name opens the chart

    page = nora.get("/patients", params={"q": "muller", "stage": "implanted"}).text
    assert rows(page) == [A]
    assert text_by_id(page, "results-count") == "1 patient matches this search, by name"
    assert 'name="q" value="muller"' in page
    assert '<option value="implanted" selected>' in page
    row = page.split(f'<tr role="row" data-patient-id="{pids["A"]}">')[1].split("</tr>")[0]
    assert " ".join(re.sub(r"<[^>]+>", " ", row).split()) == (
        "Müller, José 14 Jul 1958 SRCH-001 implanted morphine 10 mg/mL, clonidine 100 mcg/mL "
        "Programmable pump, 40 mL 25 Jan 2027 08:05 CST (in 64 days 23 h)"
    )

    page = nora.get("/patients", params={"q": "14/07/1958"}).text
    assert rows(page) == [A] and 'value="14/07/1958"' in page
    page = nora.get("/patients", params={"q": "1960-02-03", "drug": "baclofen"}).text
    assert rows(page) == [C] and '<option value="baclofen" selected>' in page
    page = nora.get("/patients", params={"pump": "programmable-40"}).text
    assert rows(page) == [A] and '<option value="programmable-40" selected>' in page


def test_the_patient_page_says_when_nothing_matches_and_what_is_wrong(clinic: Clinic) -> None:
    roster(clinic)
    nora = Browser(clinic, "nora")
    r = nora.get("/patients", params={"q": "nobody here"})
    assert r.status_code == 200 and rows(r.text) == []
    assert text_by_id(r.text, "no-match").startswith("No patient matches this search.")
    assert 'id="patients-table"' not in r.text

    r = nora.get("/patients", params={"q": "31/02/1960", "drug": "morphine"})
    assert r.status_code == 422
    assert text_by_id(r.text, "search-error-text") == (
        "The search: '31/02/1960' is not a date of birth: write it as YYYY-MM-DD (1960-02-03) or DD/MM/YYYY "
        "(25/12/1960)."
    )
    assert 'value="31/02/1960"' in r.text and 'aria-invalid="true"' in r.text  # kept, to be corrected
    assert '<option value="morphine" selected>' in r.text
    r = nora.get("/patients", params={"drug": "aspirin"})
    assert r.status_code == 422 and text_by_id(r.text, "search-error-text").startswith(
        "The drug: unknown drug 'aspirin'"
    )


def test_the_patient_page_pages_through_the_results(clinic: Clinic) -> None:
    roster(clinic)
    nora = Browser(clinic, "nora")
    page = nora.get("/patients", params={"limit": "3"}).text
    assert rows(page) == [B, A, C]
    assert text_by_id(page, "results-count") == "4 patients, by name: 1 to 3 shown"
    assert 'href="/patients?limit=3&amp;offset=3"' in page and 'id="page-previous"' not in page
    assert text_by_id(page, "page-next") == "Next 1"
    page = nora.get("/patients", params={"limit": "3", "offset": "3"}).text
    assert rows(page) == [D]
    assert text_by_id(page, "results-count") == "4 patients, by name: 4 to 4 shown"
    assert text_by_id(page, "page-previous") == "Previous 3" and 'id="page-next"' not in page
    page = nora.get("/patients", params={"q": "srch", "limit": "2", "offset": "2"}).text
    assert rows(page) == [C, D] and 'href="/patients?q=srch&amp;limit=2"' in page  # back to the first page


def test_the_patient_page_is_accessible(clinic: Clinic) -> None:
    roster(clinic)
    page = Browser(clinic, "nora").get("/patients").text
    for control in ("f-q", "f-stage", "f-drug", "f-pump", "f-due_within_days"):
        assert f'<label for="{control}">' in page, control
    head = page.split("<thead")[1].split("</thead>")[0]
    assert head.count('scope="col"') == 7
    assert page.count('<th scope="row"') == 4
    assert 'role="search"' in page and 'method="get"' in page


# --- the two identifiers on every page about one patient ----------------------------------------------------------
def test_every_page_about_one_patient_shows_the_date_of_birth(clinic: Clinic) -> None:
    pids = roster(clinic)
    pid = pids["A"]
    clinic.advance(days=30)
    r = clinic.call("POST", f"/patients/{pid}/refills", "nora", json=prepare_body())
    assert r.status_code == 201, r.text
    refill = r.json()["id"]
    emergency = complete_body("24.25", emergency_reason="no second nurse reachable at a home visit")
    r = clinic.call("POST", f"/patients/{pid}/refills/{refill}/complete", "nora", json=emergency)
    assert r.status_code == 200, r.text
    flags = clinic.call("GET", f"/patients/{pid}/flags", "nora").json()
    assert flags, "an unchecked fill raises a flag for review"
    r = clinic.call("POST", f"/patients/{pid}/follow-ups", "ada", json={"nrs": 4, "baseline_nrs": 8})
    assert r.status_code == 201, r.text
    follow_up = r.json()["id"]

    ada = Browser(clinic, "ada")
    pages = [
        f"/patients/{pid}",
        f"/patients/{pid}/evaluation",
        f"/patients/{pid}/trial",
        f"/patients/{pid}/implant",
        f"/patients/{pid}/program",
        f"/patients/{pid}/programs/1",
        f"/patients/{pid}/refill",
        f"/patients/{pid}/refills/{refill}",
        f"/patients/{pid}/follow-up",
        f"/patients/{pid}/follow-ups/{follow_up}",
        f"/patients/{pid}/interrogation",
        f"/patients/{pid}/flags/{flags[0]['id']}",
    ]
    for path in pages:
        r = ada.get(path)
        assert r.status_code == 200, (path, r.status_code, r.text[:500])
        assert text_by_id(r.text, "patient-name") == "Müller, José", path
        assert text_by_id(r.text, "patient-dob") == "14 Jul 1958", path
        assert '<time datetime="1958-07-14" id="patient-dob">' in r.text, path
        assert text_by_id(r.text, "patient-mrn") == "SRCH-001", path
    # the chart adds the age on the clinic's clock: 68 on 2026-12-21 (born 14 July 1958)
    chart = ada.get(f"/patients/{pid}").text
    assert text_by_id(chart, "patient-age") == "68"
    facts = " ".join(re.sub(r"<[^>]+>", "", chart.split('<p class="facts">')[1].split("</p>")[0]).split())
    assert facts == "Born 14 Jul 1958 (68 years) · MRN SRCH-001 · female · pain noncancer · stage implanted"
    assert clinic.now == START + timedelta(days=30)
