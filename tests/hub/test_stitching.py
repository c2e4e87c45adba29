"""Identity stitching: which events end on which profile, and what the guards refuse."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from rapport.bootstrap import Container
from rapport.events.hub_models import HubEvent
from rapport.identity.identifiers import is_junk
from rapport.identity.models import Identity
from rapport.trust import consent
from rapport.trust.actor import SYSTEM
from rapport.trust.models import ConsentRecord
from tests.hub.profile_support import (
    T0,
    event,
    identities,
    ingest,
    live_profiles,
    make_source,
    merges,
    profile,
    profile_id_of,
    reviews,
    stored_event,
)


@pytest.fixture
def web(container: Container) -> int:
    return make_source(container)


def _contact(container: Container, **extra: str) -> Any:
    """Ana Lima, a CRM contact with the e-mail the tests' events carry."""
    with container.uow() as uow:
        contact = container.records.create(uow, SYSTEM, "contacts", {
            "last_name": "Lima", "email": "ana@example.com", **extra})
        uow.commit()
    return contact


def test_anonymous_page_views_then_identify_end_on_one_profile(container: Container, web: int) -> None:
    ingest(container, event(web, "page", name="Home", anonymous_id="a-1", fingerprint="fp-1"),
           event(web, "page", name="Pricing", anonymous_id="a-1", fingerprint="fp-1"))
    anonymous = profile_id_of(container, "anonymous_id", "a-1")
    assert anonymous is not None
    assert profile(container, anonymous).journey_stage == "anonymous"

    ingest(container, event(web, "identify", user_id="u-1", anonymous_id="a-1", fingerprint="fp-1",
                            traits={"email": "Ana@Example.com", "name": "Ana Lima"}))

    assert profile_id_of(container, "user_id", "u-1") == anonymous
    assert identities(container, anonymous) >= {
        ("anonymous_id", "a-1"), ("user_id", "u-1"), ("email", "ana@example.com"),
        ("fingerprint", "fp-1")}
    stitched = profile(container, anonymous)
    assert stitched.journey_stage == "identified"
    assert stitched.counters["page_views"] == 2
    assert stitched.traits["name"]["value"] == "Ana Lima"
    assert len(live_profiles(container)) == 1
    assert merges(container) == []


def test_events_carrying_two_known_identifiers_merge_their_profiles_older_survives(
    container: Container, web: int
) -> None:
    ingest(container, event(web, "page", anonymous_id="a-1"))
    ingest(container, event(web, "track", name="Signed In", user_id="u-1", anonymous_id="a-2"))
    older, newer = profile_id_of(container, "anonymous_id", "a-1"), profile_id_of(container, "user_id", "u-1")
    assert older is not None
    assert newer is not None
    assert older < newer

    linking = event(web, "track", name="Clicked", user_id="u-1", anonymous_id="a-1")
    ingest(container, linking)

    assert profile(container, newer).merged_into_id == older
    assert identities(container, older) >= {("anonymous_id", "a-1"), ("anonymous_id", "a-2"),
                                            ("user_id", "u-1")}
    [merge] = merges(container)
    assert (merge.winner_id, merge.loser_id, merge.event_id) == (older, newer, linking.id)
    # the identifier that named the other profile: u-1's event carried a-1's anonymous id
    assert (merge.identifier_kind, merge.identifier_value) == ("anonymous_id", "a-1")
    assert stored_event(container, linking.id).profile_id == older


def test_alias_links_the_previous_id_to_the_new_user_id(container: Container, web: int) -> None:
    ingest(container, event(web, "page", anonymous_id="a-9"))
    ingest(container, event(web, "alias", user_id="u-9", anonymous_id=None,
                            properties={"previousId": "a-9"}))
    assert profile_id_of(container, "user_id", "u-9") == profile_id_of(container, "anonymous_id", "a-9")


def test_alias_joins_an_old_user_id_to_a_new_one_explicitly(container: Container, web: int) -> None:
    ingest(container, event(web, "track", name="A", user_id="old-id"))
    ingest(container, event(web, "track", name="B", user_id="new-id"))
    ingest(container, event(web, "alias", user_id="new-id", properties={"previousId": "old-id"}))
    assert profile_id_of(container, "user_id", "old-id") == profile_id_of(container, "user_id", "new-id")
    assert reviews(container) == []


def test_an_email_in_traits_links_the_profile_to_the_crm_contact(container: Container, web: int) -> None:
    contact = _contact(container)
    ingest(container, event(web, "track", name="Viewed", anonymous_id="a-1",
                            context={"traits": {"email": " ANA@example.com "}}))
    pid = profile_id_of(container, "anonymous_id", "a-1")
    assert pid is not None
    assert profile(container, pid).contact_id == contact.id
    assert ("contact_id", str(contact.id)) in identities(container, pid)


def test_a_lead_is_linked_when_no_contact_holds_the_phone(container: Container, web: int) -> None:
    with container.uow() as uow:
        lead = container.records.create(uow, SYSTEM, "leads",
                                        {"last_name": "Chen", "phone": "+8613800138000"})
        uow.commit()
    ingest(container, event(web, "identify", user_id="u-7", traits={"phone": "138 0013 8000"}))
    pid = profile_id_of(container, "user_id", "u-7")
    assert pid is not None
    assert profile(container, pid).lead_id == lead.id
    assert ("phone", "+8613800138000") in identities(container, pid)


@pytest.mark.parametrize("junk", ["null", "undefined", "anonymous", "0", "none", "n/a",
                                  "unknown", "00000000-0000-0000-0000-000000000000", " NULL "])
def test_junk_values_never_become_identifiers(container: Container, web: int, junk: str) -> None:
    assert is_junk(junk)
    ingest(container,
           event(web, "identify", user_id=junk, anonymous_id="a-1", traits={"email": "test@test.com"}),
           event(web, "identify", user_id=junk, anonymous_id="a-2", traits={"email": "test@test.com"}))
    first, second = profile_id_of(container, "anonymous_id", "a-1"), profile_id_of(container, "anonymous_id", "a-2")
    assert first is not None
    assert second is not None
    assert first != second
    assert profile_id_of(container, "user_id", junk.strip()) is None
    assert profile_id_of(container, "email", "test@test.com") is None


def test_a_device_fingerprint_stops_linking_once_seen_with_more_profiles_than_the_limit(
    container: Container, web: int
) -> None:
    limit = container.settings.identity_fingerprint_max_profiles  # 3
    for n in range(limit + 3):
        ingest(container, event(web, "page", anonymous_id=f"visitor-{n}", fingerprint="kiosk"))
    owner = profile_id_of(container, "fingerprint", "kiosk")
    linked = [n for n in range(limit + 3)
              if profile_id_of(container, "anonymous_id", f"visitor-{n}") == owner]
    # the first visitor plus `limit` more were linked through the device; then it is shared
    assert linked == list(range(limit + 1))
    later = {profile_id_of(container, "anonymous_id", f"visitor-{n}") for n in range(limit + 1, limit + 3)}
    assert owner not in later
    assert len(later) == 2


def test_derived_fingerprints_are_not_identifiers(container: Container, web: int) -> None:
    ingest(container, event(web, "page", anonymous_id="a-1", fingerprint="office", fingerprint_derived=True),
           event(web, "page", anonymous_id="a-2", fingerprint="office", fingerprint_derived=True))
    assert profile_id_of(container, "anonymous_id", "a-1") != profile_id_of(container, "anonymous_id", "a-2")
    assert profile_id_of(container, "fingerprint", "office") is None


def test_two_profiles_with_different_user_ids_are_flagged_for_review_not_merged(
    container: Container, web: int
) -> None:
    ingest(container, event(web, "identify", user_id="u-1", traits={"email": "ana@example.com"}))
    ingest(container, event(web, "identify", user_id="u-2", traits={"phone": "+8613800138000"}))
    bridging = event(web, "identify", user_id="u-2",
                     traits={"email": "ana@example.com", "phone": "+8613800138000"})
    ingest(container, bridging)

    first, second = profile_id_of(container, "user_id", "u-1"), profile_id_of(container, "user_id", "u-2")
    assert first != second
    assert merges(container) == []
    [review] = reviews(container)
    assert {review.profile_a_id, review.profile_b_id} == {first, second}
    assert (review.identifier_kind, review.event_id, review.status) == ("email", bridging.id, "open")
    assert stored_event(container, bridging.id).profile_id == second  # the event's own user


def test_a_new_user_id_on_a_profile_holding_another_gets_its_own_profile(
    container: Container, web: int
) -> None:
    ingest(container, event(web, "identify", user_id="u-1", anonymous_id="shared-browser"))
    ingest(container, event(web, "identify", user_id="u-2", anonymous_id="shared-browser"))
    first, second = profile_id_of(container, "user_id", "u-1"), profile_id_of(container, "user_id", "u-2")
    assert first is not None
    assert second is not None
    assert first != second
    assert len(reviews(container)) == 1


def test_a_redelivered_batch_changes_nothing(container: Container, web: int) -> None:
    from tests.hub.profile_support import process, store

    ids = store(container, event(web, "page", anonymous_id="a-1", session_id="s-1"),
                event(web, "track", name="Order Completed", anonymous_id="a-1",
                      properties={"revenue": "19.90"}))
    first = process(container, ids)
    again = process(container, ids)
    pid = profile_id_of(container, "anonymous_id", "a-1")
    assert pid is not None
    counters = profile(container, pid).counters
    assert (first.processed, again.processed, again.skipped) == (2, 0, 2)
    assert counters["events"] == {"page": 1, "track": 1}
    assert (counters["orders"], counters["revenue"], counters["sessions"]) == (1, "19.90", 1)


def test_events_of_a_person_who_withdrew_analytics_consent_stay_out_of_the_profile(
    container: Container, web: int
) -> None:
    contact = _contact(container)
    ingest(container, event(web, "identify", user_id="u-1", traits={"email": "ana@example.com"}))
    pid = profile_id_of(container, "user_id", "u-1")
    assert pid is not None
    with container.uow() as uow:
        consent.record(uow.session, container.settings.secret_key, None, f"contacts:{contact.id}",
                       "analytics", "withdrawn", "consent", "crm_ui", None, None)
        uow.commit()
    before = profile(container, pid).counters

    late = event(web, "page", user_id="u-1", anonymous_id="a-new")
    outcome = ingest(container, late)

    assert outcome.kept_out == 1
    assert profile(container, pid).counters == before
    kept = stored_event(container, late.id)
    assert kept.processed_at is not None
    assert kept.profile_id is None
    assert profile_id_of(container, "anonymous_id", "a-new") is None


def _last_seen(container: Container, kind: str, value: str) -> datetime:
    with container.session_factory() as session:
        found = session.scalar(select(Identity.last_seen).where(Identity.kind == kind,
                                                                Identity.value == value))
    assert found is not None
    return found


def test_an_identitys_last_seen_follows_its_newest_event_in_hourly_steps(
    container: Container, web: int
) -> None:
    ingest(container, event(web, "page", anonymous_id="a-5", at=T0),
           event(web, "page", anonymous_id="a-5", at=T0 + timedelta(minutes=20)))
    assert _last_seen(container, "anonymous_id", "a-5") == T0 + timedelta(minutes=20)

    ingest(container, event(web, "page", anonymous_id="a-5", at=T0 + timedelta(minutes=50)))
    assert _last_seen(container, "anonymous_id", "a-5") == T0 + timedelta(minutes=20)  # < 1 h on

    ingest(container, event(web, "page", anonymous_id="a-5", at=T0 + timedelta(hours=3)))
    assert _last_seen(container, "anonymous_id", "a-5") == T0 + timedelta(hours=3)

    ingest(container, event(web, "page", anonymous_id="a-5", at=T0 - timedelta(days=1)))
    assert _last_seen(container, "anonymous_id", "a-5") == T0 + timedelta(hours=3)  # late event


def _consent_event(web: int, purpose: str, status: str, **extra: Any) -> HubEvent:
    return event(web, "track", name="Consent Updated", user_id="u-1",
                 properties={"purpose": purpose, "status": status, **extra})


def _ledger(container: Container, subject: str) -> list[tuple[str, str, str]]:
    with container.session_factory() as session:
        return [(e.purpose, e.status, e.source)
                for e in consent.history(session, subject).items]


def test_a_withdrawal_from_the_web_sdk_reaches_the_consent_ledger_once(
    container: Container, web: int
) -> None:
    contact = _contact(container)
    ingest(container, event(web, "identify", user_id="u-1", traits={"email": "ana@example.com"}))
    subject = f"contacts:{contact.id}"

    ingest(container, _consent_event(web, "analytics", "withdrawn", evidence="banner v3"))
    ingest(container, _consent_event(web, "analytics", "withdrawn"))  # clicked twice

    assert _ledger(container, subject) == [("analytics", "withdrawn", "web_sdk")]
    with container.session_factory() as session:
        entry = consent.history(session, subject).items[0]
    assert entry.evidence is not None
    assert "banner v3" in entry.evidence
    # and from then on the person's events stay out of the profile
    assert ingest(container, event(web, "page", user_id="u-1")).kept_out == 1


def test_a_grant_from_the_web_sdk_is_not_recorded_a_public_write_key_proves_nothing(
    container: Container, web: int
) -> None:
    contact = _contact(container)
    ingest(container, event(web, "identify", user_id="u-1", traits={"email": "ana@example.com"}))

    ingest(container, _consent_event(web, "marketing_email", "granted"),
           _consent_event(web, "no_such_purpose", "withdrawn"))

    assert _ledger(container, f"contacts:{contact.id}") == []


def test_a_withdrawal_of_a_visitor_not_linked_to_a_person_records_nothing(
    container: Container, web: int
) -> None:
    outcome = ingest(container, _consent_event(web, "analytics", "withdrawn"))
    assert outcome.processed == 1
    with container.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(ConsentRecord)) == 0


def test_an_email_of_a_contact_already_linked_by_phone_joins_that_profile(
    container: Container, web: int
) -> None:
    contact = _contact(container, mobile="+86 139 0013 9000")
    ingest(container, event(web, "identify", user_id="u-1", traits={"phone": "13900139000"}))
    by_phone = profile_id_of(container, "contact_id", str(contact.id))
    assert by_phone is not None

    # a later batch (another device, another partition) brings only her e-mail: the stored
    # contact_id identity is found and joined, not inserted a second time
    outcome = ingest(container, event(web, "page", anonymous_id="a-tablet",
                                      context={"traits": {"email": "ana@example.com"}}))

    assert outcome.processed == 1
    assert profile_id_of(container, "email", "ana@example.com") == by_phone
    assert profile_id_of(container, "anonymous_id", "a-tablet") == by_phone
