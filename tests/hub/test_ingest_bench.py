"""bench/ingest.py keeps working: its journey generator and its floor, on a few hundred events."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import orjson
import pytest

from rapport.bootstrap import Container
from rapport.events import collector, sources

BENCH = Path(__file__).resolve().parents[2] / "bench" / "ingest.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_ingest", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_ingest"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_generator_walks_customers_through_realistic_journeys(bench: ModuleType) -> None:
    batches, stats = bench.generate(600, 40, seed=3, batch_events=50)
    events = [e for b in batches for e in orjson.loads(b.body)["batch"]]
    assert len(events) == stats.events == 600
    assert all(b.events <= 50 and b.source in {s for s, _ in bench.SOURCES} for b in batches)
    assert stats.as_json()["customers"] > 30
    kinds = {e.get("event") or e["type"] for e in events}
    assert {"page", "identify", "Document Read"} <= kinds
    ids = [e["messageId"] for e in events]
    assert len(ids) - len(set(ids)) == stats.duplicates  # retries repeat a messageId
    assert any(e.get("userId") for e in events)  # some customers identified themselves


def test_the_floor_stores_each_distinct_event_once(bench: ModuleType, tmp_path: Path) -> None:
    batches, stats = bench.generate(300, 30, seed=5)
    floor = bench.floor_sqlite(batches, tmp_path / "floor.db")
    assert floor["events"] == 300
    assert floor["stored"] == 300 - stats.duplicates
    assert floor["events_per_s"] > 0


def test_the_collector_accepts_what_the_generator_means_to_be_valid(
    bench: ModuleType, container: Container
) -> None:
    batches, stats = bench.generate(2000, 100, seed=9)
    accepted = duplicates = dead = 0
    with container.uow() as uow:
        issued = {name: sources.create_source(uow.session, name, channel).source
                  for name, channel in bench.SOURCES}
        for batch in batches:
            result = collector.ingest(uow.session, container.settings, issued[batch.source],
                                      orjson.loads(batch.body)["batch"])
            accepted += result.accepted
            duplicates += result.duplicates
            dead += result.dead_lettered
        uow.commit()
    assert accepted + duplicates + dead == 2000
    assert duplicates == stats.duplicates
    assert dead == stats.bad  # junk identifiers are stored; the identity guards handle them
