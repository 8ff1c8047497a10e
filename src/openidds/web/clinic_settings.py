"""The administrator's clinic settings page: what is in force, each section edited, the changes reviewed old beside
new, then saved with a reason (service.settings)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openidds import display
from openidds.clinic.appointments import KIND_WORDS
from openidds.clinic.calendar import ClinicCalendar
from openidds.clinic.settings import SKILLS, VISIT_KINDS, WEEKDAYS, ClinicSettings
from openidds.data import load_clinic_settings, load_library
from openidds.db.models import (
    ClinicSettingsVersion,
)
from openidds.errors import InputError
from openidds.service import settings as settings_service
from openidds.service.access import require
from openidds.service.errors import Conflict, NotFound
from openidds.service.settings import current_settings
from openidds.validation import validation_error
from openidds.web.calendar import (
    refusal_words,
    today_of,
)
from openidds.web.forms import whole_number
from openidds.web.session import Fields, Posted, WebError, Work, render, submit, unit_of_work

router = APIRouter(include_in_schema=False)


# --- the clinic's settings ----------------------------------------------------------------------------------------
SECTIONS = {
    "clinic": "Clinic and phone numbers",
    "hours": "Hours, open days and holidays",
    "closures": "Closures",
    "nurses": "Nurses",
    "margins": "Booking margins and waste",
    "notifications": "Notifications",
}
SETTINGS_WORDS = {"reason": "Why the settings change", "version": "The settings"}
BASES = ("literature", "consensus", "label", "policy", "guideline")


def _cited_days(cited: dict[str, Any]) -> str:
    """'4 days' → '4' (the form asks for whole days)."""
    return str(cited["value"]).split()[0]


def settings_fields(doc: dict[str, Any]) -> dict[str, str]:
    """The settings document (JSON form) as the editor's field values."""
    v: dict[str, str] = {"clinic_name": doc.get("clinic_name", "")}
    for key in ("in_hours", "on_call"):
        phone = doc.get(key) or {}
        v[f"{key}.number"], v[f"{key}.hours"] = phone.get("number", ""), phone.get("hours", "")
    sch = doc.get("scheduling")
    if sch:
        v["opens"], v["closes"] = sch["opens"][:5], sch["closes"][:5]
        v["country"], v["subdivision"] = sch["country"], sch.get("subdivision") or ""
        for d in WEEKDAYS:
            v[f"open.{d}"] = "on" if d in sch["open_days"] else ""
        for k in VISIT_KINDS:
            v[f"minutes.{k}"] = str(sch["visit_minutes"].get(k, ""))
        v["closure_rows"] = str(len(sch["closures"]))
        for i, c in enumerate(sch["closures"]):
            v[f"closure.{i}.day"], v[f"closure.{i}.why"] = c["day"], c["why"]
        v["nurse_rows"] = str(len(sch["nurses"]))
        for i, n in enumerate(sch["nurses"]):
            v[f"nurse.{i}.username"], v[f"nurse.{i}.visits"] = n["username"], str(n["visits_per_day"])
            for d in WEEKDAYS:
                v[f"nurse.{i}.day.{d}"] = "on" if d in n["days"] else ""
            for sk in SKILLS:
                v[f"nurse.{i}.skill.{sk}"] = "on" if sk in n["skills"] else ""
        margins = sch["margins"]
        v["margin.default"] = _cited_days(margins["default"])
        v["margin_rows"] = str(len(margins["drugs"]))
        for i, (drug, cited) in enumerate(sorted(margins["drugs"].items())):
            v[f"margin.{i}.drug"], v[f"margin.{i}.days"] = drug, _cited_days(cited)
        v["max_waste"] = str(sch["max_waste"]["value"]).replace(" %", "").replace("%", "")
    notes = doc.get("notifications")
    if notes:
        v["reminder_days"] = ", ".join(str(d) for d in notes["reminder_days"])
        v["languages"] = ", ".join(notes["languages"])
        v["sender"] = notes["sender"]
        for key in ("lead", "on_call_contact"):
            c = notes["lead" if key == "lead" else "on_call"]
            v[f"{key}.name"], v[f"{key}.email"], v[f"{key}.phone"] = (
                c["name"],
                c.get("email") or "",
                c.get("phone") or "",
            )
    return v


def _rows(form: Fields, name: str) -> int:
    count = whole_number(form.get(f"{name}_rows") or "0")
    return min(count, 200) if isinstance(count, int) else 0


def _numbers(text: str, field: str) -> list[int]:
    out = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        value = whole_number(part)
        if not isinstance(value, int):
            raise InputError(field, f"expected whole numbers separated by commas, got {part[:20]!r}")
        out.append(value)
    return out


def section_document(section: str, form: Fields, before: dict[str, Any]) -> dict[str, Any]:
    """The posted section on top of the settings in force: the editable document to save (its top-level keys)."""
    doc: dict[str, Any] = json.loads(
        json.dumps({k: before.get(k) for k in settings_service.EDITABLE if before.get(k) is not None})
    )
    sch = doc.get("scheduling")
    if section == "clinic":
        doc["clinic_name"] = form.get("clinic_name")
        for key in ("in_hours", "on_call"):
            doc[key] = {"number": form.get(f"{key}.number"), "hours": form.get(f"{key}.hours")}
        return doc
    if section == "notifications":
        if doc.get("notifications") is None:
            raise Conflict("the clinic has no notification settings in its file: they start there")
        doc["notifications"] = {
            "reminder_days": _numbers(form.get("reminder_days"), "notifications.reminder_days"),
            "languages": [p.strip() for p in form.get("languages").split(",") if p.strip()],
            "sender": form.get("sender"),
            "lead": _contact(form, "lead"),
            "on_call": _contact(form, "on_call_contact"),
        }
        return doc
    if sch is None:
        raise Conflict("the clinic has no scheduling settings in its file: they start there")
    if section == "hours":
        sch["opens"], sch["closes"] = form.get("opens"), form.get("closes")
        sch["country"], sch["subdivision"] = form.get("country"), form.get("subdivision") or None
        sch["open_days"] = [d for d in WEEKDAYS if form.checked(f"open.{d}")]
        sch["visit_minutes"] = {k: whole_number(form.get(f"minutes.{k}")) for k in VISIT_KINDS}
    elif section == "closures":
        rows = []
        for i in range(_rows(form, "closure")):
            if form.checked(f"closure.{i}.remove"):
                continue
            day, why = form.get(f"closure.{i}.day"), form.get(f"closure.{i}.why")
            if day or why:
                rows.append({"day": day, "why": why})
        sch["closures"] = sorted(rows, key=lambda r: r["day"])
    elif section == "nurses":
        nurses: list[dict[str, Any]] = []
        for i in range(_rows(form, "nurse")):
            name = form.get(f"nurse.{i}.username")
            if form.checked(f"nurse.{i}.remove") or not name:
                continue
            nurses.append(
                {
                    "username": name,
                    "visits_per_day": whole_number(form.get(f"nurse.{i}.visits")),
                    "days": [d for d in WEEKDAYS if form.checked(f"nurse.{i}.day.{d}")],
                    "skills": [sk for sk in SKILLS if form.checked(f"nurse.{i}.skill.{sk}")],
                }
            )
        sch["nurses"] = nurses
    elif section == "margins":
        old = sch["margins"]
        sch["margins"] = {"default": _days(old["default"], form.get("margin.default")), "drugs": {}}
        for i in range(_rows(form, "margin")):
            drug = form.get(f"margin.{i}.drug")
            if form.checked(f"margin.{i}.remove") or not drug:
                continue
            kept = old["drugs"].get(drug) or {"source": sch["source"], "basis": "policy", "unconfirmed": True}
            sch["margins"]["drugs"][drug] = _days(kept, form.get(f"margin.{i}.days"))
        waste = form.get("max_waste")
        sch["max_waste"] = {**sch["max_waste"], "value": f"{waste} %"}
    else:
        raise NotFound("no such section of the settings")
    return doc


def _days(cited: dict[str, Any], text: str) -> dict[str, Any]:
    return {**cited, "value": f"{text} days" if text else ""}


def _contact(form: Fields, key: str) -> dict[str, Any]:
    return {
        "name": form.get(f"{key}.name"),
        "email": form.get(f"{key}.email") or None,
        "phone": form.get(f"{key}.phone") or None,
    }


def check_document(doc: dict[str, Any]) -> ClinicSettings:
    """The document validated as service.settings validates it on saving (InputError naming the field)."""
    base = load_clinic_settings()
    merged = base.model_dump(mode="json", exclude={"sha256"})
    merged.update(doc)
    try:
        return ClinicSettings.model_validate(merged)
    except ValidationError as exc:
        where, message = validation_error(exc)
        raise InputError(where or "settings", message) from None


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """A settings document as dotted paths to text (for the old → new review)."""
    out: dict[str, str] = {}
    if isinstance(value, dict):
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
        for i, v in enumerate(value):
            key = v.get("username") or v.get("day") or str(i)
            out.update(flatten(v, f"{prefix}[{key}]"))
    elif isinstance(value, list):
        out[prefix] = ", ".join(str(x) for x in value) or "(none)"
    else:
        out[prefix] = "(none)" if value is None else str(value)
    return out


_SEGMENT = re.compile(r"([^.\[\]]+)|\[([^\]]+)\]")  # a name, or a row's key in brackets (a username, a day)


def setting_words(path: str) -> str:
    """A dotted settings path in words: 'scheduling.nurses[nora].visits_per_day' → 'nurses nora: visits per day'."""
    parts = [key or name.replace("_", " ") for name, key in _SEGMENT.findall(path.removeprefix("scheduling."))]
    return parts[-1] if len(parts) == 1 else f"{' '.join(parts[:-1])}: {parts[-1]}"


def changes(before: dict[str, Any], after: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Each changed setting as (its name in words, old, new)."""
    old, new = flatten(before), flatten(after)
    keys = sorted(set(old) | set(new))
    return [
        (setting_words(k), old.get(k, "(none)"), new.get(k, "(removed)" if k in old else "(none)"))
        for k in keys
        if old.get(k) != new.get(k)
    ]


def _editable(settings: ClinicSettings) -> dict[str, Any]:
    dumped = settings.model_dump(mode="json")
    return {k: dumped[k] for k in settings_service.EDITABLE if dumped.get(k) is not None}


def _version(s: Session) -> int:
    return int(s.scalar(select(func.max(ClinicSettingsVersion.id))) or 0)


def _settings_page(
    request: Request,
    w: Work,
    values: dict[str, str] | None = None,
    section: str = "",
    error: WebError | None = None,
    review: dict[str, Any] | None = None,
) -> Response:
    require(w.user, "edit-clinic-settings")
    settings = current_settings(w.s)
    doc = _editable(settings)
    shown = {**settings_fields(doc), **(values or {})}
    sch = settings.scheduling
    holidays: list[tuple[str, str]] = []
    if sch is not None:
        calendar = ClinicCalendar(sch)
        day = today_of(settings, w.now)
        for _ in range(800):  # two years at most
            why = calendar.closed_why(day)
            if why is not None and why.startswith("public holiday: "):
                holidays.append((display.calendar_day(day), why.removeprefix("public holiday: ")))
                if len(holidays) == 10:
                    break
            day += timedelta(days=1)
    return render(
        request,
        "settings.html",
        error.status if error else 200,
        user=w.user,
        settings=settings,
        doc=doc,
        values=shown,
        section=section,
        sections=SECTIONS,
        error=error,
        review=review,
        holidays=holidays,
        weekdays=WEEKDAYS,
        skills=SKILLS,
        kinds=[(k, KIND_WORDS[k]) for k in VISIT_KINDS],
        drugs=[d.name for d in load_library().drugs],
        version=_version(w.s),
        saved=request.query_params.get("saved") == "1",
        extra_rows=1,
    )


@router.get("/admin/settings")
def settings_page(request: Request) -> Response:
    with unit_of_work(request) as w:
        return _settings_page(request, w)


@router.post("/admin/settings/review")
def review_settings(request: Request, form: Posted) -> Response:
    """A section's changes, old → new, before anything is saved (nothing is written here)."""
    section = form.get("section")
    try:
        with unit_of_work(request) as w:
            require(w.user, "edit-clinic-settings")
            if section not in SECTIONS:
                raise NotFound("no such section of the settings")
            before = _editable(current_settings(w.s))
            try:
                after = section_document(section, form, before)
                check_document(after)
            except InputError as exc:
                err = WebError(422, display.message(exc, SETTINGS_WORDS), exc.field, exc.message)
                return _settings_page(request, w, form.as_dict(), section, err)
            listed = changes(before, after)
            review = {
                "section": section,
                "title": SECTIONS[section],
                "changes": listed,
                "document": json.dumps(after, separators=(",", ":")),
            }
            return _settings_page(request, w, form.as_dict(), section, None, review)
    except WebError as err:
        if err.status in (401, 403, 404):
            raise
        with unit_of_work(request) as w:
            return _settings_page(request, w, form.as_dict(), section, err)


@router.post("/admin/settings")
def save_settings(request: Request, form: Posted) -> Response:
    def write(w: Work) -> str:
        require(w.user, "edit-clinic-settings")
        if str(_version(w.s)) != form.get("version"):
            raise Conflict("the settings were saved by someone else since you reviewed them: review your change again")
        try:
            doc = json.loads(form.get("document"))
        except ValueError:
            raise InputError("document", "the reviewed settings were damaged in transit: review again") from None
        if not isinstance(doc, dict):
            raise InputError("document", "the reviewed settings were damaged in transit: review again")
        settings_service.save_settings(w.s, w.user, doc, form.get("reason"), w.now)
        return "/admin/settings?saved=1"

    def show_again(w: Work, err: WebError) -> Response:
        words = refusal_words(err, SETTINGS_WORDS)
        section = form.get("section")
        before = _editable(current_settings(w.s))
        try:
            after = json.loads(form.get("document"))
            review = {
                "section": section,
                "title": SECTIONS.get(section, ""),
                "changes": changes(before, after),
                "document": form.get("document"),
                "reason": form.get("reason"),
            }
        except ValueError:
            review = None
        return _settings_page(request, w, {}, section, WebError(err.status, words, err.field, err.said), review)

    return submit(request, write, show_again)
