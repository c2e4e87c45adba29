"""Data-hub sources and dead letters: ``rapport source …`` and ``rapport events …``.

``rapport source create NAME --channel web`` prints the write key on the last line of
stdout (scripts take it with ``| tail -1``); messages go to stderr.
"""

from __future__ import annotations

import getpass

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rapport.bootstrap import Container, bootstrap
from rapport.errors import RapportError
from rapport.events import dead_letters, sources
from rapport.trust import audit

source_app = typer.Typer(help="Event sources and their write keys.", no_args_is_help=True)
events_app = typer.Typer(help="Hub events: dead letters and their replay.", no_args_is_help=True)
console = Console(stderr=True)
out = Console(highlight=False, soft_wrap=True)


def _fail(message: str, code: int = 2) -> typer.Exit:
    console.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(code=code)


def _operator() -> str:
    try:
        return "cli:" + getpass.getuser()[:50]
    except (KeyError, OSError):
        return "cli:unknown"


def _wide() -> Console:
    """Stdout, wide enough that piped tables keep codes and reasons on one line."""
    return Console(highlight=False, width=None if out.is_terminal else 200)


def _container() -> Container:
    return bootstrap()


@source_app.command("create")
def source_create(
    name: str = typer.Argument(..., help="A unique name, e.g. Website"),
    channel: str = typer.Option(..., "--channel", help="web, app, pos, iot, api or import"),
) -> None:
    """Create a source; its write key is printed once (last line of stdout)."""
    container = _container()
    try:
        with container.uow() as uow:
            issued = sources.create_source(uow.session, name, channel)
            audit.append(uow.session, container.settings.secret_key, "config_changed",
                         actor=_operator(), target=f"sources:{issued.source.id}",
                         details={"source": "created", "channel": issued.source.channel})
            uow.commit()
    except RapportError as exc:
        raise _fail(exc.detail) from None
    console.print(f"[green]source {issued.source.id} {escape(issued.source.name)} "
                  f"({issued.source.channel}) created[/green]; keep the write key, it is not "
                  "shown again:")
    out.print(issued.write_key)


@source_app.command("list")
def source_list() -> None:
    """Sources with their channel, state, key prefix and last event."""
    container = _container()
    with container.session_factory() as session:
        rows = sources.list_sources(session)
    table = Table("id", "name", "channel", "enabled", "key prefix", "last event")
    for s in rows:
        table.add_row(str(s.id), escape(s.name), s.channel, "yes" if s.enabled else "no",
                      s.write_key_prefix, s.last_event_at.isoformat(timespec="seconds")
                      if s.last_event_at else "-")
    _wide().print(table)


def _filters(container: Container, code: str | None, source: str | None,
             status: str | None = None) -> dead_letters.Filters:
    try:
        with container.session_factory() as session:
            return dead_letters.Filters(source_id=dead_letters.resolve_source(session, source),
                                        code=code or None,
                                        status=dead_letters.check_status(status))
    except RapportError as exc:
        raise _fail(exc.detail) from None


@events_app.command("dead-letters")
def list_dead_letters(
    code: str = typer.Option(None, "--code", help="Only this reason code, e.g. missing_identity"),
    source: str = typer.Option(None, "--source", help="Only this source (name or id)"),
    status: str = typer.Option("open", "--status", help="open, replayed or discarded"),
    limit: int = typer.Option(50, "--limit", min=1, max=1000, help="Newest first, at most"),
) -> None:
    """List dead letters (no payloads: read one with the API or the UI)."""
    container = _container()
    filters = _filters(container, code, source, status)
    with container.session_factory() as session:
        items, _next = dead_letters.list_dead_letters(session, filters, limit=limit)
    table = Table("id", "received", "source", "code", "reason", "status", "attempts")
    for d in items:
        table.add_row(str(d.id), d.received_at.isoformat(timespec="seconds"),
                      escape(d.source_name or "-"), d.code, escape(d.reason[:80]), d.status,
                      str(d.attempts))
    _wide().print(table)


@events_app.command("replay")
def replay(
    dead_letter_id: int = typer.Option(None, "--id", min=1, help="Replay this dead letter only"),
    code: str = typer.Option(None, "--code", help="Only open dead letters with this code"),
    source: str = typer.Option(None, "--source", help="Only this source (name or id)"),
) -> None:
    """Run open dead letters through the collector again (oldest first).

    Exit code 0: every one was stored; 1: some stayed open (their new reason is listed).
    """
    container = _container()
    if dead_letter_id is not None:
        ids = [dead_letter_id]
    else:
        filters = _filters(container, code, source)
        with container.session_factory() as session:
            ids = dead_letters.open_ids(session, filters)
    still_open: list[dead_letters.Replayed] = []
    replayed = 0
    with Progress(TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("replay", total=len(ids))
        for start in range(0, len(ids), 100):
            try:
                with container.uow() as uow:
                    chunk = [dead_letters.replay(uow.session, container.settings, i)
                             for i in ids[start:start + 100]]
                    uow.commit()
            except RapportError as exc:
                raise _fail(exc.detail) from None
            container.event_bus.publish([o.stored for o in chunk if o.stored is not None])
            replayed += sum(1 for o in chunk if o.status == "replayed")
            still_open += [o for o in chunk if o.status == "open"]
            progress.advance(task, len(chunk))
    close = getattr(container.event_bus, "close", None)
    if close is not None:
        close()
    console.print(f"{replayed} replayed, {len(still_open)} still open, "
                  f"{len(ids) - replayed - len(still_open)} dropped")
    for o in still_open[:50]:
        console.print(f"  {o.dead_letter_id}: {o.code}: {escape(o.reason or '')}")
    if still_open:
        raise typer.Exit(code=1)
