"""Helpers for the stitching and profile tests: store events as the collector would, then run
the pipeline over them as the bus would (one transaction per batch)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from rapport.bootstrap import Container
from rapport.events import sources
from rapport.events.hub_models import HubEvent
from rapport.events.partitioning import partition_key, partition_of
from rapport.events.pipeline import BatchOutcome, process_events
from rapport.identity.models import Identity, MergeReview, ProfileMerge
from rapport.profiles.models import Profile

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
_clock = itertools.count()


def make_source(container: Container, name: str = "Website", channel: str = "web",
                mapping: dict[str, Any] | None = None) -> int:
    with container.uow() as uow:
        issued = sources.create_source(uow.session, name, channel, mapping)
        uow.commit()
    return issued.source.id


def event(source_id: int, type: str = "track", *, name: str | None = None,  # noqa: A002
          user_id: str | None = None, anonymous_id: str | None = None,
          fingerprint: str | None = None, session_id: str = "s-1",
          at: datetime | None = None, properties: dict[str, Any] | None = None,
          traits: dict[str, Any] | None = None, context: dict[str, Any] | None = None,
          channel: str = "web", fingerprint_derived: bool = False,
          message_id: str | None = None) -> HubEvent:
    """A stored event as the collector leaves it (not yet processed)."""
    if user_id is None and anonymous_id is None:
        anonymous_id = "anon-" + uuid.uuid4().hex[:8]
    at = at or T0 + timedelta(seconds=next(_clock))
    return HubEvent(
        source_id=source_id, message_id=message_id or uuid.uuid4().hex, type=type,
        name=name if type != "identify" else None, user_id=user_id, anonymous_id=anonymous_id,
        timestamp=at, received_at=at, channel=channel,
        fingerprint=fingerprint or "fp-" + uuid.uuid4().hex[:12],
        fingerprint_derived=fingerprint_derived, session_id=session_id,
        properties=properties or {}, traits=traits or {}, context=context or {},
        partition=partition_of(partition_key(user_id, anonymous_id), 16),
    )


def ingest(container: Container, *events: HubEvent) -> BatchOutcome:
    """Store the events, then process them as one batch (two transactions, as in the hub)."""
    ids = store(container, *events)
    return process(container, ids)


def store(container: Container, *events: HubEvent) -> list[int]:
    with container.uow() as uow:
        uow.session.add_all(events)
        uow.session.flush()
        ids = [e.id for e in events]
        uow.commit()
    return ids


def process(container: Container, ids: Sequence[int]) -> BatchOutcome:
    with container.uow() as uow:
        batch = list(uow.session.scalars(select(HubEvent).where(HubEvent.id.in_(ids))
                                         .order_by(HubEvent.id)))
        outcome = process_events(uow.session, container.settings, batch)
        uow.commit()
    return outcome


def profile_id_of(container: Container, kind: str, value: str) -> int | None:
    with container.session_factory() as session:
        return session.scalar(select(Identity.profile_id).where(Identity.kind == kind,
                                                                Identity.value == value))


def profile(container: Container, profile_id: int) -> Profile:
    with container.session_factory() as session:
        found = session.get(Profile, profile_id)
        assert found is not None
        return found


def live_profiles(container: Container) -> list[Profile]:
    with container.session_factory() as session:
        return list(session.scalars(select(Profile).where(Profile.merged_into_id.is_(None))
                                    .order_by(Profile.id)))


def identities(container: Container, profile_id: int) -> set[tuple[str, str]]:
    with container.session_factory() as session:
        return {(k, v) for k, v in session.execute(
            select(Identity.kind, Identity.value).where(Identity.profile_id == profile_id))}


def merges(container: Container) -> list[ProfileMerge]:
    with container.session_factory() as session:
        return list(session.scalars(select(ProfileMerge).order_by(ProfileMerge.id)))


def reviews(container: Container) -> list[MergeReview]:
    with container.session_factory() as session:
        return list(session.scalars(select(MergeReview).order_by(MergeReview.id)))


def stored_event(container: Container, event_id: int) -> HubEvent:
    with container.session_factory() as session:
        found = session.get(HubEvent, event_id)
        assert found is not None
        return found
