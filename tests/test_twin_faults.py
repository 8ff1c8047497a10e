"""Issue 9 in the twin: the bridge gives the new dose with the old solution (as `calc bridge`), catheter faults as
pumps behave, pocket fills counted per drug, an MRI without a recovery uses the catalog's delay.

Every expected value is worked by hand in the comments."""

from datetime import UTC, datetime
from fractions import Fraction

import pytest

from openidds.calculations import bridge_bolus
from openidds.data import load_catalog
from openidds.errors import InputError
from openidds.programs.clock import DAY_US, HOUR_US, to_us
from openidds.quantities import parse_quantity
from openidds.twin import CatheterFault, CatheterRepair, MriExposure, ProgramChange, PumpTwin, Refill, RemoteRequest
from tests.programs import BACLOFEN, program

F = Fraction
START = to_us(datetime(2026, 11, 21, 15, tzinfo=UTC))  # 09:00 in Chicago, the programs' fill
TWO_PIECE_50 = {"model": "programmable-20", "catheter": {"model": "intrathecal-two-piece", "length": "50 cm"}}


def baclofen(**overrides: object) -> object:
    return program(BACLOFEN, pump=TWO_PIECE_50, **overrides)


# --- case 2: the bridge runs the old solution at the rate that gives the new dose ---------------------------------
# Baclofen 500 → 1000 mcg/mL, 200 → 240 mcg/day. Pathway: 0.2 mL pump + 50 cm × 0.0024 mL/cm = 0.32 mL of the old
# solution. Bridge rate: 240 mcg/day ÷ 500 mcg/mL = 0.48 mL/day, so 0.32 / 0.48 = 2/3 day = 16 h (not the old
# 0.4 mL/day for 19.2 h). During the bridge the patient gets 0.32 mL × 500 = 160 mcg = 240 mcg/day × 2/3 day.
def _changed(bridge: bool) -> tuple[PumpTwin, int]:
    refill_at = START + DAY_US
    new = baclofen(drugs=[{"name": "baclofen", "concentration": "1000 mcg/mL"}], program__dose="240 mcg/day")
    events = [Refill(refill_at, F(20), solution=new.solution), ProgramChange(refill_at, new, "", bridge)]
    return PumpTwin(baclofen()).run(events, refill_at), refill_at


def test_the_bridge_keeps_the_new_dose_with_the_old_solution():
    twin, refill_at = _changed(bridge=True)
    change = next(e for e in twin.log if e["event"] == "program-changed")
    assert change["bridge_ml"] == F("0.32")
    assert change["bridge_rates_ml_per_day"] == [F("0.48")]
    assert change["bridge_ends_at"] == "2026-11-23T07:00:00+00:00"  # 2026-11-22 15:00Z + 16 h
    before = twin.patient["baclofen"]
    assert twin.mode == "bridge-bolus"
    twin.advance(refill_at + 16 * HOUR_US)
    assert twin.patient["baclofen"] - before == 160
    assert [e["at"] for e in twin.log if e["event"] == "program-started"] == [refill_at + 16 * HOUR_US]
    twin.advance(refill_at + 16 * HOUR_US + DAY_US)
    assert twin.patient["baclofen"] - before == 160 + 240  # then 0.24 mL/day of 1000 mcg/mL
    # The reservoir gave 0.32 mL during the bridge (at 0.48 mL/day) and 0.24 mL in the next day.
    assert twin.reservoir == 20 - F("0.32") - F("0.24")


def test_the_twin_and_calc_bridge_give_the_same_rate_and_duration():
    cat = load_catalog()
    old, new = baclofen().solution, baclofen(drugs=[{"name": "baclofen", "concentration": "1000 mcg/mL"}]).solution
    calc = bridge_bolus(
        cat.pump("programmable-20"),
        cat.catheter("intrathecal-two-piece"),
        parse_quantity("50 cm"),
        old,
        new,
        parse_quantity("0.24 mL/day"),
    ).value
    assert calc.rate.to("mL/day") == F("0.48") and calc.duration.to("h") == 16 and calc.workable
    twin, refill_at = _changed(bridge=True)
    change = next(e for e in twin.log if e["event"] == "program-changed")
    assert change["bridge_rates_ml_per_day"] == [calc.rate.to("mL/day")]
    assert twin.bridge_ends_at == refill_at + int(calc.duration.to("h") * HOUR_US)  # 16 h, as calc says


def test_without_the_bridge_the_raised_dose_is_not_given_at_first():
    # No bridge: 0.24 mL/day pushes the 0.32 mL of 500 mcg/mL first, 120 mcg/day for 1 1/3 day.
    twin, refill_at = _changed(bridge=False)
    before = twin.patient["baclofen"]
    twin.advance(refill_at + DAY_US)
    assert twin.patient["baclofen"] - before == 120


def test_the_remote_gives_no_dose_during_the_bridge():
    bolus = {"volume": "0.02 mL", "duration": "10 min", "lockout": "4 h", "max_per_day": 3}
    first = program(drugs=[{"name": "morphine", "concentration": "10 mg/mL"}], patient_bolus=bolus)
    new = program(
        drugs=[{"name": "morphine", "concentration": "20 mg/mL"}], program__rate="0.25 mL/day", patient_bolus=bolus
    )
    at = START + DAY_US
    events = [
        Refill(at, F(40), solution=new.solution),
        ProgramChange(at, new, "", True),
        RemoteRequest(at + HOUR_US),
    ]
    twin = PumpTwin(first).run(events, at + 2 * HOUR_US)
    assert [(d.accepted, d.reason) for d in twin.decisions] == [
        (False, "a bridge bolus is running: the remote gives no dose until it ends")
    ]


def test_a_bridge_the_pump_cannot_run_runs_at_its_minimum_and_says_so():
    # Ziconotide 100 → 25 mcg/mL at 2.4 mcg/day: bridge 2.4/100 = 0.024 mL/day, below the 0.048 minimum.
    zico = {
        "pump": {"model": "programmable-20"},
        "reservoir": {"filled_at": "2026-11-21T09:00", "timezone": "America/Chicago", "volume": "20 mL"},
        "drugs": [{"name": "ziconotide", "concentration": "100 mcg/mL"}],
        "program": {"mode": "continuous", "dose": "2.4 mcg/day"},
        "context": {"care_area": "pain-noncancer", "psychosis_history": False},
    }
    first = program(zico)
    new = program(zico, drugs=[{"name": "ziconotide", "concentration": "25 mcg/mL"}])
    at = START + DAY_US
    twin = PumpTwin(first).run([Refill(at, F(20), solution=new.solution), ProgramChange(at, new, "", True)], at)
    change = next(e for e in twin.log if e["event"] == "program-changed")
    assert change["bridge_rates_ml_per_day"] == [F("0.048")]
    assert any("below the programmable-20 pump's minimum" in n for n in change["bridge_notes"])


# --- case 7: catheter faults, pocket fills, MRI recovery ------------------------------------------------------------
def test_an_occlusion_stops_outflow_so_the_residual_is_more_than_expected():
    # Morphine 0.5 mL/day from 40 mL: occluded after 10 days, refilled at day 20.
    at = START + 10 * DAY_US
    twin = PumpTwin(program()).run(
        [CatheterFault(at, "occlusion"), Refill(START + 20 * DAY_US, F(40))], START + 20 * DAY_US
    )
    refill = next(e for e in twin.log if e["event"] == "refill")
    # 35 mL left (nothing left the pump for 10 days); the clinic expected 40 - 20 × 0.5 = 30 (band ± 15 % of 10 mL).
    assert refill["withdrawn_ml"] == 35 and refill["reconciliation"] == "more-than-expected"
    assert twin.outlet_volume == 5 and twin.patient_volume == 5


@pytest.mark.parametrize("kind", ["disconnection", "leak"])
def test_a_disconnection_or_leak_keeps_the_reservoir_falling_with_nothing_to_the_patient(kind: str):
    twin = PumpTwin(program()).run([CatheterFault(START + 10 * DAY_US, kind)], START + 20 * DAY_US)
    assert twin.reservoir == 30  # 20 days × 0.5 mL/day left the reservoir
    assert twin.outlet_volume == 10 and twin.patient_volume == 5  # only the first 10 days reached the patient


def test_repairing_an_occlusion_lets_the_pump_deliver_again():
    events = [CatheterFault(START + DAY_US, "occlusion"), CatheterRepair(START + 3 * DAY_US)]
    twin = PumpTwin(program()).run(events, START + 5 * DAY_US)
    assert twin.reservoir == 40 - F("0.5") * 3  # days 0-1 and 3-5


def test_a_pocket_fill_counts_the_drug_given_outside_the_reservoir_per_drug():
    # Morphine 10 mg/mL + clonidine 100 mcg/mL: of a 40 mL fill, 15 mL went into the pocket:
    # 150 mg of morphine and 1500 mcg of clonidine into the tissue; 25 mL in the reservoir.
    mix = program(
        drugs=[{"name": "morphine", "concentration": "10 mg/mL"}, {"name": "clonidine", "concentration": "100 mcg/mL"}]
    )
    at = START + 30 * DAY_US
    twin = PumpTwin(mix).run([Refill(at, F(40), pocket_ml=F(15))], at)
    assert twin.pocket == {"morphine": 150, "clonidine": 1500}
    assert twin.reservoir == 25
    entry = next(e for e in twin.log if e["event"] == "pocket-fill")
    assert entry["doses"] == {"morphine": 150, "clonidine": 1500} and entry["volume_ml"] == 15


def test_an_mri_without_a_recovery_uses_the_catalogs_delay():
    # Programmable pump: stopped for the 1 h exposure and the catalog's 24 h delay: 25 h less of 0.5 mL/day.
    assert load_catalog().pump("programmable-40").mri_recovery.value.to("h") == 24
    twin = PumpTwin(program()).run([MriExposure(START + DAY_US, HOUR_US)], START + 3 * DAY_US)
    assert twin.reservoir == 40 - F("0.5") * (3 - F(25, 24))


def test_impossible_refill_volumes_are_refused_naming_the_field():
    twin = PumpTwin(program())
    with pytest.raises(InputError, match=r"refill\.withdrawn: the withdrawn volume 45 mL is more than"):
        twin.apply(Refill(START + DAY_US, F(40), withdrawn_ml=F(45)))
    with pytest.raises(InputError, match=r"refill\.volume"):
        twin.apply(Refill(START + DAY_US, F(41)))


def test_two_changes_inside_the_flush_each_old_solution_runs_at_its_own_bridge_rate():
    # Baclofen 2000 mcg/mL at 200 mcg/day (0.1 mL/day), pathway 0.32 mL. Day 1: refilled with 500 mcg/mL (0.4 mL/day):
    # the bridge runs the 2000 at 0.4 × 500/2000 = 0.1 mL/day. 12 h later, 0.05 mL of it has gone; refilled with
    # 2000 again: pump and catheter hold 0.27 mL of 2000 (at the tip) and 0.05 mL of 500. Each runs at the rate
    # that gives 200 mcg/day with its own concentration: the 2000 at 0.1 mL/day, then the 500 at 0.4 mL/day. The
    # patient gets 200 mcg/day throughout, never 800 (0.4 mL/day of 2000) or 50.
    strong, weak = "2000 mcg/mL", "500 mcg/mL"
    first = baclofen(drugs=[{"name": "baclofen", "concentration": strong}])
    diluted = baclofen(drugs=[{"name": "baclofen", "concentration": weak}])
    at, back = START + DAY_US, START + DAY_US + 12 * HOUR_US
    events = [
        Refill(at, F(20), solution=diluted.solution),
        ProgramChange(at, diluted, "", True),
        Refill(back, F(20), solution=first.solution),
        ProgramChange(back, first, "", True),
    ]
    twin = PumpTwin(first).run(events, back)
    change = [e for e in twin.log if e["event"] == "program-changed"][-1]
    assert change["bridge_phases"] == [
        {"volume_ml": F("0.27"), "rates_ml_per_day": [F("0.1")]},
        {"volume_ml": F("0.05"), "rates_ml_per_day": [F("0.4")]},
    ]
    for day in range(1, 6):
        before = twin.patient["baclofen"]
        twin.advance(back + day * DAY_US)
        assert twin.patient["baclofen"] - before == 200, day
    # The new program starts when both have run out: 0.27 / 0.1 = 2.7 days, then 0.05 / 0.4 = 3 h.
    started = [e["at"] for e in twin.log if e["event"] == "program-started"]
    assert started == [back + int(F("2.7") * DAY_US) + 3 * HOUR_US]


def test_an_admixture_bridge_gives_no_drug_more_than_its_new_dose():
    # Morphine 10 mg/mL + clonidine 100 mcg/mL at 0.5 mL/day, then clonidine 100 (listed first) + morphine 5 mg/mL
    # at 0.6 mL/day (morphine 3 mg/day, clonidine 60 mcg/day). Keeping clonidine's dose would run the old solution
    # at 0.6 mL/day: morphine 6 mg/day, twice its new dose. The bridge keeps the drug whose concentration falls
    # most: 0.6 × 5/10 = 0.3 mL/day, morphine 3 mg/day and clonidine 30 mcg/day (under its new 60) while it runs.
    mix = [{"name": "morphine", "concentration": "10 mg/mL"}, {"name": "clonidine", "concentration": "100 mcg/mL"}]
    swapped = [{"name": "clonidine", "concentration": "100 mcg/mL"}, {"name": "morphine", "concentration": "5 mg/mL"}]
    old, new = program(drugs=mix), program(drugs=swapped, program__rate="0.6 mL/day")
    at = START + DAY_US
    twin = PumpTwin(old).run([Refill(at, F(40), solution=new.solution), ProgramChange(at, new, "", True)], at)
    change = next(e for e in twin.log if e["event"] == "program-changed")
    assert change["bridge_rates_ml_per_day"] == [F("0.3")]
    before = dict(twin.patient)
    twin.advance(at + HOUR_US * 12)  # inside the bridge (0.332 mL at 0.3 mL/day: 26.6 h)
    assert twin.patient["morphine"] - before["morphine"] == F("0.15") * 10  # 3 mg/day for half a day
    assert twin.patient["clonidine"] - before["clonidine"] == F("0.15") * 100  # 30 mcg/day for half a day
