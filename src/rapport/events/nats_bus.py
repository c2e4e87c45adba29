"""NATS JetStream backend of the hub bus (``RAPPORT_BUS_URL=nats://...``; docs/bus.md).

One stream (``<NAME>_EVENTS``, work-queue retention) with one subject per partition
(``<name>.events.<partition>``); the payload is the event id: the database row is the record
and processors load rows by id. One durable pull consumer per partition. Processor processes
share the partitions through leases in a JetStream KV bucket (``<name>_leases``, TTL a few
seconds): a partition is consumed by the process holding its lease, a dead process's leases
expire and the others claim them. Messages are acknowledged after the database commit.

The publisher (:class:`NatsEventBus`) runs inside the synchronous collector: ``publish`` hands
ids to a background asyncio thread that publishes asynchronously and collects acks in batches.
Whatever could not be published (NATS down, queue full, ack timeout) is still in the
database; a catch-up task republishes it, and processors also sweep their partitions' stale
pending rows, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import random
import socket
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.kv import KeyValue
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from rapport.config import Settings
from rapport.db.base import utcnow
from rapport.events.hub_bus import StoredEventRef
from rapport.events.hub_models import HubEvent
from rapport.events.processors import BatchRunner, LeaseLost, Processor

log = logging.getLogger(__name__)

BATCH = 500  # messages per fetch, and the consumers' max_ack_pending (one batch in flight)
ACK_WAIT = 10.0  # seconds before an unacknowledged message (its processor died) is redelivered
LEASE_TTL = 5.0  # seconds a partition lease lives unless its owner refreshes it
DUPLICATE_WINDOW = 120.0  # JetStream drops a republished id seen within this window


@dataclass(frozen=True)
class NatsNames:
    """Stream, subjects, consumers and lease bucket derived from ``settings.bus_name``."""

    name: str = "rapport"

    @property
    def stream(self) -> str:
        return f"{self.name.upper()}_EVENTS"

    @property
    def subjects(self) -> str:
        return f"{self.name}.events.*"

    def subject(self, partition: int) -> str:
        return f"{self.name}.events.{partition}"

    def consumer(self, partition: int) -> str:
        return f"{self.name}-p{partition}"

    @property
    def bucket(self) -> str:
        return f"{self.name}_leases"


def names_for(settings: Settings) -> NatsNames:
    return NatsNames(settings.bus_name)


async def _quiet(_exc: Exception) -> None:
    """nats-py reports every reconnect attempt; the bus logs state changes itself."""


async def connect(url: str, label: str) -> NATS:
    """A connection that reconnects forever once established."""
    return await nats.connect(
        url, name=label, connect_timeout=2, allow_reconnect=True, max_reconnect_attempts=-1,
        reconnect_time_wait=1, error_cb=_quiet,
    )


async def ensure_stream(js: JetStreamContext, names: NatsNames) -> None:
    try:
        await js.stream_info(names.stream)
    except nats.js.errors.NotFoundError:
        await js.add_stream(StreamConfig(
            name=names.stream, subjects=[names.subjects], retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE, duplicate_window=DUPLICATE_WINDOW,
        ))


async def ensure_leases(js: JetStreamContext, names: NatsNames, ttl: float) -> KeyValue:
    try:
        return await js.key_value(names.bucket)
    except nats.js.errors.BucketNotFoundError:
        return await js.create_key_value(bucket=names.bucket, ttl=ttl, history=1)


async def subscribe_partition(js: JetStreamContext, names: NatsNames, partition: int,
                              batch: int = BATCH) -> JetStreamContext.PullSubscription:
    """The partition's durable pull consumer (created on first use). ``max_ack_pending`` is
    one batch: while a dead worker's batch awaits redelivery nothing newer is delivered, so the
    next owner processes the partition in order."""
    config = ConsumerConfig(
        durable_name=names.consumer(partition), filter_subject=names.subject(partition),
        ack_policy=AckPolicy.EXPLICIT, ack_wait=ACK_WAIT, max_ack_pending=batch,
        deliver_policy=DeliverPolicy.ALL, max_deliver=-1,
    )
    return await js.pull_subscribe(names.subject(partition), durable=names.consumer(partition),
                                   stream=names.stream, config=config)


async def delete_all(url: str, names: NatsNames) -> None:
    """Remove the stream and the lease bucket (tests; resetting a deployment)."""
    nc = await nats.connect(url, connect_timeout=2, error_cb=_quiet)
    try:
        js = nc.jetstream()
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_stream(names.stream)
        with contextlib.suppress(nats.js.errors.NotFoundError, nats.js.errors.BucketNotFoundError):
            await js.delete_key_value(names.bucket)
    finally:
        await nc.close()


# --------------------------------------------------------------------------- publisher


class NatsEventBus:
    """Publishes stored events' ids to JetStream from a background asyncio thread.

    ``publish`` never blocks the collector on NATS: it queues the ids (bounded by
    ``queue_max``) and returns. Publishing is asynchronous (``publish_async``), acks are
    awaited per batch by a separate task. An id whose publish failed, timed out or was dropped
    because the queue was full marks a retry point; once failures stop for ``catchup_age``
    seconds, the catch-up task republishes pending events from that point (JetStream's
    duplicate window drops ids already in the stream).
    """

    def __init__(
        self,
        url: str,
        settings: Settings,
        session_factory: sessionmaker[Session],
        *,
        queue_max: int = 200_000,
        catchup_age: float = 5.0,
        catchup_interval: float = 1.0,
        ack_timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.names = names_for(settings)
        self._factory = session_factory
        self.queue_max = queue_max
        self.catchup_age = catchup_age
        self.catchup_interval = catchup_interval
        self.ack_timeout = ack_timeout
        self._lock = threading.Lock()
        self._queued = 0  # ids handed over and not yet acknowledged or failed
        self._retry_from: int | None = None
        self._last_failure = 0.0
        self._failures = 0
        self.published = 0
        self.republished = 0
        self.failed = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[list[StoredEventRef]] | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._closing = False
        self._gave_up = False
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- the collector's side (any thread)

    def publish(self, events: Sequence[StoredEventRef]) -> None:
        if not events:
            return
        self.start()
        with self._lock:
            refused = self._closing or self._queued + len(events) > self.queue_max
            if not refused:
                self._queued += len(events)
        if refused:
            self._note_failure(events)
            return
        assert self._loop is not None
        assert self._queue is not None
        self._loop.call_soon_threadsafe(self._queue.put_nowait, list(events))

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected and self._js is not None

    @property
    def retry_pending(self) -> bool:
        return self._retry_from is not None

    def start(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run_loop, name="nats-publisher",
                                            daemon=True)
            self._thread.start()
        self._ready.wait(10)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued id is acknowledged or failed; True when none is left."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queued == 0:
                return True
            time.sleep(0.01)
        return self._queued == 0

    def close(self, timeout: float = 5.0) -> None:
        """Flush what is queued (bounded), then stop the thread; the catch-up covers the rest."""
        if self._thread is None:
            return
        self.flush(timeout)
        self._closing = True
        loop = self._loop
        if loop is not None and loop.is_running():
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout + 5)
        self._thread.join(timeout)
        self._thread = None

    # -- the loop thread

    def _run_loop(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        self._queue = asyncio.Queue()
        for coro in (self._connect_loop(), self._publish_loop(), self._catchup_loop()):
            self._spawn(coro)
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        assert self._loop is not None
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _shutdown(self) -> None:
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()
        assert self._loop is not None
        self._loop.call_soon(self._loop.stop)

    async def _connect_loop(self) -> None:
        wait = 0.5
        while self._js is None:
            try:
                nc = await connect(self.url, "rapport-collector")
                js = nc.jetstream()
                await ensure_stream(js, self.names)
                self._nc, self._js = nc, js
                log.info("hub bus connected to %s (stream %s)", self.url, self.names.stream)
            except Exception as exc:
                log.warning("hub bus cannot reach %s (%s); events stay in the database and "
                            "are published once it is back", self.url, exc)
                await asyncio.sleep(wait)
                wait = min(wait * 2, 10.0)

    async def _publish_loop(self) -> None:
        assert self._queue is not None
        while True:
            batch = await self._queue.get()
            while len(batch) < 2000 and not self._queue.empty():
                batch.extend(self._queue.get_nowait())
            if not self.connected and not await self._await_connection():
                self._settle(batch, failed=batch)
                continue
            for start in range(0, len(batch), 1000):
                # acks of each chunk are awaited (and timed out) by their own task, which also
                # frees publish_async's in-flight slots if NATS stops answering
                if not await self._publish_chunk(batch[start:start + 1000]):
                    rest = batch[start + 1000:]
                    self._settle(rest, failed=rest)
                    break

    async def _publish_chunk(self, chunk: list[StoredEventRef]) -> bool:
        assert self._js is not None
        futures: list[asyncio.Future[Any]] = []
        ok = True
        try:
            for ref in chunk:
                futures.append(await self._js.publish_async(
                    self.names.subject(ref.partition), str(ref.id).encode(),
                    headers={"Nats-Msg-Id": str(ref.id)},
                ))
        except Exception as exc:
            log.warning("hub bus publish failed (%s); the catch-up will republish", exc)
            self._settle(chunk[len(futures):], failed=chunk[len(futures):])
            ok = False
        if futures:
            self._gave_up = False
            self._spawn(self._collect_acks(chunk[:len(futures)], futures))
        return ok

    async def _await_connection(self) -> bool:
        """Hold a batch while NATS is (re)connecting, up to ``ack_timeout`` once per outage;
        afterwards fail fast (the catch-up republishes) until the connection is back."""
        if self._gave_up:
            return False
        deadline = time.monotonic() + self.ack_timeout
        while time.monotonic() < deadline:
            if self.connected:
                return True
            await asyncio.sleep(0.05)
        self._gave_up = True
        return False

    async def _collect_acks(self, refs: list[StoredEventRef],
                            futures: list[asyncio.Future[Any]]) -> None:
        _done, pending = await asyncio.wait(futures, timeout=self.ack_timeout)
        for future in pending:
            future.cancel()
        failed = [ref for ref, future in zip(refs, futures, strict=True)
                  if future.cancelled() or future.exception() is not None]
        self._settle(refs, failed=failed)

    def _settle(self, refs: Sequence[StoredEventRef], *, failed: Sequence[StoredEventRef]) -> None:
        with self._lock:
            self._queued -= len(refs)
            self.published += len(refs) - len(failed)
        if failed:
            self._note_failure(failed)

    def _note_failure(self, refs: Sequence[StoredEventRef]) -> None:
        lowest = min(ref.id for ref in refs)
        with self._lock:
            self.failed += len(refs)
            self._failures += 1
            self._last_failure = time.monotonic()
            if self._retry_from is None or lowest < self._retry_from:
                self._retry_from = lowest

    async def _catchup_loop(self) -> None:
        while True:
            await asyncio.sleep(self.catchup_interval)
            with self._lock:
                start, generation = self._retry_from, self._failures
                quiet_for = time.monotonic() - self._last_failure
            if start is None or quiet_for < self.catchup_age or not self.connected:
                continue
            try:
                complete = await self._republish_from(start)
            except Exception as exc:
                log.warning("hub bus catch-up failed (%s); retrying", exc)
                complete = False
            with self._lock:
                if complete and self._failures == generation:
                    self._retry_from = None

    async def _republish_from(self, start: int) -> bool:
        """Republish pending events with id >= ``start`` received before the last failure."""
        assert self._loop is not None
        assert self._js is not None
        cutoff = utcnow() - timedelta(seconds=self.catchup_age)
        after = start - 1
        while True:
            rows = await self._loop.run_in_executor(None, self._pending_page, after, cutoff)
            if not rows:
                return True
            futures = [
                await self._js.publish_async(self.names.subject(partition), str(event_id).encode(),
                                             headers={"Nats-Msg-Id": str(event_id)})
                for event_id, partition in rows
            ]
            _done, pending = await asyncio.wait(futures, timeout=self.ack_timeout)
            for future in pending:
                future.cancel()
            if pending or any(f.exception() is not None for f in futures if not f.cancelled()):
                return False
            self.republished += len(rows)
            log.info("hub bus catch-up republished %s events", len(rows))
            after = rows[-1][0]

    def _pending_page(self, after: int, cutoff: Any, limit: int = 1000) -> list[tuple[int, int]]:
        with self._factory() as session:
            return [(row[0], row[1]) for row in session.execute(
                select(HubEvent.id, HubEvent.partition)
                .where(HubEvent.id > after, HubEvent.processed_at.is_(None),
                       HubEvent.received_at < cutoff)
                .order_by(HubEvent.id).limit(limit)
            )]


# --------------------------------------------------------------------------- processors


@dataclass
class _Lease:
    partition: int
    revision: int
    valid_until: float
    releasing: bool = False
    lost: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class NatsWorker:
    """One processor process: claims a fair share of the partitions and consumes them.

    Every ``lease_ttl / 3`` seconds it refreshes its member key and its leases, counts the
    live members and claims free partitions up to ``ceil(partitions / members)`` (releasing
    any above that share after the batch in hand). A partition's batch is processed in a
    thread (``concurrency`` threads), committed, then acknowledged; a batch whose lease ran
    out before the commit is rolled back and not acknowledged.
    """

    def __init__(
        self,
        url: str,
        settings: Settings,
        session_factory: sessionmaker[Session],
        processor: Processor,
        *,
        partitions: Sequence[int] | None = None,
        concurrency: int = 2,
        batch: int = BATCH,
        lease_ttl: float = LEASE_TTL,
        sweep_age: float = 30.0,
        sweep_interval: float = 10.0,
    ) -> None:
        self.url = url
        self.settings = settings
        self.names = names_for(settings)
        self._factory = session_factory
        self.allowed = list(partitions if partitions is not None else range(settings.hub_partitions))
        self.concurrency = max(1, concurrency)
        self.batch = max(1, min(batch, BATCH))
        self.lease_ttl = lease_ttl
        self.sweep_age = sweep_age
        self.sweep_interval = sweep_interval
        host = "".join(c if c.isalnum() or c in "-_" else "-" for c in socket.gethostname())
        self.owner = f"{host}-{os.getpid()}-{random.randrange(16**6):06x}"  # noqa: S311
        self.leases: dict[int, _Lease] = {}
        self.runner = BatchRunner(session_factory, settings, processor, still_owner=self.holds)
        self.delivered = 0
        self._stopping = False
        self._last_sweep: dict[int, float] = {}
        self._executor: ThreadPoolExecutor | None = None

    @property
    def processed(self) -> int:
        return self.runner.processed

    def owned(self) -> list[int]:
        return sorted(p for p, lease in self.leases.items() if not lease.lost)

    def holds(self, partition: int) -> bool:
        """Whether this process may still commit a batch of ``partition`` (the fence)."""
        lease = self.leases.get(partition)
        return lease is not None and not lease.lost and time.monotonic() < lease.valid_until

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set, then finish the batches in hand and release leases."""
        asyncio.run(self._main(stop))

    def _key(self, partition: int) -> str:
        return f"p.{partition}"

    @property
    def _member_key(self) -> str:
        return f"m.{self.owner}"

    async def _main(self, stop: threading.Event) -> None:
        nc: NATS | None = None
        wait = 0.5
        while nc is None and not stop.is_set():
            try:
                nc = await connect(self.url, f"rapport-worker-{self.owner}")
            except Exception as exc:
                log.warning("worker cannot reach %s (%s); retrying", self.url, exc)
                await asyncio.sleep(wait)
                wait = min(wait * 2, 10.0)
        if nc is None:
            return
        js = nc.jetstream()
        await ensure_stream(js, self.names)
        kv = await ensure_leases(js, self.names, self.lease_ttl)
        self._executor = ThreadPoolExecutor(self.concurrency, thread_name_prefix="hub-batch")
        await kv.put(self._member_key, self.owner.encode())
        # let processes started together see each other before claiming a share
        await asyncio.sleep(self.lease_ttl / 3)
        lease_task = asyncio.create_task(self._lease_loop(js, kv))
        while not stop.is_set():
            await asyncio.sleep(0.1)
        log.info("worker %s stopping: finishing batches in hand", self.owner)
        self._stopping = True
        lease_task.cancel()
        tasks = [lease.task for lease in self.leases.values() if lease.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await kv.delete(self._member_key)
        await nc.drain()
        self._executor.shutdown(wait=True)
        log.info("worker %s stopped after %s events", self.owner, self.processed)

    async def _lease_loop(self, js: JetStreamContext, kv: KeyValue) -> None:
        while True:
            try:  # bounded: a hung request must not freeze lease upkeep silently
                await asyncio.wait_for(self._tick(js, kv), timeout=self.lease_ttl)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("lease refresh failed (%s: %s); retrying", type(exc).__name__, exc)
            await asyncio.sleep(self.lease_ttl / 3)

    async def _tick(self, js: JetStreamContext, kv: KeyValue) -> None:
        started = time.monotonic()
        value = self.owner.encode()
        await kv.put(self._member_key, value)
        held = [lease for lease in self.leases.values() if not lease.lost]
        results = await asyncio.gather(
            *(kv.update(self._key(lease.partition), value, last=lease.revision) for lease in held),
            return_exceptions=True,
        )
        for lease, result in zip(held, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("lease of partition %s lost (%s)", lease.partition, result)
                lease.lost = True
            else:
                lease.revision = result
                lease.valid_until = started + self.lease_ttl - 1.0
        members = await self._members(js, kv)
        share = math.ceil(len(self.allowed) / max(members, 1))
        active = [p for p, lease in self.leases.items() if not lease.lost and not lease.releasing]
        if len(active) > share:
            for partition in sorted(active)[share:]:
                self.leases[partition].releasing = True
            return
        free = [p for p in self.allowed if p not in self.leases]
        random.shuffle(free)
        wanted = share - len(active)
        for partition in free:
            if wanted <= 0 or self._stopping:
                break
            revision = await self._claim(kv, partition, value)
            if revision is None:
                continue
            wanted -= 1
            lease = _Lease(partition, revision, started + self.lease_ttl - 1.0)
            self.leases[partition] = lease
            lease.task = asyncio.create_task(self._consume(js, kv, lease))
            log.info("worker %s took partition %s", self.owner, partition)

    async def _members(self, js: JetStreamContext, kv: KeyValue) -> int:
        """Live workers: member keys present (not deleted). One stream-info request and a get
        per member, rather than ``kv.keys()``, whose watcher can wait forever when keys expire
        while it reads."""
        prefix = f"$KV.{self.names.bucket}."
        info = await js.stream_info(f"KV_{self.names.bucket}", subjects_filter=f"{prefix}m.>")
        live = 0
        for subject in (info.state.subjects or {}):
            try:
                await kv.get(subject[len(prefix):])
                live += 1
            except nats.js.errors.KeyNotFoundError:
                pass
        return max(live, 1)

    async def _claim(self, kv: KeyValue, partition: int, value: bytes) -> int | None:
        try:
            return await kv.create(self._key(partition), value)
        except nats.js.errors.KeyWrongLastSequenceError:
            pass
        try:  # still ours from before a disconnection?
            entry = await kv.get(self._key(partition))
        except nats.js.errors.KeyNotFoundError:
            return None
        return entry.revision if entry.value == value else None

    def _active(self, lease: _Lease) -> bool:
        return not (self._stopping or lease.releasing or lease.lost)

    async def _consume(self, js: JetStreamContext, kv: KeyValue, lease: _Lease) -> None:
        partition = lease.partition
        loop = asyncio.get_running_loop()
        sub = None
        try:
            sub = await subscribe_partition(js, self.names, partition, self.batch)
            await self._take_over(sub, partition, lease)
            while self._active(lease):
                try:
                    msgs = await sub.fetch(self.batch, timeout=1.0)
                except (TimeoutError, nats.errors.TimeoutError):
                    await self._maybe_sweep(partition, lease)
                    continue
                except Exception as exc:
                    log.warning("fetch on partition %s failed (%s: %s)", partition,
                                type(exc).__name__, exc)
                    await asyncio.sleep(1.0)
                    continue
                ids = []
                for msg in msgs:
                    try:
                        ids.append(int(msg.data))
                    except ValueError:
                        log.error("partition %s: dropping a message that is not an event id: "
                                  "%r", partition, msg.data[:50])
                try:
                    await loop.run_in_executor(self._executor, self.runner.run_ids, partition, ids)
                except LeaseLost:
                    log.warning("lease of partition %s ran out before the commit; batch "
                                "rolled back and handed back", partition)
                    await _nak(msgs)
                    break
                except Exception as exc:
                    log.warning("batch of partition %s failed (%s); redelivering", partition, exc)
                    await _nak(msgs, delay=1.0)
                    await asyncio.sleep(1.0)
                    continue
                for msg in msgs:
                    await msg.ack()
                self.delivered += len(msgs)
        except Exception:
            log.exception("consumer of partition %s stopped", partition)
        finally:
            if sub is not None:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
            if not lease.lost:
                with contextlib.suppress(Exception):
                    await kv.delete(self._key(partition), last=lease.revision)
            self.leases.pop(partition, None)

    async def _take_over(self, sub: JetStreamContext.PullSubscription, partition: int,
                         lease: _Lease) -> None:
        """A previous owner died with a batch unacknowledged: the stream holds the partition
        back until ``ACK_WAIT`` redelivers it. Meanwhile process its pending rows from the
        database (the log of record) in id order, so the partition moves on within a lease
        period of the death rather than a lease period plus ``ACK_WAIT``."""
        loop = asyncio.get_running_loop()
        while self._active(lease):
            try:
                info = await sub.consumer_info()
            except Exception as exc:  # noqa: BLE001 - the stream path will carry on anyway
                log.warning("partition %s: consumer info failed (%s)", partition, exc)
                return
            if not info.num_ack_pending:
                return
            done = await loop.run_in_executor(self._executor, self.runner.run_pending,
                                              partition, self.batch)
            if done:
                log.info("partition %s: took over %s events its previous owner left "
                         "unacknowledged", partition, done)
            else:
                await asyncio.sleep(0.5)

    async def _maybe_sweep(self, partition: int, lease: _Lease) -> None:
        """The stream has nothing for us: process pending rows it never carried (a collector
        that died between its commit and its publish)."""
        now = time.monotonic()
        if now - self._last_sweep.get(partition, 0.0) < self.sweep_interval:
            return
        self._last_sweep[partition] = now
        cutoff = utcnow() - timedelta(seconds=self.sweep_age)
        loop = asyncio.get_running_loop()
        while self._active(lease):
            done = await loop.run_in_executor(self._executor, self.runner.run_stale, partition,
                                              cutoff, self.batch)
            if not done:
                return
            log.info("partition %s: swept %s events the stream did not carry", partition, done)


async def _nak(msgs: list[Msg], delay: float | None = None) -> None:
    for msg in msgs:
        with contextlib.suppress(Exception):
            await msg.nak(delay=delay)
