"""Revealing masked values: allowed roles only, trusted networks only, audited, rate-limited."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from rapport.bootstrap import Container
from rapport.trust.models import AuditEntry
from rapport.trust.pseudonym import target_ref
from tests.trust.conftest import Org


def reveal(client: TestClient, object_name: str, record_id: int, *fields: str):  # type: ignore[no-untyped-def]
    return client.post(f"/api/v1/{object_name}/{record_id}/reveal", json={"fields": list(fields)})


def test_a_rep_reveals_their_own_contacts_phone_and_the_reveal_is_audited(
    org: Org, as_user: Callable[[str], TestClient], container: Container
) -> None:
    contact = org.records["contacts"]["rep_a"]
    rep = as_user("rep_a")
    shown = rep.get(f"/api/v1/contacts/{contact}").json()
    assert shown["phone"] == "138****0001"
    assert "phone" in shown["_masked"]

    answer = reveal(rep, "contacts", contact, "phone", "custom.national_id")

    assert answer.status_code == 200, answer.text
    assert answer.json()["values"] == {"phone": org.planted["rep_a"]["phone"],
                                       "custom.national_id": org.planted["rep_a"]["national_id"]}
    with container.session_factory() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "reveal")).one()
    assert entry.actor == f"user:{org.users['rep_a']}"
    assert entry.target == target_ref(container.settings.secret_key, "contacts", contact)
    assert entry.details == {"object": "contacts", "fields": ["custom.national_id", "phone"],
                             "count": 2}
    assert org.planted["rep_a"]["phone"] not in str(entry.details)


def test_roles_without_reveal_are_refused(org: Org, as_user: Callable[[str], TestClient]) -> None:
    contact = org.records["contacts"]["rep_a"]
    assert reveal(as_user("marketer"), "contacts", contact, "email").status_code == 403
    assert reveal(as_user("auditor"), "contacts", contact, "email").status_code == 403


def test_a_record_outside_the_scope_cannot_be_revealed(
    org: Org, as_user: Callable[[str], TestClient]
) -> None:
    answer = reveal(as_user("rep_a"), "contacts", org.records["contacts"]["rep_d"], "phone")
    assert answer.status_code == 404
    assert org.planted["rep_d"]["phone"] not in answer.text


def test_unknown_fields_are_named_in_the_error(org: Org, as_user: Callable[[str], TestClient]) -> None:
    answer = reveal(as_user("rep_a"), "contacts", org.records["contacts"]["rep_a"], "shoe_size")
    assert answer.status_code == 422
    assert "shoe_size" in answer.text


def test_reveals_are_rate_limited_per_user_per_hour(
    org: Org, as_user: Callable[[str], TestClient], container: Container
) -> None:
    container.settings.reveal_per_hour = 3
    rep = as_user("rep_a")
    contact = org.records["contacts"]["rep_a"]
    assert reveal(rep, "contacts", contact, "phone", "email").status_code == 200
    assert reveal(rep, "contacts", contact, "phone").status_code == 200
    refused = reveal(rep, "contacts", contact, "email")
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) > 0
    # another user has their own allowance
    assert reveal(as_user("manager"), "contacts", contact, "phone").status_code == 200


@pytest.fixture
def from_network(app: FastAPI, org: Org) -> Iterator[Callable[[str, str], TestClient]]:
    clients: list[TestClient] = []

    def make(user: str, address: str) -> TestClient:
        client = TestClient(app, raise_server_exceptions=False, client=(address, 40000))
        client.__enter__()
        client.headers["Authorization"] = f"Bearer {org.tokens[user]}"
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def test_outside_the_trusted_networks_everyone_gets_the_masked_view(
    org: Org, container: Container, from_network: Callable[[str, str], TestClient]
) -> None:
    container.settings.trusted_networks = ["10.0.0.0/8"]
    contact = org.records["contacts"]["rep_a"]
    phone = org.planted["rep_a"]["phone"]

    inside = from_network("integration", "10.1.2.3").get(f"/api/v1/contacts/{contact}")
    outside = from_network("integration", "203.0.113.9").get(f"/api/v1/contacts/{contact}")

    assert inside.json()["phone"] == phone
    assert outside.json()["phone"] == "138****0001"
    assert phone not in outside.text
    export = from_network("integration", "203.0.113.9").get("/api/v1/contacts/export")
    assert phone not in export.text
    refused = reveal(from_network("admin", "203.0.113.9"), "contacts", contact, "phone")
    assert refused.status_code == 403
    assert "trusted network" in refused.json()["detail"]
    assert reveal(from_network("admin", "10.9.9.9"), "contacts", contact, "phone").status_code == 200
