"""The clinic's settings in force: the newest that an administrator saved in the app, else the data file.

The file (data/clinic.toml or $IDDS_CLINIC_SETTINGS) is where a clinic starts; each save in the app is a new row
(db.models.ClinicSettingsVersion), never changed, audited with what changed. The time zone stays the file's: the
pump programs and every schedule are written in the clinic's wall time, so changing it is a deployment decision,
not an edit.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any
from weakref import WeakKeyDictionary

from pydantic import ValidationError
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from openidds.clinic.settings import ClinicSettings
from openidds.data import load_clinic_settings, load_library
from openidds.db.models import ClinicSettingsVersion, PatientStatus, User
from openidds.errors import InputError
from openidds.service import audit
from openidds.service.access import actor_name, require
from openidds.validation import plain_text, validation_error

REASON_MAX = 500
# Parsed versions, per database (engine): a version id means nothing in another database
_cache: WeakKeyDictionary[Engine, dict[tuple[str, int], ClinicSettings]] = WeakKeyDictionary()
_guard = threading.Lock()


def current_settings(s: Session) -> ClinicSettings:
    """The settings in force for this transaction: the newest saved version, else the data file."""
    newest = s.scalar(select(func.max(ClinicSettingsVersion.id)))
    base = load_clinic_settings()
    if newest is None:
        return base
    key = (base.sha256, newest)
    engine = s.get_bind().engine
    with _guard:
        found = _cache.get(engine, {}).get(key)
    if found is None:
        row = s.get(ClinicSettingsVersion, newest)
        assert row is not None
        found = _validated(row.document, base)
        with _guard:
            _cache.setdefault(engine, {})[key] = found
    return found


def _validated(document: dict[str, Any], base: ClinicSettings) -> ClinicSettings:
    merged = base.model_dump(mode="json", exclude={"sha256"})
    merged.update({k: v for k, v in document.items() if k in EDITABLE})
    try:
        return ClinicSettings.model_validate(merged).model_copy(update={"sha256": base.sha256})
    except ValidationError as exc:
        where, message = validation_error(exc)
        raise InputError(where or "settings", message) from None


def _check_against_records(s: Session, settings: ClinicSettings) -> None:
    """What the settings file alone cannot tell: margins against the drug library, and nurses that are the clinic's
    own active nurses or physicians (a patient's or the admin's login is no nurse)."""
    scheduling = settings.scheduling
    if scheduling is None:
        return
    library = load_library()
    problems = scheduling.margin_problems((d.name, d.withdrawal_risk is not None) for d in library.drugs)
    if problems:
        raise InputError("scheduling.margins", problems[0])
    names = [n.username for n in scheduling.nurses]
    found = {u.username: u for u in s.scalars(select(User).where(User.username.in_(names)))}
    for i, name in enumerate(names):
        user = found.get(name)
        if user is None or not user.active or user.role not in NURSE_ROLES:
            what = "no login" if user is None else "not active" if not user.active else f"a {user.role}'s login"
            raise InputError(
                f"scheduling.nurses[{i}].username", f"'{name}' is {what}: a nurse is an active nurse or physician"
            )


NURSE_ROLES = ("nurse", "physician")
EDITABLE = ("clinic_name", "in_hours", "on_call", "scheduling", "notifications", "sources")


def settings_json(settings: ClinicSettings) -> dict[str, Any]:
    """The settings as the API answers them (the editable parts, the time zone and the file they started from)."""
    out = settings.model_dump(mode="json", include={"demo", "timezone", *EDITABLE})
    out["file"] = settings.identity
    return out


def save_settings(s: Session, actor: User, document: dict[str, Any], reason: str, now: datetime) -> ClinicSettings:
    """Validate and save a new version of the editable settings (the rest stays the file's); audited with before
    and after. InputError naming the field when the document does not validate."""
    require(actor, "edit-clinic-settings")
    why = plain_text(reason, "reason", REASON_MAX)
    if not why:
        raise InputError("reason", "say why the settings change (1 to 500 characters)")
    unknown = sorted(set(document) - set(EDITABLE))
    if unknown:
        raise InputError(unknown[0], f"not a setting that can be edited here (editable: {', '.join(EDITABLE)})")
    before = current_settings(s)
    merged = {k: v for k, v in before.model_dump(mode="json").items() if k in EDITABLE}
    merged.update(document)
    after = _validated(merged, load_clinic_settings())
    _check_against_records(s, after)
    saved = {k: v for k, v in after.model_dump(mode="json").items() if k in EDITABLE}
    row = ClinicSettingsVersion(document=saved, reason=why, saved_by=actor.id, saved_at=now)
    s.add(row)
    s.flush()
    old = {k: v for k, v in before.model_dump(mode="json").items() if k in EDITABLE}
    changed = sorted(k for k in EDITABLE if old.get(k) != saved.get(k))
    if "scheduling" in changed:
        # every window is worked out again (margins, closures, hours): the worker at once, the planner before it
        # plans, a booking before it is checked
        s.execute(update(PatientStatus).values(recheck_at=now))
    audit.record(
        s,
        actor_name(actor),
        "save-clinic-settings",
        f"clinic-settings/{row.id}",
        now,
        {k: old.get(k) for k in changed},
        {"changed": changed, "reason": why, **{k: saved.get(k) for k in changed}},
    )
    return after
