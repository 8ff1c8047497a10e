"""Turn a pydantic ValidationError into one line naming the field, e.g. `program.steps[2].rate: ...`."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import ValidationError


def dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _loc(err: Any) -> tuple[int | str, ...]:
    return tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))


def format_validation_error(exc: ValidationError) -> str:
    """One line a user can act on: a misspelt key first (it usually explains a "missing" one), else the first."""
    where, message = validation_error(exc)
    return f"{where}: {message}" if where else message


def validation_error(exc: ValidationError) -> tuple[str, str]:
    """(the field, what is wrong with it) for the error a user should fix first; see format_validation_error."""
    errors = exc.errors(include_url=False)
    typos = [e for e in errors if e["type"] == "extra_forbidden"]
    err = typos[0] if typos else errors[0]
    loc = _loc(err)
    message = str(err["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if err["type"] == "extra_forbidden":
        # Suggest a required key missing beside it, e.g. `volumne` → `volume`.
        missing = [str(_loc(e)[-1]) for e in errors if e["type"] == "missing" and _loc(e)[:-1] == loc[:-1]]
        close = difflib.get_close_matches(str(loc[-1]), missing, n=1)
        message = "unknown setting" + (f" (did you mean '{close[0]}'?)" if close else " (check the spelling)")
    elif err["type"] == "missing":
        message = "missing (required)"
    elif err["type"] == "literal_error":
        message = f"{message}, got {err.get('input')!r}"
    return dotted(loc), message


# Bidirectional embeddings, overrides and isolates reorder what a reader sees ("L\u202e1" shows as "1L"): a lot
# number or a reason must read as it was typed.
_BIDI = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))


def control_character(text: str) -> str | None:
    """The first character that does not belong in free text (NUL, C0/C1 controls other than newline and tab, DEL,
    bidirectional controls), or None."""
    return next(
        (c for c in text if (ord(c) < 32 and c not in "\n\t") or 127 <= ord(c) < 160 or c in _BIDI),
        None,
    )


def visible(text: str) -> str:
    """The text without what shows nothing: spaces and format characters (zero-width spaces and joiners, the byte
    order mark) at either end. A reason of only those says nothing."""
    return text.strip(_BLANK)


# What shows nothing at the end of a text: white space and the invisible format characters.
_BLANK = (
    " \t\n\r\f\v\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
    "\u200b\u200c\u200d\u2060\ufeff\u180e\u00ad"
)


def plain_text(value: str, field: str, max_length: int = 2000) -> str:
    """Free text as a person writes it, trimmed: no NUL or other control character (a database refuses some, and
    none belongs in a record), at most `max_length` characters. InputError naming `field` otherwise."""
    from openidds.errors import InputError  # validation is imported by the core's own modules

    text = visible(value)  # nothing but invisible characters is nothing: the callers then ask for words
    bad = control_character(text)
    if bad is not None:
        raise InputError(field, f"contains a control character (U+{ord(bad):04X}): type plain text")
    if len(text) > max_length:
        raise InputError(field, f"at most {max_length} characters, got {len(text)}")
    return text
