"""TOML a user gives (a program file, a scenario, a clinic's drug library or device catalog), read within bounds.

tomllib recurses once per nested array or inline table (3,000 deep is a RecursionError, a crash rather than an
answer) and holds the whole document in memory, so the size and the nesting are checked BEFORE it parses: the
byte count, and a cheap scan of the brackets and braces outside strings and comments. Dotted keys and table
headers nest without recursion in tomllib, but every reader after it walks the result: it is bounded the same.
Pure: text in, a dict or an InputError naming `origin` out.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

from openidds.errors import InputError

MAX_DEPTH = 20  # arrays, inline tables and tables inside one another; a program file uses 3
PROGRAM_MAX_BYTES = 256 * 1024  # a program file or a scenario is a few kilobytes
DATA_MAX_BYTES = 4 * 1024 * 1024  # a clinic's drug library or device catalog (the shipped ones: under 100 KB)

# What changes the nesting or hides brackets: string openers (triple first), comments, brackets and braces.
_TOKEN = re.compile(r"\"\"\"|'''|[\"'#\[\]{}]")
_BASIC = re.compile(r'(?:[^"\\\n]|\\.)*"')  # the rest of a "…" string, escapes skipped
_MULTI_BASIC = re.compile(r'(?:[^\\]|\\.)*?"""', re.DOTALL)


def toml_depth(text: str) -> int:
    """How deep arrays and inline tables nest in `text`, counted without parsing (a string or a comment holds no
    brackets). An unterminated string stops the count: the parser then refuses the file."""
    depth = deepest = 0
    pos = 0
    while (m := _TOKEN.search(text, pos)) is not None:
        token, pos = m.group(), m.end()
        if token in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_DEPTH:  # no need to read further
                return deepest
        elif token in "]}":
            depth = max(depth - 1, 0)
        elif token == "#":
            end = text.find("\n", pos)
            pos = len(text) if end < 0 else end
        else:
            if token == '"':
                found = _BASIC.match(text, pos)
                end = -1 if found is None else found.end()
            elif token == '"""':
                found = _MULTI_BASIC.match(text, pos)
                end = -1 if found is None else found.end()
            else:
                end = text.find(token, pos)
                end = -1 if end < 0 else end + len(token)
            if end < 0:
                return deepest
            pos = end
    return deepest


def _nested_too_deep(doc: dict[str, Any]) -> bool:
    """Whether the parsed document nests deeper than MAX_DEPTH (dotted keys, table headers), walked without
    recursion."""
    stack: list[tuple[Any, int]] = [(doc, 0)]  # the values of the document are 1 deep
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return False


def read_toml(text: str | bytes, origin: str = "", max_bytes: int = PROGRAM_MAX_BYTES) -> dict[str, Any]:
    """TOML text as a dict. Too large, nested too deep, not UTF-8 or not TOML: an InputError naming `origin` (the
    file or the field it came in), in one line."""
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise InputError(origin, f"the file is {size:,} bytes: at most {max_bytes:,}")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(origin, "the file is not UTF-8 text") from None
    if toml_depth(text) > MAX_DEPTH:
        raise InputError(origin, f"arrays or tables nested more than {MAX_DEPTH} deep: not a file OpenIDDS reads")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(origin, f"not valid TOML: {exc}") from None
    except (ValueError, RecursionError) as exc:  # an integer past Python's digit limit; recursion: belt and braces
        raise InputError(origin, f"cannot be read: {exc}") from None
    if _nested_too_deep(doc):
        raise InputError(origin, f"keys nested more than {MAX_DEPTH} deep: not a file OpenIDDS reads")
    return doc
