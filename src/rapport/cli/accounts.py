"""Account commands: `rapport account unlock|reset-totp|tokens EMAIL`."""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from rapport.errors import RapportError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

app = typer.Typer(help="Account commands: unlock, two-factor reset, token listing.",
                  no_args_is_help=True)
console = Console(stderr=True)


def _fail(message: str) -> NoReturn:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code=2)


def _user_id(session: Session, email: str) -> int:
    from sqlalchemy import select

    from rapport.crm.normalise import normalise_email
    from rapport.trust.models import User

    try:
        normalised = normalise_email(email)
    except ValueError:
        normalised = email
    user_id = session.scalar(select(User.id).where(User.email == normalised))
    if user_id is None:
        _fail(f"no user with email {email}")
    return int(user_id)


@app.command("unlock")
def unlock(email: str = typer.Argument(..., help="The user's sign-in email")) -> None:
    """Clear a lock (failed sign-ins or an anomaly hold) and the failure counter (audited)."""
    from rapport.bootstrap import bootstrap
    from rapport.trust.auth import unlock_with_review

    container = bootstrap()
    try:
        with container.uow() as uow:
            unlock_with_review(uow.session, container.settings, None,
                               _user_id(uow.session, email))
            uow.commit()
    except RapportError as exc:
        _fail(exc.detail)
    console.print(f"[green]unlocked {email}[/green]")


@app.command("reset-totp")
def reset_totp_command(email: str = typer.Argument(..., help="The user's sign-in email")) -> None:
    """Turn a user's two-factor sign-in off (lost phone); they set it up again (audited)."""
    from rapport.bootstrap import bootstrap
    from rapport.trust.auth import reset_totp

    container = bootstrap()
    try:
        with container.uow() as uow:
            reset_totp(uow.session, container.settings.secret_key, None,
                       _user_id(uow.session, email))
            uow.commit()
    except RapportError as exc:
        _fail(exc.detail)
    console.print(f"[green]two-factor sign-in reset for {email}[/green]")


@app.command("tokens")
def tokens(email: str = typer.Argument(..., help="The user's sign-in email")) -> None:
    """List the user's API tokens that are not revoked (never the tokens themselves)."""
    from rapport.bootstrap import bootstrap
    from rapport.trust.auth import list_tokens

    container = bootstrap()
    with container.session_factory() as session:
        items = list_tokens(session, _user_id(session, email))
    table = Table("id", "name", "starts with", "roles", "expires", "last used")
    for t in items:
        expires = t.expires_at.date().isoformat() if t.expires_at else "never"
        table.add_row(str(t.id), t.name, t.prefix + "…", ", ".join(t.roles) or "all",
                      expires + (" (expired)" if t.expired else ""),
                      t.last_used_at.isoformat(timespec="minutes") if t.last_used_at else "—")
    Console().print(table)
