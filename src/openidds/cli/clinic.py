"""The clinic service's commands: `idds serve`, `idds audit verify|anchor` and `idds user add`.

They register on the `idds` app (cli/app.py imports this module last). Database, web and service modules load
only when one of them runs, so the calculators stay quick to start.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from openidds.cli.app import JsonOpt, app, emit_json, guarded, whole_option
from openidds.cli.database import DatabaseOpt
from openidds.cli.database import open_database as _open_database
from openidds.cli.database import say as _say
from openidds.cli.database import shown_url as _shown_url
from openidds.errors import InputError

if TYPE_CHECKING:
    pass

audit_app = typer.Typer(help="The clinic's audit trail: a hash chain of every write.", no_args_is_help=True)
user_app = typer.Typer(help="Clinic service users.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
app.add_typer(user_app, name="user")


@app.command()
def serve(
    demo: Annotated[
        bool, typer.Option("--demo", help="Seed a demo clinic (into an empty database) and print its logins.")
    ] = False,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[str, typer.Option("--port", help="Port to listen on.")] = "8000",
    database: DatabaseOpt = None,
    trusted_proxy: Annotated[
        str | None,
        typer.Option(
            "--trusted-proxy",
            help="The address of a reverse proxy in front of the service: only its X-Forwarded-For is believed "
            "(the login throttle counts each client's address).",
        ),
    ] = None,
    no_worker: Annotated[
        bool,
        typer.Option(
            "--no-worker",
            help="Do not run the background worker (reminders, the outbox's delivery, re-checks) in this process: "
            "run `idds worker` instead.",
        ),
    ] = False,
) -> None:
    """Start the clinic service: the REST API under /api/v1 (docs at /api/v1/docs), after creating or migrating
    the database, and the background worker beside it (`--no-worker`: not)."""
    from time import perf_counter

    with guarded():
        port_n = whole_option(port, "--port", 1, 65535)
        proxy = None if trusted_proxy is None else _address(trusted_proxy, "--trusted-proxy")
        engine = _open_database(database, create=True)
    from openidds.db import sessions
    from openidds.service.demo import LOGINS, patient_count, seed_demo
    from openidds.service.errors import Conflict

    shown = f"[{host}]" if ":" in host else host
    local = "127.0.0.1" if host in ("0.0.0.0", "::") else shown  # what a user types to reach it
    base = f"http://{local}:{port_n}/api/v1"
    _say(f"OpenIDDS clinic service. Not a certified medical device. Database: {_shown_url(str(engine.url))}")
    with sessions(engine)() as s:
        patients = patient_count(s)
    logins = None
    if demo:
        if patients:
            _say(f"The database already holds {patients} patients: the demo clinic is not seeded again.")
        else:
            started = perf_counter()
            try:
                logins = seed_demo(sessions(engine), datetime.now(UTC))
            except Conflict as exc:
                _say(f"Demo not seeded: {exc.message}.")
            else:
                took = perf_counter() - started
                _say(
                    f"Seeded the demo clinic: {logins.patients} patients, {logins.audit_records} audit records, "
                    f"in {took:.1f} s."
                )
        if logins is None:
            from sqlalchemy import select

            from openidds.db.models import User

            with sessions(engine)() as s:
                names = set(s.scalars(select(User.username)))
            logins = LOGINS if {login.username for login in LOGINS.logins} <= names else None
            if logins is None:
                _say("(The demo's logins are not in this database.)")
        if logins is not None:
            _say("")
            _say("Demo logins (public passwords: a demo, never for patient care):")
            for line in logins.lines():
                _say("  " + line)
            nurse = logins.by_role("nurse")
            _say("")
            _say("Quick start, in another terminal:")
            _say(
                f"  TOKEN=$(curl -s -X POST {base}/auth/login -H 'Content-Type: application/json' "
                f"""-d '{{"username": "{nurse.username}", "password": "{nurse.password}"}}' """
                """| python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"""
            )
            _say(f'  curl -s "{base}/dashboard?limit=5" -H "Authorization: Bearer $TOKEN"')
            _say(f'  curl -s {base}/patients -H "Authorization: Bearer $TOKEN"')
            if host not in ("127.0.0.1", "localhost", "::1"):
                _say(f"Warning: listening on {host}: anyone who can reach it can log in with these public passwords.")
    elif not patients:
        _say('No patients yet. The first admin: idds user add admin --role admin --name "Clinic Administrator"')
    mailbox = None
    if demo:
        from openidds.cli.worker import demo_mail

        mailbox = demo_mail(engine, f"http://{local}:{port_n}", seeded=logins is not None)
    _say("")
    _say(f"In a browser: http://{local}:{port_n}/    API docs: {base}/docs    (Ctrl+C stops the service)")
    import uvicorn

    from openidds.api.app import create_app

    # The client's address is the connection's unless a proxy is named: uvicorn would otherwise believe
    # X-Forwarded-For from 127.0.0.1, and the login throttle counts guesses per address (service/throttle.py).
    proxied = {"proxy_headers": False} if proxy is None else {"proxy_headers": True, "forwarded_allow_ips": proxy}
    service = create_app(engine, migrate_db=False)
    service.state.demo_mailbox = mailbox  # the Demo mailbox page (web/notifications.py) reads it
    stop = None
    if not no_worker:
        from openidds.cli.worker import background

        stop = background(engine)
    try:
        uvicorn.run(service, host=host, port=port_n, **proxied)
    finally:
        if stop is not None:
            stop.set()


def _anchor(text: str | None) -> tuple[int, str] | None:
    from openidds.clinic.audit import parse_anchor

    return None if text is None else parse_anchor(text, "--anchor")


@audit_app.command("verify")
def audit_verify(
    database: DatabaseOpt = None,
    anchor: Annotated[
        str | None,
        typer.Option(
            "--anchor",
            metavar="SEQ:HASH",
            help="A head kept elsewhere (`idds audit anchor`): also "
            "catches the last records removed, or the whole chain rewritten.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check the audit trail's hash chain and its stored head (and the anchor, if given). Exit 0: intact; 1: each
    edited, missing, inserted or unreadable record named."""
    with guarded():
        parsed = _anchor(anchor)
        engine = _open_database(database, create=False)
    from openidds.db import sessions
    from openidds.service import audit

    with sessions(engine)() as s:
        checked, findings = audit.verify(s, parsed)
    engine.dispose()
    if as_json:
        emit_json(
            {
                "database": _shown_url(str(engine.url)),
                "records": checked,
                "intact": not findings,
                "findings": [{"kind": f.kind, "sequence": f.sequence, "message": f.message} for f in findings],
            }
        )
    elif not findings:
        _say(f"{checked} records, intact")
    else:
        _say(
            f"{checked} records, {len(findings)} finding{'s' if len(findings) > 1 else ''}: the audit trail was changed"
        )
        for f in findings:
            _say(f"  {f.kind:<10}  {f.message}")
    if findings:
        raise typer.Exit(1)


@audit_app.command("anchor")
def audit_anchor(database: DatabaseOpt = None, as_json: JsonOpt = False) -> None:
    """Print the audit trail's head as SEQ:HASH, to keep elsewhere and check later with `verify --anchor`."""
    with guarded():
        engine = _open_database(database, create=False)
        from openidds.db import sessions
        from openidds.db.models import AuditHead

        with sessions(engine)() as s:
            head = s.get(AuditHead, 1)
        engine.dispose()
        if head is None or head.sequence == 0:
            raise InputError("--database", "the audit trail is empty: nothing to anchor yet")
        if not (
            isinstance(head.hash, str) and len(head.hash) == 64 and all(c in "0123456789abcdef" for c in head.hash)
        ):
            # bytes written past the clinic (SQLite keeps any): no anchor to keep; verify names what was done
            raise InputError("--database", "the audit trail's head is unreadable: `idds audit verify` names it")
    if as_json:
        emit_json({"sequence": head.sequence, "hash": head.hash, "anchor": f"{head.sequence}:{head.hash}"})
        return
    _say(f"{head.sequence}:{head.hash}")
    sys.stderr.write(
        f"(record {head.sequence} and its hash: keep it elsewhere; later: idds audit verify --anchor ...)\n"
    )


def _new_password() -> tuple[str, str]:
    """The new user's password and where it came from: $IDDS_PASSWORD, else a hidden prompt (typed twice)."""
    password = os.environ.get("IDDS_PASSWORD")
    if password:
        return password, "IDDS_PASSWORD"
    try:
        return typer.prompt("Password", hide_input=True, confirmation_prompt=True), "password"
    except typer.Abort:  # no terminal to type it at (or Ctrl+C)
        raise InputError("IDDS_PASSWORD", "not set, and no password was typed at the prompt") from None


def _address(text: str, option: str) -> str:
    import ipaddress

    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        raise InputError(option, f"expected an IP address such as 127.0.0.1, got '{text}'") from None


@user_app.command("unlock")
def user_unlock(
    username: Annotated[str, typer.Argument(metavar="USERNAME", help="The login name to unlock.")],
    address: Annotated[
        str | None, typer.Option("--address", help="Also forget the failures of this client address.")
    ] = None,
    database: DatabaseOpt = None,
) -> None:
    """Lift a login lock that guessers keep renewing (even the last admin's), audited as actor 'cli'."""
    with guarded():
        where = None if address is None else _address(address, "--address")
        engine = _open_database(database, create=False)
        from openidds.db import sessions
        from openidds.service.throttle import unlock

        try:
            with sessions(engine)() as s, s.begin():
                forgotten = unlock(s, username.strip(), where, datetime.now(UTC), "cli")
        finally:
            engine.dispose()
    _say(f"Unlocked {username.strip()}: {forgotten} count{'s' if forgotten != 1 else ''} of failures forgotten.")


USER_OPTION = {"username": "USERNAME", "role": "--role", "full_name": "--name", "patient_id": "--patient-id"}


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(metavar="USERNAME", help="Lower-case letters, digits, '.', '_' or '-'.")],
    role: Annotated[str, typer.Option("--role", help="admin, physician, nurse, pharmacist or patient.")],
    name: Annotated[str, typer.Option("--name", help="The user's full name.")],
    patient_id: Annotated[
        str | None, typer.Option("--patient-id", help="For a patient's own login: their patient id.")
    ] = None,
    database: DatabaseOpt = None,
) -> None:
    """Add a user (e.g. a clinic's first admin). The password comes from $IDDS_PASSWORD, or a hidden prompt."""
    from openidds.clinic.roles import ROLES

    with guarded():
        if role not in ROLES:  # before asking for a password
            raise InputError("--role", f"expected one of {', '.join(ROLES)}, got '{role}'")
        patient = None if patient_id is None else whole_option(patient_id, "--patient-id", 1, 2**31 - 1)
        password, source = _new_password()
    with guarded():
        engine = _open_database(database, create=True)
        from openidds.db import sessions
        from openidds.service.errors import Conflict
        from openidds.service.users import add_user

        try:
            with sessions(engine)() as s, s.begin():
                user = add_user(s, "cli", username, name, role, password, datetime.now(UTC), patient)
                user_id = user.id
        except Conflict as exc:
            raise InputError("USERNAME", exc.message) from None
        except InputError as exc:
            field = source if exc.field == "password" else USER_OPTION.get(exc.field or "", exc.field or "")
            raise InputError(field, exc.message) from None
        finally:
            engine.dispose()
    _say(f"Added {role} {username} (user {user_id}), audited as actor 'cli'.")
