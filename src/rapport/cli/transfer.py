"""``rapport import`` and ``rapport export``: CSV in and out of any record object."""

from __future__ import annotations

import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import BinaryIO

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from sqlalchemy.exc import DBAPIError

from rapport.bootstrap import bootstrap
from rapport.cli import _fail, app, console
from rapport.crm.exporter import audit_export, export_csv, exportable_objects
from rapport.crm.importer import (
    DEFAULT_UPSERT_KEY,
    ENCODINGS,
    CsvImporter,
    ImportOptions,
    ImportResult,
    RowError,
)
from rapport.errors import RapportError
from rapport.trust.actor import SYSTEM
from rapport.trust.consent import PURPOSES, consented_subjects_clause

SHOWN_ERRORS = 10


def _mapping(items: list[str] | None) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for item in items or []:
        column, sep, target = item.rpartition("=")
        if not sep or not column:
            console.print(f"[red]error:[/red] --map '{item}' must look like 'CSV column=field'")
            raise typer.Exit(code=2)
        mapping[column] = target.strip()
    return mapping


@app.command("import")
def import_csv(
    object_name: str = typer.Argument(..., metavar="OBJECT", help="contacts, accounts, leads..."),
    file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, readable=True, metavar="FILE",
        help="CSV file, first row = headers",
    ),
    map_: list[str] = typer.Option(
        None, "--map", help="'CSV column=field' (or custom.name); 'CSV column=' skips it. Repeatable"
    ),
    upsert_on: str = typer.Option(
        DEFAULT_UPSERT_KEY, "--upsert-on",
        help="Update the record whose unique field (external_id, id, sku...) matches; '' = create only",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate every row, write nothing"),
    batch_size: int = typer.Option(1000, "--batch-size", min=1, max=100_000,
                                   help="Rows per transaction"),
    errors: Path = typer.Option(None, "--errors",
                                help="Where to write rejected rows [default: FILE.errors.csv]"),
    checkpoint: Path = typer.Option(
        None, "--checkpoint", help="Progress file for --resume [default: FILE.rapport-import.json]"
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted import"),
    restart: bool = typer.Option(False, "--restart",
                                 help="Ignore an interrupted import's checkpoint, start again"),
    encoding: str = typer.Option("utf-8", "--encoding", help=f"One of {', '.join(ENCODINGS)}"),
    delimiter: str = typer.Option(",", "--delimiter", help="Field separator, e.g. ';' or tab"),
    clear_empty: bool = typer.Option(False, "--clear-empty",
                                     help="An empty cell clears the field when updating"),
    ignore_unknown_columns: bool = typer.Option(
        False, "--ignore-unknown-columns", help="Skip columns that match no field"
    ),
) -> None:
    """Import records from a CSV file; bad rows are reported, good rows are written.

    Exit code 0: every row imported; 1: some rows were rejected (see the errors file);
    2: nothing could be imported (unreadable file, unmappable header...).
    """
    options = ImportOptions(
        mapping=_mapping(map_), upsert_on=upsert_on or None, dry_run=dry_run,
        batch_size=batch_size, resume=resume, restart=restart, encoding=encoding,
        delimiter="\t" if delimiter in ("\\t", "tab") else delimiter, clear_empty=clear_empty,
        ignore_unknown_columns=ignore_unknown_columns, errors_path=errors,
        checkpoint_path=checkpoint,
    )
    container = bootstrap()
    shown: list[RowError] = []
    started = time.perf_counter()
    progress = Progress(
        SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
        DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
        console=console, transient=True,
    )
    try:
        importer = CsvImporter(container.settings, container.uow, container.records,
                               object_name, options)
        with progress:
            task = progress.add_task(f"{object_name} ← {file.name}", total=file.stat().st_size)

            def on_progress(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            def on_error(error: RowError) -> None:
                if len(shown) < SHOWN_ERRORS:
                    shown.append(error)

            result = importer.run(file, on_progress=on_progress, on_error=on_error)
    except RapportError as exc:
        _fail(exc)
    except OSError as exc:  # e.g. no write access beside the file for the checkpoint
        console.print(f"[red]error:[/red] {exc} (see --errors and --checkpoint)")
        raise typer.Exit(code=2) from None
    except DBAPIError as exc:  # database down, disk full, locked...
        console.print(f"[red]database error:[/red] {str(exc.orig or exc).strip()}")
        console.print("Committed batches are kept; once it is fixed, run the same command "
                      "with --resume to continue.")
        raise typer.Exit(code=2) from None
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/yellow]: committed batches are kept; "
                      "run the same command with --resume to continue")
        raise typer.Exit(code=130) from None
    finally:
        container.engine.dispose()
    _summary(object_name, result, shown, time.perf_counter() - started)
    if result.counts.failed:
        raise typer.Exit(code=1)


def _summary(object_name: str, result: ImportResult, shown: list[RowError], seconds: float) -> None:
    if result.already_complete:
        console.print("This file was already imported completely; nothing to do "
                      "(use --restart to import it again).")
        return
    for column in result.ignored_columns:
        console.print(f"[dim]ignored column: {column}[/dim]")
    for error in shown:
        where = f" {error.column}" if error.column else ""
        console.print(f"[red]row {error.row}[/red]{where}: {error.message}")
    counts = result.counts
    if counts.failed > len(shown):
        console.print(f"… {counts.failed - len(shown)} more rejected rows")
    title = f"{object_name}: dry run, nothing written" if result.dry_run else object_name
    table = Table(title=title)
    for name in ("created", "updated", "unchanged", "failed", "rows read", "rows/s"):
        table.add_column(name, justify="right")
    rate = result.rows_read / seconds if seconds > 0 else 0.0
    table.add_row(
        f"{counts.created:,}", f"{counts.updated:,}", f"{counts.unchanged:,}",
        f"[red]{counts.failed:,}[/red]" if counts.failed else "0",
        f"{result.rows_read:,}", f"{rate:,.0f}",
    )
    console.print(table)
    if result.resumed_from_row is not None:
        console.print(f"Resumed after row {result.resumed_from_row}; counts include the "
                      "earlier part.")
    if result.errors_path is not None:
        console.print(f"Rejected rows (row, column, reason, raw bytes): {result.errors_path}")


@app.command("export")
def export(
    object_name: str = typer.Argument(..., metavar="OBJECT",
                                      help=f"One of: {', '.join(exportable_objects())}"),
    filter_: list[str] = typer.Option(
        None, "--filter", help="field:operator:value as in the API (e.g. tier:eq:A). Repeatable"
    ),
    sort: str = typer.Option(None, "--sort", help="Comma-separated fields, '-' for descending"),
    columns: str = typer.Option(None, "--columns",
                                help="Comma-separated fields (custom.name too) [default: all]"),
    output: Path = typer.Option(None, "--output", "-o", help="Write here instead of stdout"),
    bom: bool = typer.Option(False, "--bom", help="Start with a UTF-8 BOM (for Excel)"),
    purpose: str = typer.Option(
        None, "--purpose", help="Contacts/leads: keep only people with valid consent for this "
        f"purpose ({', '.join(PURPOSES)})"),
) -> None:
    """Export records as CSV to stdout (or --output); progress goes to stderr.

    Cells that start like a spreadsheet formula (= + - @ tab CR) get a leading ' so Excel
    shows them as text; rapport import removes it again.
    """
    container = bootstrap()
    target = output.with_name(output.name + ".partial") if output else None
    started = time.perf_counter()
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                        TextColumn("{task.completed:,} rows"), TimeElapsedColumn(),
                        console=console, transient=True)
    try:
        with ExitStack() as stack:
            out: BinaryIO = stack.enter_context(target.open("wb")) if target else sys.stdout.buffer
            session = stack.enter_context(container.session_factory())
            stack.enter_context(progress)
            task = progress.add_task(f"exporting {object_name}", total=None)
            count = export_csv(
                session, object_name, out,
                filters=filter_ or [],
                sort=[s.strip() for s in sort.split(",") if s.strip()] if sort else [],
                columns=[c for c in columns.split(",") if c.strip()] if columns else None,
                bom=bom,
                on_progress=lambda n: progress.update(task, completed=n),
                actor=SYSTEM,  # the operator at the server's shell
                settings=container.settings,
                where=[consented_subjects_clause(object_name, purpose)] if purpose else [],
            )
        with container.uow() as uow:  # before the file is delivered: no unaudited export
            audit_export(uow.session, container.settings.secret_key, object_name, count,
                         actor=SYSTEM, filters=filter_ or [], purpose=purpose, via="cli")
            uow.commit()
    except RapportError as exc:
        if target:
            target.unlink(missing_ok=True)
        _fail(exc)
    except DBAPIError as exc:
        if target:
            target.unlink(missing_ok=True)
        console.print(f"[red]database error:[/red] {str(exc.orig or exc).strip()}")
        raise typer.Exit(code=2) from None
    except BrokenPipeError:  # e.g. piped into head
        raise typer.Exit(code=0) from None
    finally:
        container.engine.dispose()
    if output and target:
        target.replace(output)
    seconds = time.perf_counter() - started
    rate = f" ({count / seconds:,.0f} rows/s)" if count >= 1000 and seconds > 0 else ""
    console.print(f"exported {count:,} {object_name} in {seconds:.1f}s{rate}"
                  + (f" to {output}" if output else ""))
