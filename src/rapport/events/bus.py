"""In-process bus and the outbox relay that publishes committed domain events."""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from rapport.db.base import utcnow
from rapport.events.models import OutboxMessage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DomainEvent:
    id: int
    topic: str
    payload: dict[str, Any]


Handler = Callable[[DomainEvent], None]


class InProcessBus:
    """Subscribers by topic prefix (``crm.`` receives every CRM event)."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)

    def subscribe(self, prefix: str, handler: Handler) -> None:
        self._handlers[prefix].append(handler)

    def publish(self, event: DomainEvent) -> None:
        for prefix, handlers in list(self._handlers.items()):
            if event.topic.startswith(prefix):
                for handler in handlers:
                    handler(event)


class OutboxRelay:
    """Moves committed outbox rows onto the bus, oldest first, at least once."""

    def __init__(self, session_factory: sessionmaker[Session], bus: InProcessBus) -> None:
        self._factory = session_factory
        self._bus = bus
        self._lock = threading.Lock()
        self._wake = threading.Event()

    def drain(self, batch: int = 500) -> int:
        """Publish every pending message; returns how many were published."""
        published = 0
        with self._lock:
            while True:
                with self._factory() as session:
                    rows = list(
                        session.scalars(
                            select(OutboxMessage)
                            .where(OutboxMessage.published_at.is_(None))
                            .order_by(OutboxMessage.id)
                            .limit(batch)
                        )
                    )
                    if not rows:
                        return published
                    for row in rows:
                        try:
                            self._bus.publish(DomainEvent(row.id, row.topic, row.payload))
                        except Exception as exc:  # a handler failed: keep the row, retry later
                            log.exception("outbox handler failed for message %s", row.id)
                            session.execute(
                                update(OutboxMessage)
                                .where(OutboxMessage.id == row.id)
                                .values(attempts=row.attempts + 1, last_error=str(exc)[:500])
                            )
                            session.commit()
                            return published
                        session.execute(
                            update(OutboxMessage)
                            .where(OutboxMessage.id == row.id)
                            .values(published_at=utcnow(), attempts=row.attempts + 1)
                        )
                        published += 1
                    session.commit()

    def notify(self) -> None:
        self._wake.set()

    def run_forever(self, stop: threading.Event, interval: float = 1.0) -> None:
        while not stop.is_set():
            self._wake.wait(interval)
            self._wake.clear()
            try:
                self.drain()
            except Exception:
                log.exception("outbox relay failed; retrying")
