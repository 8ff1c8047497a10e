"""A synthetic clinic population: who has which drug, pump and program, and how they refill. Pure: no I/O.

Nothing here is a registry figure. The shares below are SYNTHETIC assumptions, chosen to give a plausible mix
for studying refill policies; each says what it is anchored to. Every patient's program is built from the active
drug library and device catalog and must pass the core's safety check with no hard or soft finding.

Every parameter of every patient is sampled at once as numpy arrays from `SeedSequence(seed)`; the draws made
while a patient runs (remote presses, lateness, fill accuracy) come from that patient's own child seed, so a
patient's run never depends on who else is in the study or on how the study is split across processes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

from openidds.devices import DeviceCatalog
from openidds.drugs import DrugLibrary
from openidds.errors import InputError
from openidds.programfile import program_from_dict
from openidds.programs.program import PumpProgram
from openidds.quantities import Quantity
from openidds.safety import check

ZONE = "America/Chicago"  # one clinic's wall clock; the study crosses both DST changes every year
START = "2027-01-04T09:00"  # a Monday-morning clinic; fixed, because the core reads no clock


@dataclass(frozen=True)
class Level:
    """One maintenance dose: the mean daily rate and the concentration of each drug of the solution."""

    rate: str | None  # mean mL/day; None on a constant-flow pump, which runs its fixed rate
    concentrations: tuple[str, ...]


@dataclass(frozen=True)
class Regimen:
    name: str
    drugs: tuple[str, ...]  # the first is the one doses are written in, and the group it is reported under
    care_area: str
    context: Mapping[str, bool]
    share: float  # of all patients
    levels: tuple[Level, ...]  # on a programmable or valve-gated pump, each equally likely
    fixed_rate_levels: tuple[Level, ...] = ()  # on a constant-flow pump (dose set by concentration alone)
    families: tuple[str, ...] = ("programmable",)
    flex: bool = True  # may run a day/night flex program
    bolus: Mapping[str, Any] | None = None  # remote settings, where the pump and drug allow a remote
    remote_share: float = 0.0  # of the patients who could have a remote, those who do
    remote_per_day: float = 0.0  # mean remote presses a day of those who do
    low_alarm: str | None = None  # None: the pump's default


_PAIN = {"opioid_naive": False}
_M10 = ("10 mg/mL",)


def _levels(rates: tuple[str, ...], conc: tuple[str, ...]) -> tuple[Level, ...]:
    return tuple(Level(r, conc) for r in rates)


# SYNTHETIC mix. Morphine is the first-line intrathecal opioid (PACC), so it is the largest group; intrathecal
# baclofen for spasticity is the other large group; compounded drugs, admixtures and ziconotide are smaller.
# Doses sit inside the library's soft limits (worst case included); rates inside the pumps' ranges.
REGIMENS: tuple[Regimen, ...] = (
    Regimen(
        "morphine",
        ("morphine",),
        "pain-noncancer",
        _PAIN,
        0.30,
        _levels(("0.1", "0.2", "0.3", "0.5", "0.7"), _M10),  # 1-7 mg/day of Infumorph 10 mg/mL
        fixed_rate_levels=(Level(None, ("5 mg/mL",)), Level(None, _M10)),  # 2.5-10 mg/day on 0.5 or 1 mL/day
        families=("programmable", "valve-gated", "constant-flow"),
        bolus={"volume": "0.02 mL", "duration": "10 min", "lockout": "4 h", "max_per_day": 3},  # 0.2 mg
        remote_share=0.4,  # synthetic
        remote_per_day=2.0,  # synthetic: presses, some of them refused by lockout or the daily maximum
    ),
    Regimen(
        "morphine + clonidine",
        ("morphine", "clonidine"),
        "pain-noncancer",
        _PAIN,
        0.08,
        _levels(("0.2", "0.3", "0.5", "0.7"), ("10 mg/mL", "100 mcg/mL")),
        bolus={"volume": "0.02 mL", "duration": "10 min", "lockout": "4 h", "max_per_day": 3},
        remote_share=0.4,
        remote_per_day=2.0,
    ),
    Regimen(
        "hydromorphone",
        ("hydromorphone",),
        "pain-noncancer",
        _PAIN,
        0.12,
        _levels(("0.1", "0.2", "0.4", "0.6", "0.8"), ("5 mg/mL",)),  # 0.5-4 mg/day
        bolus={"volume": "0.01 mL", "duration": "10 min", "lockout": "4 h", "max_per_day": 3},  # 0.05 mg
        remote_share=0.4,
        remote_per_day=2.0,
    ),
    Regimen(
        "hydromorphone + bupivacaine",
        ("hydromorphone", "bupivacaine"),
        "pain-noncancer",
        _PAIN,
        0.05,
        _levels(("0.2", "0.4", "0.6"), ("5 mg/mL", "10 mg/mL")),  # bupivacaine 2-6 mg/day
        bolus={"volume": "0.01 mL", "duration": "10 min", "lockout": "4 h", "max_per_day": 3},
        remote_share=0.4,
        remote_per_day=2.0,
    ),
    Regimen(
        "fentanyl (cancer)",
        ("fentanyl",),
        "pain-cancer",
        _PAIN,
        0.04,
        _levels(("0.1", "0.2", "0.4", "0.6"), ("1000 mcg/mL",)),  # 100-600 mcg/day
        bolus={"volume": "0.02 mL", "duration": "10 min", "lockout": "2 h", "max_per_day": 4},  # 20 mcg
        remote_share=0.6,  # synthetic: cancer pain uses the remote more
        remote_per_day=3.0,
    ),
    Regimen(
        "ziconotide",
        ("ziconotide",),
        "pain-noncancer",
        {"psychosis_history": False},
        0.06,
        _levels(("0.048", "0.096", "0.144", "0.192", "0.24"), ("25 mcg/mL",)),  # 1.2-6 mcg/day, undiluted
        flex=False,  # a lower night step would fall below the pump's 0.048 mL/day minimum
    ),  # no remote: the library sets no patient-bolus limits for ziconotide
    Regimen(
        "baclofen (spinal)",
        ("baclofen",),
        "spasticity-spinal",
        {},
        0.22,
        _levels(("0.2", "0.4", "0.6"), ("500 mcg/mL",)) + _levels(("0.2", "0.3", "0.4"), ("2000 mcg/mL",)),
        fixed_rate_levels=(Level(None, ("500 mcg/mL",)), Level(None, ("1000 mcg/mL",))),
        families=("programmable", "constant-flow"),
        bolus={"dose": "25 mcg", "duration": "10 min", "lockout": "3 h", "max_per_day": 4},
        remote_share=0.15,  # synthetic
        remote_per_day=3.62,  # itb-ptm-use-cmsc-2015: mean 3.62 activations a day with baclofen
        low_alarm="4 mL",  # the library's withdrawal margin for baclofen (pump-residual-withdrawal)
    ),
    Regimen(
        "baclofen (cerebral)",
        ("baclofen",),
        "spasticity-cerebral",
        {},
        0.13,
        _levels(("0.2", "0.4", "0.6"), ("500 mcg/mL",)) + _levels(("0.2", "0.25"), ("2000 mcg/mL",)),
        families=("programmable",),
        bolus={"dose": "25 mcg", "duration": "10 min", "lockout": "3 h", "max_per_day": 4},
        remote_share=0.15,
        remote_per_day=3.62,
        low_alarm="4 mL",
    ),
)

# SYNTHETIC pump mix: SynchroMed-like programmable pumps dominate the market, then valve-gated (Prometra-like),
# then constant-flow. A regimen only gets the families it lists (renormalised): valve-gated pumps carry morphine
# only, the one drug their remote gives (prometra-ptc-drugs).
PUMP_SHARES: dict[str, float] = {
    "programmable-40": 0.60,
    "programmable-20": 0.25,
    "valve-gated-40": 0.05,
    "valve-gated-20": 0.05,
    "constant-flow-30-0.5": 0.03,
    "constant-flow-30-1.0": 0.02,
}
PUMP_IDS = tuple(PUMP_SHARES)
FLEX_SHARE = 0.3  # synthetic: of patients whose pump and drug allow it, a day/night flex program
# Day/night flex shape: 0.8 × the mean rate for the 9 night hours, 1.12 × for the 15 day hours (0.8·9 + 1.12·15 = 24),
# so the daily dose equals the level's.
FLEX_NIGHT, FLEX_DAY = Fraction(4, 5), Fraction(28, 25)

# SYNTHETIC refill habits.
LATE_BETA = (1.5, 8.5)  # each patient's chance of being late for a visit: Beta, mean 15 %
LATE_MEAN_DAYS = 3.0  # each patient's own mean (Exponential, mean 3); a late visit is 1 + ⌊Exponential⌋ days late
MISSED_VISIT = 0.02  # a visit missed outright, then rebooked ...
REBOOK_DAYS = (7, 28)  # ... this many days later (uniform, inclusive)
POCKET_FILL = 0.002  # a refill that puts part of the fill into the pocket (rare, a known refill error) ...
POCKET_ML = (1.0, 5.0)  # ... of this much (uniform)
# Pump accuracy over each refill interval: delivered/programmed ~ Normal(0.995, 0.15/1.96), the mean and 95 %
# prediction interval of 1,402 SynchroMed refills (synchromed-accuracy-study), clipped to 0.7-1.3; applied to
# every family for lack of other figures. About 5 % of refills fall outside a ±15 % band by chance.
ACCURACY_MEAN, ACCURACY_SD, ACCURACY_CLIP = 0.995, 0.15 / 1.96, (0.7, 1.3)
OVER_INFUSION_PER_YEAR = 0.005  # synthetic: a pump fault that starts over-infusing, per pump-year ...
OVER_INFUSION_FACTOR = Fraction(6, 5)  # ... by 20 %, above the 14.5 % ECRI threshold (synchromed-overinfusion-ecri)
FIRST_FILL = (0.1, 1.0)  # at the start, each reservoir is this far (uniform) from the alarm level up to full


@dataclass(frozen=True)
class Population:
    """Every patient's parameters, one numpy array each (index = patient)."""

    seed: int
    years: float
    regimen: npt.NDArray[np.int64]
    pump: npt.NDArray[np.int64]  # index into PUMP_IDS
    level: npt.NDArray[np.int64]  # index into the regimen's levels (or fixed-rate levels)
    flex: npt.NDArray[np.bool_]
    remote_per_day: npt.NDArray[np.float64]  # 0: no remote (no patient bolus programmed)
    first_fill: npt.NDArray[np.float64]  # fraction of the usable volume (above the alarm level) at the start
    late_chance: npt.NDArray[np.float64]
    late_mean_days: npt.NDArray[np.float64]
    over_infusion_day: npt.NDArray[np.float64]  # day of the study the pump starts over-infusing; NaN: never

    def __len__(self) -> int:
        return len(self.regimen)

    def key(self, i: int) -> TemplateKey:
        return (
            int(self.regimen[i]),
            int(self.pump[i]),
            int(self.level[i]),
            bool(self.flex[i]),
            bool(self.remote_per_day[i] > 0),
        )


TemplateKey = tuple[int, int, int, bool, bool]  # regimen, pump, level, flex, remote


def _remote_allowed(reg: Regimen, pump_id: str, catalog: DeviceCatalog) -> bool:
    pump = catalog.pump(pump_id, "population")
    if reg.bolus is None or "patient-bolus" not in pump.modes:
        return False
    return pump.patient_bolus_drugs is None or all(d in pump.patient_bolus_drugs for d in reg.drugs)


def _family(pump_id: str, catalog: DeviceCatalog) -> str:
    return catalog.pump(pump_id, "population").family


def pump_choices(catalog: DeviceCatalog) -> npt.NDArray[np.float64]:
    """P[regimen, pump]: each regimen's pump mix, the shares restricted to its families and renormalised."""
    shares = np.array([PUMP_SHARES[p] for p in PUMP_IDS], dtype=np.float64)
    allowed = np.array([[_family(p, catalog) in r.families for p in PUMP_IDS] for r in REGIMENS], dtype=np.float64)
    mix: npt.NDArray[np.float64] = allowed * shares
    normalised: npt.NDArray[np.float64] = mix / mix.sum(axis=1, keepdims=True)
    return normalised


def _pick(rng: np.random.Generator, probabilities: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """One categorical draw per row of `probabilities` (rows sum to 1), vectorised."""
    rows, columns = probabilities.shape
    cumulative = np.cumsum(probabilities, axis=-1)
    u = rng.random((rows, 1))
    picked: npt.NDArray[np.int64] = np.minimum((u >= cumulative).sum(axis=1), columns - 1).astype(np.int64)
    return picked


def sample_population(patients: int, years: float, seed: int, catalog: DeviceCatalog) -> Population:
    """Every patient's drug, pump, dose level, program shape, remote use and habits, drawn as arrays."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,)))
    n = patients
    shares = np.array([r.share for r in REGIMENS])
    regimen = _pick(rng, np.broadcast_to(shares / shares.sum(), (n, len(REGIMENS))))
    pump = _pick(rng, pump_choices(catalog)[regimen])

    constant_flow = np.array([_family(p, catalog) == "constant-flow" for p in PUMP_IDS])[pump]
    rate_levels = np.array([len(r.levels) for r in REGIMENS])[regimen]
    fixed_levels = np.array([max(len(r.fixed_rate_levels), 1) for r in REGIMENS])[regimen]
    levels = np.where(constant_flow, fixed_levels, rate_levels)
    level = np.minimum((rng.random(n) * levels).astype(np.int64), levels - 1)

    flex_ok = np.array([r.flex for r in REGIMENS])[regimen] & ~constant_flow
    flex = flex_ok & (rng.random(n) < FLEX_SHARE)

    remote_ok = np.array([[_remote_allowed(r, p, catalog) for p in PUMP_IDS] for r in REGIMENS])[regimen, pump]
    users = remote_ok & (rng.random(n) < np.array([r.remote_share for r in REGIMENS])[regimen])
    mean_presses = np.array([r.remote_per_day for r in REGIMENS])[regimen]
    presses = rng.gamma(2.0, mean_presses / 2.0)  # shape 2: most near the mean, a few heavy users
    remote_per_day = np.where(users, presses, 0.0)

    first_fill = rng.uniform(*FIRST_FILL, n)
    late_chance = rng.beta(*LATE_BETA, n)
    late_mean_days = rng.exponential(LATE_MEAN_DAYS, n)
    over = rng.random(n) < 1 - np.exp(-OVER_INFUSION_PER_YEAR * years)
    over_day = np.where(over, rng.uniform(0, years * 365.25, n), np.nan)
    return Population(
        seed, years, regimen, pump, level, flex, remote_per_day, first_fill, late_chance, late_mean_days, over_day
    )


# --- programs --------------------------------------------------------------------------------------------------
def _decimal(value: Fraction) -> str:
    """Exact decimal text of a rate (the levels are chosen so it terminates)."""
    text = format(Decimal(value.numerator) / Decimal(value.denominator), "f")
    assert Fraction(text) == value, value
    return text


def program_document(key: TemplateKey, catalog: DeviceCatalog) -> dict[str, Any]:
    """The program file (as a dict) of one template: filled full at the study start."""
    reg_i, pump_i, level_i, flex, remote = key
    reg, pump = REGIMENS[reg_i], catalog.pump(PUMP_IDS[pump_i], "population")
    fixed = pump.fixed_rate is not None
    level = (reg.fixed_rate_levels if fixed else reg.levels)[level_i]
    program: dict[str, Any]
    if fixed:
        assert pump.fixed_rate is not None
        program = {"mode": "continuous", "rate": str(pump.fixed_rate.value)}
    elif flex:
        assert level.rate is not None
        mean = Fraction(level.rate)
        night, day = _decimal(mean * FLEX_NIGHT) + " mL/day", _decimal(mean * FLEX_DAY) + " mL/day"
        steps = [{"at": "00:00", "rate": night}, {"at": "07:00", "rate": day}, {"at": "22:00", "rate": night}]
        program = {"mode": "flex", "steps": steps}
    else:
        program = {"mode": "continuous", "rate": f"{level.rate} mL/day"}
    reservoir: dict[str, Any] = {"filled_at": START, "timezone": ZONE, "volume": str(pump.capacity)}
    if reg.low_alarm is not None:
        reservoir["low_alarm"] = reg.low_alarm
    doc: dict[str, Any] = {
        "pump": {"model": pump.id},
        "reservoir": reservoir,
        "drugs": [{"name": d, "concentration": c} for d, c in zip(reg.drugs, level.concentrations, strict=True)],
        "program": program,
        "context": {"care_area": reg.care_area, **reg.context},
    }
    if remote:
        assert reg.bolus is not None
        doc["patient_bolus"] = dict(reg.bolus)
    return doc


def build_template(key: TemplateKey, library: DrugLibrary, catalog: DeviceCatalog) -> PumpProgram:
    """One template program, refused (InputError) unless the safety check has no hard or soft finding."""
    where = f"population: {REGIMENS[key[0]].name} on {PUMP_IDS[key[1]]}"
    try:
        program = program_from_dict(program_document(key, catalog), library, catalog)
    except InputError as exc:
        raise InputError(where, str(exc)) from None
    blocking = [f for f in check(program, program.context) if f.severity in ("hard", "soft")]
    if blocking:
        raise InputError(where, f"the synthetic program fails the safety check: {blocking[0].message}")
    return program


@dataclass
class Templates:
    """Template programs, built once each and shared by every patient who uses them."""

    library: DrugLibrary
    catalog: DeviceCatalog
    programs: dict[TemplateKey, PumpProgram] = field(default_factory=dict)

    def get(self, key: TemplateKey) -> PumpProgram:
        found = self.programs.get(key)
        if found is None:
            found = self.programs[key] = build_template(key, self.library, self.catalog)
        return found

    def for_population(self, population: Population) -> Templates:
        keys = np.stack(
            [population.regimen, population.pump, population.level, population.flex, population.remote_per_day > 0]
        )
        for column in np.unique(keys.T, axis=0):
            a, b, c, d, e = (int(x) for x in column)
            self.get((a, b, c, bool(d), bool(e)))
        return self


def with_first_fill(template: PumpProgram, fraction: float) -> PumpProgram:
    """The template with its reservoir `fraction` of the way from the alarm level to full (to 0.1 mL)."""
    res = template.reservoir
    low, full = res.low_alarm.to("mL"), template.pump.capacity.to("mL")
    tenths = max(int(np.floor(float(low + (full - low) * Fraction(fraction)) * 10)), int(low * 10) + 1)
    volume = min(Fraction(tenths, 10), full)
    return replace(template, reservoir=replace(res, volume=Quantity.of(volume, "mL")))


def all_template_keys(catalog: DeviceCatalog) -> list[TemplateKey]:
    """Every template the population can use (for tests: each must pass the safety check)."""
    keys: list[TemplateKey] = []
    mix = pump_choices(catalog)
    for r, reg in enumerate(REGIMENS):
        for p, pump_id in enumerate(PUMP_IDS):
            if mix[r, p] == 0:
                continue
            fixed = _family(pump_id, catalog) == "constant-flow"
            n_levels = len(reg.fixed_rate_levels if fixed else reg.levels)
            for level in range(n_levels):
                for flex in (False, True) if reg.flex and not fixed else (False,):
                    for remote in (False, True) if _remote_allowed(reg, pump_id, catalog) else (False,):
                        keys.append((r, p, level, flex, remote))
    return keys
