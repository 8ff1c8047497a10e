"""Programmer calculations, each against numbers worked by hand."""

from datetime import UTC, datetime
from fractions import Fraction

import pytest

from openidds.calculations import (
    bridge_bolus,
    doses_for_rate,
    expected_residual,
    intrathecal_morphine_start,
    priming_bolus,
    rate_for_dose,
    reconcile,
    refill_volume,
    stability_limit,
)
from openidds.data import load_catalog, load_library
from openidds.errors import InputError
from openidds.programs.program import Ingredient
from openidds.quantities import parse_quantity
from tests.programs import BACLOFEN, ZICONOTIDE, program

F = Fraction
LIB, CAT = load_library(), load_catalog()


def ing(name: str, conc: str) -> Ingredient:
    drug = LIB.drug(name)
    return Ingredient(drug, parse_quantity(conc).in_unit(drug.concentration_unit))


def test_rate_for_dose_single_and_admixture():
    sol = [ing("morphine", "10 mg/mL"), ing("clonidine", "100 mcg/mL")]
    rate = rate_for_dose(parse_quantity("5 mg/day"), sol)
    assert rate.value.to("mL/day") == F("0.5")  # 5 mg/day ÷ 10 mg/mL
    assert rate.assumptions and "10 mg/mL" in rate.assumptions[0]
    doses = doses_for_rate(rate.value, sol).value
    assert doses["morphine"].to("mg/day") == 5
    assert doses["clonidine"].to("mcg/day") == 50  # 0.5 mL/day × 100 mcg/mL
    # 400 mcg/day of baclofen at 2000 mcg/mL is 0.2 mL/day; units of the dose need not match the drug's.
    assert rate_for_dose(parse_quantity("0.4 mg/day"), [ing("baclofen", "2000 mcg/mL")]).value.to("mL/day") == F("0.2")


def test_rate_for_dose_refuses_the_wrong_kind():
    with pytest.raises(InputError, match="daily dose"):
        rate_for_dose(parse_quantity("5 mg"), [ing("morphine", "10 mg/mL")])


def test_priming_bolus():
    pump, cath = CAT.pump("programmable-40"), CAT.catheter("intrathecal-one-piece")
    # Catalog (both unconfirmed): pump dead volume 0.2 mL; catheter 0.0022 mL/cm. 0.2 + 60 × 0.0022 = 0.332 mL.
    result = priming_bolus(pump, cath, parse_quantity("60 cm"), [ing("morphine", "10 mg/mL")])
    assert result.value.to("mL") == F("0.332")
    assert any("3.32 mg of morphine" in a for a in result.assumptions)  # 0.332 mL × 10 mg/mL
    with pytest.raises(InputError, match="catheter"):
        priming_bolus(CAT.pump("valve-gated-20"), cath, parse_quantity("60 cm"))


def test_bridge_bolus_keeps_the_new_daily_dose():
    pump, cath = CAT.pump("programmable-40"), CAT.catheter("intrathecal-one-piece")
    old = [ing("morphine", "10 mg/mL"), ing("clonidine", "100 mcg/mL")]
    new = [ing("morphine", "20 mg/mL"), ing("clonidine", "200 mcg/mL")]
    start = datetime(2027, 1, 20, 16, tzinfo=UTC)
    # New program 0.28875 mL/day × 20 mg/mL = 5.775 mg/day. The old 10 mg/mL solution must run at
    # 5.775 ÷ 10 = 0.5775 mL/day to keep it; 0.332 mL takes 0.332/0.5775 = 664/1155 day (13.797 h).
    result = bridge_bolus(pump, cath, parse_quantity("60 cm"), old, new, parse_quantity("0.28875 mL/day"), start)
    b = result.value
    assert b.volume.to("mL") == F("0.332")
    assert b.rate.to("mL/day") == F("0.5775")
    assert b.duration.to("day") == F(664, 1155)
    assert b.old_doses["morphine"].to("mg/day") == F("5.775")
    assert b.old_doses["clonidine"].to("mcg/day") == F("57.75")  # 0.5775 × 100
    micro = int(F(664, 1155) * 86_400_000_000)  # 49 670 649 350 µs
    assert (b.ends_at - start).total_seconds() * 1_000_000 == pytest.approx(micro, abs=1)
    with pytest.raises(InputError, match="shares no drug"):
        bridge_bolus(
            pump, cath, parse_quantity("60 cm"), [ing("baclofen", "500 mcg/mL")], new, parse_quantity("0.3 mL/day")
        )


@pytest.mark.parametrize(
    ("mme", "ratio", "area", "expected", "note"),
    [
        ("120 mg/day", None, "pain-noncancer", "0.4", "below the usual"),  # 120/300, below tolerant 1 mg/day: kept
        ("1500 mg/day", None, "pain-noncancer", "5", "inside"),  # 1500/300 = 5, inside 1-10
        ("4500 mg/day", None, "pain-noncancer", "10", "clipped"),  # 15 → the tolerant hard maximum 10 mg/day
        ("300 mg/day", 100, "pain-cancer", "3", "inside"),  # 300/100 = 3
    ],
)
def test_oral_conversion(mme, ratio, area, expected, note):
    result = intrathecal_morphine_start(parse_quantity(mme), LIB, area, F(ratio) if ratio else None)
    assert result.value.to("mg/day") == F(expected)
    assert any(note in a for a in result.assumptions), result.assumptions


def test_oral_conversion_refuses_an_unknown_ratio():
    with pytest.raises(InputError, match="ratio"):
        intrathecal_morphine_start(parse_quantity("120 mg/day"), LIB, "pain-noncancer", F(200))


def test_refill_volume():
    base = program()  # morphine 0.5 mL/day, 40 mL pump, alarm 2 mL, filled 2026-11-21 09:00 CST
    until = datetime(2026, 12, 21, 15, tzinfo=UTC)  # 30 days later
    assert refill_volume(base, until).value.to("mL") == F(17)  # 30 × 0.5 + 2
    bolus = {"volume": "0.02 mL", "duration": "10 min", "lockout": "4 h", "max_per_day": 3}
    assert refill_volume(program(patient_bolus=bolus), until).value.to("mL") == F("18.8")  # 30 × 0.56 + 2
    far = refill_volume(base, datetime(2027, 3, 1, 15, tzinfo=UTC))  # 100 days: 52 mL needed
    assert far.value.to("mL") == 40
    assert any("more than the 40 mL" in a for a in far.assumptions)
    assert any("beyond drug stability" in a for a in far.assumptions)


def test_expected_residual_and_reconciliation():
    base = program()
    at = datetime(2026, 12, 21, 15, tzinfo=UTC)  # 30 days at 0.5 mL/day = 15 mL delivered
    est = expected_residual(base, at).value
    assert est.expected.to("mL") == 25
    # Accuracy ± 15 % of 15 mL = 2.25 mL.
    assert (est.low.to("mL"), est.high.to("mL")) == (F("22.75"), F("27.25"))
    taken = expected_residual(
        program(patient_bolus={"volume": "0.02 mL", "duration": "10 min", "lockout": "4 h", "max_per_day": 3}),
        at,
        patient_boluses_taken=4,
    ).value
    assert taken.expected.to("mL") == F("24.92")  # 15 + 4 × 0.02 delivered
    less = reconcile(est, parse_quantity("20 mL")).value
    assert less.status == "less-than-expected" and less.discrepancy.to("mL") == -5
    assert any("over-infusion" in c for c in less.likely_causes)
    assert any("pocket fill" in c for c in less.likely_causes)
    more = reconcile(est, parse_quantity("28 mL")).value
    assert more.status == "more-than-expected" and any("stall" in c for c in more.likely_causes)
    assert reconcile(est, parse_quantity("27.25 mL")).value.status == "within-band"


def test_stability_rules():
    assert stability_limit(program(ZICONOTIDE, reservoir__first_fill=True)).value.to("day") == 14
    assert stability_limit(program(ZICONOTIDE)).value.to("day") == 84  # undiluted 25 mcg/mL
    diluted = program(ZICONOTIDE, drugs=[{"name": "ziconotide", "concentration": "50 mcg/mL"}])
    assert stability_limit(diluted).value.to("day") == 40  # not a product strength: diluted
    assert stability_limit(program(BACLOFEN)).value.to("day") == 180
    mix = program(
        BACLOFEN,
        drugs=[
            {"name": "baclofen", "concentration": "500 mcg/mL"},
            {"name": "clonidine", "concentration": "50 mcg/mL"},
        ],
    )
    assert stability_limit(mix).value.to("day") == 90  # the shorter of 180 and clonidine's 90


def test_battery_life_by_daily_volume():
    battery = CAT.pump("programmable-40").battery
    # Catalog life points (derived, unconfirmed): 7 years at 0.5 mL/day, 5 years at 4 mL/day; hard stop 7 years.
    assert battery.expected_life(parse_quantity("0.5 mL/day")).to("year") == 7
    assert battery.expected_life(parse_quantity("0.1 mL/day")).to("year") == 7  # flat below the first point
    assert battery.expected_life(parse_quantity("4 mL/day")).to("year") == 5
    assert battery.expected_life(parse_quantity("10 mL/day")).to("year") == 5  # flat above the last point
    # Halfway in volume (2.25 mL/day): 7 + (5 − 7) × 1.75/3.5 = 6 years.
    assert battery.expected_life(parse_quantity("2.25 mL/day")).to("year") == 6
    assert CAT.pump("constant-flow-30-0.5").battery.expected_life(parse_quantity("0.5 mL/day")) is None


def test_the_bridge_plan_in_words_for_the_nurse_at_the_programmer():
    from openidds.calculations.bridge import bridge_plan

    # Baclofen 2000 → 1000 mcg/mL at 210 mcg/day, programmable-20 with 50 cm of two-piece catheter: pathway
    # 0.2 + 50 × 0.0024 = 0.32 mL; at the new dose with the old concentration 210 / 2000 = 0.105 mL/day, so the old
    # solution lasts 0.32 / 0.105 = 3.0476 days = 73.14 h, said to 0.1 h.
    catheter = {"model": "intrathecal-two-piece", "length": "50 cm"}
    new = program(
        BACLOFEN,
        pump__catheter=catheter,
        drugs=[{"name": "baclofen", "concentration": "1000 mcg/mL"}],
        program__dose="210 mcg/day",
    )
    old = program(BACLOFEN, pump__catheter=catheter, drugs=[{"name": "baclofen", "concentration": "2000 mcg/mL"}])
    plan = bridge_plan(old.solution, new).value
    assert plan.volume == parse_quantity("0.32 mL") and plan.duration.to("h") == Fraction(64, 21) * 24
    assert plan.words() == (
        "0.32 mL of the old solution at 0.105 mL/day (the new baclofen 210 mcg/day with the old concentration) "
        "for about 73.1 h, then the new program"
    )
