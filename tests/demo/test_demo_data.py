"""The demo data set: counts, determinism, the API's rules, stage history, search and sign-in.

One scale-1 load per backend is shared by the read-only checks (small chunks and a low index
threshold, so the multi-chunk and deferred-index paths run too); loads that change the
database use the per-test ``container``.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
from sqlalchemy import create_engine, func, select, text

from rapport.bootstrap import Container, bootstrap
from rapport.config import Settings
from rapport.crm.changes import ChangeRecord
from rapport.crm.models import Opportunity, Pipeline, PipelineStage, Task
from rapport.crm.normalise import normalise_email, normalise_phone
from rapport.crm.query import ListQuery
from rapport.crm.registry import OBJECTS
from rapport.crm.search import document_text
from rapport.crm.service import SYSTEM
from rapport.db.base import Base
from rapport.db.engine import normalise_url
from rapport.db.migrate import upgrade
from rapport.demo import LoadResult, Renderer, build_plan, load_demo
from rapport.demo.generate import expected_counts
from rapport.demo.load import _secondary_indexes
from rapport.errors import Conflict
from rapport.trust.auth import authenticate_password
from rapport.trust.models import User
from tests.fixtures.database import BACKENDS

ANCHOR = datetime(2026, 3, 16, 9, 0, tzinfo=UTC)
CHUNK = 700
INDEXED = ("accounts", "contacts", "opportunities", "activities", "tasks", "tickets", "leads")
RESERVED_EMAIL = re.compile(r"^[a-z0-9.\-]+@([a-z0-9\-]+\.)?example\.(com|cn|org)$")
CN_MOBILE = re.compile(r"^\+861[358]\d{9}$")


@dataclass
class Loaded:
    container: Container
    result: LoadResult
    indexes_before: dict[str, set[str]]


def _indexes(container: Container) -> dict[str, set[str]]:
    """Secondary indexes per table and, on PostgreSQL, foreign keys and search-table indexes."""
    found: dict[str, set[str]] = {}
    with container.engine.connect() as conn:
        for table in INDEXED:
            found[table] = {name for name, _sql in _secondary_indexes(conn, table)}
            if conn.dialect.name == "postgresql":
                found[table] |= {name for name, _sql in _secondary_indexes(conn, f"search_{table}")}
                found[table] |= set(conn.execute(text(
                    "SELECT conname FROM pg_constraint WHERE contype = 'f' "
                    "AND conrelid = CAST(:t AS regclass)"), {"t": table}).scalars())
    return found


def _own_database(request: pytest.FixtureRequest, directory: Path) -> str:
    """A migrated database for this module alone (the shared test schema is emptied per test)."""
    if request.param == "sqlite":
        url = f"sqlite:///{directory / 'demo.db'}"
        upgrade(url)
        return url
    base: str = request.getfixturevalue("postgres_base_url")
    schema = "demo_" + uuid.uuid4().hex[:12]
    engine = create_engine(normalise_url(base))
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public"))

    def drop() -> None:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()

    request.addfinalizer(drop)
    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}options=-csearch_path%3D{schema},public"
    upgrade(url)
    return url


@pytest.fixture(scope="module", params=BACKENDS)
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    url = _own_database(request, tmp_path_factory.mktemp("demo"))
    container = bootstrap(Settings(database_url=url, environment="test", default_phone_region="CN"))
    before = _indexes(container)
    result = load_demo(container.engine, scale=1, anchor=ANCHOR, workers=0, chunk=CHUNK,
                       defer_indexes_from=1000, check_foreign_keys=False)
    yield Loaded(container, result, before)
    container.engine.dispose()


def _count(container: Container, table: str) -> int:
    with container.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Base.metadata.tables[table])).scalar_one())


def _search_count(container: Container, search_table: str) -> int:
    with container.engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {search_table}")).scalar_one())  # noqa: S608


# ---- volumes and idempotence ---------------------------------------------------------------


def test_scale_one_loads_the_expected_counts(container: Container) -> None:
    result = load_demo(container.engine, scale=1, anchor=ANCHOR)

    expected = expected_counts(build_plan(scale=1, anchor=ANCHOR))
    assert expected["accounts"] == 200
    assert expected["contacts"] == 1000
    assert expected["opportunities"] == 500
    assert expected["activities"] == 3000
    assert (expected["leads"], expected["tasks"], expected["tickets"]) == (300, 300, 200)
    for table, count in expected.items():
        assert _count(container, table) == count == result.counts[table], table
    assert result.counts["change_records"] == _count(container, "change_records") > 500
    for name in ("accounts", "contacts", "leads", "opportunities", "activities", "tasks",
                 "tickets", "products", "quotes", "users"):
        search_table = OBJECTS[name].search_table
        assert search_table is not None
        assert _search_count(container, search_table) == _count(container, name), name


def test_if_empty_leaves_a_loaded_database_alone(container: Container) -> None:
    load_demo(container.engine, scale=1, anchor=ANCHOR)
    before = {t: _count(container, t) for t in ("accounts", "contacts", "users", "activities")}

    again = load_demo(container.engine, scale=1, anchor=ANCHOR, if_empty=True)

    assert again.skipped
    assert {t: _count(container, t) for t in before} == before
    with pytest.raises(Conflict):
        load_demo(container.engine, scale=1, anchor=ANCHOR)


def test_worker_processes_write_exactly_what_the_plan_renders(container: Container) -> None:
    load_demo(container.engine, scale=1, anchor=ANCHOR, workers=1, chunk=500)

    renderer = Renderer(build_plan(scale=1, anchor=ANCHOR, chunk=500))
    expected_contacts = [
        (r["id"], r["first_name"], r["last_name"], r["email"], r["mobile"])
        for part in range(2) for r in renderer.render("contacts", part)["contacts"]
    ]
    expected_activities = [
        (r["id"], r["subject"], r["occurred_at"])
        for part in range(6) for r in renderer.render("activities", part)["activities"]
    ]
    with container.engine.connect() as conn:
        contacts = [tuple(r) for r in conn.execute(text(
            "SELECT id, first_name, last_name, email, mobile FROM contacts ORDER BY id"))]
    with container.uow() as uow:
        activities = [
            (a.id, a.values["subject"], a.values["occurred_at"])
            for a in _all(container, uow.session, "activities")
        ]
    assert contacts == expected_contacts
    assert activities == expected_activities


def _all(container: Container, session: Any, name: str) -> list[Any]:
    records = []
    query = ListQuery(sort=["id"], limit=200)
    while True:
        page = container.records.list(session, name, query, actor=SYSTEM)
        records.extend(page.items)
        if page.next_cursor is None:
            return records
        query = ListQuery(sort=["id"], limit=200, cursor=page.next_cursor)


def test_the_same_seed_gives_the_same_people_and_another_seed_does_not() -> None:
    def people(seed: int) -> list[tuple[str, str, str]]:
        rows = Renderer(build_plan(scale=1, seed=seed, anchor=ANCHOR)).render("contacts", 0)
        return [(r["last_name"], r["first_name"], r["email"]) for r in rows["contacts"]]

    assert people(7) == people(7)
    assert people(7) != people(8)


def test_the_loaded_contacts_are_the_planned_ones(demo: Loaded) -> None:
    rendered = Renderer(build_plan(scale=1, anchor=ANCHOR, chunk=CHUNK)).render("contacts", 0)
    expected = [(r["id"], r["last_name"], r["first_name"]) for r in rendered["contacts"][:100]]
    with demo.container.engine.connect() as conn:
        stored = [tuple(r) for r in conn.execute(text(
            "SELECT id, last_name, first_name FROM contacts ORDER BY id LIMIT 100"))]
    assert stored == expected


def test_deferred_indexes_are_rebuilt(demo: Loaded) -> None:
    assert _indexes(demo.container) == demo.indexes_before
    assert demo.indexes_before["activities"]


def test_every_reference_resolves_when_loaded_without_row_checks(demo: Loaded) -> None:
    if demo.container.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL always checks foreign keys")
    with demo.container.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar_one() == 1  # NORMAL again
        automerge = conn.exec_driver_sql(
            "SELECT v FROM search_activities_config WHERE k = 'automerge'").scalar_one()
        assert automerge == 4  # SQLite's default, raised only while loading


# ---- the API's rules -----------------------------------------------------------------------

# Objects written through the validated service path; unique columns get a fresh value.
ROUND_TRIP = ("accounts", "contacts", "leads", "opportunities", "activities", "tasks", "tickets",
              "quotes", "quote_lines", "products", "pipelines",
              "pipeline_stages")
UNIQUE = ("external_id", "number", "sku")


def test_demo_records_pass_the_rules_the_api_enforces(demo: Loaded) -> None:
    """Each sampled record, sent back through RecordService.create, is accepted unchanged."""
    container = demo.container
    with container.uow() as uow:
        session = uow.session
        for name in ROUND_TRIP:
            spec = OBJECTS[name]
            table = Base.metadata.tables[spec.table]
            ids = list(session.scalars(select(table.c.id).order_by(table.c.id)))
            for record_id in ids[:: max(1, len(ids) // 12)]:
                stored = container.records.get(session, name, record_id, actor=SYSTEM).values
                payload = {
                    f.name: stored[f.name] for f in spec.writable_fields()
                    if stored.get(f.name) is not None
                }
                if stored["custom"]:
                    payload["custom"] = stored["custom"]
                for unique in UNIQUE:
                    if unique in payload:
                        payload[unique] = f"{payload[unique]}-copy"
                if name == "pipelines":
                    payload["is_default"] = False

                created = container.records.create(uow, SYSTEM, name, payload).values

                for field, value in payload.items():
                    assert created[field] == value, (name, record_id, field)
                for derived in ("status", "probability", "line_total"):
                    if derived in stored and name in ("opportunities", "quote_lines"):
                        assert created[derived] == stored[derived], (name, record_id, derived)
        uow.rollback()


def test_every_opportunity_sits_in_a_stage_of_its_pipeline(demo: Loaded) -> None:
    with demo.container.uow() as uow:
        rows = uow.session.execute(
            select(Opportunity, PipelineStage).join(PipelineStage, PipelineStage.id == Opportunity.stage_id)
        ).all()
        assert len(rows) == 500
        seen: dict[int, set[int]] = defaultdict(set)
        for opp, stage in rows:
            assert stage.pipeline_id == opp.pipeline_id
            assert opp.probability == stage.probability
            assert opp.status == ("won" if stage.is_won else "lost" if stage.is_lost else "open")
            for required in stage.required_fields:
                assert getattr(opp, required) not in (None, ""), (opp.id, stage.name, required)
            assert opp.currency in ("CNY", "EUR", "USD")
            seen[opp.pipeline_id].add(stage.id)
        pipelines = uow.session.scalars(select(Pipeline).where(Pipeline.object_type == "opportunity"))
        for pipeline in pipelines:
            stages = set(uow.session.scalars(
                select(PipelineStage.id).where(PipelineStage.pipeline_id == pipeline.id)))
            assert seen[pipeline.id] == stages, f"{pipeline.name} has empty stages"


def test_regional_variants_map_every_stage_onto_the_baseline(demo: Loaded) -> None:
    with demo.container.uow() as uow:
        session = uow.session
        variants = list(session.scalars(select(Pipeline).where(Pipeline.baseline_pipeline_id.is_not(None))))
        assert {v.name for v in variants} >= {"Medical Devices - EMEA tenders"}
        for variant in variants:
            assert variant.region_id is not None
            baseline = {s.id: s for s in session.scalars(
                select(PipelineStage).where(PipelineStage.pipeline_id == variant.baseline_pipeline_id))}
            for stage in session.scalars(select(PipelineStage).where(PipelineStage.pipeline_id == variant.id)):
                base = baseline[stage.baseline_stage_id]
                assert (base.is_won, base.is_lost) == (stage.is_won, stage.is_lost)
        tender = session.scalar(select(PipelineStage).where(PipelineStage.name == "Tender submitted"))
        assert tender is not None
        assert tender.required_fields == ["amount"]


def test_stage_history_walks_the_pipeline_to_the_current_stage(demo: Loaded) -> None:
    with demo.container.uow() as uow:
        session = uow.session
        history: dict[int, list[ChangeRecord]] = defaultdict(list)
        for change in session.scalars(select(ChangeRecord).order_by(ChangeRecord.id)):
            assert (change.object_type, change.action) == ("opportunities", "updated")
            history[change.record_id].append(change)
        first_stage = {
            p: min(s, key=lambda x: x.position).id
            for p, s in _stages_by_pipeline(session).items()
        }
        moved = 0
        for opp in session.scalars(select(Opportunity)):
            changes = history.get(opp.id, [])
            assert len(changes) == opp.version - 1
            if not changes:
                assert opp.stage_id == first_stage[opp.pipeline_id]
                continue
            moved += 1
            assert changes[0].changes["stage_id"][0] == first_stage[opp.pipeline_id]
            for before, after in zip(changes, changes[1:], strict=False):
                assert before.changes["stage_id"][1] == after.changes["stage_id"][0]
                assert before.occurred_at <= after.occurred_at
            assert changes[-1].changes["stage_id"][1] == opp.stage_id
            assert opp.created_at <= changes[0].occurred_at
            assert changes[-1].occurred_at <= ANCHOR
            assert changes[-1].actor_user_id == opp.owner_id
        assert moved > 250


def _stages_by_pipeline(session: Any) -> dict[int, list[PipelineStage]]:
    found: dict[int, list[PipelineStage]] = defaultdict(list)
    for stage in session.scalars(select(PipelineStage)):
        found[stage.pipeline_id].append(stage)
    return found


def test_people_have_reserved_emails_and_valid_phone_numbers(demo: Loaded) -> None:
    with demo.container.engine.connect() as conn:
        contacts = conn.execute(text("SELECT last_name, email, phone, mobile, country FROM contacts")).all()
        leads = conn.execute(text("SELECT email, phone FROM leads")).all()
        accounts = conn.execute(text("SELECT email, phone, website FROM accounts")).all()
    chinese = 0
    for last_name, email, _phone, mobile, _country in contacts:
        assert RESERVED_EMAIL.match(email), email
        assert normalise_email(email) == email
        if "\u4e00" <= last_name[0] <= "\u9fff":
            chinese += 1
            assert mobile is None or CN_MOBILE.match(mobile), mobile
    assert chinese > 400
    numbers = [n for row in contacts for n in row[2:4] if n] + [p for _e, p in leads if p]
    numbers += [p for _e, p, _w in accounts]
    for number in numbers:
        assert normalise_phone(number, "CN") == number
        assert phonenumbers.is_valid_number(phonenumbers.parse(number)), number
    for email, _phone, website in accounts:
        assert RESERVED_EMAIL.match(email), email
        assert re.match(r"^https://www\.[a-z0-9\-]+\.example\.(com|cn|org)$", website), website
    for email, _phone in leads:
        assert email is None or RESERVED_EMAIL.match(email), email


# ---- search and sign-in ---------------------------------------------------------------------


def test_search_finds_a_chinese_contact_by_name(demo: Loaded) -> None:
    container = demo.container
    with container.uow() as uow:
        contact = next(
            c for c in _all(container, uow.session, "contacts")
            if "\u4e00" <= c.values["last_name"][0] <= "\u9fff"
        )
        name = contact.values["last_name"] + contact.values["first_name"]

        page = container.records.list(uow.session, "contacts", ListQuery(q=name, limit=200),
                                         actor=SYSTEM)

        assert contact.id in {r.id for r in page.items}
        assert all(name in r.values["title"] for r in page.items)


def test_search_finds_wang_wei_by_full_name_and_family_name_first(demo: Loaded) -> None:
    container = demo.container
    with container.uow() as uow:
        for query in ("王伟", "伟 王"):
            page = container.records.list(uow.session, "contacts", ListQuery(q=query), actor=SYSTEM)
            assert "王伟" in {r.values["title"] for r in page.items}, query


def test_search_finds_records_by_chinese_and_english_text(demo: Loaded) -> None:
    container = demo.container
    with container.uow() as uow:
        session = uow.session
        for object_name, query in (("activities", "EMC测试报告"), ("activities", "tender"),
                                   ("accounts", "有限公司"), ("tickets", "输液泵"),
                                   ("products", "伺服驱动器"), ("users", "demo")):
            page = container.records.list(session, object_name, ListQuery(q=query), actor=SYSTEM)
            assert page.count > 0, (object_name, query)


def test_search_documents_are_the_ones_the_service_would_write(demo: Loaded) -> None:
    container = demo.container
    dialect = container.engine.dialect.name
    key = "rowid" if dialect == "sqlite" else "record_id"
    with container.uow() as uow:
        session = uow.session
        for name in ("accounts", "contacts", "leads", "opportunities", "activities", "tasks",
                     "tickets", "products", "quotes", "users"):
            spec = OBJECTS[name]
            stored = dict(session.execute(text(
                f"SELECT {key}, body FROM {spec.search_table} WHERE {key} <= 400")).all())  # noqa: S608
            records = container.records.get_many(session, name, list(stored), actor=SYSTEM)
            assert records, name
            for record_id, record in records.items():
                assert stored[record_id] == document_text(spec, record.values), (name, record_id)


def test_demo_users_sign_in_with_the_published_password(demo: Loaded) -> None:
    with demo.container.uow() as uow:
        demo_user = authenticate_password(uow.session, "demo@example.com", "rapport-demo")
        demo_zh = authenticate_password(uow.session, "demo-zh@example.com", "rapport-demo")
        rep_email = uow.session.scalar(select(User.email).where(User.id == demo_user.user_id + 7))
        assert rep_email is not None
        rep = authenticate_password(uow.session, rep_email, "rapport-demo")
    assert (demo_user.is_admin, demo_user.locale) == (True, "en")
    assert demo_zh.locale == "zh_CN"
    assert rep.user_id == demo_user.user_id + 7


def test_the_demo_user_has_overdue_and_upcoming_tasks(demo: Loaded) -> None:
    with demo.container.uow() as uow:
        user_id = authenticate_password(uow.session, "demo@example.com", "rapport-demo").user_id
        tasks = list(uow.session.scalars(select(Task).where(Task.assignee_id == user_id)))
        open_tasks = [t for t in tasks if t.status in ("open", "in_progress")]
        assert len(tasks) >= 10
        assert any(t.due_at is not None and t.due_at < ANCHOR for t in open_tasks)
        assert any(t.due_at is not None and t.due_at > ANCHOR for t in open_tasks)
        for task in tasks:
            assert (task.completed_at is not None) == (task.status == "done")
            assert task.created_at <= ANCHOR
