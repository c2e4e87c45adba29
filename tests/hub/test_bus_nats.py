"""The NATS JetStream bus against the real server (``RAPPORT_TEST_NATS_URL``, CI: 127.0.0.1:4222).

Each test uses its own stream, subjects and lease bucket (a unique ``bus_name``) and deletes
them afterwards.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from rapport.bootstrap import Container, bootstrap
from rapport.config import Settings
from rapport.events import collector, sources
from rapport.events.nats_bus import NatsEventBus, NatsNames, NatsWorker, delete_all
from tests.hub.bus_support import (
    create_effects_table,
    effect_counts,
    fake_process,
    make_source,
    pending_count,
    run_sync,
    store_events,
    wait_for,
)


@pytest.fixture
def bus_name(nats_url: str) -> Iterator[str]:
    name = "t" + uuid.uuid4().hex[:10]
    yield name
    run_sync(delete_all(nats_url, NatsNames(name)))


@pytest.fixture
def hub(container: Container, nats_url: str, bus_name: str) -> Iterator[Container]:
    """The test's container, bootstrapped again with the NATS bus."""
    settings = container.settings.model_copy(update={"bus_url": nats_url, "bus_name": bus_name})
    c = bootstrap(settings)
    create_effects_table(c.engine)
    yield c
    close = getattr(c.event_bus, "close", None)
    if close:
        close()
    c.engine.dispose()


class Worker:
    """A NatsWorker running in a thread of this process."""

    def __init__(self, container: Container, url: str, **options: object) -> None:
        self.stop = threading.Event()
        self.worker = NatsWorker(url, container.settings, container.session_factory, fake_process,
                                 **options)  # type: ignore[arg-type]
        self.thread = threading.Thread(target=self.worker.run, args=(self.stop,), daemon=True)

    def __enter__(self) -> NatsWorker:
        self.thread.start()
        return self.worker

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)
        assert not self.thread.is_alive(), "the worker did not stop"


def test_bootstrap_picks_the_nats_bus_from_the_bus_url(hub: Container) -> None:
    assert isinstance(hub.event_bus, NatsEventBus)


def test_published_events_reach_the_processor_once(hub: Container, nats_url: str) -> None:
    bus = hub.event_bus
    assert isinstance(bus, NatsEventBus)
    source = make_source(hub.session_factory)
    refs = store_events(hub.session_factory, hub.settings, source, 2000)
    bus.publish(refs)
    assert bus.flush(20)
    assert bus.published == 2000
    assert bus.failed == 0

    with Worker(hub, nats_url, lease_ttl=3.0) as worker:
        assert wait_for(lambda: pending_count(hub.session_factory) == 0, timeout=30)
        assert worker.owned() == list(range(hub.settings.hub_partitions))
    assert effect_counts(hub.session_factory) == {ref.id: 1 for ref in refs}


def test_a_redelivered_event_changes_nothing(hub: Container, nats_url: str) -> None:
    bus = hub.event_bus
    assert isinstance(bus, NatsEventBus)
    source = make_source(hub.session_factory)
    refs = store_events(hub.session_factory, hub.settings, source, 50)
    bus.publish(refs)
    with Worker(hub, nats_url, lease_ttl=3.0) as worker:
        assert wait_for(lambda: pending_count(hub.session_factory) == 0, timeout=30)
        # the same ids again, past JetStream's duplicate window (new message ids)
        run_sync(_publish_raw(nats_url, bus.names, [(r.id, r.partition) for r in refs]))
        assert wait_for(lambda: worker.delivered >= 100, timeout=30)
    assert effect_counts(hub.session_factory) == {ref.id: 1 for ref in refs}


async def _publish_raw(url: str, names: NatsNames, refs: list[tuple[int, int]]) -> None:
    import nats

    nc = await nats.connect(url)
    js = nc.jetstream()
    for event_id, partition in refs:
        await js.publish(names.subject(partition), str(event_id).encode())
    await nc.close()


class Proxy:
    """A TCP relay to NATS that the test can cut and restore: NATS going down and back."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 4222)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.url = f"nats://127.0.0.1:{self.port}"
        self._server: socket.socket | None = None
        self._conns: list[socket.socket] = []

    def up(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen()
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        self._conns = []

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_RDWR)


def test_with_nats_down_the_collector_stores_events_and_the_catch_up_publishes_them_later(
    container: Container, nats_url: str, bus_name: str,
) -> None:
    proxy = Proxy(nats_url)
    settings: Settings = container.settings.model_copy(
        update={"bus_url": proxy.url, "bus_name": bus_name})
    hub = bootstrap(settings)
    create_effects_table(hub.engine)
    bus = NatsEventBus(proxy.url, settings, hub.session_factory, catchup_age=1.0,
                       catchup_interval=0.2, ack_timeout=2.0)
    hub.event_bus = bus
    try:
        # given NATS is unreachable
        with hub.uow() as uow:
            source = sources.create_source(uow.session, "kiosk", "api").source
            uow.commit()
        # when the collector accepts events
        messages = [{"type": "track", "event": "Visited", "userId": f"u{n}",
                     "messageId": f"m-{n}", "timestamp": "2026-01-05T10:00:00Z"}
                    for n in range(40)]
        with hub.uow() as uow:
            result = collector.ingest(uow.session, settings, source, messages)
            uow.commit()
        started = time.monotonic()
        hub.event_bus.publish(result.stored)
        # then the request is not held up by NATS, and the events are stored
        assert time.monotonic() - started < 0.5
        assert len(result.stored) == 40
        assert pending_count(hub.session_factory) == 40
        assert wait_for(lambda: bus.failed >= 40, timeout=10)
        assert bus.retry_pending

        # and once NATS is back, the catch-up publishes them and a worker processes them
        proxy.up()
        assert wait_for(lambda: not bus.retry_pending, timeout=30)
        assert bus.republished >= 40
        with Worker(hub, nats_url, lease_ttl=3.0):
            assert wait_for(lambda: pending_count(hub.session_factory) == 0, timeout=30)
        assert effect_counts(hub.session_factory) == {ref.id: 1 for ref in result.stored}
    finally:
        bus.close(timeout=2)
        proxy.down()
        hub.engine.dispose()


def test_a_processor_sweeps_stored_events_the_stream_never_carried(hub: Container,
                                                                    nats_url: str) -> None:
    """A collector that died between its commit and its publish: the partition owner finds them."""
    source = make_source(hub.session_factory)
    refs = store_events(hub.session_factory, hub.settings, source, 30, received_ago=120)
    # (never published)
    with Worker(hub, nats_url, lease_ttl=3.0, sweep_age=60.0, sweep_interval=1.0):
        assert wait_for(lambda: pending_count(hub.session_factory) == 0, timeout=30)
    assert effect_counts(hub.session_factory) == {ref.id: 1 for ref in refs}
