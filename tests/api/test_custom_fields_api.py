"""Custom fields declared at run time: validated on write, filterable, sortable, published."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

FIELD_TYPES = [
    "text", "number", "money", "date", "datetime", "boolean", "enum", "multi_enum", "email",
    "phone", "url", "reference",
]


def declare(client: TestClient, name: str, field_type: str, object_type: str = "contacts",
            **extra: Any) -> dict[str, Any]:
    body = {"object_type": object_type, "name": name, "label": name.replace("_", " ").title(),
            "field_type": field_type, **extra}
    if field_type in ("enum", "multi_enum"):
        body.setdefault("options", ["bronze", "silver", "gold"])
    if field_type == "reference":
        body.setdefault("reference_object", "accounts")
    answer = client.post("/api/v1/custom-fields", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def declare_one_of_each(client: TestClient) -> None:
    for field_type in FIELD_TYPES:
        declare(client, f"c_{field_type}", field_type)


def test_a_field_of_every_type_stores_normalised_values(client: TestClient) -> None:
    # given one custom field of every type on contacts
    declare_one_of_each(client)
    account = client.post("/api/v1/accounts", json={"name": "Example Optics"}).json()

    # when a contact is written with a valid value for each
    answer = client.post("/api/v1/contacts", json={"last_name": "Moreau", "custom": {
        "c_text": "  Prefers mornings ",
        "c_number": "7.5",
        "c_money": 1250.5,
        "c_date": "2026-03-01",
        "c_datetime": "2026-03-01T09:30:00+08:00",
        "c_boolean": True,
        "c_enum": "gold",
        "c_multi_enum": ["silver", "bronze", "silver"],
        "c_email": "Ｊane.Moreau＠Example.COM",
        "c_phone": "138 0013 8000",
        "c_url": "example.com/moreau",
        "c_reference": account["id"],
    }})

    # then each value is stored in its canonical form
    assert answer.status_code == 201, answer.text
    assert answer.json()["custom"] == {
        "c_text": "Prefers mornings",
        "c_number": 7.5,
        "c_money": 1250.5,
        "c_date": "2026-03-01",
        "c_datetime": "2026-03-01T01:30:00+00:00",
        "c_boolean": True,
        "c_enum": "gold",
        "c_multi_enum": ["bronze", "silver"],
        "c_email": "jane.moreau@example.com",
        "c_phone": "+8613800138000",
        "c_url": "https://example.com/moreau",
        "c_reference": account["id"],
    }


def test_a_bad_value_is_refused_with_a_422_naming_the_custom_field(client: TestClient) -> None:
    # given one custom field of every type on contacts
    declare_one_of_each(client)
    bad_values: list[tuple[str, Any]] = [
        ("c_text", {"nested": "object"}),
        ("c_text", "x" * 1001),
        ("c_text", "nul\u0000byte"),
        ("c_number", "seven"),
        ("c_number", True),
        ("c_number", 2**60),
        ("c_money", "NaN"),
        ("c_money", "-Infinity"),
        ("c_date", "01/03/2026"),
        ("c_date", "2026-02-30"),
        ("c_datetime", "2026-03-01T09:30:00"),
        ("c_datetime", 1767225600),
        ("c_boolean", "yes"),
        ("c_enum", "platinum"),
        ("c_enum", ["gold"]),
        ("c_multi_enum", "gold"),
        ("c_multi_enum", ["gold", "platinum"]),
        ("c_email", "not-an-email"),
        ("c_email", 42),
        ("c_phone", 13800138000),
        ("c_phone", "call me"),
        ("c_url", "not a url"),
        ("c_url", ["https://example.com"]),
        ("c_reference", 999_999),
        ("c_reference", 2**63),
        ("c_reference", "1"),
    ]
    for name, value in bad_values:
        # when a contact carries the bad value
        answer = client.post("/api/v1/contacts",
                             json={"last_name": "Moreau", "custom": {name: value}})
        # then the answer is a 422 that names custom.<field>
        assert answer.status_code == 422, (name, value, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in answer.json()["errors"]] == [f"custom.{name}"], (name, value)
    # and nothing was stored
    assert client.get("/api/v1/contacts").json()["count"] == 0


def test_an_undeclared_custom_field_is_refused(client: TestClient) -> None:
    declare(client, "budget", "money")
    answer = client.post("/api/v1/contacts", json={"last_name": "Ito", "custom": {"budgte": 5}})
    assert answer.status_code == 422
    error = answer.json()["errors"][0]
    assert error["field"] == "custom.budgte"
    assert "budget" in error["message"]  # the known fields are listed


def test_a_required_custom_field_must_be_present_and_cannot_be_cleared(
    client: TestClient,
) -> None:
    declare(client, "customer_number", "text", required=True)
    missing = client.post("/api/v1/contacts", json={"last_name": "Ito"})
    assert missing.status_code == 422
    assert missing.json()["errors"][0] == {
        "field": "custom.customer_number", "message": "this custom field is required",
        "code": "required",
    }
    contact = client.post("/api/v1/contacts",
                          json={"last_name": "Ito", "custom": {"customer_number": "C-1"}}).json()
    cleared = client.patch(f"/api/v1/contacts/{contact['id']}",
                           json={"custom": {"customer_number": None}})
    assert cleared.status_code == 422


def test_null_clears_an_optional_custom_value_and_other_values_stay(client: TestClient) -> None:
    declare(client, "nickname", "text")
    declare(client, "score", "number")
    contact = client.post("/api/v1/contacts", json={
        "last_name": "Ito", "custom": {"nickname": "Ken", "score": 3}}).json()
    updated = client.patch(f"/api/v1/contacts/{contact['id']}", json={"custom": {"nickname": None}})
    assert updated.status_code == 200, updated.text
    assert updated.json()["custom"] == {"score": 3.0}


def test_custom_fields_filter_with_operators(client: TestClient) -> None:
    # given contacts with custom values (and one without any)
    declare_one_of_each(client)
    account = client.post("/api/v1/accounts", json={"name": "Example Optics"}).json()
    rows = [
        ("Low", {"c_number": 3, "c_enum": "bronze", "c_multi_enum": ["bronze"],
                 "c_boolean": True, "c_date": "2026-01-10",
                 "c_datetime": "2026-01-10T08:00:00+08:00", "c_reference": account["id"]}),
        ("Mid", {"c_number": 7, "c_enum": "silver", "c_multi_enum": ["silver", "gold"],
                 "c_boolean": False, "c_date": "2026-02-10",
                 "c_datetime": "2026-01-10T03:00:00+00:00"}),
        ("High", {"c_number": 12.5, "c_enum": "gold", "c_multi_enum": ["gold"],
                  "c_date": "2026-03-10", "c_datetime": "2026-01-10T09:00:00-05:00"}),
        ("Blank", {}),
    ]
    for name, custom in rows:
        assert client.post("/api/v1/contacts",
                           json={"last_name": name, "custom": custom}).status_code == 201

    def names(*filters: str) -> set[str]:
        answer = client.get("/api/v1/contacts", params={"filter": list(filters)})
        assert answer.status_code == 200, answer.text
        return {c["last_name"] for c in answer.json()["items"]}

    # then each operator selects the matching records
    assert names("c_number:gt:5") == {"Mid", "High"}
    assert names("custom.c_number:gt:5") == {"Mid", "High"}
    assert names("c_number:lte:7") == {"Low", "Mid"}
    assert names("c_number:between:3,7") == {"Low", "Mid"}
    assert names("c_enum:eq:gold") == {"High"}
    assert names("c_enum:in:bronze,gold") == {"Low", "High"}
    assert names("c_enum:ne:gold") == {"Low", "Mid", "Blank"}
    assert names("c_multi_enum:contains:gold") == {"Mid", "High"}
    assert names("c_boolean:eq:true") == {"Low"}
    assert names("c_boolean:eq:false") == {"Mid"}
    assert names("c_date:lt:2026-02-15") == {"Low", "Mid"}
    assert names(f"c_reference:eq:{account['id']}") == {"Low"}
    assert names("c_number:is_null:true") == {"Blank"}
    assert names("c_number:is_null:false", "c_enum:ne:bronze") == {"Mid", "High"}
    # datetimes compare as instants, whatever offset they were written with:
    # Low = 00:00Z, Mid = 03:00Z, High = 14:00Z
    assert names("c_datetime:gt:2026-01-10T02:00:00Z") == {"Mid", "High"}
    assert names("c_datetime:lt:2026-01-10T09:00:00+08:00") == {"Low"}


def test_a_filter_value_of_the_wrong_type_is_a_422(client: TestClient) -> None:
    declare(client, "score", "number")
    declare(client, "tier", "enum")
    for raw in ("score:gt:many", "score:between:1", "tier:eq:platinum", "nope:eq:1",
                "score:like:1", "score"):
        answer = client.get("/api/v1/contacts", params={"filter": raw})
        assert answer.status_code == 422, (raw, answer.text)


def test_custom_fields_sort_and_page_without_duplicates_or_gaps(client: TestClient) -> None:
    # given contacts with a custom number, a custom boolean, and some without either
    declare(client, "score", "number")
    declare(client, "active", "boolean")
    for i, (score, active) in enumerate(
        [(5, True), (None, None), (1, False), (9, True), (5, False), (None, True), (3, None)]
    ):
        custom = {k: v for k, v in (("score", score), ("active", active)) if v is not None}
        client.post("/api/v1/contacts", json={"last_name": f"P{i}", "custom": custom})

    for sort in ("score", "-score", "active,-score", "-active,score"):
        # when the list is read whole and page by page
        whole = [c["id"] for c in client.get(
            "/api/v1/contacts", params={"sort": sort, "limit": 50}).json()["items"]]
        paged: list[int] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"sort": sort, "limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = client.get("/api/v1/contacts", params=params)
            assert page.status_code == 200, (sort, page.text)
            paged.extend(c["id"] for c in page.json()["items"])
            cursor = page.json()["next_cursor"]
            if not cursor:
                break
        # then the pages hold every record exactly once, in the same order
        assert paged == whole, sort
        assert len(set(paged)) == 7

    ascending = client.get("/api/v1/contacts", params={"sort": "score"}).json()["items"]
    scores = [c["custom"].get("score") for c in ascending if c["custom"].get("score") is not None]
    assert scores == [1.0, 3.0, 5.0, 5.0, 9.0]


def test_a_multi_enum_field_cannot_be_sorted(client: TestClient) -> None:
    declare(client, "interests", "multi_enum")
    answer = client.get("/api/v1/contacts", params={"sort": "interests"})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "sort.interests"


def test_the_json_schema_publishes_custom_fields(client: TestClient) -> None:
    # given custom fields on contacts
    declare_one_of_each(client)
    declare(client, "customer_number", "text", required=True, max_length=20)

    # when the JSON Schema of contacts is read
    answer = client.get("/api/v1/schema/contacts")

    # then it lists every custom field with its JSON type, format and data category
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/schema+json")
    schema = answer.json()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    custom = schema["properties"]["custom"]
    assert custom["additionalProperties"] is False
    assert custom["required"] == ["customer_number"]
    props = custom["properties"]
    assert set(props) == {f"c_{t}" for t in FIELD_TYPES} | {"customer_number"}
    assert props["c_number"]["type"] == "number"
    assert props["c_date"] == {"type": "string", "format": "date", "title": "C Date",
                               "x-category": "custom", "x-field-type": "date"}
    assert props["c_datetime"]["format"] == "date-time"
    assert props["c_boolean"]["type"] == "boolean"
    assert props["c_enum"]["enum"] == ["bronze", "silver", "gold"]
    assert props["c_multi_enum"]["items"]["enum"] == ["bronze", "silver", "gold"]
    assert props["c_email"]["format"] == "email"
    assert props["c_email"]["x-category"] == "contact.email"
    assert props["c_url"]["format"] == "uri"
    assert props["c_reference"]["x-reference"] == "accounts"
    assert props["customer_number"]["maxLength"] == 20
    # and the standard fields carry their categories too
    assert schema["properties"]["email"]["x-category"] == "contact.email"
    assert "id" not in schema["properties"]  # not writable, so not part of the input schema


def test_custom_fields_are_listed_per_object(client: TestClient) -> None:
    declare(client, "budget", "money", object_type="accounts")
    declare(client, "nickname", "text")
    listing = client.get("/api/v1/custom-fields", params={"object_type": "accounts"})
    assert listing.status_code == 200
    assert [f["name"] for f in listing.json()["items"]] == ["budget"]
    everything = client.get("/api/v1/custom-fields").json()["items"]
    assert {(f["object_type"], f["name"]) for f in everything} == {
        ("accounts", "budget"), ("contacts", "nickname")}


def test_definitions_that_cannot_be_enforced_are_refused(client: TestClient) -> None:
    base = {"object_type": "contacts", "label": "X"}
    cases = [
        ({"name": "mood", "field_type": "colour"}, 422, "field_type"),
        ({"name": "tier", "field_type": "enum"}, 422, "options"),
        ({"name": "partner", "field_type": "reference", "reference_object": "planets"}, 422,
         "reference_object"),
        ({"name": "email", "field_type": "text"}, 422, "name"),
        ({"name": "Bad Name", "field_type": "text"}, 422, "name"),
        ({"name": "mood", "field_type": "text", "object_type": "planets"}, 422, "object_type"),
    ]
    for body, status, field in cases:
        answer = client.post("/api/v1/custom-fields", json={**base, **body})
        assert answer.status_code == status, (body, answer.text)
        assert field in {e["field"] for e in answer.json()["errors"]}, (body, answer.text)
    declare(client, "mood", "text")
    again = client.post("/api/v1/custom-fields",
                        json={**base, "name": "mood", "field_type": "text"})
    assert again.status_code == 409


def test_only_administrators_change_custom_fields(
    client: TestClient, rep_client: TestClient
) -> None:
    body = {"object_type": "contacts", "name": "mood", "label": "Mood", "field_type": "text"}
    assert rep_client.post("/api/v1/custom-fields", json=body).status_code == 403
    field = declare(client, "mood", "text")
    assert rep_client.delete(f"/api/v1/custom-fields/{field['id']}").status_code == 403
    assert rep_client.get("/api/v1/custom-fields").status_code == 200


def test_a_removed_field_can_no_longer_be_written(client: TestClient) -> None:
    field = declare(client, "mood", "text")
    contact = client.post("/api/v1/contacts",
                          json={"last_name": "Ito", "custom": {"mood": "calm"}}).json()
    assert client.delete(f"/api/v1/custom-fields/{field['id']}").status_code == 204
    assert client.delete(f"/api/v1/custom-fields/{field['id']}").status_code == 404
    refused = client.patch(f"/api/v1/contacts/{contact['id']}", json={"custom": {"mood": "glad"}})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "custom.mood"
