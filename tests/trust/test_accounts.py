"""Account security: two-factor codes, lockout, holds, API tokens, sessions, headers, audit.

Time is frozen (``clock``) so codes and locks do not depend on where the test run falls
inside a 30-second step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from rapport.bootstrap import Container
from rapport.trust import auth, totp
from rapport.trust.models import ApiToken, AuditEntry, User
from rapport.trust.roles import create_role, set_user_roles
from tests.fixtures.api import ADMIN_EMAIL, PASSWORD, REP_EMAIL


@dataclass
class Clock:
    now: datetime

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    @property
    def step(self) -> int:
        return int(totp.current_step(self.now))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The accounts code's clock, frozen mid-step near the real time."""
    base = (int(time.time()) // totp.STEP_SECONDS) * totp.STEP_SECONDS + 15
    frozen = Clock(datetime.fromtimestamp(base, UTC))
    monkeypatch.setattr(auth, "utcnow", lambda: frozen.now)
    return frozen


def user_id(container: Container, email: str) -> int:
    with container.session_factory() as session:
        found = session.scalar(select(User.id).where(User.email == email))
    assert found is not None
    return int(found)


def enrol(client: TestClient, clock: Clock, step_offset: int = 0) -> str:
    """Enrol the client's user in two-factor through the API; returns the secret."""
    started = client.post("/api/v1/me/totp")
    assert started.status_code == 201, started.text
    secret = started.json()["secret"]
    confirmed = client.post("/api/v1/me/totp/confirm",
                            json={"code": totp.code_at(secret, clock.step + step_offset)})
    assert confirmed.status_code == 200, confirmed.text
    return str(secret)


def audit_entries(container: Container, action: str | None = None) -> list[AuditEntry]:
    with container.session_factory() as session:
        query = select(AuditEntry).order_by(AuditEntry.id)
        if action:
            query = query.where(AuditEntry.action == action)
        return list(session.scalars(query))


def require_totp_role(container: Container, email: str, *roles: str) -> None:
    """Give the user a role whose permissions require two-factor sign-in (plus ``roles``)."""
    with container.uow() as uow:
        create_role(uow.session, container.settings.secret_key, None, name="vault",
                    label="Vault", description=None, permissions={"require_totp": True})
        set_user_roles(uow.session, container.settings.secret_key, None,
                       user_id(container, email), ["vault", *roles])
        uow.commit()


# ---- two-factor ----------------------------------------------------------------------------


def test_enrolment_is_confirmed_with_a_real_code(rep_client: TestClient, clock: Clock) -> None:
    started = rep_client.post("/api/v1/me/totp")
    assert started.status_code == 201
    body = started.json()
    assert body["otpauth_uri"].startswith("otpauth://totp/Rapport:rep%40example.com?")
    assert f"secret={body['secret']}" in body["otpauth_uri"]
    assert rep_client.get("/api/v1/me/totp").json()["pending"] is True

    confirmed = rep_client.post("/api/v1/me/totp/confirm",
                                json={"code": totp.code_at(body["secret"], clock.step)})

    assert confirmed.status_code == 200
    assert confirmed.json()["enabled"] is True
    assert rep_client.get("/api/v1/me/totp").json() | {"enabled_at": None} == {
        "enabled": True, "pending": False, "required": False, "enabled_at": None}


def test_a_wrong_code_does_not_turn_two_factor_on(rep_client: TestClient, clock: Clock) -> None:
    secret = rep_client.post("/api/v1/me/totp").json()["secret"]
    wrong = f"{(int(totp.code_at(secret, clock.step)) + 1) % 1_000_000:06d}"

    answer = rep_client.post("/api/v1/me/totp/confirm", json={"code": wrong})

    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "code"
    assert rep_client.get("/api/v1/me/totp").json()["enabled"] is False
    assert rep_client.post("/api/v1/me/totp/confirm", json={}).status_code == 422


def test_the_secret_is_stored_encrypted(container: Container, rep_client: TestClient,
                                        clock: Clock) -> None:
    secret = enrol(rep_client, clock)
    with container.session_factory() as session:
        stored = session.scalar(select(User.totp_secret).where(User.email == REP_EMAIL))
    assert stored
    assert secret not in stored
    assert totp.decrypt_secret(container.settings.secret_key, stored) == secret


def test_a_code_cannot_be_used_twice(rep_client: TestClient, clock: Clock) -> None:
    secret = enrol(rep_client, clock)  # uses the current step's code

    replayed = rep_client.request("DELETE", "/api/v1/me/totp",
                                  json={"code": totp.code_at(secret, clock.step)})

    assert replayed.status_code == 422
    assert "already used" in replayed.json()["errors"][0]["message"]
    assert rep_client.get("/api/v1/me/totp").json()["enabled"] is True


def test_one_step_of_clock_drift_is_accepted_two_are_not(
        container: Container, rep_client: TestClient, clock: Clock) -> None:
    secret = enrol(rep_client, clock, step_offset=-1)  # the phone is 30 s behind
    uid = user_id(container, REP_EMAIL)
    key = container.settings.secret_key
    with container.uow() as uow:
        too_far = auth.finish_login_totp(uow.session, key, uid, totp.code_at(secret, clock.step + 2))
        ahead = auth.finish_login_totp(uow.session, key, uid, totp.code_at(secret, clock.step + 1))
        uow.commit()
    assert (too_far.status, too_far.reason) == ("failed", "totp")
    assert ahead.status == "ok"


def test_turning_two_factor_off_needs_a_current_code(
        container: Container, rep_client: TestClient, clock: Clock) -> None:
    secret = enrol(rep_client, clock)
    assert rep_client.request("DELETE", "/api/v1/me/totp", json={"code": "000000x"}
                              ).status_code == 422
    clock.advance(30)

    answer = rep_client.request("DELETE", "/api/v1/me/totp",
                                json={"code": totp.code_at(secret, clock.step)})

    assert answer.status_code == 204
    assert rep_client.get("/api/v1/me/totp").json()["enabled"] is False
    with container.session_factory() as session:
        assert session.scalar(select(User.totp_secret).where(User.email == REP_EMAIL)) is None


def test_a_role_requiring_two_factor_blocks_tokens_until_enrolled(
        container: Container, rep_client: TestClient, clock: Clock) -> None:
    require_totp_role(container, REP_EMAIL)
    assert rep_client.get("/api/v1/me/totp").json()["required"] is True

    refused = rep_client.post("/api/v1/me/tokens", json={"name": "ci"})
    assert refused.status_code == 403
    assert "two-factor" in refused.json()["detail"]

    secret = enrol(rep_client, clock)
    assert rep_client.post("/api/v1/me/tokens", json={"name": "ci"}).status_code == 201
    clock.advance(30)
    kept = rep_client.request("DELETE", "/api/v1/me/totp",
                              json={"code": totp.code_at(secret, clock.step)})
    assert kept.status_code == 403  # the role keeps it on


def test_sign_in_asks_for_enrolment_when_the_role_requires_it(
        container: Container, api_tokens: dict[str, str], clock: Clock) -> None:
    require_totp_role(container, REP_EMAIL)
    key = container.settings.secret_key
    with container.uow() as uow:
        result = auth.begin_login(uow.session, key, REP_EMAIL, PASSWORD)
        enrolment = auth.start_totp_enrolment(uow.session, key, user_id(container, REP_EMAIL))
        done = auth.finish_login_enrolment(uow.session, key, user_id(container, REP_EMAIL),
                                           totp.code_at(enrolment.secret, clock.step))
        uow.commit()
    assert result.status == "enrol"
    assert done.status == "ok"
    assert {e.action for e in audit_entries(container)} >= {"totp_enabled", "login"}


# ---- lockout -------------------------------------------------------------------------------


def attempt(container: Container, password: str) -> auth.LoginResult:
    with container.uow() as uow:
        result = auth.begin_login(uow.session, container.settings.secret_key, REP_EMAIL, password)
        uow.commit()
    return result


def test_five_failures_lock_the_account_with_a_growing_lock(
        container: Container, api_tokens: dict[str, str], clock: Clock) -> None:
    for _ in range(4):
        assert attempt(container, "wrong-password").status == "failed"

    fifth = attempt(container, "wrong-password")
    assert (fifth.status, fifth.retry_after) == ("locked", 60)
    assert "Try again in 1 minute" in fifth.message

    while_locked = attempt(container, PASSWORD)  # even the right password
    assert while_locked.status == "locked"
    assert 0 < while_locked.retry_after <= 60

    clock.advance(61)
    sixth = attempt(container, "wrong-password")
    assert (sixth.status, sixth.retry_after) == ("locked", 120)

    clock.advance(121)
    assert attempt(container, "wrong-password").retry_after == 240  # doubling...
    for _ in range(10):
        clock.advance(3601)
        last = attempt(container, "wrong-password")
    assert last.retry_after == 3600  # ...up to an hour


def test_success_resets_the_failure_counter(
        container: Container, api_tokens: dict[str, str], clock: Clock) -> None:
    for _ in range(4):
        attempt(container, "wrong-password")
    assert attempt(container, PASSWORD).status == "ok"
    for _ in range(4):
        assert attempt(container, "wrong-password").status == "failed"
    with container.session_factory() as session:
        user = session.scalar(select(User).where(User.email == REP_EMAIL))
        assert user is not None
        assert (user.failed_logins, user.locked_until) == (4, None)


def test_wrong_codes_count_and_the_api_answers_429_with_retry_after(
        container: Container, rep_client: TestClient, clock: Clock) -> None:
    enrol(rep_client, clock)
    answers = [rep_client.request("DELETE", "/api/v1/me/totp", json={"code": "999999"})
               for _ in range(6)]

    assert [a.status_code for a in answers[:4]] == [422] * 4
    locked = answers[4]
    assert locked.status_code == 429
    assert locked.headers["Retry-After"] == "60"
    assert locked.json()["code"] == "account_locked"
    assert "Try again in 1 minute" in locked.json()["detail"]
    assert answers[5].status_code == 429
    assert attempt(container, PASSWORD).status == "locked"
    assert [e.details["minutes"] for e in audit_entries(container, "lockout")] == [1]


# ---- holds (anomaly detector) ----------------------------------------------------------------


def test_a_held_user_is_refused_everywhere_until_an_admin_unlocks(
        app: FastAPI, container: Container, client: TestClient, rep_client: TestClient,
        clock: Clock) -> None:
    rep = user_id(container, REP_EMAIL)
    with container.uow() as uow:
        raw_session = auth.start_session(uow.session, rep, 12, "test")
        uow.session.execute(update(User).where(User.id == rep).values(lock_reason="anomaly"))
        uow.commit()

    by_token = rep_client.get("/api/v1/me")
    assert by_token.status_code == 403
    assert by_token.json()["code"] == "account_held"
    assert "administrator must unlock" in by_token.json()["detail"]
    with container.session_factory() as session, pytest.raises(auth.AccountHeld):
        auth.principal_for_session(session, raw_session)
    assert attempt(container, PASSWORD).status == "held"
    assert rep_client.post(f"/api/v1/users/{rep}/unlock").status_code == 403

    unlocked = client.post(f"/api/v1/users/{rep}/unlock")

    assert unlocked.status_code == 200
    assert unlocked.json() == {"user_id": rep, "locked": False}
    assert rep_client.get("/api/v1/me").status_code == 200
    assert attempt(container, PASSWORD).status == "ok"
    [entry] = audit_entries(container, "unlock")
    assert (entry.target, entry.details["previous_reason"]) == (f"users:{rep}", "anomaly")
    assert client.post("/api/v1/users/999999/unlock").status_code == 404


def test_revoke_user_sessions_ends_every_session(container: Container,
                                                 api_tokens: dict[str, str]) -> None:
    rep = user_id(container, REP_EMAIL)
    with container.uow() as uow:
        raws = [auth.start_session(uow.session, rep, 12, "test") for _ in range(2)]
        assert auth.revoke_user_sessions(uow.session, rep) == 2
        uow.commit()
    with container.session_factory() as session:
        for raw in raws:
            with pytest.raises(auth.Unauthenticated):
                auth.principal_for_session(session, raw)


def test_a_session_idle_for_too_long_ends(container: Container,
                                          api_tokens: dict[str, str]) -> None:
    from rapport.trust.models import UserSession

    rep = user_id(container, REP_EMAIL)
    with container.uow() as uow:
        raw = auth.start_session(uow.session, rep, 12, "test")
        uow.commit()
    with container.session_factory() as session:
        # active a minute ago: still signed in under a 30-minute idle limit
        assert auth.principal_for_session(session, raw, idle_minutes=30).user_id == rep
        session.execute(update(UserSession).values(
            last_seen_at=datetime.now(UTC) - timedelta(minutes=31)))
        session.commit()
        with pytest.raises(auth.Unauthenticated, match="without activity"):
            auth.principal_for_session(session, raw, idle_minutes=30)
        # and the session stays ended even without an idle limit
        with pytest.raises(auth.Unauthenticated):
            auth.principal_for_session(session, raw)


# ---- API tokens ----------------------------------------------------------------------------


def test_new_tokens_expire_in_90_days_unless_asked_within_the_maximum(
        container: Container, api_tokens: dict[str, str], clock: Clock) -> None:
    rep = user_id(container, REP_EMAIL)
    key = container.settings.secret_key
    with container.uow() as uow:
        default = auth.issue_token(uow.session, key, rep, name="ci", max_days=365)
        longest = auth.issue_token(uow.session, key, rep, name="ci", days=365, max_days=365)
        with pytest.raises(auth.ValidationFailed) as too_long:
            auth.issue_token(uow.session, key, rep, name="ci", days=366, max_days=365)
        with pytest.raises(auth.ValidationFailed) as over_setting:
            auth.issue_token(uow.session, key, rep, name="ci", days=31, max_days=30)
        uow.commit()

    assert default.info.expires_at == clock.now + timedelta(days=90)
    assert longest.info.expires_at == clock.now + timedelta(days=365)
    assert [e.field for e in too_long.value.errors] == ["days"]
    assert "1 to 30 days" in over_setting.value.errors[0].message
    assert default.token.startswith("rpt_")
    assert default.info.prefix == default.token[:12]


def test_bad_token_requests_get_field_errors(rep_client: TestClient) -> None:
    assert rep_client.post("/api/v1/me/tokens", json={"name": "ci", "days": 4000}
                           ).status_code == 422
    assert rep_client.post("/api/v1/me/tokens", json={"name": " "}).json()["errors"][0][
        "field"] == "name"
    assert rep_client.post("/api/v1/me/tokens", json={"name": "a\u0000b"}).status_code == 422
    mass = rep_client.post("/api/v1/me/tokens", json={"name": "x", "user_id": 1})
    assert mass.status_code == 422
    assert mass.json()["errors"][0]["code"] == "extra_forbidden"
    created = rep_client.post("/api/v1/me/tokens", json={"name": "ci"})
    assert created.status_code == 201
    # a token caller cannot mint a token that outlives its own (the fixture's: 90 days)
    assert rep_client.post("/api/v1/me/tokens", json={"name": "ci", "days": 365}
                           ).json()["errors"][0]["field"] == "days"


def test_an_expired_token_is_refused(container: Container, app: FastAPI,
                                     api_tokens: dict[str, str]) -> None:
    with container.uow() as uow:
        uow.session.execute(update(ApiToken).values(expires_at=datetime.now(UTC) - timedelta(1)))
        uow.commit()
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/api/v1/me", headers={"Authorization": f"Bearer {api_tokens['rep']}"})
    assert answer.status_code == 401
    assert "expired" in answer.json()["detail"]


def test_token_roles_must_be_roles_the_user_holds(container: Container,
                                                  rep_client: TestClient) -> None:
    with container.uow() as uow:
        set_user_roles(uow.session, container.settings.secret_key, None,
                       user_id(container, REP_EMAIL), ["sales_rep"])
        uow.commit()

    answer = rep_client.post("/api/v1/me/tokens", json={"name": "x", "roles": ["admin"]})

    assert answer.status_code == 422
    error = answer.json()["errors"][0]
    assert (error["field"], error["code"]) == ("roles", "not_held")


def test_a_token_narrowed_to_a_role_acts_with_that_role_only(
        app: FastAPI, container: Container, rep_client: TestClient) -> None:
    with container.uow() as uow:
        set_user_roles(uow.session, container.settings.secret_key, None,
                       user_id(container, REP_EMAIL), ["sales_rep", "marketer"])
        uow.commit()
    assert sorted(rep_client.get("/api/v1/me").json()["roles"]) == ["marketer", "sales_rep"]

    created = rep_client.post("/api/v1/me/tokens", json={"name": "mkt", "roles": ["marketer"]})
    assert created.status_code == 201
    assert created.json()["roles"] == ["marketer"]

    with TestClient(app, raise_server_exceptions=False) as narrowed:
        narrowed.headers["Authorization"] = f"Bearer {created.json()['token']}"
        assert narrowed.get("/api/v1/me").json()["roles"] == ["marketer"]
        # a narrowed token cannot mint a broader one, and passes its narrowing on
        broader = narrowed.post("/api/v1/me/tokens", json={"name": "x", "roles": ["sales_rep"]})
        assert broader.status_code == 422
        assert broader.json()["errors"][0]["code"] == "not_allowed"
        child = narrowed.post("/api/v1/me/tokens", json={"name": "child"})
        assert child.status_code == 201
        assert child.json()["roles"] == ["marketer"]
        # nor one that outlives it
        longer = narrowed.post("/api/v1/me/tokens", json={"name": "x", "days": 200})
        assert longer.status_code == 422
        assert longer.json()["errors"][0]["field"] == "days"


def test_tokens_are_listed_and_revoked(container: Container, app: FastAPI,
                                       client: TestClient, rep_client: TestClient) -> None:
    created = rep_client.post("/api/v1/me/tokens", json={"name": "erp", "days": 7}).json()
    listed = rep_client.get("/api/v1/me/tokens").json()["items"]
    assert [t["name"] for t in listed] == ["erp", "cli"]
    assert all("token" not in t and "token_hash" not in t for t in listed)
    assert client.delete(f"/api/v1/me/tokens/{created['id']}").status_code == 404  # not theirs

    assert rep_client.delete(f"/api/v1/me/tokens/{created['id']}").status_code == 204

    with TestClient(app, raise_server_exceptions=False) as other:
        revoked = other.get("/api/v1/me", headers={"Authorization": f"Bearer {created['token']}"})
    assert revoked.status_code == 401
    assert [t["name"] for t in rep_client.get("/api/v1/me/tokens").json()["items"]] == ["cli"]
    assert rep_client.delete(f"/api/v1/me/tokens/{created['id']}").status_code == 404


def test_token_use_is_recorded_at_most_once_a_minute(container: Container,
                                                     rep_client: TestClient) -> None:
    rep_client.get("/api/v1/me")
    with container.session_factory() as session:
        first = session.scalar(select(ApiToken.last_used_at).where(
            ApiToken.user_id == user_id(container, REP_EMAIL)))
    rep_client.get("/api/v1/me")
    with container.session_factory() as session:
        second = session.scalar(select(ApiToken.last_used_at).where(
            ApiToken.user_id == user_id(container, REP_EMAIL)))
    assert first is not None
    assert first == second


# ---- sessions (through the API, signed in with the browser cookie) ----------------------------


def sign_in(client: TestClient, email: str = REP_EMAIL) -> None:
    from tests.web.conftest import sign_in as form_sign_in

    form_sign_in(client, email)


def test_sessions_are_listed_and_revoked(app: FastAPI, container: Container,
                                         api_tokens: dict[str, str]) -> None:
    with TestClient(app, raise_server_exceptions=False) as laptop, \
            TestClient(app, raise_server_exceptions=False) as phone, \
            TestClient(app, raise_server_exceptions=False) as tablet:
        for browser in (laptop, phone, tablet):
            sign_in(browser)
        sessions = laptop.get("/api/v1/me/sessions").json()["items"]
        assert len(sessions) == 3
        assert [s["current"] for s in sessions].count(True) == 1
        assert sessions[0]["current"]
        assert all(s["last_seen_at"] for s in sessions)
        phone_id = next(s["id"] for s in phone.get("/api/v1/me/sessions").json()["items"]
                        if s["current"])

        assert laptop.delete(f"/api/v1/me/sessions/{phone_id}").status_code == 204
        assert phone.get("/api/v1/me").status_code == 401
        assert laptop.delete(f"/api/v1/me/sessions/{phone_id}").status_code == 404

        ended = laptop.delete("/api/v1/me/sessions")
        assert ended.json() == {"revoked": 1}
        assert tablet.get("/api/v1/me").status_code == 401
        assert laptop.get("/api/v1/me").status_code == 200
        assert len(laptop.get("/api/v1/me/sessions").json()["items"]) == 1


def test_another_users_session_cannot_be_revoked(app: FastAPI, client: TestClient,
                                                 api_tokens: dict[str, str]) -> None:
    with TestClient(app, raise_server_exceptions=False) as browser:
        sign_in(browser)
        mine = browser.get("/api/v1/me/sessions").json()["items"][0]["id"]
    assert client.delete(f"/api/v1/me/sessions/{mine}").status_code == 404


# ---- secure headers --------------------------------------------------------------------------


def test_api_answers_carry_the_secure_headers(client: TestClient) -> None:
    answer = client.get("/api/v1/me")
    headers = answer.headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["cross-origin-opener-policy"] == "same-origin"
    assert "camera=()" in headers["permissions-policy"]
    csp = headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert "strict-transport-security" not in headers  # plain http
    assert client.get("/api/v1/nope").headers["x-frame-options"] == "DENY"  # errors too


def test_https_answers_add_strict_transport_security(app: FastAPI) -> None:
    with TestClient(app, base_url="https://testserver") as secure:
        assert secure.get("/healthz").headers["strict-transport-security"].startswith("max-age=")


def test_the_api_docs_page_may_load_swagger(client: TestClient) -> None:
    csp = client.get("/api/v1/docs").headers["content-security-policy"]
    assert "https://cdn.jsdelivr.net" in csp
    assert "frame-ancestors 'none'" in csp


# ---- audit -----------------------------------------------------------------------------------


def test_every_account_event_is_audited_without_email_or_password(
        app: FastAPI, container: Container, client: TestClient, rep_client: TestClient,
        clock: Clock) -> None:
    rep = user_id(container, REP_EMAIL)
    secret = enrol(rep_client, clock)                                 # totp_enabled
    clock.advance(30)
    rep_client.request("DELETE", "/api/v1/me/totp",
                       json={"code": totp.code_at(secret, clock.step)})  # totp_disabled
    token = rep_client.post("/api/v1/me/tokens", json={"name": "t"}).json()  # token_created
    rep_client.delete(f"/api/v1/me/tokens/{token['id']}")                  # token_revoked
    attempt(container, PASSWORD)                                         # login
    for _ in range(5):
        attempt(container, "typed-wrong-secret")                         # login_failed, lockout
    with container.uow() as uow:
        auth.begin_login(uow.session, container.settings.secret_key, "ghost@example.com",
                         "typed-wrong-secret")                           # unknown email
        uow.commit()
    client.post(f"/api/v1/users/{rep}/unlock")                          # unlock
    with TestClient(app, raise_server_exceptions=False) as browser:
        sign_in(browser)
        own = browser.get("/api/v1/me/sessions").json()["items"][0]["id"]
        browser.delete(f"/api/v1/me/sessions/{own}")                     # session_revoked

    entries = audit_entries(container)
    actions = {e.action for e in entries}
    assert actions >= {"login", "login_failed", "lockout", "totp_enabled", "totp_disabled",
                       "token_created", "token_revoked", "session_revoked", "unlock"}
    unknown = [e for e in entries if e.action == "login_failed" and e.target is None]
    assert len(unknown) == 1
    assert unknown[0].actor == "anonymous"
    assert all(e.target == f"users:{rep}" for e in entries
               if e.action in ("login_failed", "lockout") and e.target)
    for entry in entries:
        text = f"{entry.actor} {entry.target} {entry.details}".lower()
        for clear in (REP_EMAIL, ADMIN_EMAIL, "ghost@example.com", PASSWORD,
                      "typed-wrong-secret", secret.lower()):
            assert clear.lower() not in text, (entry.action, text)
