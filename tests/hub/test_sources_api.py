"""Sources through the API: the write key is shown once, rotates, and a disabled source's
key stops working; only holders of sources.manage may touch them."""

from __future__ import annotations

from fastapi.testclient import TestClient

from rapport.bootstrap import Container
from tests.hub.collector_support import basic, collector_fixture  # noqa: F401 - fixture

TRACK = {"userId": "u-1", "event": "Opened App", "messageId": "m-1"}


def test_creating_a_source_shows_its_write_key_once(client: TestClient) -> None:
    created = client.post("/api/v1/sources", json={"name": "iOS app", "channel": "app",
                                                  "mapping": {"note": "mobile"}})

    assert created.status_code == 201
    body = created.json()
    assert body["write_key"].startswith("rwk_")
    assert len(body["write_key"]) > 40
    assert body["write_key_prefix"] == body["write_key"][:12]
    assert body["channel"] == "app"
    assert body["enabled"] is True
    assert body["mapping"] == {"note": "mobile"}
    listed = client.get("/api/v1/sources").json()["items"]
    read = client.get(f"/api/v1/sources/{body['id']}").json()
    assert [s["name"] for s in listed] == ["iOS app"]
    assert body["write_key"] not in str(listed) + str(read)
    assert "write_key" not in read


def test_the_new_key_works_with_the_collector(client: TestClient, collector: TestClient) -> None:
    key = client.post("/api/v1/sources", json={"name": "Web", "channel": "web"}).json()["write_key"]

    assert collector.post("/v1/track", json=TRACK, headers=basic(key)).status_code == 200


def test_rotating_the_key_retires_the_old_one_at_once(client: TestClient,
                                                      collector: TestClient) -> None:
    source = client.post("/api/v1/sources", json={"name": "Web", "channel": "web"}).json()

    rotated = client.post(f"/api/v1/sources/{source['id']}/rotate-key").json()

    assert rotated["write_key"] != source["write_key"]
    assert collector.post("/v1/track", json=TRACK, headers=basic(source["write_key"])).status_code == 401
    assert collector.post("/v1/track", json=TRACK, headers=basic(rotated["write_key"])).status_code == 200


def test_a_disabled_source_is_refused_with_403_until_enabled(client: TestClient,
                                                             collector: TestClient) -> None:
    source = client.post("/api/v1/sources", json={"name": "Kiosk", "channel": "pos"}).json()

    off = client.patch(f"/api/v1/sources/{source['id']}", json={"enabled": False})
    refused = collector.post("/v1/track", json=TRACK, headers=basic(source["write_key"]))
    client.patch(f"/api/v1/sources/{source['id']}", json={"enabled": True, "mapping": {"a": 1}})
    accepted = collector.post("/v1/track", json=TRACK, headers=basic(source["write_key"]))

    assert off.json()["enabled"] is False
    assert refused.status_code == 403
    assert "disabled" in refused.json()["detail"]
    assert accepted.status_code == 200
    assert client.get(f"/api/v1/sources/{source['id']}").json()["mapping"] == {"a": 1}


def test_bad_input_says_what_to_fix(client: TestClient) -> None:
    client.post("/api/v1/sources", json={"name": "Web", "channel": "web"})

    wrong_channel = client.post("/api/v1/sources", json={"name": "X", "channel": "fax"})
    taken = client.post("/api/v1/sources", json={"name": "Web", "channel": "web"})
    missing = client.get("/api/v1/sources/999")

    assert wrong_channel.status_code == 422
    assert "web, app, pos, iot, api, import" in wrong_channel.json()["detail"]
    assert taken.status_code == 409
    assert missing.status_code == 404


def test_source_changes_are_audited(client: TestClient, container: Container) -> None:
    from sqlalchemy import select

    from rapport.trust.models import AuditEntry

    source = client.post("/api/v1/sources", json={"name": "Web", "channel": "web"}).json()
    client.post(f"/api/v1/sources/{source['id']}/rotate-key")

    with container.session_factory() as session:
        details = [e.details for e in session.scalars(
            select(AuditEntry).where(AuditEntry.target == f"sources:{source['id']}"))]
    assert [d["source"] for d in details] == ["created", "key_rotated"]
    assert source["write_key"] not in str(details)


def test_a_rep_cannot_see_or_create_sources(rep_client: TestClient) -> None:
    assert rep_client.get("/api/v1/sources").status_code == 403
    assert rep_client.post("/api/v1/sources", json={"name": "W", "channel": "web"}).status_code == 403
