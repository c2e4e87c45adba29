"""The ``rapport`` command (Typer + Rich)."""

from __future__ import annotations

import typer
from rich.console import Console

from rapport.bootstrap import bootstrap
from rapport.config import get_settings
from rapport.errors import RapportError

app = typer.Typer(help="Rapport: self-hostable, AI-native CRM.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
user_app = typer.Typer(help="Users.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")


def _register_trust_commands() -> None:
    from rapport.cli import (
        accounts,
        analytics,
        audit,
        hub,
        hub_sources,
        privacy,
        roles,
        security,
        worker,
    )

    app.add_typer(accounts.app, name="account")
    app.add_typer(roles.app, name="role")
    app.add_typer(privacy.app, name="dsr")
    app.add_typer(audit.app, name="audit")
    app.add_typer(security.app, name="security")
    app.add_typer(analytics.app, name="analytics")
    app.add_typer(hub.source_app, name="source")
    app.add_typer(hub.events_app, name="events")
    hub_sources.register(app, hub.events_app)
    worker.register(app)


_register_trust_commands()

console = Console(stderr=True)


def _fail(exc: RapportError) -> None:
    console.print(f"[red]error:[/red] {exc.detail}")
    for err in exc.errors:
        console.print(f"  {err.field}: {err.message}")
    raise typer.Exit(code=2)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision")) -> None:
    """Apply migrations to RAPPORT_DATABASE_URL."""
    from rapport.db.migrate import upgrade

    settings = get_settings()
    upgrade(settings.database_url, revision)
    console.print(f"[green]database at {revision}[/green]")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on"),
    port: int = typer.Option(8000, help="Port"),
    workers: int = typer.Option(1, help="Worker processes (PostgreSQL only)"),
) -> None:
    """Serve the API and web UI (health check at /healthz)."""
    import uvicorn

    console.print(f"Rapport on http://{host}:{port}  (API docs: /api/v1/docs)")
    uvicorn.run(
        "rapport.api.asgi:app", host=host, port=port, workers=workers, log_level="warning",
        proxy_headers=True,
    )


@user_app.command("create")
def user_create(
    email: str = typer.Option(..., "--email", help="Login email"),
    password: str = typer.Option(..., "--password", help="At least 8 characters"),
    name: str = typer.Option(None, "--name", help="Display name"),
    admin: bool = typer.Option(False, "--admin", help="Grant the admin role"),
    role: list[str] = typer.Option(None, "--role", help="A role to hold, e.g. sales_rep "
                                   "(repeatable; see `rapport role list`)"),
    locale: str = typer.Option("en", "--locale", help="en or zh_CN"),
) -> None:
    """Create a user who can sign in to the UI and own API tokens."""
    from rapport.trust.auth import create_user
    from rapport.trust.roles import set_user_roles

    container = bootstrap()
    try:
        with container.uow() as uow:
            user = create_user(uow.session, email, password, name=name, is_admin=admin, locale=locale)
            held = set_user_roles(uow.session, container.settings.secret_key, None, user.user_id,
                                  [*(role or []), *(["admin"] if admin else [])])
            uow.commit()
    except RapportError as exc:
        _fail(exc)
    roles_text = ", ".join(held) or "no roles: the user sees nothing until granted one"
    console.print(f"[green]created user {user.email} (id {user.user_id}; {roles_text})[/green]")


@token_app.command("create")
def token_create(
    user: str = typer.Option(..., "--user", help="Email of the token's user"),
    name: str = typer.Option("cli", "--name", help="A label for the token"),
    days: int = typer.Option(None, "--days", help="Expire after this many days (default 90, "
                             "at most RAPPORT_TOKEN_DAYS_MAX)"),
    role: list[str] = typer.Option(None, "--role", help="Narrow the token to this role of the "
                                   "user (repeatable; none: all the user's roles)"),
) -> None:
    """Create an API token; the token is printed on the last line (shown once)."""
    from rapport.trust.auth import create_api_token

    container = bootstrap()
    try:
        with container.uow() as uow:
            token = create_api_token(uow.session, user, name=name, days=days, roles=role or [],
                                     secret=container.settings.secret_key,
                                     max_days=container.settings.token_days_max)
            uow.commit()
    except RapportError as exc:
        _fail(exc)
    console.print("Send it as 'Authorization: Bearer <token>'. It is not stored in clear.")
    print(token)


# Sub-command modules register themselves on ``app``; keep these imports last.
from rapport.cli import demo as _demo  # noqa: E402, F401
from rapport.cli import transfer as _transfer  # noqa: E402, F401
