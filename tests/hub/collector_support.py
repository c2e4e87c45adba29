"""Fixtures and helpers for the collector tests: a source with its write key, a client
without API credentials, and Basic auth the way Segment clients send it."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from rapport.bootstrap import Container
from rapport.events import sources
from rapport.events.hub_models import DeadLetter, HubEvent


@dataclass(frozen=True)
class Keyed:
    source: sources.SourceInfo
    key: str


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


@pytest.fixture(name="web_source")
def web_source_fixture(container: Container) -> Keyed:
    with container.uow() as uow:
        issued = sources.create_source(uow.session, "Website", "web")
        uow.commit()
    return Keyed(issued.source, issued.write_key)


@pytest.fixture(name="collector")
def collector_fixture(app: FastAPI) -> Iterator[TestClient]:
    """A client holding no API token: the write key is its only credential."""
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def events(container: Container, **where: Any) -> list[HubEvent]:
    with container.session_factory() as session:
        stmt = select(HubEvent).order_by(HubEvent.id)
        for key, value in where.items():
            stmt = stmt.where(getattr(HubEvent, key) == value)
        return list(session.scalars(stmt))


def dead_letters(container: Container) -> list[DeadLetter]:
    with container.session_factory() as session:
        return list(session.scalars(select(DeadLetter).order_by(DeadLetter.id)))


def count(container: Container, model: Any) -> int:
    with container.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)
