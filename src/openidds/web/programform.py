"""The program form: a program file shown as form fields, and the fields written back as a program file.

The form edits what a clinician changes at a programming session (mode, rate or dose, flex steps, solution,
fill, patient bolus); everything else in the running program file is kept as it is. The file is the record
(`ProgramVersion.document`), so the form only ever produces a file that the same parser and checks then read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from openidds.devices import DeviceCatalog, PumpModel
from openidds.errors import InputError
from openidds.programfile import read_toml
from openidds.web.forms import whole_number
from openidds.web.session import Fields

MAX_STEPS = 13  # the most rate changes a day the programmable pumps take (devices.md §1.2)
BLANK_STEPS = 3
MODES = ("continuous", "flex", "stopped", "minimum-rate")


@dataclass(frozen=True)
class Offer:
    """What the form offers for a pump: its modes (of those the form knows), its remote and its week patterns.
    Before a pump is chosen (the implant form) every mode is offered; the save then checks them (`check_offer`)."""

    modes: tuple[str, ...] = MODES
    remote: bool = True  # the patient bolus (the remote)
    week: bool = True  # flex steps by day of the week
    fixed_rate: str = ""  # a constant-flow pump's only rate: a dose change there is a concentration change
    pump_name: str = ""


def offer_for(pump: PumpModel | None) -> Offer:
    """The modes the catalog gives the pump (programmable: all four; valve-gated: no minimum rate; constant-flow:
    continuous at its fixed rate only, and no remote unless the catalog gives the family one)."""
    if pump is None:
        return Offer()
    return Offer(
        modes=tuple(m for m in MODES if m in pump.modes),
        remote="patient-bolus" in pump.modes,
        week="flex" in pump.modes and pump.week_patterns,
        fixed_rate="" if pump.fixed_rate is None else str(pump.fixed_rate.value),
        pump_name=pump.display_name,
    )


def chosen_pump(catalog: DeviceCatalog, model_id: Any) -> PumpModel | None:
    """The pump chosen on a form (None when none is, or the id is not in the catalog: the save names that)."""
    if not isinstance(model_id, str) or not model_id.strip():
        return None
    try:
        return catalog.pump(model_id)
    except InputError:
        return None


@dataclass
class StepRow:
    at: str = ""
    day: str = ""
    rate: str = ""
    dose: str = ""

    @property
    def blank(self) -> bool:
        return not (self.at or self.rate or self.dose)


@dataclass
class DrugRow:
    name: str = ""
    concentration: str = ""


@dataclass
class ProgramForm:
    """The form's fields as text, so a refused form comes back exactly as typed."""

    base: dict[str, Any]  # the program file being edited (the running one), as read
    mode: str = "continuous"
    period: str = "day"
    rate: str = ""
    dose: str = ""
    steps: list[StepRow] = field(default_factory=list)
    drugs: list[DrugRow] = field(default_factory=list)
    bolus: bool = False
    bolus_volume: str = ""
    bolus_dose: str = ""
    bolus_duration: str = ""
    bolus_lockout: str = ""
    bolus_max: str = ""
    filled_at: str = ""
    fill_volume: str = ""
    low_alarm: str = ""
    opioid_naive: str = ""  # "yes" / "no" / "" (kept from the file)
    source: str = "form"  # or "file": the pasted program file is used as it is
    pasted: str = ""
    bridge: bool = True  # a new drug or concentration gets a bridge unless it is turned off with a reason
    bridge_off_reason: str = ""

    def with_blank_rows(self) -> ProgramForm:
        """Room to add steps and a drug on the page."""
        steps = [s for s in self.steps if not s.blank]
        steps += [StepRow() for _ in range(min(BLANK_STEPS, MAX_STEPS - len(steps)))]
        drugs = [d for d in self.drugs if d.name] + [DrugRow()]
        self.steps, self.drugs = steps, drugs
        return self

    def document(self) -> str:
        """The program file the form describes."""
        if self.source == "file":
            return self.pasted
        return dumps(self.as_dict())

    def as_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(json.dumps(self.base, default=str))  # a deep copy; instants as text
        reservoir = doc.setdefault("reservoir", {})
        _put(reservoir, "filled_at", self.filled_at)
        _put(reservoir, "volume", self.fill_volume)
        _put(reservoir, "low_alarm", self.low_alarm)
        doc["drugs"] = [{"name": d.name, "concentration": d.concentration} for d in self.drugs if d.name]
        program: dict[str, Any] = {"mode": self.mode}
        if self.mode == "continuous":
            _put(program, "rate", self.rate)
            _put(program, "dose", self.dose)
        elif self.mode == "flex":
            program["period"] = self.period or "day"
            steps = []
            for s in self.steps:
                if s.blank:
                    continue
                step: dict[str, Any] = {"at": s.at}
                _put(step, "day", s.day)
                _put(step, "rate", s.rate)
                _put(step, "dose", s.dose)
                steps.append(step)
            program["steps"] = steps
        doc["program"] = program
        if self.bolus:
            bolus: dict[str, Any] = {}
            _put(bolus, "volume", self.bolus_volume)
            _put(bolus, "dose", self.bolus_dose)
            _put(bolus, "duration", self.bolus_duration)
            _put(bolus, "lockout", self.bolus_lockout)
            if self.bolus_max:
                bolus["max_per_day"] = whole_number(self.bolus_max)
            doc["patient_bolus"] = bolus
        else:
            doc.pop("patient_bolus", None)
        if self.opioid_naive in ("yes", "no"):
            doc.setdefault("context", {})["opioid_naive"] = self.opioid_naive == "yes"
        return doc


def check_offer(form: ProgramForm, pump: PumpModel) -> None:
    """The form's mode and remote against the pump's, refused in words (InputError naming `mode` or `bolus`). A
    pasted program file is checked as a file is (the safety check refuses a mode the pump does not have)."""
    if form.source == "file":
        return
    offer = offer_for(pump)
    mode = form.mode.replace("-", " ")
    if form.mode not in offer.modes:
        if pump.fixed_rate is not None:
            raise InputError(
                "mode",
                f"a constant-flow pump runs at its fixed rate: {mode} is not possible (the {pump.display_name} "
                f"runs {offer.fixed_rate}; its dose changes with the concentration, at a refill)",
            )
        has = ", ".join(m.replace("-", " ") for m in offer.modes)
        raise InputError("mode", f"the {pump.display_name} has no {mode} mode (it has: {has})")
    if form.bolus and not offer.remote:
        raise InputError("bolus", f"the {pump.display_name} has no patient remote: turn the patient bolus off")


def at_fill(
    form: ProgramForm, filled_at: str, volume: str, drugs: list[DrugRow] | None, first_fill: bool = False
) -> ProgramForm:
    """The form set to the fill the pump holds now (a refill since the running program's file was written): its
    instant, volume and, when it differs, its solution; after a refill, no longer the pump's first fill."""
    form.filled_at, form.fill_volume = filled_at, volume
    if drugs is not None:
        form.drugs = drugs
    if not first_fill:
        refilled(form.base)
    return form


def refilled(base: dict[str, Any]) -> dict[str, Any]:
    """A program file's table after a refill: its fill is no longer the pump's first (ziconotide's shorter limit)."""
    reservoir = base.get("reservoir")
    if isinstance(reservoir, dict):
        reservoir.pop("first_fill", None)
    return base


def _put(table: dict[str, Any], key: str, value: str) -> None:
    if value:
        table[key] = value
    else:
        table.pop(key, None)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def from_document(text: str) -> ProgramForm:
    """The form for a program file (the running program, to edit it)."""
    base = read_toml(text)
    reservoir = base.get("reservoir", {})
    program = base.get("program", {})
    bolus = base.get("patient_bolus")
    context = base.get("context", {})
    naive = context.get("opioid_naive")
    return ProgramForm(
        base=base,
        mode=str(program.get("mode", "continuous")),
        period=str(program.get("period", "day")),
        rate=_text(program.get("rate")),
        dose=_text(program.get("dose")),
        steps=[
            StepRow(_text(s.get("at")), _text(s.get("day")), _text(s.get("rate")), _text(s.get("dose")))
            for s in program.get("steps") or []
        ],
        drugs=[DrugRow(_text(d.get("name")), _text(d.get("concentration"))) for d in base.get("drugs", [])],
        bolus=bolus is not None,
        bolus_volume=_text((bolus or {}).get("volume")),
        bolus_dose=_text((bolus or {}).get("dose")),
        bolus_duration=_text((bolus or {}).get("duration")),
        bolus_lockout=_text((bolus or {}).get("lockout")),
        bolus_max=_text((bolus or {}).get("max_per_day")),
        filled_at=_text(reservoir.get("filled_at")),
        fill_volume=_text(reservoir.get("volume")),
        low_alarm=_text(reservoir.get("low_alarm")),
        opioid_naive="" if naive is None else "yes" if naive else "no",
        pasted=text,
    )


def from_fields(fields: Fields, base: dict[str, Any]) -> ProgramForm:
    """The form as posted, over the file it edits."""
    steps = []
    for i in range(MAX_STEPS):
        if f"step-{i}-at" not in fields.names():
            break
        steps.append(
            StepRow(
                fields.get(f"step-{i}-at"),
                fields.get(f"step-{i}-day"),
                fields.get(f"step-{i}-rate"),
                fields.get(f"step-{i}-dose"),
            )
        )
    drugs = []
    for i in range(8):
        if f"drug-{i}-name" not in fields.names():
            break
        drugs.append(DrugRow(fields.get(f"drug-{i}-name").lower(), fields.get(f"drug-{i}-concentration")))
    return ProgramForm(
        base=base,
        mode=fields.get("mode", "continuous"),
        period=fields.get("period", "day"),
        rate=fields.get("rate"),
        dose=fields.get("dose"),
        steps=steps,
        drugs=drugs,
        bolus=fields.checked("bolus"),
        bolus_volume=fields.get("bolus-volume"),
        bolus_dose=fields.get("bolus-dose"),
        bolus_duration=fields.get("bolus-duration"),
        bolus_lockout=fields.get("bolus-lockout"),
        bolus_max=fields.get("bolus-max"),
        filled_at=fields.get("fill-filled-at"),
        fill_volume=fields.get("fill-volume"),
        low_alarm=fields.get("fill-low-alarm"),
        opioid_naive=fields.get("opioid-naive"),
        source="file" if fields.get("source") == "file" else "form",
        pasted=fields.get("document"),
        bridge=fields.checked("bridge"),
        bridge_off_reason=fields.get("bridge_off_reason"),
    )


# --- writing TOML -----------------------------------------------------------------------------------------------------
def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(value, list | tuple):
        if value and all(isinstance(v, dict) for v in value):  # flex steps: one a line
            return "[\n" + "".join(f"  {_value(v)},\n" for v in value) + "]"
        return "[ " + ", ".join(_value(v) for v in value) + " ]" if value else "[]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }" if value else "{}"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _key(key: str) -> str:
    bare = key.replace("_", "a").replace("-", "a").isalnum() and key.isascii()
    return key if bare else json.dumps(key)


def dumps(doc: dict[str, Any]) -> str:
    """A program file: one [table] per section, [[drugs]] for the solution, nested values inline."""

    def tables(value: Any) -> bool:
        return isinstance(value, dict) or (
            isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)
        )

    # plain keys first: after a [table] header a key would belong to that table
    lines = [f"{_key(k)} = {_value(v)}" for k, v in doc.items() if not tables(v)]
    for key, value in doc.items():
        if isinstance(value, dict):
            lines += ["", f"[{_key(key)}]"]
            lines += [f"{_key(k)} = {_value(v)}" for k, v in value.items()]
        elif tables(value):
            for item in value:
                lines += ["", f"[[{_key(key)}]]"]
                lines += [f"{_key(k)} = {_value(v)}" for k, v in item.items()]
    return "\n".join(lines).lstrip("\n") + "\n"
