"""How numbers, times and refusals are written for people: one policy for the API's text, the web and the CLI.

Pure: no I/O, no clock. What a person reads is rounded here; what a program reads (JSON, an HTML attribute, a
form's value) keeps the exact value.

- A volume is shown to 0.1 mL, rounded half up ('14.3 mL'); the exact value stays in the JSON and on hover.
- A dose (and any other number) to 3 significant figures ('5.25 mg/day', '0.0525 mg'), whole units in full
  ('1255 mcg/day', never '1260': rounding never changes the units a clinician counts).
- An instant on the wall clock of the clinic's (or the patient's) zone, with that zone's abbreviation at that
  instant ('1 Dec 2026 14:05 CST', '1 Jul 2027 10:00 CDT'): never UTC beside a local time, never an ISO string.
- A refusal names its field in the words a clinician uses ('The volume filled: …'), never by its code
  ('filled_ml', 'doses[0]'); the code stays in the JSON (`field`) and in HTML attributes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from openidds.errors import InputError
from openidds.quantities.units import VOLUME, Quantity, Unit, format_number, unit

Number = Fraction | int | float | Decimal | str
NONE: Final = "—"  # what is shown for a value that is not there

# Month and weekday names fixed here: strftime's %b and %a follow the server's locale.
_MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_WEEKDAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


# --- numbers --------------------------------------------------------------------------------------------------------
def exact(value: Number) -> Fraction:
    """A number as an exact fraction; a float as the decimal it prints as (0.15 is 15/100, not 0.1499…)."""
    if isinstance(value, float):
        return Fraction(repr(value))
    return Fraction(value)


def _ml(value: Quantity | Number) -> Fraction:
    if isinstance(value, Quantity):
        return value.to("mL")  # a mass or a rate is refused here (UnitMismatchError), never shown as a volume
    return exact(value)


def _trim(text: str) -> str:
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def volume_number(value: Quantity | Number) -> str:
    """The number of mL to 0.1 mL, half up (away from zero): 14.25 → '14.3', 0.05 → '0.1', 40 → '40'."""
    ml = _ml(value)
    tenths = (abs(ml) * 20 + 1) // 2  # floor(|ml| × 10 + ½)
    sign = "-" if ml < 0 and tenths else ""
    whole, rest = divmod(tenths, 10)
    return f"{sign}{whole}" + (f".{rest}" if rest else "")


def volume(value: Quantity | Number | None) -> str:
    """A volume for reading, to 0.1 mL: '14.3 mL' (a Quantity of volume, or a number of mL)."""
    return NONE if value is None or value == "" else f"{volume_number(value)} mL"


def volume_exact(value: Quantity | Number | None) -> str:
    """The volume as recorded, for a hover or a footnote: '4.49577 mL' (exact when short, else 6 figures)."""
    return NONE if value is None or value == "" else f"{format_number(_ml(value), 6)} mL"


def number(value: Number | None, significant: int = 3) -> str:
    """A number for reading: `significant` figures, half up, whole units in full and no exponent.

    0.0525 → '0.0525', 52.5 → '52.5', 5.255 → '5.26', 2/3 → '0.667', 1250 → '1250', 1255 → '1255'."""
    if value is None or value == "":
        return NONE
    x = exact(value)
    if x == 0:
        return "0"
    digits = max(significant, len(str(abs(x.numerator) // x.denominator)))  # never round away whole units
    with localcontext() as ctx:
        ctx.prec, ctx.rounding = digits, ROUND_HALF_UP
        rounded = Decimal(x.numerator) / Decimal(x.denominator)  # correctly rounded to `digits` figures
    return _trim(f"{rounded:f}")


def _unit(symbol: str | Unit) -> Unit:
    return symbol if isinstance(symbol, Unit) else unit(symbol)


def dose(value: Quantity | Number | None, symbol: str | Unit | None = None) -> str:
    """A dose or dose rate to 3 significant figures, in `symbol` (default: the quantity's own unit):
    '5.25 mg/day', '0.0525 mg', '1250 mcg/day'. A plain number needs its unit."""
    if value is None or value == "":
        return NONE
    if isinstance(value, Quantity):
        u = value.unit if symbol is None else _unit(symbol)
        magnitude = value.to(u)
    else:
        if symbol is None:
            raise TypeError("a dose given as a number needs its unit")
        u, magnitude = _unit(symbol), exact(value)
    return f"{number(magnitude)} {u.symbol}".rstrip()


def quantity(value: Quantity | None) -> str:
    """Any quantity for reading: a volume to 0.1 mL, anything else to 3 significant figures."""
    if value is None:
        return NONE
    return volume(value) if value.is_kind(VOLUME) else dose(value)


# --- times ----------------------------------------------------------------------------------------------------------
def zone(name: str | tzinfo | None) -> tzinfo:
    """A time zone from its IANA name (UTC when none is given or the name is unknown)."""
    if isinstance(name, tzinfo):
        return name
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _local(at: datetime, where: str | tzinfo | None) -> datetime:
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)  # the core's instants are UTC
    return aware.astimezone(zone(where))


def _date(local: datetime) -> str:
    return f"{local.day} {_MONTHS[local.month - 1]} {local.year}"


def instant(at: datetime | None, where: str | tzinfo | None) -> str:
    """An instant on the zone's wall clock, with the zone's abbreviation at that instant: '1 Dec 2026 14:05 CST'
    (and '1 Jul 2027 10:00 CDT'; in the repeated hour of a change back, 01:30 CDT and then 01:30 CST)."""
    if at is None:
        return NONE
    local = _local(at, where)
    return f"{_date(local)} {local:%H:%M} {local.tzname()}"


def clock(at: datetime | None, where: str | tzinfo | None) -> str:
    """The time of day alone, beside a day already shown: '14:05 CST'."""
    if at is None:
        return NONE
    local = _local(at, where)
    return f"{local:%H:%M} {local.tzname()}"


def sortable(at: datetime | None, where: str | tzinfo | None) -> str:
    """An instant for a file a spreadsheet sorts (a CSV export): '2026-12-01 14:05 CST', the same wall clock."""
    if at is None:
        return ""
    local = _local(at, where)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def day(at: datetime | None, where: str | tzinfo | None) -> str:
    """The day an instant falls on in the zone: 'Tue 1 Dec 2026'."""
    if at is None:
        return NONE
    local = _local(at, where)
    return f"{_WEEKDAYS[local.weekday()]} {_date(local)}"


def calendar_day(value: date | None) -> str:
    """A clinic day (a date, no instant): 'Tue 1 Dec 2026'."""
    if value is None:
        return NONE
    return f"{_WEEKDAYS[value.weekday()]} {value.day} {_MONTHS[value.month - 1]} {value.year}"


def through(at: datetime | None, where: str | tzinfo | None) -> str:
    """An expiry kept as the midnight it ends at, as the last day it is good for: 'through Thu 31 Dec 2026'
    (an expiry at another time of day: 'until 31 Dec 2026 18:00 CST')."""
    if at is None:
        return NONE
    local = _local(at, where)
    if (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0):
        return "through " + day(local - timedelta(microseconds=1), where)
    return "until " + instant(at, where)


def duration(span: int | timedelta | Quantity) -> str:
    """A wait as people read it: '4 h 0 min', '3 h 59 min', '45 min', '0 min' (never '240 min'). An int is whole
    minutes; a timedelta or a Quantity of time counts its minutes rounded up (a wait of 239 min 30 s is not over
    after 239 min; a bridge of 13.7974 h is '13 h 48 min')."""
    if isinstance(span, Quantity):
        minutes = math.ceil(span.to("min"))
    elif isinstance(span, timedelta):
        minutes = -(-span // timedelta(minutes=1))
    else:
        minutes = span
    hours, rest = divmod(max(minutes, 0), 60)
    return f"{hours} h {rest} min" if hours else f"{rest} min"


# --- fields and refusals --------------------------------------------------------------------------------------------
# The field codes the core, the service and the API raise (InputError.field, and the API's request bodies), in the
# words a clinician uses. A key is the code with its list indices written "[]"; {0}, {1} … are those indices
# counted from 1. A code not here is matched by its longest known end ("program.steps[2].rate" → "the rate" of
# step 3), and the rest of it says where ("… of step 3 in the program").
FIELD_WORDS: Final[dict[str, str]] = {
    # refills
    "filled_ml": "the volume filled",
    "withdrawn_ml": "the volume withdrawn",
    "withdrawn": "the volume withdrawn",
    "pocket_ml": "the volume that may have gone outside the reservoir",
    "pocket_fill_suspected": "whether a pocket fill is suspected",
    "volume_ml": "the volume prepared",
    "emergency_reason": "the reason to fill without the double check",
    "drug_lot": "the lot number",
    "expires_at": "the expiry or beyond-use date",
    "program_version": "the program version",
    "solution": "the solution",
    "solution[]": "drug {0} of the solution",
    "solution[].name": "drug {0} of the solution",
    "solution[].concentration": "the concentration of drug {0} of the solution",
    "cosign_username": "the second person's username",
    "cosign_password": "the second person's password",
    "refill.volume": "the volume filled",
    "refill.withdrawn": "the volume withdrawn",
    "refill.pocket": "the volume that may have gone outside the reservoir",
    # program files (the API's `document`, the first program at an implant, the CLI's files)
    "document": "the program file",
    "program": "the program",
    "program.pump.model": "the program's pump model",
    "program.reservoir.filled_at": "the program's fill time",
    "program.steps": "the program's steps",
    "program.steps[]": "step {0} of the program",
    "program.period": "the program's period (day or week)",
    "program.mode": "the program's mode",
    "drugs": "the drugs",
    "drugs[]": "drug {0}",
    "drugs[].name": "drug {0}",
    "pump": "the pump",
    "pump.model": "the pump model",
    "pump.catheter.model": "the catheter model",
    "pump.catheter.length": "the catheter length",
    "reservoir.volume": "the volume filled in the reservoir",
    "reservoir.filled_at": "the fill time",
    "reservoir.low_alarm": "the low-reservoir alarm level",
    "reservoir.timezone": "the patient's time zone",
    "patient_bolus": "the patient bolus",
    "patient_bolus.volume": "the patient bolus volume",
    "patient_bolus.dose": "the patient bolus dose",
    "patient_bolus.duration": "how long a patient bolus takes",
    "patient_bolus.lockout": "the lockout between patient boluses",
    "patient_bolus.max_per_day": "the most patient boluses a day",
    "context.opioid_naive": "whether the patient is opioid-naive",
    "context.care_area": "the care area",
    "context.last_dose_change_at": "the time of the last dose change",
    "context.planned_refill_at": "the planned refill time",
    "accuracy.factor": "the pump's accuracy",
    "bridge": "the bridge",
    "bridge_off_reason": "the reason to change without a bridge",
    "overrides": "the override reasons",
    # simulations (the CLI's scenario files)
    "simulation.start": "the start of the simulation",
    "simulation.end": "the end of the simulation",
    "simulation.report_at[]": "report time {0}",
    "events[]": "event {0}",
    "events[].at": "the time of event {0}",
    "events[].type": "the kind of event {0}",
    # logins and users
    "username": "the username",
    "password": "the password",
    "new_password": "the new password",
    "full_name": "the full name",
    "role": "the role",
    "patient_id": "the patient record",
    "patients[].patient_id": "the record of patient {0}",
    # patients
    "mrn": "the MRN",
    "family_name": "the family name",
    "given_name": "the given name",
    "birth_date": "the date of birth",
    "sex": "the sex",
    "timezone": "the time zone",
    "care_area": "the care area",
    "indications": "the indications",
    "oral_mme_per_day": "the oral morphine equivalents a day",
    "allergies": "the allergies",
    "anticoagulants": "the anticoagulants",
    "psychosis_history": "the history of psychosis",
    "life_expectancy_months": "the life expectancy",
    "version": "the version you read",
    # evaluation and trial
    "indication": "the indication",
    "planned_drugs": "the planned drugs",
    "time_since_onset": "the time since onset",
    "method": "the trial method",
    "therapy": "the therapy",
    "drug": "the drug",
    "doses": "the doses",
    "doses[]": "dose {0}",
    "doses[].dose": "dose {0}",
    "observation_hours": "the observation time",
    "effect_hours": "how long the effect lasted",
    "side_effects": "the side effects",
    "side_effects[]": "side effect {0}",
    "side_effects[].name": "side effect {0}",
    "side_effects[].intolerable": "whether side effect {0} was intolerable",
    "doses[].side_effects": "the side effects of dose {0}",
    "doses[].side_effects[]": "side effect {1} of dose {0}",
    "doses[].side_effects[].name": "side effect {1} of dose {0}",
    "doses[].side_effects[].intolerable": "whether side effect {1} of dose {0} was intolerable",
    "intolerable": "whether it was intolerable",
    "nrs": "the pain score (NRS)",
    "baseline_nrs": "the baseline pain score (NRS)",
    "ashworth": "the Ashworth grade",
    "baseline_ashworth": "the baseline Ashworth grade",
    "previous_ashworth": "the previous Ashworth grade",
    "override_reason": "the reason to go ahead",
    # implant
    "kind": "the kind of surgery",
    "pump_model": "the pump model",
    "pump_serial": "the pump's serial number",
    "catheter_model": "the catheter model",
    "catheter_length_cm": "the catheter length",
    "catheter": "the catheter",
    "length": "the catheter length",
    "tip_level": "the catheter tip level",
    "implanted_at": "the implant time",
    "surgeon": "the surgeon",
    "notes": "the notes",
    # follow-up and interrogation
    "oswestry": "the Oswestry answers",
    "phq9": "the PHQ-9 answers",
    "penn_frequency": "the spasm frequency (Penn)",
    "penn_severity": "the spasm severity (Penn)",
    "adverse_events": "the adverse events",
    "item": "the item",
    "grade": "the grade",
    "reservoir_ml": "the reservoir volume the pump reports",
    "alarms": "the alarms",
    "eri": "the replacement indicator (ERI)",
    "reported": "the drugs the pump reports",
    "reported[].daily_dose": "the daily dose the pump reports for drug {0}",
    "reported[].concentration": "the concentration the pump reports for drug {0}",
    "reported[].name": "drug {0} the pump reports",
    # flags, cancellations, audit
    "reason": "the reason",
    "resolution": "what was done",
    "records": "the records",
    # search and audit filters
    "q": "the search",
    "stage": "the stage",
    "limit": "the number of patients on a page",
    "offset": "where the page starts",
    "due_within_days": "the refill window",
    "since": "the first day",
    "until": "the last day",
    "form_token": "the form",
    "idempotency_key": "the request's key",
    "Idempotency-Key": "the request's key",
    # the ends of longer codes
    "name": "the name",
    "concentration": "the concentration",
    "rate": "the rate",
    "dose": "the dose",
    "daily_dose": "the daily dose",
    "volume": "the volume",
    "duration": "the duration",
    "lockout": "the lockout",
    "max_per_day": "the most a day",
    "low_alarm": "the low-reservoir alarm level",
    "filled_at": "the fill time",
    "model": "the model",
    "at": "the time",
    "day": "the day",
    "period": "the period",
    "mode": "the mode",
    "type": "the kind",
    "factor": "the factor",
    "start": "the start",
    "end": "the end",
    "before": "the value before",
    "after": "the value after",
    "recovery": "the recovery",
    "recovers_after": "when it recovers",
}

# One item of a list, by the list's name: "drugs[1]" is "drug 2".
ITEM_WORDS: Final[dict[str, str]] = {
    "drugs": "drug",
    "solution": "drug",
    "old": "old drug",
    "new": "new drug",
    "reported": "reported drug",
    "planned_drugs": "planned drug",
    "doses": "dose",
    "steps": "step",
    "events": "event",
    "records": "record",
    "patients": "patient",
    "allergies": "allergy",
    "anticoagulants": "anticoagulant",
    "indications": "indication",
    "adverse_events": "adverse event",
    "side_effects": "side effect",
    "oswestry": "Oswestry answer",
    "phq9": "PHQ-9 answer",
    "alarms": "alarm",
    "active_alarms": "active alarm",
    "projected_alarms": "projected alarm",
    "urgent_flags": "urgent flag",
    "review_flags": "review flag",
    "report_at": "report time",
    "formulations": "formulation",
    "ratios": "ratio",
}

# Where a field is, when a code says so before its known end ("… in the refill"); CONTAINERS add nothing.
CONTEXT_WORDS: Final[dict[str, str]] = {
    "document": "the program file",
    "program": "the program",
    "refill": "the refill",
    "reservoir": "the reservoir",
    "pump": "the pump",
    "catheter": "the catheter",
    "patient_bolus": "the patient bolus",
    "simulation": "the simulation",
    "accuracy": "the pump's accuracy",
    "bridge": "the bridge",
}
CONTAINERS: Final = frozenset({"body", "query", "path", "header", "context"})

_SEGMENT = re.compile(r"^(?P<name>[^\[\]]*)(?P<indices>(?:\[\d+\])*)$")


def _segments(code: str) -> list[tuple[str, list[int]]] | None:
    """'program.steps[2].rate' → [('program', []), ('steps', [2]), ('rate', [])]; a pydantic location's bare
    numbers ('solution.0.name') are the index of the list before them. None: not a path."""
    found: list[tuple[str, list[int]]] = []
    for part in code.split("."):
        if part.isdigit() and found:
            found[-1][1].append(int(part))
            continue
        match = _SEGMENT.match(part)
        if match is None or not match.group("name"):
            return None
        found.append((match.group("name"), [int(i) for i in re.findall(r"\d+", match.group("indices"))]))
    return found


def _key(segments: list[tuple[str, list[int]]]) -> str:
    return ".".join(name + "[]" * len(indices) for name, indices in segments)


def _item(name: str, index: int) -> str:
    return f"{ITEM_WORDS.get(name, readable(name))} {index + 1}"


def _known(segments: list[tuple[str, list[int]]]) -> str | None:
    """The words of a code end, from the table or as one item of a known list ('doses[1]' → 'dose 2')."""
    words = FIELD_WORDS.get(_key(segments))
    if words is not None:
        return words.format(*(i + 1 for _, indices in segments for i in indices))
    if len(segments) == 1 and len(segments[0][1]) == 1 and segments[0][0] in ITEM_WORDS:
        return _item(segments[0][0], segments[0][1][0])
    return None


def readable(code: str) -> str:
    """A code no table knows, made readable: dots and underscores as spaces, an index counted from 1
    ('records[3].foo_bar' → 'records 4 foo bar')."""
    text = re.sub(r"\[(\d+)\]", lambda m: f" {int(m.group(1)) + 1} ", code)
    text = re.sub(r"(?<=\.)(\d+)(?=\.|$)", lambda m: f" {int(m.group(1)) + 1} ", text)
    return " ".join(text.replace(".", " ").replace("_", " ").split())


def field_words(code: str) -> str:
    """The words a clinician uses for an input field, from its code: 'filled_ml' → 'the volume filled',
    'doses[0].dose' → 'dose 1', 'program.steps[2].rate' → 'the rate of step 3 in the program'. A command-line
    option ('--at') is shown as typed; a code no table knows is made readable (`readable`)."""
    code = code.strip()
    if not code or code.startswith("-"):
        return code
    if code.startswith("overrides."):
        return "the reason to override a finding"
    segments = _segments(code)
    if segments is None:
        return readable(code)
    for start in range(len(segments)):
        words = _known(segments[start:])
        if words is None:
            continue
        where = ""  # one place is enough: the nearest ("… in the program", not "… in the program in the file")
        for name, indices in reversed(segments[:start]):  # the nearest first: "… of step 3 in the program"
            for i in reversed(indices):
                words += f" of {_item(name, i)}"
            if not indices and name not in CONTAINERS and not where:
                where = f" in {CONTEXT_WORDS.get(name, 'the ' + readable(name))}"
        return words + where
    return readable(code)


def capitalize_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def message(exc: InputError, labels: Mapping[str, str] | None = None) -> str:
    """A refusal as one line in words: 'The volume filled: more than was prepared and checked (15 mL)'.
    `labels`: a page's own names for its fields (the labels beside its inputs), preferred to the common words."""
    text = " ".join(exc.message.split())
    if not exc.field:
        return capitalize_first(text)
    label = (labels or {}).get(exc.field) or capitalize_first(field_words(exc.field))
    if text.casefold().startswith(label.casefold()):  # the message names the field itself: once is enough
        return capitalize_first(text)
    return f"{label}: {text}" if text else label
