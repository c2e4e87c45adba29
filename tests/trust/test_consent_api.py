"""The consent API: decisions, history, state, the marketing audience and the collector hook."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from rapport.bootstrap import Container
from rapport.db.base import utcnow
from rapport.trust.auth import create_api_token, create_user
from rapport.trust.models import AuditEntry, ConsentRecord, User
from rapport.trust.roles import set_user_roles
from tests.fixtures.api import PASSWORD, REP_EMAIL


def _contact(client: TestClient, **values: Any) -> int:
    answer = client.post("/api/v1/contacts", json={"last_name": "Lovelace", **values})
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def _lead(client: TestClient, **values: Any) -> int:
    answer = client.post("/api/v1/leads", json={"last_name": "Hopper", **values})
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def _decide(client: TestClient, subject: str, purpose: str = "marketing_email",
            status: str = "granted", **extra: Any) -> Any:
    body = {"subject": subject, "purpose": purpose, "status": status,
            "lawful_basis": "consent", "source": "web_form", **extra}
    return client.post("/api/v1/consents", json=body)


def _user_with_roles(container: Container, email: str, roles: list[str]) -> str:
    """A user holding ``roles``; returns an API token of theirs."""
    with container.uow() as uow:
        user = create_user(uow.session, email, PASSWORD, name=email.split("@")[0])
        set_user_roles(uow.session, container.settings.secret_key, None, user.user_id, roles)
        token = create_api_token(uow.session, email, name="integration")
        uow.commit()
    return token


def _give_rep(container: Container, roles: list[str]) -> int:
    with container.uow() as uow:
        rep_id = uow.session.scalar(select(User.id).where(User.email == REP_EMAIL))
        assert rep_id is not None
        set_user_roles(uow.session, container.settings.secret_key, None, rep_id, roles)
        uow.commit()
    return rep_id


def _as(client: TestClient, token: str) -> TestClient:
    """Another client on the same app, signed in with ``token``."""
    other = TestClient(client.app, raise_server_exceptions=False)
    other.headers["Authorization"] = f"Bearer {token}"
    return other


def test_a_recorded_decision_shows_in_the_history_and_the_current_state(client: TestClient) -> None:
    # given a contact
    subject = f"contacts:{_contact(client, email='ada@example.com')}"
    # when a grant and then a withdrawal are recorded
    granted = _decide(client, subject, expires_at="2099-01-31T00:00:00+08:00")
    withdrawn = _decide(client, subject, status="withdrawn", source="unsubscribe_link")
    # then both answer 201 with the stored decision
    assert granted.status_code == withdrawn.status_code == 201, granted.text
    assert granted.json()["expires_at"] == "2099-01-30T16:00:00+00:00"
    history = client.get("/api/v1/consents", params={"subject": subject}).json()
    assert [i["status"] for i in history["items"]] == ["withdrawn", "granted"]
    current = client.get("/api/v1/consents/current", params={"subject": subject}).json()
    states = {p["purpose"]: (p["state"], p["valid"]) for p in current["purposes"]}
    assert states["marketing_email"] == ("withdrawn", False)
    assert states["sms"] == ("none", False)


def test_the_history_is_paginated_newest_first(client: TestClient) -> None:
    subject = f"contacts:{_contact(client)}"
    for status in ("granted", "withdrawn", "granted"):
        _decide(client, subject, purpose="sms", status=status)

    first = client.get("/api/v1/consents", params={"subject": subject, "limit": 2}).json()
    second = client.get("/api/v1/consents", params={
        "subject": subject, "limit": 2, "cursor": first["next_cursor"]}).json()

    assert [i["status"] for i in first["items"] + second["items"]] == [
        "granted", "withdrawn", "granted"]
    assert second["next_cursor"] is None


def test_unknown_subject_purpose_and_basis_answer_422_with_field_errors(client: TestClient) -> None:
    answer = client.post("/api/v1/consents", json={
        "subject": "contacts:424242", "purpose": "telepathy", "status": "granted",
        "lawful_basis": "whim", "source": "web_form"})

    assert answer.status_code == 422
    assert answer.json()["code"] == "validation_failed"
    fields = {e["field"] for e in answer.json()["errors"]}
    assert {"purpose", "lawful_basis"} <= fields

    missing = _decide(client, "contacts:424242")
    assert missing.status_code == 422
    assert missing.json()["errors"] == [
        {"field": "subject", "message": "no contact with id 424242", "code": "not_found"}]
    malformed = _decide(client, "accounts:1")
    assert malformed.status_code == 422
    assert malformed.json()["errors"][0]["field"] == "subject"


def test_sensitive_data_needs_explicit_consent(client: TestClient) -> None:
    subject = f"contacts:{_contact(client)}"

    refused = _decide(client, subject, purpose="sensitive_data", lawful_basis="contract",
                      evidence="form v1")
    accepted = _decide(client, subject, purpose="sensitive_data", evidence="Health form v3")

    assert refused.status_code == 422
    assert refused.json()["errors"][0]["code"] == "basis_not_allowed"
    assert accepted.status_code == 201


def test_naive_expiry_and_unknown_fields_are_refused(client: TestClient) -> None:
    subject = f"contacts:{_contact(client)}"

    naive = _decide(client, subject, expires_at="2099-01-31T00:00:00")
    extra = _decide(client, subject, recorded_by=1)

    assert naive.status_code == extra.status_code == 422
    assert naive.json()["errors"][0]["field"] == "expires_at"
    assert extra.json()["errors"][0]["code"] == "extra_forbidden"


def test_a_retried_decision_with_the_same_idempotency_key_is_stored_once(
    client: TestClient, container: Container,
) -> None:
    subject = f"contacts:{_contact(client)}"
    body = {"subject": subject, "purpose": "sms", "status": "granted",
            "lawful_basis": "consent", "source": "web_form"}

    first = client.post("/api/v1/consents", json=body, headers={"Idempotency-Key": "k-1"})
    again = client.post("/api/v1/consents", json=body, headers={"Idempotency-Key": "k-1"})

    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    with container.session_factory() as session:
        assert len(session.scalars(select(ConsentRecord)).all()) == 1


def test_a_rep_records_consent_for_their_own_contacts_only(
    client: TestClient, rep_client: TestClient, container: Container,
) -> None:
    # given a rep (sales_rep: update own contacts) and two contacts, one theirs
    rep_id = _give_rep(container, ["sales_rep"])
    mine = _contact(client, owner_id=rep_id)
    theirs = _contact(client)
    # when the rep records consent for both
    own = _decide(rep_client, f"contacts:{mine}")
    other = _decide(rep_client, f"contacts:{theirs}")
    # then the own contact works, the other one is as unknown as a missing one
    assert own.status_code == 201, own.text
    assert other.status_code == 422
    assert other.json()["errors"][0]["code"] == "not_found"
    assert rep_client.get("/api/v1/consents/current",
                          params={"subject": f"contacts:{theirs}"}).status_code == 404


def test_reading_needs_the_read_right_and_recording_the_update_right(
    client: TestClient, container: Container,
) -> None:
    # given an auditor (reads everything, changes nothing) and a user without any role
    subject = f"contacts:{_contact(client)}"
    auditor = _as(client, _user_with_roles(container, "audit@example.com", ["auditor"]))
    nobody = _as(client, _user_with_roles(container, "nobody@example.com", []))

    assert auditor.get("/api/v1/consents", params={"subject": subject}).status_code == 200
    assert _decide(auditor, subject).status_code == 403
    assert nobody.get("/api/v1/consents", params={"subject": subject}).status_code == 403
    assert _decide(nobody, subject).json()["code"] == "forbidden"


def _audience(client: TestClient, **params: Any) -> Any:
    return client.get("/api/v1/consents/audience", params=params)


def test_the_audience_holds_only_people_with_valid_consent(
    client: TestClient, container: Container,
) -> None:
    # given contacts who granted, withdrew, let it expire, never answered, granted without email
    granted = _contact(client, email="granted@example.com")
    withdrawn = _contact(client, email="withdrawn@example.com")
    expired = _contact(client, email="expired@example.com")
    _contact(client, email="never@example.com")
    no_email = _contact(client, phone="+8613800138000")
    for person in (granted, withdrawn, no_email):
        assert _decide(client, f"contacts:{person}").status_code == 201
    _decide(client, f"contacts:{withdrawn}", status="withdrawn")
    with container.uow() as uow:
        uow.session.add(ConsentRecord(
            subject=f"contacts:{expired}", purpose="marketing_email", status="granted",
            lawful_basis="consent", source="web_form", recorded_at=utcnow() - timedelta(days=90),
            expires_at=utcnow() - timedelta(days=1)))
        uow.commit()
    integration = _as(client, _user_with_roles(container, "sync@example.com", ["integration"]))
    # when the marketing email audience is exported
    answer = _audience(integration, object="contacts", purpose="marketing_email")
    # then only the person with valid consent and an address is in it, with the address only
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"object": "contacts", "purpose": "marketing_email",
                             "items": [{"id": granted, "email": "granted@example.com"}],
                             "next_cursor": None}
    with container.session_factory() as session:
        exported = session.scalars(select(AuditEntry).where(AuditEntry.action == "export")).all()
    assert [e.details for e in exported] == [{"kind": "consent_audience", "object": "contacts",
                                              "purpose": "marketing_email", "count": 1}]


def test_the_sms_audience_of_leads_pages_through_phones(
    client: TestClient, container: Container,
) -> None:
    leads = [_lead(client, phone=f"+861380013800{i}") for i in range(3)]
    for lead in leads:
        _decide(client, f"leads:{lead}", purpose="sms")
    integration = _as(client, _user_with_roles(container, "sync@example.com", ["integration"]))

    first = _audience(integration, object="leads", purpose="sms", limit=2).json()
    second = _audience(integration, object="leads", purpose="sms", limit=2,
                       cursor=first["next_cursor"]).json()

    assert [i["id"] for i in first["items"] + second["items"]] == leads
    assert first["items"][0]["phone"] == "+8613800138000"
    assert second["next_cursor"] is None


def test_the_audience_is_served_with_the_callers_masking(
    client: TestClient, container: Container,
) -> None:
    person = _contact(client, email="masked@example.com")
    _decide(client, f"contacts:{person}")
    marketer = _as(client, _user_with_roles(container, "mkt@example.com", ["marketer"]))

    items = _audience(marketer, object="contacts", purpose="marketing_email").json()["items"]

    assert items == [{"id": person, "email": "m***@example.com", "_masked": ["email"]}]


def test_the_audience_needs_the_export_right_and_a_marketing_purpose(
    client: TestClient, rep_client: TestClient, container: Container,
) -> None:
    _give_rep(container, ["sales_rep"])  # create, read, update; no export

    assert _audience(rep_client, object="contacts", purpose="marketing_email").status_code == 403
    refused = _audience(client, object="accounts", purpose="profiling")
    assert refused.status_code == 422
    assert {e["field"] for e in refused.json()["errors"]} == {"object", "purpose"}


def test_the_collector_records_a_banner_decision_by_email(
    client: TestClient, container: Container,
) -> None:
    # given a contact and a lead with the same address
    contact = _contact(client, email="wei.zhang@example.com")
    lead = _lead(client, email="wei.zhang@example.com")
    integration = _as(client, _user_with_roles(container, "sdk@example.com", ["integration"]))
    # when the web SDK posts a grant with the address typed differently
    answer = integration.post("/api/v1/consents/collect", json={
        "email": " Wei.Zhang＠Example.com", "purpose": "analytics", "status": "granted",
        "evidence": "Cookie banner v4 (zh-CN): 我们使用分析 Cookie…"})
    # then both records get the decision, on the consent basis, from the web SDK
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [(r["subject"], r["outcome"]) for r in results] == [
        (f"contacts:{contact}", "recorded"), (f"leads:{lead}", "recorded")]
    assert {(r["consent"]["lawful_basis"], r["consent"]["source"]) for r in results} == {
        ("consent", "web_sdk")}
    current = client.get("/api/v1/consents/current", params={"subject": f"leads:{lead}"}).json()
    assert {p["purpose"]: p["state"] for p in current["purposes"]}["analytics"] == "granted"
    # and the audit log names them by pseudonym, never by address
    with container.session_factory() as session:
        logged = session.scalars(select(AuditEntry).where(AuditEntry.action == "consent_changed")).all()
    assert len(logged) == 2
    assert all("@" not in str(e.details) and "@" not in (e.target or "") for e in logged)
    assert all((e.target or "").startswith("p_") for e in logged)


def test_the_collector_answers_404_for_an_unknown_email_and_422_without_a_person(
    client: TestClient, container: Container,
) -> None:
    integration = _as(client, _user_with_roles(container, "sdk@example.com", ["integration"]))
    body = {"purpose": "analytics", "status": "granted", "evidence": "banner v4"}

    unknown = integration.post("/api/v1/consents/collect", json={**body, "email": "nobody@example.com"})
    neither = integration.post("/api/v1/consents/collect", json=body)
    bad = integration.post("/api/v1/consents/collect", json={**body, "email": "not-an-email"})

    assert unknown.status_code == 404
    assert neither.status_code == 422
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "email"


def test_a_late_banner_grant_does_not_undo_a_newer_withdrawal(
    client: TestClient, container: Container,
) -> None:
    subject = f"contacts:{_contact(client, email='late@example.com')}"
    shown_at = utcnow().isoformat()
    _decide(client, subject, status="withdrawn", source="unsubscribe_link")
    integration = _as(client, _user_with_roles(container, "sdk@example.com", ["integration"]))

    answer = integration.post("/api/v1/consents/collect", json={
        "subject": subject, "purpose": "marketing_email", "status": "granted",
        "evidence": "banner v4", "collected_at": shown_at})

    assert answer.json()["results"] == [{"subject": subject, "outcome": "stale", "consent": None}]
    current = client.get("/api/v1/consents/current", params={"subject": subject}).json()
    assert {p["purpose"]: p["state"] for p in current["purposes"]}["marketing_email"] == "withdrawn"
