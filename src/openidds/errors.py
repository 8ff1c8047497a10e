"""Errors the core raises. Each names the field it is about, so every adapter can print one clear line."""

from __future__ import annotations


class OpenIDDSError(Exception):
    """Base of every error the core raises on purpose."""


class InputError(OpenIDDSError, ValueError):
    """Bad input: what the user wrote cannot be used. `field` says where (e.g. `program.steps[2].rate`); `codes`, the
    codes of the findings it is about, if any (the message says them in words: `openidds.display.message`)."""

    def __init__(self, field: str, message: str, codes: tuple[str, ...] = ()) -> None:
        self.field = field
        self.message = message
        self.codes = codes
        super().__init__(f"{field}: {message}" if field else message)


class UnitMismatchError(OpenIDDSError, TypeError):
    """Two quantities of different kinds were combined, e.g. mg/day added to mL/day. Never silently converted."""
