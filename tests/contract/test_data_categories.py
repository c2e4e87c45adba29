"""Every stored value says what kind of data it is: masking, export and erasure rely on it."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Column

from rapport.crm.custom_fields import FIELD_TYPES
from rapport.db.all_models import metadata

CATEGORY = re.compile(r"^[a-z_]+(\.[a-z_]+)?$")
COLUMNS: list[Column] = [c for t in metadata.sorted_tables for c in t.columns]  # type: ignore[type-arg]


def test_the_metadata_holds_every_table() -> None:
    names = set(metadata.tables)
    assert {"contacts", "accounts", "change_records", "outbox", "idempotency_keys", "users",
            "api_tokens", "custom_field_definitions"} <= names


@pytest.mark.parametrize("column", COLUMNS, ids=lambda c: f"{c.table.name}.{c.name}")
def test_every_column_has_a_data_category(column: Column) -> None:  # type: ignore[type-arg]
    category = column.info.get("category")
    assert category, f"{column.table.name}.{column.name} has no info['category']"
    assert CATEGORY.match(category), f"{column.table.name}.{column.name}: {category!r}"


def test_every_custom_field_definition_gets_a_category(client: TestClient) -> None:
    # given a custom field of every type declared without a category
    for field_type in FIELD_TYPES:
        body = {"object_type": "contacts", "name": f"f_{field_type}", "label": field_type,
                "field_type": field_type}
        if field_type in ("enum", "multi_enum"):
            body["options"] = ["a"]
        if field_type == "reference":
            body["reference_object"] = "accounts"
        answer = client.post("/api/v1/custom-fields", json=body)
        assert answer.status_code == 201, answer.text
        # then each gets one (a default per type) ...
        assert CATEGORY.match(answer.json()["category"]), answer.json()
    # ... identity-bearing types get the category their built-in twins have
    fields = {f["name"]: f for f in client.get("/api/v1/custom-fields").json()["items"]}
    assert fields["f_email"]["category"] == "contact.email"
    assert fields["f_phone"]["category"] == "contact.phone"
    assert fields["f_money"]["category"] == "financial.amount"
    # and a declared category is kept
    declared = client.post("/api/v1/custom-fields", json={
        "object_type": "contacts", "name": "national_id", "label": "National ID",
        "field_type": "text", "category": "identity.national_id"})
    assert declared.json()["category"] == "identity.national_id"
