"""The anomaly detector: baselines from a user's own history, a lock on a burst of tier-A
reads or exports, ceilings for new users, and the admin review that unlocks.

Ceilings are scaled down (tier-A 100/h, exports 100/h, reads 500/h; floors a tenth of that)
so that a handful of records shows the rule at work.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from rapport.bootstrap import Container
from rapport.config import Settings
from rapport.crm.models import Region
from rapport.trust import anomaly, audit
from rapport.trust.actor import SYSTEM, Actor
from rapport.trust.auth import AccountHeld, create_api_token, create_user, start_session
from rapport.trust.models import AccessStat, AuditEntry, SecurityAlert, User, UserSession
from rapport.trust.roles import set_user_roles
from tests.fixtures.api import PASSWORD, REP_EMAIL

# A Tuesday, 11:20 in Shanghai; the seeded history is 01:00-08:59 UTC (09:00-17:00 local).
NOW = datetime(2026, 3, 10, 3, 20, tzinfo=UTC)
WORK_HOURS = range(1, 9)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, environment="test", default_phone_region="CN",
                    anomaly_high_value_ceiling=100, anomaly_export_ceiling=100,
                    anomaly_read_ceiling=500)


@pytest.fixture(autouse=True)
def frozen_clock() -> Iterator[None]:
    anomaly.set_clock(lambda: NOW)
    yield
    anomaly.set_clock(None)


def _user(container: Container, email: str, roles: list[str] | None = None) -> int:
    with container.uow() as uow:
        user = create_user(uow.session, email, PASSWORD, name=email.split("@")[0])
        if roles:
            set_user_roles(uow.session, container.settings.secret_key, None, user.user_id, roles)
        uow.commit()
    return user.user_id


def _user_id(container: Container, email: str) -> int:
    with container.session_factory() as session:
        found = session.scalar(select(User.id).where(User.email == email))
    assert found is not None
    return found


def seed_history(container: Container, user_id: int, *, days: int = 10, reads: int = 40,
                 high_value: int = 4, exports: int = 0, network: str = "trusted") -> None:
    """``days`` working days of eight hours before NOW: reads vary from hour to hour,
    tier-A reads are steady but for one busier hour (so the peak is ``high_value + 2``)."""
    with container.uow() as uow:
        for day in range(1, days + 1):
            for h in WORK_HOURS:
                noise = (day * 7 + h * 3) % 5  # 0..4
                spike = 2 if (day, h) == (3, 2) else 0
                uow.session.add(AccessStat(
                    user_id=user_id, hour=(NOW - timedelta(days=day)).replace(
                        hour=h, minute=0, second=0, microsecond=0),
                    reads=reads + noise * 5, exports=exports, high_value=high_value + spike,
                    objects={"accounts": reads + noise * 5}, networks={network: reads}))
        uow.commit()
    anomaly.forget(container.engine)


def actor_of(user_id: int, network: str = "trusted") -> Actor:
    return Actor(user_id=user_id, source="api", network=network)


def tier_a(count: int, start: int = 1) -> list[dict[str, Any]]:
    return [{"id": i, "name": f"Account {i}", "tier": "A"} for i in range(start, start + count)]


def tier_c(count: int, start: int = 1000) -> list[dict[str, Any]]:
    return [{"id": i, "name": f"Account {i}", "tier": "C"} for i in range(start, start + count)]


def stat_of(container: Container, user_id: int) -> AccessStat | None:
    with container.session_factory() as session:
        return session.scalar(select(AccessStat).where(
            AccessStat.user_id == user_id, AccessStat.hour == anomaly.hour_of(NOW)))


def user_row(container: Container, user_id: int) -> User:
    with container.session_factory() as session:
        user = session.get(User, user_id)
        assert user is not None
        return user


def alerts_of(container: Container, user_id: int) -> list[SecurityAlert]:
    with container.session_factory() as session:
        return list(session.scalars(select(SecurityAlert).where(SecurityAlert.user_id == user_id)))


def audit_actions(container: Container) -> list[str]:
    with container.session_factory() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


# ---- the baseline --------------------------------------------------------------------------


def test_the_baseline_is_computed_from_the_users_own_past_hours(container: Container) -> None:
    uid = _user(container, "hist@example.com")
    other = _user(container, "other@example.com")
    seed_history(container, uid)
    seed_history(container, other, high_value=50)  # someone else's habits do not count

    with container.session_factory() as session:
        baseline = anomaly.compute_baseline(session, container.settings, uid,
                                            anomaly.hour_of(NOW))

    assert baseline.established
    assert baseline.active_hours == 75  # yesterday's five hours after 03:00 are recent, not history
    hv = baseline.metrics["high_value"]
    assert (hv.median, hv.mad, hv.peak) == (4.0, 0.0, 6)
    assert hv.hour_limit == 12  # 2 x the peak hour (above the floor of 10)
    assert hv.window_peak == 8 * 4 + 2  # the working day with the busier hour
    assert hv.window_limit == 68  # 2 x the busiest 24 hours
    assert baseline.metrics["reads"].median == 50.0
    assert baseline.metrics["exports"].hour_limit == 10  # never exported: the floor
    assert baseline.hours_of_day == frozenset(WORK_HOURS)
    assert baseline.networks == {"trusted"}
    assert baseline.objects == {"accounts"}
    # the rest of the 24-hour window: yesterday's five hours after 03:00 UTC
    assert baseline.prior_window.high_value == 5 * 4


def test_a_week_of_history_is_needed_before_the_baseline_counts(container: Container) -> None:
    uid = _user(container, "newish@example.com")
    seed_history(container, uid, days=5)

    with container.session_factory() as session:
        baseline = anomaly.compute_baseline(session, container.settings, uid,
                                            anomaly.hour_of(NOW))

    assert baseline.active_hours == 35
    assert not baseline.established


# ---- observing -----------------------------------------------------------------------------


def test_a_normal_hour_is_counted_and_does_not_lock(container: Container) -> None:
    uid = _user(container, "normal@example.com")
    seed_history(container, uid)
    settings = container.settings

    with container.session_factory() as session:
        anomaly.observe(session, settings, actor_of(uid), "accounts", tier_a(3) + tier_c(25),
                        "read")
        anomaly.observe(session, settings, actor_of(uid), "accounts", tier_a(2, 10), "read")
        anomaly.observe(session, settings, actor_of(uid), "accounts", tier_c(1), "read")

    stat = stat_of(container, uid)
    assert stat is not None
    assert (stat.reads, stat.exports, stat.high_value) == (31, 0, 5)
    assert stat.objects == {"accounts": 31}
    assert stat.networks == {"trusted": 31}
    assert user_row(container, uid).lock_reason is None
    assert alerts_of(container, uid) == []


def test_records_of_tier_a_accounts_count_as_high_value(container: Container) -> None:
    uid = _user(container, "contacts@example.com")
    with container.uow() as uow:
        big = container.records.create(uow, SYSTEM, "accounts", {"name": "Big", "tier": "A"}).id
        small = container.records.create(uow, SYSTEM, "accounts", {"name": "Small", "tier": "C"}).id
        uow.commit()
    contacts = [{"id": 1, "account_id": big}, {"id": 2, "account_id": big},
                {"id": 3, "account_id": small}, {"id": 4, "account_id": None}]

    with container.session_factory() as session:
        anomaly.observe(session, container.settings, actor_of(uid), "contacts", contacts, "read")
        assert anomaly.count_high_value(session, "opportunities", [{"account_id": big}]) == 1
        assert anomaly.count_high_value(session, "accounts", [{"id": big}, {"id": small}]) == 1
        assert anomaly.count_high_value(session, "products", [{"id": 1}]) == 0

    stat = stat_of(container, uid)
    assert stat is not None
    assert (stat.reads, stat.high_value) == (4, 2)


def test_a_burst_of_tier_a_reads_locks_at_once(container: Container) -> None:
    uid = _user(container, "burst@example.com")
    seed_history(container, uid)
    with container.uow() as uow:
        start_session(uow.session, uid, 12, "test browser")
        uow.commit()
    settings = container.settings
    served = 0

    with container.session_factory() as session:
        for page in range(10):
            try:
                anomaly.observe(session, settings, actor_of(uid), "accounts",
                                tier_a(5, 1 + page * 5), "read")
            except AccountHeld:
                break
            served += 5
        else:
            pytest.fail("ten pages of tier-A accounts did not lock the account")

    assert served == 10  # the third page (15 tier-A > limit 12) was refused
    user = user_row(container, uid)
    assert user.lock_reason == "anomaly"
    assert user.locked_until is not None
    assert user.locked_until.year == 9999
    with container.session_factory() as session:
        sessions = list(session.scalars(select(UserSession).where(UserSession.user_id == uid)))
    assert sessions
    assert all(s.revoked_at is not None for s in sessions)
    [alert] = alerts_of(container, uid)
    assert (alert.kind, alert.status) == ("exfiltration", "open")
    details = alert.details
    assert details["object"] == "accounts"
    assert details["counts"]["hour"]["high_value"] == 15
    assert details["baseline"]["high_value"]["hour_limit"] == 12
    assert details["baseline"]["high_value"]["peak"] == 6
    assert "high_value: 15 this hour, limit 12" in details["reasons"][0]
    assert "Account" not in str(details)  # no customer data in the alert
    assert audit_actions(container)[-1] == "anomaly_lock"
    with container.session_factory() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "anomaly_lock")).one()
    assert entry.target == f"users:{uid}"
    assert entry.details["alert"] == alert.id
    # the refused page is counted with the lock
    stat = stat_of(container, uid)
    assert stat is not None
    assert stat.high_value == 15


def test_a_slow_exfiltration_is_caught_over_24_hours_and_does_not_raise_its_own_bar(
    container: Container,
) -> None:
    uid = _user(container, "slow@example.com")
    seed_history(container, uid)  # 4 tier-A an hour (peak 6); hour limit 12, 24-hour limit 68
    hours_served = 0

    with container.session_factory() as session:
        for k in range(8):  # 10 tier-A an hour: never above the hour limit on its own
            try:
                anomaly.observe(session, container.settings, actor_of(uid), "accounts",
                                tier_a(10, 100 * k), "read", now=NOW + timedelta(hours=k))
            except AccountHeld:
                break
            hours_served += 1
        else:
            pytest.fail("eight hours at 2.5x the usual tier-A reads did not lock the account")

    assert hours_served == 6  # the seventh hour brings the last 24 hours to 70 > 68
    [alert] = alerts_of(container, uid)
    assert alert.details["counts"]["window_24h"]["high_value"] == 70
    assert alert.details["baseline"]["high_value"]["window_limit"] == 68  # not raised by the theft
    assert "in 24 hours" in alert.details["reasons"][0]


def test_exports_far_above_the_users_peak_lock(container: Container) -> None:
    uid = _user(container, "exporter@example.com")
    seed_history(container, uid, exports=3)  # peak 3 an hour: limit max(10, 6) = 10

    with container.session_factory() as session:
        anomaly.observe(session, container.settings, actor_of(uid), "accounts", tier_c(9),
                        "export")
        with pytest.raises(AccountHeld):
            anomaly.observe(session, container.settings, actor_of(uid), "accounts", tier_c(9),
                            "export")

    [alert] = alerts_of(container, uid)
    assert alert.details["kind"] == "export"
    assert alert.details["counts"]["hour"]["exports"] == 18


def test_a_new_user_is_judged_by_the_ceilings_only(container: Container) -> None:
    uid = _user(container, "fresh@example.com")  # no history at all
    settings = container.settings

    with container.session_factory() as session:
        # 90 tier-A records: 9x the floor, but below the ceiling of 100
        anomaly.observe(session, settings, actor_of(uid), "accounts", tier_a(90), "read")
        assert user_row(container, uid).lock_reason is None
        with pytest.raises(AccountHeld):
            anomaly.observe(session, settings, actor_of(uid), "accounts", tier_a(20, 500), "read")

    [alert] = alerts_of(container, uid)
    assert alert.details["baseline"]["established"] is False
    assert alert.details["reasons"] == ["high_value: 110 this hour, above the ceiling of 100"]


def test_the_read_ceiling_applies_to_everyone(container: Container) -> None:
    uid = _user(container, "reader@example.com")
    seed_history(container, uid)

    with container.session_factory() as session, pytest.raises(AccountHeld):
        anomaly.observe(session, container.settings, actor_of(uid), "products",
                        [{"id": i} for i in range(501)], "read")

    assert user_row(container, uid).lock_reason == "anomaly"


def test_off_hours_and_a_new_network_raise_the_score_but_do_not_lock_alone(
    container: Container,
) -> None:
    uid = _user(container, "latenight@example.com")
    seed_history(container, uid)
    night = NOW.replace(hour=19)  # 03:20 in Shanghai, never active before
    settings = container.settings

    with container.session_factory() as session:
        anomaly.observe(session, settings, actor_of(uid, "untrusted"), "opportunities",
                        [{"id": i} for i in range(40)], "read", now=night)
        baseline = anomaly.compute_baseline(session, settings, uid, anomaly.hour_of(night))
        verdict = anomaly.judge(settings, baseline, anomaly.Counts(40, 0, 6), night,
                                network="untrusted", object_name="opportunities")

    assert user_row(container, uid).lock_reason is None
    assert verdict.context == {"off_hours": True, "new_network": True, "new_object": True}
    assert not verdict.lock
    assert verdict.score == pytest.approx(6 / 12 * 1.5)  # half the limit, raised by a half
    # ... but the same context brings the bar down: 9 tier-A at night from a new network locks
    strong = anomaly.judge(settings, baseline, anomaly.Counts(40, 0, 9), night,
                           network="untrusted", object_name="opportunities")
    assert strong.lock
    assert "off hours, new network, new object" in strong.reasons[0]


def test_the_detector_can_be_switched_off(container: Container) -> None:
    uid = _user(container, "off@example.com")
    container.settings.anomaly_detection = False

    with container.session_factory() as session:
        anomaly.observe(session, container.settings, actor_of(uid), "accounts", tier_a(500),
                        "read")

    assert stat_of(container, uid) is None
    assert user_row(container, uid).lock_reason is None


def test_the_lock_survives_when_the_caller_holds_an_open_write(container: Container) -> None:
    """The caller's transaction is rolled back; the lock is committed apart from it, and
    neither SQLite's single writer nor PostgreSQL's audit-chain lock makes it wait."""
    uid = _user(container, "writer@example.com")
    seed_history(container, uid)
    started = time.monotonic()

    with container.uow() as uow:
        uow.session.add(Region(name="Caller's write", code="cw", custom={}))
        uow.session.flush()
        audit.append(uow.session, container.settings.secret_key, "export",
                     actor=audit.actor_ref(uid), details={"rows": 50})
        with pytest.raises(AccountHeld):
            anomaly.observe(uow.session, container.settings, actor_of(uid), "accounts",
                            tier_a(50), "export")
        uow.commit()  # what a careless caller might do: there is nothing left to commit

    assert time.monotonic() - started < 5  # no lock wait (SQLite's busy timeout is 10 s)
    assert user_row(container, uid).lock_reason == "anomaly"
    with container.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Region)) == 0
    actions = audit_actions(container)
    assert actions[-1] == "anomaly_lock"
    assert "export" not in actions  # the caller's own entry went with its rollback
    stat = stat_of(container, uid)
    assert stat is not None
    assert stat.exports == 50


def test_counts_join_the_callers_write_transaction_on_sqlite(container: Container) -> None:
    uid = _user(container, "joined@example.com")
    seed_history(container, uid)

    with container.uow() as uow:
        uow.session.add(Region(name="Kept", code="kp", custom={}))
        uow.session.flush()
        anomaly.observe(uow.session, container.settings, actor_of(uid), "accounts", tier_a(3),
                        "read")
        uow.commit()

    stat = stat_of(container, uid)
    assert stat is not None
    assert stat.high_value == 3
    with container.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Region)) == 1


def test_two_requests_tripping_together_make_one_alert(container: Container) -> None:
    uid = _user(container, "twice@example.com")
    seed_history(container, uid)

    for _ in range(2):
        with container.session_factory() as session, pytest.raises(AccountHeld):
            anomaly.observe(session, container.settings, actor_of(uid), "accounts", tier_a(30),
                            "read")

    assert len(alerts_of(container, uid)) == 1
    assert audit_actions(container).count("anomaly_lock") == 1


# ---- review, unlock, and the API -----------------------------------------------------------


def _reviewer(container: Container, app_client: TestClient) -> TestClient:
    with container.uow() as uow:
        create_user(uow.session, "reviewer@example.com", PASSWORD, name="Reviewer",
                    is_admin=True)
        token = create_api_token(uow.session, "reviewer@example.com")
        uow.commit()
    other = TestClient(app_client.app, raise_server_exceptions=False)
    other.headers["Authorization"] = f"Bearer {token}"
    return other


def _tier_a_accounts(container: Container, count: int) -> None:
    with container.uow() as uow:
        container.records.bulk_write(uow, SYSTEM, "accounts", [
            {"name": f"Key account {i}", "tier": "A"} for i in range(count)])
        uow.commit()


def test_a_burst_through_the_api_is_refused_and_an_admin_unlocks_the_user(
    container: Container, client: TestClient, rep_client: TestClient,
) -> None:
    rep_id = _user_id(container, REP_EMAIL)
    with container.uow() as uow:  # the rep's role reads every account
        set_user_roles(uow.session, container.settings.secret_key, None, rep_id,
                       ["service_agent"])
        uow.commit()
    seed_history(container, rep_id)
    _tier_a_accounts(container, 40)
    reviewer = _reviewer(container, client)

    first = rep_client.get("/api/v1/accounts", params={"filter": "tier:eq:A", "limit": 8})
    assert first.status_code == 200, first.text
    assert len(first.json()["items"]) == 8
    cursor = first.json()["next_cursor"]

    # 16 tier-A accounts this hour: above the rep's limit of 12
    tripped = rep_client.get("/api/v1/accounts",
                             params={"filter": "tier:eq:A", "limit": 8, "cursor": cursor})
    assert tripped.status_code == 403, tripped.text
    assert tripped.json()["code"] == "account_held"
    assert "items" not in tripped.json()
    assert rep_client.get("/api/v1/me").status_code == 403  # the token is refused from now on

    listed = reviewer.get("/api/v1/security/alerts", params={"status": "open"})
    assert listed.status_code == 200, listed.text
    assert listed.json()["open"] == 1
    [alert] = listed.json()["items"]
    assert alert["user"] == {"id": rep_id, "email": REP_EMAIL, "name": "Ren Rep",
                             "locked": True, "lock_reason": "anomaly"}
    assert alert["details"]["counts"]["hour"]["high_value"] == 16
    assert reviewer.get(f"/api/v1/security/alerts/{alert['id']}").json()["id"] == alert["id"]
    baseline = reviewer.get(f"/api/v1/security/baselines/{rep_id}")
    assert baseline.status_code == 200, baseline.text
    assert baseline.json()["metrics"]["high_value"]["hour_limit"] == 12
    assert baseline.json()["current"]["hour"]["high_value"] == 16

    resolved = reviewer.post(f"/api/v1/security/alerts/{alert['id']}/resolve", json={
        "resolution": "Preparing the quarterly key-account review", "unlock": True})
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["status"] == "resolved"
    assert resolved.json()["user"]["locked"] is False
    assert resolved.json()["resolution"] == "Preparing the quarterly key-account review"
    assert audit_actions(container)[-2:] == ["alert_resolved", "unlock"]

    # the accepted burst is not held against the rep again this hour
    again = rep_client.get("/api/v1/accounts",
                           params={"filter": "tier:eq:A", "limit": 8, "cursor": cursor})
    assert again.status_code == 200, again.text
    assert rep_client.get("/api/v1/me").status_code == 200
    # ... but a fresh burst beyond the limit locks again
    more = rep_client.get("/api/v1/accounts", params={"filter": "tier:eq:A", "limit": 15})
    assert more.status_code == 403
    assert reviewer.get("/api/v1/security/alerts").json()["open"] == 1

    twice = reviewer.post(f"/api/v1/security/alerts/{alert['id']}/resolve",
                          json={"resolution": "again", "unlock": True})
    assert twice.status_code == 409
    reviewer.close()


def test_resolving_without_unlock_keeps_the_user_locked(container: Container,
                                                         client: TestClient) -> None:
    uid = _user(container, "keep@example.com")
    with container.session_factory() as session, pytest.raises(AccountHeld):
        anomaly.observe(session, container.settings, actor_of(uid), "accounts", tier_a(101),
                        "read")
    [alert] = alerts_of(container, uid)

    answer = client.post(f"/api/v1/security/alerts/{alert.id}/resolve",
                         json={"resolution": "Confirmed theft; HR informed", "unlock": False})

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "resolved"
    assert answer.json()["user"]["locked"] is True
    assert user_row(container, uid).lock_reason == "anomaly"
    assert audit_actions(container)[-1] == "alert_resolved"


def test_bad_review_input_gets_a_4xx(container: Container, client: TestClient) -> None:
    uid = _user(container, "bad@example.com")
    with container.session_factory() as session, pytest.raises(AccountHeld):
        anomaly.observe(session, container.settings, actor_of(uid), "accounts", tier_a(101),
                        "read")
    [alert] = alerts_of(container, uid)
    url = f"/api/v1/security/alerts/{alert.id}/resolve"

    assert client.post(url, json={"resolution": "   "}).status_code == 422
    assert client.post(url, json={"resolution": "a\u0000b"}).status_code == 422
    assert client.post(url, json={"resolution": "ok", "owner": 1}).status_code == 422
    assert client.post("/api/v1/security/alerts/999999/resolve",
                       json={"resolution": "ok"}).status_code == 404
    assert client.get("/api/v1/security/alerts", params={"status": "closed"}).status_code == 422
    assert client.get("/api/v1/security/alerts", params={"cursor": "x"}).status_code == 422
    assert client.get("/api/v1/security/baselines/999999").status_code == 404


def test_alerts_are_paginated_newest_first(container: Container, client: TestClient) -> None:
    ids = []
    for n in range(3):
        uid = _user(container, f"page{n}@example.com")
        with container.session_factory() as session, pytest.raises(AccountHeld):
            anomaly.observe(session, container.settings, actor_of(uid), "accounts", tier_a(101),
                            "read")
        ids.append(alerts_of(container, uid)[0].id)

    first = client.get("/api/v1/security/alerts", params={"limit": 2}).json()
    second = client.get("/api/v1/security/alerts",
                        params={"limit": 2, "cursor": first["next_cursor"]}).json()

    assert [a["id"] for a in first["items"]] == ids[::-1][:2]
    assert [a["id"] for a in second["items"]] == ids[:1]
    assert second["next_cursor"] is None


def test_a_rep_may_not_use_the_security_api(container: Container, rep_client: TestClient) -> None:
    uid = _user(container, "subject@example.com")
    with container.session_factory() as session, pytest.raises(AccountHeld):
        anomaly.observe(session, container.settings, actor_of(uid), "accounts", tier_a(101),
                        "read")
    [alert] = alerts_of(container, uid)

    assert rep_client.get("/api/v1/security/alerts").status_code == 403
    assert rep_client.get(f"/api/v1/security/alerts/{alert.id}").status_code == 403
    assert rep_client.get(f"/api/v1/security/baselines/{uid}").status_code == 403
    answer = rep_client.post(f"/api/v1/security/alerts/{alert.id}/resolve",
                             json={"resolution": "me", "unlock": True})
    assert answer.status_code == 403
    assert user_row(container, uid).lock_reason == "anomaly"


def test_the_cli_lists_alerts_and_unlocks_by_email(
    container: Container, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from rapport.cli import app
    from rapport.config import get_settings

    uid = _user(container, "cli@example.com")
    with container.session_factory() as session, pytest.raises(AccountHeld):
        anomaly.observe(session, container.settings, actor_of(uid), "accounts", tier_a(101),
                        "read")
    monkeypatch.setenv("RAPPORT_DATABASE_URL", container.settings.database_url)
    monkeypatch.setenv("COLUMNS", "250")
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        listed = runner.invoke(app, ["security", "alerts"])
        unlocked = runner.invoke(app, ["security", "unlock", "CLI@example.com",
                                       "--note", "Checked with the manager"])
        missing = runner.invoke(app, ["security", "unlock", "nobody@example.com"])
    finally:
        get_settings.cache_clear()

    assert listed.exit_code == 0, listed.output
    assert "cli@example.com" in listed.output
    assert unlocked.exit_code == 0, unlocked.output
    assert "unlocked cli@example.com" in unlocked.stderr
    assert missing.exit_code == 2
    assert user_row(container, uid).lock_reason is None
    [alert] = alerts_of(container, uid)
    assert (alert.status, alert.resolution) == ("resolved", "Checked with the manager")
    assert alert.details["allowance"]["hour_counts"]["high_value"] == 101
