"""``rapport demo load``: deterministic demo data for trying Rapport and for benchmarks."""

from __future__ import annotations

import time

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from rapport.cli import app, console

demo_app = typer.Typer(help="Demo data.", no_args_is_help=True)
app.add_typer(demo_app, name="demo")


class _RichObserver:
    """One progress bar per table, advanced as chunks are committed."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}
        self.status = progress.add_task("[dim]planning", total=None, visible=True)

    def planned(self, totals: dict[str, int]) -> None:
        self.progress.update(self.status, description="[dim]loading")
        for table, total in totals.items():
            if total >= 1000:
                self.tasks[table] = self.progress.add_task(table, total=total)

    def loaded(self, table: str, rows: int) -> None:
        task = self.tasks.get(table)
        if task is not None:
            self.progress.advance(task, rows)

    def note(self, message: str) -> None:
        self.progress.update(self.status, description=f"[dim]{message}")


@demo_app.command("load")
def demo_load(
    scale: int = typer.Option(1, "--scale", min=1, help="1 loads in seconds (200 accounts, "
                              "1,000 contacts); N multiplies every volume"),
    if_empty: bool = typer.Option(False, "--if-empty", help="Do nothing if accounts exist"),
    seed: int = typer.Option(2026, "--seed", help="Same seed, same data"),
    workers: int = typer.Option(None, "--workers", min=0,
                                help="Processes rendering rows (default: by size and CPUs)"),
) -> None:
    """Load the demo data set: two business lines, three regions, Chinese and English."""
    from rapport.bootstrap import bootstrap
    from rapport.demo import load_demo
    from rapport.demo.hub import load_hub_demo
    from rapport.demo.names import DEMO_EMAIL, DEMO_PASSWORD, DEMO_ZH_EMAIL
    from rapport.errors import RapportError

    container = bootstrap()
    started = time.perf_counter()
    progress = Progress(
        TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=console, transient=True,
    )
    hub = None
    try:
        with progress:
            observer = _RichObserver(progress)
            result = load_demo(
                container.engine, scale=scale, seed=seed, if_empty=if_empty, workers=workers,
                observer=observer,
            )
            if not result.skipped:
                observer.note("data hub: events through the collector, then stitching")
                hub = load_hub_demo(container, seed=seed, scale=scale)
    except RapportError as exc:
        console.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(code=2) from None
    finally:
        container.engine.dispose()
    if result.skipped:
        console.print("[dim]Accounts already exist; demo data not loaded again.[/dim]")
    else:
        table = Table(title=f"Demo data, scale {scale}", show_edge=False)
        table.add_column("table")
        table.add_column("rows", justify="right")
        for name, count in result.counts.items():
            table.add_row(name, f"{count:,}")
        table.add_row("[bold]total", f"[bold]{result.rows:,}")
        console.print(table)
        console.print(
            f"Loaded {result.rows:,} rows in {time.perf_counter() - started:.1f} s "
            f"({result.rows_per_second:,.0f} rows/s, {result.workers} worker processes)."
        )
    if hub is not None:
        console.print(
            f"Data hub: {hub.sources} sources, {hub.sent:,} messages sent "
            f"({hub.accepted:,} stored, {hub.duplicates:,} duplicates, {hub.dead_letters:,} "
            f"dead letters), {hub.processed:,} processed into the profiles of "
            f"{hub.customers:,} demo contacts and anonymous visitors.")
    console.print(f"Sign in as [bold]{DEMO_EMAIL}[/bold] / {DEMO_PASSWORD} (admin, English) "
                  f"or [bold]{DEMO_ZH_EMAIL}[/bold] / {DEMO_PASSWORD} (中文).")
