"""Data-hub demo: sources and a fortnight of events, stitched into profiles of demo contacts.

Run after the records are loaded (``rapport demo load``), through the real collector and the
real pipeline, so the customer 360 pages, the data-health dashboard, the dead letters and the
merge reviews all have something to show:

- four sources (website, mobile app, store point of sale, factory sensors);
- demo contacts walking from anonymous visits to ``identify`` with their e-mail (so their
  profile links to the contact), reading documents, using the app, buying in store;
- anonymous visitors who never identify; a few devices with a wrong clock;
- client retries (duplicates), events with no identity or an unreadable timestamp (dead
  letters), and two logins sharing one mailbox (a merge review).

Deterministic for a seed; timestamps are relative to now.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from rapport.bootstrap import Container
from rapport.crm.models import Contact
from rapport.events import collector, sources
from rapport.events.processors import EmbeddedProcessors

SOURCES = (("Website", "web"), ("Mobile app", "app"), ("Store POS", "pos"),
           ("Factory sensors", "iot"))
PAGES = [("Home", "/"), ("Servo drives", "/products/servo"), ("PLC controllers", "/products/plc"),
         ("Pricing", "/pricing"), ("Case study: automotive", "/cases/automotive"),
         ("Support", "/support"), ("Downloads", "/downloads")]
DOCUMENTS = ["Servo X5 datasheet", "EMC test report", "PLC-9 manual", "Installation guide"]
SCREENS = ["Catalogue", "Product", "Orders", "Support chat"]
PRODUCTS = [("SX5", "Servo drive X5", 1299.0), ("PLC9", "PLC-9 controller", 2450.0),
            ("CAB2", "Shielded cable 2 m", 18.5)]
BATCH = 100


@dataclass
class HubDemo:
    """What was sent and what became of it."""

    sources: int = 0
    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    processed: int = 0
    customers: int = 0
    by_source: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


class _Journeys:
    def __init__(self, seed: int, now: datetime) -> None:
        self.rnd = random.Random(seed + 1)  # noqa: S311 - demo data
        self.now = now
        self.count = 0
        self.recent: list[tuple[str, dict[str, Any]]] = []

    def message(self, kind: str, at: datetime, anonymous: str | None, user: str | None,
                device: str | None, skew: timedelta = timedelta(0)) -> dict[str, Any]:
        self.count += 1
        # sent now, as a client flushing what it buffered: the collector corrects the clock
        # by sentAt, so a wrong device clock (skew) is put right and history stays history
        body: dict[str, Any] = {"type": kind, "messageId": f"demo-{self.count:07d}",
                                "timestamp": (at + skew).isoformat(),
                                "sentAt": (self.now + skew).isoformat()}
        if anonymous:
            body["anonymousId"] = anonymous
        if user:
            body["userId"] = user
        if device:
            body["context"] = {"device": {"fingerprint": device},
                               "session": {"id": f"s-{anonymous}-{at:%Y%m%d}"}}
        return body

    def visit(self, out: dict[str, list[dict[str, Any]]], anonymous: str, user: str | None,
              device: str, day: datetime, skew: timedelta) -> None:
        rnd = self.rnd
        at = day + timedelta(hours=rnd.randint(8, 20), minutes=rnd.randint(0, 59))
        for _ in range(rnd.randint(1, 5)):
            name, path = rnd.choice(PAGES)
            page = self.message("page", at, anonymous, user, device, skew)
            page.update(name=name, properties={"path": path, "title": name})
            out["Website"].append(page)
            at += timedelta(seconds=rnd.randint(10, 240))
        if rnd.random() < 0.35:
            read = self.message("track", at, anonymous, user, device, skew)
            read.update(event="Document Read", properties={
                "document": rnd.choice(DOCUMENTS), "dwell_seconds": rnd.randint(20, 600),
                "printed": rnd.random() < 0.1})
            out["Website"].append(read)


def _contacts(container: Container, limit: int) -> list[tuple[int, str, str | None, str]]:
    """Demo contacts with an e-mail: id, e-mail, mobile, the name they give when identifying."""
    with container.session_factory() as session:
        rows = session.execute(select(Contact.id, Contact.email, Contact.mobile,
                                      Contact.first_name, Contact.last_name)
                               .where(Contact.email.is_not(None)).order_by(Contact.id)
                               .limit(limit)).all()
    return [(int(i), str(e), m, _name(first, last)) for i, e, m, first, last in rows]


def _name(first: str | None, last: str | None) -> str:
    if first and last and not first.isascii():  # 王伟: family name first, no space
        return f"{last}{first}"
    return " ".join(part for part in (first, last) if part)


def plan_events(container: Container, seed: int, scale: int, now: datetime) -> HubDemo:
    """The messages per source, in the order a client would send them."""
    rnd = random.Random(seed)  # noqa: S311 - demo data
    journeys = _Journeys(seed, now)
    out: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in SOURCES}
    customers = _contacts(container, 150 * scale)
    start = now - timedelta(days=14)
    for n, (contact_id, email, mobile, name) in enumerate(customers):
        anonymous, device, user = f"anon-demo-{n:05d}", f"fp-demo-{n:05d}", f"cust-{contact_id}"
        skew = timedelta(minutes=rnd.choice([-90, 45])) if rnd.random() < 0.05 else timedelta(0)
        days = sorted(rnd.sample(range(14), rnd.randint(1, 5)))
        identified_on = days[len(days) // 2]
        for day in days:
            date = start + timedelta(days=day)
            known = day >= identified_on
            if day == identified_on:
                identify = journeys.message("identify", date + timedelta(hours=9), anonymous,
                                            user, device, skew)
                identify["traits"] = {"email": email, "name": name,
                                      **({"phone": mobile} if mobile else {})}
                out["Website"].append(identify)
            journeys.visit(out, anonymous, user if known else None, device, date, skew)
            if known and rnd.random() < 0.4:
                screen = journeys.message("screen", date + timedelta(hours=21), None, user,
                                          f"app-{n:05d}")
                screen.update(name=rnd.choice(SCREENS))
                out["Mobile app"].append(screen)
        if rnd.random() < 0.3:
            sku, name, price = rnd.choice(PRODUCTS)
            quantity = rnd.randint(1, 12)
            order = journeys.message("track", start + timedelta(days=rnd.randint(7, 12), hours=15),
                                     None, user, None)
            order.update(event="Order Completed", traits={"email": email}, properties={
                "order_id": f"demo-order-{n:05d}", "revenue": round(price * quantity, 2),
                "currency": "CNY", "products": [{"sku": sku, "name": name, "quantity": quantity}]})
            out["Store POS"].append(order)
        if n % 10 == 0:  # a customer's machine reporting from the plant
            for hour in range(0, 48, 6):
                reading = journeys.message("track", now - timedelta(hours=hour), None, user,
                                           None)
                reading.update(event="Sensor Reading", properties={
                    "device": f"servo-{n:05d}", "temperature_c": round(rnd.uniform(35, 70), 1),
                    "vibration_mm_s": round(rnd.uniform(0.5, 4.5), 2)})
                out["Factory sensors"].append(reading)
    for n in range(100 * scale):  # visitors who never say who they are
        anonymous = f"anon-visitor-{n:05d}"
        for day in sorted(rnd.sample(range(14), rnd.randint(1, 3))):
            journeys.visit(out, anonymous, None, f"fp-visitor-{n:05d}",
                           start + timedelta(days=day), timedelta(0))
    if customers:  # two logins that share one mailbox: kept apart, flagged for review
        email = customers[0][1]
        for user in ("shop-login-a", "shop-login-b"):
            shared = journeys.message("identify", now - timedelta(hours=2), None, user, None)
            shared["traits"] = {"email": email}
            out["Website"].append(shared)
    web = out["Website"]
    for index in range(0, len(web), 97):  # client retries: the same messageId again
        web.append(dict(web[index]))
    web.append({"type": "track", "event": "Viewed", "messageId": "demo-no-identity"})
    web.append({"type": "page", "anonymousId": "anon-bad-clock", "messageId": "demo-bad-time",
                "timestamp": "yesterday at noon"})
    demo = HubDemo(customers=len(customers), by_source=out)
    demo.sent = sum(len(v) for v in out.values())
    return demo


def load_hub_demo(container: Container, *, seed: int = 2026, scale: int = 1,
                  now: datetime | None = None) -> HubDemo:
    """Create the sources, send the events through the collector, process them."""
    now = now or datetime.now(UTC)
    demo = plan_events(container, seed, scale, now)
    with container.uow() as uow:
        created = {name: sources.create_source(uow.session, name, channel).source
                   for name, channel in SOURCES}
        uow.commit()
    demo.sources = len(created)
    for name, messages in demo.by_source.items():
        source = created[name]
        for start in range(0, len(messages), BATCH):
            with container.uow() as uow:
                result = collector.ingest(uow.session, container.settings, source,
                                          messages[start:start + BATCH],
                                          client_ip="198.51.100.20", user_agent="Mozilla/5.0 (demo)")
                uow.commit()
            demo.accepted += result.accepted
            demo.duplicates += result.duplicates
            demo.dead_letters += result.dead_lettered
    demo.processed = EmbeddedProcessors(container.session_factory, container.settings).drain()
    return demo
