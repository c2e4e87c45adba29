"""The data-hub demo: demo contacts' journeys through the real collector and pipeline."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from rapport.bootstrap import Container
from rapport.demo import load_demo
from rapport.demo.hub import SOURCES, load_hub_demo, plan_events
from rapport.events.hub_models import DeadLetter, DuplicateCount, HubEvent, Source
from rapport.identity.models import MergeReview
from rapport.profiles.models import Profile

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def test_the_demo_stitches_every_demo_customer_to_their_contact(container: Container) -> None:
    load_demo(container.engine, scale=1, seed=7, workers=0)

    demo = load_hub_demo(container, seed=7, now=NOW)

    # every message is stored, a duplicate or a dead letter; every stored event is processed
    assert demo.accepted + demo.duplicates + demo.dead_letters == demo.sent
    assert demo.processed == demo.accepted
    with container.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(HubEvent)
                              .where(HubEvent.processed_at.is_(None))) == 0
        channels = set(session.scalars(select(Source.channel)))
        assert channels == {channel for _, channel in SOURCES}
        linked = session.scalar(select(func.count(func.distinct(Profile.contact_id)))
                                .where(Profile.merged_into_id.is_(None)))
        assert linked == demo.customers == 150
        assert session.scalar(select(func.count()).select_from(Profile).where(
            Profile.journey_stage == "customer")) > 0
        assert sorted(session.scalars(select(DeadLetter.code))) == ["bad_timestamp",
                                                                   "missing_identity"]
        assert session.scalar(select(func.sum(DuplicateCount.count))) == demo.duplicates > 0
        assert session.scalar(select(func.count()).select_from(MergeReview)) >= 1


def test_the_same_seed_plans_the_same_events(container: Container) -> None:
    load_demo(container.engine, scale=1, seed=7, workers=0)
    first = plan_events(container, 7, 1, NOW)
    second = plan_events(container, 7, 1, NOW)
    assert first.by_source == second.by_source
    assert first.sent > 2000
