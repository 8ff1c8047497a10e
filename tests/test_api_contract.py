"""The API's contract (issue 11): the OpenAPI schema says what every route answers, success and refusal alike, and
the answers keep the keys and values clients already read.

Before: every route returned `dict[str, Any]` (a 2xx schema of `{}`), 401/403/404/409 were undocumented, and every
422 pointed at FastAPI's HTTPValidationError (`detail` an array) while the body had `detail` as a string.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from openidds.api.app import create_app
from openidds.db import make_engine
from tests.api_support import START, Clinic, fast_argon2, implant, new_patient

API = "/api/v1"
METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_argon2(monkeypatch)


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The schema as a client downloads it (no database is touched to serve it)."""
    app = create_app(make_engine(f"sqlite:///{tmp_path_factory.mktemp('schema')}/idds.db"), migrate_db=False)
    r = TestClient(app).get(f"{API}/openapi.json")
    assert r.status_code == 200
    document: dict[str, Any] = r.json()
    return document


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, item in schema["paths"].items()
        if path.startswith(f"{API}/")
        for method, op in item.items()
        if method in METHODS
    ]


def _json_schema(response: dict[str, Any]) -> dict[str, Any]:
    """The answer's schema: JSON's, else the one media type's (a PDF: a binary string)."""
    content = response.get("content", {})
    media = content.get("application/json") or next(iter(content.values()), {})
    found: dict[str, Any] = media.get("schema", {})
    return found


def _says_nothing(body: dict[str, Any]) -> bool:
    """`{}`, or an object of any keys: what a route returning `dict[str, Any]` gets."""
    open_object = body.get("type") == "object" and not body.get("properties")
    return not body or open_object


def test_the_schema_lists_the_routes_of_every_concept(schema: dict[str, Any]) -> None:
    paths = {(m, p) for m, p, _ in _operations(schema)}
    for expected in (
        ("GET", f"{API}/patients"),
        ("GET", f"{API}/patients/{{patient_id}}/pump"),
        ("POST", f"{API}/patients/{{patient_id}}/implants"),
        ("POST", f"{API}/patients/{{patient_id}}/programs/{{number}}/confirm"),
        ("POST", f"{API}/patients/{{patient_id}}/refills/{{refill_id}}/complete"),
        ("GET", f"{API}/dashboard"),
        ("GET", f"{API}/queues"),
        ("GET", f"{API}/patients/{{patient_id}}/{{kind}}/{{record_id}}"),
    ):
        assert expected in paths


def test_every_route_documents_its_success_with_a_schema(schema: dict[str, Any]) -> None:
    """Not `{}` (anything): a model, or a list of one."""
    empty = []
    for method, path, op in _operations(schema):
        ok = {status: r for status, r in op["responses"].items() if status.startswith("2")}
        assert ok, f"{method} {path} documents no success"
        for status, response in ok.items():
            if _says_nothing(_json_schema(response)):
                empty.append(f"{method} {path} {status}")
    assert empty == []


def test_routes_behind_a_login_document_every_refusal_with_the_one_error_model(schema: dict[str, Any]) -> None:
    missing = []
    for method, path, op in _operations(schema):
        if not op.get("security"):  # the login itself, and what anyone may read
            continue
        for status in ("401", "403", "404", "422"):
            body = _json_schema(op["responses"].get(status, {}))
            if body.get("$ref") != "#/components/schemas/ErrorOut":
                missing.append(f"{method} {path} {status}")
    assert missing == []


def test_every_write_on_a_patient_documents_the_conflict(schema: dict[str, Any]) -> None:
    """A version read earlier, a step out of order, a repeated Idempotency-Key still running: 409."""
    missing = [
        f"{method} {path}"
        for method, path, op in _operations(schema)
        if method in ("POST", "PATCH") and path.startswith(f"{API}/patients")
        if _json_schema(op["responses"].get("409", {})).get("$ref") != "#/components/schemas/ErrorOut"
    ]
    assert missing == []


def test_no_422_refers_to_fastapis_validation_error(schema: dict[str, Any]) -> None:
    """Our 422 body has `detail` as a string; FastAPI's default model says an array of objects."""
    wrong = [
        f"{method} {path}"
        for method, path, op in _operations(schema)
        if "422" in op["responses"] and "HTTPValidationError" in str(op["responses"]["422"])
    ]
    assert wrong == []
    assert "HTTPValidationError" not in schema.get("components", {}).get("schemas", {})


def test_the_dashboard_documents_its_body(schema: dict[str, Any]) -> None:
    """Written by orjson for speed, still described: `{at, patients, total}`."""
    ok = schema["paths"][f"{API}/dashboard"]["get"]["responses"]["200"]
    assert _json_schema(ok) == {"$ref": "#/components/schemas/DashboardOut"}
    described = schema["components"]["schemas"]["DashboardOut"]
    assert set(described["required"]) == {"at", "patients", "total"}


def test_one_record_of_any_kind_is_one_of_the_record_models(schema: dict[str, Any]) -> None:
    op = schema["paths"][f"{API}/patients/{{patient_id}}/{{kind}}/{{record_id}}"]["get"]
    refs = {s["$ref"].rsplit("/", 1)[1] for s in _json_schema(op["responses"]["200"])["anyOf"]}
    assert refs == {"EvaluationOut", "TrialOut", "ImplantOut", "FollowUpOut", "InterrogationOut", "RemoteRequestOut"}


def test_exact_numbers_and_instants_are_text(schema: dict[str, Any]) -> None:
    """Exact numbers are never floats; instants say they are date-times."""
    refill = schema["components"]["schemas"]["RefillOut"]["properties"]
    volume = refill["volume_ml"]["anyOf"][0]
    assert (volume["type"], volume["pattern"]) == ("string", r"^-?[0-9]+(\.[0-9]+)?$")
    prepared = refill["prepared_at"]["anyOf"][0]
    assert (prepared["type"], prepared["format"]) == ("string", "date-time")


# --- refusals of a request's body ------------------------------------------------------------------------------------
def test_a_missing_body_is_named_body_in_words(clinic: Clinic) -> None:
    r = clinic.client.post(f"{API}/patients", headers=clinic.as_("nora"))
    assert r.status_code == 422
    body = r.json()
    assert body["field"] == "body"
    assert body["message"] == body["detail"]
    assert "missing" in body["message"] and "JSON object" in body["message"]
    assert "Field required" not in body["message"] and not body["message"].startswith(":")


def test_a_json_syntax_error_is_named_body_not_a_character_offset(clinic: Clinic) -> None:
    headers = {**clinic.as_("nora"), "Content-Type": "application/json"}
    r = clinic.client.post(f"{API}/patients", headers=headers, content=b'{"mrn": ')
    assert r.status_code == 422
    body = r.json()
    assert body["field"] == "body"  # pydantic's location is ("body", 8): not a field named "8"
    assert "not valid JSON" in body["message"] and "at character 8" in body["message"]
    assert [e["field"] for e in body["errors"]] == ["body"]


# --- the answers keep their keys and values ---------------------------------------------------------------------------
def test_a_patient_answers_the_same_keys_and_values(clinic: Clinic) -> None:
    pid = new_patient(clinic, "C-1", oral_mme_per_day="40", allergies=["latex"])
    got = clinic.call("GET", f"/patients/{pid}", "ada").json()
    assert got == {
        "id": pid,
        "mrn": "C-1",
        "family_name": "Doe-C-1",
        "given_name": "Jane",
        "birth_date": "1960-02-03",
        "sex": "female",
        "timezone": "America/Chicago",
        "care_area": "pain-noncancer",
        "indications": ["failed-back-surgery-syndrome"],
        "oral_mme_per_day": "40",
        "allergies": ["latex"],
        "anticoagulants": [],
        "psychosis_history": None,
        "life_expectancy_months": None,
        "stage": "evaluation",
        "version": 1,
    }
    # The plain list leaves the search fields out; a search gives them.
    listed = clinic.call("GET", "/patients", "ada").json()
    assert listed == [got]
    found = clinic.call("GET", "/patients?q=C-1", "ada").json()
    assert [set(r) - set(got) for r in found] == [{"drugs", "pump_model", "next_refill_due", "refill_reason"}]
    assert (found[0]["drugs"], found[0]["pump_model"], found[0]["next_refill_due"]) == ([], None, None)


def test_a_pump_not_programmed_answers_its_status_without_the_pumps_fields(clinic: Clinic) -> None:
    pid = new_patient(clinic, "C-2")
    got = clinic.call("GET", f"/patients/{pid}/pump", "ada").json()
    assert got == {
        "programmed": False,
        "patient_id": pid,
        "reservoir_ml": None,
        "next_refill_due": None,
        "refill_reason": "no pump programmed",
        "active_alarms": [],
        "projected_alarms": [],
        "replacement_due": None,
        "eri_at": None,
        "end_of_service": None,
        "urgent_flags": 0,
        "withdrawal_risk": False,
        "flags": [],
        "pending_program": "",
        "refill_earliest": None,
        "refill_latest": None,
        "refill_window": None,
        "booked_refill_at": None,
        "recheck_at": None,
        "updated_at": "2026-11-21T15:00:00+00:00",
    }


def test_an_implant_answers_its_record_and_first_program_with_instants_as_recorded(clinic: Clinic) -> None:
    pid = new_patient(clinic, "C-3")
    done = implant(clinic, pid)
    assert set(done) == {"implant", "program"}
    assert done["implant"]["implanted_at"] == "2026-11-21T15:00:00+00:00"  # START, as isoformat() writes it
    assert done["implant"]["catheter_length_cm"] == "60"
    assert (done["program"]["number"], done["program"]["status"]) == (1, "active")
    assert "bridge_plan" not in done["program"]  # only a waiting program, when read, has one
    assert done["program"]["effective_at"] == START.isoformat()
    read = clinic.call("GET", f"/patients/{pid}/implants/{done['implant']['id']}", "ada").json()
    assert read == done["implant"]
