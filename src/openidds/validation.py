"""Rules for what comes in, each a pure function: a pydantic ValidationError as one line naming the field (e.g.
`program.steps[2].rate: ...`), text, instants, MRNs, time zones, numbers in text (README, "Bad input")."""

from __future__ import annotations

import difflib
import re
import unicodedata
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime
from fractions import Fraction
from functools import lru_cache
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


# --- one rule each for what comes in (README, "Bad input") ---------------------------------------------------------
# Instants: the years every part of OpenIDDS handles (the twin's projections must still fit a datetime).
FIRST_YEAR, LAST_YEAR = 1970, 2199
YEARS = f"the years {FIRST_YEAR} to {LAST_YEAR}"


def instant_problem(value: datetime) -> str | None:
    """Why `value` is no instant OpenIDDS handles (outside 1970 to 2199, read as written and in UTC), or None.
    The year as written is checked first: converting year 9999 or year 1 to UTC overflows."""
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        return f"{value.date().isoformat()} is outside {YEARS}"  # %Y writes year 1 as "1"
    if value.utcoffset() is not None and not FIRST_YEAR <= value.astimezone(UTC).year <= LAST_YEAR:
        return f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC is outside {YEARS}"
    return None


# Text: what may not stand in a record (besides the C0/C1 controls): a joiner or non-joiner only between letters,
# where Persian and Indic names need it; every other format character (zero-width space, word joiner, byte order
# mark, bidirectional marks and overrides, soft hyphen) hides or reorders what a reader sees.
_JOINERS = frozenset("\u200c\u200d")


def _letter(c: str) -> bool:
    return unicodedata.category(c)[0] in "LM"


# Characters that are not format characters (Cf) yet show nothing (Unicode's Default_Ignorable_Code_Point outside
# Cf, and the braille blank): Hangul fillers, the combining grapheme joiner, variation selectors (no name needs
# one: OpenIDDS takes no emoji, and a CJK ideographic variant is read as its base character), Khmer inherent vowels
# and Mongolian free variation selectors. A name of U+3164 alone looked blank but was not empty.
_INVISIBLE = re.compile(
    "[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u2800\u3164\ufe00-\ufe0f\uffa0\ufff0-\ufff8\U000e0000-\U000e0fff]"
)


_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ASCII_CONTROL_LINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def text_problem(text: str, multiline: bool = False) -> str | None:
    """Why `text` may not be stored as typed (already NFC), or None: a control character (a newline or tab only
    in multi-line text; a line or paragraph separator never), a lone surrogate, an invisible character (format
    characters, fillers, variation selectors), or a combining mark with no letter before it."""
    if text.isascii():  # most text: its only suspects are the C0 controls and DEL, found at C speed
        found = (_ASCII_CONTROL_LINES if multiline else _ASCII_CONTROL).search(text)
        text = "" if found is None else found.group()
    for i, c in enumerate(text):
        if c in "\n\t" and multiline:
            continue
        kind = unicodedata.category(c)
        if c in _JOINERS and 0 < i < len(text) - 1 and _letter(text[i - 1]) and _letter(text[i + 1]):
            continue
        if kind in ("Cc", "Cs", "Cf", "Zl", "Zp") or _INVISIBLE.match(c):
            what = "a line break" if c in "\n\r\u2028\u2029" else "a control or invisible character"
            return f"contains {what} (U+{ord(c):04X}): type plain text"
        if kind[0] == "M" and (i == 0 or unicodedata.category(text[i - 1])[0] in "CZ"):
            # an accent on nothing (a lone U+0301 shows nothing, or sits on a space or a line end)
            return f"contains a combining mark with no letter before it (U+{ord(c):04X}): type plain text"
    return None


def normal_text(value: str, max_length: int | None = None, multiline: bool = False) -> str:
    """Text as stored: NFC (one spelling of "é"), Windows line ends as newlines, invisible ends trimmed, then
    refused (ValueError, with the reason) when text_problem finds something or it is longer than `max_length`."""
    text = visible(unicodedata.normalize("NFC", value.replace("\r\n", "\n")))
    problem = text_problem(text, multiline)
    if problem is not None:
        raise ValueError(problem)
    if max_length is not None and len(text) > max_length:
        raise ValueError(f"at most {max_length} characters, got {len(text)}")
    return text


# Time zones: a name of the tz database, never guessed (an unknown one was once shown as UTC).
@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    # the machine's own zone and the database's placeholders name no place
    return frozenset(zoneinfo.available_timezones()) - {"localtime", "posixrules", "Factory"}


def timezone_problem(name: str) -> str | None:
    """Why `name` is no time zone of the tz database (e.g. 'America/Chicago'), or None."""
    if name in _zones():
        return None
    close = difflib.get_close_matches(name, sorted(_zones()), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else " (e.g. 'America/Chicago')"
    return f"unknown time zone '{name[:64]}'{hint}"


# Birth dates: not after the clinic's today, not more than a lifetime before it.
OLDEST_YEARS = 130


def birth_date_problem(born: date, today: date) -> str | None:
    """Why `born` is no patient's date of birth on `today` (the clinic's date), or None."""
    if born > today:
        return f"{born.isoformat()} is after today ({today.isoformat()})"
    years_ago = today.replace(
        year=today.year - OLDEST_YEARS, day=28 if (today.month, today.day) == (2, 29) else today.day
    )
    if born < years_ago:
        return f"{born.isoformat()} is more than {OLDEST_YEARS} years ago: check the year"
    return None


# Catheter length: the catalog gives no maximum, so a policy bound (adult intrathecal catheters are cut to about
# 20-90 cm): outside it the number is a typing accident, and it sets the catheter's dead volume.
CATHETER_MIN_CM, CATHETER_MAX_CM = 5, 150


def catheter_length_problem(cm: Fraction) -> str | None:
    """Why a catheter `cm` long is refused, or None."""
    if not CATHETER_MIN_CM <= cm <= CATHETER_MAX_CM:
        return f"{cm_text(cm)} cm: a catheter is {CATHETER_MIN_CM} to {CATHETER_MAX_CM} cm long (OpenIDDS policy)"
    return None


def cm_text(cm: Fraction) -> str:
    return str(cm.numerator) if cm.denominator == 1 else f"{float(cm):g}"


# MRN: one canonical form, so look-alikes (" a-1001", "A-1001\u200b", fullwidth "Ａ-1001") are one record.
MRN_MAX = 40
MRN_RULE = "letters A-Z, digits 0-9 and '-'"
_MRN = re.compile(r"[A-Z0-9]+(?:-[A-Z0-9]+)*")  # one hyphen at a time: "ZZ--00223" is no spelling of ZZ-00223


@dataclass(frozen=True, slots=True)
class Canonical:
    value: str | None  # None: refused
    reason: str


def canonical_mrn(text: str) -> Canonical:
    """The MRN as stored and compared: compatibility-normalised (NFKC: fullwidth letters and digits are ASCII),
    trimmed, upper-case; only letters A-Z, digits and single inner hyphens. Anything else is refused with the
    reason, never silently removed (an MRN with a hidden character is a mistyped one). A doubled hyphen is refused,
    not folded: folding would make "ZZ--00223" find ZZ-00223, but an MRN typed so is a typo or another system's
    number, for the user to check, as every other character outside the rule is."""
    folded = unicodedata.normalize("NFKC", text).strip(_BLANK).upper()
    if not folded:
        return Canonical(None, "is empty")
    if len(folded) > MRN_MAX:
        return Canonical(None, f"at most {MRN_MAX} characters, got {len(folded)}")
    if not _MRN.fullmatch(folded):
        bad = next((c for c in folded if not (c.isascii() and (c.isalnum() or c == "-"))), None)
        if bad is None and "--" in folded.strip("-"):
            return Canonical(None, f"contains '--': only {MRN_RULE}, one hyphen at a time")
        if bad is None:
            return Canonical(None, f"begins or ends with '-': only {MRN_RULE}, a letter or digit first and last")
        shown = f" {bad!r}" if bad.isprintable() and not bad.isspace() else ""
        return Canonical(None, f"contains U+{ord(bad):04X}{shown}: only {MRN_RULE}")
    return Canonical(folded, f"read as {folded}")


def mrn_key(text: str) -> str:
    """An MRN (stored or searched for) as compared: canonical when it can be, else upper-case NFKC as typed."""
    found = canonical_mrn(text).value
    return found if found is not None else unicodedata.normalize("NFKC", text).strip(_BLANK).upper()


# Numbers in text: ASCII digits only. Python's int(), float() and Fraction() read other scripts' digits ("４０",
# "٤٠") as numbers; a volume typed in them is a typing accident to refuse, not to guess.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?")
NUMBER_TEXT_MAX = 40


def ascii_number(text: str) -> Fraction | None:
    """`text` (trimmed) as an exact number when it is written in ASCII digits (e.g. "12.5", "-3", "1e-3"), else
    None."""
    text = text.strip()
    if len(text) > NUMBER_TEXT_MAX or not _DECIMAL.fullmatch(text):
        return None
    return Fraction(text)


def ascii_whole(text: str) -> int | None:
    """`text` (trimmed) as an int when it is a whole number in ASCII digits (at most 18 of them), else None."""
    text = text.strip()
    return int(text) if re.fullmatch(r"-?[0-9]{1,18}", text) else None
