"""The event bus of the data hub: one interface, two backends (issue 4).

The collector stores events first (the database is the log of record), commits, then calls
``publish`` with what it stored; processors consume per partition. The in-process backend
only wakes the embedded processors (they read pending events from the ``events`` table); the
NATS JetStream backend publishes to one subject per partition.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class StoredEventRef:
    """What the bus carries: an event's id and partition (the row holds everything else)."""

    id: int
    partition: int


class EventBus(Protocol):
    def publish(self, events: Sequence[StoredEventRef]) -> None: ...


class InProcessEventBus:
    """Embedded default: the ``events`` table is the log; publishing wakes the processors."""

    def __init__(self) -> None:
        self.wake = threading.Event()
        self.published = 0

    def publish(self, events: Sequence[StoredEventRef]) -> None:
        if events:
            self.published += len(events)
            self.wake.set()
