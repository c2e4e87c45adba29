"""Private analytics: `rapport analytics private|budget|set-budget`.

Register with ``app.add_typer(analytics.app, name="analytics")`` in ``rapport.cli``.
"""

from __future__ import annotations

from typing import NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from rapport.errors import NotFound, RapportError

app = typer.Typer(help="Differentially private counts and sums, and privacy budgets.",
                  no_args_is_help=True)
console = Console(stderr=True)


def _fail(exc: RapportError) -> NoReturn:
    console.print(f"[red]error:[/red] {exc.detail}")
    for err in exc.errors:
        console.print(f"  {err.field}: {err.message}")
    raise typer.Exit(code=2)


def _user_id(session: Session, email: str) -> int:
    from rapport.crm.normalise import normalise_email
    from rapport.trust.models import User

    user_id = session.scalar(select(User.id).where(User.email == normalise_email(email)))
    if user_id is None:
        raise NotFound(f"No user with email {email}")
    return int(user_id)


@app.command("private")
def private(
    user: str = typer.Option(..., "--user", help="Email of the analyst whose budget is spent"),
    object_name: str = typer.Option(..., "--object", help="accounts, contacts, leads, ..."),
    measure: str = typer.Option("count", "--measure", help="count or sum"),
    field: str = typer.Option(None, "--field", help="For sum: a money, number or integer field"),
    lower: float = typer.Option(None, "--lower", help="For sum: lower clamp bound"),
    upper: float = typer.Option(None, "--upper", help="For sum: upper clamp bound"),
    group_by: str = typer.Option(None, "--group-by", help="An enum field, region_id, stage_id..."),
    filters: list[str] = typer.Option([], "--filter", help="field:op:value (repeatable)"),
    epsilon: float = typer.Option(..., "--epsilon", help="Privacy loss to spend"),
) -> None:
    """Release a noisy count or sum, spent from the analyst's privacy budget."""
    from rapport.bootstrap import bootstrap
    from rapport.trust import private_analytics as pa
    from rapport.trust.actor import Actor
    from rapport.trust.roles import policy_for_user

    container = bootstrap()
    try:
        query = pa.PrivateQueryIn(object=object_name, measure=measure,
                                  field=field, lower=lower, upper=upper, group_by=group_by,
                                  filters=list(filters), epsilon=epsilon)
        with container.uow() as uow:
            user_id = _user_id(uow.session, user)
            actor = Actor(user_id=user_id, source="cli",
                          policy=policy_for_user(uow.session, user_id))
            result = pa.run_query(uow.session, container.settings, actor, query)
            uow.commit()
    except ValidationError as exc:
        from rapport.crm.service import pydantic_errors

        _fail(RapportError("The private query is invalid", errors=pydantic_errors(exc).errors))
    except RapportError as exc:
        _fail(exc)
    table = Table(title=f"{measure} of {object_name} (ε {epsilon:g}, ±{result.error_bound:.2f} "
                  f"at {pa.CONFIDENCE:.0%})")
    table.add_column("group")
    table.add_column("noisy value", justify="right")
    for row in result.rows:
        table.add_row(str(row.label if row.group is None else row.group), str(row.value))
    Console().print(table)
    console.print(f"noise scale {result.noise_scale:g}; budget spent {result.budget.spent:g} of "
                  f"{result.budget.total:g}")


@app.command("budget")
def budget(user: str = typer.Option(..., "--user", help="Email of the analyst")) -> None:
    """Show an analyst's privacy budget and recent queries."""
    from rapport.bootstrap import bootstrap
    from rapport.trust import private_analytics as pa

    container = bootstrap()
    try:
        with container.session_factory() as session:
            view = pa.get_budget(session, container.settings, _user_id(session, user))
    except RapportError as exc:
        _fail(exc)
    Console().print(f"total {view.total:g}, spent {view.spent:g}, remaining {view.remaining:g}")
    for q in view.recent:
        Console().print(f"  {q.created_at:%Y-%m-%d %H:%M} ε {q.epsilon:g}  {q.query}")


@app.command("set-budget")
def set_budget(
    user: str = typer.Option(..., "--user", help="Email of the analyst"),
    total: float = typer.Option(..., "--total", help="The analyst's total ε"),
) -> None:
    """Set an analyst's total privacy budget (audited as done by the system)."""
    from rapport.bootstrap import bootstrap
    from rapport.trust import private_analytics as pa
    from rapport.trust.actor import SYSTEM

    container = bootstrap()
    try:
        with container.uow() as uow:
            result = pa.set_budget(uow.session, container.settings, SYSTEM,
                                   _user_id(uow.session, user), total)
            uow.commit()
    except RapportError as exc:
        _fail(exc)
    console.print(f"[green]budget of {user}: total {result.total:g}, spent {result.spent:g}[/green]")
