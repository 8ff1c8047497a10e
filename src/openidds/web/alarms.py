"""What each pump alarm sounds like, what it means and whom to call: for the patient's page.

From the device reference (devices.md §1.4-1.5, programmable pumps of the SynchroMed II kind); each entry keeps
its public source. The sounds of other pump families were not found in any retrieved source, so for those the
page says to ask the clinic rather than guess.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AlarmSound:
    id: str
    name: str
    sound: str
    means: tuple[str, ...]
    call: str
    sources: tuple[tuple[str, str], ...]  # (title, url)


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
    ),
    AlarmSound(
        "critical",
        "Critical alarm",
        "a three-second two-tone (dual-tone) sound",
        (
            "the medicine is no longer flowing: the pump is empty, has reached its end of service, or has a problem "
            "such as a motor stall",
        ),
        "Call your pump clinic now. If you cannot reach them, or you have signs of withdrawal (with baclofen: "
        "itching, fever, fast heartbeat, returning stiffness or spasms, confusion) or trouble breathing, call your "
        "local emergency number: stopping intrathecal baclofen suddenly can be life-threatening.",
        (CRITICAL_PAGE,),
    ),
)
ALARM_TEST = (
    "Your clinic can play both sounds on its programmer so that you learn them: ask at your next visit.",
    ADVISORIES,
)
