"""Follow-ups through the API, on SQLite and PostgreSQL: PHQ-9 item 9 above 0 raises an urgent flag, the
dashboard puts that patient first, and resolving the flag clears it."""

from __future__ import annotations

import pytest

from tests.api_support import Clinic, fast_argon2, implanted_patient


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_argon2(monkeypatch)


def order(clinic: Clinic) -> list[tuple[int, str, int]]:
    rows = clinic.call("GET", "/dashboard", "nora").json()["patients"]
    return [(r["patient_id"], r["urgency"], r["urgent_flags"]) for r in rows]


def test_phq9_item_9_raises_an_urgent_flag_until_resolved(clinic: Clinic) -> None:
    # Both filled with 40 mL at START: due 2027-01-25 (worst case), nothing pressing. Ties sort by patient id.
    first = implanted_patient(clinic, "F-1")
    second = implanted_patient(clinic, "F-2")
    clinic.user("sam", "patient", second)
    clinic.advance(days=14)
    assert order(clinic) == [(first, "later", 0), (second, "later", 0)]

    # A routine visit: NRS 4 from a baseline of 8 is 50 % relief; PHQ-9 total 5 (mild), item 9 = 0: no urgent flag.
    r = clinic.call(
        "POST",
        f"/patients/{second}/follow-ups",
        "nora",
        json={"nrs": 4, "baseline_nrs": 8, "phq9": [1, 1, 1, 1, 1, 0, 0, 0, 0]},
    )
    assert r.status_code == 201, r.text
    assert r.json()["urgent"] is False
    assert [f["code"] for f in r.json()["flags"] if f["urgent"]] == []
    assert order(clinic) == [(first, "later", 0), (second, "later", 0)]

    # The patient's own questionnaire: item 9 answered "several days" (1). Total 1 + 1 = 2 (minimal), urgent anyway.
    clinic.advance(days=1)
    r = clinic.call("POST", f"/patients/{second}/follow-ups", "sam", json={"phq9": [0, 0, 0, 0, 0, 0, 1, 0, 1]})
    assert r.status_code == 201, r.text
    visit = r.json()
    assert visit["urgent"] is True
    item9 = [f for f in visit["flags"] if f["code"] == "phq9.item-9"]
    assert len(item9) == 1 and item9[0]["urgent"] is True
    assert item9[0]["message"].startswith("URGENT: PHQ-9 item 9 (thoughts of being better off dead or of self-harm)")
    assert "'several days' (1)" in item9[0]["message"]
    assert visit["scores"]["phq9"]["total"] == 2
    # ... and only what a patient reports: an Ashworth grade, a baseline or a graded adverse event is the care team's
    for clinical, field in (
        ({"ashworth": "1"}, "ashworth"),
        ({"nrs": 3, "baseline_nrs": 9}, "baseline_nrs"),
        ({"adverse_events": [{"item": "nausea", "grade": 1}]}, "adverse_events"),
    ):
        r = clinic.call("POST", f"/patients/{second}/follow-ups", "sam", json=clinical)
        assert (r.status_code, r.json()["field"]) == (422, field), r.text
        assert r.json()["message"].endswith("a questionnaire gives pain, Oswestry, PHQ-9 and spasms"), r.text

    rows = clinic.call("GET", "/dashboard", "nora").json()["patients"]
    assert [(r["patient_id"], r["urgency"], r["urgent_flags"]) for r in rows] == [
        (second, "urgent-flag", 1),
        (first, "later", 0),
    ]
    # The concern names the flag itself, not just that one is open.
    assert rows[0]["concerns"][0] == (
        "urgent: PHQ-9 item 9 (thoughts of being better off dead or of self-harm) answered 'several days' (1): "
        "assess suicide risk today, before the patient leaves, whatever the total"
    )
    assert [f["code"] for f in rows[0]["flags"]] == ["phq9.item-9"]
    assert rows[0]["refill"] == "later"  # the flag, not the refill, puts the patient first

    # Only the care team resolves it (the patient cannot), once.
    resolve = f"/patients/{second}/follow-ups/{visit['id']}/resolve"
    done = {"resolution": "seen by the psychiatrist today: no plan or intent; safety plan agreed"}
    r = clinic.call("POST", resolve, "sam", json=done)
    assert r.status_code == 403 and r.json()["detail"].startswith("a patient cannot resolve a flag")
    # Resolving says what was done: an empty note is refused, nothing resolved.
    r = clinic.call("POST", resolve, "ada", json={"resolution": "  "})
    assert r.status_code == 422 and r.json()["field"] == "resolution"
    assert "say what was done" in r.json()["detail"]
    # an urgent flag is closed by a sentence, not a dash or an "ok"
    for note in ("ok", "seen, fine", "- - - -"):
        r = clinic.call("POST", resolve, "ada", json={"resolution": note})
        assert r.status_code == 422 and r.json()["field"] == "resolution", note
    r = clinic.call("POST", resolve, "ada", json=done)
    assert r.status_code == 200 and r.json()["resolved_at"] == "2026-12-06T15:00:00+00:00", r.text
    assert r.json()["resolution"] == done["resolution"]
    assert clinic.call("POST", resolve, "ada", json={"resolution": "again"}).status_code == 409
    assert (
        clinic.call("POST", f"/patients/{first}/follow-ups/{visit['id']}/resolve", "ada", json=done).status_code == 404
    )
    assert order(clinic) == [(first, "later", 0), (second, "later", 0)]

    kept = clinic.call("GET", f"/patients/{second}/follow-ups", "sam").json()
    assert [(k["urgent"], k["resolved_at"] is not None) for k in kept] == [(False, False), (True, True)]
