"""``ceuskit user …`` (accounts of the workstation) and ``ceuskit audit`` (who did what, when).

Passwords and tokens are printed once, when made, and never stored or logged in clear.  Changes made here
are audited under ``cli:OSUSER``.
"""

from __future__ import annotations

import getpass
import json
import sys
from typing import Annotated

import typer

from ceuskit.cli.command import app
from ceuskit.errors import AccountError
from ceuskit.store import DEFAULT_URL

user_app = typer.Typer(help="Workstation accounts: add, list, disable, enable, password, API token.",
                       no_args_is_help=True)
app.add_typer(user_app, name="user")

DbOption = Annotated[str, typer.Option("--db", help="Database URL: sqlite:///FILE or postgresql+psycopg://USER@HOST/DB "
                                       "(default sqlite:///ceuskit.db, in the current folder; only `user add` "
                                       "creates a missing database).")]
NameArgument = Annotated[str, typer.Argument(help="User name (a–z, 0–9, '.', '_', '-').")]
PasswordStdin = Annotated[bool, typer.Option("--password-stdin", help="Read the password from the first line of "
                                             "standard input instead of generating one.")]


def cli_actor() -> str:
    """Who changes things from the command line, for the audit log: ``cli:OSUSER``."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name for this uid (some containers)
        return "cli"


def _password_from_stdin() -> str:
    line = sys.stdin.readline()
    password = line[:-1] if line.endswith("\n") else line
    if password.endswith("\r"):
        password = password[:-1]
    if not password:
        raise AccountError("--password-stdin: standard input held no password")
    return password


@user_app.command("add")
def add(name: NameArgument,
        role: Annotated[str, typer.Option("--role", help="admin (everything) or reader (blinded reads only).")],
        password_stdin: PasswordStdin = False, db: DbOption = DEFAULT_URL) -> None:
    """Add a user; prints a generated password once (or takes one with --password-stdin)."""
    from ceuskit.store import Store
    from ceuskit.store.accounts import add_user, generate_password

    password = _password_from_stdin() if password_stdin else generate_password()
    with Store(db) as store:  # the first account may make the database (as `serve` does)
        user = add_user(store, name, role=role, password=password, actor=cli_actor())
    typer.echo(f"added {user['role']} {user['username']}")
    if not password_stdin:
        typer.echo(f"password (shown once): {password}")


@user_app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
          db: DbOption = DEFAULT_URL) -> None:
    """Every user: role, status, active API tokens and browser sessions."""
    from ceuskit.store import Store
    from ceuskit.store.accounts import list_users

    with Store(db, create=False) as store:
        users = list_users(store)
    if as_json:
        typer.echo(json.dumps(users, indent=1))
        return
    if not users:
        typer.echo("no users yet: add one with `ceuskit user add NAME --role admin`")
        return
    typer.echo(f"{'user':24s} {'role':7s} {'status':9s} {'tokens':>6s} {'sessions':>8s}  created (UTC)")
    for u in users:
        typer.echo(f"{u['username']:24s} {u['role']:7s} {'disabled' if u['disabled'] else 'active':9s} "
                   f"{u['active_tokens']:>6d} {u['active_sessions']:>8d}  {u['created_at'][:16].replace('T', ' ')}")


@user_app.command("disable")
def disable(name: NameArgument, db: DbOption = DEFAULT_URL) -> None:
    """Disable a user: their sessions end and their tokens stop working (until enabled again)."""
    from ceuskit.store import Store
    from ceuskit.store.accounts import set_user_disabled

    with Store(db, create=False) as store:
        user = set_user_disabled(store, name, True, actor=cli_actor())
    typer.echo(f"disabled {user['username']}")


@user_app.command("enable")
def enable(name: NameArgument, db: DbOption = DEFAULT_URL) -> None:
    """Enable a disabled user again."""
    from ceuskit.store import Store
    from ceuskit.store.accounts import set_user_disabled

    with Store(db, create=False) as store:
        user = set_user_disabled(store, name, False, actor=cli_actor())
    typer.echo(f"enabled {user['username']}")


@user_app.command("password")
def password(name: NameArgument, password_stdin: PasswordStdin = False, db: DbOption = DEFAULT_URL) -> None:
    """Give a user a new password (printed once, or read with --password-stdin); their sessions end."""
    from ceuskit.store import Store
    from ceuskit.store.accounts import generate_password, set_password

    new = _password_from_stdin() if password_stdin else generate_password()
    with Store(db, create=False) as store:
        set_password(store, name, new, actor=cli_actor())
    typer.echo(f"new password set for {name.strip().lower()}")
    if not password_stdin:
        typer.echo(f"password (shown once): {new}")


@user_app.command("token")
def token(name: NameArgument,
          revoke: Annotated[bool, typer.Option("--revoke", help="Revoke every API token of the user instead.")] = False,
          db: DbOption = DEFAULT_URL) -> None:
    """Create a new API token for scripts (Authorization: Bearer TOKEN), printed once; or --revoke them all."""
    from ceuskit.store import Store
    from ceuskit.store.accounts import new_api_token, revoke_api_tokens

    with Store(db, create=False) as store:
        if revoke:
            count = revoke_api_tokens(store, name, actor=cli_actor())
            typer.echo(f"revoked {count} API token(s) of {name.strip().lower()}")
            return
        made = new_api_token(store, name, actor=cli_actor())
    typer.echo(f"API token for {name.strip().lower()} (shown once): {made}")


@app.command("audit")
def audit(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
          limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="Newest entries to show.")] = 200,
          user: Annotated[str | None, typer.Option("--user", help="Only this actor (a user name, bootstrap or "
                                                   "cli:OSUSER; any case).")] = None,
          action: Annotated[str | None, typer.Option("--action", help="Only this action (e.g. sign_in_failed).")] = None,
          db: DbOption = DEFAULT_URL) -> None:
    """Show the audit log, newest first: sign-ins, user changes, ROI edits, analyses, reads, exports, reports."""
    from ceuskit.errors import InputError
    from ceuskit.store import Store
    from ceuskit.store.audit import ACTIONS, audit_events, count_events

    if action is not None:
        action = action.strip().lower().replace("-", "_")
        if action not in ACTIONS:
            raise InputError(f"--action {action!r} is not an audited action; one of {', '.join(ACTIONS)}")
    with Store(db, create=False) as store:
        events = audit_events(store, limit=limit, actor=user, action=action)
        total = count_events(store) if not events else len(events)
    if as_json:
        typer.echo(json.dumps(events, indent=1))
        return
    for e in events:
        detail = ", ".join(f"{k}={v}" for k, v in e["detail"].items())
        typer.echo(f"{e['at'][:19].replace('T', ' ')}  {e['actor']:20s} {e['action']:22s} {e['target'] or '':24s} "
                   f"{detail}")
    if not events and total:
        asked = " and ".join(f"--{k} {v}" for k, v in (("user", user), ("action", action)) if v is not None)
        typer.echo(f"no entry matches {asked} (the audit log holds {total})")
    elif not events:
        typer.echo("the audit log is empty")
