"""Turn a pydantic ValidationError into one line naming the field, e.g. `program.steps[2].rate: ...`."""

from __future__ import annotations

from pydantic import ValidationError


def dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def format_validation_error(exc: ValidationError) -> str:
    """The first error only: one line a user can act on. Further errors show once this one is fixed."""
    err = exc.errors(include_url=False)[0]
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    message = str(err["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if err["type"] == "extra_forbidden":
        message = "unknown setting (check the spelling)"
    elif err["type"] == "missing":
        message = "missing (required)"
    elif err["type"] == "literal_error":
        message = f"{message}, got {err.get('input')!r}"
    where = dotted(loc)
    return f"{where}: {message}" if where else message
