"""Full-text search over names, emails, phones and notes, including Chinese names."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def people(client: TestClient) -> None:
    for body in (
        {"first_name": "伟", "last_name": "王", "phone": "+86 139 1234 5678",
         "notes": "Met at the Hannover Messe booth"},
        {"first_name": "芳", "last_name": "李", "email": "li.fang@example.com"},
        {"first_name": "伟明", "last_name": "王"},
        {"first_name": "Wei", "last_name": "Wang", "email": "wei.wang@example.org",
         "mobile": "+49 30 123456"},
        {"first_name": "Ada", "last_name": "Lovelace", "notes": "Prefers e-mail; 100% on time"},
    ):
        assert client.post("/api/v1/contacts", json=body).status_code == 201


def titles(client: TestClient, q: str, **params: str) -> set[str]:
    answer = client.get("/api/v1/contacts", params={"q": q, **params})
    assert answer.status_code == 200, (q, answer.text)
    return {c["title"] for c in answer.json()["items"]}


def test_chinese_two_character_names(client: TestClient, people: None) -> None:
    assert titles(client, "王伟") == {"王伟", "王伟明"}
    assert titles(client, "李芳") == {"李芳"}
    assert titles(client, "伟王") == {"王伟"}  # given name first, as forms often store it
    assert titles(client, "芳") == {"李芳"}
    assert titles(client, "王伟明") == {"王伟明"}


def test_latin_names_match_by_word_and_prefix(client: TestClient, people: None) -> None:
    assert titles(client, "wang") == {"Wei Wang"}
    assert titles(client, "Wan") == {"Wei Wang"}
    assert titles(client, "lovelace ada") == {"Ada Lovelace"}
    assert titles(client, "LOVELACE") == {"Ada Lovelace"}


def test_emails_match_whole_or_in_part(client: TestClient, people: None) -> None:
    assert titles(client, "li.fang@example.com") == {"李芳"}
    assert titles(client, "li.fang") == {"李芳"}
    assert titles(client, "example.org") == {"Wei Wang"}


def test_phones_match_in_any_common_format(client: TestClient, people: None) -> None:
    for q in ("+8613912345678", "+86 139 1234 5678", "13912345678", "139 1234 5678", "1391234"):
        assert titles(client, q) == {"王伟"}, q
    assert titles(client, "+4930123456") == {"Wei Wang"}


def test_notes_are_searched(client: TestClient, people: None) -> None:
    assert titles(client, "Hannover") == {"王伟"}
    assert titles(client, "messe hannover") == {"王伟"}
    assert titles(client, "e-mail") == {"Ada Lovelace"}
    assert titles(client, "王 Hannover") == {"王伟"}


def test_query_syntax_characters_are_plain_text(client: TestClient, people: None) -> None:
    for q in ('"', "*", "(", "'", "a%b", "AND NOT", "NEAR(", "^", "-", ":", "\\"):
        answer = client.get("/api/v1/contacts", params={"q": q})
        assert answer.status_code == 200, (q, answer.text)
    assert titles(client, "100%") == {"Ada Lovelace"}


def test_search_combines_with_filters(client: TestClient, people: None) -> None:
    assert titles(client, "王", filter="first_name:eq:伟") == {"王伟"}
    # a query with nothing to search for matches nothing, with or without filters
    assert titles(client, "@") == set()
    assert titles(client, "@", filter="last_name:eq:王") == set()


def test_the_index_follows_updates_and_deletes(client: TestClient) -> None:
    contact = client.post("/api/v1/contacts", json={
        "last_name": "Sørensen", "email": "old.address@example.com"}).json()
    client.patch(f"/api/v1/contacts/{contact['id']}", json={"email": "new.address@example.com"})
    assert titles(client, "old.address") == set()
    assert titles(client, "new.address") == {"Sørensen"}
    client.delete(f"/api/v1/contacts/{contact['id']}")
    assert titles(client, "new.address") == set()


def test_custom_text_values_are_searchable(client: TestClient) -> None:
    client.post("/api/v1/custom-fields", json={
        "object_type": "accounts", "name": "wechat_id", "label": "WeChat", "field_type": "text"})
    client.post("/api/v1/accounts", json={"name": "Example Tea", "custom": {"wechat_id": "teahouse88"}})
    found = client.get("/api/v1/accounts", params={"q": "teahouse88"}).json()
    assert [a["name"] for a in found["items"]] == ["Example Tea"]


def test_search_everything_at_once(client: TestClient, people: None) -> None:
    client.post("/api/v1/accounts", json={"name": "王氏贸易", "description": "Trading house"})
    answer = client.get("/api/v1/search", params={"q": "王"})
    assert answer.status_code == 200
    results = answer.json()["results"]
    assert set(results) == {"contacts", "accounts"}
    assert {i["title"] for i in results["contacts"]["items"]} == {"王伟", "王伟明"}
    assert [i["title"] for i in results["accounts"]["items"]] == ["王氏贸易"]
    assert client.get("/api/v1/search", params={"q": ""}).status_code == 422


def test_objects_without_an_index_refuse_search(client: TestClient) -> None:
    answer = client.get("/api/v1/regions", params={"q": "north"})
    assert answer.status_code == 422
    assert answer.json()["detail"] == "Regions cannot be searched"
