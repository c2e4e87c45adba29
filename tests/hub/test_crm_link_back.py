"""CRM records created or changed after the person was first seen link back to their profile.

The whole path runs as in the server: the website's calls through the collector, CRM writes
through the record service, the outbox relay, the CRM source and the hub processors.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from rapport.bootstrap import Container
from rapport.crm.leads import convert_lead
from rapport.crm.service import SYSTEM
from rapport.errors import ValidationFailed
from rapport.events import collector, sources
from rapport.events.crm_source import CrmEventSource, attach
from rapport.events.processors import EmbeddedProcessors
from rapport.identity.models import Identity
from rapport.profiles.models import Profile
from tests.hub.profile_support import live_profiles, reviews

EMAIL = "ana.lima@example.com"
MOBILE = "+8613800138000"


class Hub:
    """The website source, the CRM source and the processors of one test's container."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self.crm: CrmEventSource = attach(container)
        self.processors = EmbeddedProcessors(container.session_factory, container.settings)
        with container.uow() as uow:
            self.web = sources.create_source(uow.session, "Website", "web").source
            uow.commit()

    def visit(self, **message: Any) -> collector.IngestResult:
        """One identify call of the website through the collector, then processing."""
        with self.container.session_factory() as session:
            result = collector.ingest(session, self.container.settings, self.web,
                                      [{"type": "identify", **message}])
            session.commit()
        self.settle()
        return result

    def settle(self) -> None:
        """Relay the outbox, let the CRM source store its events, process everything."""
        self.container.relay.drain()
        assert self.crm.flush(10), "the CRM source did not finish"
        self.processors.drain()

    def create(self, object_name: str, values: dict[str, Any]) -> int:
        with self.container.uow() as uow:
            record_id = self.container.records.create(uow, SYSTEM, object_name, values).id
            uow.commit()
        self.settle()
        return record_id

    def update(self, object_name: str, record_id: int, values: dict[str, Any]) -> None:
        with self.container.uow() as uow:
            self.container.records.update(uow, SYSTEM, object_name, record_id, values)
            uow.commit()
        self.settle()

    def profile_of(self, kind: str, value: str) -> Profile:
        """The live profile holding an identifier (following merges)."""
        with self.container.session_factory() as session:
            found = session.get(Profile, session.scalar(select(Identity.profile_id).where(
                Identity.kind == kind, Identity.value == value)))
            while found is not None and found.merged_into_id is not None:
                found = session.get(Profile, found.merged_into_id)
            assert found is not None, f"no profile holds {kind}:{value}"
            return found


@pytest.fixture
def hub(container: Container) -> Hub:
    return Hub(container)


def test_a_contact_created_after_the_visitor_identified_is_linked_to_their_profile(hub: Hub) -> None:
    hub.visit(userId="u-ana", anonymousId="a-1", traits={"email": "Ana.Lima@Example.com"})
    visitor = hub.profile_of("user_id", "u-ana")
    assert visitor.contact_id is None

    contact_id = hub.create("contacts", {"first_name": "Ana", "last_name": "Lima", "email": EMAIL})

    linked = hub.profile_of("user_id", "u-ana")
    assert linked.id == visitor.id
    assert linked.contact_id == contact_id
    assert hub.profile_of("contact_id", str(contact_id)).id == visitor.id
    assert len(live_profiles(hub.container)) == 1  # the CRM's events joined it, no second one
    assert reviews(hub.container) == []


def test_a_contact_holding_the_visitors_number_as_mobile_is_linked(hub: Hub) -> None:
    hub.visit(anonymousId="a-1", traits={"phone": "138 0013 8000"})

    contact_id = hub.create("contacts", {"last_name": "Lima", "mobile": MOBILE})

    assert hub.profile_of("anonymous_id", "a-1").contact_id == contact_id


def test_a_contact_with_phone_and_mobile_is_linked_by_the_mobile_and_keeps_its_phone_trait(
    hub: Hub,
) -> None:
    hub.visit(anonymousId="a-1", traits={"phone": MOBILE})

    contact_id = hub.create("contacts", {"last_name": "Lima", "phone": "+862161234567",
                                         "mobile": MOBILE})

    linked = hub.profile_of("anonymous_id", "a-1")
    assert linked.contact_id == contact_id
    assert linked.traits["phone"]["value"] == "+862161234567"
    assert linked.traits["mobile"]["value"] == MOBILE


def test_a_contacts_email_changed_to_one_a_profile_holds_links_that_profile(hub: Hub) -> None:
    contact_id = hub.create("contacts", {"last_name": "Lima", "email": "old@example.com"})
    hub.visit(userId="u-ana", traits={"email": EMAIL})
    assert hub.profile_of("user_id", "u-ana").contact_id is None

    hub.update("contacts", contact_id, {"email": EMAIL})

    linked = hub.profile_of("user_id", "u-ana")
    assert linked.contact_id == contact_id
    # the contact's own profile (from its earlier CRM events) was merged with the visitor's
    assert hub.profile_of("email", "old@example.com").id == linked.id
    assert len(live_profiles(hub.container)) == 1


def test_converting_a_lead_links_the_new_contact_to_the_leads_profile(hub: Hub) -> None:
    hub.visit(userId="u-ana", traits={"email": EMAIL})
    lead_id = hub.create("leads", {"last_name": "Lima", "company": "Acme", "email": EMAIL})
    assert hub.profile_of("user_id", "u-ana").lead_id == lead_id

    with hub.container.uow() as uow:
        converted = convert_lead(uow, SYSTEM, hub.container.records, lead_id,
                                 create_opportunity=False)
        uow.commit()
    hub.settle()

    linked = hub.profile_of("user_id", "u-ana")
    assert (linked.lead_id, linked.contact_id) == (lead_id, converted.contact_id)
    assert len(live_profiles(hub.container)) == 1


def test_a_converted_lead_without_email_or_phone_shares_a_profile_with_its_contact(hub: Hub) -> None:
    lead_id = hub.create("leads", {"last_name": "Lima", "company": "Acme"})

    with hub.container.uow() as uow:
        converted = convert_lead(uow, SYSTEM, hub.container.records, lead_id,
                                 create_opportunity=False)
        uow.commit()
    hub.settle()

    lead_profile = hub.profile_of("lead_id", str(lead_id))
    assert lead_profile.contact_id == converted.contact_id
    assert hub.profile_of("contact_id", str(converted.contact_id)).id == lead_profile.id


def test_two_contacts_are_never_merged_a_review_is_opened(hub: Hub) -> None:
    first = hub.create("contacts", {"last_name": "Lima", "email": EMAIL})
    second = hub.create("contacts", {"last_name": "Chen", "email": "chen@example.com"})

    hub.update("contacts", second, {"email": EMAIL})

    first_profile = hub.profile_of("contact_id", str(first))
    second_profile = hub.profile_of("contact_id", str(second))
    assert first_profile.id != second_profile.id
    assert (first_profile.contact_id, second_profile.contact_id) == (first, second)
    [review] = reviews(hub.container)
    assert {review.profile_a_id, review.profile_b_id} == {first_profile.id, second_profile.id}
    assert review.reason == "the profiles are linked to different CRM contacts"
    assert review.status == "open"


def test_a_new_contact_sharing_an_email_with_another_contacts_profile_gets_a_review(
    hub: Hub,
) -> None:
    hub.visit(userId="u-ana", traits={"email": EMAIL})
    first = hub.create("contacts", {"last_name": "Lima", "email": EMAIL})

    second = hub.create("contacts", {"last_name": "Lima-Chen", "email": EMAIL})

    assert hub.profile_of("user_id", "u-ana").contact_id == first
    assert hub.profile_of("contact_id", str(second)).id != hub.profile_of("user_id", "u-ana").id
    assert len(reviews(hub.container)) == 1


def test_an_erased_person_is_not_linked_again(hub: Hub, client: TestClient) -> None:
    hub.visit(userId="u-ana", traits={"email": EMAIL})
    contact_id = hub.create("contacts", {"last_name": "Lima", "email": EMAIL})
    assert hub.profile_of("user_id", "u-ana").contact_id == contact_id

    request = client.post("/api/v1/privacy/requests",
                          json={"kind": "erasure", "law": "gdpr", "email": EMAIL}).json()
    ran = client.post(f"/api/v1/privacy/requests/{request['id']}/run")
    assert ran.status_code == 200, ran.text
    hub.settle()
    late = hub.visit(userId="u-late", traits={"email": EMAIL})
    assert [o.code for o in late.outcomes] == ["suppressed"]  # the collector drops it
    with pytest.raises(ValidationFailed):  # the CRM refuses the erased e-mail
        hub.create("contacts", {"last_name": "Lima", "email": EMAIL})
    hub.crm.catch_up()  # a restart re-reads the CRM's recent changes
    hub.settle()

    with hub.container.session_factory() as session:
        assert session.scalars(select(Profile).where(Profile.contact_id == contact_id)).all() == []
        assert session.scalars(select(Identity).where(
            Identity.kind.in_(("email", "contact_id", "user_id")),
            Identity.value.in_((EMAIL, str(contact_id), "u-late", "u-ana")))).all() == []
