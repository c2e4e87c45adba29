"""``rapport worker``: run the hub's event processors for the configured bus (docs/bus.md)."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

import typer
from rich.console import Console

from rapport.config import get_settings

console = Console(stderr=True)
log = logging.getLogger("rapport.worker")


def worker(
    partitions: str = typer.Option(
        "", "--partitions", help="Partitions this process may take, e.g. 0-7 or 0-3,8 "
        "(default: all; with NATS they are shared with the other workers)"),
    concurrency: int = typer.Option(2, "--concurrency", min=1, max=64,
                                    help="Batches processed at the same time"),
    batch: int = typer.Option(500, "--batch", min=1, max=5000,
                              help="Events per batch (NATS caps it at 500)"),
    poll: float = typer.Option(0.5, "--poll", min=0.05,
                               help="In-process bus: seconds between looks at the event log"),
    processor: str = typer.Option(None, "--processor", hidden=True,
                                  help="module:function replacing the hub pipeline (tests)"),
    lease_ttl: float = typer.Option(None, "--lease-ttl", hidden=True,
                                    help="NATS: seconds a partition lease lives"),
) -> None:
    """Process hub events: stitch identities and update profiles, until SIGTERM/SIGINT."""
    import rapport.db.all_models  # noqa: F401  - every table mapped (events -> profiles)
    from rapport.bootstrap import bootstrap
    from rapport.events.processors import EmbeddedProcessors, load_processor, parse_partitions

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    try:
        chosen = parse_partitions(partitions, settings.hub_partitions)
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=2) from None
    process = load_processor(processor)
    container = bootstrap(settings)
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("%s received: finishing the batches in hand", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)

    if settings.bus_url:
        from rapport.events.nats_bus import LEASE_TTL, NatsWorker

        nats_worker = NatsWorker(settings.bus_url, settings, container.session_factory, process,
                                 partitions=chosen, concurrency=concurrency, batch=batch,
                                 lease_ttl=lease_ttl or LEASE_TTL)
        log.info("worker %s on %s (stream %s), partitions %s", nats_worker.owner,
                 settings.bus_url, nats_worker.names.stream, partitions or "all")
        progress = threading.Thread(target=_report, daemon=True, args=(
            stop, lambda: nats_worker.processed, nats_worker.owned))
        progress.start()
        nats_worker.run(stop)
    else:
        embedded = EmbeddedProcessors(container.session_factory, settings, None,
                                      processor=process, partitions=chosen,
                                      concurrency=concurrency, batch=batch, poll_interval=poll)
        log.info("worker on the in-process log (database), partitions %s, %s threads",
                 partitions or "all", embedded.concurrency)
        progress = threading.Thread(target=_report, daemon=True, args=(
            stop, lambda: embedded.processed, lambda: chosen))
        progress.start()
        embedded.run_forever(stop)
    close_bus = getattr(container.event_bus, "close", None)
    if close_bus is not None:
        close_bus()
    container.engine.dispose()
    log.info("worker stopped")


def _report(stop: threading.Event, processed: Callable[[], int], owned: Callable[[], list[int]],
            every: float = 10.0) -> None:
    last, last_at = 0, time.monotonic()
    while not stop.wait(every):
        now, count = time.monotonic(), processed()
        if count != last:
            log.info("processed %s events (%.0f/s), partitions %s", count,
                     (count - last) / (now - last_at), owned())
        last, last_at = count, now


def register(app: typer.Typer) -> None:
    """Add ``rapport worker`` to the command."""
    app.command("worker")(worker)


if __name__ == "__main__":  # python -m rapport.cli.worker (before the command is registered)
    typer.run(worker)
