"""Point-of-sale import: order files (CSV or JSON) become ``Order Completed`` track events.

Each order becomes one event whose ``messageId`` is the order id, so importing the same file
twice stores nothing new. A row that cannot become an event (no order id, a total that is
not a number, a time without an offset when no ``--timezone`` is given, bytes that are not
UTF-8) is kept as a dead letter holding the event as far as it could be built plus the
original row, with the reason; fix it and replay it. Formats and columns: docs/sources.md.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from sqlalchemy.orm import Session

from rapport.config import Settings
from rapport.events.collector import IngestResult, SourceLike, ingest
from rapport.events.hub_bus import StoredEventRef
from rapport.events.webhook_mapping import record_dead_letter

FORMATS = ("csv", "json")
EVENT_NAME = "Order Completed"
BATCH = 500  # events per transaction
MAX_FILE_BYTES = 512 * 1024 * 1024
USER_AGENT = "rapport-pos-import"

# Column names each order field is read from (the first present wins; case-insensitive).
COLUMNS: dict[str, tuple[str, ...]] = {
    "order_id": ("order_id", "order", "order_number", "receipt", "receipt_id", "id"),
    "email": ("email", "customer_email"),
    "phone": ("phone", "customer_phone", "mobile"),
    "loyalty_id": ("loyalty_id", "loyalty", "member_id", "customer_id", "card_number"),
    "time": ("time", "ordered_at", "timestamp", "created_at", "date"),
    "total": ("total", "amount", "revenue", "order_total"),
    "currency": ("currency",),
    "store": ("store", "store_id", "location"),
    "terminal": ("terminal", "register", "till"),
    "tax": ("tax",),
    "discount": ("discount",),
    "payment_method": ("payment_method", "payment", "tender"),
    "items": ("items", "products", "lines"),
    # line-item columns of "one row per line" files
    "sku": ("sku", "product_id", "item_id"),
    "product": ("product", "product_name", "item", "item_name", "name"),
    "quantity": ("quantity", "qty"),
    "price": ("price", "unit_price"),
    "category": ("category",),
}


class PosFileError(ValueError):
    """The file as a whole cannot be read (wrong format, not JSON, too large)."""


@dataclass(frozen=True)
class RowError:
    """One order that became a dead letter: the row (1-based data row or JSON index)."""

    row: int
    order_id: str | None
    code: str
    reason: str
    dead_letter_id: int | None = None


@dataclass
class ImportReport:
    rows: int = 0
    orders: int = 0
    accepted: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    errors: list[RowError] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "orders": self.orders, "accepted": self.accepted,
                "duplicates": self.duplicates, "dead_lettered": self.dead_lettered,
                "errors": [e.__dict__ for e in self.errors]}


@dataclass
class _Order:
    """One order gathered from its row(s); ``problem`` set when it cannot be an event."""

    first_row: int
    raw: dict[str, Any]
    lines: list[dict[str, Any]] = field(default_factory=list)
    problem: tuple[str, str] | None = None


# ---- reading ----------------------------------------------------------------------------


def _pick(row: dict[str, Any], name: str) -> Any:
    for column in COLUMNS[name]:
        if column in row and row[column] not in (None, ""):
            return row[column]
    return None


def _has_bad_bytes(value: Any) -> bool:
    if isinstance(value, str):
        return any("\udc80" <= ch <= "\udcff" for ch in value)
    if isinstance(value, dict):
        return any(_has_bad_bytes(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_bad_bytes(v) for v in value)
    return False


def _shown(value: Any) -> Any:
    """Undecodable bytes as ``\\xNN`` (kept, and storable)."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    if isinstance(value, dict):
        return {k: _shown(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shown(v) for v in value]
    return value


def read_rows(data: bytes, fmt: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number, row) pairs; keys lower-cased. Invalid UTF-8 is kept as surrogates so the
    row can be dead-lettered with its bytes shown, not the file refused."""
    if fmt not in FORMATS:
        raise PosFileError(f"format must be one of {', '.join(FORMATS)}")
    text = data.decode("utf-8", "surrogateescape").removeprefix("\ufeff")
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        if not reader.fieldnames:
            raise PosFileError("the CSV file has no header row")
        for n, row in enumerate(reader, start=1):
            clean = {(k or "").strip().lower(): (v.strip() if isinstance(v, str) else v)
                     for k, v in row.items() if k is not None}
            if any(v for v in clean.values()):
                yield n, clean
        return
    stripped = text.strip()
    try:
        if stripped.startswith("[") or stripped.startswith("{"):
            parsed = orjson.loads(data.removeprefix(b"\xef\xbb\xbf"))
            items = parsed.get("orders") if isinstance(parsed, dict) else parsed
            if isinstance(parsed, dict) and items is None:
                items = [parsed]
        else:  # JSON Lines
            items = [orjson.loads(line) for line in stripped.splitlines() if line.strip()]
    except orjson.JSONDecodeError as exc:
        raise PosFileError(f"the file is not valid JSON (or JSON Lines): {exc}") from None
    if not isinstance(items, list):
        raise PosFileError('a JSON order file is an array of orders or {"orders": [...]}')
    for n, item in enumerate(items, start=1):
        if isinstance(item, dict):
            yield n, {str(k).lower(): v for k, v in item.items()}
        else:
            yield n, {"_not_an_object": item}


def group_orders(rows: Iterator[tuple[int, dict[str, Any]]]) -> Iterator[_Order]:
    """Rows of one order (a file with one row per line item) become one order."""
    orders: dict[str, _Order] = {}
    unnamed: list[_Order] = []
    for n, row in rows:
        order_id = _pick(row, "order_id")
        key = str(order_id).strip() if order_id is not None else None
        line = {k: _pick(row, k) for k in ("sku", "product", "quantity", "price", "category")}
        has_line = any(v is not None for v in line.values())
        if key is None or "_not_an_object" in row:
            unnamed.append(_Order(n, row))
            continue
        order = orders.get(key)
        if order is None:
            order = orders[key] = _Order(n, row)
        if has_line and _pick(row, "items") is None:
            order.lines.append({k: v for k, v in line.items() if v is not None})
    yield from sorted([*orders.values(), *unnamed], key=lambda o: o.first_row)


# ---- shaping ----------------------------------------------------------------------------


def _number(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number, not {value!r}")
    try:
        number = Decimal(str(value).replace(",", "").strip())
    except InvalidOperation:
        raise ValueError(f"{name} {str(value)[:40]!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{name} {value!r} is not a finite number")
    return float(number)


def _time(value: Any, zone: ZoneInfo | None) -> str:
    if value is None:
        raise ValueError("the order has no time (a time, ordered_at or timestamp column)")
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if abs(value) > 10**12 else value
        return datetime.fromtimestamp(seconds, UTC).isoformat()
    text = str(value).strip()
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" else text)
    except ValueError:
        raise ValueError(f"time {text[:40]!r} is not an ISO 8601 time such as "
                         "2024-05-01T09:30:00+08:00") from None
    if parsed.tzinfo is None:
        if zone is None:
            raise ValueError(f"time {text[:40]!r} has no UTC offset: add one, or import with "
                             "--timezone Area/City (the tills' time zone)")
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC).isoformat()


def _products(order: _Order) -> list[dict[str, Any]]:
    items = _pick(order.raw, "items")
    if isinstance(items, str):
        try:
            items = orjson.loads(items)
        except orjson.JSONDecodeError:
            raise ValueError("items is not a JSON array of line items") from None
    lines = items if items is not None else order.lines
    if not isinstance(lines, list):
        raise ValueError("items must be an array of line items")
    products = []
    for line in lines:
        if not isinstance(line, dict):
            raise ValueError("each line item must be an object")
        low = {str(k).lower(): v for k, v in line.items()}
        product: dict[str, Any] = {}
        sku, name = _pick(low, "sku"), _pick(low, "product")
        if sku is not None:
            product["sku"] = str(sku)
            product["product_id"] = str(sku)
        if name is not None:
            product["name"] = str(name)
        if (category := _pick(low, "category")) is not None:
            product["category"] = str(category)
        quantity = _number(_pick(low, "quantity"), "quantity")
        if quantity is not None:
            product["quantity"] = int(quantity) if quantity.is_integer() else quantity
        price = _number(_pick(low, "price"), "price")
        if price is not None:
            product["price"] = price
        products.append(product)
    return products


def order_event(order: _Order, *, currency: str | None, zone: ZoneInfo | None,
                source_name: str) -> dict[str, Any]:
    """The Segment ``Order Completed`` event of one order; raises ValueError with what to
    fix (the caller dead-letters the row)."""
    raw = order.raw
    if "_not_an_object" in raw:
        raise ValueError("an order must be a JSON object")
    order_id = _pick(raw, "order_id")
    if order_id is None:
        raise ValueError("the row has no order id (an order_id column)")
    order_id = str(order_id).strip()
    if len(order_id) > 200:
        raise ValueError("the order id is longer than 200 characters")
    total = _number(_pick(raw, "total"), "total")
    if total is None:
        raise ValueError("the order has no total (a total or amount column)")
    chosen = _pick(raw, "currency") or currency
    if not chosen:
        raise ValueError("the order has no currency: add a currency column or import with "
                         "--currency CODE")
    code = str(chosen).strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise ValueError(f"currency {str(chosen)[:20]!r} is not an ISO 4217 code such as CNY")
    properties: dict[str, Any] = {"order_id": order_id, "total": total, "revenue": total,
                                  "currency": code, "products": _products(order),
                                  "source": source_name}
    for name in ("tax", "discount"):
        value = _number(_pick(raw, name), name)
        if value is not None:
            properties[name] = value
    for name in ("store", "terminal", "payment_method"):
        value = _pick(raw, name)
        if value is not None:
            properties[name] = str(value)
    traits: dict[str, Any] = {}
    email, phone, loyalty = _pick(raw, "email"), _pick(raw, "phone"), _pick(raw, "loyalty_id")
    if email is not None:
        traits["email"] = str(email)
    if phone is not None:
        traits["phone"] = str(phone)  # a number in JSON stays its digits
    if loyalty is not None:
        traits["external_id"] = str(loyalty)
        traits["loyalty_id"] = str(loyalty)
    # Who bought: the loyalty id, else the e-mail or phone, else the order (a walk-in
    # customer). Not a userId: a till's ids must never block a merge with the web's userId.
    person = loyalty or email or phone
    anonymous_id = f"pos:{person}" if person is not None else f"pos-order:{order_id}"
    event: dict[str, Any] = {
        "type": "track", "event": EVENT_NAME, "messageId": order_id,
        "anonymousId": str(anonymous_id)[:200], "timestamp": _time(_pick(raw, "time"), zone),
        "properties": properties,
        "context": {"channel": "pos", "traits": traits,
                    "library": {"name": USER_AGENT, "version": "1"}},
    }
    if loyalty is not None:
        event["context"]["externalIds"] = [{"id": str(loyalty), "type": "loyalty_id",
                                            "collection": "users"}]
    return event


# ---- importing --------------------------------------------------------------------------


def _zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PosFileError(f"unknown time zone {name!r}; use an Area/City name such as "
                           "Asia/Shanghai") from None


def _partial(order: _Order) -> dict[str, Any]:
    """What a dead letter keeps: the event as far as it goes, with the original row(s)."""
    order_id = _pick(order.raw, "order_id")
    partial: dict[str, Any] = {"type": "track", "event": EVENT_NAME}
    if order_id is not None:
        partial["messageId"] = str(order_id)
    partial["properties"] = {"pos_row": order.first_row, "pos_original": _shown(order.raw)}
    if order.lines:
        partial["properties"]["pos_lines"] = _shown(order.lines)
    return partial


def import_orders(
    session_factory: Callable[[], Session],
    settings: Settings,
    source: SourceLike,
    source_name: str,
    data: bytes,
    fmt: str,
    *,
    currency: str | None = None,
    timezone: str | None = None,
    publish: Callable[[list[StoredEventRef]], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import an order file through the collector, ``BATCH`` orders per transaction;
    ``publish`` gets the stored events after each commit, ``progress`` the orders done."""
    if len(data) > MAX_FILE_BYTES:
        raise PosFileError(f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; "
                           "split it")
    zone = _zone(timezone)
    report = ImportReport()
    rows = list(read_rows(data, fmt))
    report.rows = len(rows)
    pending: list[tuple[_Order, dict[str, Any]]] = []
    bad: list[tuple[_Order, str, str]] = []

    def flush() -> None:
        if not pending and not bad:
            return
        with session_factory() as session:
            result: IngestResult | None = None
            if pending:
                result = ingest(session, settings, source, [e for _, e in pending],
                                received_at=datetime.now(UTC), user_agent=USER_AGENT)
            dead_ids = [
                record_dead_letter(session, source.id, code, reason, _partial(order),
                                   message_id=_pick(order.raw, "order_id"))
                for order, code, reason in bad]
            session.commit()
        if result is not None:
            report.accepted += result.accepted
            report.duplicates += result.duplicates
            for outcome in result.refused:
                order = pending[outcome.index][0]
                report.errors.append(RowError(order.first_row, outcome.message_id,
                                              outcome.code or "refused", outcome.reason or "",
                                              outcome.dead_letter_id))
            if publish is not None and result.stored:
                publish(result.stored)
        for (order, code, reason), dead_id in zip(bad, dead_ids, strict=True):
            order_id = _pick(order.raw, "order_id")
            report.errors.append(RowError(order.first_row, str(order_id) if order_id else None,
                                          code, reason, dead_id))
        if progress is not None:
            progress(len(pending) + len(bad))
        pending.clear()
        bad.clear()

    for order in group_orders(iter(rows)):
        report.orders += 1
        if _has_bad_bytes(order.raw) or _has_bad_bytes(order.lines):
            bad.append((order, "invalid_encoding", "the row is not valid UTF-8 (bytes shown as "
                        "\\xNN); re-export the file as UTF-8"))
        else:
            try:
                pending.append((order, order_event(order, currency=currency, zone=zone,
                                                   source_name=source_name)))
            except ValueError as exc:
                bad.append((order, "invalid_order", str(exc)))
        if len(pending) + len(bad) >= BATCH:
            flush()
    flush()
    report.errors.sort(key=lambda e: e.row)
    report.dead_lettered = len(report.errors)
    return report


def import_file(session_factory: Callable[[], Session], settings: Settings, source: SourceLike,
                source_name: str, path: Path, fmt: str | None = None,
                **options: Any) -> ImportReport:
    """``import_orders`` for a file; the format defaults to the file's extension."""
    chosen = (fmt or path.suffix.lstrip(".").lower()).replace("jsonl", "json").replace("ndjson", "json")
    if chosen not in FORMATS:
        raise PosFileError(f"cannot tell the format of {path.name}; pass --format csv or json")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise PosFileError(f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; split it")
    return import_orders(session_factory, settings, source, source_name, path.read_bytes(),
                         chosen, **options)
