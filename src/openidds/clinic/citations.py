"""Where the clinic rules come from: every rule in code names a source, its basis and whether it is confirmed.

The indications catalog (data/indications.toml) carries its own [sources]; these are the sources of the rules
written in code (eligibility checklist, trial success, scales, urgency). A source key used in both places must
have the same URL (a test checks it). `openidds-policy` marks an OpenIDDS choice where no retrieved source gives
the rule: always unconfirmed ([U]), to be reviewed by the local clinical team.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from openidds.evidence import Basis, Cited, Source

SOURCES: Mapping[str, Source] = MappingProxyType(
    {
        "openidds-policy": Source(
            title="OpenIDDS default, set where no source gives the rule; review locally",
            url="https://github.com/openidds/openidds#clinic",
        ),
        "idd-selection-criteria": Source(
            title="Indications for intrathecal drug delivery: general selection criteria (conservative therapies "
            "failed, further corrective surgery likely to give complications or poor outcomes, psychologically "
            "competent, no sepsis or coagulopathy, no untreated chemical dependency)",
            url="http://functionalneurosurgery.net/indicationsforintrathecaldrugdelivery.htm",
        ),
        "idd-patient-selection": Source(
            title="Intrathecal opioid therapy, patient selection: trial positive at a 50% reduction in baseline pain "
            "without intolerable side effects; contraindications aplastic anemia, systemic infection, allergy to "
            "pump or catheter materials, active intravenous drug abuse, coagulopathy",
            url="https://www.guwsmedical.info/stereotactic-radiosurgery/patient-selection-eoa.html",
        ),
        "pacc-2017-statements": Source(
            title="PACC 2017 consensus statements on trialing and safety, summary table 3 (PMC6442748): observe "
            ">= 6 h after a single-shot opioid trial; respiratory depression; sedatives; endocrinopathy; edema, "
            "urinary retention, nausea, pruritus",
            url="https://pmc.ncbi.nlm.nih.gov/articles/PMC6442748/table/pny132-T3",
        ),
        "pacc-2024-noncancer": Source(
            title="PACC 2024 non-cancer consensus points CP1-CP7 (CP1: psychological evaluation indicated)",
            url="https://pacc.biomech.us/?page_id=2246",
        ),
        "infumorph-label": Source(
            title="Infumorph prescribing information, eMPR: contraindications (infection at the injection site, "
            "concomitant anticoagulant therapy, uncontrolled bleeding diathesis); observe >= 24 h after a test dose",
            url="http://www.empr.com/infumorph/drug/3820/",
        ),
        "neuraxial-anticoagulation": Source(
            title="ASRA/ESRA/INS guideline on interventional spine and pain procedures in patients on antiplatelet "
            "and anticoagulant medications",
            url="https://guidelinecentral.com/guideline/8135",
        ),
        "cancer-life-expectancy": Source(
            title="Practical issues when using neuraxial infusion (1999 review): an external system if life "
            "expectancy is under 3 months, a totally implanted system if over 3 months",
            url="https://www.cancernetwork.com/view/practical-issues-when-using-neuraxial-infusion",
        ),
        "itb-eligibility": Source(
            title="Medtronic, ITB Therapy evaluation and screening test: positive screening response, no baclofen "
            "allergy, no infection, oral baclofen failed or not tolerated, traumatic brain injury at least 1 year ago",
            url="https://www.medtronic.com/in-en/patients/treatments-therapies/drug-pump-severe-spasticity/"
            "getting-therapy/evaluation-screening-test.html",
        ),
        "prialt-fda-label": Source(
            title="Ziconotide acetate (Prialt) FDA label, boxed warning: severe psychiatric symptoms and "
            "neurological impairment; contraindicated with a history of psychosis (openFDA)",
            url="https://api.fda.gov/drug/label.json?search=openfda.generic_name%3A%22Ziconotide+Acetate%22",
        ),
        "baclofen-screening-label": Source(
            title="Baclofen intrathecal dosage: screening 50, 75, 100 mcg, observe 4-8 h; non-response at 100 mcg "
            "excludes (Drugs.com)",
            url="https://www.drugs.com/dosage/baclofen.html",
        ),
        "itb-dosing-cmsc-2015": Source(
            title="Intrathecal baclofen dosing: start at 2x the effective screening dose; if the screening effect "
            "lasted more than 8 h, start at the screening dose (CMSC 2015, paper 3434)",
            url="https://cmsc.confex.com/cmsc/2015/webprogram/Paper3434.html",
        ),
        "baclofen-label": Source(
            title="Baclofen intrathecal FDA label (set id e05080ef-53d9-4060-aaa4-86a6935467de), boxed warning on "
            "abrupt discontinuation (openFDA)",
            url="https://api.fda.gov/drug/label.json?search=set_id%3A%22e05080ef-53d9-4060-aaa4-86a6935467de%22",
        ),
        "baclofen-withdrawal-signs": Source(
            title="Intrathecal baclofen withdrawal: returning spasticity, pruritus without rash, tachycardia, "
            "piloerection, then seizures, hallucinations; severe cases progress over 24-72 h",
            url="https://neurosurgerywiki.com/wiki/doku.php?do=export_xhtml&id=intrathecal_baclofen_withdrawal",
        ),
        "granuloma-management": Source(
            title="Management of intrathecal catheter-tip inflammatory masses, consensus: signs (loss of effect "
            "despite dose rises, new pain at the tip level, sensory or motor change, bladder or bowel dysfunction) "
            "and work-up",
            url="https://nebraska.pure.elsevier.com/en/publications/management-of-intrathecal-catheter-tip-"
            "inflammatory-masses-a-cons",
        ),
        "refill-second-check": Source(
            title="Pump refills and reprogramming: drain the residual and compare it with the expected volume; "
            "reprogram the reservoir volume and any new concentration or dose, and have a second experienced "
            "provider verify (concentration changes are the main source of programming errors)",
            url="https://www.pharmacologicalsciences.us/pain-management-2/pump-refills-and-reprogramming.html",
        ),
        "independent-double-check": Source(
            title="Home intrathecal pump care: remote independent double checks of programming and concentration "
            "changes prevented 60 % of clinical manifestations (Erasmus University repository)",
            url="https://repub.eur.nl/pub/119091",
        ),
        "pocket-fill-reports": Source(
            title="Pocket fills (drug injected into the pump pocket instead of the reservoir): 351 reports "
            "including 8 deaths (Medtronic letter to clinicians, Pain Medicine 2011)",
            url="http://onlinelibrary.wiley.com/doi/10.1111/j.1526-4637.2011.01090.x/abstract",
        ),
        "odi-scoring": Source(
            title="Oswestry Disability Index: 10 sections scored 0-5; a missing section lowers the denominator by "
            "5; 0-20 minimal, 21-40 moderate, 41-60 severe, 61-80 crippled, 81-100 bed-bound or exaggerating",
            url="https://asir-journal.biomedcentral.com/articles/10.1186/1750-1164-7-12/tables/1",
        ),
        "phq9": Source(
            title="PHQ-9 calculator (after Kroenke 2001): 9 items 0-3; cut-points 5, 10, 15, 20; item 9 > 0 needs "
            "urgent follow-up whatever the total",
            url="https://www.calcipedia.org/calculators/phq-9-calculator",
        ),
        "modified-ashworth": Source(
            title="SCIRE spasticity outcome measures: Modified Ashworth Scale 0, 1, 1+, 2, 3, 4",
            url="http://scireproject.com/educational-modules/case-studies/case-12-mrs-aj/spasticity-cs-12/"
            "spasticity-outcome-measures/",
        ),
        "penn-spasm": Source(
            title="NINDS common data elements: Penn Spasm Frequency Scale, frequency 0-4 and severity 1-3",
            url="https://commondataelements.ninds.nih.gov/ReportViewer.aspx?/nindscdereports/rptNOC&rs:Command="
            "Render&rc:Parameters=false&crfID=F1765",
        ),
        "ctcae-grades": Source(
            title="CTCAE grade definitions (NCI Common Terminology Criteria for Adverse Events): 1 mild, 2 moderate, "
            "3 severe or medically significant, 4 life-threatening, 5 death related to the adverse event",
            url="https://biodatamining.biomedcentral.com/articles/10.1186/s13040-015-0044-6/tables/2",
        ),
    }
)


@dataclass(frozen=True, slots=True)
class Citation:
    """A rule's source, its basis, and [U] when the rule is not confirmed by a retrieved source.

    Build one with `cite` (a key of SOURCES), `policy`, or `from_cited` (a value of a data file).
    """

    source: str
    basis: Basis
    url: str
    unconfirmed: bool = False
    note: str = ""

    @property
    def marker(self) -> str:
        return " [U]" if self.unconfirmed else ""

    def describe(self) -> str:
        """E.g. 'label, infumorph-label' or 'policy, openidds-policy [U]'."""
        return f"{self.basis}, {self.source}{self.marker}"

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "source": self.source,
            "source_url": self.url,
            "basis": self.basis,
            "unconfirmed": self.unconfirmed,
        }
        if self.note:
            out["note"] = self.note
        return out


def cite(source: str, basis: Basis, *, unconfirmed: bool = False, note: str = "") -> Citation:
    """A rule written in code, citing a key of SOURCES (an unknown key fails at import, so every test sees it)."""
    if source not in SOURCES:
        raise ValueError(f"unknown source '{source}'")
    if basis == "policy" and not unconfirmed:
        raise ValueError("a policy rule is always unconfirmed")
    return Citation(source, basis, SOURCES[source].url, unconfirmed, note)


def policy(note: str) -> Citation:
    """An OpenIDDS choice where no retrieved source gives the rule: always [U]."""
    return cite("openidds-policy", "policy", unconfirmed=True, note=note)


def from_cited(value: Cited, sources: Mapping[str, Source]) -> Citation:
    """The citation of a value in a data file, with the URL from that file's [sources]."""
    found = sources.get(value.source)
    return Citation(value.source, value.basis, found.url if found else "", value.unconfirmed, value.note)


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason shown to the care team: a stable code, clinician words and, where a source has it, the source."""

    code: str
    message: str
    citation: Citation | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.citation is not None:
            out["citation"] = self.citation.as_json()
        return out
