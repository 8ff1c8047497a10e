"""The pump twin against scenarios worked by hand, and its invariants."""

from datetime import UTC, datetime
from fractions import Fraction
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from openidds.programs.clock import DAY_US, HOUR_US, MINUTE_US, to_us
from openidds.twin import (
    AccuracyChange,
    CatheterFault,
    CatheterRepair,
    ClinicianBolus,
    Interrogation,
    MotorStall,
    MriExposure,
    ProgramChange,
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
    hours = [0, 1, 4, 8, 9, 12, 24]
    twin.run([RemoteRequest(t0 + h * HOUR_US) for h in hours], z(2026, 11, 24))
    got = [(d.accepted, d.reason) for d in twin.decisions]
    assert got[0] == (True, "dose given")
    assert got[1] == (False, "lockout: next dose possible in 180 min")  # 4 h lockout, 1 h after
    assert got[2] == (True, "dose given") and got[3] == (True, "dose given")
    # At 9 h the lockout would end at 12 h, but 3 doses in the trailing 24 h hold until the first is 24 h old.
    assert got[4] == (False, "daily maximum of 3 reached: next dose possible in 900 min")
    assert got[5] == (False, "daily maximum of 3 reached: next dose possible in 720 min")
    assert got[6] == (True, "dose given")  # 24 h after the first
    # 2026-11-21 15:00Z to 11-24 00:00Z is 2.375 days at 0.5 mL/day, plus the 4 accepted boluses of 0.02 mL.
    assert twin.reservoir == 40 - F("0.5") * F(z(2026, 11, 24) - z(2026, 11, 21, 15), DAY_US) - 4 * F("0.02")


def test_a_fill_at_or_below_the_alarm_level_sounds_the_low_alarm_at_once():
    start = z(2026, 11, 21, 15)
    twin = PumpTwin(program(patient_bolus=BOLUS))
    twin.run([Refill(start + DAY_US, F("1.5")), RemoteRequest(start + DAY_US + HOUR_US)], start + 5 * DAY_US)
    assert twin.decisions[0].reason == "the reservoir is low: call the clinic for a refill"
    # 1.5 mL at 0.5 mL/day runs out 3 days after the refill.
    assert alarms(twin) == {"low-reservoir": start + DAY_US, "empty-reservoir": start + 4 * DAY_US}


def test_a_pump_without_alarms_warns_nobody():
    cf = program(pump={"model": "constant-flow-30-0.5"}, reservoir__volume="1 mL")
    start = z(2026, 11, 21, 15)
    twin = PumpTwin(cf).run([], start + 3 * DAY_US)
    assert twin.alarms == [] and twin.reservoir == 0
    assert [(e["at"], e["condition"]) for e in twin.log if e["event"] == "unannounced"] == [
        (start + 2 * DAY_US, "empty-reservoir")
    ]


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
    twin = PumpTwin(program()).run([CatheterFault(start + 10 * DAY_US, "disconnection")], start + 20 * DAY_US)
    assert twin.reservoir == 30  # 20 days × 0.5 mL/day: the pump kept emptying (an occlusion: test_twin_faults)
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
    twin = PumpTwin(low).run([stall, MriExposure(start + 12 * HOUR_US, 30 * MINUTE_US, 0)], start + DAY_US)
    # Delivery: 10 h before the stall, 1 h after it; then latched for the rest of the day (low alarm active).
    assert twin.reservoir == F("2.2") - F("0.5") * F(11, 24)
    assert twin.latched


def test_mri_does_not_cure_a_permanent_motor_stall():
    start = z(2026, 11, 21, 15)
    events = [
        MotorStall(start + DAY_US),
        MriExposure(start + 2 * DAY_US, HOUR_US, 0),
        Interrogation(start + 3 * DAY_US),
    ]
    twin = PumpTwin(program()).run(events, start + 4 * DAY_US)
    assert twin.reservoir == 40 - F("0.5")  # only the first day: the stall never recovers
    assert twin.active("motor-stall") is not None and twin.mode == "motor-stall"
    assert [e["reason"] for e in twin.log if e["event"] == "still-stopped"] == [
        # The stall alarm was on during the scan, so the pump also latched (cleared by the interrogation).
        "MRI exposure over, but the motor is stalled and it stays stopped until interrogated"
    ]


def test_a_second_scan_never_shortens_the_first_recovery():
    start = z(2026, 11, 21, 15)
    first = MriExposure(start + DAY_US, HOUR_US, recovery_us=24 * HOUR_US)  # stopped until day 2 + 1 h
    second = MriExposure(start + DAY_US + 2 * HOUR_US, HOUR_US, 0)  # would end at day 1 + 3 h
    twin = PumpTwin(program()).run([first, second], start + 3 * DAY_US)
    assert [e["at"] for e in twin.log if e["event"] == "resumed"] == [start + 2 * DAY_US + HOUR_US]
    assert twin.reservoir == 40 - F("0.5") * (3 - F(25, 24))


def test_constant_flow_mri_latch_needs_the_catalogue_to_say_so():
    # A constant-flow pump is unaffected, alarming or not; a valve-gated pump closes whatever the alarms.
    start = z(2026, 11, 21, 15)
    cf = program(pump={"model": "constant-flow-30-0.5"}, reservoir__volume="30 mL")
    twin = PumpTwin(cf).run([MriExposure(start + DAY_US, HOUR_US)], start + 2 * DAY_US)
    assert not twin.latched and twin.reservoir == 29


def test_clinician_bolus_runs_on_top_of_the_program():
    start = z(2026, 11, 21, 15)
    bolus = ClinicianBolus(start + DAY_US, F("0.1"), 2 * HOUR_US)
    twin = PumpTwin(program()).run([bolus], start + DAY_US + HOUR_US)
    assert twin.mode == "single-bolus"
    # Half the bolus is in after one of its two hours.
    assert twin.reservoir == 40 - F("0.5") * F(25, 24) - F("0.05")
    twin.advance(start + 2 * DAY_US)
    assert twin.mode == "running" and twin.reservoir == 40 - 1 - F("0.1")
    entry = next(e for e in twin.log if e["event"] == "bolus")
    assert entry["doses"] == {"morphine": "1 mg"} and entry["volume_ml"] == F("0.1")
    # The clinic expects the bolus too: a refill now reconciles exactly.
    twin.apply(Refill(start + 2 * DAY_US, F(40)))
    refill = next(e for e in twin.log if e["event"] == "refill")
    assert refill["discrepancy_ml"] == 0 and refill["reconciliation"] == "within-band"


def test_bridge_bolus_keeps_the_dose_through_a_concentration_change():
    # Morphine 10 → 20 mg/mL at the refill; the new program halves the rate to 0.25 mL/day (5 mg/day either way).
    # The 0.332 mL of old solution in pump and catheter runs out at the old 0.5 mL/day first: 0.664 days.
    from tests.programs import BASE

    start = z(2026, 11, 21, 15)
    refill_at = start + DAY_US
    new_solution = program(BASE, drugs=[{"name": "morphine", "concentration": "20 mg/mL"}]).solution
    new_program = program(BASE, drugs=[{"name": "morphine", "concentration": "20 mg/mL"}], program__rate="0.25 mL/day")
    bridge_ends = refill_at + int(F("0.664") * DAY_US)

    def run(bridge: bool) -> PumpTwin:
        events = [Refill(refill_at, F(40), solution=new_solution), ProgramChange(refill_at, new_program, "", bridge)]
        twin = PumpTwin(program()).run(events, refill_at)
        return twin

    bridged = run(True)
    before = bridged.patient["morphine"]
    bridged.advance(bridge_ends)
    assert bridged.mode == "running"
    assert bridged.patient["morphine"] - before == F("3.32")  # 0.664 d × 5 mg/day, all old solution
    assert [e["at"] for e in bridged.log if e["event"] == "program-started"] == [bridge_ends]
    bridged.advance(refill_at + 2 * DAY_US)
    assert bridged.patient["morphine"] - before == 10  # 5 mg/day for both days
    assert bridged.reservoir == 40 - F("0.332") - F("0.25") * (2 - F("0.664"))

    plain = run(False)
    before = plain.patient["morphine"]
    plain.advance(refill_at + 2 * DAY_US)
    # Without the bridge: 0.332 mL of 10 mg/mL at 0.25 mL/day (1.328 d at 2.5 mg/day), then 20 mg/mL.
    assert plain.patient["morphine"] - before == F("3.32") + F("0.25") * (2 - F("1.328")) * 20


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
        if self.twin.catheter == "occlusion":
            assert self.twin.reservoir == self.last_reservoir  # nothing leaves the pump
        elif self.twin.catheter != "ok" and self.last_reservoir > 0:
            assert self.twin.reservoir < self.last_reservoir  # a disconnection or leak: the pump keeps emptying

    @rule(minutes=st.integers(0, 600))
    def remote(self, minutes: int) -> None:
        self.twin.apply(RemoteRequest(self.twin.t + minutes * MINUTE_US))

    @rule(volume=st.integers(1, 40))
    def refill(self, volume: int) -> None:
        self.twin.apply(Refill(self.twin.t, F(volume)))

    @rule(kind=st.sampled_from(["occlusion", "disconnection", "leak"]))
    def catheter_fault(self, kind: str) -> None:
        self.twin.apply(CatheterFault(self.twin.t, kind))  # type: ignore[arg-type]

    @rule()
    def repair(self) -> None:
        self.twin.apply(CatheterRepair(self.twin.t))

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


# --- deciding a request lazily equals settling first ------------------------------------------------------------------
LAZY_START = z(2026, 3, 1, 15)  # Chicago springs forward on 2026-03-08: the runs cross a DST change
MINUTE_IN_RUN = st.integers(0, 30 * 24 * 60)
OTHER_EVENT = st.one_of(
    st.builds(lambda m, v: ("refill", m, v), st.integers(0, 30 * 24 * 60), st.integers(1, 20)),
    st.builds(lambda m, f: ("accuracy", m, f), st.integers(0, 30 * 24 * 60), st.sampled_from([F(6, 5), F(4, 5)])),
    st.builds(lambda m: ("mri", m), st.integers(0, 30 * 24 * 60)),
    st.builds(lambda m: ("dilute", m), st.integers(0, 30 * 24 * 60)),
)
# Morphine 10 → 5 mg/mL at twice the rates (the same doses): with a bridge, the new program starts when the old
# solution in pump and catheter has run out, a timer that falls due while the pump delivers, and it runs faster.
HALF = {"name": "morphine", "concentration": "5 mg/mL"}
HALF_FLEX = {
    "mode": "flex",
    "steps": [
        {"at": "00:00", "rate": "0.80 mL/day"},
        {"at": "07:00", "rate": "1.20 mL/day"},
        {"at": "22:00", "rate": "0.80 mL/day"},
    ],
}


def _events(raw: list[tuple[object, ...]]) -> list[object]:
    out: list[object] = []
    for kind, minute, *rest in sorted(raw, key=lambda r: r[1]):
        at = LAZY_START + int(minute) * MINUTE_US
        if kind == "remote":
            out.append(RemoteRequest(at))
        elif kind == "refill":
            out.append(Refill(at, F(rest[0])))
        elif kind == "accuracy":
            out.append(AccuracyChange(at, rest[0]))
        elif kind == "dilute":
            half = program(drugs=[HALF], program=HALF_FLEX, patient_bolus=LAZY_BOLUS, reservoir__volume="8 mL")
            out += [Refill(at, F(8), solution=half.solution), ProgramChange(at, half, "", bridge=True)]
        else:
            out.append(MriExposure(at, HOUR_US, HOUR_US))
    return out


LAZY_BOLUS = {**BOLUS, "max_per_day": 4, "lockout": "1 h"}


def _flex_twin() -> PumpTwin:
    return PumpTwin(
        program(
            program=FLEX,
            patient_bolus=LAZY_BOLUS,
            reservoir__volume="8 mL",
            reservoir__filled_at="2026-03-01T09:00",
        )
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(MINUTE_IN_RUN, min_size=20, max_size=150), st.lists(OTHER_EVENT, max_size=6))
def test_lazy_remote_decisions_equal_settling_at_every_event(
    remote: list[int], other: list[tuple[object, ...]]
) -> None:
    events = _events([("remote", m) for m in remote] + other)
    end = LAZY_START + 31 * DAY_US
    lazy = _flex_twin().run(events, end)
    eager = _flex_twin()
    for e in events:
        eager.advance(e.at)
        assert eager.reservoir >= 0  # reading it settles the twin
        eager.apply(e)
    eager.advance(end)
    assert len(lazy.decisions) == len(remote)  # one decision per remote request, none lost or added
    assert lazy.decisions == eager.decisions
    assert lazy.log == eager.log
    assert (lazy.reservoir, lazy.outlet_volume, lazy.patient) == (eager.reservoir, eager.outlet_volume, eager.patient)


def test_a_request_after_boluses_emptied_the_reservoir_to_the_low_level_is_denied():
    # 0.2 mL above the 2 mL alarm. By 3 h: 0.5 mL/day × 3 h = 0.0625 mL plus three 0.05 mL boluses = 0.2125 mL:
    # the reservoir is below the alarm level although the programmed rate alone would take 9.6 h to get there.
    start = z(2026, 11, 21, 15)
    bolus = {"volume": "0.05 mL", "duration": "10 min", "lockout": "1 h", "max_per_day": 6}
    twin = PumpTwin(program(patient_bolus=bolus, reservoir__volume="2.2 mL"))
    twin.run([RemoteRequest(start + h * HOUR_US) for h in range(4)], start + 3 * HOUR_US)
    assert [d.accepted for d in twin.decisions] == [True, True, True, False]
    assert twin.decisions[-1].reason == "the reservoir is low: call the clinic for a refill"
    # Crossing: at 2 h 10 min 0.5/1440 × 130 + 0.15 = 0.1951389 mL; the rest, 0.0048611 mL, takes 14 min.
    assert alarms(twin) == {"low-reservoir": start + 2 * HOUR_US + 24 * MINUTE_US}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 20 * 24 * 60), max_size=80))
def test_delivered_is_exactly_the_program_plus_accepted_boluses(minutes: list[int]) -> None:
    # An accurate pump that never runs low: what leaves it is the program plus every accepted bolus, to the last
    # fraction of a microlitre; never more. The program, by hand: 2026-03-01 09:00 CST to 2026-03-22 15:00Z =
    # 10:00 CDT is 21 local days of 0.525 mL/day, less the hour skipped on 2026-03-08 (02:00-03:00 at 0.4 mL/day),
    # plus 09:00-10:00 on the last morning at 0.6 mL/day: 11.025 - 0.4/24 + 0.6/24 = 11.025 + 1/120 mL.
    end = LAZY_START + 21 * DAY_US
    requests = [RemoteRequest(LAZY_START + m * MINUTE_US) for m in sorted(minutes)]
    twin = PumpTwin(program(program=FLEX, patient_bolus=BOLUS, reservoir__filled_at="2026-03-01T09:00")).run(
        requests, end
    )
    programmed = F("11.025") + F(1, 120)
    assert len(twin.decisions) == len(requests)  # every request is decided
    boluses = F("0.02") * len(twin.accepted)
    assert twin.outlet_volume == programmed + boluses
    assert twin.reservoir == 40 - programmed - boluses
