"""The transactional outbox: committed changes are published exactly once, rolled-back never."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from rapport.bootstrap import Container
from rapport.crm.service import SYSTEM, Actor
from rapport.errors import ValidationFailed
from rapport.events.bus import DomainEvent
from rapport.events.models import OutboxMessage

ANA = Actor(user_id=None, source="test", is_admin=True)


@pytest.fixture
def received(container: Container) -> list[DomainEvent]:
    """Every CRM event the in-process bus delivers, in order."""
    events: list[DomainEvent] = []
    container.bus.subscribe("crm.", events.append)
    return events


def test_each_committed_change_is_published_exactly_once(
    container: Container, received: list[DomainEvent]
) -> None:
    # given a contact created, updated and deleted in three committed transactions
    with container.uow() as uow:
        contact = container.records.create(uow, ANA, "contacts", {"last_name": "Haddad"})
        uow.commit()
    with container.uow() as uow:
        container.records.update(uow, ANA, "contacts", contact.id, {"job_title": "Buyer"})
        uow.commit()
    with container.uow() as uow:
        container.records.delete(uow, ANA, "contacts", contact.id)
        uow.commit()

    # when the relay drains the outbox twice
    first = container.relay.drain()
    second = container.relay.drain()

    # then each change was delivered once, in commit order, and nothing twice
    assert (first, second) == (3, 0)
    assert [e.topic for e in received] == [
        "crm.contact.created", "crm.contact.updated", "crm.contact.deleted"]
    assert len({e.id for e in received}) == 3
    created, updated, deleted = (e.payload for e in received)
    assert created["id"] == updated["id"] == deleted["id"] == contact.id
    assert created["object"] == "contacts"
    assert created["changes"]["last_name"] == [None, "Haddad"]
    assert updated["changes"] == {"job_title": [None, "Buyer"]}
    assert deleted["changes"]["last_name"] == ["Haddad", None]
    assert updated["source"] == "test"


def test_nothing_from_a_rolled_back_transaction_is_published(
    container: Container, received: list[DomainEvent]
) -> None:
    # given writes in a transaction that is never committed
    with container.uow() as uow:
        container.records.create(uow, ANA, "accounts", {"name": "Example Ghost"})
        container.records.create(uow, ANA, "accounts", {"name": "Example Phantom"})
    # and a transaction that fails part-way
    with container.uow() as uow:
        container.records.create(uow, ANA, "accounts", {"name": "Example Half"})
        with pytest.raises(ValidationFailed):
            container.records.create(uow, ANA, "accounts", {"tier": "Z"})

    assert container.relay.drain() == 0
    assert received == []
    with container.session_factory() as session:
        assert session.scalars(select(OutboxMessage)).all() == []


def test_a_bulk_write_publishes_one_event_per_record(
    container: Container, received: list[DomainEvent]
) -> None:
    with container.uow() as uow:
        container.records.bulk_write(
            uow, SYSTEM, "leads", [{"last_name": f"Lead{i}"} for i in range(25)])
        uow.commit()
    assert container.relay.drain(batch=10) == 25
    assert [e.topic for e in received] == ["crm.lead.created"] * 25


def test_a_failing_subscriber_gets_the_event_again_on_the_next_drain(
    container: Container,
) -> None:
    # given a subscriber that fails on its first delivery
    delivered: list[int] = []
    failures = iter([RuntimeError("downstream is down")])

    def flaky(event: DomainEvent) -> None:
        error = next(failures, None)
        if error:
            raise error
        delivered.append(event.id)

    container.bus.subscribe("crm.account.", flaky)
    with container.uow() as uow:
        container.records.create(uow, ANA, "accounts", {"name": "Example Retry"})
        uow.commit()

    # when the relay drains twice
    assert container.relay.drain() == 0
    with container.session_factory() as session:
        pending = session.scalars(select(OutboxMessage)).one()
        assert (pending.published_at, pending.attempts) == (None, 1)
        assert pending.last_error == "downstream is down"
    assert container.relay.drain() == 1

    # then the event arrived once, after the failure, and is marked published
    assert delivered == [pending.id]
    assert container.relay.drain() == 0
    with container.session_factory() as session:
        published = session.scalars(select(OutboxMessage)).one()
        assert published.published_at is not None
        assert published.attempts == 2


def test_subscribers_receive_only_their_topics(container: Container) -> None:
    accounts: list[str] = []
    container.bus.subscribe("crm.account.", lambda e: accounts.append(e.topic))
    with container.uow() as uow:
        container.records.create(uow, ANA, "accounts", {"name": "Example Topics"})
        container.records.create(uow, ANA, "contacts", {"last_name": "Topics"})
        uow.commit()
    container.relay.drain()
    assert accounts == ["crm.account.created"]


def test_committing_wakes_the_relay(container: Container) -> None:
    woken: list[bool] = []
    container.on_commit.append(lambda: woken.append(True))
    with container.uow() as uow:
        container.records.create(uow, ANA, "accounts", {"name": "Example Wake"})
        assert woken == []
        uow.commit()
    assert woken == [True]
