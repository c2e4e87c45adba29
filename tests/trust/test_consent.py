"""The consent service: decisions, history, state per purpose, validity and its SQL form."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from rapport.bootstrap import Container
from rapport.crm.models import Contact
from rapport.crm.service import SYSTEM
from rapport.db.base import utcnow
from rapport.errors import ConsentRequired, ValidationFailed
from rapport.trust import consent
from rapport.trust.models import AuditEntry, ConsentRecord
from rapport.trust.pseudonym import target_ref


def _person(container: Container, object_name: str = "contacts", **values: str) -> str:
    data = {"last_name": "Lovelace", "email": "ada@example.com", **values}
    with container.uow() as uow:
        record = container.records.create(uow, SYSTEM, object_name, data)
        uow.commit()
    return f"{object_name}:{record.id}"


def _record(container: Container, subject: str, purpose: str = "marketing_email",
            status: str = "granted", basis: str = "consent", **extra: object) -> consent.ConsentEntry:
    with container.uow() as uow:
        entry = consent.record(uow.session, container.settings.secret_key, None, subject, purpose,
                               status, basis, str(extra.pop("source", "web_form")), **extra)  # type: ignore[arg-type]
        uow.commit()
    return entry


def _state(session: Session, subject: str, purpose: str) -> consent.PurposeState:
    return next(s for s in consent.current(session, subject) if s.purpose == purpose)


def test_a_grant_then_a_withdrawal_leaves_the_newest_decision_in_force(container: Container) -> None:
    # given a contact who granted marketing email
    ada = _person(container)
    _record(container, ada, status="granted")
    # when they withdraw it
    _record(container, ada, status="withdrawn", source="unsubscribe_link")
    # then the withdrawal is in force, and both decisions stay in the history, newest first
    with container.session_factory() as session:
        assert not consent.has_valid(session, ada, "marketing_email")
        assert _state(session, ada, "marketing_email").state == "withdrawn"
        page = consent.history(session, ada)
        assert [(e.status, e.source) for e in page.items] == [
            ("withdrawn", "unsubscribe_link"), ("granted", "web_form")]
        assert page.next_cursor is None


def test_newest_decision_wins_even_when_it_grants_again(container: Container) -> None:
    ada = _person(container)
    for status in ("granted", "withdrawn", "granted"):
        _record(container, ada, purpose="sms", status=status)

    with container.session_factory() as session:
        assert consent.has_valid(session, ada, "sms")
        assert len(consent.history(session, ada).items) == 3


def test_current_lists_every_purpose_with_none_where_nothing_was_recorded(container: Container) -> None:
    ada = _person(container)
    _record(container, ada, purpose="analytics", status="denied")

    with container.session_factory() as session:
        states = {s.purpose: s.state for s in consent.current(session, ada)}

    assert states == {"marketing_email": "none", "sms": "none", "profiling": "none",
                      "analytics": "denied", "partner_sharing": "none", "sensitive_data": "none"}


def test_a_consent_is_valid_until_it_expires(container: Container) -> None:
    # given a grant that expires in an hour
    ada = _person(container)
    expires = utcnow() + timedelta(hours=1)
    _record(container, ada, purpose="profiling", expires_at=expires)
    later = expires + timedelta(seconds=1)
    with container.session_factory() as session:
        # then it is valid now, and not after it expired
        assert consent.has_valid(session, ada, "profiling")
        assert not consent.has_valid(session, ada, "profiling", at=later)
        assert _state(session, ada, "profiling").state == "granted"
        expired = next(s for s in consent.current(session, ada, at=later) if s.purpose == "profiling")
        assert (expired.state, expired.valid) == ("expired", False)


def test_an_expired_row_is_not_valid_and_shows_as_expired(container: Container) -> None:
    # given a grant whose expiry has passed (time moved on since it was recorded)
    ada = _person(container)
    with container.uow() as uow:
        uow.session.add(ConsentRecord(
            subject=ada, purpose="marketing_email", status="granted", lawful_basis="consent",
            source="web_form", recorded_at=utcnow() - timedelta(days=400),
            expires_at=utcnow() - timedelta(days=35)))
        uow.commit()
    with container.session_factory() as session:
        assert not consent.has_valid(session, ada, "marketing_email")
        assert _state(session, ada, "marketing_email").state == "expired"
        with pytest.raises(ConsentRequired) as raised:
            consent.require(session, ada, "marketing_email")
    assert raised.value.code == "consent_required"
    assert raised.value.status == 403


def test_validity_at_a_past_moment_uses_the_decision_in_force_then(container: Container) -> None:
    ada = _person(container)
    _record(container, ada, purpose="analytics")
    between = utcnow()
    _record(container, ada, purpose="analytics", status="withdrawn")

    with container.session_factory() as session:
        assert consent.has_valid(session, ada, "analytics", at=between)
        assert not consent.has_valid(session, ada, "analytics")


def test_sensitive_data_can_only_be_granted_on_explicit_consent_with_evidence(
    container: Container,
) -> None:
    ada = _person(container)
    with pytest.raises(ValidationFailed) as refused:
        _record(container, ada, purpose="sensitive_data", basis="legitimate_interests")
    assert [(e.field, e.code) for e in refused.value.errors] == [
        ("lawful_basis", "basis_not_allowed"), ("evidence", "required")]

    _record(container, ada, purpose="sensitive_data", evidence="Health data form v3, ticked box")
    with container.session_factory() as session:
        assert consent.has_valid(session, ada, "sensitive_data")


def test_marketing_may_rest_on_legitimate_interests_but_not_on_a_contract(container: Container) -> None:
    ada = _person(container)
    _record(container, ada, purpose="marketing_email", basis="legitimate_interests")
    with pytest.raises(ValidationFailed) as refused:
        _record(container, ada, purpose="sms", basis="contract")
    assert refused.value.errors[0].field == "lawful_basis"
    assert "consent, legitimate_interests" in refused.value.errors[0].message


def test_a_withdrawal_is_accepted_on_any_known_basis(container: Container) -> None:
    # an objection to marketing resting on legitimate interests is recorded as a withdrawal
    ada = _person(container)
    _record(container, ada, purpose="marketing_email", basis="legitimate_interests")
    _record(container, ada, purpose="marketing_email", status="withdrawn",
            basis="legitimate_interests", source="objection_email")
    with container.session_factory() as session:
        assert not consent.has_valid(session, ada, "marketing_email")


def test_unknown_subject_purpose_status_and_basis_are_refused_with_field_errors(
    container: Container,
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        _record(container, "accounts:1", purpose="telepathy", status="maybe", basis="whim")
    assert sorted(e.field for e in refused.value.errors) == [
        "lawful_basis", "purpose", "status", "subject"]

    with pytest.raises(ValidationFailed) as missing:
        _record(container, "contacts:999999")
    assert [(e.field, e.code) for e in missing.value.errors] == [("subject", "not_found")]


def test_expiry_needs_a_future_moment_and_a_grant(container: Container) -> None:
    ada = _person(container)
    with pytest.raises(ValidationFailed) as past:
        _record(container, ada, expires_at=utcnow() - timedelta(minutes=1))
    with pytest.raises(ValidationFailed) as withdrawn:
        _record(container, ada, status="withdrawn", expires_at=utcnow() + timedelta(days=1))
    assert past.value.errors[0].field == withdrawn.value.errors[0].field == "expires_at"


def test_every_decision_is_audited_by_pseudonym_without_clear_personal_data(
    container: Container,
) -> None:
    ada = _person(container, email="ada.private@example.com")
    entry = _record(container, ada, status="granted", evidence="Signed by ada.private@example.com")
    object_name, record_id = ada.split(":")
    with container.session_factory() as session:
        logged = session.scalars(select(AuditEntry).where(AuditEntry.action == "consent_changed")).all()
    assert len(logged) == 1
    assert logged[0].target == target_ref(container.settings.secret_key, object_name, record_id)
    assert logged[0].details == {"consent_id": entry.id, "purpose": "marketing_email",
                                 "status": "granted", "lawful_basis": "consent",
                                 "previous_status": None}
    assert "ada.private" not in str(logged[0].details) + str(logged[0].target)


def test_history_pages_newest_first(container: Container) -> None:
    ada = _person(container)
    for status in ("granted", "withdrawn", "granted"):
        _record(container, ada, purpose="analytics", status=status)
    with container.session_factory() as session:
        first = consent.history(session, ada, limit=2)
        second = consent.history(session, ada, limit=2, cursor=first.next_cursor)
    assert [e.status for e in first.items] == ["granted", "withdrawn"]
    assert [e.status for e in second.items] == ["granted"]
    assert second.next_cursor is None
    assert first.items[0].id > first.items[1].id > second.items[0].id


def test_profiling_and_analytics_gates_follow_their_own_purpose(container: Container) -> None:
    ada = _person(container)
    lead = _person(container, "leads", email="lead@example.com")
    _record(container, ada, purpose="profiling")
    _record(container, lead, purpose="analytics")

    with container.session_factory() as session:
        assert consent.profiling_allowed(session, ada)
        assert not consent.analytics_allowed(session, ada)
        assert consent.analytics_allowed(session, lead)
        assert not consent.profiling_allowed(session, lead)


def test_the_sql_clause_keeps_only_people_with_valid_consent(container: Container) -> None:
    # given four contacts: granted, withdrawn after a grant, expired, and never asked
    granted, withdrawn, expired, never = (_person(container, email=f"p{i}@example.com")
                                          for i in range(4))
    _record(container, granted)
    _record(container, withdrawn)
    _record(container, withdrawn, status="withdrawn")
    _record(container, expired, expires_at=utcnow() + timedelta(hours=1))
    _record(container, never, purpose="sms")  # another purpose does not count
    table: Table = Contact.__table__  # type: ignore[assignment]
    clause = consent.consented_subjects_clause("contacts", "marketing_email")
    later = consent.consented_subjects_clause("contacts", "marketing_email",
                                              at=utcnow() + timedelta(hours=2))
    with container.session_factory() as session:
        now_ids = set(session.scalars(select(table.c.id).where(clause)))
        later_ids = set(session.scalars(select(table.c.id).where(later)))
    ids = {name: int(name.split(":")[1]) for name in (granted, withdrawn, expired, never)}
    assert now_ids == {ids[granted], ids[expired]}
    assert later_ids == {ids[granted]}


def test_collected_decisions_older_than_the_one_in_force_are_ignored_and_audited(
    container: Container,
) -> None:
    ada = _person(container)
    banner_shown = utcnow()
    _record(container, ada, status="withdrawn", source="unsubscribe_link")
    with container.uow() as uow:
        results = consent.record_collected(
            uow.session, container.settings.secret_key, None, [consent.parse_subject(ada)],
            "marketing_email", "granted", "web_sdk", "banner v2", collected_at=banner_shown)
        uow.commit()
    assert [r.outcome for r in results] == ["stale"]
    with container.session_factory() as session:
        assert not consent.has_valid(session, ada, "marketing_email")
        ignored = session.scalars(select(AuditEntry).where(AuditEntry.action == "consent_ignored")).all()
    assert len(ignored) == 1
    assert ignored[0].details["reason"] == "stale"
