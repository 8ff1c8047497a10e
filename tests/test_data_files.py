"""Schema tests for the shipped data files: src/openidds/data/drugs.toml and devices.toml.

Every expected value below is written by hand from the project's reference notes (clinical.md, devices.md) and
the data-file brief; none is read from the code under test. [U] in a comment means the reference tags the value
UNCONFIRMED, [C] confirmed.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from importlib import resources
from typing import Any

import pytest

from openidds.data import CATALOG_ENV, LIBRARY_ENV, load_catalog, load_library
from openidds.devices import DeviceCatalog
from openidds.drugs import CareArea, CareAreaLimits, Drug, DrugLibrary
from openidds.errors import InputError
from openidds.evidence import Cited, Guardrail, walk_cited
from openidds.quantities import Quantity, parse_quantity

LIBRARY_BYTES = resources.files("openidds.data").joinpath("drugs.toml").read_bytes()
CATALOG_BYTES = resources.files("openidds.data").joinpath("devices.toml").read_bytes()
LIBRARY_TEXT = LIBRARY_BYTES.decode("utf-8")
CATALOG_TEXT = CATALOG_BYTES.decode("utf-8")

POLICY_KEY = "openidds-policy"
POLICY_TITLE = "OpenIDDS default, set where no source gives a number; review locally"
POLICY_URL = "https://github.com/openidds/openidds#drug-library"

PAIN: set[CareArea] = {"pain-noncancer", "pain-cancer"}
SPASTICITY: set[CareArea] = {"spasticity-spinal", "spasticity-cerebral"}

# name -> (dose unit, drug class, care areas, compounded)
EXPECTED_DRUGS: dict[str, tuple[str, str, set[CareArea], bool]] = {
    "morphine": ("mg", "opioid", PAIN, False),
    "hydromorphone": ("mg", "opioid", PAIN, True),
    "fentanyl": ("mcg", "opioid", PAIN, True),
    "sufentanil": ("mcg", "opioid", PAIN, True),
    "ziconotide": ("mcg", "n-type-calcium-channel-blocker", PAIN, False),
    "bupivacaine": ("mg", "local-anesthetic", PAIN, True),
    "clonidine": ("mcg", "alpha-2-agonist", PAIN, True),
    "baclofen": ("mcg", "gaba-b-agonist", SPASTICITY, False),
}

EXPECTED_PUMPS: dict[str, tuple[str, str]] = {  # id -> (family, reservoir)
    "programmable-20": ("programmable", "20 mL"),
    "programmable-40": ("programmable", "40 mL"),
    "valve-gated-20": ("valve-gated", "20 mL"),
    "valve-gated-40": ("valve-gated", "40 mL"),
    "constant-flow-30-0.5": ("constant-flow", "30 mL"),
    "constant-flow-30-1.0": ("constant-flow", "30 mL"),
}

EXPECTED_CATHETERS: dict[str, set[str]] = {  # id -> pump families it fits
    "intrathecal-one-piece": {"programmable", "constant-flow"},
    "intrathecal-two-piece": {"programmable", "constant-flow"},
    "valve-gated-catheter": {"valve-gated"},
}

GUARDRAIL_FIELDS = (
    "daily_dose",
    "concentration",
    "patient_bolus_dose",
    "patient_boluses_per_day",
    "trial_bolus",
    "starting_dose",
    "starting_dose_opioid_tolerant",
)


def q(text: str) -> Quantity:
    return parse_quantity(text)


@pytest.fixture(scope="module")
def library() -> DrugLibrary:
    return DrugLibrary.from_toml(LIBRARY_BYTES, "shipped drug library")


@pytest.fixture(scope="module")
def catalog() -> DeviceCatalog:
    return DeviceCatalog.from_toml(CATALOG_BYTES, "shipped device catalog")


def care_areas(library: DrugLibrary) -> Iterator[tuple[Drug, str, CareAreaLimits]]:
    for drug in library.drugs:
        for area, limits in drug.care_areas.items():
            yield drug, area, limits


def guardrails(library: DrugLibrary) -> Iterator[tuple[str, Drug, str, Guardrail]]:
    for drug, area, limits in care_areas(library):
        for name in GUARDRAIL_FIELDS:
            rail = getattr(limits, name)
            if rail is not None:
                yield f"{drug.name}.{area}.{name}", drug, name, rail


def bounds(rail: Guardrail) -> list[tuple[str, Cited]]:
    names = ("hard_min", "soft_min", "soft_max", "hard_max")
    return [(n, getattr(rail, n)) for n in names if getattr(rail, n) is not None]


# --- loading -----------------------------------------------------------------------------------------------------


def test_shipped_files_load_through_the_loaders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(LIBRARY_ENV, raising=False)
    monkeypatch.delenv(CATALOG_ENV, raising=False)
    lib = load_library()
    cat = load_catalog()
    assert lib.identity == {
        "name": "OpenIDDS reference drug library",
        "version": "2026.12.1",
        "sha256": hashlib.sha256(LIBRARY_BYTES).hexdigest(),
    }
    assert cat.identity == {
        "name": "OpenIDDS reference device catalog",
        "version": "2026.12.1",
        "sha256": hashlib.sha256(CATALOG_BYTES).hexdigest(),
    }


@pytest.mark.parametrize("text", [LIBRARY_TEXT, CATALOG_TEXT], ids=["drugs", "devices"])
def test_description_says_reference_not_for_clinical_use(text: str) -> None:
    import tomllib

    description = tomllib.loads(text)["description"].lower()
    assert "reference" in description
    assert "not for clinical use" in description


# --- drug library: contents --------------------------------------------------------------------------------------


def test_all_eight_drugs_with_their_care_areas(library: DrugLibrary) -> None:
    assert {d.name for d in library.drugs} == set(EXPECTED_DRUGS)
    for name, (dose_unit, drug_class, areas, compounded) in EXPECTED_DRUGS.items():
        drug = library.drug(name)
        assert drug.dose_unit == dose_unit, name
        assert drug.drug_class == drug_class, name
        assert set(drug.care_areas) == areas, name
        assert drug.compounded is compounded, name
        if compounded:
            assert drug.formulations == [], f"{name}: a compounded drug has no labeled formulation"


@pytest.mark.parametrize(
    ("name", "strengths"),
    [
        ("morphine", {"10 mg/mL", "25 mg/mL"}),
        ("ziconotide", {"25 mcg/mL", "100 mcg/mL"}),
        ("baclofen", {"50 mcg/mL", "500 mcg/mL", "1000 mcg/mL", "2000 mcg/mL"}),
    ],
)
def test_labeled_formulations(library: DrugLibrary, name: str, strengths: set[str]) -> None:
    drug = library.drug(name)
    assert {f.concentration.value for f in drug.formulations} == {q(s) for s in strengths}
    for f in drug.formulations:
        assert f.concentration.basis == "label"
        assert not f.concentration.unconfirmed


def test_formulations_lie_within_every_hard_concentration_range(library: DrugLibrary) -> None:
    for drug in library.drugs:
        for f in drug.formulations:
            for area, limits in drug.care_areas.items():
                rail = limits.concentration
                if rail.hard_max is not None:
                    assert f.concentration.value <= rail.hard_max.value, f"{drug.name} {area} {f.product}"
                if rail.hard_min is not None:
                    assert f.concentration.value >= rail.hard_min.value, f"{drug.name} {area} {f.product}"


def test_every_care_area_has_absolute_dose_and_concentration_ceilings(library: DrugLibrary) -> None:
    for drug, area, limits in care_areas(library):
        assert limits.daily_dose.hard_max is not None, f"{drug.name} {area}"
        assert limits.concentration.hard_max is not None, f"{drug.name} {area}"


def test_ziconotide_has_no_patient_bolus_limits_and_a_psychosis_caution(library: DrugLibrary) -> None:
    drug = library.drug("ziconotide")
    for area in PAIN:
        assert drug.care_areas[area].patient_bolus_dose is None
        assert drug.care_areas[area].patient_boluses_per_day is None
    [caution] = [c for c in drug.cautions if c.when == "psychosis_history"]
    assert caution.severity == "hard"
    assert caution.code == "ziconotide-psychosis-history"
    assert caution.basis == "label" and not caution.unconfirmed
    assert "psychosis" in caution.message


def test_opioid_cautions(library: DrugLibrary) -> None:
    for name in ("morphine", "hydromorphone", "fentanyl", "sufentanil"):
        codes = {c.when: c.code for c in library.drug(name).cautions}
        assert codes.get("sedatives") == "opioid-with-sedatives", name
    for name in ("morphine", "hydromorphone"):
        codes = {c.when: c.code for c in library.drug(name).cautions}
        assert codes.get("anticoagulants") == "neuraxial-with-anticoagulant", name
    morphine = {c.when: c for c in library.drug("morphine").cautions}
    assert morphine["sedatives"].severity == "info" and morphine["sedatives"].basis == "label"
    assert "respiratory depression" in morphine["sedatives"].message
    assert "anticoagulant" in morphine["anticoagulants"].message


def test_baclofen_withdrawal_risk(library: DrugLibrary) -> None:
    risk = library.drug("baclofen").withdrawal_risk
    assert risk is not None
    assert risk.severity == "soft"
    assert risk.basis == "label" and not risk.unconfirmed
    for word in ("fever", "rebound spasticity", "rhabdomyolysis", "death"):
        assert word in risk.message
    for name in EXPECTED_DRUGS:
        if name != "baclofen":
            assert library.drug(name).withdrawal_risk is None, name


# Hand-written spot checks: (drug, dotted path inside the drug, value, unconfirmed, basis). Values from the
# reference notes and the brief; [U] = the reference tags it unconfirmed, [C] confirmed.
NC, CA = "care_areas.pain-noncancer", "care_areas.pain-cancer"
SP, CE = "care_areas.spasticity-spinal", "care_areas.spasticity-cerebral"
DRUG_CHECKS: list[tuple[str, str, str, bool, str]] = [
    ("morphine", f"{NC}.daily_dose.soft_max", "15 mg/day", True, "consensus"),  # [U] PACC 2012
    ("morphine", f"{NC}.daily_dose.hard_max", "20 mg/day", False, "label"),  # [C] caution > 20 mg/day
    ("morphine", f"{CA}.daily_dose.soft_max", "20 mg/day", False, "label"),
    ("morphine", f"{CA}.daily_dose.hard_max", "50 mg/day", True, "policy"),
    ("morphine", f"{NC}.concentration.soft_max", "20 mg/mL", True, "consensus"),  # [U] PACC 2012
    ("morphine", f"{NC}.concentration.hard_max", "25 mg/mL", False, "derived"),  # highest labeled product
    ("morphine", "stability.max_days", "90 days", False, "literature"),  # [C] devices.md §4
    ("morphine", f"{NC}.starting_dose.hard_max", "1 mg/day", False, "label"),  # [C] naive 0.2-1 mg/day
    ("morphine", f"{NC}.starting_dose_opioid_tolerant.hard_max", "10 mg/day", False, "label"),  # [C] 1-10
    ("morphine", f"{NC}.trial_bolus.soft_max", "0.5 mg", True, "consensus"),  # [U] PACC 2017
    ("morphine", f"{NC}.patient_bolus_dose.hard_max", "1 mg", True, "policy"),
    ("morphine", f"{CA}.titration.hard.max_increase_percent", "100 %", True, "policy"),
    ("morphine", "granuloma_risk.concentration", "20 mg/mL", False, "literature"),  # [C] institutional guide
    ("morphine", "granuloma_risk.daily_dose", "15 mg/day", True, "consensus"),  # [U] PACC 2012 maximum
    ("hydromorphone", f"{NC}.daily_dose.soft_max", "10 mg/day", True, "consensus"),  # [U]
    ("hydromorphone", "stability.max_days", "90 days", True, "policy"),
    ("hydromorphone", "granuloma_risk.concentration", "15 mg/mL", True, "consensus"),  # [U]
    ("fentanyl", f"{NC}.concentration.soft_max", "10 mg/mL", True, "consensus"),  # [U], written in mcg/mL
    ("fentanyl", f"{NC}.daily_dose.soft_max", "1000 mcg/day", True, "policy"),  # PACC: no known upper limit
    ("fentanyl", f"{CA}.daily_dose.hard_max", "5000 mcg/day", True, "policy"),
    ("sufentanil", f"{CA}.concentration.soft_max", "5 mg/mL", True, "consensus"),  # [U], written in mcg/mL
    ("sufentanil", f"{NC}.daily_dose.soft_max", "100 mcg/day", False, "literature"),  # [C] institutional
    ("ziconotide", f"{NC}.daily_dose.hard_max", "19.2 mcg/day", False, "label"),  # [C] US label
    ("ziconotide", f"{CA}.daily_dose.hard_max", "19.2 mcg/day", False, "label"),
    ("ziconotide", f"{NC}.concentration.soft_min", "25 mcg/mL", False, "consensus"),  # [C] implanted reservoir
    ("ziconotide", f"{NC}.concentration.hard_max", "100 mcg/mL", False, "label"),  # [C] product strength
    ("ziconotide", "stability.max_days", "84 days", False, "label"),  # [C] undiluted
    ("ziconotide", "stability.diluted_max_days", "40 days", False, "label"),  # [C]
    ("ziconotide", "stability.first_fill_max_days", "14 days", False, "label"),  # [C]
    ("ziconotide", f"{NC}.titration.soft.window", "7 days", False, "consensus"),  # [C] weekly
    ("ziconotide", f"{NC}.titration.soft.max_increase", "0.5 mcg/day", False, "consensus"),  # [C]
    ("ziconotide", f"{NC}.titration.hard.window", "24 h", False, "label"),  # [C] EU SmPC
    ("ziconotide", f"{NC}.titration.hard.max_increase", "2.4 mcg/day", False, "label"),  # [C] US label
    ("ziconotide", f"{NC}.starting_dose.soft_max", "1.2 mcg/day", False, "consensus"),  # [C]
    ("ziconotide", f"{NC}.starting_dose.hard_max", "2.4 mcg/day", False, "label"),  # [C]
    ("ziconotide", f"{NC}.trial_bolus.soft_max", "5 mcg", True, "consensus"),  # [U]
    ("bupivacaine", f"{NC}.daily_dose.soft_max", "10 mg/day", True, "consensus"),  # [U] PACC 2012
    ("bupivacaine", f"{NC}.daily_dose.hard_max", "20 mg/day", False, "literature"),  # [C] institutional
    ("bupivacaine", f"{CA}.daily_dose.soft_max", "15 mg/day", True, "consensus"),  # [U] PACC 2017
    ("clonidine", f"{NC}.daily_dose.soft_max", "600 mcg/day", True, "consensus"),  # [U] PACC 2012
    ("clonidine", f"{CA}.daily_dose.hard_max", "2000 mcg/day", False, "literature"),  # [C] institutional
    ("baclofen", "stability.max_days", "180 days", False, "label"),  # [C]
    ("baclofen", f"{SP}.daily_dose.soft_max", "1000 mcg/day", True, "policy"),  # anchored to [U] label recall
    ("baclofen", f"{CE}.daily_dose.hard_max", "1500 mcg/day", True, "policy"),
    ("baclofen", f"{SP}.concentration.soft_max", "2000 mcg/mL", False, "derived"),  # highest labeled strength
    ("baclofen", f"{SP}.titration.soft.max_increase_percent", "30 %", False, "literature"),  # [C] +10-30%
    ("baclofen", f"{CE}.titration.soft.max_increase_percent", "15 %", False, "literature"),  # [C] +5-15%
    ("baclofen", f"{SP}.titration.hard.max_increase_percent", "60 %", True, "policy"),
    ("baclofen", f"{CE}.titration.max_decrease_percent", "50 %", True, "policy"),
    ("baclofen", f"{SP}.trial_bolus.hard_min", "25 mcg", False, "literature"),  # [C] paediatric
    ("baclofen", f"{CE}.trial_bolus.soft_max", "100 mcg", False, "label"),  # [C]
    ("baclofen", f"{SP}.patient_bolus_dose.hard_max", "100 mcg", False, "derived"),  # largest screening dose
    ("baclofen", f"{SP}.starting_dose.soft_max", "200 mcg/day", False, "derived"),  # [C] 2x screening dose
    ("baclofen", f"{SP}.patient_boluses_per_day.soft_max", "4", True, "policy"),
]


def resolve(node: Any, dotted: str) -> Any:
    """Follow `a.b.c` through model attributes and dict keys (care areas)."""
    for part in dotted.split("."):
        node = node[part] if isinstance(node, dict) else getattr(node, part)
    return node


@pytest.mark.parametrize(
    ("drug", "path", "value", "unconfirmed", "basis"),
    DRUG_CHECKS,
    ids=[f"{d}.{p.removeprefix('care_areas.')}" for d, p, *_ in DRUG_CHECKS],
)
def test_drug_values_and_confirmation(
    library: DrugLibrary, drug: str, path: str, value: str, unconfirmed: bool, basis: str
) -> None:
    cited = resolve(library.drug(drug), path)
    assert isinstance(cited, Cited)
    assert cited.value == q(value)
    assert cited.unconfirmed is unconfirmed
    assert cited.basis == basis


def test_ziconotide_daily_dose_has_no_soft_max(library: DrugLibrary) -> None:
    for area in PAIN:
        assert library.drug("ziconotide").care_areas[area].daily_dose.soft_max is None


# --- drug library: units and ordering ----------------------------------------------------------------------------


def test_dose_units_are_the_drugs_own(library: DrugLibrary) -> None:
    for drug, area, limits in care_areas(library):
        unit = EXPECTED_DRUGS[drug.name][0]
        expected = {
            "daily_dose": f"{unit}/day",
            "concentration": f"{unit}/mL",
            "patient_bolus_dose": unit,
            "patient_boluses_per_day": "",
            "trial_bolus": unit,
            "starting_dose": f"{unit}/day",
            "starting_dose_opioid_tolerant": f"{unit}/day",
        }
        for name, symbol in expected.items():
            rail = getattr(limits, name)
            for side, cited in bounds(rail) if rail is not None else []:
                assert cited.value.unit.symbol == symbol, f"{drug.name}.{area}.{name}.{side}: {cited.value}"
        if limits.titration is not None:
            for rule in (limits.titration.soft, limits.titration.hard):
                if rule is not None and rule.max_increase is not None:
                    assert rule.max_increase.value.unit.symbol == f"{unit}/day", f"{drug.name}.{area}"
    for drug in library.drugs:
        unit = EXPECTED_DRUGS[drug.name][0]
        for f in drug.formulations:
            assert f.concentration.value.unit.symbol == f"{unit}/mL", drug.name
        if drug.granuloma_risk is not None:
            if drug.granuloma_risk.concentration is not None:
                assert drug.granuloma_risk.concentration.value.unit.symbol == f"{unit}/mL", drug.name
            if drug.granuloma_risk.daily_dose is not None:
                assert drug.granuloma_risk.daily_dose.value.unit.symbol == f"{unit}/day", drug.name


def test_guardrail_bounds_are_ordered(library: DrugLibrary) -> None:
    for where, _drug, _name, rail in guardrails(library):
        chain = bounds(rail)
        assert chain, f"{where}: an empty guardrail"
        for (low_name, low), (high_name, high) in itertools.pairwise(chain):
            assert low.value <= high.value, f"{where}: {low_name} {low.value} > {high_name} {high.value}"


def test_soft_titration_is_no_looser_than_hard(library: DrugLibrary) -> None:
    for drug, area, limits in care_areas(library):
        t = limits.titration
        if t is None or t.soft is None or t.hard is None:
            continue
        where = f"{drug.name}.{area}"
        assert t.soft.window.value >= t.hard.window.value, where
        if t.soft.max_increase_percent and t.hard.max_increase_percent:
            assert t.soft.max_increase_percent.value <= t.hard.max_increase_percent.value, where
        if t.soft.max_increase and t.hard.max_increase:
            assert t.soft.max_increase.value <= t.hard.max_increase.value, where


def test_starting_dose_within_daily_dose_ceiling(library: DrugLibrary) -> None:
    for drug, area, limits in care_areas(library):
        for name in ("starting_dose", "starting_dose_opioid_tolerant"):
            rail = getattr(limits, name)
            if rail is None or limits.daily_dose.hard_max is None:
                continue
            for side, cited in bounds(rail):
                assert cited.value <= limits.daily_dose.hard_max.value, f"{drug.name}.{area}.{name}.{side}"


# --- sources, confirmation and policy ----------------------------------------------------------------------------


def _attached_sources(data: DrugLibrary | DeviceCatalog) -> Iterator[tuple[str, str]]:
    if isinstance(data, DrugLibrary):
        for d in data.drugs:
            for c in d.cautions:
                yield f"{d.name}.cautions.{c.code}", c.source
            if d.withdrawal_risk is not None:
                yield f"{d.name}.withdrawal_risk", d.withdrawal_risk.source
    else:
        for p in data.pumps:
            yield f"{p.id}.modes_source", p.modes_source
            yield f"{p.id}.mri_source", p.mri_source
            if p.mri_latch_source is not None:
                yield f"{p.id}.mri_latch_source", p.mri_latch_source
            if p.patient_bolus_drugs_source is not None:
                yield f"{p.id}.patient_bolus_drugs_source", p.patient_bolus_drugs_source


def _data(name: str, library: DrugLibrary, catalog: DeviceCatalog) -> DrugLibrary | DeviceCatalog:
    return library if name == "drugs" else catalog


@pytest.mark.parametrize("which", ["drugs", "devices"])
def test_every_source_is_defined_with_title_and_url(which: str, library: DrugLibrary, catalog: DeviceCatalog) -> None:
    data = _data(which, library, catalog)
    for key, source in data.sources.items():
        assert source.title.strip(), key
        assert source.url.startswith(("http://", "https://")), key
    cited = list(walk_cited(data))
    assert len(cited) > 50
    for path, c in cited:
        assert c.source in data.sources, f"{path}: {c.source}"
        assert data.sources[c.source].url.strip(), path
    for path, key in _attached_sources(data):
        assert key in data.sources, f"{path}: {key}"
        assert data.sources[key].url.strip(), path


@pytest.mark.parametrize("which", ["drugs", "devices"])
def test_policy_source_is_defined_as_agreed(which: str, library: DrugLibrary, catalog: DeviceCatalog) -> None:
    policy = _data(which, library, catalog).sources[POLICY_KEY]
    assert policy.title == POLICY_TITLE
    assert policy.url == POLICY_URL


@pytest.mark.parametrize("which", ["drugs", "devices"])
def test_policy_values_are_unconfirmed_with_a_note(which: str, library: DrugLibrary, catalog: DeviceCatalog) -> None:
    policy = [(p, c) for p, c in walk_cited(_data(which, library, catalog)) if c.basis == "policy"]
    assert policy
    for path, c in policy:
        assert c.unconfirmed, path
        assert c.note.strip(), path
        assert c.source == POLICY_KEY, path
    for path, c in walk_cited(_data(which, library, catalog)):
        if c.source == POLICY_KEY:
            assert c.basis == "policy", path


@pytest.mark.parametrize("which", ["drugs", "devices"])
def test_unconfirmed_values_say_why(which: str, library: DrugLibrary, catalog: DeviceCatalog) -> None:
    for path, c in walk_cited(_data(which, library, catalog)):
        if c.unconfirmed:
            assert c.note.strip(), f"{path}: an unconfirmed value needs a note"


def test_values_the_reference_tags_unconfirmed_are_never_confirmed(library: DrugLibrary) -> None:
    # Everything drawn from the recalled PACC dose tables (clinical.md §2b) is [U].
    for source in ("pacc-2012", "pacc-2017-trialing", "pacc-2017-best-practices"):
        used = [(p, c) for p, c in walk_cited(library) if c.source == source]
        for path, c in used:
            assert c.unconfirmed, f"{path} cites {source} but is not marked unconfirmed"
    assert any(c.source == "pacc-2012" for _, c in walk_cited(library))


# --- device catalog ----------------------------------------------------------------------------------------------


def test_pump_and_catheter_ids(catalog: DeviceCatalog) -> None:
    assert [p.id for p in catalog.pumps] == list(EXPECTED_PUMPS)
    for pump_id, (family, reservoir) in EXPECTED_PUMPS.items():
        pump = catalog.pump(pump_id)
        assert pump.family == family, pump_id
        assert pump.reservoir.value == q(reservoir), pump_id
        assert pump.resembles.strip(), pump_id
    assert {c.id: set(c.families) for c in catalog.catheters} == EXPECTED_CATHETERS


def test_every_pump_family_has_a_catheter(catalog: DeviceCatalog) -> None:
    fitted = {f for c in catalog.catheters for f in c.families}
    assert {p.family for p in catalog.pumps} <= fitted


def test_constant_flow_pumps_are_continuous_only_and_unpowered(catalog: DeviceCatalog) -> None:
    rates = {"constant-flow-30-0.5": "0.5 mL/day", "constant-flow-30-1.0": "1 mL/day"}
    for pump_id, rate in rates.items():
        pump = catalog.pump(pump_id)
        assert pump.modes == ["continuous"]
        assert pump.battery.powered is False
        assert pump.battery.life == []
        assert pump.battery.hard_stop is None and pump.battery.eri_to_eos is None
        assert pump.has_alarms is False
        assert pump.low_alarm_default is None
        assert pump.rate_min is None and pump.rate_max is None
        assert pump.fixed_rate is not None and pump.fixed_rate.value == q(rate)
        assert pump.fixed_rate.unconfirmed and pump.fixed_rate.basis == "policy"
        assert pump.mri == "no-effect"


def test_programmable_pumps(catalog: DeviceCatalog) -> None:
    for pump_id in ("programmable-20", "programmable-40"):
        pump = catalog.pump(pump_id)
        assert set(pump.modes) == {"continuous", "flex", "single-bolus", "patient-bolus", "minimum-rate", "stopped"}
        assert pump.max_steps_per_day == 13
        assert pump.week_patterns is True
        assert pump.patient_bolus_drugs is None
        assert pump.mri == "stops-during-exposure"
        assert pump.mri_latch_source == "synchromed-mri-latch"
        assert pump.battery.powered is True
        assert len(pump.battery.life) >= 2


def test_valve_gated_pumps(library: DrugLibrary, catalog: DeviceCatalog) -> None:
    for pump_id in ("valve-gated-20", "valve-gated-40"):
        pump = catalog.pump(pump_id)
        assert "patient-bolus" in pump.modes
        assert "minimum-rate" not in pump.modes and "single-bolus" not in pump.modes
        assert pump.week_patterns is False
        assert pump.patient_bolus_drugs == ["morphine"]
        assert pump.patient_bolus_drugs_source in catalog.sources
        assert pump.mri == "valve-closes-until-reset"
        assert pump.battery.powered is True
        assert pump.battery.hard_stop is None
        for drug_name in pump.patient_bolus_drugs:
            library.drug(drug_name)  # every drug a pump names exists in the shipped library


# (pump or catheter id, field path, value, unconfirmed): [U] = the reference tags it unconfirmed, [C] confirmed.
DEVICE_CHECKS: list[tuple[str, str, str, bool]] = [
    ("programmable-20", "rate_min", "0.048 mL/day", False),  # [C] prialt.com minimum flow
    ("programmable-20", "rate_max", "24 mL/day", True),  # [U]
    ("programmable-40", "rate_max", "24 mL/day", True),  # [U]
    ("programmable-20", "minimum_rate_mode", "0.006 mL/day", True),  # [U]
    ("programmable-40", "low_alarm_default", "2 mL", False),  # [C]
    ("programmable-20", "low_alarm_min", "1 mL", True),
    ("programmable-20", "low_alarm_max", "8 mL", True),
    ("programmable-20", "accuracy", "15 %", False),  # [C] +/-0.15 per refill
    ("programmable-20", "over_infusion_threshold", "14.5 %", False),  # [C]
    ("programmable-20", "dead_volume", "0.2 mL", True),  # [U] not found
    ("programmable-20", "battery.eri_to_eos", "90 days", False),  # [C]
    ("programmable-40", "battery.hard_stop", "7 years", False),  # [C]
    ("programmable-20", "battery.life.0.life", "7 years", True),  # derived from "5-7 years", [U]
    ("programmable-20", "battery.life.1.daily_volume", "4 mL/day", True),
    ("valve-gated-20", "reservoir", "20 mL", False),  # [C] REF 13827
    ("valve-gated-40", "reservoir", "40 mL", False),  # [C] REF 16827
    ("valve-gated-20", "low_alarm_default", "3 mL", False),  # [C] PTC next refill at 3.0 mL
    ("valve-gated-40", "accuracy", "15 %", False),  # [C] 85-115% requirement
    ("valve-gated-20", "rate_max", "24 mL/day", True),  # [U]
    ("valve-gated-20", "battery.life.0.life", "10 years", True),  # [U]
    ("valve-gated-40", "battery.eri_to_eos", "90 days", True),  # [U]
    ("constant-flow-30-0.5", "reservoir", "30 mL", False),  # [C] about 1 oz
    ("constant-flow-30-1.0", "accuracy", "15 %", True),  # [U]
    ("intrathecal-one-piece", "volume_per_cm", "0.0022 mL/cm", True),  # [U] not found
    ("intrathecal-two-piece", "volume_per_cm", "0.0024 mL/cm", True),  # [U]
    ("valve-gated-catheter", "volume_per_cm", "0.0024 mL/cm", True),  # [U]
]


@pytest.mark.parametrize(
    ("model", "path", "value", "unconfirmed"), DEVICE_CHECKS, ids=[f"{m}.{p}" for m, p, *_ in DEVICE_CHECKS]
)
def test_device_values_and_confirmation(
    catalog: DeviceCatalog, model: str, path: str, value: str, unconfirmed: bool
) -> None:
    device = catalog.catheter(model) if model in EXPECTED_CATHETERS else catalog.pump(model)
    node: Any = device
    for part in path.split("."):
        node = node[int(part)] if part.isdigit() else getattr(node, part)
    assert isinstance(node, Cited)
    assert node.value == q(value)
    assert node.unconfirmed is unconfirmed


def test_low_alarm_default_within_its_range(catalog: DeviceCatalog) -> None:
    for pump in catalog.pumps:
        if pump.low_alarm_default is None:
            continue
        if pump.low_alarm_min is not None:
            assert pump.low_alarm_min.value <= pump.low_alarm_default.value, pump.id
        if pump.low_alarm_max is not None:
            assert pump.low_alarm_default.value <= pump.low_alarm_max.value, pump.id
            assert pump.low_alarm_max.value < pump.capacity, pump.id


def test_rate_ranges_are_ordered(catalog: DeviceCatalog) -> None:
    for pump in catalog.pumps:
        if pump.rate_min is not None and pump.rate_max is not None:
            assert pump.rate_min.value < pump.rate_max.value, pump.id
        if pump.minimum_rate_mode is not None and pump.rate_min is not None:
            assert pump.minimum_rate_mode.value < pump.rate_min.value, pump.id


# --- malformed copies are refused, naming the field ---------------------------------------------------------------


def _broken(text: str, old: str, new: str) -> bytes:
    """`text` with the first occurrence of `old` replaced by `new`."""
    assert old in text, f"test setup: '{old}' not found"
    return text.replace(old, new, 1).encode("utf-8")


LIBRARY_BREAKS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "typo key": (
        'soft_max = { value = "15 mg/day", source = "pacc-2012"',
        'sfot_max = { value = "15 mg/day", source = "pacc-2012"',
        ("drugs[0].care_areas.pain-noncancer.daily_dose.sfot_max", "unknown setting"),
    ),
    "source key missing": (
        "[sources.pacc-2012]",
        "[sources.pacc-2012-renamed]",
        ("drugs[0].care_areas.pain-noncancer.daily_dose.soft_max", "'pacc-2012'", "[sources]"),
    ),
    "dose rate where a concentration belongs (granuloma)": (
        'concentration = { value = "20 mg/mL", source = "granuloma-guide"',
        'concentration = { value = "5 mg/day", source = "granuloma-guide"',
        ("drugs[0].granuloma_risk", "concentration", "5 mg/day"),
    ),
    "dose rate where a concentration belongs (guardrail)": (
        'soft_max = { value = "20 mg/mL", source = "pacc-2012"',
        'soft_max = { value = "5 mg/day", source = "pacc-2012"',
        ("drugs[0].care_areas.pain-noncancer.concentration",),
    ),
    "concentration where a dose rate belongs": (
        '[drugs.care_areas.pain-noncancer.daily_dose]\nhard_max = { value = "19.2 mcg/day"',
        '[drugs.care_areas.pain-noncancer.daily_dose]\nhard_max = { value = "19.2 mcg/mL"',
        ("drugs[4].care_areas.pain-noncancer", "daily_dose.hard_max", "19.2 mcg/mL"),
    ),
    "unknown unit": (
        'soft_max = { value = "15 mg/day", source = "pacc-2012"',
        'soft_max = { value = "15 mgg/day", source = "pacc-2012"',
        ("drugs[0].care_areas.pain-noncancer.daily_dose.soft_max", "mgg/day"),
    ),
    "bounds out of order": (
        'soft_max = { value = "15 mg/day", source = "pacc-2012"',
        'soft_max = { value = "25 mg/day", source = "pacc-2012"',
        ("drugs[0].care_areas.pain-noncancer.daily_dose", "out of order"),
    ),
    "unknown basis": (
        'max_days = { value = "180 days", source = "lioresal-ampules", basis = "label"',
        'max_days = { value = "180 days", source = "lioresal-ampules", basis = "lable"',
        ("drugs[7].stability.max_days.basis", "lable"),
    ),
    "caution source missing": (
        'source = "prialt-fda-label"\nbasis = "label"',
        'source = "prialt-fda-labels"\nbasis = "label"',
        ("ziconotide", "prialt-fda-labels"),
    ),
    "unknown care area": (
        "[drugs.care_areas.spasticity-cerebral.daily_dose]",
        "[drugs.care_areas.spasticity-brain.daily_dose]",
        ("drugs[7].care_areas.spasticity-brain",),
    ),
}


@pytest.mark.parametrize("case", list(LIBRARY_BREAKS.values()), ids=list(LIBRARY_BREAKS))
def test_malformed_library_is_refused_naming_the_field(case: tuple[str, str, tuple[str, ...]]) -> None:
    old, new, expected = case
    with pytest.raises(InputError) as raised:
        DrugLibrary.from_toml(_broken(LIBRARY_TEXT, old, new), "test copy")
    assert raised.value.field == "test copy"
    for fragment in expected:
        assert fragment in str(raised.value), f"'{fragment}' not in: {raised.value}"


CATALOG_BREAKS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "typo key": (
        "week_patterns = true",
        "week_pattern = true",
        ("pumps[0].week_pattern", "unknown setting"),
    ),
    "typo in a required key": (
        'reservoir = { value = "20 mL", source = "synchromed-ii-wiki"',
        'reservior = { value = "20 mL", source = "synchromed-ii-wiki"',
        ("pumps[0].reservior", "did you mean 'reservoir'"),
    ),
    "source key missing": (
        "[sources.prialt-titration]",
        "[sources.prialt-titration-renamed]",
        ("pumps[0].rate_min", "'prialt-titration'", "[sources]"),
    ),
    "volume where a volume per length belongs": (
        'value = "0.0022 mL/cm"',
        'value = "0.0022 mL"',
        ("catheters[0]", "volume_per_cm", "0.0022 mL"),
    ),
    "rate where a volume belongs": (
        'dead_volume = { value = "0.2 mL"',
        'dead_volume = { value = "0.2 mL/day"',
        ("pumps[0]", "dead_volume", "0.2 mL/day"),
    ),
    "unknown mode": (
        'modes = ["continuous"]\nmodes_source = "constant-flow-dosing"\nfixed_rate = { value = "0.5 mL/day"',
        'modes = ["continuous", "bolus"]\nmodes_source = "constant-flow-dosing"\nfixed_rate = { value = "0.5 mL/day"',
        ("pumps[4].modes[1]", "bolus"),
    ),
    "typo key inside a cited value": (
        'fixed_rate = { value = "1.0 mL/day"',
        'fixed_rate = { value = "1.0 mL/day", sourc = "x"',
        ("pumps[5].fixed_rate.sourc", "unknown setting"),
    ),
}


@pytest.mark.parametrize("case", list(CATALOG_BREAKS.values()), ids=list(CATALOG_BREAKS))
def test_malformed_catalog_is_refused_naming_the_field(case: tuple[str, str, tuple[str, ...]]) -> None:
    old, new, expected = case
    with pytest.raises(InputError) as raised:
        DeviceCatalog.from_toml(_broken(CATALOG_TEXT, old, new), "test copy")
    assert raised.value.field == "test copy"
    for fragment in expected:
        assert fragment in str(raised.value), f"'{fragment}' not in: {raised.value}"


def test_catalog_pump_source_fields_are_checked() -> None:
    bad = CATALOG_TEXT.replace('mri_source = "isomed-mri"', 'mri_source = "isomed-mri-x"')
    assert bad != CATALOG_TEXT
    with pytest.raises(InputError) as raised:
        DeviceCatalog.from_toml(bad.encode("utf-8"), "test copy")
    assert "constant-flow-30-0.5" in str(raised.value)
    assert "isomed-mri-x" in str(raised.value)


def test_sha256_in_a_file_is_ignored() -> None:
    data = ('sha256 = "forged"\n' + LIBRARY_TEXT).encode("utf-8")
    assert DrugLibrary.from_toml(data).sha256 == hashlib.sha256(data).hexdigest()
