"""The audit trail as a hash chain: an edited, inserted or deleted record shows, and `verify` says which.

Each record carries its sequence number (1, 2, 3 …), the hash of the record before it (the first record: GENESIS)
and its own hash:

    hash = sha256(previous_hash + canonical JSON of {sequence, at, actor, action, entity, before, after})

Canonical JSON: keys sorted, no spaces, UTF-8, integers and strings only (no floats: write exact numbers as
strings, e.g. "0.525 mL/day"), so every language reproduces the same bytes. `at` is integer µs UTC.

What `verify` tells apart, because a record holds both its sequence number and the previous hash:
- edited: the record's contents no longer match its hash; or its hash was recomputed, and the next record still
  links to the original;
- deleted: a gap in the sequence numbers, and the next record links to a record that is not there;
- inserted: a record that the chain does not link through (the next record links past it), or a second record
  with the same sequence number.
- unreadable: a stored before/after that is not JSON as the chain writes it (garbage, nested past MAX_DEPTH, a
  float); the chain never wrote it, so it was changed; its stored hash still links the chain on.
The last record can be removed, or a whole chain rewritten, without a trace inside the chain; an `anchor` (the
sequence and hash of the latest record, kept elsewhere, e.g. printed in a daily report) catches that.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from openidds.errors import InputError

JSON: TypeAlias = "str | int | bool | list[JSON] | dict[str, JSON] | None"

GENESIS = hashlib.sha256(b"openidds-audit-chain-v1").hexdigest()  # the previous hash of record 1
FIELDS = ("sequence", "at", "actor", "action", "entity", "before", "after")
MAX_DEPTH = 32
AT_LIMIT = 253_402_300_800 * 1_000_000  # µs from 1970 to the year 10000: past it no calendar reads the instant


@dataclass(frozen=True)
class AuditRecord:
    sequence: int
    at: int  # µs UTC
    actor: str  # user id
    action: str  # e.g. "confirm-program"
    entity: str  # e.g. "program/42"
    before: JSON
    after: JSON
    previous_hash: str
    hash: str
    unreadable: str | None = None  # why the stored row cannot be read (before and after are then None)

    def content(self) -> dict[str, JSON]:
        return {
            "sequence": self.sequence,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "entity": self.entity,
            "before": self.before,
            "after": self.after,
        }

    def as_json(self) -> dict[str, JSON]:
        return {**self.content(), "previous_hash": self.previous_hash, "hash": self.hash}


FindingKind = Literal["edited", "missing", "inserted", "anchor", "unreadable"]


@dataclass(frozen=True, slots=True)
class AuditFinding:
    kind: FindingKind
    sequence: int  # the record concerned (missing: the first missing sequence number)
    message: str  # e.g. "record 17 was edited"


def _check_json(value: object, field: str, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise InputError(field, f"nested more than {MAX_DEPTH} levels deep")
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        raise InputError(field, f"{value!r} is a float, which is not exact: write the number as a string")
    if isinstance(value, list):
        for i, v in enumerate(value):
            _check_json(v, f"{field}[{i}]", depth + 1)
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise InputError(field, f"keys must be strings, got {k!r}")
            _check_json(v, f"{field}.{k}", depth + 1)
        return
    raise InputError(field, f"expected JSON (string, integer, true/false, null, list or object), got {value!r}")


def canonical_json(content: dict[str, JSON]) -> str:
    """Sorted keys, no spaces, non-ASCII kept as UTF-8."""
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def record_hash(previous_hash: str, content: dict[str, JSON]) -> str:
    return hashlib.sha256((previous_hash + canonical_json(content)).encode("utf-8")).hexdigest()


def append(
    previous: AuditRecord | None,
    *,
    at: int,
    actor: str,
    action: str,
    entity: str,
    before: JSON = None,
    after: JSON = None,
) -> AuditRecord:
    """The next record after `previous` (None: the first record of the chain)."""
    if isinstance(at, bool) or not isinstance(at, int):
        raise InputError("at", f"expected an instant in integer microseconds UTC, got {at!r}")
    if previous is not None and at < previous.at:
        raise InputError("at", f"earlier than the previous record ({previous.at} µs)")
    for name, text in (("actor", actor), ("action", action), ("entity", entity)):
        if not isinstance(text, str) or not text:
            raise InputError(name, f"expected a non-empty string, got {text!r}")
    _check_json(before, "before")
    _check_json(after, "after")
    sequence = 1 if previous is None else previous.sequence + 1
    prev_hash = GENESIS if previous is None else previous.hash
    content: dict[str, JSON] = {
        "sequence": sequence,
        "at": at,
        "actor": actor,
        "action": action,
        "entity": entity,
        "before": before,
        "after": after,
    }
    return AuditRecord(sequence, at, actor, action, entity, before, after, prev_hash, record_hash(prev_hash, content))


def _intact(r: AuditRecord) -> bool:
    if r.unreadable is not None:
        return False
    try:
        return record_hash(r.previous_hash, r.content()) == r.hash
    except (TypeError, ValueError):  # contents no longer JSON: edited
        return False


def _short(h: str) -> str:
    return h[:12] + "…"


def _missing(after: int, before: int) -> AuditFinding:
    first, last = after + 1, before - 1
    between = f"between records {after} and {before}" if after else f"before record {before}"
    if first == last:
        return AuditFinding("missing", first, f"record {first} is missing ({between})")
    return AuditFinding("missing", first, f"records {first}-{last} are missing ({between})")


def verify(records: Sequence[AuditRecord], *, anchor: tuple[int, str] | None = None) -> list[AuditFinding]:
    """Findings by sequence number; none means the chain is intact (and reaches `anchor`, if given).

    `records` in storage order (by sequence number). `anchor`: (sequence, hash) of a record kept outside the chain.
    One finding per record and kind: a single tampering gives exactly one finding naming the record; several
    tamperings are each reported where they can be told apart (the chain is still reported as broken).
    """
    if anchor is not None:
        _check_anchor_shape(anchor)
    findings: list[AuditFinding] = []
    by_hash = {r.hash for r in records}
    tip_seq, tip_hash = 0, GENESIS  # the last record the chain links through
    tip: AuditRecord | None = None
    accepted: dict[int, AuditRecord] = {}
    for i, r in enumerate(records):
        nxt = records[i + 1] if i + 1 < len(records) else None
        intact, linked, expected = _intact(r), r.previous_hash == tip_hash, tip_seq + 1
        seq = r.sequence
        if not intact:  # named by its place in the chain when linked (its sequence field may be what was edited)
            where = expected if linked else r.sequence
            if r.unreadable is not None:
                findings.append(AuditFinding("unreadable", where, f"record {where} is unreadable: {r.unreadable}"))
            else:
                findings.append(_edited(where, "its contents no longer match its hash"))
        if linked:
            if r.sequence != expected and intact:
                findings.append(_edited(expected, f"its sequence number was changed to {r.sequence}"))
            seq = expected
        elif r.sequence > expected:
            findings.append(_missing(tip_seq, r.sequence))
        elif not intact:
            seq = expected  # reported above; only its stored hash is trusted from here on
        elif r.sequence < expected:
            # A second record claims a sequence number already seen: one of the two was inserted.
            other = accepted.get(r.sequence)
            if other is not None and other is tip and nxt is not None and nxt.previous_hash == r.hash:
                findings.append(_inserted(other, f"record {r.sequence + 1} links to the other record {r.sequence}"))
            elif other is not None and other is tip and nxt is None and anchor == (r.sequence, r.hash):
                findings.append(_inserted(other, "the anchor names the other record"))
            elif other is not None and other is tip and nxt is None and anchor is None:
                findings.append(
                    AuditFinding(
                        "inserted",
                        r.sequence,
                        f"record {r.sequence} appears twice ({_short(other.hash)} and {_short(r.hash)}): one of "
                        "them was inserted",
                    )
                )
                continue
            else:
                findings.append(_inserted(r, "the chain does not link through it"))
                continue
        elif nxt is not None and nxt.sequence == r.sequence:
            pass  # a second record with this number follows: the duplicate check decides which was inserted
        elif tip is not None and r.previous_hash == tip.previous_hash:
            # Same predecessor as the tip and the next number: the tip was slipped in and the rest renumbered.
            findings.append(_inserted(tip, f"record {r.sequence} links past it to the record before"))
        elif nxt is not None and nxt.previous_hash != r.hash and r.previous_hash not in by_hash:
            findings.append(_edited(r.sequence, "its links no longer match (its hash was recomputed)"))
        elif tip is not None:
            findings.append(
                _edited(tip.sequence, f"its hash was recomputed, but record {r.sequence} still links to the original")
            )
        else:
            findings.append(_edited(r.sequence, "the first record does not start from the genesis hash"))
        accepted[seq] = r
        tip_seq, tip_hash, tip = seq, r.hash, r

    if anchor is not None:
        findings.extend(_check_anchor(records, anchor, tip_seq))
    return _one_per_record(findings)


def _edited(sequence: int, why: str) -> AuditFinding:
    return AuditFinding("edited", sequence, f"record {sequence} was edited: {why}")


def _inserted(r: AuditRecord, why: str) -> AuditFinding:
    return AuditFinding("inserted", r.sequence, f"record {r.sequence} ({_short(r.hash)}) was inserted: {why}")


def _check_anchor_shape(anchor: object) -> None:
    if not isinstance(anchor, tuple) or len(anchor) != 2:
        raise InputError("anchor", f"expected (sequence, hash), got {anchor!r}")
    seq, h = anchor
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1 or not isinstance(h, str):
        raise InputError("anchor", f"expected (sequence ≥ 1, hash), got {anchor!r}")


def _check_anchor(records: Sequence[AuditRecord], anchor: tuple[int, str], last: int) -> list[AuditFinding]:
    seq, h = anchor
    if last < seq:
        first = last + 1
        text = f"record {seq} is missing" if first == seq else f"records {first}-{seq} are missing"
        return [AuditFinding("missing", first, f"{text}: the anchor says the chain reached record {seq}")]
    named = [r for r in records if r.sequence == seq]
    if not named:  # deleted from the middle: the chain's own finding says between which records
        return [AuditFinding("missing", seq, f"record {seq} is missing: the anchor names it")]
    if not any(r.hash == h for r in named):
        return [
            AuditFinding(
                "anchor",
                seq,
                f"record {seq} does not match the anchored hash {_short(h)}: it or an earlier record was changed "
                "and the chain re-hashed",
            )
        ]
    return []


def _one_per_record(findings: list[AuditFinding]) -> list[AuditFinding]:
    """The first finding of each (kind, record): a re-hashed edit shows both in the record and in the next link."""
    out: dict[tuple[FindingKind, int], AuditFinding] = {}
    for f in findings:
        out.setdefault((f.kind, f.sequence), f)
    return sorted(out.values(), key=lambda f: f.sequence)


def parse_anchor(text: str, field: str = "anchor") -> tuple[int, str]:
    """An anchor as `idds audit anchor` prints it, SEQUENCE:HASH, checked (InputError naming `field`)."""
    seq, sep, digest = text.strip().partition(":")
    seq, digest = seq.strip(), digest.strip().lower()
    number = seq.isascii() and seq.isdigit() and len(seq) <= 19  # ASCII digits only: '٣' is not read as 3
    if not sep or not number or int(seq) < 1 or len(digest) != 64:
        shown = text if len(text) <= 100 else text[:100] + "…"
        raise InputError(field, f"expected SEQUENCE:HASH as `idds audit anchor` prints it, got '{shown}'")
    if any(c not in "0123456789abcdef" for c in digest):
        raise InputError(field, "the hash must be 64 hexadecimal digits")
    return int(seq), digest


def check_head(records: Sequence[AuditRecord], head: tuple[int, str] | None) -> list[AuditFinding]:
    """The stored head against the records: every write moves it to the record it appends, so it names the last
    record. A record after it was appended without moving it (the chain alone cannot tell a forged last record);
    a head that names another hash, or a record that is not there, was changed or the records were; records
    without a head lost their anchor."""
    if head is None:
        if not records:
            return []
        last = records[-1].sequence
        return [AuditFinding("anchor", last, f"the chain's head is missing: record {last} cannot be checked")]
    seq, h = head
    findings = [
        AuditFinding(
            "inserted",
            r.sequence,
            f"record {r.sequence} ({_short(r.hash)}) was inserted: it comes after the chain's head, record {seq}, "
            "which every write moves",
        )
        for r in records
        if r.sequence > seq
    ]
    named = [r for r in records if r.sequence == seq]
    if not named and seq > 0:
        findings.append(AuditFinding("missing", seq, f"record {seq} is missing: the chain's head names it"))
    elif named and not any(r.hash == h for r in named):
        findings.append(
            AuditFinding(
                "anchor",
                seq,
                f"the chain's head names record {seq} as {_short(h)}, but its hash is {_short(named[0].hash)}: the "
                "head or the record was changed",
            )
        )
    return findings


def merge(*findings: Sequence[AuditFinding]) -> list[AuditFinding]:
    """Findings from several checks, one per kind and record (the first given wins), by sequence number."""
    return _one_per_record([f for group in findings for f in group])


def read_payload(stored: object, field: str) -> tuple[JSON, str | None]:
    """A stored before/after (its JSON text) read within bounds: (value, None), or (None, why it cannot be read).

    Never raises and never recurses into the text: the nesting is counted before parsing, so JSON nested
    thousands deep is a reason, not a RecursionError. The reason names the field, never the contents."""
    if stored is None:
        return None, None
    if isinstance(stored, bytes):
        try:
            stored = stored.decode("utf-8")
        except UnicodeDecodeError:
            return None, f"its {field} is not UTF-8 text"
    if not isinstance(stored, str):
        return None, f"its {field} is not JSON text"
    if not is_utf8(stored):
        return None, f"its {field} is not valid UTF-8"
    if _nesting(stored) > MAX_DEPTH + 1:  # containers at depth 0..MAX_DEPTH: MAX_DEPTH + 1 brackets
        return None, f"its {field} is nested more than {MAX_DEPTH} levels deep"
    try:
        value = json.loads(stored)
    except json.JSONDecodeError as exc:
        return None, f"its {field} is not JSON ({exc.msg} at character {exc.pos})"
    except ValueError:  # an integer of more digits than Python converts
        return None, f"its {field} holds a number too long to read"
    problem = _not_chain_json(value, field)
    return (None, problem) if problem else (value, None)


def _nesting(text: str) -> int:
    """How deep the brackets of a JSON text nest (those inside strings not counted), stopping past the bound."""
    if text.count("[") + text.count("{") <= MAX_DEPTH + 1:
        return 0  # too few brackets to go past the bound: no need to look
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_DEPTH + 1:
                    break
        elif ch in "]}":
            depth -= 1
    return deepest


def _not_chain_json(value: object, field: str) -> str | None:
    """Why parsed JSON is not what the chain writes (a float; text that is not valid Unicode), or None."""
    pending: list[tuple[object, str]] = [(value, field)]
    while pending:
        v, where = pending.pop()
        if isinstance(v, float):
            return f"its {where} holds a number with a fraction or an exponent, which the chain never writes"
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                return f"its {where} holds text that is not valid Unicode"
        elif isinstance(v, list):
            pending.extend((x, f"{where}[{i}]") for i, x in enumerate(v))
        elif isinstance(v, dict):
            for k, x in v.items():
                try:
                    k.encode("utf-8")
                except UnicodeEncodeError:
                    return f"its {where} holds a key that is not valid Unicode"
                pending.append((x, f"{where}.{k}"))
    return None


def is_utf8(text: str) -> bool:
    """Whether `text` is valid Unicode, as UTF-8 can hold it: a SQLite column of bytes that are not UTF-8 reads as
    text with lone surrogates in their place (db.engine's connection hook), never as an error naming no record."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def stored_text(value: object) -> str:
    """A stored text column as it can be shown and linked on: every byte that was not UTF-8 a U+FFFD (�); a value
    that is not text at all, empty. The chain's reader and the next record's link both read a hash this way, so a
    record whose hash was spoiled is named, and the next record still links on from it."""
    if not isinstance(value, str):
        return ""
    return value if is_utf8(value) else "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in value)


def stored(values: Sequence[object], sequence_if_unreadable: int) -> AuditRecord:
    """A stored row (sequence, at, actor, action, entity, before text, after text, previous_hash, hash) as a record,
    read defensively: what cannot be read is said in `unreadable` (named by field), never raised. A sequence
    number that is not a number takes `sequence_if_unreadable` (its place in the chain)."""
    seq, at, actor, action, entity, before_text, after_text, previous_hash, hash_ = values
    problems: list[str] = []
    if isinstance(seq, bool) or not isinstance(seq, int):
        problems.append("its sequence number is not a number")
        seq = sequence_if_unreadable
    if isinstance(at, bool) or not isinstance(at, int):
        problems.append("its instant is not a number")
        at = 0
    elif not 0 <= at < AT_LIMIT:
        problems.append("its instant is not between 1970 and 9999")
        at = 0
    texts: list[str] = []
    for name, text in (
        ("actor", actor),
        ("action", action),
        ("entity", entity),
        ("previous hash", previous_hash),
        ("hash", hash_),
    ):
        if not isinstance(text, str):
            problems.append(f"its {name} is not text")
        elif not is_utf8(text):
            problems.append(f"its {name} is not valid UTF-8")
        texts.append(stored_text(text))
    before, before_problem = read_payload(before_text, "before")
    after, after_problem = read_payload(after_text, "after")
    problems += [p for p in (before_problem, after_problem) if p]
    actor, action, entity, previous_hash, hash_ = texts
    return AuditRecord(
        seq, at, actor, action, entity, before, after, previous_hash, hash_, "; ".join(problems) if problems else None
    )


def as_records(rows: Sequence[dict[str, Any]]) -> list[AuditRecord]:
    """Records from stored JSON rows (as_json), each field checked and named on error."""
    out: list[AuditRecord] = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise InputError(f"records[{i}]", "expected an object")
        missing = [k for k in (*FIELDS, "previous_hash", "hash") if k not in row]
        if missing:
            raise InputError(f"records[{i}].{missing[0]}", "missing (required)")
        extra = sorted(set(row) - {*FIELDS, "previous_hash", "hash"})
        if extra:
            raise InputError(f"records[{i}].{extra[0]}", "unknown field")
        for name in ("sequence", "at"):
            if isinstance(row[name], bool) or not isinstance(row[name], int):
                raise InputError(f"records[{i}].{name}", f"expected an integer, got {row[name]!r}")
        for name in ("actor", "action", "entity", "previous_hash", "hash"):
            if not isinstance(row[name], str):
                raise InputError(f"records[{i}].{name}", f"expected a string, got {row[name]!r}")
        _check_json(row["before"], f"records[{i}].before")
        _check_json(row["after"], f"records[{i}].after")
        out.append(
            AuditRecord(
                row["sequence"],
                row["at"],
                row["actor"],
                row["action"],
                row["entity"],
                row["before"],
                row["after"],
                row["previous_hash"],
                row["hash"],
            )
        )
    return out
