"""Dose-error reduction: each check fires at the library's limits with the right severity, code and reason.

The limits used here are the shipped library's (see src/openidds/data/drugs.toml); each test states them.
"""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openidds.data import load_library
from openidds.programs.program import PumpProgram
from openidds.safety import SEVERITY_RANK, check
from tests.programs import BACLOFEN, ZICONOTIDE, program

NOW = datetime(2026, 11, 21, 15, tzinfo=UTC)


def codes(prog, current=None, **kw) -> dict[str, str]:
    return {f.code: f.severity for f in check(prog, prog.context, current, library=load_library(), **kw)}


def test_a_plain_program_has_no_hard_or_soft_finding():
    found = codes(program())  # morphine 10 mg/mL at 0.5 mL/day = 5 mg/day, non-cancer pain
    assert not [c for c, s in found.items() if s != "info"], found


@pytest.mark.parametrize(
    ("dose", "expected"),
    [
        ("15 mg/day", None),  # at the soft maximum 15 mg/day: allowed
        ("16 mg/day", ("daily-dose.soft-max", "soft")),  # above soft 15
        ("20 mg/day", ("daily-dose.soft-max", "soft")),  # at the hard maximum 20: still soft
        ("21 mg/day", ("daily-dose.hard-max", "hard")),  # above hard 20
    ],
)
def test_morphine_daily_dose_noncancer(dose, expected):
    found = codes(program(program__rate=None, program__dose=dose))
    dose_findings = {c: s for c, s in found.items() if c.startswith("daily-dose.")}  # no bolus: no worst case
    assert dose_findings == ({expected[0]: expected[1]} if expected else {})


def test_cancer_pain_allows_more():
    # pain-cancer: soft 20, hard 50 mg/day. 21 mg/day is soft there, hard for non-cancer.
    found = codes(program(program__rate=None, program__dose="21 mg/day", context__care_area="pain-cancer"))
    assert found.get("daily-dose.soft-max") == "soft" and "daily-dose.hard-max" not in found


def test_worst_case_with_every_patient_bolus():
    # 19.5 mg/day alone is soft (15 < 19.5 <= 20). Three boluses of 0.05 mL × 10 mg/mL = 1.5 mg/day more:
    # 21 mg/day worst case is above the hard 20 mg/day → hard, reported as the worst-case family.
    bolus = {"volume": "0.05 mL", "duration": "10 min", "lockout": "4 h", "max_per_day": 3}
    found = codes(program(program__rate=None, program__dose="19.5 mg/day", patient_bolus=bolus))
    assert found["daily-dose.soft-max"] == "soft"
    assert found["daily-dose.worst-case-hard-max"] == "hard"


def test_concentration_limits():
    assert codes(program(drugs=[{"name": "morphine", "concentration": "25 mg/mL"}]))["concentration.soft-max"] == "soft"
    assert codes(program(drugs=[{"name": "morphine", "concentration": "30 mg/mL"}]))["concentration.hard-max"] == "hard"
    # Ziconotide below the consensus minimum of 25 mcg/mL in an implanted reservoir: soft.
    zic = program(
        ZICONOTIDE,
        drugs=[{"name": "ziconotide", "concentration": "20 mcg/mL"}],
        program__dose=None,
        program__rate="0.06 mL/day",
    )  # 1.2 mcg/day
    assert codes(zic)["concentration.soft-min"] == "soft"


def test_rate_must_be_inside_the_pump_range():
    # programmable pumps: 0.048 to 24 mL/day.
    assert codes(program(program__rate="0.04 mL/day"))["rate.below-pump-min"] == "hard"
    assert codes(program(program__rate="25 mL/day"))["rate.above-pump-max"] == "hard"
    assert "rate.below-pump-min" not in codes(program(program__rate="0.048 mL/day"))


def test_flex_limits_of_the_pump():
    steps = [{"at": f"{h:02d}:00", "rate": "0.5 mL/day"} for h in range(14)]
    assert codes(program(program={"mode": "flex", "steps": steps}))["flex.too-many-steps"] == "hard"
    assert "flex.too-many-steps" not in codes(program(program={"mode": "flex", "steps": steps[:13]}))
    week = {"mode": "flex", "period": "week", "steps": [{"day": "mon", "at": "00:00", "rate": "0.5 mL/day"}]}
    found = codes(program(pump={"model": "valve-gated-40"}, program=week))
    assert found["flex.week-unsupported"] == "hard"


def test_constant_flow_pump_changes_dose_only_by_concentration():
    cf = {"model": "constant-flow-30-0.5"}
    found = check(
        program(pump=cf, reservoir__volume="30 mL", program__rate="0.6 mL/day", context__care_area="pain-cancer")
    )
    fixed = [f for f in found if f.code == "rate.fixed-by-pump"]
    # To give 0.6 mL/day × 10 mg/mL = 6 mg/day at the fixed 0.5 mL/day, fill 12 mg/mL.
    assert fixed and fixed[0].severity == "hard" and "fill 12 mg/mL" in fixed[0].message
    flex = {"mode": "flex", "steps": [{"at": "00:00", "rate": "0.5 mL/day"}]}
    assert codes(program(pump=cf, reservoir__volume="30 mL", program=flex))["mode.unsupported"] == "hard"


def test_patient_bolus_rules():
    bolus = {"volume": "0.02 mL", "duration": "10 min", "lockout": "4 h", "max_per_day": 3}
    assert "patient-bolus.opioid-naive" not in codes(program(patient_bolus=bolus))
    naive = codes(program(patient_bolus=bolus, context__opioid_naive=True))
    assert naive["patient-bolus.opioid-naive"] == "hard"
    # Morphine patient bolus: soft above 0.5 mg, hard above 1 mg (0.06 mL and 0.11 mL at 10 mg/mL).
    assert codes(program(patient_bolus={**bolus, "volume": "0.06 mL"}))["patient-bolus-dose.soft-max"] == "soft"
    assert codes(program(patient_bolus={**bolus, "volume": "0.11 mL"}))["patient-bolus-dose.hard-max"] == "hard"
    # More than 24 a day is hard; a 4 h lockout allows at most 7 in 24 h → info that the maximum is unreachable.
    many = codes(program(patient_bolus={**bolus, "max_per_day": 25}))
    assert many["patient-bolus-count.hard-max"] == "hard"
    assert many["patient-bolus.daily-max-unreachable"] == "info"
    assert (
        codes(program(patient_bolus={**bolus, "lockout": "5 min"}))["patient-bolus.lockout-shorter-than-duration"]
        == "hard"
    )


def test_patient_bolus_device_and_drug_limits():
    bolus = {"volume": "0.02 mL", "duration": "10 min", "lockout": "4 h", "max_per_day": 3}
    # The valve-gated family's remote gives morphine only (Prometra PTC: Infumorph, not baclofen).
    bac = program(BACLOFEN, pump={"model": "valve-gated-20"}, patient_bolus=bolus)
    assert codes(bac)["patient-bolus.drug-not-allowed-by-pump"] == "hard"
    # The constant-flow family has no remote at all.
    cf = program(pump={"model": "constant-flow-30-0.5"}, reservoir__volume="30 mL", patient_bolus=bolus)
    assert codes(cf)["patient-bolus.unsupported-by-pump"] == "hard"
    # Ziconotide has no patient-bolus limits in the library: refused.
    assert codes(program(ZICONOTIDE, patient_bolus=bolus))["patient-bolus.not-for-drug"] == "hard"


def test_ziconotide_with_psychosis_history_is_refused():
    found = codes(program(ZICONOTIDE, context__psychosis_history=True))
    assert found["caution.ziconotide-psychosis-history"] == "hard"


def test_opioid_with_sedatives_is_flagged():
    assert codes(program(context__sedatives=True))["caution.opioid-with-sedatives"] == "info"


@pytest.mark.parametrize(
    ("area", "new_dose", "expected"),
    [
        ("spasticity-spinal", "250 mcg/day", None),  # +25 %: inside the 10-30 % per 24 h step
        ("spasticity-spinal", "280 mcg/day", ("titration.soft-max", "soft")),  # +40 %: above soft 30 %
        ("spasticity-spinal", "340 mcg/day", ("titration.hard-max", "hard")),  # +70 %: above hard 60 %
        ("spasticity-cerebral", "240 mcg/day", ("titration.soft-max", "soft")),  # +20 %: above soft 15 %
        ("spasticity-cerebral", "270 mcg/day", ("titration.hard-max", "hard")),  # +35 %: above hard 30 %
    ],
)
def test_baclofen_titration(area, new_dose, expected):
    old = program(BACLOFEN, context__care_area=area)  # 200 mcg/day
    new = program(BACLOFEN, context__care_area=area, program__dose=new_dose)
    found = {c: s for c, s in codes(new, old).items() if c.startswith("titration.")}
    assert found == ({expected[0]: expected[1]} if expected else {})


def test_ziconotide_titration_label_and_consensus():
    old = program(ZICONOTIDE, program__dose="2.4 mcg/day")
    # +0.5 mcg/day: inside the consensus step; +0.6: above it (soft); +2.5: above the label's 2.4 (hard).
    assert not any(c.startswith("titration.") for c in codes(program(ZICONOTIDE, program__dose="2.9 mcg/day"), old))
    assert codes(program(ZICONOTIDE, program__dose="3.0 mcg/day"), old)["titration.soft-max"] == "soft"
    assert codes(program(ZICONOTIDE, program__dose="4.9 mcg/day"), old)["titration.hard-max"] == "hard"


def test_titration_window():
    old = program(ZICONOTIDE, program__dose="2.4 mcg/day")
    changed = lambda hours_ago: (NOW - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M+00:00")  # noqa: E731
    # Label: at most one increase per 24 h (hard); consensus: one per 7 days (soft).
    new = program(ZICONOTIDE, program__dose="2.8 mcg/day", context__last_dose_change_at=changed(12))
    assert codes(new, old, now=NOW)["titration-window.hard"] == "hard"
    new = program(ZICONOTIDE, program__dose="2.8 mcg/day", context__last_dose_change_at=changed(72))
    assert codes(new, old, now=NOW)["titration-window.soft"] == "soft"
    new = program(ZICONOTIDE, program__dose="2.8 mcg/day", context__last_dose_change_at=changed(24 * 8))
    assert not any(c.startswith("titration-window") for c in codes(new, old, now=NOW))


def test_baclofen_cut_stop_and_removal_warn_of_withdrawal():
    old = program(BACLOFEN)  # 200 mcg/day
    cut = program(BACLOFEN, program__dose="80 mcg/day")  # −60 %, more than the 50 % soft limit
    assert codes(cut, old)["titration.steep-decrease"] == "soft"
    stopped = program(BACLOFEN, program={"mode": "stopped"})
    assert codes(stopped)["withdrawal.delivery-stopped"] == "soft"
    other = program(BACLOFEN, drugs=[{"name": "clonidine", "concentration": "100 mcg/mL"}], program__dose="50 mcg/day")
    assert codes(other, old)["withdrawal.drug-removed"] == "soft"


def test_concentration_change_needs_a_second_person():
    old = program()
    new = program(drugs=[{"name": "morphine", "concentration": "20 mg/mL"}], program__rate="0.25 mL/day")
    found = [f for f in check(new, new.context, old) if f.code == "concentration.changed"]
    assert found and "second clinician" in found[0].message


def test_starting_dose():
    # Opioid-tolerant morphine start: hard maximum 10 mg/day (label: tolerant 1-10 mg/day).
    assert codes(program(program__rate="1.1 mL/day"), starting=True)["starting-dose.hard-max"] == "hard"
    # Opioid-naive: soft up to 0.5 mg/day, hard above 1 mg/day (label: naive 0.2-1 mg/day).
    naive = dict(context__opioid_naive=True, drugs=[{"name": "morphine", "concentration": "1 mg/mL"}])
    assert codes(program(program__rate="0.8 mL/day", **naive), starting=True)["starting-dose.soft-max"] == "soft"
    assert codes(program(program__rate="1.2 mL/day", **naive), starting=True)["starting-dose.hard-max"] == "hard"


def test_granuloma_risk_is_information():
    found = codes(program(drugs=[{"name": "morphine", "concentration": "20 mg/mL"}]))
    assert found["granuloma-risk.concentration"] == "info"


def test_low_alarm_rules():
    assert codes(program(reservoir__low_alarm="0.5 mL"))["low-alarm.pump-min"] == "hard"
    assert codes(program(reservoir__volume="2 mL"))["low-alarm.at-fill"] == "soft"
    # Baclofen: withdrawal began at 2.1-3.8 mL residual in one study; an alarm below 4 mL gets a note.
    assert codes(program(BACLOFEN, reservoir__low_alarm="2 mL"))["low-alarm.withdrawal-margin"] == "info"
    assert "low-alarm.withdrawal-margin" not in codes(program(BACLOFEN))


def test_planned_refill_against_projections():
    # Baclofen 200 mcg/day at 500 mcg/mL = 0.4 mL/day; 20 mL lasts 50 days (empty 2027-01-10 15:00Z).
    late = program(BACLOFEN, context__planned_refill_at="2027-01-12T09:00")
    assert codes(late)["refill.after-empty"] == "hard"  # withdrawal risk makes it hard
    # Morphine 0.5 mL/day, 40 mL lasts 80 days (2027-02-09); the alarm at 2 mL comes at 76 days (2027-02-05).
    assert codes(program(context__planned_refill_at="2027-02-07T09:00"))["refill.after-low-alarm"] == "soft"
    assert codes(program(context__planned_refill_at="2027-02-10T09:00"))["refill.after-empty"] == "soft"
    # Stability 90 days (2027-02-19) passes first at a lower rate: 0.3 mL/day lasts 126 days to the alarm.
    slow = program(program__rate="0.3 mL/day", context__planned_refill_at="2027-02-25T09:00")
    found = codes(slow)
    assert found["refill.after-stability"] == "soft" and found["refill.stability-first"] == "info"


def test_ziconotide_first_fill_is_due_in_14_days():
    found = codes(program(ZICONOTIDE, reservoir__first_fill=True), starting=True)
    assert found["refill.stability-first"] == "info"
    assert not [c for c, s in found.items() if s != "info"]


def test_drug_without_limits_for_the_care_area_is_refused():
    found = codes(program(BACLOFEN, context__care_area="pain-noncancer"))
    assert found["drug.not-for-care-area"] == "hard"


def test_findings_carry_their_limit_and_source():
    finding = next(
        f for f in check(program(program__rate="2.1 mL/day"), library=load_library()) if f.code == "daily-dose.hard-max"
    )
    doc = finding.as_json()
    assert doc["limit"]["value"] == 20 and doc["limit"]["unit"] == "mg/day"
    assert doc["limit"]["source"] and doc["limit"]["source_url"].startswith("http")
    assert "21 mg/day" in finding.message and "20 mg/day" in finding.message


# Findings about "too much" never weaken when only the dose rises.
@settings(max_examples=40, deadline=None)
@given(st.decimals("0.05", "3", places=2), st.decimals("1", "4", places=2), st.booleans())
def test_findings_never_weaken_when_only_the_dose_increases(rate, factor, with_bolus):
    bolus = {"volume": "0.03 mL", "duration": "10 min", "lockout": "4 h", "max_per_day": 4} if with_bolus else None
    low = program(program__rate=f"{rate} mL/day", patient_bolus=bolus)
    high = program(program__rate=f"{rate * factor} mL/day", patient_bolus=bolus)
    before, after = codes(low), codes(high)
    rank = SEVERITY_RANK
    for code, severity in before.items():
        if not code.endswith("max") and not code.startswith("granuloma"):
            continue
        family = code.split(".")[0]
        stronger = [s for c, s in after.items() if c.split(".")[0] == family]
        assert stronger and max(rank[s] for s in stronger) >= rank[severity], (code, before, after)


# --- titration from the record (issue 9, case 4) --------------------------------------------------------------------
def _baclofen(dose: str) -> PumpProgram:
    return program(BACLOFEN, program__dose=dose)


def test_a_second_baclofen_increase_inside_24_h_is_hard_whatever_the_file_says():
    # Spinal baclofen 200 → 240 (+20 %, inside the 30 % soft limit), then 240 → 360 five minutes later.
    t0 = datetime(2026, 11, 21, 15, tzinfo=UTC)
    history = [(t0 - timedelta(days=30), _baclofen("200 mcg/day")), (t0, _baclofen("240 mcg/day"))]
    # The file claims the last change was long ago: the record wins.
    proposed = program(BACLOFEN, program__dose="360 mcg/day", context__last_dose_change_at="2026-01-01T09:00")
    found = check(proposed, now=t0 + timedelta(minutes=5), history=history)
    codes = {f.code: f for f in found}
    assert codes["titration-window.hard"].severity == "hard"
    assert "last increased 0.0833 h ago" in codes["titration-window.hard"].message  # 5 min
    # 200 → 360 within 24 h is +80 %, over the 60 % hard step even though 240 → 360 (+50 %) is only soft.
    cumulative = codes["titration.cumulative-hard-max"]
    assert cumulative.severity == "hard"
    assert "from 200 mcg/day to 360 mcg/day (+80 %)" in cumulative.message
    assert "200 mcg/day → 240 mcg/day → 360 mcg/day" in cumulative.message
    assert codes["titration.soft-max"].severity == "soft"  # the single step still reads as it did


def test_without_the_record_the_same_steps_pass_with_a_soft_override():
    # What landed before: only the file's last_dose_change_at dated the window, so 240 → 360 was soft.
    found = check(
        _baclofen("360 mcg/day"), current=_baclofen("240 mcg/day"), now=datetime(2026, 11, 21, 16, tzinfo=UTC)
    )
    # 240 → 360 is +50 %: over the 30 % soft step, under the 60 % hard one; nothing in the file dates a window
    assert {f.code: f.severity for f in found if f.severity != "info"} == {"titration.soft-max": "soft"}


def test_an_increase_a_day_after_the_last_one_is_checked_as_one_step():
    t0 = datetime(2026, 11, 21, 15, tzinfo=UTC)
    history = [(t0 - timedelta(days=30), _baclofen("200 mcg/day")), (t0, _baclofen("240 mcg/day"))]
    later = t0 + timedelta(hours=25)
    found = check(_baclofen("288 mcg/day"), now=later, history=history)  # +20 % from 240, 25 h later
    assert [f.code for f in found if f.code.startswith("titration")] == []
    # 240 → 288 is +20 %; from the window's lowest (240, running since 25 h ago) no cumulative finding either.


def test_a_decrease_then_a_rise_inside_the_window_counts_from_the_lowest_dose():
    # Morphine (non-cancer: hard +50 %/24 h): 10 mg/day for a month, cut to 6 for sedation 2 h ago, then 10 again.
    t0 = datetime(2026, 11, 21, 15, tzinfo=UTC)
    history = [(t0 - timedelta(days=30), program(program__rate="1 mL/day")), (t0, program(program__rate="0.6 mL/day"))]
    found = {f.code: f for f in check(program(program__rate="1 mL/day"), now=t0 + timedelta(hours=2), history=history)}
    # The step 6 → 10 is +66.7 %: over the hard 50 % by itself (the cumulative check adds nothing new).
    assert found["titration.hard-max"].severity == "hard"
    assert "titration.cumulative-hard-max" not in found


def test_a_drug_taken_out_and_put_back_is_a_step_from_the_dose_it_ran_at():
    # Morphine 10 mg/mL + clonidine at 1 mL/day (morphine 10 mg/day) for a month; morphine taken out an hour ago,
    # now back at 20 mg/mL: 20 mg/day is +100 % from the 10 mg/day it ran at inside the 24 h window (hard 50 %).
    t0 = datetime(2026, 11, 21, 15, tzinfo=UTC)
    morphine, clonidine = (
        {"name": "morphine", "concentration": "10 mg/mL"},
        {"name": "clonidine", "concentration": "100 mcg/mL"},
    )

    def mix(*drugs: dict[str, str]) -> PumpProgram:
        return program(drugs=list(drugs), program__rate="1 mL/day")

    history = [(t0 - timedelta(days=30), mix(morphine, clonidine)), (t0, mix(clonidine))]
    back = mix({"name": "morphine", "concentration": "20 mg/mL"}, clonidine)
    found = {f.code: f for f in check(back, now=t0 + timedelta(hours=1), history=history)}
    assert found["titration.hard-max"].severity == "hard"
    assert found["titration.hard-max"].message.startswith("morphine rises from 10 mg/day to 20 mg/day (+100 %)")
    # Two days later the window holds only the program without morphine: a restart, checked as a starting dose.
    later = {f.code for f in check(back, now=t0 + timedelta(days=2), history=history)}
    assert "titration.hard-max" not in later and "starting-dose.hard-max" in later


def test_stopping_baclofen_and_restarting_it_higher_is_one_step():
    # 200 mcg/day for a month, 0 mcg/day five minutes ago, 400 mcg/day now: +100 % from 200 (hard 60 %), not a
    # rise from zero that no percentage can measure.
    t0 = datetime(2026, 11, 21, 15, tzinfo=UTC)
    history = [(t0 - timedelta(days=30), _baclofen("200 mcg/day")), (t0, _baclofen("0 mcg/day"))]
    found = {f.code: f for f in check(_baclofen("400 mcg/day"), now=t0 + timedelta(minutes=5), history=history)}
    assert found["titration.hard-max"].message.startswith("baclofen rises from 200 mcg/day to 400 mcg/day (+100 %)")


def test_a_steep_decrease_says_how_much_of_the_old_dose_is_cut():
    # 200 → 80 mcg/day is 120/200 = 60 % less (the old text divided by the new dose: −150 %); 200 → 0 is −100 %.
    found = {f.code: f for f in check(_baclofen("80 mcg/day"), current=_baclofen("200 mcg/day"))}
    assert "(−60 %)" in found["titration.steep-decrease"].message
    found = {f.code: f for f in check(_baclofen("0 mcg/day"), current=_baclofen("200 mcg/day"))}
    assert "(−100 %)" in found["titration.steep-decrease"].message
