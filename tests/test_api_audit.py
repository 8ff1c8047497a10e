"""The audit trail through the API and the service, on SQLite and PostgreSQL: one chained record per write, and
tampering directly in the database (an edited, deleted, inserted or removed last record) found and named by its
sequence number."""

from __future__ import annotations

import itertools
import json
from typing import Any, cast

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from openidds.clinic import audit as chain
from openidds.db.models import AuditHead, AuditRecord
from openidds.service import audit
from tests.api_support import (
    CONCENTRATED,
    START,
    TRIAL,
    Clinic,
    audit_actions,
    complete_body,
    eligible_evaluation,
    fast_argon2,
    implant,
    new_patient,
    patient_body,
    prepare_body,
)
from tests.clinic_db import PASSWORD

TABLE = cast(sa.Table, AuditRecord.__table__)
HEAD = cast(sa.Table, AuditHead.__table__)


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_argon2(monkeypatch)


def test_every_write_appends_one_chained_record(clinic: Clinic) -> None:
    fresh_trail(clinic, "nora", "ada", "bo", "phil", "root")
    pid = new_patient(clinic, "A-1")  # 1
    version = clinic.call("GET", f"/patients/{pid}", "nora").json()["version"]
    assert (
        clinic.call("PATCH", f"/patients/{pid}", "nora", json={"version": version, "given_name": "Janet"}).status_code
        == 200
    )  # 2
    evaluation = eligible_evaluation("failed-back-surgery-syndrome", ["morphine", "clonidine"])
    assert clinic.call("POST", f"/patients/{pid}/evaluations", "nora", json=evaluation).status_code == 201  # 3
    assert clinic.call("POST", f"/patients/{pid}/trials", "ada", json=TRIAL).status_code == 201  # 4
    implant(clinic, pid, review_first_fill=False)  # 5 (its compounded first fill raises a flag: kept open here)
    user = {"username": "jane", "full_name": "Jane Doe", "role": "patient", "password": PASSWORD, "patient_id": pid}
    assert clinic.call("POST", "/users", "root", json=user).status_code == 201  # 6
    clinic.advance(hours=1)
    assert clinic.call("POST", f"/patients/{pid}/remote-requests", "jane").status_code == 201  # 7
    assert clinic.call("POST", f"/patients/{pid}/follow-ups", "nora", json={"nrs": 3}).status_code == 201  # 8
    assert (
        clinic.call("POST", f"/patients/{pid}/interrogations", "nora", json={"reservoir_ml": "39.9"}).status_code == 201
    )  # 9
    clinic.advance(days=2)  # a day past the first program: an increase is not refused by the titration window
    assert (
        clinic.call("POST", f"/patients/{pid}/programs", "bo", json={"document": CONCENTRATED}).status_code == 201
    )  # 10
    assert clinic.call("POST", f"/patients/{pid}/programs/2/confirm", "ada", json={}).status_code == 200  # 11
    assert clinic.call("POST", f"/patients/{pid}/programs/2/verify", "phil").status_code == 200  # 12
    clinic.advance(days=20)
    concentrated = [
        {"name": "morphine", "concentration": "20 mg/mL"},
        {"name": "clonidine", "concentration": "200 mcg/mL"},
    ]
    r = clinic.call("POST", f"/patients/{pid}/refills", "nora", json=prepare_body(solution=concentrated))
    assert r.status_code == 201, r.text  # 13
    rid = r.json()["id"]
    assert clinic.call("POST", f"/patients/{pid}/refills/{rid}/check", "phil").status_code == 200  # 14
    r = clinic.call("POST", f"/patients/{pid}/refills/{rid}/complete", "nora", json=complete_body("28"))
    assert r.status_code == 200, r.text  # 15
    # Reads, logins, logouts and refused writes append nothing.
    for path in ("", "/pump", "/programs", "/refills", "/follow-ups", "/remote-requests", "/interrogations"):
        assert clinic.call("GET", f"/patients/{pid}{path}", "phil").status_code == 200
    assert clinic.call("POST", f"/patients/{pid}/programs/2/confirm", "nora", json={}).status_code == 403
    assert clinic.call("POST", "/patients", "nora", json=patient_body("A-1")).status_code == 409  # the MRN exists
    assert clinic.call("GET", "/dashboard", "nora").status_code == 200

    everything = clinic.call("GET", "/audit", "root").json()
    assert [r["sequence"] for r in everything] == list(range(1, len(everything) + 1))
    # Logins are audited too (a token lasts 8 hours: the clock moves on and users log in again); the writes:
    records = [r for r in everything if r["action"] != "login"]
    assert [(n, r["action"], r["actor"]) for n, r in enumerate(records, 1)] == [
        (1, "create-patient", "nora (nurse)"),
        (2, "update-patient", "nora (nurse)"),
        (3, "record-evaluation", "nora (nurse)"),
        (4, "record-trial", "ada (physician)"),
        (5, "record-implant", "ada (physician)"),
        (6, "create-user", "root (admin)"),
        (7, "request-bolus", "jane (patient)"),
        (8, "record-follow-up", "nora (nurse)"),
        (9, "record-interrogation", "nora (nurse)"),
        (10, "propose-program", "bo (physician)"),
        (11, "confirm-program", "ada (physician)"),
        (12, "verify-program", "phil (pharmacist)"),
        (13, "prepare-refill", "nora (nurse)"),
        (14, "verify-compounded-refill", "phil (pharmacist)"),
        (15, "complete-refill", "nora (nurse)"),  # it also starts program version 2
    ]
    records = everything
    # The admin reads who, when, what and which entity, never clinical details nor the hashes over them; a
    # physician reads them, and the chain links through them.
    withheld = ("withheld", None, None, None, None)
    assert {(r["payload"], r["before"], r["after"], r["previous_hash"], r["hash"]) for r in records} == {withheld}
    clinical = clinic.call("GET", "/audit", "ada").json()[: len(everything)]  # (ada's login may follow)
    private = ("payload", "before", "after", "previous_hash", "hash")
    assert [{k: v for k, v in r.items() if k not in private} for r in clinical] == [
        {k: v for k, v in r.items() if k not in private} for r in records
    ]
    assert {r["payload"] for r in clinical} == {"shown"}
    assert clinical[0]["previous_hash"] == chain.GENESIS
    assert all(b["previous_hash"] == a["hash"] for a, b in itertools.pairwise(clinical))
    records = [r for r in clinical if r["action"] != "login"]
    update = records[1]
    assert (update["entity"], update["before"]["given_name"], update["after"]["given_name"]) == (
        f"patient/{pid}",
        "Jane",
        "Janet",
    )
    assert (update["before"]["version"], update["after"]["version"]) == (1, 2)
    assert update["at"] == int(START.timestamp()) * 1_000_000  # µs UTC, as hashed
    assert records[6]["after"] == {"accepted": True, "reason": "dose given"}
    assert records[10]["after"] == {"status": "awaiting-verification", "overrides": {}}
    programs = clinic.call("GET", f"/audit?entity=patient/{pid}/program", "ada").json()
    assert [r["sequence"] for r in programs] == [r["sequence"] for r in records[9:12]]
    assert [r["action"] for r in programs] == ["propose-program", "confirm-program", "verify-program"]
    later = clinic.call("GET", f"/audit?after={records[11]['sequence']}", "ada").json()
    assert [r["action"] for r in later if r["action"] != "login"] == [
        "prepare-refill",
        "verify-compounded-refill",
        "complete-refill",
    ]
    assert records[14]["after"]["program_version"] == 2
    assert [r["sequence"] for r in clinic.call("GET", "/audit?limit=2", "ada").json()] == [1, 2]

    total = len(clinic.call("GET", "/audit", "root").json())  # ada's login since
    assert clinic.call("GET", "/audit/verify", "root").json() == {"records": total, "intact": True, "findings": []}


# --- tampering directly in the database -----------------------------------------------------------------------------
def fresh_trail(clinic: Clinic, *users: str) -> None:
    """`users` logged in (each login is audited), then the trail emptied: the records to come are 1, 2, 3 …"""
    for user in users:
        clinic.as_(user)
    tamper(clinic, sa.delete(TABLE), sa.delete(HEAD))


def snapshot(clinic: Clinic) -> list[dict[str, Any]]:
    with clinic.engine.connect() as c:
        return [dict(r._mapping) for r in c.execute(sa.select(TABLE).order_by(TABLE.c.sequence))]


def restore(clinic: Clinic, rows: list[dict[str, Any]]) -> None:
    with clinic.engine.begin() as c:
        c.execute(sa.delete(TABLE))
        c.execute(sa.insert(TABLE), rows)


def tamper(clinic: Clinic, *statements: Any) -> None:
    with clinic.engine.begin() as c:
        for statement in statements:
            c.execute(statement)


def findings(clinic: Clinic) -> list[tuple[str, int, str]]:
    body = clinic.call("GET", "/audit/verify", "ada").json()
    assert body["intact"] is (body["findings"] == []), body  # intact exactly when nothing was found
    return [(f["kind"], f["sequence"], f["message"]) for f in body["findings"]]


def forged_after(row: dict[str, Any]) -> dict[str, Any]:
    """A well-formed record after `row`, hashed as the service would: only the chain's links can give it away."""
    prev = chain.AuditRecord(**{k: row[k] for k in (*chain.FIELDS, "previous_hash", "hash")})
    new = chain.append(
        prev,
        at=row["at"],
        actor="mallory (admin)",
        action="update-patient",
        entity="patient/1",
        before={"allergies": ["penicillin"]},
        after={"allergies": []},
    )
    return dict(new.as_json())


def test_tampering_in_the_database_is_found_and_named(clinic: Clinic) -> None:
    fresh_trail(clinic, "nora", "ada", "root")
    for k in range(1, 7):
        new_patient(clinic, f"T-{k}")  # records 1-6
    good = snapshot(clinic)
    assert clinic.call("GET", "/audit/verify", "ada").json() == {"records": 6, "intact": True, "findings": []}

    # An edited record: MRN T-3 rewritten in record 3's `after`.
    edited = {**good[2]["after"], "mrn": "T-33"}
    tamper(clinic, sa.update(TABLE).where(TABLE.c.sequence == 3).values(after=edited))
    assert findings(clinic) == [("edited", 3, "record 3 was edited: its contents no longer match its hash")]
    restore(clinic, good)

    # The same edit with the record's hash recomputed: record 4 still links to the original.
    rehashed = {**good[2], "after": edited}
    rehashed["hash"] = chain.record_hash(rehashed["previous_hash"], {k: rehashed[k] for k in chain.FIELDS})
    tamper(clinic, sa.update(TABLE).where(TABLE.c.sequence == 3).values(after=edited, hash=rehashed["hash"]))
    assert findings(clinic) == [
        ("edited", 3, "record 3 was edited: its hash was recomputed, but record 4 still links to the original")
    ]
    restore(clinic, good)

    # A deleted middle record.
    tamper(clinic, sa.delete(TABLE).where(TABLE.c.sequence == 4))
    assert findings(clinic) == [("missing", 4, "record 4 is missing (between records 3 and 5)")]
    restore(clinic, good)

    # A forged record with a copied sequence number: the database itself refuses a second record 4 …
    with pytest.raises(IntegrityError), clinic.engine.begin() as c:
        c.execute(sa.insert(TABLE), [forged_after(good[2])])  # links to record 3, claims number 4
    # … so the forger slips it in as record 4, moves records 4-6 up one, re-hashes and re-links them, and moves
    # the head to the new last record. Only the first seam is left: the original record 4 (now 5) still links to
    # record 3, past the forged one.
    moved = [{**r, "sequence": r["sequence"] + 1} for r in good[3:]]
    for before, r in zip([None, *moved], moved, strict=False):
        if before is not None:
            r["previous_hash"] = before["hash"]
        r["hash"] = chain.record_hash(r["previous_hash"], {k: r[k] for k in chain.FIELDS})
    tamper(
        clinic,
        sa.delete(TABLE).where(TABLE.c.sequence >= 4),
        sa.insert(TABLE).values([forged_after(good[2]), *moved]),
        sa.update(HEAD).values(sequence=7, hash=moved[-1]["hash"]),
    )
    (f,) = findings(clinic)
    assert f[:2] == ("inserted", 4)
    assert f[2].endswith("was inserted: record 5 links past it to the record before")
    restore(clinic, good)
    tamper(clinic, sa.update(HEAD).values(sequence=6, hash=good[5]["hash"]))

    # A forged record appended after the last, perfectly linked: the chain alone cannot tell, the head can.
    tamper(clinic, sa.insert(TABLE).values(forged_after(good[5])))
    (f,) = findings(clinic)
    assert f[:2] == ("inserted", 7)
    assert f[2].endswith("was inserted: it comes after the chain's head, record 6, which every write moves")
    restore(clinic, good)

    # The last record deleted: invisible inside the chain, caught by the anchor (audit_head).
    tamper(clinic, sa.delete(TABLE).where(TABLE.c.sequence == 6))
    assert findings(clinic) == [("missing", 6, "record 6 is missing: the anchor says the chain reached record 6")]
    restore(clinic, good)

    assert clinic.call("GET", "/audit/verify", "ada").json() == {"records": 6, "intact": True, "findings": []}
    new_patient(clinic, "T-7")  # the chain goes on from the restored head
    assert clinic.call("GET", "/audit/verify", "root").json()["records"] == 7


def test_service_verify_reads_the_chain_and_its_head(clinic: Clinic) -> None:
    with clinic.sessions() as s:
        assert audit.verify(s) == (0, [])
    fresh_trail(clinic, "nora")
    for k in range(1, 4):
        new_patient(clinic, f"S-{k}")
    with clinic.sessions() as s:
        checked, found = audit.verify(s)
        head = s.get(AuditHead, 1)
        assert head is not None and (head.sequence, checked, found) == (3, 3, [])
        last = s.get(AuditRecord, 3)
        assert last is not None and head.hash == last.hash
        # An anchor kept elsewhere (e.g. printed in yesterday's report) can be given instead of the head.
        assert audit.verify(s, anchor=(2, s.get(AuditRecord, 2).hash)) == (3, [])  # type: ignore[union-attr]
        assert [(f.kind, f.sequence) for f in audit.verify(s, anchor=(2, "0" * 64))[1]] == [("anchor", 2)]

    tamper(clinic, sa.update(TABLE).where(TABLE.c.sequence == 2).values(actor="mallory (admin)"))
    with clinic.sessions() as s:
        checked, found = audit.verify(s)
    assert checked == 3 and [(f.kind, f.sequence, f.message) for f in found] == [
        ("edited", 2, "record 2 was edited: its contents no longer match its hash")
    ]
    # Without its head the chain's end cannot be checked: that is a finding too.
    tamper(clinic, sa.update(TABLE).where(TABLE.c.sequence == 2).values(actor="nora (nurse)"), sa.delete(HEAD))
    with clinic.sessions() as s:
        assert [(f.kind, f.sequence) for f in audit.verify(s)[1]] == [("anchor", 3)]
    assert audit_actions(clinic) == ["create-patient"] * 3


# --- who reads what the records say --------------------------------------------------------------------------------
def test_the_admin_reads_the_trail_without_clinical_details(clinic: Clinic) -> None:
    pid = new_patient(clinic, "PRIV-1", given_name="Evangeline", allergies=["penicillin"])
    version = clinic.call("GET", f"/patients/{pid}", "nora").json()["version"]
    r = clinic.call("PATCH", f"/patients/{pid}", "nora", json={"version": version, "family_name": "Marchetti"})
    assert r.status_code == 200, r.text

    admin = clinic.call("GET", f"/audit?entity=patient/{pid}", "root")
    assert admin.status_code == 200, admin.text
    assert [(e["action"], e["actor"], e["payload"], e["before"], e["after"]) for e in admin.json()] == [
        ("create-patient", "nora (nurse)", "withheld", None, None),
        ("update-patient", "nora (nurse)", "withheld", None, None),
    ]
    for secret in ("Evangeline", "Marchetti", "penicillin", "PRIV-1", "1960-02-03"):
        assert secret not in admin.text

    physician = clinic.call("GET", f"/audit?entity=patient/{pid}", "ada").json()
    assert [e["payload"] for e in physician] == ["shown", "shown"]
    assert (physician[0]["after"]["given_name"], physician[0]["after"]["allergies"]) == ("Evangeline", ["penicillin"])
    assert (physician[1]["before"]["family_name"], physician[1]["after"]["family_name"]) == (
        "Doe-PRIV-1",
        "Marchetti",
    )
    # Both see the same records; the physician sees their hashes as well, the admin neither hash (test below).
    assert [e["sequence"] for e in admin.json()] == [e["sequence"] for e in physician]
    assert [(e["hash"], e["previous_hash"]) for e in admin.json()] == [(None, None), (None, None)]

    # Who may not read the trail at all: 403 (nurse, pharmacist), 401 without a login.
    assert clinic.call("GET", "/audit", "nora").status_code == 403
    assert clinic.call("GET", "/audit/verify", "phil").status_code == 403
    assert clinic.client.get("/api/v1/audit").status_code == 401


def test_the_audit_routes_document_their_answers(clinic: Clinic) -> None:
    paths = clinic.client.get("/api/v1/openapi.json").json()["paths"]
    for path, model in (("/api/v1/audit", "AuditRecordOut"), ("/api/v1/audit/verify", "AuditVerifyOut")):
        answers = paths[path]["get"]["responses"]
        assert model in json.dumps(answers["200"])
        for status in ("401", "403", "422"):
            assert answers[status]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorOut"}


def test_a_bad_anchor_or_filter_is_a_422_naming_it(clinic: Clinic) -> None:
    for params, field in (
        ({"anchor": "12:abc"}, "anchor"),
        ({"anchor": "٣:" + "a" * 64}, "anchor"),  # an Arabic-Indic digit is not read as 3
        ({"anchor": "x" * 101}, "anchor"),
        ({"entity": "p" * 121}, "entity"),
        ({"after": "-1"}, "after"),
    ):
        r = clinic.call("GET", "/audit/verify" if "anchor" in params else "/audit", "ada", params=params)
        assert (r.status_code, r.json()["field"]) == (422, field), r.text


# --- the hashes go with before and after ----------------------------------------------------------------------------
def test_the_admin_sees_no_hash_a_guess_of_a_withheld_record_could_be_checked_against(clinic: Clinic) -> None:
    """hash = sha256(previous hash + the record, before and after included): given the hashes, the admin could
    confirm a guess of every withheld payload (a remote dose's {"accepted": true, "reason": "dose given"}). So the
    hashes are shown exactly where before and after are: to a physician, not to the admin, whatever the row."""
    from openidds.db.models import User
    from openidds.service import audit_trail
    from openidds.service.audit_trail import AuditQuery

    fresh_trail(clinic, "nora", "ada", "root")
    new_patient(clinic, "HASH-1")  # record 1
    new_patient(clinic, "HASH-2")  # record 2, made unreadable below: the rule holds for it too
    with clinic.engine.begin() as c:
        c.execute(sa.text("""UPDATE audit SET after = '{"mrn": 1.5}' WHERE sequence = 2"""))
    stored = snapshot(clinic)
    one, two = stored

    physician = clinic.call("GET", "/audit", "ada").json()
    assert [(e["sequence"], e["payload"], e["previous_hash"], e["hash"]) for e in physician] == [
        (1, "shown", chain.GENESIS, one["hash"]),
        (2, "unreadable", one["hash"], two["hash"]),
    ]
    # what a physician is given is enough to check record 1 by hand: the genesis hash and what it says
    record = {k: physician[0][k] for k in ("sequence", "actor", "action", "entity", "before", "after")}
    assert chain.record_hash(chain.GENESIS, {**record, "at": physician[0]["at"]}) == one["hash"]

    admin = clinic.call("GET", "/audit", "root")
    assert admin.status_code == 200, admin.text
    assert [(e["sequence"], e["payload"], e["previous_hash"], e["hash"]) for e in admin.json()] == [
        (1, "withheld", None, None),
        (2, "unreadable", None, None),
    ]
    for digest in (chain.GENESIS, one["hash"], two["hash"]):
        assert digest[:12] not in admin.text
    # the admin still checks the chain (and names the unreadable record) through verification
    verified = clinic.call("GET", "/audit/verify", "root").json()
    assert (verified["records"], verified["intact"]) == (2, False)
    assert [(f["kind"], f["sequence"]) for f in verified["findings"]] == [("unreadable", 2)]

    # the web admin's page and export read through the same rule (service.audit_trail)
    with clinic.sessions() as s:
        for username, hashes in (
            ("root", [(None, None), (None, None)]),
            ("ada", [(two["previous_hash"], two["hash"]), (chain.GENESIS, one["hash"])]),
        ):
            user = s.scalars(sa.select(User).where(User.username == username)).one()
            page = audit_trail.find(s, user, AuditQuery())
            assert [(e.previous_hash, e.hash) for e in page.entries] == hashes, username
            assert [(e.previous_hash, e.hash) for e in audit_trail.export(s, user, AuditQuery())] == hashes
            listed = audit_trail.oldest_first(s, user)
            assert [(e.previous_hash, e.hash) for e in listed] == hashes[::-1]


def test_the_listing_documents_when_the_hashes_are_withheld(clinic: Clinic) -> None:
    schema = clinic.client.get("/api/v1/openapi.json").json()["components"]["schemas"]["AuditRecordOut"]
    for field in ("hash", "previous_hash"):
        assert "null for a role to which before and after are withheld" in schema["properties"][field]["description"]


def test_an_entity_filter_that_is_no_plain_text_is_a_422_naming_it(clinic: Clinic) -> None:
    """A NUL was a 500 on PostgreSQL (psycopg refuses it in a query) and a search for nothing on SQLite."""
    new_patient(clinic, "NUL-1")
    for who in ("ada", "root"):
        for entity, detail in (
            ("pat\x00", "Entity: contains a control or invisible character (U+0000): type plain text"),
            ("patient/\u202e1", "Entity: contains a control or invisible character (U+202E): type plain text"),
            ("patient/\x1b[2J", "Entity: contains a control or invisible character (U+001B): type plain text"),
        ):
            r = clinic.call("GET", "/audit", who, params={"entity": entity})
            assert (r.status_code, r.json()["field"], r.json()["detail"]) == (422, "entity", detail), r.text
        assert clinic.call("GET", "/audit", who, params={"entity": "patient/"}).status_code == 200


def test_the_admin_cannot_test_an_anchor_over_the_api(clinic: Clinic) -> None:
    """Record 1 links to the public genesis hash: `?anchor=1:<guess>` answered intact or not would confirm a guess
    of a record the admin may not read. The admin checks anchors with the CLI on the server; a physician may."""
    new_patient(clinic, "ANCHOR-1")
    guess = "1:" + "a" * 64
    r = clinic.call("GET", "/audit/verify", "root", params={"anchor": guess})
    assert r.status_code == 403 and "idds audit verify --anchor" in r.json()["message"], r.text
    assert clinic.call("GET", "/audit/verify", "root").status_code == 200  # without an anchor: as before
    r = clinic.call("GET", "/audit/verify", "ada", params={"anchor": guess})
    assert r.status_code == 200 and r.json()["intact"] is False
