"""The pump twin against scenarios worked by hand, and its invariants."""

from datetime import UTC, datetime
from fractions import Fraction
from itertools import pairwise

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from openidds.programs.clock import DAY_US, HOUR_US, MINUTE_US, to_us
from openidds.twin import (
    AccuracyChange,
    CatheterFault,
    Interrogation,
    MotorStall,
    MriExposure,
    PumpTwin,
    Refill,
    RemoteRequest,
)
from tests.programs import BACLOFEN, program

F = Fraction
BOLUS = {"volume": "0.02 mL", "duration": "10 min", "lockout": "4 h", "max_per_day": 3}
FLEX = {
    "mode": "flex",
    "steps": [
        {"at": "00:00", "rate": "0.40 mL/day"},
        {"at": "07:00", "rate": "0.60 mL/day"},
        {"at": "22:00", "rate": "0.40 mL/day"},
    ],
}


def z(*args: int) -> int:
    return to_us(datetime(*args, tzinfo=UTC))


def alarms(twin: PumpTwin) -> dict[str, int]:
    return {a.name: a.raised_at for a in twin.alarms}


def test_flex_program_alarms_at_the_projected_instants():
    # The example (0.525 mL/day from 2026-11-21 09:00 CST): alarm 2027-02-01 23:00Z, empty 02-05 19:00Z.
    twin = PumpTwin(program(program=FLEX)).run([], z(2027, 2, 10))
    assert alarms(twin) == {"low-reservoir": z(2027, 2, 1, 23), "empty-reservoir": z(2027, 2, 5, 19)}
    assert twin.reservoir == 0
    # Everything pumped out reached the patient: 40 mL of 10 mg/mL = 400 mg (the pathway was primed before).
    assert twin.outlet_volume == 40 and twin.patient["morphine"] == 400


def test_remote_lockout_and_daily_maximum():
    twin = PumpTwin(program(patient_bolus=BOLUS))  # 0.5 mL/day, filled 2026-11-21 15:00Z
    t0 = z(2026, 11, 22, 8)
    requests = [t0, t0 + HOUR_US, t0 + 4 * HOUR_US, t0 + 8 * HOUR_US, t0 + 12 * HOUR_US, t0 + 24 * HOUR_US]
    twin.run([RemoteRequest(t) for t in requests], z(2026, 11, 24))
    got = [(d.accepted, d.reason) for d in twin.decisions]
    assert got[0] == (True, "dose given")
    assert got[1] == (False, "lockout: next dose possible in 180 min")  # 4 h lockout, 1 h after
    assert got[2] == (True, "dose given") and got[3] == (True, "dose given")
    assert got[4] == (False, "daily maximum of 3 reached")  # 3 in the last 24 h
    assert got[5] == (True, "dose given")  # 24 h after the first
    # 2026-11-21 15:00Z to 11-24 00:00Z is 2.375 days at 0.5 mL/day, plus the 4 accepted boluses of 0.02 mL.
    assert twin.reservoir == 40 - F("0.5") * F(z(2026, 11, 24) - z(2026, 11, 21, 15), DAY_US) - 4 * F("0.02")


def test_remote_is_denied_without_a_bolus_for_the_pump():
    cf = program(pump={"model": "constant-flow-30-0.5"}, reservoir__volume="30 mL", patient_bolus=BOLUS)
    twin = PumpTwin(cf).run([RemoteRequest(z(2026, 11, 22))], z(2026, 11, 23))
    assert not twin.decisions[0].accepted and "no patient remote" in twin.decisions[0].reason


def test_missed_baclofen_refill_empties_the_reservoir():
    # 200 mcg/day at 500 mcg/mL = 0.4 mL/day; 20 mL, alarm 4 mL: alarm after 40 days, empty after 50 days.
    twin = PumpTwin(program(BACLOFEN)).run([], z(2027, 1, 20))
    start = z(2026, 11, 21, 15)
    assert alarms(twin) == {"low-reservoir": start + 40 * DAY_US, "empty-reservoir": start + 50 * DAY_US}
    assert next(a for a in twin.alarms if a.name == "empty-reservoir").priority == "critical"
    assert twin.patient["baclofen"] == 20 * 500  # all 20 mL, then nothing more


def test_over_infusing_pump_is_caught_at_refill():
    # Programmed 0.5 mL/day, actual +20 %: 0.6 mL/day. After 50 days the clinic expects 40 − 25 = 15 mL (band
    # ± 15 % of 25 = 3.75 → 11.25 to 18.75 mL); the pump holds 40 − 30 = 10 mL: less than expected.
    twin = PumpTwin(program())
    refill_at = z(2026, 11, 21, 15) + 50 * DAY_US
    twin.run([AccuracyChange(z(2026, 11, 21, 15), F(6, 5)), Refill(refill_at, F(40))], refill_at + DAY_US)
    refill = next(e for e in twin.log if e["event"] == "refill")
    assert refill["withdrawn_ml"] == 10 and refill["reconciliation"] == "less-than-expected"
    assert refill["discrepancy_ml"] == -5
    assert any("over-infusion" in c for c in refill["likely_causes"])


def test_pocket_fill_is_caught_at_the_next_refill():
    # At day 10 (5 mL used) a 40 mL fill puts 4 mL into the pocket: the reservoir holds 36 mL, the record says 40.
    # 30 days later the clinic expects 40 − 15 = 25 mL (band ± 2.25) but 21 mL come back.
    start = z(2026, 11, 21, 15)
    twin = PumpTwin(program()).run(
        [Refill(start + 10 * DAY_US, F(40), pocket_ml=F(4)), Refill(start + 40 * DAY_US, F(40))], start + 41 * DAY_US
    )
    last = [e for e in twin.log if e["event"] == "refill"][-1]
    assert last["withdrawn_ml"] == 21 and last["reconciliation"] == "less-than-expected"
    assert any("pocket fill" in c for c in last["likely_causes"])


def test_catheter_fault_stops_the_drug_reaching_the_patient():
    start = z(2026, 11, 21, 15)
    twin = PumpTwin(program()).run([CatheterFault(start + 10 * DAY_US, "occlusion")], start + 20 * DAY_US)
    assert twin.reservoir == 30  # 20 days × 0.5 mL/day: the pump kept emptying
    assert twin.outlet_volume == 10 and twin.patient_volume == 5  # only the first 10 days reached the patient


def test_mri_on_each_pump_family():
    start = z(2026, 11, 21, 15)
    mri = MriExposure(start + DAY_US, HOUR_US, recovery_us=2 * HOUR_US)
    # Peristaltic: stopped for the hour and the 2 h recovery: 3 h less of 0.5 mL/day.
    peri = PumpTwin(program()).run([mri], start + 2 * DAY_US)
    assert peri.reservoir == 40 - F("0.5") * (2 - F(3, 24))
    # Valve-gated: the valve stays closed until the pump is interrogated (here 6 h after the scan began).
    vg = program(pump={"model": "valve-gated-40"}, reservoir__low_alarm="3 mL")
    valve = PumpTwin(vg).run([mri, Interrogation(start + DAY_US + 6 * HOUR_US)], start + 2 * DAY_US)
    assert valve.reservoir == 40 - F("0.5") * (2 - F(6, 24))
    # Constant-flow: no effect.
    cf = program(pump={"model": "constant-flow-30-0.5"}, reservoir__volume="30 mL")
    assert PumpTwin(cf).run([mri], start + 2 * DAY_US).reservoir == 29


def test_mri_while_alarming_latches_until_interrogated():
    start = z(2026, 11, 21, 15)
    stall = MotorStall(start + 10 * HOUR_US, recovers_after_us=HOUR_US)  # alarm raised, then cleared at 11 h
    low = program(reservoir__volume="2.2 mL")  # the 2 mL alarm comes after 0.2 mL = 9.6 h
    twin = PumpTwin(low).run([stall, MriExposure(start + 12 * HOUR_US, 30 * MINUTE_US)], start + DAY_US)
    # Delivery: 10 h before the stall, 1 h after it; then latched for the rest of the day (low alarm active).
    assert twin.reservoir == F("2.2") - F("0.5") * F(11, 24)
    assert twin.latched


def test_identical_runs_are_identical():
    events = [RemoteRequest(z(2026, 11, 22, 8)), Refill(z(2026, 12, 30), F(39))]
    a = PumpTwin(program(patient_bolus=BOLUS)).run(events, z(2027, 2, 1))
    b = PumpTwin(program(patient_bolus=BOLUS)).run(events, z(2027, 2, 1))
    assert a.log == b.log and a.reservoir == b.reservoir and a.patient == b.patient


def test_new_concentration_reaches_the_patient_after_the_pathway_is_flushed():
    # Pathway: 0.2 mL pump + 60 cm × 0.0022 mL/cm = 0.332 mL of the old 10 mg/mL solution. At 0.5 mL/day after
    # a refill with 20 mg/mL, the patient gets 0.332 mL × 10 mg/mL first, then 20 mg/mL: over 2 days (1 mL),
    # 3.32 + 0.668 × 20 = 16.68 mg instead of 20 mg.
    from tests.programs import BASE

    start = z(2026, 11, 21, 15)
    refill_at = start + DAY_US
    new = program(BASE, drugs=[{"name": "morphine", "concentration": "20 mg/mL"}]).solution
    twin = PumpTwin(program()).run([Refill(refill_at, F(40), solution=new)], refill_at)
    before = twin.patient["morphine"]
    twin.advance(refill_at + 2 * DAY_US)
    assert twin.patient["morphine"] - before == F("3.32") + F("0.668") * 20


# --- invariants (Hypothesis stateful) -----------------------------------------------------------------------------


class TwinMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.twin = PumpTwin(program(program=FLEX, patient_bolus=BOLUS, reservoir__volume="6 mL"))
        self.last_patient = F(0)
        self.last_reservoir = self.twin.reservoir

    @rule(hours=st.integers(1, 96))
    def wait(self, hours: int) -> None:
        self.last_patient, self.last_reservoir = self.twin.patient_volume, self.twin.reservoir
        self.twin.advance(self.twin.t + hours * HOUR_US)
        if self.twin.reservoir == 0 and self.last_reservoir == 0:
            assert self.twin.patient_volume == self.last_patient  # empty: nothing more is delivered
        if self.twin.catheter != "ok":
            assert self.twin.patient_volume == self.last_patient  # nothing reaches the patient

    @rule(minutes=st.integers(0, 600))
    def remote(self, minutes: int) -> None:
        self.twin.apply(RemoteRequest(self.twin.t + minutes * MINUTE_US))

    @rule(volume=st.integers(1, 40))
    def refill(self, volume: int) -> None:
        self.twin.apply(Refill(self.twin.t, F(volume)))

    @rule()
    def occlude(self) -> None:
        self.twin.apply(CatheterFault(self.twin.t, "occlusion"))

    @rule(factor=st.sampled_from([F(1), F(6, 5), F(4, 5)]))
    def accuracy(self, factor: Fraction) -> None:
        self.twin.apply(AccuracyChange(self.twin.t, factor))

    @invariant()
    def reservoir_never_negative(self) -> None:
        assert self.twin.reservoir >= 0

    @invariant()
    def empty_means_a_critical_alarm(self) -> None:
        if self.twin.reservoir == 0:
            alarm = self.twin.active("empty-reservoir")
            assert alarm is not None and alarm.priority == "critical"

    @invariant()
    def remote_respects_lockout_and_daily_maximum(self) -> None:
        acc = self.twin.accepted
        assert all(b - a >= 4 * HOUR_US for a, b in pairwise(acc))
        assert all(sum(1 for x in acc if 0 <= t - x < DAY_US) <= 3 for t in acc)

    @invariant()
    def patient_never_gets_more_than_left_the_pump(self) -> None:
        assert self.twin.patient_volume <= self.twin.outlet_volume


TwinMachine.TestCase.settings = settings(max_examples=30, stateful_step_count=25, deadline=None)
test_twin_invariants = TwinMachine.TestCase
