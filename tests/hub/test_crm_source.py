"""The CRM as a source: contact and lead changes from the outbox become events of the
built-in ``crm`` source, with the identifiers that link the record and the profile."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from rapport.bootstrap import Container
from rapport.events.crm_source import SOURCE_NAME, CrmEventSource, attach
from rapport.events.hub_models import HubEvent, Source


def _crm_events(container: Container) -> list[HubEvent]:
    with container.session_factory() as session:
        return list(session.scalars(
            select(HubEvent).join(Source, Source.id == HubEvent.source_id)
            .where(Source.name == SOURCE_NAME).order_by(HubEvent.id)))


def _drained(container: Container, crm: CrmEventSource) -> list[HubEvent]:
    container.relay.drain()
    assert crm.flush(10), "the CRM source did not finish"
    return _crm_events(container)


def test_creating_a_contact_through_the_api_stores_a_crm_event(
        client: TestClient, container: Container) -> None:
    crm = attach(container)

    created = client.post("/api/v1/contacts", json={
        "first_name": "Ana", "last_name": "Lima", "email": "Ana.Lima@Example.com",
        "phone": "+8613912345678"})
    assert created.status_code == 201, created.text
    contact_id = created.json()["id"]
    events = _drained(container, crm)

    assert [(e.type, e.name) for e in events] == [("track", "Contact Created"),
                                                  ("identify", None)]
    track, identify = events
    assert track.channel == "crm"
    assert identify.channel == "crm"
    assert track.anonymous_id == f"crm-contact-{contact_id}"
    assert track.user_id is None
    assert track.properties["record_id"] == contact_id
    assert "email" in track.properties["changed_fields"]
    assert "Ana.Lima" not in str(track.properties)  # names of fields only, not their values
    assert track.context["traits"] == {"contact_id": str(contact_id),
                                       "email": "ana.lima@example.com",
                                       "phone": "+8613912345678"}
    assert identify.traits == {"contact_id": str(contact_id), "email": "ana.lima@example.com",
                               "phone": "+8613912345678", "firstName": "Ana",
                               "lastName": "Lima", "name": "Ana Lima"}
    with container.session_factory() as session:
        source = session.scalars(select(Source).where(Source.name == SOURCE_NAME)).one()
    assert source.channel == "crm"


def test_updates_and_deletes_of_leads_follow_and_a_redelivery_is_stored_once(
        client: TestClient, container: Container) -> None:
    crm = attach(container)
    lead = client.post("/api/v1/leads", json={"last_name": "Chen", "company": "Globex",
                                              "email": "chen@example.com"}).json()
    _drained(container, crm)
    version = client.get(f"/api/v1/leads/{lead['id']}").json()["version"]

    updated = client.patch(f"/api/v1/leads/{lead['id']}", json={"status": "working"},
                           headers={"If-Match": f'"{version}"'})
    assert updated.status_code == 200, updated.text
    assert client.delete(f"/api/v1/leads/{lead['id']}").status_code in (200, 204)
    events = _drained(container, crm)
    crm.catch_up()  # the start-up catch-up delivers every message again: no-ops
    again = _crm_events(container)

    names = [e.name for e in events if e.type == "track"]
    assert names == ["Lead Created", "Lead Updated", "Lead Deleted"]
    update = next(e for e in events if e.name == "Lead Updated")
    assert update.properties["changed_fields"] == ["status"]
    assert update.context["traits"]["lead_id"] == str(lead["id"])
    assert [e.id for e in again] == [e.id for e in events]
