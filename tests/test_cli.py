"""The `idds` command line against the contract in the project issue.

Every expected number below is worked by hand (the arithmetic is in the comment or written out with exact
Fractions); none is obtained by calling the code under test. Limits and device figures are read straight from the
shipped data files (src/openidds/data/*.toml) and quoted where used.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tomllib
from datetime import datetime
from fractions import Fraction as F
from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import (
    BRIDGE_SWAP,
    DATA,
    HEX64,
    assert_no_crash,
    example,
    idds_script,
    q,
    run,
    run_json,
    run_script,
    write_variant,
)

FLEX = "morphine-clonidine-flex.toml"
FLEX_CONC = "morphine-clonidine-flex-concentrated.toml"
HARD = "morphine-above-hard-limit.toml"
BACLOFEN_SPINAL = "baclofen-spinal-continuous.toml"
BACLOFEN_WEEK = "baclofen-cerebral-week.toml"
CONSTANT_FLOW = "constant-flow-morphine.toml"
ZICONOTIDE = "ziconotide-first-fill.toml"

LIBRARY_BYTES = (DATA / "drugs.toml").read_bytes()
CATALOG_BYTES = (DATA / "devices.toml").read_bytes()
LIBRARY_TOML = tomllib.loads(LIBRARY_BYTES.decode("utf-8"))
CATALOG_TOML = tomllib.loads(CATALOG_BYTES.decode("utf-8"))

ALL_DRUGS = [
    "morphine",
    "hydromorphone",
    "fentanyl",
    "sufentanil",
    "ziconotide",
    "bupivacaine",
    "clonidine",
    "baclofen",
]
ALL_PUMPS = [
    "programmable-20",
    "programmable-40",
    "valve-gated-20",
    "valve-gated-40",
    "constant-flow-30-0.5",
    "constant-flow-30-1.0",
]
ALL_CATHETERS = ["intrathecal-one-piece", "intrathecal-two-piece", "valve-gated-catheter"]


def _shipped(doc: dict[str, Any], key: str, toml: dict[str, Any], data: bytes) -> None:
    """A shipped file's identity: name and version as written in it, sha256 of its bytes (64 hex digits)."""
    assert doc[key] == {"name": toml["name"], "version": toml["version"], "sha256": hashlib.sha256(data).hexdigest()}
    assert HEX64.match(doc[key]["sha256"])


def shipped_library_identity(doc: dict[str, Any]) -> None:
    _shipped(doc, "drug_library", LIBRARY_TOML, LIBRARY_BYTES)


def shipped_catalog_identity(doc: dict[str, Any]) -> None:
    _shipped(doc, "device_catalog", CATALOG_TOML, CATALOG_BYTES)


def shipped_identity(doc: dict[str, Any]) -> None:
    """Both identities (every check, diff and calc document carries them)."""
    shipped_library_identity(doc)
    shipped_catalog_identity(doc)


def assert_assumptions(doc: dict[str, Any]) -> list[str]:
    notes = doc["assumptions"]
    assert isinstance(notes, list)
    assert notes, "every calculation states at least one assumption"
    assert all(isinstance(n, str) and n.strip() for n in notes)
    return notes


def assert_utc_iso(text: str) -> datetime:
    """An ISO 8601 instant with an explicit +00:00 offset."""
    assert isinstance(text, str)
    assert text.endswith("+00:00"), text
    value = datetime.fromisoformat(text)
    assert value.utcoffset() is not None and value.utcoffset().total_seconds() == 0
    return value


def codes(doc: dict[str, Any], severity: str | None = None) -> list[str]:
    return [f["code"] for f in doc["findings"] if severity is None or f["severity"] == severity]


# --------------------------------------------------------------------------------------------------------------
# idds drugs / idds devices
# --------------------------------------------------------------------------------------------------------------
def test_drugs_json_lists_the_library_with_its_identity() -> None:
    doc = run_json("drugs")
    shipped_library_identity(doc)
    assert [d["name"] for d in doc["drugs"]] == ALL_DRUGS
    assert "infumorph-label" in doc["sources"]


def test_drugs_one_drug_json_shows_only_that_drug_and_its_limits() -> None:
    doc = run_json("drugs", "morphine")
    shipped_library_identity(doc)
    (morphine,) = doc["drugs"]
    assert morphine["name"] == "morphine"
    assert morphine["dose_unit"] == "mg"
    assert set(morphine["care_areas"]) == {"pain-noncancer", "pain-cancer"}
    # drugs.toml: morphine, pain-noncancer daily dose soft_max 15 mg/day, hard_max 20 mg/day.
    daily = morphine["care_areas"]["pain-noncancer"]["daily_dose"]
    assert daily["soft_max"]["value"] == "15 mg/day"
    assert daily["hard_max"]["value"] == "20 mg/day"
    assert daily["hard_max"]["source"] == "infumorph-label"


def test_drugs_one_drug_name_is_case_insensitive() -> None:
    doc = run_json("drugs", "Morphine")
    assert [d["name"] for d in doc["drugs"]] == ["morphine"]


def test_drugs_table_names_every_drug_and_the_library() -> None:
    result = run("drugs")
    assert_no_crash(result)
    assert result.exit_code == 0
    out = result.stdout
    assert LIBRARY_TOML["name"] in out and LIBRARY_TOML["version"] in out
    # The table shows the first 12 hex digits of each file's sha256.
    assert hashlib.sha256(LIBRARY_BYTES).hexdigest()[:12] in out
    assert hashlib.sha256(CATALOG_BYTES).hexdigest()[:12] in out
    for area in ("pain-noncancer", "pain-cancer", "spasticity-spinal", "spasticity-cerebral"):
        assert area in out
    for title in ("Morphine", "Ziconotide", "Baclofen"):
        assert title in out


def test_drugs_one_drug_table() -> None:
    result = run("drugs", "morphine")
    assert_no_crash(result)
    assert result.exit_code == 0
    assert "Morphine" in result.stdout
    assert "Baclofen" not in result.stdout
    assert "20 mg/day" in result.stdout  # the non-cancer hard maximum
    assert "Infumorph 10 mg/mL" in result.stdout


def test_devices_json_lists_the_catalog_with_its_identity() -> None:
    doc = run_json("devices")
    shipped_catalog_identity(doc)
    assert [p["id"] for p in doc["pumps"]] == ALL_PUMPS
    assert [c["id"] for c in doc["catheters"]] == ALL_CATHETERS
    one_piece = next(c for c in doc["catheters"] if c["id"] == "intrathecal-one-piece")
    assert one_piece["volume_per_cm"]["value"] == "0.0022 mL/cm"  # devices.toml


def test_devices_table_names_every_model() -> None:
    result = run("devices")
    assert_no_crash(result)
    assert result.exit_code == 0
    for model in (*ALL_PUMPS, *ALL_CATHETERS):
        assert model in result.stdout
    assert CATALOG_TOML["name"] in result.stdout


# --------------------------------------------------------------------------------------------------------------
# idds check
# --------------------------------------------------------------------------------------------------------------
def test_check_flex_json_matches_the_hand_worked_example() -> None:
    doc = run_json("check", example(FLEX), "--at", "2026-11-21T09:00")
    shipped_identity(doc)

    # Daily volume: 0.40 mL/day for 9 h (00-07, 22-24) and 0.60 mL/day for 15 h (07-22).
    program = F("0.4") * 9 / 24 + F("0.6") * 15 / 24  # = 0.15 + 0.375 = 0.525 mL/day
    # Worst case: every patient bolus, 3 × 0.02 mL = 0.06 mL/day more.
    worst = program + 3 * F("0.02")  # = 0.585 mL/day
    assert program == F("0.525") and worst == F("0.585")
    assert doc["daily_volume"] == {"program": q(0.525, "mL/day"), "worst_case": q(0.585, "mL/day")}
    # morphine 10 mg/mL: 0.525 × 10 = 5.25 mg/day, worst 0.585 × 10 = 5.85 mg/day.
    # clonidine 100 mcg/mL: 0.525 × 100 = 52.5 mcg/day, worst 0.585 × 100 = 58.5 mcg/day.
    assert doc["daily_dose"] == {
        "morphine": {"program": q(5.25, "mg/day"), "worst_case": q(5.85, "mg/day")},
        "clonidine": {"program": q(52.5, "mcg/day"), "worst_case": q(58.5, "mcg/day")},
    }

    # Filled 2026-11-21 09:00 CST (UTC-6) = 15:00Z with 40 mL, alarm at 2 mL: 38 mL to the alarm. No DST change
    # before March. From 09:00 local a day delivers 0.6×13/24 + 0.4×9/24 + 0.6×2/24 = 0.525 mL.
    # Program alarm: 72 days = 37.8 mL (to 2027-02-01 09:00 CST); 0.2 mL more at 0.6/day = 8 h → 17:00 CST
    #   = 2027-02-01T23:00Z.
    # Program empty: 76 days = 39.9 mL (to 2027-02-05 09:00 CST); 0.1 mL at 0.6/day = 4 h → 13:00 CST = 19:00Z.
    assert doc["low_reservoir_alarm_at"]["program"] == "2027-02-01T23:00:00+00:00"
    assert doc["reservoir_empty_at"]["program"] == "2027-02-05T19:00:00+00:00"
    # Worst case (rates 0.46 and 0.66 mL/day, 0.585 a day): 64 days = 37.44 mL (to 2027-01-24 09:00 CST);
    # 0.56 mL left to the alarm: 09:00-22:00 at 0.66 gives 0.3575, 22:00-07:00 at 0.46 gives 0.1725 (0.03 left),
    # then 0.03 / 0.66 day = 1/22 day = 65 min 27.2727… s → 2027-01-25 08:05:27.2727… CST = 14:05:27.2727…Z,
    # ceiled to the microsecond: .272728.
    assert doc["low_reservoir_alarm_at"]["worst_case"] == "2027-01-25T14:05:27.272728+00:00"
    # Worst-case empty: 68 days = 39.78 mL; 0.22 mL at 0.66/day = 8 h → 2027-01-28 17:00 CST = 23:00Z.
    assert doc["reservoir_empty_at"]["worst_case"] == "2027-01-28T23:00:00+00:00"
    # Both drugs are stable 90 days (drugs.toml): 2026-11-21T15:00Z + 90 days = 2027-02-19T15:00Z
    # (9 days to Nov 30, 31 to Dec 31, 31 to Jan 31, 19 into February).
    assert doc["stability_expires_at"] == "2027-02-19T15:00:00+00:00"
    # The earliest of worst-case alarm, empty and stability is the worst-case alarm.
    assert doc["next_refill_due"] == doc["low_reservoir_alarm_at"]["worst_case"]

    for key in ("low_reservoir_alarm_at", "reservoir_empty_at"):
        for which in ("program", "worst_case"):
            assert_utc_iso(doc[key][which])
    assert_utc_iso(doc["stability_expires_at"])
    assert_utc_iso(doc["next_refill_due"])

    assert doc["findings"], "a check without --current at least says titration was not checked"
    for finding in doc["findings"]:
        assert {"severity", "code", "message"} <= set(finding)
        assert finding["severity"] == "info", finding
        assert finding["message"].strip()


def test_check_json_keys_are_snake_case_and_quantities_have_value_and_unit() -> None:
    doc = run_json("check", example(FLEX), "--at", "2026-11-21T09:00")
    for key in (
        "drug_library",
        "device_catalog",
        "daily_volume",
        "daily_dose",
        "low_reservoir_alarm_at",
        "reservoir_empty_at",
        "stability_expires_at",
        "next_refill_due",
        "findings",
    ):
        assert key in doc

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                assert k == k.lower() and "-" not in k and " " not in k, f"{path}.{k} is not snake_case"
                walk(v, f"{path}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")

    walk(doc, "")
    for part in ("program", "worst_case"):
        assert set(doc["daily_volume"][part]) == {"value", "unit"}
        assert isinstance(doc["daily_volume"][part]["value"], float)


def test_check_flex_table_shows_local_times() -> None:
    result = run("check", example(FLEX), "--at", "2026-11-21T09:00")
    assert_no_crash(result)
    assert result.exit_code == 0
    out = result.stdout
    assert "0.525 mL/day" in out and "0.585 mL/day" in out
    assert "5.25 mg/day" in out and "58.5 mcg/day" in out
    # The instants above, on the clinic's wall clock (CST = UTC-6), and only there: no UTC beside them.
    assert "1 Feb 2027 17:00 CST" in out
    assert "25 Jan 2027 08:05 CST" in out
    assert "23:00Z" not in out and "14:05Z" not in out and "2027-01-25" not in out
    assert result.stderr == ""


def test_check_above_hard_limit_exits_1_with_a_hard_finding() -> None:
    doc = run_json("check", example(HARD), "--at", "2026-11-21T09:00", code=1)
    shipped_identity(doc)
    hard = [f for f in doc["findings"] if f["code"] == "daily-dose.hard-max"]
    assert len(hard) == 1
    assert hard[0]["severity"] == "hard"
    # 24 mg/day at 25 mg/mL = 0.96 mL/day; above the 20 mg/day non-cancer hard maximum in drugs.toml.
    assert doc["daily_volume"]["program"] == q(0.96, "mL/day")
    assert doc["daily_dose"]["morphine"]["program"] == q(24.0, "mg/day")


def test_check_above_hard_limit_table_also_exits_1() -> None:
    result = run("check", example(HARD), "--at", "2026-11-21T09:00")
    assert_no_crash(result)
    assert result.exit_code == 1
    # The finding in words; its code (daily-dose.hard-max) is in the --json only.
    assert "morphine daily dose 24 mg/day is above the hard maximum 20 mg/day" in " ".join(result.stdout.split())
    assert "daily-dose.hard-max" not in result.stdout
    assert result.stderr == ""


def test_check_baclofen_spinal_continuous() -> None:
    doc = run_json("check", example(BACLOFEN_SPINAL), "--at", "2027-01-15T10:00")
    # 300 mcg/day ÷ 2000 mcg/mL = 0.15 mL/day; no patient bolus, so the worst case is the program.
    assert doc["daily_volume"] == {"program": q(0.15, "mL/day"), "worst_case": q(0.15, "mL/day")}
    assert doc["daily_dose"] == {"baclofen": {"program": q(300.0, "mcg/day"), "worst_case": q(300.0, "mcg/day")}}
    # Filled 2027-01-15 10:00 CET = 09:00Z, 20 mL, alarm 4 mL. A constant rate is per elapsed time (DST ignored).
    # Alarm: 16 / 0.15 = 106 2/3 days = 106 d 16 h. Jan 15 + 106 d = May 1 (16 to Jan 31, +28 Feb, +31 Mar,
    # +30 Apr = 105, +1) → 2027-05-01 09:00Z + 16 h = 2027-05-02T01:00Z.
    assert (F(20) - 4) / F("0.15") == 106 + F(2, 3)
    alarm = "2027-05-02T01:00:00+00:00"
    # Empty: 20 / 0.15 = 133 1/3 days = 133 d 8 h → May 28 09:00Z + 8 h = 2027-05-28T17:00Z.
    empty = "2027-05-28T17:00:00+00:00"
    assert doc["low_reservoir_alarm_at"] == {"program": alarm, "worst_case": alarm}
    assert doc["reservoir_empty_at"] == {"program": empty, "worst_case": empty}
    # Stability 180 days (drugs.toml, baclofen): Jan 15 + 180 d = Jul 14 (105 to Apr 30, 136 May 31,
    # 166 Jun 30, 180 Jul 14) → 2027-07-14T09:00Z.
    assert doc["stability_expires_at"] == "2027-07-14T09:00:00+00:00"
    assert doc["next_refill_due"] == alarm
    assert not codes(doc, "hard")


def test_check_baclofen_cerebral_week_crosses_spring_forward() -> None:
    doc = run_json("check", example(BACLOFEN_WEEK), "--at", "2027-03-01T09:00")
    # The most in any 24 h is a weekday's 0.12 mL/day (1000 mcg/mL → 120 mcg/day).
    assert doc["daily_volume"]["program"] == q(0.12, "mL/day")
    assert doc["daily_dose"]["baclofen"]["program"] == q(120.0, "mcg/day")
    # A week delivers 5 × 0.12 + 2 × 0.10 = 0.8 mL; 16 mL to the alarm = 20 weeks → Mon 2027-07-19 09:00 EDT.
    # The spring-forward gap (Sun 2027-03-14 02:00, rate 0.10) skips 0.10/24 mL; made up at 0.12 mL/day in
    # (0.1/24) / (0.12/1440) = 50 min → 09:50 EDT = 13:50Z.
    assert 5 * F("0.12") + 2 * F("0.10") == F("0.8")
    assert (F("0.1") / 24) / (F("0.12") / 1440) == 50
    assert doc["low_reservoir_alarm_at"]["program"] == "2027-07-19T13:50:00+00:00"
    # 20 mL = 25 weeks → Mon 2027-08-23 09:00 EDT, + the same 50 min = 13:50Z.
    assert doc["reservoir_empty_at"]["program"] == "2027-08-23T13:50:00+00:00"
    # No patient bolus: worst case = program.
    assert doc["low_reservoir_alarm_at"]["worst_case"] == doc["low_reservoir_alarm_at"]["program"]
    # Stability 180 days from 2027-03-01T14:00Z (EST = UTC-5): 30 to Mar 31, 60 Apr 30, 91 May 31, 121 Jun 30,
    # 152 Jul 31, 180 = Aug 28 → 2027-08-28T14:00Z, after the alarm.
    assert doc["stability_expires_at"] == "2027-08-28T14:00:00+00:00"
    assert doc["next_refill_due"] == "2027-07-19T13:50:00+00:00"


def test_check_constant_flow_pump_has_no_alarm() -> None:
    doc = run_json("check", example(CONSTANT_FLOW), "--at", "2026-11-21T09:00")
    # Fixed 0.5 mL/day × 10 mg/mL = 5 mg/day.
    assert doc["daily_volume"]["program"] == q(0.5, "mL/day")
    assert doc["daily_dose"]["morphine"]["program"] == q(5.0, "mg/day")
    # Filled 2026-11-21 09:00 GMT = 09:00Z, 30 mL, reserve 3 mL: 27 / 0.5 = 54 days → 2027-01-14 (9 to Nov 30,
    # 40 to Dec 31, +14); empty 30 / 0.5 = 60 days → 2027-01-20.
    assert doc["low_reservoir_alarm_at"]["program"] == "2027-01-14T09:00:00+00:00"
    assert doc["reservoir_empty_at"]["program"] == "2027-01-20T09:00:00+00:00"
    # Morphine 90 days: 2027-02-19T09:00Z.
    assert doc["stability_expires_at"] == "2027-02-19T09:00:00+00:00"
    alarm = [f for f in doc["findings"] if f["code"] == "alarm.none"]
    assert len(alarm) == 1 and alarm[0]["severity"] == "info"
    assert not codes(doc, "hard")


def test_check_ziconotide_first_fill_starting() -> None:
    doc = run_json("check", "--starting", example(ZICONOTIDE), "--at", "2026-11-21T09:00")
    # 1.2 mcg/day ÷ 25 mcg/mL = 0.048 mL/day.
    assert F("1.2") / 25 == F("0.048")
    assert doc["daily_volume"]["program"] == q(0.048, "mL/day")
    assert doc["daily_dose"]["ziconotide"]["program"] == q(1.2, "mcg/day")
    # First fill of a new pump: stable 14 days (drugs.toml). 2026-11-21 09:00 CST = 15:00Z + 14 d.
    assert doc["stability_expires_at"] == "2026-12-05T15:00:00+00:00"
    assert doc["next_refill_due"] == "2026-12-05T15:00:00+00:00"
    # Alarm much later: 18 mL / 0.048 = 375 days → 2027-12-01T15:00Z.
    assert F(18) / F("0.048") == 375
    assert doc["low_reservoir_alarm_at"]["program"] == "2027-12-01T15:00:00+00:00"
    assert not codes(doc, "hard")
    assert not codes(doc, "soft")
    # --starting: the program starts the therapy, so there is no "titration not checked" note.
    assert "titration.not-checked" not in codes(doc)


def test_check_with_current_program_inside_the_titration_step() -> None:
    # The concentrated program against the flex one: morphine 5.25 → 5.775 mg/day (+10 %, inside 20 %).
    doc = run_json("check", example(FLEX_CONC), "--current", example(FLEX), "--at", "2027-01-20T10:00")
    assert codes(doc).count("concentration.changed") == 2
    assert not [c for c in codes(doc) if c.startswith("titration")]
    assert not codes(doc, "hard")


def test_check_titration_step_above_the_soft_limit(tmp_path: Path) -> None:
    # Every rate × 1.25: 0.5 / 0.75 / 0.5 mL/day → 0.5×9/24 + 0.75×15/24 = 0.65625 mL/day → morphine
    # 6.5625 mg/day, +25 % over 5.25: above the 20 % soft step, inside the 50 % hard step (drugs.toml, both drugs).
    new = F("0.5") * 9 / 24 + F("0.75") * 15 / 24
    assert new == F("0.65625") and new * 10 / (F("5.25")) == F("1.25")
    proposed = write_variant(
        tmp_path,
        [
            ('{ at = "00:00", rate = "0.40 mL/day" }', '{ at = "00:00", rate = "0.50 mL/day" }'),
            ('{ at = "07:00", rate = "0.60 mL/day" }', '{ at = "07:00", rate = "0.75 mL/day" }'),
            ('{ at = "22:00", rate = "0.40 mL/day" }', '{ at = "22:00", rate = "0.50 mL/day" }'),
        ],
    )
    doc = run_json("check", proposed, "--current", example(FLEX), "--at", "2026-11-21T09:00")
    assert doc["daily_dose"]["morphine"]["program"] == q(6.5625, "mg/day")
    soft = [f for f in doc["findings"] if f["code"] == "titration.soft-max"]
    assert len(soft) == 2  # morphine and clonidine
    assert all(f["severity"] == "soft" for f in soft)
    assert not codes(doc, "hard")


def test_check_titration_step_above_the_hard_limit_exits_1(tmp_path: Path) -> None:
    # Every rate doubled: morphine 10.5 mg/day, +100 % over 5.25, above the 50 % hard step.
    proposed = write_variant(
        tmp_path,
        [
            ('{ at = "00:00", rate = "0.40 mL/day" }', '{ at = "00:00", rate = "0.80 mL/day" }'),
            ('{ at = "07:00", rate = "0.60 mL/day" }', '{ at = "07:00", rate = "1.20 mL/day" }'),
            ('{ at = "22:00", rate = "0.40 mL/day" }', '{ at = "22:00", rate = "0.80 mL/day" }'),
        ],
    )
    doc = run_json("check", proposed, "--current", example(FLEX), "--at", "2026-11-21T09:00", code=1)
    assert doc["daily_dose"]["morphine"]["program"] == q(10.5, "mg/day")
    assert "titration.hard-max" in codes(doc, "hard")


def test_check_at_with_an_explicit_offset_is_accepted() -> None:
    doc = run_json("check", example(FLEX), "--at", "2026-11-21T15:00:00+00:00")
    assert doc["daily_volume"]["program"] == q(0.525, "mL/day")


# --------------------------------------------------------------------------------------------------------------
# idds diff
# --------------------------------------------------------------------------------------------------------------
def test_diff_json_shows_old_beside_new_and_findings() -> None:
    doc = run_json("diff", example(FLEX), example(FLEX_CONC), "--at", "2027-01-20T10:00")
    shipped_identity(doc)
    rows = {r["setting"]: r for r in doc["settings"]}
    for row in doc["settings"]:
        assert set(row) >= {"setting", "old", "new", "changed"}
        assert isinstance(row["changed"], bool)
    assert rows["morphine concentration"]["old"] == "10 mg/mL"
    assert rows["morphine concentration"]["new"] == "20 mg/mL"
    assert rows["morphine concentration"]["changed"] is True
    assert rows["clonidine concentration"]["old"] == "100 mcg/mL"
    assert rows["clonidine concentration"]["new"] == "200 mcg/mL"
    assert rows["clonidine concentration"]["changed"] is True
    assert rows["pump model"]["changed"] is False
    assert {"morphine concentration", "clonidine concentration"} <= set(doc["changed"])
    assert doc["changed"] == [r["setting"] for r in doc["settings"] if r["changed"]]

    # New daily volume 0.22×9/24 + 0.33×15/24 = 0.0825 + 0.20625 = 0.28875 mL/day; × 20 mg/mL = 5.775 mg/day.
    new_volume = F("0.22") * 9 / 24 + F("0.33") * 15 / 24
    assert new_volume == F("0.28875") and new_volume * 20 == F("5.775")
    dose_rows = [r for r in doc["settings"] if r["setting"].startswith("morphine daily dose")]
    # Shown to 3 significant figures: 5.775 → 5.78 (half up).
    assert any("5.78 mg/day" in r["new"] and "5.25 mg/day" in r["old"] for r in dose_rows)
    # +10 % (5.775 / 5.25 = 1.1): inside the 20 % soft step, so no titration finding.
    assert F("5.775") / F("5.25") == F("1.1")
    assert not [c for c in codes(doc) if c.startswith("titration")]
    assert codes(doc).count("concentration.changed") == 2
    assert not codes(doc, "hard")


def test_diff_table_exits_0_and_shows_both_sides() -> None:
    result = run("diff", example(FLEX), example(FLEX_CONC), "--at", "2027-01-20T10:00")
    assert_no_crash(result)
    assert result.exit_code == 0
    out = result.stdout
    assert "morphine concentration" in out and "10 mg/mL" in out and "20 mg/mL" in out
    assert "changed" in out
    # The finding in words, not its code (concentration.changed is in the --json).
    assert "morphine concentration changes from 10 mg/mL to 20 mg/mL: a second clinician must verify" in " ".join(
        out.split()
    )
    assert "concentration.changed" not in out


def test_diff_of_a_program_with_itself_changes_nothing() -> None:
    doc = run_json("diff", example(FLEX), example(FLEX), "--at", "2026-11-21T09:00")
    assert doc["changed"] == []
    assert all(r["old"] == r["new"] for r in doc["settings"])


def test_diff_to_a_refused_program_exits_1(tmp_path: Path) -> None:
    # Morphine at 25 mg/mL and every step at 0.9 mL/day: 0.9 × 25 = 22.5 mg/day, above the 20 mg/day
    # non-cancer hard maximum (drugs.toml).
    proposed = write_variant(
        tmp_path,
        [
            ('concentration = "10 mg/mL"', 'concentration = "25 mg/mL"'),
            ('{ at = "00:00", rate = "0.40 mL/day" }', '{ at = "00:00", rate = "0.90 mL/day" }'),
            ('{ at = "07:00", rate = "0.60 mL/day" }', '{ at = "07:00", rate = "0.90 mL/day" }'),
            ('{ at = "22:00", rate = "0.40 mL/day" }', '{ at = "22:00", rate = "0.90 mL/day" }'),
        ],
    )
    doc = run_json("diff", example(FLEX), proposed, "--at", "2026-11-21T09:00", code=1)
    assert "daily-dose.hard-max" in codes(doc, "hard")


# --------------------------------------------------------------------------------------------------------------
# idds calc
# --------------------------------------------------------------------------------------------------------------
def test_calc_rate_for_a_dose_of_an_admixture() -> None:
    doc = run_json(
        "calc", "rate", "--dose", "5 mg/day", "--drug", "morphine=10 mg/mL", "--drug", "clonidine=100 mcg/mL"
    )
    shipped_identity(doc)
    # 5 mg/day ÷ 10 mg/mL = 0.5 mL/day; clonidine 0.5 × 100 = 50 mcg/day.
    assert doc["rate"] == q(0.5, "mL/day")
    assert doc["daily_dose"] == {"morphine": q(5.0, "mg/day"), "clonidine": q(50.0, "mcg/day")}
    assert_assumptions(doc)


def test_calc_rate_table() -> None:
    result = run("calc", "rate", "--dose", "5 mg/day", "--drug", "morphine=10 mg/mL", "--drug", "clonidine=100 mcg/mL")
    assert_no_crash(result)
    assert result.exit_code == 0
    assert "0.5 mL/day" in result.stdout and "50 mcg/day" in result.stdout
    assert "Assumptions" in result.stdout


def test_calc_rate_accepts_a_dose_in_another_mass_unit() -> None:
    # 5000 mcg/day = 5 mg/day → 0.5 mL/day at 10 mg/mL.
    doc = run_json("calc", "rate", "--dose", "5000 mcg/day", "--drug", "morphine=10 mg/mL")
    assert doc["rate"] == q(0.5, "mL/day")


def test_calc_dose_at_a_rate() -> None:
    doc = run_json(
        "calc", "dose", "--rate", "0.525 mL/day", "--drug", "morphine=10 mg/mL", "--drug", "clonidine=100 mcg/mL"
    )
    # 0.525 × 10 = 5.25 mg/day; 0.525 × 100 = 52.5 mcg/day.
    assert doc["daily_dose"] == {"morphine": q(5.25, "mg/day"), "clonidine": q(52.5, "mcg/day")}
    assert_assumptions(doc)


def test_calc_priming_bolus() -> None:
    doc = run_json(
        "calc", "priming", "--pump", "programmable-40", "--catheter", "intrathecal-one-piece", "--length", "60 cm"
    )
    shipped_identity(doc)
    # devices.toml: programmable-40 dead_volume 0.2 mL; intrathecal-one-piece 0.0022 mL/cm.
    # 0.2 + 60 × 0.0022 = 0.2 + 0.132 = 0.332 mL.
    assert F("0.2") + 60 * F("0.0022") == F("0.332")
    assert doc["volume"] == q(0.332, "mL")
    notes = assert_assumptions(doc)
    assert any("0.132 mL" in n for n in notes)


def test_calc_priming_with_a_drug_states_the_dose_reaching_the_patient() -> None:
    doc = run_json(
        "calc",
        "priming",
        "--pump",
        "programmable-40",
        "--catheter",
        "intrathecal-one-piece",
        "--length",
        "60 cm",
        "--drug",
        "morphine=10 mg/mL",
    )
    assert doc["volume"] == q(0.332, "mL")
    # 0.332 mL × 10 mg/mL = 3.32 mg of morphine.
    assert any("3.32 mg" in n and "morphine" in n for n in assert_assumptions(doc))


def test_calc_priming_uses_the_catheter_length_in_mm() -> None:
    # 600 mm = 60 cm → the same 0.332 mL.
    doc = run_json(
        "calc", "priming", "--pump", "programmable-40", "--catheter", "intrathecal-one-piece", "--length", "600 mm"
    )
    assert doc["volume"] == q(0.332, "mL")


def test_calc_bridge_bolus() -> None:
    doc = run_json(
        "calc",
        *BRIDGE_SWAP,
        "--new-dose",
        "5 mg/day",
        "--start",
        "2027-01-20T16:00+00:00",
    )
    # The pathway holds 0.332 mL of the old 10 mg/mL solution. To keep the new 5 mg/day it runs at
    # 5 ÷ 10 = 0.5 mL/day for 0.332 / 0.5 = 0.664 day = 15.936 h = 15 h 56 min 9.6 s.
    assert F("0.332") / F("0.5") * 24 == F("15.936")
    assert doc["volume"] == q(0.332, "mL")
    assert doc["rate"] == q(0.5, "mL/day")
    assert doc["duration"] == q(15.936, "h")
    assert doc["old_daily_dose"] == {"morphine": q(5.0, "mg/day")}
    assert doc["new_daily_dose"] == {"morphine": q(5.0, "mg/day")}
    # 2027-01-20T16:00Z + 15:56:09.6 = 2027-01-21T07:56:09.6Z.
    assert doc["new_program_starts_at"] == "2027-01-21T07:56:09.600000+00:00"
    assert_assumptions(doc)


def test_calc_bridge_with_a_new_rate() -> None:
    doc = run_json(
        "calc",
        *BRIDGE_SWAP,
        "--new-rate",
        "0.25 mL/day",
    )
    # New program 0.25 mL/day × 20 mg/mL = 5 mg/day; the old 10 mg/mL keeps it at 0.5 mL/day, as above.
    assert doc["rate"] == q(0.5, "mL/day")
    assert doc["new_daily_dose"] == {"morphine": q(5.0, "mg/day")}
    assert doc["new_program_starts_at"] is None


def test_library_starting_ranges_are_what_the_conversion_tests_assume() -> None:
    # Guards the hand-worked numbers below against a change in the data file.
    morphine = next(d for d in LIBRARY_TOML["drugs"] if d["name"] == "morphine")
    for area in ("pain-noncancer", "pain-cancer"):
        rail = morphine["care_areas"][area]["starting_dose_opioid_tolerant"]
        assert rail["soft_min"]["value"] == "1 mg/day"
        assert rail["hard_max"]["value"] == "10 mg/day"
        assert "soft_max" not in rail and "hard_min" not in rail


def test_calc_conversion_below_the_starting_range_is_kept_not_raised() -> None:
    doc = run_json("calc", "conversion", "--mme", "120 mg/day")
    # 120 mg/day oral ÷ 300 = 0.4 mg/day intrathecal, below the opioid-tolerant soft_min 1 mg/day. A converted
    # opioid dose is only ever clipped down ("start low"): 0.4 mg/day is kept, and the note says so.
    assert F(120) / 300 == F("0.4")
    assert doc["daily_dose"] == q(0.4, "mg/day")
    assert any("kept, not raised" in a for a in doc["assumptions"])
    assert_assumptions(doc)


def test_calc_conversion_default_ratio_is_300_to_1() -> None:
    # Whatever happens at the range edge, the default ratio is 300:1 and the raw result (0.4 mg/day) is stated.
    doc = run_json("calc", "conversion", "--mme", "120 mg/day")
    shipped_identity(doc)
    notes = assert_assumptions(doc)
    assert any("300" in n and "0.4 mg/day" in n for n in notes), notes


def test_calc_conversion_ratio_100_for_cancer_pain() -> None:
    doc = run_json("calc", "conversion", "--mme", "120 mg/day", "--ratio", "100", "--care-area", "pain-cancer")
    # 120 ÷ 100 = 1.2 mg/day, inside the cancer opioid-tolerant range 1-10 mg/day: unchanged.
    assert F(120) / 100 == F("1.2")
    assert doc["daily_dose"] == q(1.2, "mg/day")
    assert_assumptions(doc)


def test_calc_conversion_is_clipped_down_to_the_starting_maximum() -> None:
    # 6000 mg/day oral ÷ 300 = 20 mg/day, above the 10 mg/day hard_max (no soft_max) → 10 mg/day.
    assert F(6000) / 300 == 20
    doc = run_json("calc", "conversion", "--mme", "6000 mg/day")
    assert doc["daily_dose"] == q(10.0, "mg/day")


def test_calc_conversion_opioid_naive_range() -> None:
    # drugs.toml morphine pain-noncancer starting_dose: soft_min 0.1, soft_max 0.5, hard_max 1 mg/day.
    # 300 mg/day ÷ 300 = 1 mg/day > soft_max 0.5 → 0.5 mg/day.
    doc = run_json("calc", "conversion", "--mme", "300 mg/day", "--opioid-naive")
    assert doc["daily_dose"] == q(0.5, "mg/day")


def test_calc_refill_volume() -> None:
    # Flex example, next visit 2027-01-10 09:00 CST = 50 days after the fill (9 + 31 + 10), no DST change.
    # Worst case 50 × 0.585 = 29.25 mL, plus the 2 mL alarm level = 31.25 mL (fits in 40 mL).
    assert 50 * F("0.585") + 2 == F("31.25")
    doc = run_json("calc", "refill", example(FLEX), "--until", "2027-01-10T09:00")
    assert doc["volume"] == q(31.25, "mL")
    assert_assumptions(doc)


def test_calc_refill_across_a_dst_change() -> None:
    # Baclofen spinal: filled 2027-01-15T09:00Z; next visit 2027-04-15 10:00 CEST = 08:00Z (Europe moved to summer
    # time on 2027-03-28). Elapsed: 90 days − 1 h (16 + 28 + 31 + 15 = 90 days).
    # 0.15 mL/day × (90 − 1/24) days = 13.49375 mL, + 4 mL alarm = 17.49375 mL.
    assert F("0.15") * (90 - F(1, 24)) + 4 == F("17.49375")
    doc = run_json("calc", "refill", example(BACLOFEN_SPINAL), "--until", "2027-04-15T10:00")
    assert doc["volume"] == q(17.49375, "mL")


def test_calc_refill_is_capped_at_the_reservoir() -> None:
    # 2027-03-01 09:00 CST is 100 days after the fill: 100 × 0.585 + 2 = 60.5 mL > 40 mL → 40 mL, and the
    # assumptions say it does not fit and that 100 days is beyond the 90-day stability.
    doc = run_json("calc", "refill", example(FLEX), "--until", "2027-03-01T09:00")
    assert doc["volume"] == q(40.0, "mL")
    notes = assert_assumptions(doc)
    assert any("40 mL" in n and "holds" in n for n in notes), notes
    assert any("stability" in n for n in notes), notes


def test_calc_residual_expected_and_band() -> None:
    doc = run_json("calc", "residual", example(FLEX), "--at", "2026-12-21T09:00")
    shipped_identity(doc)
    # 30 days at 0.525 mL/day = 15.75 mL delivered → 40 − 15.75 = 24.25 mL expected.
    # devices.toml programmable-40 accuracy 15 %: band ± 0.15 × 15.75 = ± 2.3625 → 21.8875 .. 26.6125 mL.
    assert 30 * F("0.525") == F("15.75") and F("0.15") * F("15.75") == F("2.3625")
    assert doc["delivered"] == q(15.75, "mL")
    assert doc["expected"] == q(24.25, "mL")
    assert doc["low"] == q(21.8875, "mL")
    assert doc["high"] == q(26.6125, "mL")
    assert "reconciliation" not in doc
    assert_assumptions(doc)


def test_calc_residual_less_than_expected() -> None:
    doc = run_json("calc", "residual", example(FLEX), "--at", "2026-12-21T09:00", "--withdrawn", "20 mL")
    rec = doc["reconciliation"]
    # 20 mL < 21.8875 mL (the low edge): less than expected by 20 − 24.25 = −4.25 mL.
    assert rec["status"] == "less-than-expected"
    assert rec["discrepancy"] == q(-4.25, "mL")
    causes = " ".join(rec["likely_causes"]).lower()
    assert "over-infusion" in causes
    assert "pocket fill" in causes
    assert_assumptions(doc)


def test_calc_residual_within_band() -> None:
    # 24 mL is inside 21.8875 .. 26.6125.
    doc = run_json("calc", "residual", example(FLEX), "--at", "2026-12-21T09:00", "--withdrawn", "24 mL")
    assert doc["reconciliation"]["status"] == "within-band"
    assert doc["reconciliation"]["discrepancy"] == q(-0.25, "mL")
    assert doc["reconciliation"]["likely_causes"] == []


def test_calc_residual_more_than_expected() -> None:
    # 27 mL > 26.6125: more than expected, by 27 − 24.25 = 2.75 mL.
    doc = run_json("calc", "residual", example(FLEX), "--at", "2026-12-21T09:00", "--withdrawn", "27 mL")
    assert doc["reconciliation"]["status"] == "more-than-expected"
    assert doc["reconciliation"]["discrepancy"] == q(2.75, "mL")
    assert doc["reconciliation"]["likely_causes"]


def test_calc_residual_counts_patient_boluses() -> None:
    # 10 boluses × 0.02 mL = 0.2 mL more: delivered 15.95, expected 24.05, band ± 0.15 × 15.95 = ± 2.3925.
    assert F("0.15") * F("15.95") == F("2.3925")
    doc = run_json("calc", "residual", example(FLEX), "--at", "2026-12-21T09:00", "--boluses", "10")
    assert doc["delivered"] == q(15.95, "mL")
    assert doc["expected"] == q(24.05, "mL")
    assert doc["low"] == q(21.6575, "mL")
    assert doc["high"] == q(26.4425, "mL")


CALC_COMMANDS = {
    "rate": ["calc", "rate", "--dose", "5 mg/day", "--drug", "morphine=10 mg/mL"],
    "dose": ["calc", "dose", "--rate", "0.5 mL/day", "--drug", "morphine=10 mg/mL"],
    "priming": [
        "calc",
        "priming",
        "--pump",
        "programmable-20",
        "--catheter",
        "intrathecal-two-piece",
        "--length",
        "50 cm",
    ],
    "bridge": [
        "calc",
        "bridge",
        "--pump",
        "programmable-20",
        "--catheter",
        "intrathecal-two-piece",
        "--length",
        "50 cm",
        "--old",
        "morphine=10 mg/mL",
        "--new",
        "morphine=25 mg/mL",
        "--new-dose",
        "5 mg/day",
    ],
    "conversion": ["calc", "conversion", "--mme", "120 mg/day", "--ratio", "100"],
    "refill": ["calc", "refill", str(example(FLEX)), "--until", "2027-01-10T09:00"],
    "residual": ["calc", "residual", str(example(FLEX)), "--at", "2026-12-21T09:00", "--withdrawn", "20 mL"],
}


@pytest.mark.parametrize("name", sorted(CALC_COMMANDS))
def test_every_calc_has_json_with_identity_and_assumptions(name: str) -> None:
    doc = run_json(*CALC_COMMANDS[name])
    shipped_identity(doc)
    assert_assumptions(doc)


@pytest.mark.parametrize("name", sorted(CALC_COMMANDS))
def test_every_calc_prints_a_table_with_its_assumptions(name: str) -> None:
    result = run(*CALC_COMMANDS[name])
    assert_no_crash(result)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert "Assumptions" in result.stdout


# --------------------------------------------------------------------------------------------------------------
# idds demo
# --------------------------------------------------------------------------------------------------------------
def test_demo_prints_the_worked_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the demo reads the shipped examples, not ./examples
    result = run("demo")
    assert_no_crash(result)
    assert result.exit_code == 0
    out = result.stdout
    assert "0.525 mL/day" in out  # the flex program's daily volume
    assert "25 Jan 2027 08:05 CST" in out  # its worst-case alarm
    assert "morphine concentration" in out  # the review of the concentrated program
    assert "0.3 mL (exactly 0.332 mL)" in out  # the bridge bolus volume (0.2 + 60 × 0.0022), as programmed
    # Bridge rate: the new 5.775 mg/day from the old 10 mg/mL = 0.5775 mL/day.
    assert "0.5775 mL/day" in out
    assert "morphine daily dose 24 mg/day is above the hard maximum 20 mg/day" in out  # the refused program
    assert "daily-dose.hard-max" not in out  # its code is for the --json
    assert result.stderr == ""
    assert list(tmp_path.iterdir()) == []  # wrote nothing


# --------------------------------------------------------------------------------------------------------------
# --library / --catalog: a clinic's own files
# --------------------------------------------------------------------------------------------------------------
def clinic_library(tmp_path: Path) -> tuple[Path, bytes]:
    text = LIBRARY_BYTES.decode("utf-8")
    old_version = f'version = "{LIBRARY_TOML["version"]}"'
    old_name = f'name = "{LIBRARY_TOML["name"]}"'
    assert text.count(old_version) == 1 and text.count(old_name) == 1
    text = text.replace(old_version, 'version = "2099.1.0-clinic"').replace(old_name, 'name = "Clinic test library"')
    # Raise morphine's non-cancer hard maximum from 20 to 30 mg/day.
    old_hard = 'hard_max = { value = "20 mg/day", source = "infumorph-label"'
    assert text.count(old_hard) == 1
    text = text.replace(old_hard, 'hard_max = { value = "30 mg/day", source = "infumorph-label"')
    data = text.encode("utf-8")
    path = tmp_path / "clinic-drugs.toml"
    path.write_bytes(data)
    return path, data


def clinic_catalog(tmp_path: Path) -> tuple[Path, bytes]:
    text = CATALOG_BYTES.decode("utf-8")
    old_version = f'version = "{CATALOG_TOML["version"]}"'
    assert text.count(old_version) == 1
    text = text.replace(old_version, 'version = "2099.2.0-clinic"')
    old_volume = 'volume_per_cm = { value = "0.0022 mL/cm"'
    assert text.count(old_volume) == 1
    text = text.replace(old_volume, 'volume_per_cm = { value = "0.003 mL/cm"')
    data = text.encode("utf-8")
    path = tmp_path / "clinic-devices.toml"
    path.write_bytes(data)
    return path, data


def test_library_option_loads_the_clinic_file_and_shows_its_identity(tmp_path: Path) -> None:
    path, data = clinic_library(tmp_path)
    doc = run_json("--library", path, "drugs")
    assert doc["drug_library"] == {
        "name": "Clinic test library",
        "version": "2099.1.0-clinic",
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    assert doc["drug_library"]["sha256"] != hashlib.sha256(LIBRARY_BYTES).hexdigest()
    # The catalog is still the shipped one.
    assert doc.get("device_catalog") is None or doc["device_catalog"]["version"] == CATALOG_TOML["version"]


def test_library_option_changes_the_check(tmp_path: Path) -> None:
    path, data = clinic_library(tmp_path)
    # 24 mg/day is above the shipped 20 mg/day hard maximum but below the clinic's 30 mg/day: no hard finding.
    doc = run_json("--library", path, "check", example(HARD), "--at", "2026-11-21T09:00", code=0)
    assert doc["drug_library"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert doc["drug_library"]["version"] == "2099.1.0-clinic"
    assert "daily-dose.hard-max" not in codes(doc)
    assert not codes(doc, "hard")


def test_catalog_option_loads_the_clinic_file_and_changes_the_priming(tmp_path: Path) -> None:
    path, data = clinic_catalog(tmp_path)
    doc = run_json(
        "--catalog",
        path,
        "calc",
        "priming",
        "--pump",
        "programmable-40",
        "--catheter",
        "intrathecal-one-piece",
        "--length",
        "60 cm",
    )
    assert doc["device_catalog"] == {
        "name": CATALOG_TOML["name"],
        "version": "2099.2.0-clinic",
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    # 0.2 + 60 × 0.003 = 0.38 mL with the clinic's catheter figure.
    assert F("0.2") + 60 * F("0.003") == F("0.38")
    assert doc["volume"] == q(0.38, "mL")


def test_catalog_option_identity_in_devices(tmp_path: Path) -> None:
    path, data = clinic_catalog(tmp_path)
    doc = run_json("--catalog", path, "devices")
    assert doc["device_catalog"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert doc["device_catalog"]["version"] == "2099.2.0-clinic"


def test_library_and_catalog_together_in_check(tmp_path: Path) -> None:
    lib, lib_data = clinic_library(tmp_path)
    cat, cat_data = clinic_catalog(tmp_path)
    doc = run_json("--library", lib, "--catalog", cat, "check", example(FLEX), "--at", "2026-11-21T09:00")
    assert doc["drug_library"]["sha256"] == hashlib.sha256(lib_data).hexdigest()
    assert doc["device_catalog"]["sha256"] == hashlib.sha256(cat_data).hexdigest()
    assert doc["daily_volume"]["program"] == q(0.525, "mL/day")


# --------------------------------------------------------------------------------------------------------------
# The real console script, end to end
# --------------------------------------------------------------------------------------------------------------
needs_script = pytest.mark.skipif(idds_script() is None, reason="the idds console script is not installed")


@needs_script
def test_script_check_ok_exits_0_with_json_on_stdout_only() -> None:
    proc = run_script("check", example(FLEX), "--at", "2026-11-21T09:00", "--json")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    doc = json.loads(proc.stdout)
    assert doc["daily_volume"]["program"] == q(0.525, "mL/day")


@needs_script
def test_script_hard_finding_exits_1() -> None:
    proc = run_script("check", example(HARD), "--at", "2026-11-21T09:00", "--json")
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    doc = json.loads(proc.stdout)
    assert "daily-dose.hard-max" in codes(doc, "hard")


@needs_script
def test_script_bad_input_exits_2_with_one_line_even_on_a_narrow_terminal(tmp_path: Path) -> None:
    bad = write_variant(tmp_path, [('rate = "0.60 mL/day"', 'rate = "5 mg/day"')])
    proc = run_script("check", bad, "--json", columns="40")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0] == (
        f"error: {bad}: program.steps[1].rate: expected a rate such as '0.5 mL/day', got '5 mg/day' (a dose rate)"
    )


@needs_script
def test_script_demo_exits_0() -> None:
    proc = run_script("demo", columns="120")
    assert proc.returncode == 0, proc.stderr
    assert "0.525 mL/day" in proc.stdout


def test_module_entry_point_runs() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "openidds.cli.app", "devices", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert [p["id"] for p in json.loads(proc.stdout)["pumps"]] == ALL_PUMPS


def test_help_lists_every_command() -> None:
    result = run("--help")
    assert result.exit_code == 0
    for command in ("drugs", "devices", "check", "diff", "calc", "demo"):
        assert command in result.stdout
    calc = run("calc", "--help")
    assert calc.exit_code == 0
    for command in ("rate", "dose", "priming", "bridge", "conversion", "refill", "residual"):
        assert command in calc.stdout
