"""Vendor signatures on ``POST /v1/webhook``: a source whose mapping has a ``signature`` block
takes only bodies signed with its secret (Stripe, Shopify, a generic HMAC); anything else is
refused with 401, saying what is wrong, and kept nowhere. The secret is stored encrypted and
never shown again."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from rapport.bootstrap import Container
from rapport.events import sources, webhook_signatures
from rapport.events.hub_models import Source
from rapport.trust.models import AuditEntry
from tests.hub.collector_support import count, dead_letters, events
from tests.hub.webhook_support import (
    GITHUB_SECRET,
    SHOPIFY_MAPPING,
    SHOPIFY_ORDER,
    SHOPIFY_SECRET,
    STRIPE_EVENT,
    STRIPE_MAPPING,
    STRIPE_SECRET,
    shopify_header,
    stripe_header,
)


def _create(client: TestClient, name: str, mapping: dict[str, Any]) -> dict[str, Any]:
    answer = client.post("/api/v1/sources", json={"name": name, "channel": "api",
                                                  "mapping": mapping})
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def _post(client: TestClient, key: str, body: bytes, headers: dict[str, str]) -> Any:
    return client.post("/v1/webhook", content=body, auth=(key, ""),
                       headers={"Content-Type": "application/json", **headers})


@pytest.fixture
def stripe(client: TestClient) -> dict[str, Any]:
    return _create(client, "stripe", {**STRIPE_MAPPING, "signature": {
        "scheme": "stripe", "secret": STRIPE_SECRET}})


def _nothing_kept(container: Container) -> None:
    assert events(container) == []
    assert dead_letters(container) == []


# ---- Stripe ---------------------------------------------------------------------------------


def test_a_stripe_event_signed_with_the_source_secret_is_stored(
        client: TestClient, container: Container, stripe: dict[str, Any]) -> None:
    body = orjson.dumps(STRIPE_EVENT)

    answer = _post(client, stripe["write_key"], body, {"Stripe-Signature": stripe_header(body)})

    assert answer.status_code == 200, answer.text
    assert [e.message_id for e in events(container)] == ["evt_3PabcXYZ"]


@pytest.mark.parametrize(("case", "code", "detail"), [
    ("wrong secret", "signature_invalid", "does not match"),
    ("tampered body", "signature_invalid", "does not match"),
    ("stale timestamp", "signature_expired", "outside the tolerance of 300 s"),
    ("future timestamp", "signature_expired", "in the future"),
    ("missing header", "signature_missing", "no Stripe-Signature header"),
    ("no timestamp", "signature_invalid", "no readable t="),
])
def test_a_stripe_event_not_signed_as_it_should_be_is_refused_and_not_kept(
        client: TestClient, container: Container, stripe: dict[str, Any], case: str, code: str,
        detail: str) -> None:
    body = orjson.dumps(STRIPE_EVENT)
    headers = {
        "wrong secret": {"Stripe-Signature": stripe_header(body, "whsec_someone_else")},
        "tampered body": {"Stripe-Signature": stripe_header(body.replace(b"2000", b"9"))},
        "stale timestamp": {"Stripe-Signature": stripe_header(body, at=int(time.time()) - 600)},
        "future timestamp": {"Stripe-Signature": stripe_header(body, at=int(time.time()) + 600)},
        "missing header": {},
        "no timestamp": {"Stripe-Signature": stripe_header(body).split(",", 1)[1]},
    }[case]

    answer = _post(client, stripe["write_key"], body, headers)

    assert answer.status_code == 401
    problem = answer.json()
    assert problem["code"] == code
    assert detail in problem["detail"]
    assert "not stored" in problem["detail"]
    _nothing_kept(container)


def test_a_stripe_tolerance_can_be_widened_and_a_rotated_secret_still_matches(
        client: TestClient, container: Container) -> None:
    source = _create(client, "stripe", {**STRIPE_MAPPING, "signature": {
        "scheme": "stripe", "secret": STRIPE_SECRET, "tolerance_seconds": 900}})
    body = orjson.dumps(STRIPE_EVENT)
    stale = int(time.time()) - 600
    # during a secret roll Stripe signs with both secrets: any matching v1 will do
    both = stripe_header(body, at=stale) + ",v1=" + stripe_header(
        body, "whsec_old", at=stale).rsplit("v1=", 1)[1]

    answer = _post(client, source["write_key"], body, {"Stripe-Signature": both})

    assert answer.status_code == 200, answer.text
    assert len(events(container)) == 1


# ---- Shopify and the generic HMAC -----------------------------------------------------------


def test_shopify_signatures_are_checked(client: TestClient, container: Container) -> None:
    source = _create(client, "shopify", {**SHOPIFY_MAPPING, "signature": {
        "scheme": "shopify", "secret": SHOPIFY_SECRET}})
    body = orjson.dumps(SHOPIFY_ORDER)
    key = source["write_key"]

    good = _post(client, key, body, {"X-Shopify-Hmac-Sha256": shopify_header(body)})
    wrong = _post(client, key, body, {"X-Shopify-Hmac-Sha256": shopify_header(body, "other")})
    tampered = _post(client, key, body.replace(b"199.00", b"1.00"),
                     {"X-Shopify-Hmac-Sha256": shopify_header(body)})
    missing = _post(client, key, body, {})
    garbled = _post(client, key, body, {"X-Shopify-Hmac-Sha256": "not base64!"})

    assert good.status_code == 200, good.text
    assert [a.status_code for a in (wrong, tampered, missing, garbled)] == [401] * 4
    assert [a.json()["code"] for a in (wrong, tampered, missing, garbled)] == [
        "signature_invalid", "signature_invalid", "signature_missing", "signature_invalid"]
    assert "X-Shopify-Hmac-Sha256 is not base64" in garbled.json()["detail"]
    assert [e.name for e in events(container)] == ["Order Completed"]
    assert dead_letters(container) == []


def test_a_generic_hmac_reads_the_header_prefix_algorithm_and_encoding_it_is_told(
        client: TestClient, container: Container) -> None:
    github = _create(client, "github", {
        "event": "$.action", "userId": "$.sender.login", "messageId": "$.id",
        "signature": {"scheme": "hmac", "secret": GITHUB_SECRET, "header": "X-Hub-Signature-256",
                      "prefix": "sha256="}})
    legacy = _create(client, "legacy", {
        "event": "$.action", "userId": "$.sender.login", "messageId": "$.id",
        "signature": {"scheme": "hmac", "secret": GITHUB_SECRET, "header": "X-Signature",
                      "algorithm": "sha1", "encoding": "base64"}})
    body = orjson.dumps({"id": "d-1", "action": "opened", "sender": {"login": "octo-ana"}})
    hex256 = hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha256).hexdigest()
    b64sha1 = base64.b64encode(hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha1).digest())

    signed = _post(client, github["write_key"], body, {"X-Hub-Signature-256": f"sha256={hex256}"})
    base64_sha1 = _post(client, legacy["write_key"], body, {"X-Signature": b64sha1.decode()})
    no_prefix = _post(client, github["write_key"], body, {"X-Hub-Signature-256": hex256})
    other_algorithm = _post(client, github["write_key"], body, {
        "X-Hub-Signature-256": "sha256=" + hmac.new(GITHUB_SECRET.encode(), body,
                                                    hashlib.sha1).hexdigest()})

    assert (signed.status_code, base64_sha1.status_code) == (200, 200)
    assert no_prefix.status_code == 401
    assert "does not start with sha256=" in no_prefix.json()["detail"]
    assert other_algorithm.json()["code"] == "signature_invalid"
    assert len(events(container)) == 2


def test_the_signature_is_checked_before_the_mapping(client: TestClient, container: Container,
                                                     stripe: dict[str, Any]) -> None:
    unmappable = orjson.dumps({"id": "evt_1", "type": "ping"})

    unsigned = _post(client, stripe["write_key"], unmappable, {})
    signed = _post(client, stripe["write_key"], unmappable,
                   {"Stripe-Signature": stripe_header(unmappable)})

    assert unsigned.status_code == 401  # not ours to keep
    assert signed.status_code == 400  # authentic: kept for a replay
    assert signed.json()["code"] == "unmappable"
    assert [d.id for d in dead_letters(container)] == [signed.json()["dead_letter_id"]]


# ---- the secret at rest and in answers ------------------------------------------------------


def test_the_secret_is_stored_encrypted_and_never_shown(client: TestClient, container: Container,
                                                        stripe: dict[str, Any]) -> None:
    read = client.get(f"/api/v1/sources/{stripe['id']}").json()
    listed = client.get("/api/v1/sources").json()
    with container.session_factory() as session:
        stored = session.scalars(select(Source.mapping)).one()
        audit_details = [e.details for e in session.scalars(select(AuditEntry))]

    for shown in (stripe, read, listed["items"][0]):
        assert shown["mapping"]["signature"] == {"scheme": "stripe", "tolerance_seconds": 300,
                                                 "secret_set": True}
    assert STRIPE_SECRET not in str(stored) + str(audit_details) + str(listed)
    assert stored["signature"]["secret_encrypted"].startswith("gAAAA")  # a Fernet token
    assert {"signature": "stripe", "signing_secret": "changed"}.items() <= \
        audit_details[-1].items()


def test_fixing_the_mapping_keeps_the_signature_check_unless_removed(
        client: TestClient, container: Container, stripe: dict[str, Any]) -> None:
    body = orjson.dumps(STRIPE_EVENT)
    key = stripe["write_key"]

    client.patch(f"/api/v1/sources/{stripe['id']}", json={"mapping": STRIPE_MAPPING})
    kept = _post(client, key, body, {})
    rewritten = client.patch(f"/api/v1/sources/{stripe['id']}", json={"mapping": {
        **STRIPE_MAPPING, "signature": {"scheme": "stripe", "tolerance_seconds": 60,
                                        "secret_set": True}}})  # as read back, no new secret
    still_signed = _post(client, key, body, {"Stripe-Signature": stripe_header(body)})
    client.patch(f"/api/v1/sources/{stripe['id']}", json={"mapping": {**STRIPE_MAPPING,
                                                                      "signature": None}})
    removed = _post(client, key, orjson.dumps({**STRIPE_EVENT, "id": "evt_2"}), {})

    assert kept.status_code == 401
    assert rewritten.json()["mapping"]["signature"]["tolerance_seconds"] == 60
    assert still_signed.status_code == 200, still_signed.text
    assert removed.status_code == 200
    assert "signature" not in client.get(f"/api/v1/sources/{stripe['id']}").json()["mapping"]
    assert count(container, Source) == 1


@pytest.mark.parametrize(("signature", "field"), [
    ({"scheme": "paypal", "secret": "s"}, "mapping.signature.scheme"),
    ({"scheme": "stripe"}, "mapping.signature.secret"),
    ({"scheme": "stripe", "secret": ""}, "mapping.signature.secret"),
    ({"scheme": "stripe", "secret": "s", "tolerance_seconds": 0},
     "mapping.signature.tolerance_seconds"),
    ({"scheme": "hmac", "secret": "s"}, "mapping.signature.header"),
    ({"scheme": "hmac", "secret": "s", "header": "X Bad: header"}, "mapping.signature.header"),
    ({"scheme": "hmac", "secret": "s", "header": "X-Sig", "algorithm": "md5"},
     "mapping.signature.algorithm"),
    ({"scheme": "hmac", "secret": "s", "header": "X-Sig", "encoding": "base32"},
     "mapping.signature.encoding"),
    ({"scheme": "shopify", "secret": "s", "header": "X-Sig"}, "mapping.signature.header"),
    ({"scheme": "shopify", "secret_encrypted": "gAAAA"}, "mapping.signature.secret_encrypted"),
    ("stripe", "mapping.signature"),
])
def test_a_bad_signature_setting_is_refused_naming_the_field(
        client: TestClient, container: Container, signature: Any, field: str) -> None:
    answer = client.post("/api/v1/sources", json={"name": "vendor", "channel": "api", "mapping": {
        **STRIPE_MAPPING, "signature": signature}})

    assert answer.status_code == 422
    problem = answer.json()
    assert field in [e["field"] for e in problem["errors"]]
    assert field in problem["detail"]
    assert count(container, Source) == 0


def test_a_secret_that_no_longer_decrypts_refuses_every_request(
        client: TestClient, container: Container) -> None:
    with container.uow() as uow:  # sealed under another deployment's secret key
        key = sources.create_source(uow.session, "stripe", "api", {
            **STRIPE_MAPPING, "signature": {"scheme": "stripe", "secret": STRIPE_SECRET}},
            secret_key="a-previous-deployment-secret-key-0123456789").write_key
        uow.commit()
    body = orjson.dumps(STRIPE_EVENT)

    answer = _post(client, key, body, {"Stripe-Signature": stripe_header(body)})

    assert answer.status_code == 409
    assert answer.json()["code"] == "signature_secret_unreadable"
    _nothing_kept(container)


def test_verify_compares_headers_case_insensitively() -> None:
    block = webhook_signatures.prepare({"scheme": "shopify", "secret": SHOPIFY_SECRET}, None,
                                       "deployment-key")
    body = b'{"id": 1}'

    webhook_signatures.verify(block, "deployment-key", {"x-shopify-hmac-sha256":
                                                        shopify_header(body)}, body, time.time())
    webhook_signatures.verify(block, "deployment-key", {"X-SHOPIFY-HMAC-SHA256":
                                                        shopify_header(body)}, body, time.time())
    with pytest.raises(webhook_signatures.SecretUnreadable):
        webhook_signatures.verify(block, "another-key", {}, body, time.time())
