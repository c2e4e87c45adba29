"""Event processors: run the hub pipeline over stored events, one partition batch at a time.

Both bus backends end here. A batch belongs to one partition and runs in one transaction:
take the partition's lock (PostgreSQL advisory lock; on SQLite the database write lock),
load the events still pending, call the pipeline, commit. Delivery is at least once and the
pipeline skips events already processed, so a batch run twice changes nothing visible.
``EmbeddedProcessors`` is the in-process backend: threads polling the ``events`` table, woken
by :class:`~rapport.events.hub_bus.InProcessEventBus`. See docs/bus.md.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, cast

import orjson
from sqlalchemy import Select, select, text, update
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, defer, sessionmaker

from rapport.config import Settings
from rapport.db.base import utcnow
from rapport.db.engine import writer_lock
from rapport.events.hub_bus import InProcessEventBus
from rapport.events.hub_models import DeadLetter, HubEvent

log = logging.getLogger(__name__)

Processor = Callable[[Session, Settings, Sequence[HubEvent]], object]
DEFAULT_PROCESSOR = "rapport.events.pipeline:process_events"
# pg_advisory_xact_lock(key, partition): the first key says "hub partition" (ASCII 'RPHB').
PARTITION_LOCK_KEY = 0x52504842
MAX_ATTEMPTS = 3  # a poison event is dead-lettered after this many failed runs on its own
TRANSIENT = (OperationalError, InterfaceError)  # the database, not the event: retry later
RACE_RETRIES = 2  # whole-batch reruns after a unique-key race, before going event by event


class LeaseLost(Exception):  # noqa: N818 - a condition, raised to abort a batch
    """The process no longer owns the partition: roll the batch back, do not acknowledge."""


def load_processor(spec: str | None = None) -> Processor:
    """The processing step, ``module:function`` (the hub pipeline unless told otherwise)."""
    module, _, attr = (spec or DEFAULT_PROCESSOR).partition(":")
    return cast(Processor, getattr(importlib.import_module(module), attr))


def parse_partitions(spec: str | None, partitions: int) -> list[int]:
    """``"0-7,12"`` -> [0..7, 12]; empty means every partition. Refuses numbers out of range."""
    if not spec:
        return list(range(partitions))
    chosen: set[int] = set()
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        low, _, high = part.partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            raise ValueError(f"partitions: {part!r} is not a number or a range like 0-7") from None
        if not 0 <= first <= last < partitions:
            raise ValueError(f"partitions: {part!r} is outside 0-{partitions - 1}")
        chosen.update(range(first, last + 1))
    return sorted(chosen)


def lock_partition(session: Session, partition: int | Sequence[int]) -> None:
    """Serialise batches of one partition (or several) across threads and processes (the
    fence); several partitions are locked in ascending order, so two callers cannot deadlock."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        for number in sorted({partition} if isinstance(partition, int) else set(partition)):
            session.execute(text("SELECT pg_advisory_xact_lock(:key, :partition)"),
                            {"key": PARTITION_LOCK_KEY, "partition": number})
    elif dialect == "sqlite":
        # A write statement takes SQLite's write lock before the pending rows are read, so two
        # processes on one file cannot both read an event as pending (matches no row).
        session.execute(update(HubEvent).where(HubEvent.id == -1).values(partition=HubEvent.partition))


# Columns no processing step reads (loaded on access if one does): fewer values to decode.
_UNREAD = (defer(HubEvent.message_id), defer(HubEvent.sent_at), defer(HubEvent.received_at),
           defer(HubEvent.skew_ms), defer(HubEvent.session_derived))


class BatchRunner:
    """Runs the processor over one partition's batch in one transaction; isolates poison."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        settings: Settings,
        processor: Processor,
        *,
        still_owner: Callable[[int], bool] | None = None,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self._factory = session_factory
        self._settings = settings
        self._processor = processor
        self._still_owner = still_owner
        self._max_attempts = max_attempts
        self._attempts: dict[int, int] = {}
        self.processed = 0
        self.dead_lettered = 0

    def run_pending(self, partition: int, limit: int) -> int:
        """Process up to ``limit`` pending events of ``partition`` in id order."""
        stmt = (
            select(HubEvent)
            .where(HubEvent.partition == partition, HubEvent.processed_at.is_(None))
            .order_by(HubEvent.id)
            .limit(limit)
        )
        return self._run(partition, stmt)

    def run_pending_across(self, partitions: Sequence[int], limit: int) -> int:
        """Process up to ``limit`` pending events of any of ``partitions`` in id order, in one
        transaction (SQLite: one writer anyway, so one bigger batch beats a batch per
        partition; each partition's events still go in id order)."""
        stmt = (
            select(HubEvent)
            .where(HubEvent.processed_at.is_(None), HubEvent.partition.in_(partitions))
            .order_by(HubEvent.id)
            .limit(limit)
        )
        return self._run(list(partitions), stmt)

    def run_stale(self, partition: int, received_before: datetime, limit: int) -> int:
        """Process pending events of ``partition`` received before a point in time."""
        stmt = (
            select(HubEvent)
            .where(HubEvent.partition == partition, HubEvent.processed_at.is_(None),
                   HubEvent.received_at < received_before)
            .order_by(HubEvent.id)
            .limit(limit)
        )
        return self._run(partition, stmt)

    def run_ids(self, partition: int, ids: Iterable[int]) -> int:
        """Process the events ``ids`` (delivered by the bus) that are still pending."""
        wanted = sorted(set(ids))
        if not wanted:
            return 0
        stmt = (
            select(HubEvent)
            .where(HubEvent.id.in_(wanted), HubEvent.processed_at.is_(None))
            .order_by(HubEvent.id)
        )
        return self._run(partition, stmt)

    def _run(self, partition: int | list[int], stmt: Select[tuple[HubEvent]]) -> int:
        for attempt in range(1, RACE_RETRIES + 2):
            try:
                return self._batch(partition, stmt)
            except (LeaseLost, *TRANSIENT):
                raise
            except IntegrityError as exc:
                # Most likely another partition's batch stored the same identity meanwhile
                # (a device seen under two keys): run again on what it committed.
                if attempt <= RACE_RETRIES:
                    log.info("hub batch of partition %s raced another batch (%s); running it "
                             "again", partition, type(exc.orig).__name__)
                    continue
                log.exception("hub batch of partition %s failed; retrying its events one by "
                              "one", partition)
            except Exception:
                log.exception("hub batch of partition %s failed; retrying its events one by "
                              "one", partition)
            break
        with self._factory() as session:
            ids = list(session.scalars(stmt.with_only_columns(HubEvent.id)))
        done = 0
        for event_id in ids:
            try:
                done += self._batch(partition, stmt.where(HubEvent.id == event_id))
                self._attempts.pop(event_id, None)
            except (LeaseLost, *TRANSIENT):
                raise
            except Exception as exc:
                attempts = self._attempts.get(event_id, 0) + 1
                self._attempts[event_id] = attempts
                log.warning("hub event %s failed (attempt %s/%s): %s", event_id, attempts,
                            self._max_attempts, exc)
                if attempts >= self._max_attempts:
                    self._dead_letter(event_id, exc)
                    self._attempts.pop(event_id, None)
                    done += 1
        return done

    def _batch(self, partition: int | list[int], stmt: Select[tuple[HubEvent]]) -> int:
        with self._factory() as session, writer_lock(session.get_bind()):
            lock_partition(session, partition)
            events = list(session.scalars(stmt.options(*_UNREAD)))
            if not events:
                session.rollback()
                return 0
            self._processor(session, self._settings, events)
            owned = [partition] if isinstance(partition, int) else partition
            if self._still_owner is not None and not all(map(self._still_owner, owned)):
                session.rollback()
                raise LeaseLost(f"partition {partition} lease lost before commit")
            session.commit()
        self.processed += len(events)
        return len(events)

    def _dead_letter(self, event_id: int, exc: Exception) -> None:
        """Keep a poison event out of the way: a dead letter with its row, and marked done."""
        with self._factory() as session:
            event = session.get(HubEvent, event_id)
            if event is None or event.processed_at is not None:
                return
            payload = {col.key: _plain(getattr(event, col.key)) for col in HubEvent.__mapper__.column_attrs}
            session.add(DeadLetter(
                source_id=event.source_id,
                code="processing_failed",
                reason=f"processing failed {self._max_attempts} times: {str(exc)[:400]}",
                payload=orjson.dumps(payload).decode(),
                message_id=event.message_id,
                attempts=self._max_attempts,
            ))
            event.processed_at = utcnow()
            session.commit()
        self.dead_lettered += 1
        log.error("hub event %s dead-lettered after %s failed attempts", event_id,
                  self._max_attempts)


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


class EmbeddedProcessors:
    """The in-process backend: threads that each own a share of the partitions.

    Each thread polls its partitions' pending events (index ``ix_events_pending``), processes a
    batch per partition in turn and commits per batch; it sleeps until the bus publishes to one
    of its partitions, or ``poll_interval`` passes (other processes may write the same log).
    Tests call :meth:`drain` instead of starting threads.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        settings: Settings,
        bus: InProcessEventBus | None = None,
        *,
        processor: Processor | None = None,
        partitions: Sequence[int] | None = None,
        concurrency: int = 1,
        batch: int = 500,
        poll_interval: float = 1.0,
    ) -> None:
        self._factory = session_factory
        self._settings = settings
        self._bus = bus
        self._processor = processor
        self.partitions = list(partitions if partitions is not None else range(settings.hub_partitions))
        self.concurrency = max(1, min(concurrency, len(self.partitions) or 1))
        self.batch = batch
        self.poll_interval = poll_interval
        self._runner: BatchRunner | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def runner(self) -> BatchRunner:
        if self._runner is None:
            self._runner = BatchRunner(self._factory, self._settings,
                                       self._processor or load_processor())
        return self._runner

    @property
    def processed(self) -> int:
        return self._runner.processed if self._runner else 0

    def drain_partitions(self, partitions: Sequence[int]) -> int:
        """One pass after another over ``partitions`` until none has pending events (on
        SQLite one batch spans them all; on PostgreSQL a batch per partition, so several
        processes share the work)."""
        across = self._factory.kw["bind"].dialect.name == "sqlite"
        total = 0
        while not self._stop.is_set():
            done = 0
            if across:
                done += self.runner.run_pending_across(partitions, self.batch)
            for partition in () if across else partitions:
                if self._stop.is_set():
                    break
                done += self.runner.run_pending(partition, self.batch)
            total += done
            if not done:
                break
        return total

    def drain(self) -> int:
        """Process every pending event now, in this thread; returns how many."""
        return self.drain_partitions(self.partitions)

    def start(self) -> None:
        self.runner  # resolve the processor now: fail at start, not in a thread  # noqa: B018
        self._stop.clear()
        for index in range(self.concurrency):
            owned = self.partitions[index::self.concurrency]
            thread = threading.Thread(target=self._loop, args=(owned,), daemon=True,
                                      name=f"hub-processor-{index}")
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the batch in hand, then return (each batch is its own transaction)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []

    def run_forever(self, stop: threading.Event) -> None:
        """Run the threads until ``stop`` is set (``rapport worker`` with the in-process bus)."""
        self.start()
        try:
            stop.wait()
        finally:
            self.stop()

    def _loop(self, owned: list[int]) -> None:
        wake = self._bus.listen(owned) if self._bus is not None else threading.Event()
        backoff = self.poll_interval
        try:
            while not self._stop.is_set():
                wake.clear()
                try:
                    done = self.drain_partitions(owned)
                    backoff = self.poll_interval
                except Exception:
                    log.exception("hub processor failed on partitions %s; retrying", owned)
                    done = 0
                    backoff = min(backoff * 2, 30.0)
                if not done:
                    self._wait(wake, backoff)
        finally:
            if self._bus is not None:
                self._bus.unlisten(wake)

    def _wait(self, wake: threading.Event, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stop.is_set() and not wake.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            wake.wait(min(remaining, 0.25))
