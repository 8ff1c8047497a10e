"""User accounts: the rules for a password, for disabling a login and for changing a role. Pure: the use cases
(service/users.py) read the users, ask these, and write.

- a password has MIN_PASSWORD to MAX_PASSWORD characters, is not the username nor contains it, and is not one of
  the most common passwords (a list from breaches, shipped as data);
- an admin cannot disable their own login (another admin does it), and the clinic keeps at least one active admin:
  without one nobody can add users, reset a password or read the audit trail's users again;
- a role changes between staff roles only: a patient's login belongs to their patient record, so a staff login
  never becomes a patient's and a patient's never becomes staff (each is a new login);
- the last active admin keeps the admin role, and nobody changes their own role (an admin who could make
  themself a physician would read every clinical record with no second person).
"""

from __future__ import annotations

from collections.abc import Collection

from openidds.clinic.roles import ROLES, Role
from openidds.errors import InputError
from openidds.validation import visible

MIN_PASSWORD = 10
MAX_PASSWORD = 200  # as the API's NewUser; argon2 hashes any length, this only bounds the work
# A username this short ('bo', 'kim') turns up inside ordinary words; refusing every pass phrase that holds it
# would refuse good ones for nothing. Shorter names are refused only as the whole password.
NAME_INSIDE_MIN = 4
STAFF_ROLES: tuple[Role, ...] = tuple(r for r in ROLES if r != "patient")


def check_password(
    password: str, field: str = "password", username: str | None = None, common: Collection[str] = frozenset()
) -> None:
    """InputError on `field` unless the password is long enough (and not absurdly long), is not the username
    and does not contain it (ignoring case), and is not one of the `common` passwords (lower-case: the shipped
    list, openidds.data.passwords, passed by the service)."""
    if len(password) < MIN_PASSWORD:
        raise InputError(field, f"must be at least {MIN_PASSWORD} characters (it has {len(password)})")
    if len(visible(password)) < MIN_PASSWORD:
        raise InputError(field, f"must have at least {MIN_PASSWORD} characters that are not spaces or invisible")
    if len(password) > MAX_PASSWORD:
        raise InputError(field, f"must be at most {MAX_PASSWORD} characters")
    if username:
        name, folded = username.casefold(), password.casefold()
        if folded == name or (len(name) >= NAME_INSIDE_MIN and name in folded):
            raise InputError(field, "must not contain the username: choose words nobody links to the login")
    if password.casefold() in common or visible(password).casefold() in common:
        raise InputError(
            field, "is one of the most common passwords, the first that attackers try: choose a longer phrase"
        )


def disable_refusal(actor_id: int, user_id: int, role: str, active: bool, active_admins: int) -> str | None:
    """Why the login `user_id` (of `role`, `active` or not) may not be disabled by `actor_id`, or None.
    `active_admins`: how many active admins the clinic has now, this user included."""
    if actor_id == user_id:
        return "you cannot disable your own login: another admin must do it"
    if role == "admin" and active and active_admins <= 1:
        return "this is the clinic's last active admin: make another user an admin first"
    return None


def check_role_change(old: str, new: str) -> None:
    """InputError on the field `role` when `new` is not a role a login of role `old` can be given."""
    if new not in ROLES:
        raise InputError("role", f"expected one of {', '.join(STAFF_ROLES)}, got {new!r}")
    if old == "patient" or new == "patient":
        raise InputError(
            "role",
            "a patient's login belongs to their patient record: it cannot become a staff login, nor a staff "
            "login a patient's (add a new login instead)",
        )
    if old == new:
        raise InputError("role", f"the user is already {_article(new)}")


def role_change_refusal(
    old: str, new: str, active: bool, active_admins: int, actor_id: int = 0, user_id: int = -1
) -> str | None:
    """Why an `active` login of role `old` may not become `new` now, or None (after check_role_change)."""
    if actor_id == user_id:
        return "you cannot change your own role: another admin must do it"
    if old == "admin" and new != "admin" and active and active_admins <= 1:
        return "this is the clinic's last active admin: make another user an admin first"
    return None


def _article(role: str) -> str:
    return f"an {role}" if role[:1] in "aeiou" else f"a {role}"
