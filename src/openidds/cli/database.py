"""The clinic database on the command line: the --database option, opening (or creating) it, and printing a line.

Its own module, importing nothing from cli/app.py: every command module uses it, and `python -m openidds.cli.app`
loads those while cli/app.py is itself still loading.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from openidds.errors import InputError

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from openidds.db.models import User

DATABASE_HELP = "The clinic database (default: $IDDS_DATABASE_URL, else a SQLite file in your user data directory)."
DatabaseOpt = Annotated[str | None, typer.Option("--database", metavar="URL", help=DATABASE_HELP)]
AsOpt = Annotated[str, typer.Option("--as", metavar="USERNAME", help="The login this is done as (audited as it).")]


def acting_user(s: Session, username: str) -> User:
    """The active login named by --as: the role matrix and the audit treat the command as done by it."""
    from sqlalchemy import select

    from openidds.db.models import User

    user = s.scalars(select(User).where(User.username == username.strip(), User.active.is_(True))).first()
    if user is None:
        raise InputError("--as", f"no active login '{username.strip()}'")
    return user


def shown_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def open_database(database: str | None, create: bool) -> Engine:
    """The engine for the clinic database, created and migrated (`create`) or required to exist already."""
    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import NoSuchModuleError, SQLAlchemyError

    from openidds.db import database_url, make_engine, migrate

    url = database_url(database)
    try:
        parsed = make_url(url)
    except Exception:  # SQLAlchemy raises several kinds for a malformed URL
        import re

        shown = re.sub(r"(://[^:/@]*:)[^/]*@", r"\1***@", url)  # a password, as _shown_url hides it
        raise InputError("--database", f"not a database URL: '{shown}'") from None
    file = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if not create and file not in (None, "", ":memory:") and not Path(str(file)).exists():
        raise InputError("--database", f"no clinic database at {shown_url(url)} (start it once: idds serve)")
    try:
        engine = make_engine(url)
    except (NoSuchModuleError, ImportError):  # a kind of database, or a driver, that this installation lacks
        raise InputError(
            "--database",
            f"cannot open {shown_url(url)}: no driver for '{parsed.drivername}' "
            "(use sqlite:///FILE or postgresql://USER@HOST/DATABASE)",
        ) from None
    try:
        if create:
            migrate(engine)
        elif not inspect(engine).has_table("audit"):
            raise InputError("--database", f"{shown_url(url)} holds no clinic database (start it once: idds serve)")
    except SQLAlchemyError as exc:
        message = " ".join(str(getattr(exc, "orig", None) or exc).split())
        raise InputError("--database", f"cannot open {shown_url(url)}: {message}") from None
    return engine


def say(text: str = "") -> None:
    """Plain lines, never rich: commands and URLs must stay whole and copy-pasteable at any terminal width."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
