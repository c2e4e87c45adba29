"""Data-subject requests: `rapport dsr ...`.

Tables go to stdout, messages to stderr. The command line acts as the system (audit actor
``system``): whoever can run it can read the database anyway.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from rapport.bootstrap import bootstrap
from rapport.errors import RapportError
from rapport.trust import dsr, erasure
from rapport.trust.actor import SYSTEM

app = typer.Typer(help="Data-subject requests: access bundles, erasure, suppression.",
                  no_args_is_help=True)
err = Console(stderr=True)


class _Out:
    """Tables on stdout; piped output is not cut to 80 columns."""

    def print(self, *items: object) -> None:
        console = Console() if sys.stdout.isatty() else Console(width=200)
        console.print(*items)


out = _Out()


def _fail(exc: RapportError) -> None:
    err.print(f"[red]error:[/red] {exc.detail}")
    for e in exc.errors:
        err.print(f"  {e.field}: {e.message}")
    raise typer.Exit(code=2)


def _when(info: dsr.RequestInfo) -> str:
    if not info.is_open:
        return "—"
    if info.overdue:
        return f"[bold red]{-info.days_left} days overdue[/bold red]"
    return f"{info.days_left} days left"


def _request_table(items: list[dsr.RequestInfo]) -> Table:
    table = Table(show_edge=False)
    for column in ("id", "kind", "law", "subject", "status", "received", "due", "deadline"):
        table.add_column(column, justify="right" if column == "id" else "left")
    for i in items:
        table.add_row(str(i.id), i.kind, i.law.upper(), i.subject_pseudonym, i.status,
                      i.received_at.date().isoformat(), i.due_at.date().isoformat(), _when(i))
    return table


@app.command("create")
def create(
    kind: str = typer.Option(..., "--kind", help="access or erasure"),
    law: str = typer.Option("gdpr", "--law", help="gdpr (30 days), ccpa (45) or pipl (15)"),
    email: str = typer.Option(None, "--email", help="Find the person by e-mail"),
    phone: str = typer.Option(None, "--phone", help="Find the person by phone"),
    subject: str = typer.Option(None, "--subject", help="Or name the record: contacts:12, leads:5"),
    received_on: str = typer.Option(None, "--received-on",
                                    help="When the request arrived (YYYY-MM-DD, default today)"),
    notes: str = typer.Option(None, "--notes", help="Case notes (no personal data)"),
) -> None:
    """Open a request; the deadline follows from the law."""
    container = bootstrap()
    try:
        received = date.fromisoformat(received_on) if received_on else None
    except ValueError:
        err.print("[red]error:[/red] --received-on must look like 2026-05-01")
        raise typer.Exit(code=2) from None
    try:
        with container.uow() as uow:
            info = dsr.create_request(uow.session, container.settings, SYSTEM, kind=kind, law=law,
                                      subject=subject, email=email, phone=phone,
                                      received_on=received, notes=notes)
            uow.commit()
        with container.session_factory() as session:
            held = dsr.holdings(session, container.settings, info)
    except RapportError as exc:
        _fail(exc)
    err.print(f"[green]opened request {info.id}[/green] ({info.kind}, {info.law.upper()}) for "
              f"{info.subject}, due {info.due_at.date().isoformat()} ({info.days_left} days)")
    if held is not None:
        covered = ", ".join(f"{len(ids)} {t}" for t, ids in held.records.items() if ids)
        err.print(f"it covers {covered}")
    print(info.id)


@app.command("list")
def list_(
    status: str = typer.Option(None, "--status", help="received, in_progress, completed, rejected"),
    kind: str = typer.Option(None, "--kind", help="access or erasure"),
    overdue: bool = typer.Option(False, "--overdue", help="Only open requests past their deadline"),
    limit: int = typer.Option(100, "--limit", min=1, max=1000),
) -> None:
    """Requests, open ones first by deadline."""
    container = bootstrap()
    try:
        with container.session_factory() as session:
            items = dsr.list_requests(session, status=status, kind=kind,
                                      overdue=True if overdue else None, limit=limit)
    except RapportError as exc:
        _fail(exc)
    if not items:
        err.print("no requests")
        return
    out.print(_request_table(items))
    late = sum(1 for i in items if i.overdue)
    if late:
        err.print(f"[bold red]{late} overdue[/bold red]")


@app.command("show")
def show(request_id: int = typer.Argument(..., help="Request id")) -> None:
    """One request, what the database holds about its person, and its report."""
    container = bootstrap()
    try:
        with container.session_factory() as session:
            info = dsr.get_request(session, request_id)
            held = dsr.holdings(session, container.settings, info)
    except RapportError as exc:
        _fail(exc)
    out.print(_request_table([info]))
    if info.notes:
        out.print(f"notes: {info.notes}")
    if held is not None:
        table = Table("store", "held", "erasure does", show_edge=False, title="held now")
        actions = {s.name: s.action for s in erasure.STORES}
        for name, count in held.counts.items():
            table.add_row(name, str(count), actions.get(name, ""))
        out.print(table)
    if info.report.get("stores"):
        _print_report(info.report)


def _print_report(report: dict[str, object]) -> None:
    stores = report.get("stores")
    if not isinstance(stores, dict):
        return
    table = Table("store", "found", "erased", "residue", show_edge=False, title="erasure report")
    for name, row in stores.items():
        table.add_row(name, str(row["found"]), str(row["erased"]),
                      "[red]" + str(row["residue"]) + "[/red]" if row["residue"] else "0")
    out.print(table)
    out.print(f"residue check: {report.get('residue_check')}; suppressed: {report.get('suppressed')}")


@app.command("run")
def run(
    request_id: int = typer.Argument(..., help="Request id"),
    output: Path = typer.Option(None, "--output", "-o",
                                help="Access: where to write the ZIP [default: its own name]"),
    yes: bool = typer.Option(False, "--yes", "-y", help="Erasure: do not ask for confirmation"),
) -> None:
    """Answer a request: write the access bundle, or erase the person (irreversible)."""
    container = bootstrap()
    try:
        with container.session_factory() as session:
            info = dsr.get_request(session, request_id)
            held = dsr.holdings(session, container.settings, info)
        if info.kind == "erasure" and not yes:
            covered = ", ".join(f"{len(ids)} {t}" for t, ids in (held.records if held else {}).items() if ids)
            typer.confirm(f"Erase {covered or 'the person'} for request {request_id}? "
                          "This cannot be undone", abort=True)
        result = dsr.run_request(container, SYSTEM, request_id)
        if info.kind == "access":
            bundle = dsr.download_bundle(container, SYSTEM, request_id)
            target = output or Path(bundle.filename)
            target.write_bytes(bundle.content)
            err.print(f"[green]wrote {target}[/green] ({len(bundle.content):,} bytes, "
                      f"{sum(bundle.counts.values())} rows, {bundle.seconds:.2f} s)")
    except RapportError as exc:
        _fail(exc)
    if result.info.kind == "erasure":
        _print_report(result.info.report)
        if result.info.status != "completed":
            err.print("[red]the erasure was rolled back: residue found[/red]")
            raise typer.Exit(code=1)
        err.print(f"[green]request {request_id} completed[/green]")


@app.command("reject")
def reject(
    request_id: int = typer.Argument(..., help="Request id"),
    reason: str = typer.Option(..., "--reason", help="Why (identity not verified, ...)"),
) -> None:
    """Close a request without acting on it."""
    container = bootstrap()
    try:
        with container.uow() as uow:
            dsr.reject_request(uow.session, container.settings, SYSTEM, request_id, reason)
            uow.commit()
    except RapportError as exc:
        _fail(exc)
    err.print(f"request {request_id} rejected")


@app.command("reapply")
def reapply() -> None:
    """Erase again everyone on the suppression ledger (run after restoring a backup)."""
    container = bootstrap()
    try:
        done = dsr.reapply(container)
    except RapportError as exc:
        _fail(exc)
    for item in done:
        erased = ", ".join(f"{n} {k}" for k, n in item.erased.items() if n)
        err.print(f"erased again {item.subject}: {erased}")
    err.print(f"[green]{len(done)} people erased again[/green]" if done
              else "no record matches the suppression ledger")
