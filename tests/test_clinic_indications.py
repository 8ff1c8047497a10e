"""The indications catalog (src/openidds/data/indications.toml): schema, loader, and the expected entries.

Expected entries are written by hand from the project brief (issue 4) and the sources seen while writing the file;
[U] marks the entries no retrieved source lists (arachnoiditis, radiculopathy, spinal stenosis).
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

import pytest

from openidds.clinic.citations import SOURCES
from openidds.clinic.indications import IndicationCatalog
from openidds.data import INDICATIONS_ENV, load_indications, load_library
from openidds.errors import InputError
from openidds.quantities import parse_quantity

DATA = resources.files("openidds.data").joinpath("indications.toml").read_bytes()

# id -> (therapy, care areas, unconfirmed)
EXPECTED: dict[str, tuple[str, list[str], bool]] = {
    "cancer-pain": ("pain", ["pain-cancer"], False),
    "failed-back-surgery-syndrome": ("pain", ["pain-noncancer"], False),
    "complex-regional-pain-syndrome": ("pain", ["pain-noncancer"], False),
    "chronic-pancreatitis": ("pain", ["pain-noncancer"], False),
    "arachnoiditis": ("pain", ["pain-noncancer"], True),
    "radiculopathy": ("pain", ["pain-noncancer"], True),
    "spinal-stenosis": ("pain", ["pain-noncancer"], True),
    "neuropathic-pain": ("pain", ["pain-noncancer"], False),
    "multiple-sclerosis-spasticity": ("spasticity", ["spasticity-spinal"], False),
    "spinal-cord-injury-spasticity": ("spasticity", ["spasticity-spinal"], False),
    "cerebral-palsy-spasticity": ("spasticity", ["spasticity-cerebral"], False),
    "traumatic-brain-injury-spasticity": ("spasticity", ["spasticity-cerebral"], False),
    "hypoxic-brain-injury-spasticity": ("spasticity", ["spasticity-cerebral"], False),
}


@pytest.fixture(scope="module")
def catalog() -> IndicationCatalog:
    return IndicationCatalog.from_toml(DATA, "shipped indications catalog")


def test_loader_gives_the_shipped_file_with_its_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(INDICATIONS_ENV, raising=False)
    cat = load_indications()
    assert cat.identity == {
        "name": "OpenIDDS reference indications catalog",
        "version": "2026.11.1",
        "sha256": hashlib.sha256(DATA).hexdigest(),
    }


def test_loader_reads_a_clinic_file_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    own = tmp_path / "ours.toml"
    own.write_bytes(DATA.replace(b'version = "2026.11.1"', b'version = "local-3"'))
    monkeypatch.setenv(INDICATIONS_ENV, str(own))
    assert load_indications().version == "local-3"


def test_loader_names_an_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        load_indications(tmp_path / "absent.toml")
    assert err.value.field == "--indications"


def test_entries_match_the_brief(catalog: IndicationCatalog) -> None:
    got = {i.id: (i.therapy, list(i.care_areas), i.unconfirmed) for i in catalog.indications}
    assert got == EXPECTED


def test_every_entry_is_cited_and_policy_entries_are_unconfirmed(catalog: IndicationCatalog) -> None:
    for i in catalog.indications:
        assert i.source in catalog.sources, i.id
        assert i.display_name
        if i.basis == "policy":
            assert i.unconfirmed and i.source == "openidds-policy", i.id
        if i.unconfirmed:
            assert i.note, f"{i.id}: an unconfirmed entry says why"


def test_care_areas_exist_in_the_drug_library(catalog: IndicationCatalog) -> None:
    library_areas = {area for d in load_library().drugs for area in d.care_areas}
    for i in catalog.indications:
        assert set(i.care_areas) <= library_areas, i.id


def test_traumatic_brain_injury_waits_one_year(catalog: IndicationCatalog) -> None:
    tbi = catalog.indication("traumatic-brain-injury-spasticity")
    assert tbi.wait_after_onset is not None
    assert tbi.wait_after_onset.value == parse_quantity("1 year")
    assert tbi.wait_after_onset.source == "itb-eligibility"
    assert [i.id for i in catalog.indications if i.wait_after_onset is not None] == [
        "traumatic-brain-injury-spasticity"
    ]


def test_a_source_key_shared_with_the_code_has_the_same_url(catalog: IndicationCatalog) -> None:
    shared = set(catalog.sources) & set(SOURCES)
    assert {"openidds-policy", "idd-selection-criteria", "itb-eligibility"} <= shared
    for key in shared:
        assert catalog.sources[key].url == SOURCES[key].url, key


def test_lookup_is_case_insensitive_and_names_the_field(catalog: IndicationCatalog) -> None:
    assert catalog.indication(" Cancer-Pain ").id == "cancer-pain"
    with pytest.raises(InputError) as err:
        catalog.indication("back-pain", "candidate.indication")
    assert err.value.field == "candidate.indication"
    assert "back-pain" in err.value.message and "cancer-pain" in err.value.message


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        (b'care_areas = ["pain-cancer"]', b'care_areas = ["spasticity-spinal"]', "does not belong to therapy"),
        (b'care_areas = ["pain-cancer"]', b'care_areas = ["pain-cancr"]', "care_areas"),
        (b'care_areas = ["pain-cancer"]', b"care_areas = []", "care_areas"),
        (b'id = "radiculopathy"', b'id = "arachnoiditis"', "listed twice"),
        (b'id = "radiculopathy"', b'id = "Radiculopathy"', "lower-case"),
        (b'source = "pacc-2017-evidence"', b'source = "pacc-2099"', "pacc-2099"),
        (b'basis = "policy"\nunconfirmed = true', b'basis = "policy"', "always unconfirmed"),
        (b'wait_after_onset = { value = "1 year"', b'wait_after_onset = { value = "1 mg"', "wait_after_onset"),
        (b'therapy = "pain"', b'theraphy = "pain"', "unknown setting"),
    ],
)
def test_a_broken_file_is_refused_naming_what(old: bytes, new: bytes, says: str) -> None:
    assert old in DATA
    with pytest.raises(InputError) as err:
        IndicationCatalog.from_toml(DATA.replace(old, new, 1), "bad.toml")
    assert err.value.field == "bad.toml"
    assert says in err.value.message
