"""Security alerts: `rapport security alerts` and `rapport security unlock EMAIL`."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Security alerts from the anomaly detector; unlocking users.",
                  no_args_is_help=True)
console = Console()  # data (the alert table) on stdout
errors = Console(stderr=True)  # messages on stderr


@app.command("alerts")
def alerts(
    status: str = typer.Option("open", "--status", help="open, resolved or all"),
    limit: int = typer.Option(50, "--limit", min=1, max=200, help="How many, newest first"),
) -> None:
    """List security alerts (users locked by the anomaly detector), newest first."""
    from rapport.bootstrap import bootstrap
    from rapport.errors import RapportError
    from rapport.trust import anomaly

    if status not in ("open", "resolved", "all"):
        errors.print("[red]error:[/red] --status must be open, resolved or all")
        raise typer.Exit(code=2)
    container = bootstrap()
    try:
        with container.session_factory() as session:
            items, _ = anomaly.list_alerts(
                session, status=None if status == "all" else status, limit=limit)
    except RapportError as exc:
        errors.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(code=2) from None
    finally:
        container.engine.dispose()
    table = Table(title=f"Security alerts ({status})")
    for column in ("id", "raised", "user", "locked", "object", "this hour", "limit", "reason",
                   "status"):
        table.add_column(column)
    for item in items:
        details = item["details"]
        counts = (details.get("counts") or {}).get("hour") or {}
        baseline = details.get("baseline") or {}
        user = item["user"] or {}
        table.add_row(
            str(item["id"]), (item["created_at"] or "")[:16].replace("T", " "),
            user.get("email", "—"), "yes" if user.get("locked") else "no",
            str(details.get("object", "")),
            f"tier-A {counts.get('high_value', 0)} · exports {counts.get('exports', 0)} "
            f"· reads {counts.get('reads', 0)}",
            f"tier-A {(baseline.get('high_value') or {}).get('hour_limit', '—')} · exports "
            f"{(baseline.get('exports') or {}).get('hour_limit', '—')}"
            if baseline.get("established") else "ceilings only",
            "; ".join(details.get("reasons") or []), item["status"],
        )
    console.print(table)
    if not items:
        console.print("[dim]No alerts.[/dim]")


@app.command("unlock")
def unlock(
    email: str = typer.Argument(..., help="Email of the locked user"),
    note: str = typer.Option("Unlocked from the command line", "--note",
                             help="Resolution recorded on the user's open alerts"),
) -> None:
    """Unlock a user: resolve their open alerts and accept their access so far (audited)."""
    from rapport.bootstrap import bootstrap
    from rapport.errors import RapportError
    from rapport.trust import anomaly

    container = bootstrap()
    try:
        with container.uow() as uow:
            user = anomaly.user_by_email(uow.session, email)
            was = user.lock_reason
            resolved = anomaly.unlock_user(uow.session, container.settings, None, user.id,
                                           note=note)
            uow.commit()
    except RapportError as exc:
        errors.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(code=2) from None
    finally:
        container.engine.dispose()
    errors.print(f"[green]unlocked {user.email}[/green] (was: {was or 'not locked'}; "
                  f"alerts resolved: {', '.join(map(str, resolved)) or 'none'})")
