"""Audit chain: canonical JSON and hashes checked against hashlib by hand, and tampering found and named."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openidds.clinic.audit import (
    GENESIS,
    AuditRecord,
    append,
    as_records,
    canonical_json,
    check_head,
    parse_anchor,
    read_payload,
    record_hash,
    stored,
    verify,
)
from openidds.errors import InputError

T0 = 1_800_000_000_000_000  # µs UTC


def chain(n: int) -> list[AuditRecord]:
    records: list[AuditRecord] = []
    prev = None
    for k in range(1, n + 1):
        prev = append(
            prev,
            at=T0 + k * 1_000_000,
            actor=f"u{k % 3}",
            action="record-refill",
            entity=f"refill/{k}",
            before=None if k == 1 else {"volume": f"{k - 1} mL"},
            after={"volume": f"{k} mL", "checked": k % 2 == 0},
        )
        records.append(prev)
    return records


def kinds(findings: list[Any]) -> list[tuple[str, int]]:
    return [(f.kind, f.sequence) for f in findings]


def rehashed(r: AuditRecord, **changes: Any) -> AuditRecord:
    """An attacker's edit that also recomputes the record's hash."""
    edited = dataclasses.replace(r, **changes)
    return dataclasses.replace(edited, hash=record_hash(edited.previous_hash, edited.content()))


# --- canonical form and hashes, by hand -----------------------------------------------------------------------------


def test_genesis_and_the_first_record_hash() -> None:
    assert hashlib.sha256(b"openidds-audit-chain-v1").hexdigest() == GENESIS
    r = append(
        None,
        at=T0,
        actor="u1",
        action="confirm-program",
        entity="program/42",
        before=None,
        after={"rate": "0.5 mL/day", "drug": "morphine", "dose": "5 µg"},
    )
    text = (
        '{"action":"confirm-program","actor":"u1","after":{"dose":"5 µg","drug":"morphine","rate":"0.5 mL/day"},'
        '"at":1800000000000000,"before":null,"entity":"program/42","sequence":1}'
    )
    assert canonical_json(r.content()) == text
    assert r.sequence == 1 and r.previous_hash == GENESIS
    assert r.hash == hashlib.sha256((GENESIS + text).encode("utf-8")).hexdigest()


def test_each_record_links_to_the_one_before() -> None:
    records = chain(3)
    assert [r.sequence for r in records] == [1, 2, 3]
    assert records[1].previous_hash == records[0].hash and records[2].previous_hash == records[1].hash
    assert verify(records) == []
    assert verify([]) == []


# --- tampering by hand (a chain of 20) -----------------------------------------------------------------------------


def test_an_edited_record() -> None:
    records = chain(20)
    records[16] = dataclasses.replace(records[16], actor="intruder")
    (f,) = verify(records)
    assert (f.kind, f.sequence) == ("edited", 17)
    assert f.message == "record 17 was edited: its contents no longer match its hash"


def test_an_edited_record_whose_hash_was_recomputed() -> None:
    records = chain(20)
    records[16] = rehashed(records[16], after={"volume": "999 mL"})
    (f,) = verify(records)
    assert (f.kind, f.sequence) == ("edited", 17)
    assert f.message == "record 17 was edited: its hash was recomputed, but record 18 still links to the original"


def test_a_deleted_record() -> None:
    records = chain(20)
    del records[16]
    (f,) = verify(records)
    assert (f.kind, f.sequence) == ("missing", 17)
    assert f.message == "record 17 is missing (between records 16 and 18)"


def test_deleted_records_in_a_row_and_the_first_record() -> None:
    records = chain(20)
    del records[16:18]
    assert [f.message for f in verify(records)] == ["records 17-18 are missing (between records 16 and 19)"]
    assert [f.message for f in verify(chain(5)[1:])] == ["record 1 is missing (before record 2)"]


def _forged(after: AuditRecord | None, sequence: int) -> AuditRecord:
    prev_hash = GENESIS if after is None else after.hash
    content: dict[str, Any] = {
        "sequence": sequence,
        "at": T0,
        "actor": "intruder",
        "action": "verify-refill",
        "entity": "refill/12",
        "before": None,
        "after": {"ok": True},
    }
    return AuditRecord(
        sequence,
        T0,
        "intruder",
        "verify-refill",
        "refill/12",
        None,
        {"ok": True},
        prev_hash,
        record_hash(prev_hash, content),
    )


def test_an_inserted_record_before_the_original() -> None:
    records = chain(20)
    forged = _forged(records[10], 12)
    records.insert(11, forged)  # 11, forged 12, original 12, 13 …
    (f,) = verify(records)
    assert (f.kind, f.sequence) == ("inserted", 12)
    assert f.message == f"record 12 ({forged.hash[:12]}…) was inserted: record 13 links to the other record 12"


def test_an_inserted_record_after_the_original() -> None:
    records = chain(20)
    forged = _forged(records[10], 12)
    records.insert(12, forged)  # 11, original 12, forged 12, 13 …
    (f,) = verify(records)
    assert (f.kind, f.sequence) == ("inserted", 12)
    assert f.message == f"record 12 ({forged.hash[:12]}…) was inserted: the chain does not link through it"


def test_a_record_slipped_in_with_the_rest_renumbered() -> None:
    records = chain(6)
    forged = _forged(records[2], 4)
    # the attacker renumbers record 4 to 5 and re-hashes it, but cannot make it link to the forged record
    moved = rehashed(records[3], sequence=5)
    tampered = [*records[:3], forged, moved]
    assert kinds(verify(tampered)) == [("inserted", 4)]


def test_a_duplicate_at_the_end_is_named_with_both_hashes() -> None:
    records = chain(5)
    forged = _forged(records[3], 5)
    (f,) = verify([*records, forged])
    assert (f.kind, f.sequence) == ("inserted", 5)
    assert f.message == (
        f"record 5 appears twice ({records[4].hash[:12]}… and {forged.hash[:12]}…): one of them was inserted"
    )
    # with the anchor, the forged one is named
    (f,) = verify([*records, forged], anchor=(5, records[4].hash))
    assert f.message.startswith(f"record 5 ({forged.hash[:12]}…) was inserted")


def test_the_anchor_catches_a_removed_last_record_and_a_rewritten_chain() -> None:
    records = chain(20)
    anchor = (20, records[19].hash)
    assert verify(records, anchor=anchor) == []
    assert verify(records[:19]) == []  # invisible inside the chain …
    assert [f.message for f in verify(records[:19], anchor=anchor)] == [
        "record 20 is missing: the anchor says the chain reached record 20"
    ]
    assert [f.message for f in verify(records[:17], anchor=anchor)] == [
        "records 18-20 are missing: the anchor says the chain reached record 20"
    ]
    # a last record edited and re-hashed is invisible inside the chain, but not to the anchor
    records[19] = rehashed(records[19], actor="intruder")
    assert verify(records) == []
    assert kinds(verify(records, anchor=anchor)) == [("anchor", 20)]
    # records appended after the anchor was taken are fine
    more = chain(22)
    assert verify(more, anchor=(20, more[19].hash)) == []
    assert [f.message for f in verify([], anchor=(2, "ab"))] == [
        "records 1-2 are missing: the anchor says the chain reached record 2"
    ]


def test_a_whole_rewritten_chain_is_caught_by_the_anchor() -> None:
    original = chain(8)
    anchor = (8, original[7].hash)
    rewritten: list[AuditRecord] = []
    prev = None
    for r in original:
        prev = append(prev, at=r.at, actor="intruder", action=r.action, entity=r.entity, before=r.before, after=r.after)
        rewritten.append(prev)
    assert verify(rewritten) == []
    (f,) = verify(rewritten, anchor=anchor)
    assert f.kind == "anchor" and f.message.startswith("record 8 does not match the anchored hash")


# --- input --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"after": {"rate": 0.5}}, "after.rate"),
        ({"before": {"dose": [1, 2.5]}}, "before.dose[1]"),
        ({"after": {1: "x"}}, "after"),
        ({"after": {"x": object()}}, "after.x"),
        ({"at": True}, "at"),
        ({"at": T0 - 1}, "at"),
        ({"actor": ""}, "actor"),
        ({"entity": None}, "entity"),
    ],
)
def test_bad_records_are_refused(changes: dict[str, Any], field: str) -> None:
    args: dict[str, Any] = {"at": T0, "actor": "u1", "action": "read-patient", "entity": "patient/1", **changes}
    with pytest.raises(InputError) as err:
        append(append(None, at=T0, actor="u0", action="create-patient", entity="patient/1"), **args)
    assert err.value.field == field


@pytest.mark.parametrize("anchor", [(0, "ab"), ("3", "ab"), (3,), (True, "ab")])
def test_a_bad_anchor_is_refused(anchor: Any) -> None:
    with pytest.raises(InputError) as err:
        verify(chain(3), anchor=anchor)
    assert err.value.field == "anchor"


def test_stored_rows_round_trip() -> None:
    records = chain(4)
    rows = [r.as_json() for r in records]
    assert as_records(rows) == records
    assert verify(as_records(rows)) == []
    with pytest.raises(InputError) as err:
        as_records([{k: v for k, v in rows[0].items() if k != "hash"}])
    assert err.value.field == "records[0].hash"
    with pytest.raises(InputError) as err:
        as_records([{**rows[0], "note": "x"}])
    assert err.value.field == "records[0].note"
    with pytest.raises(InputError) as err:
        as_records([{**rows[0], "sequence": "1"}])
    assert err.value.field == "records[0].sequence"


# --- invariants: any single tampering is found and named ------------------------------------------------------------

FIELDS = ("sequence", "at", "actor", "action", "entity", "before", "after", "previous_hash", "hash")


def _edit(r: AuditRecord, field: str, n: int) -> AuditRecord:
    value = getattr(r, field)
    if isinstance(value, int):
        new: Any = value + n
    elif isinstance(value, str):
        new = value + "x" * n
    else:
        new = {"edited": n}
    return dataclasses.replace(r, **{field: new})


@given(n=st.integers(1, 12), data=st.data())
def test_any_single_edit_is_found(n: int, data: st.DataObject) -> None:
    records = chain(n)
    k = data.draw(st.integers(1, n), label="record")
    field = data.draw(st.sampled_from(FIELDS), label="field")
    records[k - 1] = _edit(records[k - 1], field, data.draw(st.integers(1, 3), label="by"))
    assert kinds(verify(records)) == [("edited", k)]


@given(n=st.integers(2, 12), data=st.data())
def test_any_single_rehashed_edit_is_found(n: int, data: st.DataObject) -> None:
    records = chain(n)
    k = data.draw(st.integers(1, n - 1), label="record")  # the last one needs the anchor (tested above)
    field = data.draw(st.sampled_from(("at", "actor", "action", "entity", "before", "after")), label="field")
    edited = _edit(records[k - 1], field, 1)
    records[k - 1] = rehashed(edited)
    assert kinds(verify(records)) == [("edited", k)]


@given(n=st.integers(2, 12), data=st.data())
def test_any_single_deletion_is_found(n: int, data: st.DataObject) -> None:
    records = chain(n)
    k = data.draw(st.integers(1, n), label="deleted")
    anchor = (n, records[-1].hash)
    del records[k - 1]
    assert kinds(verify(records, anchor=anchor)) == [("missing", k)]
    if k < n:
        assert kinds(verify(records)) == [("missing", k)]


@given(n=st.integers(1, 12), data=st.data())
def test_any_single_insertion_is_found(n: int, data: st.DataObject) -> None:
    records = chain(n)
    k = data.draw(st.integers(0, n - 1), label="after record")  # the forged record claims number k + 1
    before_original = data.draw(st.booleans(), label="before the original")
    forged = _forged(records[k - 1] if k else None, k + 1)
    records.insert(k if before_original else k + 1, forged)
    found = verify(records)
    assert kinds(found) == [("inserted", k + 1)]
    if k + 1 < n:
        assert forged.hash[:12] in found[0].message


# --- stored rows read defensively, the stored head, anchors as text -------------------------------------------------
NOT_EXACT = "holds a number with a fraction or an exponent, which the chain never writes"


def stored_row(r: AuditRecord, before: object = "keep", after: object = "keep") -> tuple[object, ...]:
    """`r` as the database hands it back: before and after as their JSON text."""

    def text(v: object) -> str | None:
        return None if v is None else json.dumps(v)

    return (
        r.sequence,
        r.at,
        r.actor,
        r.action,
        r.entity,
        text(r.before) if before == "keep" else before,
        text(r.after) if after == "keep" else after,
        r.previous_hash,
        r.hash,
    )


@pytest.mark.parametrize(
    ("text", "value", "problem"),
    [
        (None, None, None),
        ('{"volume": "2 mL", "n": [1, true, null]}', {"volume": "2 mL", "n": [1, True, None]}, None),
        # 33 brackets: a container 32 levels below the top, as deep as the chain writes
        ("[" * 33 + "]" * 33, json.loads("[" * 33 + "]" * 33), None),
        ("[" * 34 + "]" * 34, None, "its after is nested more than 32 levels deep"),
        ("[" * 5000 + "]" * 5000, None, "its after is nested more than 32 levels deep"),
        ('"' + "[" * 5000 + '"', "[" * 5000, None),  # brackets inside a string are text
        ("garbage{", None, "its after is not JSON (Expecting value at character 0)"),
        ('{"a": 1', None, "its after is not JSON (Expecting ',' delimiter at character 7)"),
        (
            '{"dose": 1.5}',
            None,
            "its after.dose holds a number with a fraction or an exponent, which the chain never writes",
        ),
        (
            '{"v": [1e400]}',
            None,
            "its after.v[0] holds a number with a fraction or an exponent, which the chain never writes",
        ),
        ('{"v": NaN}', None, "its after.v holds a number with a fraction or an exponent, which the chain never writes"),
        ('"\\ud800"', None, "its after holds text that is not valid Unicode"),
        ("1" * 5000, None, "its after holds a number too long to read"),
        (42, None, "its after is not JSON text"),
        (b"\xff", None, "its after is not UTF-8 text"),
    ],
)
def test_a_stored_payload_is_read_within_bounds(text: object, value: object, problem: str | None) -> None:
    assert read_payload(text, "after") == (value, problem)


def test_an_unreadable_row_is_named_and_the_chain_goes_on() -> None:
    records = chain(5)
    rows = [stored(stored_row(r), r.sequence) for r in records]
    assert rows == records  # read back exactly as written
    rows[1] = stored(stored_row(records[1], after="[" * 5000 + "]" * 5000), 2)
    rows[3] = stored(stored_row(records[3], before="not json"), 4)
    assert (rows[1].before, rows[1].after) == ({"volume": "1 mL"}, None)
    found = verify(rows, anchor=(5, records[4].hash))
    assert [(f.kind, f.sequence, f.message) for f in found] == [
        ("unreadable", 2, "record 2 is unreadable: its after is nested more than 32 levels deep"),
        ("unreadable", 4, "record 4 is unreadable: its before is not JSON (Expecting value at character 0)"),
    ]


def test_wrong_types_in_a_stored_row_are_named() -> None:
    r = chain(1)[0]
    values = list(stored_row(r))
    values[0], values[1], values[2], values[8] = "one", 10**30, 7, None
    got = stored(tuple(values), 1)
    assert (got.sequence, got.at, got.actor, got.hash) == (1, 0, "", "")
    assert got.unreadable == (
        "its sequence number is not a number; its instant is not between 1970 and 9999; its actor is not text; "
        "its hash is not text"
    )


def test_the_stored_head_is_checked_against_the_records() -> None:
    records = chain(4)
    assert check_head(records, (4, records[3].hash)) == []
    assert check_head([], None) == []
    assert [(f.kind, f.sequence, f.message) for f in check_head(records, None)] == [
        ("anchor", 4, "the chain's head is missing: record 4 cannot be checked")
    ]
    assert [(f.kind, f.sequence, f.message) for f in check_head(records, (4, "a" * 64))] == [
        (
            "anchor",
            4,
            f"the chain's head names record 4 as aaaaaaaaaaaa…, but its hash is {records[3].hash[:12]}…: the head or "
            "the record was changed",
        )
    ]
    assert [(f.kind, f.sequence) for f in check_head(records, (3, records[2].hash))] == [("inserted", 4)]
    assert [(f.kind, f.sequence, f.message) for f in check_head(records[:2], (3, records[2].hash))] == [
        ("missing", 3, "record 3 is missing: the chain's head names it")
    ]


@pytest.mark.parametrize(
    ("text", "anchor"),
    [("12:" + "A" * 64, (12, "a" * 64)), (" 7 : " + "0" * 64 + " ", (7, "0" * 64))],
)
def test_an_anchor_is_read_from_its_text(text: str, anchor: tuple[int, str]) -> None:
    assert parse_anchor(text) == anchor


@pytest.mark.parametrize(
    "text", ["12:abc", "0:" + "a" * 64, "-1:" + "a" * 64, "٣:" + "a" * 64, "1" * 20 + ":" + "a" * 64, "12" + "a" * 64]
)
def test_a_bad_anchor_text_is_refused_naming_the_field(text: str) -> None:
    with pytest.raises(InputError) as refused:
        parse_anchor(text, "--anchor")
    assert refused.value.field == "--anchor"
    assert "SEQUENCE:HASH" in refused.value.message
    with pytest.raises(InputError, match="64 hexadecimal digits"):
        parse_anchor("3:" + "g" * 64)
