"""Audit log: ``rapport audit verify``, ``rapport audit export`` and ``rapport audit list``."""

from __future__ import annotations

import getpass
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import BinaryIO

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.exc import DBAPIError

from rapport.bootstrap import Container, bootstrap
from rapport.errors import RapportError
from rapport.trust import audit

app = typer.Typer(help="Audit log: verify the hash chain, export it for a SIEM, list entries.",
                  no_args_is_help=True)
console = Console(stderr=True)  # progress and messages; data goes to stdout
out = Console(highlight=False)

SINCE_HELP = "Entries at or after this time: ISO 8601 with an offset (…Z) or a date (UTC)"
UNTIL_HELP = "Entries before this time (exclusive), same forms as --since"


def _fail(message: str, code: int = 2) -> typer.Exit:
    console.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(code=code)


def _filters(action: str | None, actor: str | None, target: str | None, since: str | None,
             until: str | None) -> audit.AuditFilter:
    try:
        return audit.AuditFilter(
            action=audit.check_action(action), actor=actor or None, target=target or None,
            since=audit.parse_time(since, "--since") if since else None,
            until=audit.parse_time(until, "--until") if until else None,
        )
    except RapportError as exc:
        raise _fail(exc.detail) from None


def _operator() -> str:
    try:
        return getpass.getuser()[:60]
    except (KeyError, OSError):  # no login name in a bare container
        return "unknown"


@app.command("verify")
def verify_command() -> None:
    """Walk the whole hash chain and report every problem.

    Exit code 0: the log is intact; 1: it was tampered with (each problem is printed);
    2: the check could not run (database unreachable...).
    """
    container = bootstrap()
    shown = 0
    try:
        with container.session_factory() as session:
            total = audit.count_entries(session)
            progress = Progress(TextColumn("verifying audit log"), BarColumn(),
                                MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                                transient=True)
            with progress:
                task = progress.add_task("verify", total=total or None)

                def on_entry(done: int) -> None:
                    if done % 500 == 0:
                        progress.update(task, completed=done)

                def on_problem(problem: audit.Problem) -> None:
                    nonlocal shown
                    shown += 1
                    progress.console.print(f"[red]✗[/red] {escape(problem.message)}")

                report = audit.verify(session, container.settings.secret_key,
                                      on_entry=on_entry, on_problem=on_problem)
                progress.update(task, completed=report.checked)
    except DBAPIError as exc:
        raise _fail(f"database error: {str(exc.orig or exc).strip()}") from None
    finally:
        container.engine.dispose()
    if report.ok:
        out.print(f"[green]intact[/green]: checked {report.checked:,} entries"
                  + (f" (last id {report.last_id})" if report.last_id else ""))
        return
    out.print(f"[red]TAMPERED[/red]: checked {report.checked:,} entries, "
              f"{report.problem_count:,} problem(s)")
    raise typer.Exit(code=1)


@app.command("export")
def export_command(
    since: str = typer.Option(None, "--since", help=SINCE_HELP),
    until: str = typer.Option(None, "--until", help=UNTIL_HELP),
    action: str = typer.Option(None, "--action", help="Only this action (e.g. export, reveal)"),
    actor: str = typer.Option(None, "--actor", help="Only this actor (e.g. user:12, system)"),
    target: str = typer.Option(None, "--target", help="Only this target (e.g. roles:3)"),
    output: Path = typer.Option(None, "--output", "-o",
                                help="Write here (JSON lines) instead of stdout"),
) -> None:
    """Export entries as JSON lines for a SIEM, oldest first, hashes included.

    One entry per line: id, at, action, actor, target, network, details, prev_hash, hash.
    Memory stays flat whatever the log size. The export itself is audited first.
    """
    filters = _filters(action, actor, target, since, until)
    container = bootstrap()
    partial = output.with_name(output.name + ".partial") if output else None
    try:
        with container.uow() as uow:
            pinned, count = audit.begin_export(
                uow.session, container.settings.secret_key, filters, actor="system",
                via=f"cli:{_operator()}")
            uow.commit()
        with ExitStack() as stack:
            sink: BinaryIO = stack.enter_context(partial.open("wb")) if partial else sys.stdout.buffer
            session = stack.enter_context(container.session_factory())
            for chunk in audit.export_lines(session, pinned):
                sink.write(chunk)
            sink.flush()
    except DBAPIError as exc:
        if partial:
            partial.unlink(missing_ok=True)
        raise _fail(f"database error: {str(exc.orig or exc).strip()}") from None
    except OSError as exc:
        if partial:
            partial.unlink(missing_ok=True)
        if isinstance(exc, BrokenPipeError):  # piped into head
            raise typer.Exit(code=0) from None
        raise _fail(str(exc)) from None
    finally:
        container.engine.dispose()
    if output and partial:
        partial.replace(output)
    console.print(f"exported {count:,} audit entries" + (f" to {output}" if output else ""))


def _compact(details: dict[str, object], width: int = 70) -> str:
    text = orjson.dumps(details).decode() if details else ""
    return text if len(text) <= width else text[: width - 1] + "…"


@app.command("list")
def list_command(
    since: str = typer.Option(None, "--since", help=SINCE_HELP),
    until: str = typer.Option(None, "--until", help=UNTIL_HELP),
    action: str = typer.Option(None, "--action", help="Only this action"),
    actor: str = typer.Option(None, "--actor", help="Only this actor (e.g. user:12)"),
    target: str = typer.Option(None, "--target", help="Only this target"),
    limit: int = typer.Option(30, "--limit", min=1, max=1000, help="Newest entries to show"),
) -> None:
    """Show the newest entries (UTC) as a table."""
    filters = _filters(action, actor, target, since, until)
    container: Container = bootstrap()
    try:
        with container.session_factory() as session:
            entries, more = audit.list_entries(session, filters, limit=limit)
    except DBAPIError as exc:
        raise _fail(f"database error: {str(exc.orig or exc).strip()}") from None
    finally:
        container.engine.dispose()
    table = Table(title="audit log (newest first, UTC)")
    for name in ("id", "at", "action", "actor", "target", "network", "details"):
        table.add_column(name, justify="right" if name == "id" else "left",
                         overflow="fold" if name == "details" else "ellipsis")
    for e in entries:
        table.add_row(str(e.id), e.at.strftime("%Y-%m-%d %H:%M:%S"), e.action, e.actor,
                      e.target or "", e.network or "", escape(_compact(e.details)))
    out.print(table)
    if not entries:
        console.print("no entries match")
    elif more is not None:
        console.print(f"more entries are older than id {entries[-1].id} (raise --limit, or "
                      "use rapport audit export)")
