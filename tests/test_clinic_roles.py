"""Roles: every cell of the role × action matrix against a hand-written table, and the rules on top of it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openidds.clinic.roles import ACTIONS, MATRIX, ROLES, SECOND_PERSON, allowed, matrix_markdown
from openidds.errors import InputError

# Written by hand from the brief, independently of roles.py. y = yes, o = own record only, . = no.
#                                 admin physician nurse pharmacist patient
EXPECTED_TABLE = """
read-patient                        .     y        y     y          o
create-patient                      .     y        y     .          .
record-evaluation                   .     y        y     .          .
record-trial                        .     y        y     .          .
record-implant                      .     y        .     .          .
override-pathway-gate               .     y        .     .          .
propose-program                     .     y        y     .          .
confirm-program                     .     y        .     .          .
verify-concentration-change         .     y        .     y          .
cancel-program                      .     y        .     .          .
prepare-refill                      .     y        y     y          .
verify-refill                       .     y        y     y          .
verify-compounded-refill            .     y        .     y          .
record-refill                       .     y        y     .          .
record-follow-up                    .     y        y     .          .
resolve-flag                        .     y        y     .          .
review-unchecked-refill             .     y        y     y          .
submit-questionnaire                .     y        y     .          o
request-bolus                       .     .        .     .          o
read-dashboard                      .     y        y     y          .
read-audit                          y     y        .     .          .
manage-users                        y     .        .     .          .
edit-clinic-settings                y     .        .     .          .
book-appointment                    .     y        y     .          .
plan-refills                        .     y        y     .          .
read-clinic-report                  .     y        y     y          .
read-outbox                         y     y        y     .          .
set-contact                         .     y        y     .          o
manage-calendar-feeds               .     y        y     y          .
"""
ROLE_COLUMNS = ("admin", "physician", "nurse", "pharmacist", "patient")
EXPECTED: dict[tuple[str, str], str] = {}
for line in EXPECTED_TABLE.strip().splitlines():
    action, *cells = line.split()
    for role, cell in zip(ROLE_COLUMNS, cells, strict=True):
        EXPECTED[(role, action)] = cell

EXPECTED_SECOND_PERSON = {
    "verify-concentration-change",
    "verify-refill",
    "verify-compounded-refill",
    "review-unchecked-refill",
}
CLINIC_WIDE = {
    "create-patient",
    "read-dashboard",
    "read-audit",
    "manage-users",
    "edit-clinic-settings",
    "plan-refills",
    "read-clinic-report",
    "read-outbox",
    "manage-calendar-feeds",
}

EXPECTED_MARKDOWN = """\
| action | admin | physician | nurse | pharmacist | patient |
|---|---|---|---|---|---|
| `read-patient` | — | yes | yes | yes | own record |
| `create-patient` | — | yes | yes | — | — |
| `record-evaluation` | — | yes | yes | — | — |
| `record-trial` | — | yes | yes | — | — |
| `record-implant` | — | yes | — | — | — |
| `override-pathway-gate` | — | yes | — | — | — |
| `propose-program` | — | yes | yes | — | — |
| `confirm-program` | — | yes | — | — | — |
| `verify-concentration-change` (second person) | — | yes | — | yes | — |
| `cancel-program` | — | yes | — | — | — |
| `prepare-refill` | — | yes | yes | yes | — |
| `verify-refill` (second person) | — | yes | yes | yes | — |
| `verify-compounded-refill` (second person) | — | yes | — | yes | — |
| `record-refill` | — | yes | yes | — | — |
| `record-follow-up` | — | yes | yes | — | — |
| `resolve-flag` | — | yes | yes | — | — |
| `review-unchecked-refill` (second person) | — | yes | yes | yes | — |
| `submit-questionnaire` | — | yes | yes | — | own record |
| `request-bolus` | — | — | — | — | own record |
| `read-dashboard` | — | yes | yes | yes | — |
| `read-audit` | yes | yes | — | — | — |
| `manage-users` | yes | — | — | — | — |
| `edit-clinic-settings` | yes | — | — | — | — |
| `book-appointment` | — | yes | yes | — | — |
| `plan-refills` | — | yes | yes | — | — |
| `read-clinic-report` | — | yes | yes | yes | — |
| `read-outbox` | yes | yes | yes | — | — |
| `set-contact` | — | yes | yes | — | own record |
| `manage-calendar-feeds` | — | yes | yes | yes | — |

(second person): the verifier must be a different user from the one who proposed or recorded it. \
A patient asking for another patient's record is answered as if it did not exist (404).
"""


def test_the_table_covers_every_role_and_action() -> None:
    assert set(ROLES) == set(ROLE_COLUMNS)
    assert {a for _, a in EXPECTED} == set(ACTIONS)
    assert len(EXPECTED) == len(ROLES) * len(ACTIONS) == 145
    assert set(SECOND_PERSON) == EXPECTED_SECOND_PERSON


@pytest.mark.parametrize(("role", "action"), sorted(EXPECTED))
def test_every_cell_of_the_matrix(role: str, action: str) -> None:
    cell = EXPECTED[(role, action)]
    row: dict[str, str] = dict(MATRIX[action])  # type: ignore[index, arg-type]
    assert row.get(role) == {"y": "any", "o": "own", ".": None}[cell]
    decision = allowed(
        role,  # type: ignore[arg-type]
        action,  # type: ignore[arg-type]
        user_id="u-actor",
        patient_id="p1",
        own_patient_id="p1" if role == "patient" else None,
        recorded_by="u-other" if action in EXPECTED_SECOND_PERSON else None,
    )
    assert decision.allowed == (cell != ".")
    assert not decision.not_found
    assert decision.reason


def test_the_markdown_table() -> None:
    assert matrix_markdown() == EXPECTED_MARKDOWN


def test_a_nurse_cannot_confirm_a_program() -> None:
    d = allowed("nurse", "confirm-program", user_id="n1", patient_id="p1", recorded_by="n2")
    assert not d.allowed
    assert d.reason == "a nurse cannot confirm a proposed pump program (allowed: a physician)"


@pytest.mark.parametrize("action", sorted(EXPECTED_SECOND_PERSON))
def test_the_second_check_needs_a_different_user(action: str) -> None:
    for role in ROLE_COLUMNS:
        if EXPECTED[(role, action)] == ".":
            continue
        same = allowed(role, action, user_id="u1", patient_id="p1", recorded_by="u1")  # type: ignore[arg-type]
        assert not same.allowed and "second person" in same.reason and "(u1)" in same.reason
        other = allowed(role, action, user_id="u1", patient_id="p1", recorded_by="u2")  # type: ignore[arg-type]
        assert other.allowed


def test_only_a_pharmacist_or_physician_verifies_a_compounded_refill() -> None:
    verifiers = {r for r in ROLE_COLUMNS if EXPECTED[(r, "verify-compounded-refill")] != "."}
    assert verifiers == {"pharmacist", "physician"}
    d = allowed("nurse", "verify-compounded-refill", user_id="n1", patient_id="p1", recorded_by="n2")
    assert not d.allowed and "a pharmacist" in d.reason and "a physician" in d.reason


@pytest.mark.parametrize("action", sorted(set(ACTIONS) - CLINIC_WIDE))
def test_another_patients_record_is_not_found(action: str) -> None:
    d = allowed("patient", action, user_id="u9", patient_id="p2", own_patient_id="p1", recorded_by="u8")  # type: ignore[arg-type]
    assert not d.allowed and d.not_found
    assert d.reason == "no such patient record (a patient sees only their own record)"


def test_own_record_forbidden_action_is_forbidden_not_hidden() -> None:
    d = allowed("patient", "confirm-program", user_id="u9", patient_id="p1", own_patient_id="p1", recorded_by="u8")
    assert not d.allowed and not d.not_found
    d = allowed("patient", "request-bolus", user_id="u9", patient_id="p1", own_patient_id="p1")
    assert d.allowed and d.reason == "a patient may request a bolus with the patient remote (their own record)"
    d = allowed("patient", "read-audit", user_id="u9", own_patient_id="p1")
    assert not d.allowed and not d.not_found


def test_the_admin_sees_no_clinical_record() -> None:
    assert not allowed("admin", "read-patient", user_id="a1", patient_id="p1").allowed
    assert allowed("admin", "manage-users", user_id="a1").allowed


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"role": "surgeon", "action": "read-patient", "user_id": "u1", "patient_id": "p1"}, "role"),
        ({"role": "nurse", "action": "delete-patient", "user_id": "u1", "patient_id": "p1"}, "action"),
        ({"role": "nurse", "action": "read-patient", "user_id": "", "patient_id": "p1"}, "user_id"),
        ({"role": "nurse", "action": "read-patient", "user_id": "u1"}, "patient_id"),
        ({"role": "patient", "action": "read-patient", "user_id": "u1", "patient_id": "p1"}, "own_patient_id"),
        ({"role": "patient", "action": "request-bolus", "user_id": "u1", "own_patient_id": "p1"}, "patient_id"),
        ({"role": "physician", "action": "verify-refill", "user_id": "u1", "patient_id": "p1"}, "recorded_by"),
    ],
)
def test_bad_input_names_the_field(kwargs: dict[str, str], field: str) -> None:
    with pytest.raises(InputError) as err:
        allowed(**kwargs)  # type: ignore[arg-type]
    assert err.value.field == field


@given(
    role=st.sampled_from(ROLE_COLUMNS),
    action=st.sampled_from(sorted(ACTIONS)),
    user=st.sampled_from(["u1", "u2"]),
    recorder=st.sampled_from(["u1", "u2"]),
    own=st.sampled_from(["p1", "p2"]),
    target=st.sampled_from(["p1", "p2"]),
)
def test_allowed_matches_the_hand_table_and_rules(
    role: str, action: str, user: str, recorder: str, own: str, target: str
) -> None:
    d = allowed(
        role,  # type: ignore[arg-type]
        action,  # type: ignore[arg-type]
        user_id=user,
        patient_id=target,
        own_patient_id=own if role == "patient" else None,
        recorded_by=recorder,
    )
    hidden = role == "patient" and action not in CLINIC_WIDE and own != target
    expected = (
        not hidden and EXPECTED[(role, action)] != "." and not (action in EXPECTED_SECOND_PERSON and user == recorder)
    )
    assert d.allowed == expected
    assert d.not_found == hidden
