"""The in-process bus (embedded default): the ``events`` table is the log, threads process it.

Runs on SQLite and, when configured, PostgreSQL (the ``container`` fixture).
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rapport.bootstrap import Container
from rapport.config import Settings
from rapport.events.hub_bus import InProcessEventBus, StoredEventRef, make_event_bus
from rapport.events.hub_models import DeadLetter, HubEvent
from rapport.events.processors import EmbeddedProcessors, parse_partitions
from tests.hub.bus_support import (
    create_effects_table,
    effect_counts,
    effects,
    fake_process,
    make_source,
    pending_count,
    profile_event_total,
    store_events,
    unlinked_count,
    wait_for,
)


@pytest.fixture
def hub(container: Container) -> Container:
    create_effects_table(container.engine)
    return container


def test_the_container_holds_the_in_process_bus_when_no_bus_url_is_set(container: Container) -> None:
    assert isinstance(container.event_bus, InProcessEventBus)


def test_an_unknown_bus_url_is_refused_with_what_to_set(settings: Settings) -> None:
    with pytest.raises(ValueError, match="nats://"):
        make_event_bus(settings.model_copy(update={"bus_url": "kafka://x:9092"}), None)  # type: ignore[arg-type]


def test_drain_processes_each_published_event_exactly_once(hub: Container) -> None:
    source = make_source(hub.session_factory)
    refs = store_events(hub.session_factory, hub.settings, source, 300)
    hub.event_bus.publish(refs)
    processors = EmbeddedProcessors(hub.session_factory, hub.settings, processor=fake_process,
                                    batch=40)

    assert processors.drain() == 300
    assert processors.drain() == 0  # nothing left, nothing done twice

    assert effect_counts(hub.session_factory) == {ref.id: 1 for ref in refs}
    assert pending_count(hub.session_factory) == 0


def test_each_partition_is_processed_in_id_order(hub: Container) -> None:
    source = make_source(hub.session_factory)
    store_events(hub.session_factory, hub.settings, source, 200, customers=7)
    EmbeddedProcessors(hub.session_factory, hub.settings, processor=fake_process, batch=3).drain()

    with hub.session_factory() as session:
        rows = session.execute(select(effects.c.partition, effects.c.event_id)
                               .order_by(effects.c.id)).all()
    by_partition: dict[int, list[int]] = {}
    for partition, event_id in rows:
        by_partition.setdefault(partition, []).append(event_id)
    assert len(by_partition) > 1
    for ids in by_partition.values():
        assert ids == sorted(ids)


def test_running_threads_are_woken_by_publish_and_process_once(hub: Container) -> None:
    bus = hub.event_bus
    assert isinstance(bus, InProcessEventBus)
    processors = EmbeddedProcessors(hub.session_factory, hub.settings, bus, processor=fake_process,
                                    concurrency=4, batch=25, poll_interval=30.0)
    processors.start()
    try:
        source = make_source(hub.session_factory)
        refs: list[StoredEventRef] = []
        for _ in range(5):
            stored = store_events(hub.session_factory, hub.settings, source, 60)
            bus.publish(stored)
            refs.extend(stored)
        # the poll interval is 30 s: only the publish can have woken them this fast
        assert wait_for(lambda: pending_count(hub.session_factory) == 0, timeout=15)
    finally:
        processors.stop()
    assert effect_counts(hub.session_factory) == {ref.id: 1 for ref in refs}


def test_two_processor_groups_on_one_database_never_process_an_event_twice(hub: Container) -> None:
    """``rapport serve`` and ``rapport worker`` may both poll the log: the partition lock fences."""
    source = make_source(hub.session_factory)
    refs = store_events(hub.session_factory, hub.settings, source, 400)
    groups = [EmbeddedProcessors(hub.session_factory, hub.settings, processor=fake_process,
                                 concurrency=3, batch=20, poll_interval=0.05) for _ in range(2)]
    for group in groups:
        group.start()
    try:
        assert wait_for(lambda: pending_count(hub.session_factory) == 0, timeout=30)
    finally:
        for group in groups:
            group.stop()
    assert effect_counts(hub.session_factory) == {ref.id: 1 for ref in refs}


def test_a_poison_event_is_dead_lettered_and_does_not_block_its_partition(hub: Container) -> None:
    source = make_source(hub.session_factory)
    refs = store_events(hub.session_factory, hub.settings, source, 30, customers=1)
    poison = refs[5].id

    def flaky(session: Session, settings: Settings, events: Sequence[HubEvent]) -> None:
        if any(event.id == poison for event in events):
            raise RuntimeError("cannot process this one")
        fake_process(session, settings, events)

    processors = EmbeddedProcessors(hub.session_factory, hub.settings, processor=flaky, batch=10)
    for _ in range(3):
        processors.drain()

    counts = effect_counts(hub.session_factory)
    assert poison not in counts
    assert counts == {ref.id: 1 for ref in refs if ref.id != poison}
    assert pending_count(hub.session_factory) == 0
    with hub.session_factory() as session:
        letter = session.scalars(select(DeadLetter)).one()
    assert letter.code == "processing_failed"
    assert "cannot process this one" in letter.reason


def test_a_batch_that_raced_another_on_a_unique_key_runs_again_whole(hub: Container) -> None:
    source = make_source(hub.session_factory)
    refs = store_events(hub.session_factory, hub.settings, source, 20, customers=1)
    batches: list[int] = []

    def racing(session: Session, settings: Settings, events: Sequence[HubEvent]) -> None:
        batches.append(len(events))
        if len(batches) == 1:  # as if another partition had just stored the same identity
            raise IntegrityError("INSERT INTO identities", {}, Exception("duplicate key"))
        fake_process(session, settings, events)

    processors = EmbeddedProcessors(hub.session_factory, hub.settings, processor=racing, batch=50)
    processors.drain()

    assert batches == [20, 20]  # the whole batch again, not one event at a time
    assert effect_counts(hub.session_factory) == {ref.id: 1 for ref in refs}
    assert pending_count(hub.session_factory) == 0


def test_the_hub_pipeline_turns_collected_events_into_profiles_once(hub: Container) -> None:
    """The real processing step, fed by the collector, drained twice: nothing doubles."""
    from rapport.events import collector, sources

    with hub.uow() as uow:
        source = sources.create_source(uow.session, "shop", "web").source
        uow.commit()
    messages = [{"type": "track", "event": "Product Viewed", "userId": f"buyer-{n % 9}",
                 "messageId": f"msg-{n}", "timestamp": "2026-01-05T10:00:00Z"} for n in range(120)]
    with hub.uow() as uow:
        result = collector.ingest(uow.session, hub.settings, source, messages)
        uow.commit()
    hub.event_bus.publish(result.stored)

    processors = EmbeddedProcessors(hub.session_factory, hub.settings, batch=25)  # the pipeline
    assert processors.drain() == 120
    assert processors.drain() == 0
    assert processors.runner.run_ids(result.stored[0].partition,
                                     [ref.id for ref in result.stored]) == 0  # a redelivery

    assert pending_count(hub.session_factory) == 0
    assert unlinked_count(hub.session_factory) == 0
    assert profile_event_total(hub.session_factory) == 120


def test_partition_ranges_are_parsed_and_checked() -> None:
    assert parse_partitions("0-3,8", 16) == [0, 1, 2, 3, 8]
    assert parse_partitions("", 4) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="outside 0-15"):
        parse_partitions("12-16", 16)
    with pytest.raises(ValueError, match="range like 0-7"):
        parse_partitions("a-b", 16)


def test_the_server_lifespan_runs_the_processors_with_the_in_process_bus(hub: Container) -> None:
    """``rapport serve`` (relay on): published events are processed without anyone draining."""
    from fastapi.testclient import TestClient

    from rapport.api.app import create_app

    app = create_app(hub, run_outbox_relay=True)
    with TestClient(app):
        source = make_source(hub.session_factory)
        refs = store_events(hub.session_factory, hub.settings, source, 60)
        hub.event_bus.publish(refs)
        assert wait_for(lambda: pending_count(hub.session_factory) == 0, timeout=20)
    assert unlinked_count(hub.session_factory) == 0
    assert profile_event_total(hub.session_factory) == 60
