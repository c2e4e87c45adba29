"""Random JSON bodies never make the API answer 5xx: bad input is the client's to fix.

``RAPPORT_FUZZ_EXAMPLES=5000`` runs a longer search than the default.
"""

from __future__ import annotations

import json
import os
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# Values that stress parsers and databases: NUL, look-alike Unicode, huge and non-finite numbers.
tricky_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "\u0000", "a\u0000b", "ana＠example.com", "\u200b", "\ufeff", "null",
                     "NaN", "Infinity", "1e999999", "2026-02-30", "2026-01-01T00:00:00",
                     "+86 138 0013 8000", "=cmd|' /C calc'!A0", "王伟", "' OR 1=1 --",
                     "x" * 300, "%", "_", "\\", "\U0001f600", "\ud800", "a\udfffb"]),
)
# URLs cannot carry lone surrogates at all (the client refuses to encode them).
url_text = tricky_text.filter(lambda s: not any(0xD800 <= ord(c) <= 0xDFFF for c in s))
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, tricky_text)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(tricky_text, children, max_size=4),
    ),
    max_leaves=12,
)

# Keys drawn mostly from real field names, so bodies get past "unknown field" often enough to
# exercise validation, references, normalisation and the database.
FIELD_NAMES = [
    "name", "first_name", "last_name", "email", "phone", "mobile", "website", "tier", "size",
    "annual_revenue", "account_id", "owner_id", "region_id", "amount", "currency", "close_date",
    "stage_id", "pipeline_id", "probability", "status", "custom", "id", "version", "external_id",
    "notes", "description", "city", "country", "business_line", "account", "create_opportunity",
    "opportunity_name", "records", "upsert_on",
]
bodies = st.one_of(
    json_values,
    st.dictionaries(st.sampled_from(FIELD_NAMES), json_values, max_size=8),
    st.fixed_dictionaries(
        {"name": tricky_text, "last_name": tricky_text},
        optional={"custom": st.dictionaries(
            st.sampled_from(["score", "tier", "birthday", "fax", "site", "tags", "nope"]),
            json_values, max_size=4)},
    ),
)
EXAMPLES = int(os.environ.get("RAPPORT_FUZZ_EXAMPLES", "300"))
ENDPOINTS = [
    "/api/v1/contacts", "/api/v1/accounts", "/api/v1/opportunities", "/api/v1/leads",
    "/api/v1/activities", "/api/v1/quote_lines", "/api/v1/contacts/bulk",
    "/api/v1/accounts/bulk", "/api/v1/custom-objects/machine/records",
    "/api/v1/leads/1/convert", "/api/v1/custom-fields",
]


def prepare(client: TestClient) -> None:
    """Custom fields of several types, a pipeline and a lead, so deeper code paths run."""
    for name, field_type, extra in (
        ("score", "number", {}), ("tier", "enum", {"options": ["a", "b"]}),
        ("birthday", "date", {}), ("fax", "phone", {}),
        ("site", "reference", {"reference_object": "accounts"}),
        ("tags", "multi_enum", {"options": ["x", "y"]}),
    ):
        for object_type in ("contacts", "accounts"):
            client.post("/api/v1/custom-fields", json={
                "object_type": object_type, "name": name, "label": name, "field_type": field_type,
                **extra})
    client.post("/api/v1/custom-objects", json={"name": "machine", "label": "Machine"})
    pipeline = client.post("/api/v1/pipelines", json={"name": "Sales"}).json()
    client.post("/api/v1/pipeline_stages",
                json={"pipeline_id": pipeline["id"], "name": "Qualify", "position": 1})
    client.post("/api/v1/leads", json={"last_name": "Fuzz", "company": "Example Fuzz"})


def test_random_bodies_never_cause_a_server_error(client: TestClient) -> None:
    prepare(client)

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(endpoint=st.sampled_from(ENDPOINTS), body=bodies,
           idempotency_key=st.one_of(st.none(), st.text(min_size=1, max_size=20).filter(
               lambda k: k.isprintable() and k.isascii())))
    def post_anything(endpoint: str, body: Any, idempotency_key: str | None) -> None:
        raw = json.dumps(body, allow_nan=True)  # NaN / Infinity tokens on purpose
        headers = {"Content-Type": "application/json"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        answer = client.post(endpoint, content=raw.encode(), headers=headers)
        assert answer.status_code < 500, (endpoint, raw[:500], answer.text[:500])

    post_anything()


def test_random_list_queries_never_cause_a_server_error(client: TestClient) -> None:
    prepare(client)
    filter_parts = st.tuples(
        st.sampled_from(["last_name", "email", "account_id", "created_at", "id", "score",
                         "tier", "birthday", "tags", "version", "custom.score", "nope", ""]),
        st.sampled_from(["eq", "ne", "lt", "lte", "gt", "gte", "in", "contains", "is_null",
                         "between", "like", ""]),
        st.one_of(url_text, numbers.map(str)),
    ).map(lambda t: ":".join(t))

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(filters=st.lists(filter_parts, max_size=3),
           sort=st.one_of(st.none(), st.sampled_from(
               ["last_name", "-score", "tags", "custom.birthday,-id", "nope", "-", ","])),
           q=st.one_of(st.none(), url_text),
           cursor=st.one_of(st.none(), url_text),
           limit=st.one_of(st.none(), st.integers(min_value=-5, max_value=500)))
    def list_anything(filters: list[str], sort: str | None, q: str | None, cursor: str | None,
                      limit: int | None) -> None:
        params: dict[str, Any] = {"filter": filters}
        for key, value in (("sort", sort), ("q", q), ("cursor", cursor), ("limit", limit)):
            if value is not None:
                params[key] = value
        answer = client.get("/api/v1/contacts", params=params)
        assert answer.status_code < 500, (params, answer.text[:500])

    list_anything()
