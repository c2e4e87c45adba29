"""Vendor payloads, mappings and signatures for the webhook tests: Stripe- and Shopify-like
deliveries (fictional customers, reserved domains) and their HMACs computed as the vendors do."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

STRIPE_MAPPING = {
    "type": "track",
    "event": "$.type",
    "messageId": "$.id",
    "timestamp": "$.created",
    "anonymousId": "$.data.object.customer",
    "traits": {"email": "$.data.object.billing_details.email?",
               "external_id": "$.data.object.customer"},
    "properties": {"amount": "$.data.object.amount", "currency": "$.data.object.currency",
                   "charge_id": "$.data.object.id", "provider": "stripe"},
}
STRIPE_EVENT = {
    "id": "evt_3PabcXYZ", "object": "event", "type": "charge.succeeded", "created": 1714555800,
    "data": {"object": {"id": "ch_3Pabc", "object": "charge", "amount": 2000, "currency": "usd",
                        "customer": "cus_Q1w2e3",
                        "billing_details": {"email": "ana@example.com", "name": "Ana Lima"}}},
}
SHOPIFY_MAPPING = {
    "event": "Order Completed",
    "messageId": "$.id",
    "timestamp": "$.created_at",
    "anonymousId": ["$.customer.id", "$.email"],
    "traits": {"email": "$.email?", "phone": "$.customer.phone?"},
    "properties": {"order_id": "$.id", "total": "$.total_price", "currency": "$.currency",
                   "products": "$.line_items", "first_sku": "$.line_items[0].sku",
                   "shop": "$[\"x-shop.domain\"]?"},
}
SHOPIFY_ORDER = {
    "id": 820982911946154508, "email": "jon@example.com",
    "created_at": "2024-05-01T09:30:00-04:00", "total_price": "199.00", "currency": "USD",
    "x-shop.domain": "demo.myshopify.com",
    "customer": {"id": 115310627314723954, "phone": "+16135550111"},
    "line_items": [{"sku": "IPOD-2GB", "title": "iPod Nano", "quantity": 1, "price": "199.00"}],
}


STRIPE_SECRET = "whsec_test_5WbX5kEWLlfzsGNjH64I8lOOqUB6e8FH"
SHOPIFY_SECRET = "shpss_test_0a1b2c3d4e5f"
GITHUB_SECRET = "It's a Secret to Everybody"


def stripe_header(body: bytes, secret: str = STRIPE_SECRET, at: int | None = None) -> str:
    stamp = int(time.time()) if at is None else at
    signed = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={signed}"


def shopify_header(body: bytes, secret: str = SHOPIFY_SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
