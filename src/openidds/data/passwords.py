"""The shipped list of common passwords (common-passwords.txt: its first line names its source), read once."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

SHIPPED = "common-passwords.txt"


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """Every password of the list, lower-case (the first line is the header; a password may start with '#')."""
    text = resources.files("openidds.data").joinpath(SHIPPED).read_text(encoding="utf-8")
    return frozenset(line.casefold() for line in text.splitlines()[1:] if line)
