"""A small organisation for access tests: two regions, three teams, a user per built-in role
and four reps, each owning an account, a contact, a lead, a deal, a ticket, an activity and a
task with sensitive values planted in them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from rapport.bootstrap import Container
from rapport.crm.custom_objects import define_field
from rapport.trust.actor import SYSTEM
from rapport.trust.auth import create_api_token, create_user
from rapport.trust.models import User
from rapport.trust.roles import set_user_roles
from tests.fixtures.api import PASSWORD

# user key -> (roles, team key, region key)
PEOPLE: dict[str, tuple[list[str], str | None, str | None]] = {
    "admin": (["admin"], None, None),
    "manager": (["sales_manager"], "t1", "north"),
    "rep_a": (["sales_rep"], "t1", "north"),
    "rep_b": (["sales_rep"], "t1", "north"),
    "rep_c": (["sales_rep"], "t2", "north"),
    "rep_d": (["sales_rep"], "t3", "south"),
    "agent": (["service_agent"], "t3", "south"),
    "marketer": (["marketer"], None, "north"),
    "auditor": (["auditor"], None, None),
    "privacy": (["privacy_officer"], None, None),
    "integration": (["integration"], None, None),
    "nobody": ([], "t1", "north"),
}
OWNERS = ("rep_a", "rep_b", "rep_c", "rep_d")


@dataclass
class Org:
    users: dict[str, int] = field(default_factory=dict)
    teams: dict[str, int] = field(default_factory=dict)
    regions: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    # object -> owner key -> record id
    records: dict[str, dict[str, int]] = field(default_factory=dict)
    # owner key -> the clear values planted in their contact
    planted: dict[str, dict[str, str]] = field(default_factory=dict)
    team_of: dict[str, str | None] = field(default_factory=dict)
    region_of: dict[str, str | None] = field(default_factory=dict)

    def owner_of(self, object_name: str, record_id: int) -> str:
        return next(k for k, v in self.records[object_name].items() if v == record_id)


def _build(container: Container) -> Org:
    org = Org()
    records = container.records
    secret = container.settings.secret_key
    with container.uow() as uow:
        for key in ("north", "south"):
            org.regions[key] = records.create(uow, SYSTEM, "regions", {"name": key.title(),
                                                                       "code": key[:2]}).id
        for key, region in (("t1", "north"), ("t2", "north"), ("t3", "south")):
            org.teams[key] = records.create(uow, SYSTEM, "teams", {
                "name": key.upper(), "region_id": org.regions[region]}).id
        for key, (roles, team, region) in PEOPLE.items():
            user = create_user(uow.session, f"{key}@org.example.com", PASSWORD, name=key,
                               is_admin=False)
            org.users[key] = user.user_id
            org.team_of[key], org.region_of[key] = team, region
            uow.session.execute(update(User).where(User.id == user.user_id).values(
                team_id=org.teams.get(team or ""), region_id=org.regions.get(region or "")))
            set_user_roles(uow.session, secret, None, user.user_id, roles)
            org.tokens[key] = create_api_token(uow.session, f"{key}@org.example.com")
        define_field(uow, SYSTEM, {"object_type": "contacts", "name": "national_id",
                                   "label": "National ID", "field_type": "text",
                                   "category": "identity.national_id"})
        define_field(uow, SYSTEM, {"object_type": "contacts", "name": "allergy",
                                   "label": "Allergy", "field_type": "text",
                                   "category": "health.condition"})
        pipeline = records.create(uow, SYSTEM, "pipelines", {"name": "Sales", "is_default": True})
        records.create(uow, SYSTEM, "pipeline_stages", {
            "pipeline_id": pipeline.id, "name": "Qualify", "position": 1, "probability": 10})
        for n, owner in enumerate(OWNERS, start=1):
            uid, region = org.users[owner], org.regions[org.region_of[owner] or "north"]
            tier = "A" if owner == "rep_a" else "B"
            ids = org.records
            ids.setdefault("accounts", {})[owner] = records.create(uow, SYSTEM, "accounts", {
                "name": f"Account of {owner}", "tier": tier, "owner_id": uid,
                "region_id": region, "annual_revenue": "1000000.00"}).id
            planted = {"phone": f"+86138000000{n:02d}", "email": f"person{n}@example.com",
                       "national_id": f"11010119900307{n:04d}", "allergy": f"penicillin-{n}",
                       "last_name": f"Zqmarker{owner.title().replace('_', '')}"}
            org.planted[owner] = planted
            ids.setdefault("contacts", {})[owner] = records.create(uow, SYSTEM, "contacts", {
                "last_name": planted["last_name"], "first_name": "Pat",
                "phone": planted["phone"], "email": planted["email"], "owner_id": uid,
                "region_id": region, "account_id": ids["accounts"][owner],
                "custom": {"national_id": planted["national_id"], "allergy": planted["allergy"]},
            }).id
            ids.setdefault("leads", {})[owner] = records.create(uow, SYSTEM, "leads", {
                "last_name": f"Lead of {owner}", "company": "Lead Co", "owner_id": uid,
                "region_id": region, "email": f"lead{n}@example.com"}).id
            ids.setdefault("opportunities", {})[owner] = records.create(uow, SYSTEM, "opportunities", {
                "name": f"Deal of {owner}", "account_id": ids["accounts"][owner], "owner_id": uid,
                "region_id": region, "amount": "5000.00"}).id
            ids.setdefault("tickets", {})[owner] = records.create(uow, SYSTEM, "tickets", {
                "subject": f"Ticket of {owner}", "contact_id": ids["contacts"][owner],
                "assignee_id": uid}).id
            ids.setdefault("activities", {})[owner] = records.create(uow, SYSTEM, "activities", {
                "type": "call", "subject": f"Call by {owner}", "owner_id": uid,
                "contact_id": ids["contacts"][owner], "occurred_at": "2026-11-01T09:00:00Z"}).id
            ids.setdefault("tasks", {})[owner] = records.create(uow, SYSTEM, "tasks", {
                "title": f"Task of {owner}", "assignee_id": uid}).id
        uow.commit()
    return org


@pytest.fixture
def org(container: Container) -> Org:
    return _build(container)


@pytest.fixture
def as_user(app: FastAPI, org: Org) -> Iterator[Callable[[str], TestClient]]:
    """``as_user("rep_a")``: an API client holding that user's token."""
    clients: list[TestClient] = []

    def make(key: str) -> TestClient:
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        client.headers["Authorization"] = f"Bearer {org.tokens[key]}"
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def ids_of(answer: Any) -> set[int]:
    assert answer.status_code == 200, answer.text
    return {item["id"] for item in answer.json()["items"]}
