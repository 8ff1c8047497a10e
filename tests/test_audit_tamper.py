"""The audit tamper suite: the trail changed directly in the database, every way a forger (or a broken disk) could,
checked by `GET /api/v1/audit/verify` and `idds audit verify`, each without an anchor and with one kept elsewhere,
on SQLite and PostgreSQL.

The clinic writes six records (six patients). The anchor is record 6 and its hash, as `idds audit anchor` printed
it before the tampering. Every expected finding is written out by hand below; hashes in messages are shown by
their first 12 digits, which the test takes from the rows it planted (never from what verification says).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import pytest
import sqlalchemy as sa

from openidds.clinic import audit as chain
from openidds.db.models import AuditHead, AuditRecord, User
from openidds.service import audit_trail
from openidds.service.audit_trail import AuditQuery
from tests.api_support import Clinic, fast_argon2, new_patient
from tests.cli_helpers import assert_no_crash, run
from tests.clinic_db import clinic_fixture

TABLE = cast(sa.Table, AuditRecord.__table__)
HEAD = cast(sa.Table, AuditHead.__table__)
Rows = list[dict[str, Any]]
Finding = tuple[str, int, str]


# --- reading and changing the stored trail -------------------------------------------------------------------------
def snapshot(clinic: Clinic) -> Rows:
    with clinic.engine.connect() as c:
        return [dict(r._mapping) for r in c.execute(sa.select(TABLE).order_by(TABLE.c.sequence))]


def execute(clinic: Clinic, *statements: Any) -> None:
    with clinic.engine.begin() as c:
        for statement in statements:
            c.execute(statement)


def rehashed(rows: Rows, previous_hash: str) -> Rows:
    """`rows` re-linked from `previous_hash` and re-hashed, as a forger with the code would (a copy)."""
    out = []
    for r in rows:
        new = {**r, "previous_hash": previous_hash}
        new["hash"] = chain.record_hash(previous_hash, {k: new[k] for k in chain.FIELDS})
        out.append(new)
        previous_hash = new["hash"]
    return out


def forged_after(row: dict[str, Any], sequence: int | None = None) -> dict[str, Any]:
    """A well-formed record linked after `row`: an allergy removed from patient 1 by someone who never logged in."""
    prev = chain.AuditRecord(**{k: row[k] for k in (*chain.FIELDS, "previous_hash", "hash")})
    new = dict(
        chain.append(
            prev,
            at=row["at"],
            actor="mallory (physician)",
            action="update-patient",
            entity="patient/1",
            before={"allergies": ["penicillin"]},
            after={"allergies": []},
        ).as_json()
    )
    if sequence is not None:  # slipped in under another number, re-hashed to match
        new["sequence"] = sequence
        new["hash"] = chain.record_hash(new["previous_hash"], {k: new[k] for k in chain.FIELDS})
    return new


def fresh_trail(clinic: Clinic, *users: str) -> None:
    """`users` logged in (a login may be audited), then the trail emptied: the records to come are 1, 2, 3 …"""
    for user in users:
        clinic.as_(user)
    execute(clinic, sa.delete(TABLE), sa.delete(HEAD))


def short(digest: str) -> str:
    return digest[:12] + "…"


# --- asking both adapters --------------------------------------------------------------------------------------------
def database_url(clinic: Clinic) -> str:
    """A URL the CLI opens onto the same database (PostgreSQL: the test's own schema, by the connection options)."""
    url = clinic.engine.url.render_as_string(hide_password=False)
    if clinic.engine.dialect.name == "sqlite":
        return url
    with clinic.engine.connect() as c:
        schema = c.execute(sa.text("select current_schema()")).scalar_one()
    return f"{url}?options=-csearch_path%3D{schema}"


def api(clinic: Clinic, anchor: str | None) -> tuple[int, bool, list[Finding]]:
    r = clinic.call("GET", "/audit/verify", "ada", params={} if anchor is None else {"anchor": anchor})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["intact"] is (body["findings"] == []), body  # intact exactly when nothing was found
    return body["records"], body["intact"], [(f["kind"], f["sequence"], f["message"]) for f in body["findings"]]


def cli(clinic: Clinic, anchor: str | None) -> tuple[int, bool, list[Finding]]:
    extra = [] if anchor is None else ["--anchor", anchor]
    url = database_url(clinic)
    text = run("audit", "verify", "--database", url, *extra)
    assert_no_crash(text)
    result = run("audit", "verify", "--database", url, "--json", *extra)
    assert_no_crash(result)
    body = json.loads(result.stdout)
    findings = [(f["kind"], f["sequence"], f["message"]) for f in body["findings"]]
    # Exit 1 and every finding on its own line, or exit 0 and "N records, intact".
    if findings:
        assert text.exit_code == result.exit_code == 1, text.stdout
        assert all(message in text.stdout for _, _, message in findings), text.stdout
    else:
        assert text.exit_code == result.exit_code == 0, text.stdout
        assert text.stdout == f"{body['records']} records, intact\n"
    return body["records"], body["intact"], findings


# --- the tamperings -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tampering:
    """What the forger did to the six records (`good`), and what each check must say: (records checked, findings)
    without the anchor and with it."""

    change: Callable[[Clinic, Rows], None]
    plain: Callable[[Rows], tuple[int, list[Finding]]]
    anchored: Callable[[Rows], tuple[int, list[Finding]]]


def _edit(clinic: Clinic, good: Rows) -> None:  # MRN T-3 rewritten in record 3's `after`
    execute(clinic, sa.update(TABLE).where(TABLE.c.sequence == 3).values(after={**good[2]["after"], "mrn": "T-33"}))


EDITED = [("edited", 3, "record 3 was edited: its contents no longer match its hash")]


def _edit_rehashed(clinic: Clinic, good: Rows) -> None:  # the same, with record 3's own hash recomputed
    (three,) = rehashed([{**good[2], "after": {**good[2]["after"], "mrn": "T-33"}}], good[1]["hash"])
    execute(clinic, sa.update(TABLE).where(TABLE.c.sequence == 3).values(after=three["after"], hash=three["hash"]))


REHASHED = [("edited", 3, "record 3 was edited: its hash was recomputed, but record 4 still links to the original")]


def _delete(clinic: Clinic, good: Rows) -> None:
    execute(clinic, sa.delete(TABLE).where(TABLE.c.sequence == 4))


DELETED = [("missing", 4, "record 4 is missing (between records 3 and 5)")]


def _insert(clinic: Clinic, good: Rows) -> None:
    """A forged record 4 slipped in after record 3, records 4-6 moved up one, re-hashed and re-linked, and the
    head moved to the new last record: only the first seam is left (the old record 4, now 5, links past it)."""
    forged = forged_after(good[2])
    moved = rehashed([{**r, "sequence": r["sequence"] + 1} for r in good[3:]], good[2]["hash"])
    execute(
        clinic,
        sa.delete(TABLE).where(TABLE.c.sequence >= 4),
        sa.insert(TABLE).values([forged, *moved]),
        sa.update(HEAD).values(sequence=7, hash=moved[-1]["hash"]),
    )


def _inserted(good: Rows) -> Finding:
    forged = forged_after(good[2])
    why = "record 5 links past it to the record before"
    return ("inserted", 4, f"record 4 ({short(forged['hash'])}) was inserted: {why}")


def _insert_anchored(good: Rows) -> tuple[int, list[Finding]]:
    moved = rehashed([{**r, "sequence": r["sequence"] + 1} for r in good[3:]], good[2]["hash"])
    six = moved[1]["hash"]  # what now stands as record 6 (the old record 5, re-hashed)
    assert six != good[5]["hash"]
    return 7, [
        _inserted(good),
        (
            "anchor",
            6,
            f"record 6 does not match the anchored hash {short(good[5]['hash'])}: it or an earlier record was "
            "changed and the chain re-hashed",
        ),
    ]


def _reorder(clinic: Clinic, good: Rows) -> None:
    """Records 3 and 4 swap places (their sequence numbers exchanged), as if the later one came first."""
    execute(
        clinic,
        sa.update(TABLE).where(TABLE.c.sequence == 3).values(sequence=-3),
        sa.update(TABLE).where(TABLE.c.sequence == 4).values(sequence=3),
        sa.update(TABLE).where(TABLE.c.sequence == -3).values(sequence=4),
    )


REORDERED = [
    ("edited", 3, "record 3 was edited: its contents no longer match its hash"),
    ("edited", 4, "record 4 was edited: its contents no longer match its hash"),
]


def _truncate(clinic: Clinic, good: Rows) -> None:
    """The newest two records removed and the head moved back to record 4: no trace inside the chain."""
    execute(
        clinic,
        sa.delete(TABLE).where(TABLE.c.sequence >= 5),
        sa.update(HEAD).values(sequence=4, hash=good[3]["hash"]),
    )


TRUNCATED = [("missing", 5, "records 5-6 are missing: the anchor says the chain reached record 6")]


def _truncate_leaving_head(clinic: Clinic, good: Rows) -> None:
    """The newest record removed, the head left as it was: the stored head names a record that is not there."""
    execute(clinic, sa.delete(TABLE).where(TABLE.c.sequence == 6))


def _rewrite(clinic: Clinic, good: Rows) -> None:
    """The whole chain recomputed after editing record 2 (and the head moved): only an anchor kept elsewhere can
    tell."""
    new = rehashed([*good[:1], {**good[1], "actor": "mallory (nurse)"}, *good[2:]], chain.GENESIS)
    execute(
        clinic,
        sa.delete(TABLE),
        sa.insert(TABLE).values(new),
        sa.update(HEAD).values(sequence=6, hash=new[-1]["hash"]),
    )


def _rewritten(good: Rows) -> tuple[int, list[Finding]]:
    return 6, [
        (
            "anchor",
            6,
            f"record 6 does not match the anchored hash {short(good[5]['hash'])}: it or an earlier record was "
            "changed and the chain re-hashed",
        )
    ]


def _head_deleted(clinic: Clinic, good: Rows) -> None:
    execute(clinic, sa.delete(HEAD))


HEAD_DELETED = [("anchor", 6, "the chain's head is missing: record 6 cannot be checked")]


def _head_edited(clinic: Clinic, good: Rows) -> None:
    execute(clinic, sa.update(HEAD).values(hash="0" * 64))


def _head_edited_anchored(good: Rows) -> tuple[int, list[Finding]]:
    return 6, [
        (
            "anchor",
            6,
            f"the chain's head names record 6 as 000000000000…, but its hash is {short(good[5]['hash'])}: the head "
            "or the record was changed",
        )
    ]


HEAD_EDITED = [
    (
        "anchor",
        6,
        "record 6 does not match the anchored hash 000000000000…: it or an earlier record was changed and the "
        "chain re-hashed",
    )
]


def _forged_append(clinic: Clinic, good: Rows) -> None:
    """A record appended after the last, perfectly linked, the head not moved."""
    execute(clinic, sa.insert(TABLE).values(forged_after(good[5])))


def _appended(good: Rows) -> tuple[int, list[Finding]]:
    forged = forged_after(good[5])
    return 7, [
        (
            "inserted",
            7,
            f"record 7 ({short(forged['hash'])}) was inserted: it comes after the chain's head, record 6, which "
            "every write moves",
        )
    ]


def same(found: list[Finding], records: int = 6) -> Callable[[Rows], tuple[int, list[Finding]]]:
    return lambda good: (records, found)


TAMPERINGS: dict[str, Tampering] = {
    "edit": Tampering(_edit, same(EDITED), same(EDITED)),
    "edit-rehashed": Tampering(_edit_rehashed, same(REHASHED), same(REHASHED)),
    "delete": Tampering(_delete, same(DELETED, 5), same(DELETED, 5)),
    "insert": Tampering(_insert, lambda good: (7, [_inserted(good)]), _insert_anchored),
    "reorder": Tampering(_reorder, same(REORDERED), same(REORDERED)),
    "truncate": Tampering(_truncate, same([], 4), same(TRUNCATED, 4)),
    "truncate-leaving-head": Tampering(
        _truncate_leaving_head,
        same([("missing", 6, "record 6 is missing: the anchor says the chain reached record 6")], 5),
        same([("missing", 6, "record 6 is missing: the anchor says the chain reached record 6")], 5),
    ),
    "rewrite": Tampering(_rewrite, same([]), _rewritten),
    "head-deleted": Tampering(_head_deleted, same(HEAD_DELETED), same(HEAD_DELETED)),
    "head-edited": Tampering(_head_edited, same(HEAD_EDITED), _head_edited_anchored),
    "forged-append": Tampering(_forged_append, _appended, _appended),
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def six_records(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Clinic, Rows, str]]:
    """One clinic per database for the whole suite: six records and the anchor `idds audit anchor` prints for them.
    Each test puts the six back first (`six`)."""
    with pytest.MonkeyPatch.context() as mp:
        fast_argon2(mp)
        for clinic in clinic_fixture(request.param, tmp_path_factory.mktemp(request.param)):
            fresh_trail(clinic, "nora", "ada", "root")
            for k in range(1, 7):
                new_patient(clinic, f"T-{k}")
            good = snapshot(clinic)
            result = run("audit", "anchor", "--database", database_url(clinic))
            assert result.exit_code == 0, result.output
            anchor = result.stdout.strip()
            assert anchor == f"6:{good[5]['hash']}"
            yield clinic, good, anchor


@pytest.fixture
def six(six_records: tuple[Clinic, Rows, str]) -> tuple[Clinic, Rows, str]:
    """The six records as written, and their head, whatever the test before did to them."""
    clinic, good, anchor = six_records
    execute(
        clinic,
        sa.delete(TABLE),
        sa.delete(HEAD),
        sa.insert(TABLE).values(good),
        sa.insert(HEAD).values(id=1, sequence=6, hash=good[5]["hash"]),
    )
    assert api(clinic, None) == api(clinic, anchor) == cli(clinic, None) == cli(clinic, anchor) == (6, True, [])
    return six_records


@pytest.mark.parametrize("name", list(TAMPERINGS))
def test_tampering_is_found_by_the_api_and_the_cli(six: tuple[Clinic, Rows, str], name: str) -> None:
    clinic, good, anchor = six
    tampering = TAMPERINGS[name]
    tampering.change(clinic, good)
    records, found = tampering.plain(good)
    assert api(clinic, None) == cli(clinic, None) == (records, not found, found)
    records, found = tampering.anchored(good)
    assert api(clinic, anchor) == cli(clinic, anchor) == (records, not found, found)


# --- unreadable rows -------------------------------------------------------------------------------------------------
DEEP = "[" * 5000 + "]" * 5000  # JSON nested 5,000 deep: the driver's parser (psycopg's too) overflows on it
JUST_PAST = "[" * 34 + "]" * 34  # one container deeper than the chain ever writes (32 levels below the top)


def plant(clinic: Clinic, sequence: int, column: str, text: str) -> None:
    """`text` stored as it is in one column of one record, past every type the ORM would apply."""
    with clinic.engine.begin() as c:
        c.execute(sa.text(f"UPDATE audit SET {column} = :v WHERE sequence = :s"), {"v": text, "s": sequence})


def test_unreadable_rows_are_each_named_and_verification_goes_on(six: tuple[Clinic, Rows, str]) -> None:
    clinic, _, anchor = six
    sqlite = clinic.engine.dialect.name == "sqlite"
    plant(clinic, 2, "before", DEEP)
    plant(clinic, 4, "after", '{"mrn": 1.5}')
    plant(clinic, 6, "after", JUST_PAST)
    if sqlite:
        plant(clinic, 5, "after", "garbage{")  # SQLite keeps any text in a JSON column
        with clinic.engine.begin() as c:  # and text in an integer column: a word where the instant was
            c.execute(sa.text("UPDATE audit SET at = 'yesterday' WHERE sequence = 1"))
    else:
        with pytest.raises(sa.exc.DataError), clinic.engine.begin() as c:  # PostgreSQL refuses text that is no JSON
            c.execute(sa.text("UPDATE audit SET after = 'garbage{' WHERE sequence = 5"))
        plant(clinic, 5, "after", '{"volume_ml": 1e400}')  # … but keeps a number Python reads as infinity
    five = (
        "record 5 is unreadable: its after is not JSON (Expecting value at character 0)"
        if sqlite
        else "record 5 is unreadable: its after.volume_ml holds a number with a fraction or an exponent, which the "
        "chain never writes"
    )
    expected = [
        *([("unreadable", 1, "record 1 is unreadable: its instant is not a number")] if sqlite else []),
        ("unreadable", 2, "record 2 is unreadable: its before is nested more than 32 levels deep"),
        (
            "unreadable",
            4,
            "record 4 is unreadable: its after.mrn holds a number with a fraction or an exponent, which the chain "
            "never writes",
        ),
        ("unreadable", 5, five),
        ("unreadable", 6, "record 6 is unreadable: its after is nested more than 32 levels deep"),
    ]
    for given in (None, anchor):
        assert api(clinic, given) == cli(clinic, given) == (6, False, expected)

    # The clinic goes on writing after an unreadable last record, linked to its stored hash.
    new_patient(clinic, "T-UNREADABLE")
    for given in (None, anchor):
        assert api(clinic, given) == cli(clinic, given) == (7, False, expected)

    # The listing shows every record; an unreadable one says so (to the admin as to a physician), the rest as ever.
    unreadable = {seq: message.split(": ", 1)[1] for _, seq, message in expected}
    for who, readable in (("root", "withheld"), ("ada", "shown")):
        r = clinic.call("GET", "/audit", who)
        assert r.status_code == 200, r.text
        listed = r.json()
        assert [e["sequence"] for e in listed] == [1, 2, 3, 4, 5, 6, 7]
        assert {e["sequence"]: e["unreadable"] for e in listed if e["payload"] == "unreadable"} == unreadable
        assert all(e["before"] is None and e["after"] is None for e in listed if e["payload"] != "shown")
        assert [e["sequence"] for e in listed if e["payload"] == readable] == [3, 7] if sqlite else [1, 3, 7]
    shown = {e["sequence"]: e for e in clinic.call("GET", "/audit", "ada").json()}
    assert (shown[3]["after"]["mrn"], shown[7]["after"]["mrn"]) == ("T-3", "T-UNREADABLE")
    # The web admin's pages read through the same rule (service.audit_trail): no crash, the same records named.
    with clinic.sessions() as s:
        for username, readable in (("root", "withheld"), ("ada", "shown")):
            user = s.scalars(sa.select(User).where(User.username == username)).one()
            page = audit_trail.find(s, user, AuditQuery())
            assert [e.sequence for e in page.entries] == [7, 6, 5, 4, 3, 2, 1]
            assert {e.sequence: e.unreadable for e in page.entries if e.payload == "unreadable"} == unreadable
            assert {e.payload for e in page.entries if e.sequence in (3, 7)} == {readable}
            assert [e.sequence for e in audit_trail.export(s, user, AuditQuery())] == [7, 6, 5, 4, 3, 2, 1]


# --- the clinic goes on -----------------------------------------------------------------------------------------------
def test_the_clinic_goes_on_writing_after_the_head_or_the_newest_record_is_tampered_with(
    six: tuple[Clinic, Rows, str],
) -> None:
    """Care is still recorded (a refill must not wait for the audit trail to be repaired), linked on so that the
    tampering stays visible."""
    clinic, good, anchor = six
    # The newest record deleted, the head left: the next record links to the head's hash; the gap is named.
    _truncate_leaving_head(clinic, good)
    new_patient(clinic, "T-AFTER-DELETE")
    missing = ("missing", 6, "record 6 is missing (between records 5 and 7)")
    for given in (None, anchor):
        assert api(clinic, given) == cli(clinic, given) == (6, False, [missing])
    # The head row deleted: the next record links to the newest one (not a second record 1) and moves a new head.
    _head_deleted(clinic, good)
    assert api(clinic, None)[2] == [missing, ("anchor", 7, "the chain's head is missing: record 7 cannot be checked")]
    new_patient(clinic, "T-AFTER-HEAD")
    for given in (None, anchor):
        assert api(clinic, given) == cli(clinic, given) == (7, False, [missing])
    # An unreadable newest record: linked on from its stored hash.
    plant(clinic, 8, "after", DEEP)
    new_patient(clinic, "T-AFTER-DEEP")
    deep = ("unreadable", 8, "record 8 is unreadable: its after is nested more than 32 levels deep")
    assert api(clinic, None) == cli(clinic, anchor) == (8, False, [missing, deep])


# --- bytes that are not UTF-8 ----------------------------------------------------------------------------------------
def plant_bytes(clinic: Clinic, table: str, column: str, hexadecimal: str, where: str) -> None:
    """Bytes stored in a text column as SQLite keeps them, as text (CAST … AS TEXT), past every check of the clinic."""
    with clinic.engine.begin() as c:
        c.execute(sa.text(f"UPDATE {table} SET {column} = CAST(X'{hexadecimal}' AS TEXT) WHERE {where}"))


def test_text_that_is_not_utf8_is_named_unreadable_and_nothing_answers_500(six: tuple[Clinic, Rows, str]) -> None:
    """SQLite keeps any bytes in a text column; reading one that is not UTF-8 failed the whole query ("Could not
    decode to UTF-8"): a traceback from `idds audit verify`, a 500 from the listing, the check and the CSV."""
    from tests.web_support import Browser, text_by_id

    clinic, _, anchor = six
    if clinic.engine.dialect.name != "sqlite":  # PostgreSQL keeps no such text: it refuses it
        with pytest.raises(sa.exc.DataError), clinic.engine.begin() as c:
            c.execute(sa.text("UPDATE audit SET actor = convert_from('\\xfffe0041'::bytea, 'UTF8')"))
        return
    plant_bytes(clinic, "audit", "actor", "6E6F7261FF", "sequence = 2")  # "nora" and a byte 0xFF
    plant_bytes(clinic, "audit", "entity", "FE", "sequence = 3")
    plant_bytes(clinic, "audit", "after", "FFFE0041", "sequence = 4")
    with clinic.engine.begin() as c:  # a blob, not text, in the JSON column: read as text, the same bytes
        c.execute(sa.text("UPDATE audit SET before = X'FFFE0041' WHERE sequence = 5"))
    expected = [
        ("unreadable", 2, "record 2 is unreadable: its actor is not valid UTF-8"),
        ("unreadable", 3, "record 3 is unreadable: its entity is not valid UTF-8"),
        ("unreadable", 4, "record 4 is unreadable: its after is not valid UTF-8"),
        ("unreadable", 5, "record 5 is unreadable: its before is not valid UTF-8"),
    ]
    for given in (None, anchor):
        assert api(clinic, given) == cli(clinic, given) == (6, False, expected)

    # The head's hash spoiled: named, and the clinic goes on writing (the next record links to record 6).
    plant_bytes(clinic, "audit_head", "hash", "41FF42", "id = 1")
    head = ("anchor", 6, "the chain's head is unreadable: record 6 cannot be checked")
    assert api(clinic, None) == cli(clinic, None) == (6, False, [*expected, head])
    spoiled = run("audit", "anchor", "--database", database_url(clinic))  # no anchor to keep: refused, named
    assert_no_crash(spoiled)
    assert spoiled.exit_code == 2 and "A\ufffdB" not in spoiled.output and "A\udcffB" not in spoiled.output
    assert "the audit trail's head is unreadable: `idds audit verify` names it" in spoiled.output
    new_patient(clinic, "T-AFTER-BYTES")
    for given in (None, anchor):
        assert api(clinic, given) == cli(clinic, given) == (7, False, expected)

    # The newest record's own hash spoiled: named, and the next record links on from it as it reads.
    plant_bytes(clinic, "audit", "hash", "41FF42", "sequence = 7")
    plant_bytes(clinic, "audit_head", "hash", "41FF42", "id = 1")
    new_patient(clinic, "T-AFTER-HASH")
    seven = ("unreadable", 7, "record 7 is unreadable: its hash is not valid UTF-8")
    assert api(clinic, None) == cli(clinic, None) == (8, False, [*expected, seven])

    # The listing names them, each bad byte shown as U+FFFD; the web admin's page and CSV answer, the check names
    # them too (the browsers' logins append records 9 and 10).
    for who in ("root", "ada"):
        r = clinic.call("GET", "/audit", who)
        assert r.status_code == 200, r.text
        listed = {e["sequence"]: e for e in r.json()}
        assert {n: e["unreadable"] for n, e in listed.items() if e["payload"] == "unreadable"} == {
            n: message.split(": ", 1)[1] for _, n, message in [*expected, seven]
        }
        assert (listed[2]["actor"], listed[3]["entity"]) == ("nora\ufffd", "\ufffd")
        browser = Browser(clinic, who)
        page = browser.get("/admin/audit?verify=1")
        assert page.status_code == 200, page.text[:300]
        assert text_by_id(page.text, "audit-verify-status").startswith("The audit chain is broken : 5 finding(s)")
        assert "record 2 is unreadable: its actor is not valid UTF-8" in page.text
        export = browser.get("/admin/audit.csv")
        assert export.status_code == 200
        assert "nora\ufffd" in export.text
        assert browser.get("/admin").status_code == 200

    # Normal text is read as ever: names in other scripts are not "unreadable".
    with clinic.engine.begin() as c:
        c.execute(sa.text("UPDATE users SET full_name = 'Zoë Ñandú 王' WHERE username = 'nora'"))
    assert any(u["full_name"] == "Zoë Ñandú 王" for u in clinic.call("GET", "/users", "root").json())
