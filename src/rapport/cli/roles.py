"""Roles: `rapport role list|show|grant|versions`."""

from __future__ import annotations

import orjson
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from rapport.bootstrap import bootstrap
from rapport.errors import RapportError
from rapport.trust import roles
from rapport.trust.models import Role, User

app = typer.Typer(help="Roles: what each role may do, and who holds it.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)


def _fail(exc: RapportError) -> None:
    err.print(f"[red]error:[/red] {exc.detail}")
    for field_error in exc.errors:
        err.print(f"  {field_error.field}: {field_error.message}")
    raise typer.Exit(code=2)


@app.command("list")
def list_roles() -> None:
    """Every role with its scope per object and how many users hold it."""
    container = bootstrap()
    try:
        with container.uow() as uow:
            roles.ensure_builtin_roles(uow.session)
            uow.commit()
            table = Table("name", "label", "built in", "version", "objects", "reveal")
            for role in uow.session.scalars(select(Role).order_by(Role.name)):
                doc = role.permissions
                objects = ", ".join(f"{k}:{v['scope']}" for k, v in sorted(
                    (doc.get("objects") or {}).items()) if k == "*" or v.get("rights"))
                table.add_row(role.name, role.label, "yes" if role.builtin else "",
                              str(role.version), "all (admin)" if doc.get("admin") else objects[:80],
                              "yes" if doc.get("reveal") else "")
        out.print(table)
    finally:
        container.engine.dispose()


@app.command("show")
def show_role(name: str = typer.Argument(..., help="Role name")) -> None:
    """A role's permissions as JSON (edit them through the API or /admin/roles)."""
    container = bootstrap()
    try:
        with container.session_factory() as session:
            role = roles.get_role(session, name)
            out.print_json(orjson.dumps(roles.role_json(role)).decode())
    except RapportError as exc:
        _fail(exc)
    finally:
        container.engine.dispose()


@app.command("grant")
def grant(
    email: str = typer.Argument(..., help="The user's email"),
    role: list[str] = typer.Option(..., "--role", help="Role to hold (repeatable)"),
    replace: bool = typer.Option(False, "--replace", help="Drop roles not named here"),
) -> None:
    """Give a user roles (audited as a change by the system)."""
    from rapport.crm.normalise import normalise_email

    container = bootstrap()
    try:
        with container.uow() as uow:
            user_id = uow.session.scalar(select(User.id).where(User.email == normalise_email(email)))
            if user_id is None:
                err.print(f"[red]error:[/red] no user with email {email}")
                raise typer.Exit(code=2)
            wanted = list(role) if replace else [*roles.role_names_of(uow.session, user_id), *role]
            held = roles.set_user_roles(uow.session, container.settings.secret_key, None, user_id,
                                        wanted)
            uow.commit()
        out.print(f"[green]{email} holds: {', '.join(held) or 'no roles'}[/green]")
    except RapportError as exc:
        _fail(exc)
    finally:
        container.engine.dispose()
