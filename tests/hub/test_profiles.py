"""The live profile: traits, counters, journey stage, merges that keep history and their undo."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from rapport.bootstrap import Container
from rapport.errors import Conflict
from rapport.events.hub_models import HubEvent
from rapport.identity import merges as merge_service
from rapport.profiles.models import Profile
from rapport.trust.models import AuditEntry
from tests.hub.profile_support import (
    T0,
    event,
    identities,
    ingest,
    make_source,
    merges,
    profile,
    profile_id_of,
    reviews,
)


@pytest.fixture
def web(container: Container) -> int:
    return make_source(container)


def _state(container: Container, profile_id: int) -> dict[str, Any]:
    p = profile(container, profile_id)
    return {"traits": p.traits, "counters": p.counters, "channels": p.channels,
            "journey_stage": p.journey_stage, "first_seen": p.first_seen,
            "last_seen": p.last_seen, "contact_id": p.contact_id, "lead_id": p.lead_id,
            "merged_into_id": p.merged_into_id, "last_event_id": p.last_event_id}


def test_counters_follow_the_documented_conventions(container: Container, web: int) -> None:
    pos = make_source(container, "Till", "pos")
    ingest(container,
           event(web, "page", name="Home", anonymous_id="a-1", session_id="s-1"),
           event(web, "page", name="Docs", anonymous_id="a-1", session_id="s-1"),
           event(web, "track", name="Document Read", anonymous_id="a-1", session_id="s-2",
                 properties={"document": "whitepaper.pdf", "dwell_seconds": 95.5, "printed": True}),
           event(web, "screen", name="Cart", anonymous_id="a-1", session_id="s-3", channel="app"),
           event(pos, "track", name="Order Completed", anonymous_id="a-1", session_id="s-3",
                 channel="pos", properties={"total": "120.50"}),
           event(pos, "track", name="Order Completed", anonymous_id="a-1", session_id="s-3",
                 channel="pos", properties={"revenue": 9.5, "total": "999"}))
    pid = profile_id_of(container, "anonymous_id", "a-1")
    assert pid is not None
    p = profile(container, pid)
    assert p.counters["events"] == {"page": 2, "track": 3, "screen": 1}
    assert p.counters["names"]["Order Completed"] == 2
    assert (p.counters["sessions"], p.counters["page_views"]) == (3, 3)
    assert (p.counters["documents_read"], p.counters["documents_printed"]) == (1, 1)
    assert p.counters["reading_seconds"] == 95.5
    assert (p.counters["orders"], p.counters["revenue"]) == (2, "130.00")
    assert p.channels == ["web", "app", "pos"]
    assert p.journey_stage == "customer"
    with container.session_factory() as session:
        times = sorted(session.scalars(select(HubEvent.timestamp)))
    assert (p.first_seen, p.last_seen) == (times[0], times[-1])


@pytest.mark.parametrize(("sessions", "document", "stage"), [
    (1, False, "identified"), (3, False, "engaged"), (1, True, "engaged")])
def test_the_journey_stage_rule(container: Container, web: int, sessions: int, document: bool,
                                stage: str) -> None:
    batch = [event(web, "identify", user_id="u-1", session_id="s-0")]
    batch += [event(web, "page", user_id="u-1", session_id=f"s-{n}") for n in range(1, sessions)]
    if document:
        batch.append(event(web, "track", name="Document Read", user_id="u-1", session_id="s-0"))
    ingest(container, *batch)
    pid = profile_id_of(container, "user_id", "u-1")
    assert pid is not None
    assert profile(container, pid).journey_stage == stage


def test_traits_keep_source_and_time_and_the_latest_event_wins(container: Container, web: int) -> None:
    later, earlier = T0 + timedelta(hours=2), T0 + timedelta(hours=1)
    ingest(container, event(web, "identify", user_id="u-1", at=later, traits={"plan": "pro"}))
    ingest(container, event(web, "identify", user_id="u-1", at=earlier, traits={"plan": "free",
                                                                                "city": "Lyon"}))
    pid = profile_id_of(container, "user_id", "u-1")
    assert pid is not None
    traits = profile(container, pid).traits
    assert traits["plan"] == {"value": "pro", "source": web, "at": later.isoformat(timespec="microseconds")}
    assert traits["city"]["value"] == "Lyon"  # an older event still fills what is missing


def test_a_source_with_a_higher_trait_priority_wins_over_newer_events(container: Container, web: int) -> None:
    crm_import = make_source(container, "ERP import", "import", {"trait_priority": 10})
    ingest(container, event(crm_import, "identify", user_id="u-1", at=T0, traits={"company": "Acme SA"}))
    ingest(container, event(web, "identify", user_id="u-1", at=T0 + timedelta(days=1),
                            traits={"company": "acme"}))
    pid = profile_id_of(container, "user_id", "u-1")
    assert pid is not None
    assert profile(container, pid).traits["company"]["value"] == "Acme SA"


def _two_profiles_then_merge(container: Container, web: int) -> tuple[int, int, dict[str, Any], dict[str, Any]]:
    ingest(container, event(web, "page", name="Home", anonymous_id="a-1", session_id="s-1",
                            traits={}, context={"traits": {"plan": "free"}}))
    ingest(container, event(web, "identify", user_id="u-1", anonymous_id="a-2", session_id="s-2",
                            traits={"email": "ana@example.com", "plan": "pro"}),
           event(web, "track", name="Order Completed", user_id="u-1", anonymous_id="a-2",
                 session_id="s-2", properties={"revenue": "50"}, channel="pos"))
    older = profile_id_of(container, "anonymous_id", "a-1")
    newer = profile_id_of(container, "user_id", "u-1")
    assert older is not None
    assert newer is not None
    before_older, before_newer = _state(container, older), _state(container, newer)
    ingest(container, event(web, "track", name="Clicked", user_id="u-1", anonymous_id="a-1",
                            session_id="s-3"))
    return older, newer, before_older, before_newer


def test_a_merge_folds_the_newer_profile_into_the_older_and_keeps_its_history(
    container: Container, web: int
) -> None:
    older, newer, _, _ = _two_profiles_then_merge(container, web)
    survivor = profile(container, older)
    assert profile(container, newer).merged_into_id == older
    assert survivor.counters["orders"] == 1
    assert survivor.counters["revenue"] == "50"
    assert survivor.counters["sessions"] == 3
    assert survivor.traits["email"]["value"] == "ana@example.com"
    assert survivor.journey_stage == "customer"
    assert survivor.channels == ["web", "pos"]
    [merge] = merges(container)
    assert merge.moved_identity_ids
    with container.session_factory() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "merge")).one()
        assert entry.target == f"profiles:{older}"
        # events are not rewritten: the newer profile's events still name it
        assert set(session.scalars(select(HubEvent.profile_id))) == {older, newer}


def test_undo_restores_both_profiles_exactly(container: Container, web: int) -> None:
    older, newer, before_older, before_newer = _two_profiles_then_merge(container, web)
    [merge] = merges(container)
    clicked_counters = _state(container, older)["counters"]
    assert clicked_counters["events"]["track"] == 2

    with container.uow() as uow:
        merge_service.undo_merge(uow.session, container.settings.secret_key, merge.id, actor="user:1")
        uow.commit()

    restored_newer = _state(container, newer)
    assert restored_newer == {**before_newer, "merged_into_id": None}
    restored_older = _state(container, older)
    # the linking event itself happened on the survivor after the merge: it stays there
    assert restored_older["counters"]["events"] == {"page": 1, "track": 1}
    expected = {k: v for k, v in before_older.items() if k not in ("counters", "last_seen", "last_event_id")}
    assert {k: v for k, v in restored_older.items() if k in expected} == expected
    assert identities(container, newer) >= {("user_id", "u-1"), ("anonymous_id", "a-2"),
                                            ("email", "ana@example.com")}
    assert ("user_id", "u-1") not in identities(container, older)
    assert merges(container)[0].undone_at is not None
    with container.session_factory() as session:
        assert session.scalars(select(AuditEntry.action).where(AuditEntry.action == "unmerge")).one()
    with container.uow() as uow, pytest.raises(Conflict):
        merge_service.undo_merge(uow.session, container.settings.secret_key, merge.id, actor="user:1")


def test_undo_right_after_a_manual_merge_gives_back_both_profiles_unchanged(
    container: Container, web: int
) -> None:
    ingest(container, event(web, "identify", user_id="u-1", traits={"plan": "free", "city": "Lyon"}))
    ingest(container, event(web, "identify", user_id="u-2", traits={"plan": "pro"}),
           event(web, "track", name="Order Completed", user_id="u-2", properties={"revenue": "5"}))
    first, second = profile_id_of(container, "user_id", "u-1"), profile_id_of(container, "user_id", "u-2")
    assert first is not None
    assert second is not None
    before = {first: _state(container, first), second: _state(container, second)}
    with container.uow() as uow:
        result = merge_service.merge_profiles(uow.session, container.settings.secret_key,
                                              second, first, actor="user:1")
        uow.commit()
    assert (result.winner_id, result.loser_id) == (first, second)
    assert profile(container, first).traits["plan"]["value"] == "pro"
    with container.uow() as uow:
        merge_service.undo_merge(uow.session, container.settings.secret_key, result.merge_id,
                                 actor="user:1")
        uow.commit()
    assert _state(container, first) == before[first]
    assert _state(container, second) == before[second]


def test_a_review_can_be_merged_or_dismissed(container: Container, web: int) -> None:
    ingest(container, event(web, "identify", user_id="u-1", traits={"email": "ana@example.com"}))
    ingest(container, event(web, "identify", user_id="u-2", traits={"email": "ana@example.com"}))
    [review] = reviews(container)
    with container.uow() as uow:
        merge_service.resolve_review(uow.session, container.settings.secret_key, review.id,
                                     "merge", user_id=None)
        uow.commit()
    assert profile_id_of(container, "user_id", "u-1") == profile_id_of(container, "user_id", "u-2")
    [merged] = reviews(container)
    assert merged.status == "merged"
    assert merges(container)[0].identifier_kind == "email"  # what the review named
    with container.uow() as uow, pytest.raises(Conflict):
        merge_service.resolve_review(uow.session, container.settings.secret_key, review.id,
                                     "dismiss", user_id=None)


def test_a_merged_profile_is_never_the_target_of_new_events(container: Container, web: int) -> None:
    older, newer, _, _ = _two_profiles_then_merge(container, web)
    ingest(container, event(web, "page", user_id="u-1", anonymous_id="a-3"))
    assert profile_id_of(container, "anonymous_id", "a-3") == older
    with container.session_factory() as session:
        loser = session.get(Profile, newer)
        assert loser is not None
        assert loser.merged_into_id == older
