"""Data health: every figure, computed on a small hand-built data set (rows inserted directly)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rapport.bootstrap import Container
from rapport.crm.models import Contact, CustomFieldDefinition
from rapport.errors import Forbidden, NotFound, ValidationFailed
from rapport.events import collector
from rapport.events.hub_models import DeadLetter, HubEvent, Source
from rapport.governance import health
from rapport.identity.models import Identity, MergeReview, ProfileMerge
from rapport.profiles.models import Profile
from rapport.trust.actor import Actor
from rapport.trust.permissions import AccessPolicy

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
ADMIN = Actor(user_id=None, is_admin=True)
ANALYST = Actor(user_id=7, policy=AccessPolicy(capabilities=frozenset({"health.read"})))
NOBODY = Actor(user_id=8, policy=AccessPolicy())


def _ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)


def _source(session: Any, name: str, channel: str, **extra: Any) -> Source:
    source = Source(name=name, channel=channel, write_key_hash=name.ljust(64, "0"),
                    write_key_prefix=name[:12], mapping={}, **extra)
    session.add(source)
    session.flush()
    return source


def _event(session: Any, source: Source, n: int, *, received: datetime, late_by: timedelta =
           timedelta(0), skew_ms: int | None = None, latency_ms: int | None = None,
           profile: Profile | None = None, user_id: str | None = None,
           fingerprint: str = "fp") -> HubEvent:
    event = HubEvent(
        source_id=source.id, message_id=f"m-{source.name}-{n}", type="track", name="Viewed",
        user_id=user_id, anonymous_id=f"a{n}", timestamp=received - late_by, received_at=received,
        skew_ms=skew_ms, channel=source.channel, fingerprint=fingerprint, session_id="s",
        properties={}, traits={}, context={}, partition=0,
        profile_id=profile.id if profile else None,
        processed_at=received + timedelta(milliseconds=latency_ms) if latency_ms is not None else None,
    )
    session.add(event)
    return event


def _dead(session: Any, source: Source | None, code: str, received: datetime) -> None:
    session.add(DeadLetter(source_id=source.id if source else None, received_at=received, code=code,
                           reason=f"{code} in the payload", payload="{}", status="open"))


def _identities(session: Any, profile: Profile, *pairs: tuple[str, str]) -> list[Identity]:
    rows = [Identity(kind=k, value=v, profile_id=profile.id, first_seen=NOW, last_seen=NOW)
            for k, v in pairs]
    session.add_all(rows)
    session.flush()
    return rows


@pytest.fixture
def hub(container: Container) -> dict[str, int]:
    """Three sources (web, pos, an idle iot), events, dead letters, profiles and merges."""
    with container.uow() as uow:
        s = uow.session
        web = _source(s, "web", "web")
        pos = _source(s, "pos", "pos", last_event_at=_ago(minutes=10))
        iot = _source(s, "iot", "iot")
        p1, p2, p3, p4 = (Profile(traits={}, counters={}, channels=[]) for _ in range(4))
        s.add_all([p1, p2, p3, p4])
        s.flush()
        p3.merged_into_id = p1.id
        ana = _identities(s, p1, ("user_id", "u1"), ("email", "ana@example.com"),
                          ("anonymous_id", "a1"))
        _identities(s, p2, ("anonymous_id", "a2"), ("fingerprint", "fp-a2"))  # not stitched
        _identities(s, p4, *(("fingerprint", f"fp-{i}") for i in range(6)))
        # web: on time & stitched; late by 2 h; unprocessed; one outside the window
        _event(s, web, 1, received=_ago(hours=1), skew_ms=50, latency_ms=100, profile=p1)
        _event(s, web, 2, received=_ago(hours=2), late_by=timedelta(hours=2), skew_ms=2000,
               latency_ms=300, profile=p2)
        _event(s, web, 3, received=_ago(hours=3), skew_ms=-500)
        _event(s, web, 4, received=_ago(hours=30), skew_ms=99_999, latency_ms=5, profile=p1)
        # pos: 30 min late, no skew known, on a profile merged into p1
        _event(s, pos, 5, received=_ago(hours=5), late_by=timedelta(minutes=30), latency_ms=1000,
               profile=p3)
        _dead(s, web, "missing_identity", _ago(hours=1))
        _dead(s, web, "missing_identity", _ago(hours=2))
        _dead(s, web, "bad_timestamp", _ago(hours=3))
        _dead(s, None, "bad_json", _ago(hours=4))
        _dead(s, web, "bad_json", _ago(days=3))  # outside the window
        s.add(ProfileMerge(winner_id=p1.id, loser_id=p3.id, at=_ago(hours=5),
                           identifier_kind="email", identifier_value="ana@example.com",
                           moved_identity_ids=[ana[2].id], loser_snapshot={}))
        s.add(ProfileMerge(winner_id=p1.id, loser_id=p2.id, at=_ago(hours=40),
                           identifier_kind="user_id", identifier_value="u1",
                           moved_identity_ids=[ana[0].id, ana[2].id], loser_snapshot={},
                           undone_at=_ago(hours=39)))
        for status, created in (("open", _ago(hours=2)), ("merged", _ago(hours=3)),
                                ("open", _ago(days=3))):
            s.add(MergeReview(profile_a_id=p1.id, profile_b_id=p2.id, identifier_kind="user_id",
                              identifier_value="u2", reason="two user ids", status=status,
                              created_at=created))
        s.add(CustomFieldDefinition(object_type="contacts", name="badge", label="Badge",
                                    field_type="text", category="contact.detail", options=[]))
        s.add_all([
            Contact(last_name="Lin", email="lin@example.com", phone="", custom={"badge": "gold"}),
            Contact(last_name="Ode", email=None, phone="  ", custom={"badge": ""}),
        ])
        uow.commit()
        return {"web": web.id, "pos": pos.id, "iot": iot.id}


def _report(container: Container, actor: Actor = ADMIN, **window: Any) -> health.HealthReport:
    with container.session_factory() as session:
        return health.health_report(session, actor, container.settings,
                                    health.make_window(now=NOW, **window))


def _by_name(report: health.HealthReport) -> dict[str, health.Figures]:
    return {s.name: s.figures for s in report.sources}


def test_volume_dead_letters_and_validity_count_only_the_window(
    container: Container, hub: dict[str, int]
) -> None:
    report = _report(container)
    sources = _by_name(report)
    assert (sources["web"].events, sources["web"].dead_letters) == (3, 3)
    assert sources["web"].validity_rate == 0.5
    assert [(r.code, r.count) for r in sources["web"].top_reasons] == [
        ("missing_identity", 2), ("bad_timestamp", 1)]
    assert (sources["pos"].events, sources["pos"].validity_rate) == (1, 1.0)
    assert sources["iot"].events == 0
    assert sources["iot"].validity_rate is None
    # a dead letter without a source is shown on its own line and counts overall
    assert sources["(no source)"].dead_letters == 1
    assert (report.overall.events, report.overall.dead_letters) == (4, 4)
    assert report.overall.validity_rate == 0.5
    assert report.overall.top_reasons[0] == health.Reason(code="missing_identity", count=2)


def test_suppressed_events_of_erased_people_are_not_counted_as_invalid(
    container: Container, hub: dict[str, int]
) -> None:
    with container.uow() as uow:
        web = uow.session.get(Source, hub["web"])
        _dead(uow.session, web, "suppressed", _ago(hours=1))
        uow.commit()
    web_figures = _by_name(_report(container))["web"]
    assert (web_figures.dead_letters, web_figures.suppressed) == (3, 1)
    assert web_figures.validity_rate == 0.5


def test_duplicates_the_collector_turned_away_are_counted_per_source(
    container: Container, hub: dict[str, int]
) -> None:
    report = _report(container)
    assert (report.overall.duplicates, report.overall.duplicate_rate) == (0, 0.0)
    message = {"type": "track", "event": "Viewed", "anonymousId": "a-dup", "messageId": "dup-1",
               "timestamp": _ago(hours=1).isoformat()}
    with container.uow() as uow:
        web = uow.session.get(Source, hub["web"])
        assert web is not None
        first = collector.ingest(uow.session, container.settings, web, [message],
                                 received_at=_ago(hours=1))
        again = collector.ingest(uow.session, container.settings, web, [message, message],
                                 received_at=_ago(hours=3))
        uow.commit()
    assert (first.accepted, again.duplicates) == (1, 2)
    report = _report(container)
    web_figures = _by_name(report)["web"]
    assert (web_figures.events, web_figures.duplicates) == (4, 2)
    assert web_figures.duplicate_rate == round(2 / 6, 4)
    assert web_figures.dead_letters == 3  # a duplicate is not an invalid event
    assert report.overall.duplicates == 2
    assert _by_name(report)["pos"].duplicates == 0
    recent = _report(container, hours=2)  # the count of 09:00-10:00 is outside 10:00-12:00
    assert recent.overall.duplicates == 0


def test_late_events_follow_the_configurable_threshold(
    container: Container, hub: dict[str, int]
) -> None:
    hourly = _report(container)
    assert _by_name(hourly)["web"].late_events == 1  # 2 h late
    assert _by_name(hourly)["pos"].late_events == 0  # 30 min late
    assert hourly.overall.late_rate == 0.25
    strict = _report(container, late_after_minutes=10)
    assert strict.overall.late_events == 2
    assert strict.overall.late_rate == 0.5


def test_clock_skew_percentiles_and_histogram_use_the_absolute_skew(
    container: Container, hub: dict[str, int]
) -> None:
    web = _by_name(_report(container))["web"]
    assert web.skew.n == 3  # |50|, |2000|, |-500|
    assert web.skew.p50_ms == 500
    assert web.skew.p90_ms == pytest.approx(1700)
    assert web.skew.p99_ms == pytest.approx(1970)
    assert {b.label: b.count for b in web.skew_histogram} == {
        "< 100 ms": 1, "< 1 s": 1, "< 10 s": 1, "< 1 min": 0, "< 1 h": 0, "≥ 1 h": 0}
    assert _by_name(_report(container))["pos"].skew.n == 0  # skew unknown: not counted


def test_profile_update_latency_is_processed_minus_received(
    container: Container, hub: dict[str, int]
) -> None:
    report = _report(container)
    web = _by_name(report)["web"]
    assert (web.processed, web.pending) == (2, 1)
    assert web.latency.p50_ms == pytest.approx(200, abs=1)
    assert web.latency.p99_ms == pytest.approx(298, abs=1)
    assert report.overall.latency.n == 3
    assert report.overall.latency.p50_ms == pytest.approx(300, abs=1)
    assert report.overall.latency.p99_ms == pytest.approx(986, abs=1)


def test_stitch_rate_follows_merged_profiles_to_their_survivor(
    container: Container, hub: dict[str, int]
) -> None:
    report = _report(container)
    web, pos = _by_name(report)["web"], _by_name(report)["pos"]
    assert (web.stitched_events, web.stitch_rate, web.known_rate) == (1, 0.5, 0.5)
    # the pos event's profile was merged into the one holding user id and email
    assert (pos.stitched_events, pos.stitch_rate, pos.known_rate) == (1, 1.0, 1.0)
    assert report.overall.stitch_rate == pytest.approx(0.6667)


def test_freshness_is_the_time_since_each_sources_last_event(
    container: Container, hub: dict[str, int]
) -> None:
    sources = _by_name(_report(container))
    assert sources["web"].freshness_seconds == 3600  # from the event log
    assert sources["pos"].freshness_seconds == 600  # from the source row's stamp
    assert sources["iot"].freshness_seconds is None
    assert sources["iot"].last_event_at is None


def test_identity_anomalies_count_merges_reviews_and_crowded_profiles(
    container: Container, hub: dict[str, int]
) -> None:
    identity = _report(container).identity
    assert identity is not None
    assert (identity.identifiers, identity.profiles) == (11, 3)
    assert identity.identifiers_per_profile == pytest.approx(3.67)
    assert (identity.merges, identity.merges_undone) == (1, 0)
    assert [(k.kind, k.count) for k in identity.merges_by_kind] == [("email", 1)]
    assert identity.relinked_identifiers == 2  # ever, undone merges included
    assert (identity.crowded_profiles, identity.top_crowded[0].identifiers) == (1, 6)
    assert (identity.open_reviews, identity.reviews_opened) == (2, 2)
    week = _report(container, hours=24 * 7).identity
    assert week is not None
    assert (week.merges, week.merges_undone) == (2, 1)


def test_identifier_values_are_masked_unless_the_actor_sees_emails_in_clear(
    container: Container, hub: dict[str, int]
) -> None:
    admin = _report(container).identity
    analyst = _report(container, ANALYST).identity
    assert admin is not None
    assert analyst is not None
    assert admin.top_merge_identifiers[0].value == "ana@example.com"
    assert analyst.top_merge_identifiers[0].value == "a***@example.com"
    assert "ana@example.com" not in analyst.model_dump_json()


def test_a_fingerprint_seen_with_more_users_than_the_guard_allows_is_counted(
    container: Container
) -> None:
    with container.uow() as uow:
        web = _source(uow.session, "web", "web")
        for n in range(container.settings.identity_fingerprint_max_profiles + 1):
            _event(uow.session, web, n, received=_ago(hours=1), user_id=f"u{n}", fingerprint="kiosk")
        _event(uow.session, web, 99, received=_ago(hours=1), user_id="u0", fingerprint="phone")
        uow.commit()
    identity = _report(container).identity
    assert identity is not None
    assert identity.shared_fingerprints == 1


def test_completeness_counts_filled_fields_including_custom_ones(
    container: Container, hub: dict[str, int]
) -> None:
    by_object = {c.object: c for c in _report(container).completeness}
    contacts = {f.field: f for f in by_object["contacts"].fields}
    assert by_object["contacts"].rows == 2
    assert (contacts["last_name"].filled, contacts["last_name"].share) == (2, 1.0)
    assert (contacts["email"].filled, contacts["email"].share) == (1, 0.5)
    assert contacts["phone"].filled == 0  # blank text is not filled
    assert contacts["custom.badge"].custom
    assert (contacts["custom.badge"].filled, contacts["custom.badge"].share) == (1, 0.5)
    assert "id" not in contacts
    assert by_object["accounts"].rows == 0
    assert all(f.share is None for f in by_object["accounts"].fields)


def test_one_source_alone(container: Container, hub: dict[str, int]) -> None:
    with container.session_factory() as session:
        web = health.source_health(session, ADMIN, health.make_window(now=NOW), hub["web"])
        assert (web.name, web.figures.events, web.figures.dead_letters) == ("web", 3, 3)
        with pytest.raises(NotFound):
            health.source_health(session, ADMIN, health.make_window(now=NOW), 999_999)


def test_no_events_gives_empty_figures_not_errors(container: Container) -> None:
    report = _report(container)
    assert report.sources == []
    assert report.overall.events == 0
    assert report.overall.validity_rate is None
    assert report.overall.latency.p50_ms is None
    assert report.overall.skew_histogram == []


def test_reading_health_needs_the_capability(container: Container) -> None:
    with pytest.raises(Forbidden):
        _report(container, NOBODY)
    assert _report(container, ANALYST).overall.events == 0


def test_a_window_out_of_range_is_refused_with_what_to_send(container: Container) -> None:
    with pytest.raises(ValidationFailed, match="hours"):
        health.make_window(0)
    with pytest.raises(ValidationFailed, match="late_after_minutes"):
        health.make_window(24, 0)


def test_percentile_interpolation_matches_postgres_percentile_cont() -> None:
    assert health.interpolate([], 0.5) is None
    assert health.interpolate([10], 0.99) == 10
    assert health.interpolate([1, 2, 3, 4], 0.5) == 2.5
    assert health.interpolate([0, 100], 0.99) == pytest.approx(99)


# -- API -----------------------------------------------------------------------------------


def test_api_answers_overall_and_per_source(client: TestClient, hub: dict[str, int]) -> None:
    answer = client.get("/api/v1/health", params={"hours": 24 * 365 * 0 + 48})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert {"window", "overall", "sources", "identity", "completeness"} <= set(body)
    assert body["window"]["hours"] == 48
    one = client.get(f"/api/v1/health/sources/{hub['web']}")
    assert one.status_code == 200, one.text
    assert one.json()["name"] == "web"
    assert client.get("/api/v1/health/sources/999999").status_code == 404
    bad = client.get("/api/v1/health", params={"hours": 0})
    assert bad.status_code == 422
    assert "hours" in bad.text


def test_api_refuses_a_user_without_health_read(rep_client: TestClient) -> None:
    answer = rep_client.get("/api/v1/health")
    assert answer.status_code == 403
    assert "data-health" in answer.json()["detail"]
