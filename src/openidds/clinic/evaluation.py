"""Candidate evaluation: the checklist before an intrathecal trial or implant, and what it means.

Every answer is yes (True), no (False) or unknown (None); unknown is never read as yes. The outcome:

- **not-eligible**: an answer shows a contraindication — active infection; uncorrected coagulopathy; anticoagulant
  or antiplatelet medicines without a hold-and-restart plan; active substance misuse; life expectancy under
  3 months (an implanted pump; an external system may fit); no planned drug left once allergies (and, for
  ziconotide, a history of psychosis) are taken out; or a required wait after the injury not yet over (traumatic
  brain injury: 1 year).
- **needs-review**: no contraindication, but an item is unknown or not met (conservative treatment has not failed,
  further surgery is indicated, the psychological evaluation is not done or did not clear the patient, a planned
  drug must be dropped, expectations are unrealistic, no commitment to refills and follow-up …). These are
  judgements the team makes, not contraindications.
- **eligible**: every item is met or does not apply.

Each item cites its source; items no retrieved source gives are OpenIDDS policy, marked [U].
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, get_args

from openidds.clinic.citations import Citation, cite, from_cited, policy
from openidds.clinic.followup import psychiatric_risk_drugs, withdrawal_risk_drugs
from openidds.clinic.indications import Indication, IndicationCatalog
from openidds.drugs import Drug, DrugLibrary
from openidds.errors import InputError
from openidds.quantities import TIME, Quantity, parse_quantity

if TYPE_CHECKING:
    from openidds.clinic.chart_check import ChartFacts

Eligibility = Literal["eligible", "not-eligible", "needs-review"]
# met: fine; not-applicable: not asked for this indication or plan; needs-review: the team must decide or find out;
# contraindication: rules the therapy out now.
ItemStatus = Literal["met", "not-applicable", "needs-review", "contraindication"]
PsychEvaluation = Literal["cleared", "not-cleared", "not-done"]
PSYCH_EVALUATIONS: tuple[PsychEvaluation, ...] = get_args(PsychEvaluation)

SELECTION = cite("idd-selection-criteria", "literature")
ITB_ELIGIBILITY = cite("itb-eligibility", "label")
PSYCH = cite("pacc-2024-noncancer", "consensus", note="CP1: psychological evaluation indicated (non-cancer pain).")
INFECTION = cite("infumorph-label", "label", note="Infection at the injection site is a contraindication.")
BLEEDING = cite("infumorph-label", "label", note="Uncontrolled bleeding diathesis is a contraindication.")
ANTICOAGULANTS = cite("infumorph-label", "label", note="Concomitant anticoagulant therapy is a contraindication.")
ANTICOAGULATION_PLAN = cite("neuraxial-anticoagulation", "consensus", note="Drug-specific hold and restart times.")
ALLERGY = cite(
    "itb-eligibility",
    "label",
    note="Stated for baclofen (no hypersensitivity to baclofen); applied to every planned drug.",
)
PSYCHOSIS = cite("prialt-fda-label", "label", note="Ziconotide is contraindicated with any history of psychosis.")
SUBSTANCE_MISUSE = cite("idd-patient-selection", "literature", note="Active intravenous drug abuse contraindicates.")
LIFE_EXPECTANCY = cite("cancer-life-expectancy", "literature", note="External system under 3 months, implanted over.")
EXPECTATIONS = policy("No retrieved source states this item; it follows common practice in patient selection.")
COMMITMENT = policy(
    "No retrieved source states this item as a criterion; missed refills of baclofen can kill (baclofen label)."
)


@dataclass(frozen=True, slots=True)
class Candidate:
    """The checklist answers for one candidate. Leave an answer as None until it is known."""

    indication: str  # an id of the indications catalog, e.g. "failed-back-surgery-syndrome"
    planned_drugs: tuple[str, ...]  # names in the drug library, e.g. ("morphine", "bupivacaine")
    conservative_therapy_failed: bool | None = None
    further_surgery_indicated: bool | None = None
    psychological_evaluation: PsychEvaluation | None = None
    active_infection: bool | None = None
    uncorrected_coagulopathy: bool | None = None
    on_anticoagulants: bool | None = None  # anticoagulant or antiplatelet medicines
    anticoagulation_plan: bool | None = None  # a documented hold-and-restart plan
    allergies: tuple[str, ...] | None = None  # () means none known; None means not yet asked
    psychosis_history: bool | None = None  # asked when a planned drug is contraindicated with it (ziconotide)
    active_substance_misuse: bool | None = None
    life_expectancy_3_months_or_more: bool | None = None
    realistic_expectations: bool | None = None
    committed_to_refills_and_follow_up: bool | None = None
    time_since_onset: Quantity | str | None = None  # e.g. "2 years"; asked when the indication has a wait


@dataclass(frozen=True, slots=True)
class ChecklistItem:
    item: str  # stable id, e.g. "active-infection"
    question: str
    answer: str  # as recorded: "yes", "no", "unknown", or the text given
    status: ItemStatus
    message: str  # why, in clinician words
    citation: Citation | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "item": self.item,
            "question": self.question,
            "answer": self.answer,
            "status": self.status,
            "message": self.message,
        }
        if self.citation is not None:
            out["citation"] = self.citation.as_json()
        return out


_STATUS_RANK: dict[ItemStatus, int] = {"contraindication": 0, "needs-review": 1, "met": 2, "not-applicable": 3}


@dataclass(frozen=True, slots=True)
class Evaluation:
    status: Eligibility
    indication: Indication
    items: tuple[ChecklistItem, ...]

    @property
    def reasons(self) -> tuple[ChecklistItem, ...]:
        """The items behind the status: contraindications first, then what needs review."""
        open_items = [i for i in self.items if i.status in ("contraindication", "needs-review")]
        return tuple(sorted(open_items, key=lambda i: _STATUS_RANK[i.status]))

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "indication": {"id": self.indication.id, "display_name": self.indication.display_name},
            "reasons": [i.as_json() for i in self.reasons],
            "items": [i.as_json() for i in self.items],
        }


def evaluate_candidate(
    candidate: Candidate,
    *,
    indications: IndicationCatalog,
    library: DrugLibrary,
    chart: ChartFacts | None = None,
) -> Evaluation:
    """Work through the checklist: each item's status and reason, and the overall outcome (see module doc).

    With the chart's facts (clinic.chart_check): an unknown answer takes the chart's value; an answer that
    contradicts the chart makes its item need review, with both values (unless it already contraindicates)."""
    reading = None
    if chart is not None:
        from openidds.clinic.chart_check import read_chart  # chart_check reads Candidate from here

        reading = read_chart(candidate, chart)
        candidate = reading.candidate
    indication = indications.indication(candidate.indication, "indication")
    drugs = _planned_drugs(candidate.planned_drugs, library)
    for name in (
        "conservative_therapy_failed",
        "further_surgery_indicated",
        "active_infection",
        "uncorrected_coagulopathy",
        "on_anticoagulants",
        "anticoagulation_plan",
        "psychosis_history",
        "active_substance_misuse",
        "life_expectancy_3_months_or_more",
        "realistic_expectations",
        "committed_to_refills_and_follow_up",
    ):
        _check_answer(getattr(candidate, name), name)
    psych = candidate.psychological_evaluation
    if psych is not None and psych not in PSYCH_EVALUATIONS:
        raise InputError(
            "psychological_evaluation",
            f"expected one of {', '.join(PSYCH_EVALUATIONS)} or unknown (null), got {psych!r}",
        )
    allergies = _allergies(candidate.allergies)

    by_allergy = excluded_by_allergy(drugs, allergies) if allergies is not None else {}
    psychosis_drugs = psychiatric_risk_drugs(drugs)
    by_psychosis = psychosis_drugs if candidate.psychosis_history is True else ()
    left = [d.name for d in drugs if d.name not in by_allergy and d.name not in by_psychosis]

    items = [
        _conservative(candidate.conservative_therapy_failed, indication),
        _surgery(candidate.further_surgery_indicated, indication),
        _psych(candidate.psychological_evaluation, indication),
        _infection(candidate.active_infection, indication),
        _coagulopathy(candidate.uncorrected_coagulopathy),
        _anticoagulation(candidate.on_anticoagulants, candidate.anticoagulation_plan),
        _allergy(candidate.allergies, by_allergy, left),
        _psychosis(candidate.psychosis_history, psychosis_drugs, left),
        _fit(drugs, indication),
        _substance_misuse(candidate.active_substance_misuse),
        _life_expectancy(candidate.life_expectancy_3_months_or_more),
        _expectations(candidate.realistic_expectations),
        _commitment(candidate.committed_to_refills_and_follow_up, drugs),
    ]
    if indication.wait_after_onset is not None:
        items.append(_wait(candidate.time_since_onset, indication, indications))
    if reading is not None:
        items = [_against_chart(i, reading.conflicts.get(i.item), reading.from_chart.get(i.item)) for i in items]

    statuses = {i.status for i in items}
    status: Eligibility = (
        "not-eligible"
        if "contraindication" in statuses
        else "needs-review"
        if "needs-review" in statuses
        else "eligible"
    )
    return Evaluation(status, indication, tuple(items))


def _against_chart(item: ChecklistItem, conflict: str | None, from_chart: str | None) -> ChecklistItem:
    if conflict is not None:
        status: ItemStatus = "contraindication" if item.status == "contraindication" else "needs-review"
        return replace(item, status=status, message=f"{conflict} ({item.message})", citation=item.citation)
    if from_chart is not None:
        return replace(item, answer=f"{item.answer} (from the chart)", message=f"{item.message}; {from_chart}")
    return item


# --- input --------------------------------------------------------------------------------------------------------


def _check_answer(value: object, field: str) -> None:
    if value is not None and not isinstance(value, bool):
        raise InputError(field, f"expected yes (true), no (false) or unknown (null), got {value!r}")


def _words(value: bool | None) -> str:
    return "unknown" if value is None else "yes" if value else "no"


def _planned_drugs(names: object, library: DrugLibrary) -> list[Drug]:
    if not isinstance(names, tuple | list) or not names:
        raise InputError("planned_drugs", "name at least one planned drug")
    drugs: list[Drug] = []
    for i, name in enumerate(names):
        if not isinstance(name, str):
            raise InputError(f"planned_drugs[{i}]", f"expected a drug name, got {name!r}")
        drug = library.drug(name, f"planned_drugs[{i}]")
        if drug in drugs:
            raise InputError(f"planned_drugs[{i}]", f"{drug.name} is listed twice")
        drugs.append(drug)
    return drugs


def _allergies(allergies: object) -> tuple[str, ...] | None:
    if allergies is None:
        return None
    if not isinstance(allergies, tuple | list):
        raise InputError("allergies", f"expected a list of allergies ([] for none known), got {allergies!r}")
    for i, entry in enumerate(allergies):
        if not isinstance(entry, str) or not entry.strip():
            raise InputError(f"allergies[{i}]", f"expected the name of an allergen, got {entry!r}")
    return tuple(allergies)


def _normalise(entry: str) -> str:
    """'Mórphine (hives)' → 'morphine': the allergen, without the reaction note, accents, case or extra spaces."""
    text = re.sub(r"\([^)]*\)", " ", entry.casefold())
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " ".join(text.replace("-", " ").split()).strip(" .,;:")


allergen_key = _normalise  # one reading of an allergy entry, for the chart's check too


OPIOID_WORDS = frozenset({"opioid", "opioids", "opiate", "opiates", "narcotic", "narcotics"})


def _allergy_terms(drug: Drug) -> set[str]:
    """Names an allergy list may use for a drug: its name, its brand names and those of its products, its class
    (and, for an opioid, 'opiate' or 'narcotic')."""
    terms = {drug.name, _normalise(drug.display_name), *(_normalise(a) for a in drug.also_known_as)}
    for f in drug.formulations:
        brand = _normalise(f.product).split(" ")[0]
        if brand:
            terms.add(brand)
    cls = drug.drug_class.replace("-", " ")
    terms |= {cls, cls + "s"}
    if drug.is_opioid:
        terms |= OPIOID_WORDS
    return terms


def excluded_by_allergy(drugs: list[Drug], allergies: tuple[str, ...]) -> dict[str, str]:
    """Planned drug → the allergy entry that excludes it: an entry that is one of the drug's names, or holds one as
    a whole word ('morphine sulfate', 'MS Contin tablets'): an allergy is never read narrowly."""
    found: dict[str, str] = {}
    for drug in drugs:
        terms = _allergy_terms(drug)
        for entry in allergies:
            key = _normalise(entry)
            if (
                key in terms
                or key.removesuffix("s") in terms
                or any(re.search(rf"\b{re.escape(t)}\b", key) for t in terms if t)
            ):
                found[drug.name] = entry
                break
    return found


# --- items --------------------------------------------------------------------------------------------------------


def _yes_no(
    item: str,
    question: str,
    value: bool | None,
    citation: Citation,
    *,
    met_when: bool,
    met: str,
    not_met: str,
    unknown: str,
    not_met_status: ItemStatus = "needs-review",
) -> ChecklistItem:
    """A yes/no item: met when the answer is `met_when`, `not_met_status` on the other answer, unknown: review."""
    if value is None:
        return ChecklistItem(item, question, "unknown", "needs-review", unknown, citation)
    if value is met_when:
        return ChecklistItem(item, question, _words(value), "met", met, citation)
    return ChecklistItem(item, question, _words(value), not_met_status, not_met, citation)


def _conservative(value: bool | None, ind: Indication) -> ChecklistItem:
    if ind.therapy == "spasticity":
        question = "Has oral baclofen (with other conservative treatment) failed or caused intolerable side effects?"
        citation, what = ITB_ELIGIBILITY, "spasticity"
    else:
        question = "Have conservative treatments failed to relieve the pain or caused intolerable side effects?"
        citation, what = SELECTION, "pain"
    return _yes_no(
        "conservative-therapy-failed",
        question,
        value,
        citation,
        met_when=True,
        met="conservative treatment failed",
        not_met=f"conservative treatment has not failed: intrathecal therapy is for {what} it cannot control; "
        "record why intrathecal therapy is needed now",
        unknown="unknown: record whether conservative treatment failed",
    )


def _surgery(value: bool | None, ind: Indication) -> ChecklistItem:
    question = "Is further corrective surgery indicated?"
    if ind.therapy != "pain":
        return ChecklistItem(
            "further-surgery-indicated",
            question,
            _words(value),
            "not-applicable",
            "asked for pain; the selection criterion comes from pain practice",
            SELECTION,
        )
    return _yes_no(
        "further-surgery-indicated",
        question,
        value,
        SELECTION,
        met_when=False,
        met="no further surgery is indicated",
        not_met="a surgical option remains: the team and the surgeon decide before intrathecal therapy",
        unknown="unknown: record whether further surgery is indicated",
    )


def _psych(value: PsychEvaluation | None, ind: Indication) -> ChecklistItem:
    question = "Psychological evaluation: done and cleared?"
    answer = value or "unknown"
    required = "pain-noncancer" in ind.care_areas
    if value == "cleared":
        return ChecklistItem(
            "psychological-evaluation", question, answer, "met", "psychological evaluation cleared", PSYCH
        )
    if value == "not-cleared":
        return ChecklistItem(
            "psychological-evaluation",
            question,
            answer,
            "needs-review",
            "the psychological evaluation did not clear the patient: the team reviews its findings before going on",
            PSYCH,
        )
    if not required:
        return ChecklistItem(
            "psychological-evaluation",
            question,
            answer,
            "not-applicable",
            f"required for non-cancer pain; not required by the reference for {', '.join(ind.care_areas)}",
            PSYCH,
        )
    message = (
        "not done yet: a psychological evaluation comes before intrathecal therapy for non-cancer pain"
        if value == "not-done"
        else "unknown: record the psychological evaluation (required for non-cancer pain)"
    )
    return ChecklistItem("psychological-evaluation", question, answer, "needs-review", message, PSYCH)


def _infection(value: bool | None, ind: Indication) -> ChecklistItem:
    return _yes_no(
        "active-infection",
        "Active infection (systemic, or at the trial or implant site)?",
        value,
        ITB_ELIGIBILITY if ind.therapy == "spasticity" else INFECTION,
        met_when=False,
        met="no active infection",
        not_met="active infection: no trial or implant until it has been treated and has cleared",
        not_met_status="contraindication",
        unknown="unknown: screen for infection",
    )


def _coagulopathy(value: bool | None) -> ChecklistItem:
    return _yes_no(
        "coagulopathy",
        "Uncorrected coagulopathy (bleeding disorder)?",
        value,
        BLEEDING,
        met_when=False,
        met="no uncorrected coagulopathy",
        not_met="uncorrected bleeding disorder: correct it before any intrathecal procedure",
        not_met_status="contraindication",
        unknown="unknown: check coagulation",
    )


def _anticoagulation(on: bool | None, plan: bool | None) -> ChecklistItem:
    question = "On anticoagulant or antiplatelet medicines, and if so, is there a hold-and-restart plan?"
    if on is False:
        return ChecklistItem(
            "anticoagulation", question, "no", "met", "not on anticoagulant or antiplatelet medicines", ANTICOAGULANTS
        )
    if on is None:
        return ChecklistItem(
            "anticoagulation",
            question,
            "unknown",
            "needs-review",
            "unknown: record anticoagulant and antiplatelet medicines",
            ANTICOAGULANTS,
        )
    answer = f"yes; plan: {_words(plan)}"
    if plan is True:
        return ChecklistItem(
            "anticoagulation",
            question,
            answer,
            "met",
            "on anticoagulants with a documented hold-and-restart plan",
            ANTICOAGULATION_PLAN,
        )
    if plan is False:
        return ChecklistItem(
            "anticoagulation",
            question,
            answer,
            "contraindication",
            "on anticoagulants without a plan: concomitant anticoagulation contraindicates neuraxial therapy; "
            "make a drug-specific hold-and-restart plan (ASRA/ESRA/INS) first",
            ANTICOAGULANTS,
        )
    return ChecklistItem(
        "anticoagulation",
        question,
        answer,
        "needs-review",
        "on anticoagulants: record whether a hold-and-restart plan is in place",
        ANTICOAGULATION_PLAN,
    )


def _allergy(allergies: tuple[str, ...] | None, excluded: dict[str, str], left: list[str]) -> ChecklistItem:
    question = "Allergic to any planned drug?"
    if allergies is None:
        return ChecklistItem(
            "allergy",
            question,
            "unknown",
            "needs-review",
            "allergy list unknown: record allergies (or none known) before planning drugs",
            ALLERGY,
        )
    answer = ", ".join(allergies) if allergies else "none known"
    if not excluded:
        return ChecklistItem("allergy", question, answer, "met", "no allergy to a planned drug", ALLERGY)
    named = ", ".join(f"{drug} ('{entry}')" for drug, entry in excluded.items())
    if not left:
        return ChecklistItem(
            "allergy",
            question,
            answer,
            "contraindication",
            f"allergic to {named}: no planned drug remains",
            ALLERGY,
        )
    return ChecklistItem(
        "allergy",
        question,
        answer,
        "needs-review",
        f"allergic to {named}: take it out of the plan",
        ALLERGY,
    )


def _psychosis(value: bool | None, drugs: tuple[str, ...], left: list[str]) -> ChecklistItem:
    question = "Any history of psychosis?"
    names = ", ".join(drugs)
    if not drugs:
        return ChecklistItem(
            "psychosis-history",
            question,
            _words(value),
            "not-applicable",
            "asked only when a planned drug is contraindicated with psychosis (ziconotide)",
            PSYCHOSIS,
        )
    if value is False:
        return ChecklistItem("psychosis-history", question, "no", "met", "no history of psychosis", PSYCHOSIS)
    if value is None:
        return ChecklistItem(
            "psychosis-history",
            question,
            "unknown",
            "needs-review",
            f"unknown: {names} is contraindicated with any history of psychosis; ask before planning it",
            PSYCHOSIS,
        )
    if not left:
        return ChecklistItem(
            "psychosis-history",
            question,
            "yes",
            "contraindication",
            f"history of psychosis: {names} is contraindicated, and no planned drug remains",
            PSYCHOSIS,
        )
    return ChecklistItem(
        "psychosis-history",
        question,
        "yes",
        "needs-review",
        f"history of psychosis: {names} is contraindicated; take it out of the plan",
        PSYCHOSIS,
    )


def _fit(drugs: list[Drug], ind: Indication) -> ChecklistItem:
    question = "Does the drug library cover each planned drug for this indication?"
    answer = ", ".join(d.name for d in drugs)
    missing = [d.name for d in drugs if not any(area in d.care_areas for area in ind.care_areas)]
    areas = ", ".join(ind.care_areas)
    if not missing:
        return ChecklistItem(
            "drugs-fit-indication", question, answer, "met", f"every planned drug has limits for {areas}"
        )
    return ChecklistItem(
        "drugs-fit-indication",
        question,
        answer,
        "needs-review",
        f"{', '.join(missing)}: no limits for {areas} in the drug library, so it cannot be checked or programmed "
        "for this indication",
    )


def _substance_misuse(value: bool | None) -> ChecklistItem:
    return _yes_no(
        "substance-misuse",
        "Active substance misuse (e.g. intravenous drug use) or untreated chemical dependency?",
        value,
        SUBSTANCE_MISUSE,
        met_when=False,
        met="no active substance misuse",
        not_met="active substance misuse contraindicates an implanted drug system",
        not_met_status="contraindication",
        unknown="unknown: record substance use",
    )


def _life_expectancy(value: bool | None) -> ChecklistItem:
    return _yes_no(
        "life-expectancy",
        "Life expectancy at least 3 months (for an implanted pump)?",
        value,
        LIFE_EXPECTANCY,
        met_when=True,
        met="life expectancy at least 3 months",
        not_met="life expectancy under 3 months: an implanted pump is not advised; consider an external system",
        not_met_status="contraindication",
        unknown="unknown: record whether life expectancy is at least 3 months",
    )


def _expectations(value: bool | None) -> ChecklistItem:
    return _yes_no(
        "realistic-expectations",
        "Realistic expectations of the therapy (less pain or spasticity, not none)?",
        value,
        EXPECTATIONS,
        met_when=True,
        met="expectations are realistic",
        not_met="expectations are not realistic: discuss the goals of therapy before going on",
        unknown="unknown: discuss and record the patient's expectations",
    )


def _commitment(value: bool | None, drugs: list[Drug]) -> ChecklistItem:
    risky = withdrawal_risk_drugs(drugs)
    danger = f"; a missed refill of {', '.join(risky)} can cause life-threatening withdrawal" if risky else ""
    return _yes_no(
        "committed-to-follow-up",
        "Committed to refills and follow-up visits?",
        value,
        COMMITMENT,
        met_when=True,
        met="committed to refills and follow-up",
        not_met=f"not committed to refills and follow-up{danger}",
        unknown=f"unknown: ask whether the patient can keep refill and follow-up visits{danger}",
    )


def _wait(value: Quantity | str | None, ind: Indication, catalog: IndicationCatalog) -> ChecklistItem:
    wait = ind.wait_after_onset
    assert wait is not None
    citation = from_cited(wait, catalog.sources)
    shown = wait.value.format()
    question = f"Time since the injury or onset (at least {shown})?"
    if value is None:
        return ChecklistItem(
            "time-since-onset",
            question,
            "unknown",
            "needs-review",
            f"unknown: record when the injury happened (at least {shown} must have passed)",
            citation,
        )
    since = value if isinstance(value, Quantity) else parse_quantity(value, TIME, "time_since_onset")
    if not since.is_kind(TIME):
        raise InputError("time_since_onset", f"expected a time such as '2 years', got '{since}'")
    if since.value < 0:
        raise InputError("time_since_onset", f"cannot be negative, got '{since}'")
    if since >= wait.value:
        return ChecklistItem(
            "time-since-onset", question, str(since), "met", f"at least {shown} since the injury", citation
        )
    return ChecklistItem(
        "time-since-onset",
        question,
        str(since),
        "contraindication",
        f"only {since} since the injury: {ind.display_name.lower()} needs at least {shown} before long-term therapy",
        citation,
    )
