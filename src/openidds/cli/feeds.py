"""`idds feed add|list|revoke`: secret calendar feeds from the command line (service.feeds). Registered on the `idds`
app by cli/app.py.

A feed is made, listed and revoked by a clinic user (`--as USERNAME`): the role rules and the audit are the
app's, as if that user had done it in the app. The secret URL is printed once by `add` and stored nowhere.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from openidds.cli.app import JsonOpt, app, emit_json, guarded, whole_option
from openidds.cli.database import AsOpt, DatabaseOpt, acting_user
from openidds.cli.database import open_database as _open_database
from openidds.cli.database import say as _say
from openidds.errors import InputError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


feed_app = typer.Typer(help="Secret calendar feeds (iCalendar) of the clinic's visits.", no_args_is_help=True)
app.add_typer(feed_app, name="feed")

BASE_HELP = "The address the clinic's calendar apps reach the service at (the URL is printed on it)."
BaseOpt = Annotated[str, typer.Option("--base-url", metavar="URL", help=BASE_HELP)]
FIELD_OPTION = {"scope": "--scope", "subject_id": "--subject", "label": "--label"}


def _run(database: str | None, use_case: Any) -> Any:
    """`use_case(session)` in one writer's transaction; a refusal is one line naming the option."""
    from openidds.db import writers
    from openidds.service.errors import ServiceError

    engine = _open_database(database, create=False)
    try:
        with writers(engine)() as s, s.begin():
            return use_case(s)
    except ServiceError as exc:
        raise InputError("--as" if exc.status in (403, 404) else (exc.field or "feed"), exc.message) from None
    except InputError as exc:
        raise InputError(FIELD_OPTION.get(exc.field or "", exc.field or ""), exc.message) from None
    finally:
        engine.dispose()


@feed_app.command("add")
def feed_add(
    who: AsOpt,
    scope: Annotated[str, typer.Option("--scope", help="clinic, clinician or patient.")] = "clinic",
    subject: Annotated[
        str | None, typer.Option("--subject", help="clinician: a user id (default: --as); patient: a patient id.")
    ] = None,
    label: Annotated[str | None, typer.Option("--label", help="A name for the list.")] = None,
    base_url: BaseOpt = "http://127.0.0.1:8000",
    database: DatabaseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make a feed and print its secret URL, this once."""
    with guarded():
        subject_id = None if subject is None else whole_option(subject, "--subject", 1, 2**31 - 1)
        if not base_url.startswith(("http://", "https://")):
            raise InputError("--base-url", f"expected http://HOST[:PORT] or https://…, got '{base_url}'")
        from openidds.service import feeds

        def make(s: Session) -> tuple[dict[str, Any], str]:
            made = feeds.create_feed(s, acting_user(s, who), scope, subject_id, datetime.now(UTC), label)
            return feeds.feed_json(made.feed), base_url.rstrip("/") + feeds.feed_path(made.secret)

        doc, url = _run(database, make)
    if as_json:
        emit_json({**doc, "url": url})
        return
    _say(f"Made calendar feed {doc['id']} ({doc['label']}), audited as {who.strip()}.")
    _say("Its secret URL, shown this once (subscribe to it in a calendar app; lost: revoke it and make another):")
    _say(url)


@feed_app.command("list")
def feed_list(who: AsOpt, database: DatabaseOpt = None, as_json: JsonOpt = False) -> None:
    """The feeds that user sees (never a secret)."""
    with guarded():
        from openidds.service import feeds

        found = _run(database, lambda s: [feeds.feed_json(f) for f in feeds.visible_feeds(s, acting_user(s, who))])
    if as_json:
        emit_json({"feeds": found})
        return
    if not found:
        _say("No calendar feed.")
    for f in found:
        state = f"revoked {f['revoked_at']}" if f["revoked_at"] else "active"
        subject = "" if f["subject_id"] is None else f" {f['subject_id']}"
        _say(f"{f['id']}\t{f['scope']}{subject}\t{state}\t{f['label']}")


@feed_app.command("revoke")
def feed_revoke(
    feed_id: Annotated[str, typer.Argument(metavar="ID", help="The feed's id (idds feed list).")],
    who: AsOpt,
    database: DatabaseOpt = None,
) -> None:
    """End a feed's URL for good."""
    with guarded():
        number = whole_option(feed_id, "ID", 1, 2**31 - 1)
        from openidds.service import feeds

        _run(database, lambda s: feeds.revoke_feed(s, acting_user(s, who), number, datetime.now(UTC)).id)
    _say(f"Revoked calendar feed {number}: its URL answers 404 from now on.")
