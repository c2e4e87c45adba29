"""The event bus of the data hub: one interface, two backends (issue 4, docs/bus.md).

The collector stores events first (the database is the log of record), commits, then calls
``publish`` with what it stored; processors consume per partition. The in-process backend
only wakes the embedded processors (they read pending events from the ``events`` table); the
NATS JetStream backend (``rapport.events.nats_bus``) publishes to one subject per partition.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from rapport.config import Settings


@dataclass(frozen=True)
class StoredEventRef:
    """What the bus carries: an event's id and partition (the row holds everything else)."""

    id: int
    partition: int


class EventBus(Protocol):
    def publish(self, events: Sequence[StoredEventRef]) -> None: ...


class InProcessEventBus:
    """Embedded default: the ``events`` table is the log; publishing wakes the processors.

    Each processor thread listens for the partitions it owns, so a publish wakes only the
    threads with work; ``wake`` is set on every publish (for anything polling the whole log).
    """

    def __init__(self) -> None:
        self.wake = threading.Event()
        self.published = 0
        self._lock = threading.Lock()
        self._listeners: list[tuple[frozenset[int], threading.Event]] = []

    def listen(self, partitions: Iterable[int]) -> threading.Event:
        """An event set whenever something is published to one of ``partitions``."""
        event = threading.Event()
        with self._lock:
            self._listeners.append((frozenset(partitions), event))
        return event

    def unlisten(self, event: threading.Event) -> None:
        with self._lock:
            self._listeners = [pair for pair in self._listeners if pair[1] is not event]

    def publish(self, events: Sequence[StoredEventRef]) -> None:
        if not events:
            return
        touched = {ref.partition for ref in events}
        with self._lock:
            self.published += len(events)
            listeners = list(self._listeners)
        for partitions, event in listeners:
            if partitions & touched:
                event.set()
        self.wake.set()

    def close(self) -> None:
        """Nothing to flush: the database already holds every published event."""


def make_event_bus(settings: Settings, session_factory: sessionmaker[Session]) -> EventBus:
    """The bus ``settings.bus_url`` names: empty for in-process, ``nats://`` for JetStream."""
    url = settings.bus_url.strip()
    if not url:
        return InProcessEventBus()
    if url.split("://", 1)[0] not in ("nats", "tls"):
        raise ValueError(f"RAPPORT_BUS_URL must be empty or nats://host:port, not {url!r}")
    from rapport.events.nats_bus import NatsEventBus

    return NatsEventBus(url, settings, session_factory)
