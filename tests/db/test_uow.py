"""Unit of work and UTC timestamps, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError

from rapport.bootstrap import Container
from rapport.crm.models import Account, Activity


def test_nothing_is_persisted_without_an_explicit_commit(container: Container) -> None:
    with container.uow() as uow:
        uow.session.add(Account(name="Example Uncommitted", custom={}))
        uow.session.flush()
    with container.session_factory() as session:
        assert session.scalars(select(Account)).all() == []


def test_after_commit_callbacks_run_only_after_a_commit(container: Container) -> None:
    calls: list[str] = []
    with container.uow() as uow:
        uow.after_commit(lambda: calls.append("rolled back"))
        uow.rollback()
    with container.uow() as uow:
        uow.after_commit(lambda: calls.append("committed"))
        assert calls == []
        uow.commit()
    assert calls == ["committed"]


def test_timestamps_are_stored_in_utc_and_read_back_aware(container: Container) -> None:
    shanghai = timezone(timedelta(hours=8))
    with container.uow() as uow:
        uow.session.add(Activity(type="call", occurred_at=datetime(2026, 3, 1, 9, 30, tzinfo=shanghai),
                                 custom={}, participants=[]))
        uow.commit()
    with container.session_factory() as session:
        stored = session.scalars(select(Activity)).one().occurred_at
    assert stored == datetime(2026, 3, 1, 1, 30, tzinfo=UTC)
    assert stored.utcoffset() == timedelta(0)


def test_a_naive_datetime_never_reaches_the_database(container: Container) -> None:
    with container.uow() as uow:
        uow.session.add(Activity(type="call", occurred_at=datetime(2026, 3, 1, 9, 30),  # noqa: DTZ001
                                 custom={}, participants=[]))
        with pytest.raises(StatementError, match="naive datetime"):
            uow.session.flush()
