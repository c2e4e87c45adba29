"""Composition root: wires settings, engine, unit of work, services and the bus."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from rapport.config import Settings, get_settings
from rapport.crm.service import RecordService
from rapport.db import UnitOfWork, make_engine, make_session_factory
from rapport.events.bus import InProcessBus, OutboxRelay
from rapport.events.hub_bus import EventBus, InProcessEventBus, make_event_bus


@dataclass
class Container:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    records: RecordService
    bus: InProcessBus
    relay: OutboxRelay
    on_commit: list[Callable[[], None]] = field(default_factory=list)
    event_bus: EventBus = field(default_factory=InProcessEventBus)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.session_factory, on_commit=self.on_commit)


def bootstrap(settings: Settings | None = None) -> Container:
    settings = settings or get_settings()
    engine = make_engine(settings.database_url)
    session_factory = make_session_factory(engine)
    bus = InProcessBus()
    relay = OutboxRelay(session_factory, bus)
    return Container(
        settings=settings,
        engine=engine,
        session_factory=session_factory,
        records=RecordService(settings),
        bus=bus,
        relay=relay,
        on_commit=[relay.notify],
        event_bus=make_event_bus(settings, session_factory),  # RAPPORT_BUS_URL (docs/bus.md)
    )
