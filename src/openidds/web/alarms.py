"""What each pump alarm sounds like, what it means and whom to call, and the warnings of the drugs in the pump:
for the patient's pages.

From the device reference (devices.md §1.4-1.5, programmable pumps of the SynchroMed II kind); each entry keeps
its public source. The sounds of other pump families were not found in any retrieved source, so for those the
page says to ask the clinic rather than guess.

A drug's warning is shown only to a patient whose pump holds it: a drug whose sudden stop is dangerous (the drug
library's `withdrawal_risk`: baclofen) adds the never-let-it-run-empty message and its withdrawal signs, here and
to the critical alarm's advice. The signs are the patient-page words the critical alarm already used (Medtronic's
critical-alarm page), matching the library's boxed warning (high fever, altered mental status, rebound spasticity)
and the withdrawal-signs reference (returning spasticity, itching without rash, fast heart rate).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from openidds.clinic.citations import SOURCES
from openidds.drugs import Drug
from openidds.evidence import Source


@dataclass(frozen=True)
class AlarmSound:
    id: str
    name: str
    sound: str
    means: tuple[str, ...]
    call: str
    sources: tuple[tuple[str, str], ...]  # (title, url)
    # With a withdrawal-risk drug in the pump, what to do besides (a sentence; {drugs}: the names, {signs}: theirs).
    withdrawal_call: str = ""
    withdrawal_instead: bool = False  # the withdrawal call replaces `call` (it would contradict it)


PUMP_MANAGEMENT = (
    "Medtronic patient page: pump management (alarm sounds)",
    "https://www.medtronic.com/me-en/patients/treatments-therapies/drug-pump-severe-spasticity/"
    "living-with-tdd-therapy/pump-management.html",
)
ADVISORIES = (
    "Medtronic product advisories (ERI, alarm test)",
    "http://www.medtronic.com/patients/severe-spasticity/full-prescribing-information/product-advisories/index.htm",
)
CRITICAL_PAGE = (
    "Medtronic patient page: pump management, critical alarm",
    "http://www.medtronic.com/us-en/patients/treatments-therapies/drug-pump-severe-spasticity/living-with-itb-therapy/"
    "pump-management.html",
)
REPLACEMENT = (
    "Medtronic: drug pump replacement (the pump stops 90 days after ERI)",
    "https://www.medtronic.com/uk-en/patients/treatments-therapies/drug-pump-chronic-pain/living-with/"
    "drug-pumps-replacement.html",
)

PROGRAMMABLE_ALARMS: tuple[AlarmSound, ...] = (
    AlarmSound(
        "non-critical",
        "Non-critical alarm",
        "a one-second single tone: one beep, repeating about once an hour",
        (
            "the reservoir is low: the pump needs a refill soon",
            "the elective replacement indicator (ERI): the battery is near its end, and the pump must be replaced "
            "within 90 days (it stops 90 days after ERI)",
        ),
        "Call your pump clinic today, or on the next working day, to book a refill or a replacement. "
        "Do not wait for the next planned visit.",
        (PUMP_MANAGEMENT, ADVISORIES, REPLACEMENT),
        "With {drugs} in your pump, call your pump clinic the same day the alarm sounds (out of hours, at a weekend "
        "or on a holiday: the on-call number) to book a refill or a replacement: the pump must never run empty. "
        "Do not wait for the next planned visit.",
        True,
    ),
    AlarmSound(
        "critical",
        "Critical alarm",
        "a three-second two-tone (dual-tone) sound",
        (
            "the medicine is no longer flowing: the pump is empty, has reached its end of service, or has a problem "
            "such as a motor stall",
        ),
        "Call your pump clinic now. If you cannot reach them, or you have trouble breathing, call your local "
        "emergency number.",
        (CRITICAL_PAGE,),
        "With {drugs} in your pump: if you have signs of withdrawal ({signs}), call your local emergency number: "
        "stopping intrathecal {drugs} suddenly can be life-threatening.",
    ),
)
ALARM_TEST = (
    "Your clinic can play both sounds on its programmer so that you learn them: ask at your next visit.",
    ADVISORIES,
)


# --- the drugs' own warnings ----------------------------------------------------------------------------------------
# The withdrawal signs in a patient's words, per drug with a withdrawal risk: the critical alarm's words (Medtronic's
# critical-alarm page) and the references they match (the drug library's boxed warning, the withdrawal-signs source).
WITHDRAWAL_SIGNS: Mapping[str, str] = {
    "baclofen": "itching, fever, fast heartbeat, returning stiffness or spasms, confusion",
}
WITHDRAWAL_SIGNS_SOURCE = "baclofen-withdrawal-signs"  # clinic.citations
NEVER_EMPTY = (
    "Never let your pump run empty: stopping intrathecal {drug} suddenly can be life-threatening. Keep every refill "
    "visit, and call the clinic the day your pump's alarm sounds."
)


@dataclass(frozen=True)
class DrugWarning:
    """What a patient with this drug in the pump must know: never let it run empty, and the signs of withdrawal."""

    drug: str  # the library's name
    never_empty: str
    signs: str  # in the patient's words, or the library's warning when there are none for this drug
    act: str
    sources: tuple[tuple[str, str], ...]  # (title, url)


def drug_warnings(drugs: Sequence[Drug], library_sources: Mapping[str, Source]) -> tuple[DrugWarning, ...]:
    """The warnings of the drugs in the pump whose sudden stop is dangerous (the library's withdrawal_risk)."""
    out: list[DrugWarning] = []
    for d in drugs:
        risk = d.withdrawal_risk
        if risk is None:
            continue
        sources = [(library_sources[risk.source].title, library_sources[risk.source].url)]
        signs = WITHDRAWAL_SIGNS.get(d.name)
        if signs is None:  # no patient words for this drug: the library's own warning, as written
            signs = risk.message
        else:
            cited = SOURCES[WITHDRAWAL_SIGNS_SOURCE]
            sources += [(CRITICAL_PAGE[0], CRITICAL_PAGE[1]), (cited.title, cited.url)]
        out.append(
            DrugWarning(
                d.name,
                NEVER_EMPTY.format(drug=d.name),
                signs,
                "If you have signs of withdrawal, call your local emergency number.",
                tuple(sources),
            )
        )
    return tuple(out)


def sounds_for(warnings: Sequence[DrugWarning]) -> tuple[AlarmSound, ...]:
    """The alarms, with what each means for the withdrawal-risk drugs in this patient's pump (none: as written)."""
    if not warnings:
        return PROGRAMMABLE_ALARMS
    drugs = " and ".join(w.drug for w in warnings)
    signs = "; ".join(w.signs for w in warnings)
    out = []
    for a in PROGRAMMABLE_ALARMS:
        extra = a.withdrawal_call.format(drugs=drugs, signs=signs)
        out.append(a if not extra else replace(a, call=extra if a.withdrawal_instead else f"{a.call} {extra}"))
    return tuple(out)
