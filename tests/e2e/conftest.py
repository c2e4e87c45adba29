"""A live Rapport server (uvicorn in a thread, temp SQLite) and headless Chromium."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
import uvicorn

from rapport.api.app import create_app
from rapport.bootstrap import Container, bootstrap
from rapport.config import Settings
from rapport.crm.service import SYSTEM
from rapport.db.migrate import upgrade
from rapport.trust.auth import create_user
from rapport.trust.roles import set_user_roles

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(__file__).parent / "screenshots"
PASSWORD = "correct-horse-battery"


@dataclass
class Live:
    url: str
    container: Container
    ids: dict[str, int]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _seed(container: Container) -> dict[str, int]:
    records = container.records
    with container.uow() as uow:
        admin = create_user(uow.session, "ada@example.com", PASSWORD, name="Ada Admin",
                            is_admin=True)
        li_lei = create_user(uow.session, "li.lei@example.com", PASSWORD, name="李雷")
        rep = create_user(uow.session, "rep@example.com", PASSWORD, name="Ren Rep")
        secret = container.settings.secret_key
        set_user_roles(uow.session, secret, None, admin.user_id, ["admin"])
        set_user_roles(uow.session, secret, None, li_lei.user_id, ["admin"])
        set_user_roles(uow.session, secret, None, rep.user_id, ["sales_rep"])
        rep_contact = records.create(uow, SYSTEM, "contacts", {
            "first_name": "Fang", "last_name": "Wang", "email": "wang.fang@example.com",
            "phone": "+8613912345678", "owner_id": rep.user_id, "job_title": "Buyer"})
        records.create(uow, SYSTEM, "contacts", {
            "first_name": "Hidden", "last_name": "Elsewhere", "email": "not.yours@example.com",
            "owner_id": admin.user_id})
        pipeline = records.create(uow, SYSTEM, "pipelines", {"name": "Sales", "is_default": True})
        stages = {}
        for position, (name, probability, extra) in enumerate([
            ("Qualify", 10, {}), ("Proposal", 50, {"required_fields": ["amount"]}),
            ("Negotiation", 70, {}), ("Won", 100, {"is_won": True}),
        ], start=1):
            stages[name] = records.create(uow, SYSTEM, "pipeline_stages", {
                "pipeline_id": pipeline.id, "name": name, "position": position,
                "probability": probability, **extra,
            }).id
        account = records.create(uow, SYSTEM, "accounts", {
            "name": "Acme Robotics", "tier": "A", "city": "Shanghai", "owner_id": admin.user_id,
        })
        deal = records.create(uow, SYSTEM, "opportunities", {
            "name": "Acme line retrofit", "account_id": account.id, "amount": Decimal("1250000"),
            "currency": "CNY", "owner_id": admin.user_id, "close_date": "2026-06-30",
        })
        no_amount = records.create(uow, SYSTEM, "opportunities", {
            "name": "Acme spare parts", "account_id": account.id, "owner_id": admin.user_id,
        })
        records.create(uow, SYSTEM, "opportunities", {
            "name": "Globex sensors", "amount": Decimal("98000"), "currency": "USD",
            "stage_id": stages["Proposal"], "owner_id": admin.user_id,
        })
        records.create(uow, SYSTEM, "tasks", {
            "title": "Send the retrofit proposal", "assignee_id": admin.user_id,
            "due_at": "2026-01-05T09:00:00+08:00", "priority": "high",
            "opportunity_id": deal.id,
        })
        uow.commit()
    return {"pipeline": pipeline.id, **{f"stage_{k.lower()}": v for k, v in stages.items()},
            "account": account.id, "deal": deal.id, "no_amount": no_amount.id,
            "rep_contact": rep_contact.id}


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    url = f"sqlite:///{tmp_path_factory.mktemp('e2e') / 'rapport.db'}"
    upgrade(url)
    container = bootstrap(Settings(database_url=url, environment="test",
                                   secret_key="e2e-secret-key-not-for-production"))
    ids = _seed(container)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(container), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield Live(f"http://127.0.0.1:{port}", container, ids)
    server.should_exit = True
    thread.join(timeout=10)
    container.engine.dispose()


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: object, live: Live) -> Iterator[object]:
    context = chromium.new_context(  # type: ignore[attr-defined]
        base_url=live.url, viewport={"width": 1400, "height": 900}, locale="en-US",
    )
    context.set_default_timeout(10_000)
    pg = context.new_page()
    yield pg
    context.close()


def shot(page: object, name: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    return path
