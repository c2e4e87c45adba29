"""Helpers for the bus tests: storing events directly, and a fake processing step.

``fake_process`` behaves like ``rapport.events.pipeline.process_events`` as far as the bus can
see: in the caller's transaction it records one effect row per event it processes (the
stand-in for a profile counter) and marks the event processed; an event already processed is
skipped. Every event must end with exactly one effect row: two means it was processed twice
visibly, none that it was lost. ``RAPPORT_TEST_FAKE_DELAY`` (seconds per batch) widens the
window in which a test kills a worker mid-batch.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
)
from sqlalchemy.orm import Session, sessionmaker

from rapport.config import Settings
from rapport.events.hub_bus import StoredEventRef
from rapport.events.hub_models import HubEvent, Source
from rapport.events.partitioning import partition_key, partition_of

test_metadata = MetaData()
effects = Table(
    "hub_test_effects", test_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", BigInteger, nullable=False),
    Column("partition", Integer, nullable=False),
    Column("worker", String(80), nullable=False),
)


def run_sync(coro):  # type: ignore[no-untyped-def]
    """``asyncio.run`` on a thread of its own: the browser tests' Playwright keeps an event
    loop running on the main thread for the whole session."""
    import asyncio
    import threading

    result: dict[str, object] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - re-raised on the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return result.get("value")


def create_effects_table(engine: Engine) -> None:
    """The effect table, created if missing and emptied (PostgreSQL schemas are reused)."""
    test_metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(effects.delete())


def fake_process(session: Session, settings: Settings, events: Sequence[HubEvent]) -> None:
    delay = float(os.environ.get("RAPPORT_TEST_FAKE_DELAY", "0") or 0)
    if delay:
        time.sleep(delay)
    now = datetime.now(UTC)
    fresh = [event for event in events if event.processed_at is None]
    if fresh:
        session.execute(insert(effects), [
            {"event_id": e.id, "partition": e.partition, "worker": str(os.getpid())} for e in fresh
        ])
    for event in fresh:
        event.processed_at = now


def make_source(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as session:
        source = Source(name=f"bus-{uuid.uuid4().hex[:8]}", channel="api",
                        write_key_hash=uuid.uuid4().hex, write_key_prefix="rwk_test")
        session.add(source)
        session.commit()
        return source.id


def store_events(session_factory: sessionmaker[Session], settings: Settings, source_id: int,
                 count: int, *, customers: int = 50, received_ago: float = 0.0) -> list[StoredEventRef]:
    """``count`` track events from ``customers`` customers, committed; their refs in id order."""
    received = datetime.now(UTC) - timedelta(seconds=received_ago)
    rows = []
    for n in range(count):
        user = f"user-{n % customers}"
        rows.append({
            "source_id": source_id, "message_id": uuid.uuid4().hex, "type": "track",
            "name": "Page Viewed", "user_id": user, "timestamp": received,
            "received_at": received, "channel": "api", "fingerprint": f"fp-{user}",
            "session_id": f"s-{user}", "properties": {"n": n}, "traits": {}, "context": {},
            "partition": partition_of(partition_key(user, None), settings.hub_partitions),
        })
    with session_factory() as session:
        ids = list(session.scalars(
            insert(HubEvent).returning(HubEvent.id, sort_by_parameter_order=True), rows))
        session.commit()
    return [StoredEventRef(event_id, row["partition"]) for event_id, row in zip(ids, rows, strict=True)]


def effect_counts(session_factory: sessionmaker[Session]) -> dict[int, int]:
    """event id -> how many times its effect was applied."""
    with session_factory() as session:
        return {row[0]: row[1] for row in session.execute(
            select(effects.c.event_id, func.count()).group_by(effects.c.event_id))}


def pending_count(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as session:
        return session.scalar(select(func.count()).select_from(HubEvent)
                              .where(HubEvent.processed_at.is_(None))) or 0


def wait_for(predicate, timeout: float, interval: float = 0.1) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def slow_pipeline(session: Session, settings: Settings, events: Sequence[HubEvent]) -> object:
    """The real processing step, after the same optional per-batch delay as the fake."""
    from rapport.events.pipeline import process_events

    delay = float(os.environ.get("RAPPORT_TEST_FAKE_DELAY", "0") or 0)
    if delay:
        time.sleep(delay)
    return process_events(session, settings, events)


def profile_event_total(session_factory: sessionmaker[Session]) -> int:
    """Events counted on live (not merged-away) profiles: each processed event counts once."""
    from rapport.profiles.models import Profile

    with session_factory() as session:
        counters = session.scalars(select(Profile.counters)
                                   .where(Profile.merged_into_id.is_(None))).all()
    return sum(sum((c or {}).get("events", {}).values()) for c in counters)


def unlinked_count(session_factory: sessionmaker[Session]) -> int:
    """Events without a profile (should be none once processed by the real pipeline)."""
    with session_factory() as session:
        return session.scalar(select(func.count()).select_from(HubEvent)
                              .where(HubEvent.profile_id.is_(None))) or 0
