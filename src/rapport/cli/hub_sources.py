"""Source adapters on the command line: ``rapport events import-orders`` (point of sale) and
``rapport mqtt-bridge`` (IoT). Register with :func:`register`.

Both act as the system: whoever can run them can read the database anyway. Messages go to
stderr; the import's JSON report (``--json``) to stdout.
"""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rapport.bootstrap import bootstrap
from rapport.errors import RapportError
from rapport.events import sources
from rapport.events.mqtt_bridge import BridgeConfigError, MqttBridge
from rapport.events.pos_import import FORMATS, PosFileError, group_orders, import_file, read_rows

events_app = typer.Typer(help="Data-hub events.", no_args_is_help=True)
err = Console(stderr=True)
MAX_SHOWN_ERRORS = 50


def _fail(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code=2)


@events_app.command("import-orders")
def import_orders(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True,
                                help="A CSV or JSON (array, {\"orders\": [...]}, JSON Lines) file"),
    source: str = typer.Option(..., "--source", help="A point-of-sale source (channel pos)"),
    fmt: str = typer.Option(None, "--format", help="csv or json (default: from the extension)"),
    currency: str = typer.Option(None, "--currency", help="Currency of orders without one, "
                                 "e.g. CNY"),
    timezone: str = typer.Option(None, "--timezone", help="Time zone of times without an "
                                 "offset, e.g. Asia/Shanghai"),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON on stdout"),
) -> None:
    """Import point-of-sale orders as "Order Completed" events (re-importing is harmless).

    Exit code 0: every order stored or already there; 1: some rows became dead letters
    (listed); 2: the file or the source is unusable."""
    if fmt is not None and fmt not in FORMATS:
        _fail(f"--format must be one of {', '.join(FORMATS)}")
    container = bootstrap()
    try:
        with container.session_factory() as session:
            info = sources.find_source(session, source)
    except RapportError as exc:
        _fail(exc.detail)
    if info.channel not in ("pos", "import"):
        _fail(f"source {info.name!r} has channel {info.channel}; import orders into a pos source "
              "(rapport source create NAME --channel pos)")
    try:
        chosen = fmt or file.suffix.lstrip(".").lower().replace("jsonl", "json").replace("ndjson", "json")
        total = sum(1 for _ in group_orders(read_rows(file.read_bytes(), chosen))) \
            if chosen in FORMATS else None
        with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), console=err,
                      transient=True) as bar:
            task = bar.add_task(f"Importing {file.name}", total=total)
            report = import_file(container.session_factory, container.settings, info, info.name,
                                 file, fmt, currency=currency, timezone=timezone,
                                 publish=container.event_bus.publish,
                                 progress=lambda n: bar.advance(task, n))
    except PosFileError as exc:
        _fail(str(exc))
    finally:
        container.engine.dispose()
    if as_json:
        print(json.dumps(report.as_json(), ensure_ascii=False))
    err.print(f"{report.orders} orders in {report.rows} rows: [green]{report.accepted} stored"
              f"[/green], {report.duplicates} already imported, "
              f"[{'red' if report.dead_lettered else 'green'}]{report.dead_lettered} "
              f"dead-lettered[/]")
    if report.errors:
        table = Table(show_edge=False, title="Rows kept as dead letters (fix, then replay)")
        for column in ("row", "order", "dead letter", "reason"):
            table.add_column(column)
        for e in report.errors[:MAX_SHOWN_ERRORS]:
            table.add_row(f"row {e.row}", e.order_id or "—", str(e.dead_letter_id or "—"),
                          e.reason)
        err.print(table)
        if len(report.errors) > MAX_SHOWN_ERRORS:
            err.print(f"... and {len(report.errors) - MAX_SHOWN_ERRORS} more "
                      "(rapport events replay lists them all)")
        raise typer.Exit(code=1)


def mqtt_bridge(
    source: str = typer.Option(..., "--source", help="An iot source whose mapping names the "
                               "topics"),
    url: str = typer.Option(None, "--url", help="Broker URL (default RAPPORT_MQTT_URL)"),
) -> None:
    """Bridge MQTT topics into the event log until interrupted (Ctrl-C, SIGTERM)."""
    container = bootstrap()
    try:
        with container.session_factory() as session:
            info = sources.find_source(session, source)
        bridge = MqttBridge(container.session_factory, container.settings, info,
                            mqtt_url=url, publish=container.event_bus.publish)
    except RapportError as exc:
        _fail(exc.detail)
    except BridgeConfigError as exc:
        _fail(str(exc))
    stop = threading.Event()

    def _signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _signal)
    signal.signal(signal.SIGINT, _signal)
    err.print(f"Bridging {', '.join(bridge.config.topics)} from {url or container.settings.mqtt_url} "
              f"into source {info.name!r} (Ctrl-C stops)")
    bridge.run_forever(stop)
    err.print(f"Stopped: {bridge.accepted} events stored, {bridge.dead_lettered} dead-lettered")
    container.engine.dispose()


def register(app: typer.Typer, events: typer.Typer | None = None) -> None:
    """Add ``mqtt-bridge`` to ``app`` and ``import-orders`` to the ``events`` group (ours,
    mounted as ``rapport events``, unless another module already made that group)."""
    app.command("mqtt-bridge")(mqtt_bridge)
    if events is None:
        app.add_typer(events_app, name="events")
    else:
        events.command("import-orders")(import_orders)
