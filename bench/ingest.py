"""Data-hub ingest benchmark (issue 4): events through HTTP, stitched into live profiles.

    .venv/bin/python bench/ingest.py --backend sqlite --events 1000000 --customers 100000
    .venv/bin/python bench/ingest.py --quick                  # 20k events, a smoke run
    .venv/bin/python bench/ingest.py --backend postgres-nats --events 200000

Phases (each prints a line; the last line of output is one JSON object):

- generate: realistic journeys of ``--customers`` people (anonymous page views, identify with
  email/phone, document reads with dwell time and print, app screens, point-of-sale orders),
  with junk identifiers, duplicates (a repeated messageId) and bad events (no identity, an
  unparseable timestamp), batched per source like an SDK does (100 events a batch).
  ``sentAt`` is stamped when the events are generated, so on a long run the clock skew the
  collector measures grows with the time an event waited in the client.
- floor: the same batch bodies decoded with ``orjson.loads`` and written with one
  ``executemany`` INSERT and a commit per batch into an events-shaped table (same columns,
  unique key and indexes) in the same kind of store, with the same SQLite pragmas.
- ingest (sqlite): ``rapport serve`` in a subprocess (collector + in-process bus + embedded
  processors), HTTP/1.1 keep-alive clients in threads post every batch to ``/v1/batch``; the
  run ends when no accepted event is waiting for processing. events/s end to end = accepted
  events / (first request → last event processed). Latency = ``processed_at − received_at``
  of each event (acceptance → the profile shows it). Memory: the server's peak RSS.
- paced (sqlite): a client sending ``--rate`` events/s on a fixed schedule for
  ``--duration`` seconds; does the hub keep up (backlog when sending stops, p99 latency)?
- nats (postgres-nats): the server stores and publishes to JetStream with no processor
  running; then one, then two ``rapport worker`` processes drain the same-sized pre-loaded
  stream (each run on a fresh database and stream); CPU seconds per process (server,
  workers, PostgreSQL, NATS) from /proc. Then two workers again, one killed with SIGKILL
  a third of the way in: how long until the survivor processes the killed one's
  partitions, and is every event processed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
BIN = Path(sys.executable).parent
PG_ADMIN_URL = os.environ.get("RAPPORT_BENCH_POSTGRES_ADMIN",
                              "postgresql://postgres@127.0.0.1:5432/postgres")
PG_BENCH_DB = "rapport_bench_ingest"
NATS_URL = os.environ.get("RAPPORT_BENCH_NATS_URL", "nats://127.0.0.1:4222")
SOURCES = (("bench-web", "web"), ("bench-app", "app"), ("bench-pos", "pos"))
BATCH_EVENTS = 100
STAGGER = 1.0  # seconds between starting two workers (two at the same instant: see docs)
PARTITIONS = 16
CLK_TCK = os.sysconf("SC_CLK_TCK")
# the pragmas rapport.db.engine sets on every SQLite connection
SQLITE_PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "secure_delete=ON",
                  "busy_timeout=10000", "cache_size=-200000", "temp_store=MEMORY",
                  "mmap_size=1073741824", "wal_autocheckpoint=10000")


def log(message: str) -> None:
    print(message, flush=True)  # noqa: T201 - a benchmark prints its figures


# ------------------------------------------------------------------------ the generator


@dataclass
class Batch:
    source: str
    body: bytes
    events: int


@dataclass
class GenStats:
    events: int = 0
    duplicates: int = 0
    junk: int = 0
    bad: int = 0
    customers_seen: set[int] = field(default_factory=set)
    by_kind: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"events": self.events, "unique_events": self.events - self.duplicates,
                "customers": len(self.customers_seen),
                "duplicates": self.duplicates, "junk_identifiers": self.junk,
                "bad_events": self.bad, "by_kind": dict(sorted(self.by_kind.items()))}


PAGES = ["/", "/products", "/products/servo-drive-x5", "/products/plc-9", "/docs", "/pricing",
         "/contact", "/cases/automotive", "/blog/emc-testing", "/downloads"]
DOCUMENTS = ["EMC test report", "Servo X5 datasheet", "PLC-9 manual", "ISO 13485 certificate",
             "Installation guide"]
SCREENS = ["Home", "Catalogue", "Product", "Cart", "Orders", "Support"]
PRODUCTS = [("SX5", "Servo drive X5", 1299.0), ("PLC9", "PLC-9 controller", 2450.0),
            ("CAB2", "Shielded cable 2 m", 18.5), ("HMI7", "HMI panel 7 inch", 860.0)]
JUNK_ANONYMOUS = ["null", "anonymous", "0", "undefined"]


class Journeys:
    """Customers walking from anonymous browsing to identified buyers, one event at a time."""

    def __init__(self, customers: int, seed: int, prefix: str = "") -> None:
        self.n = customers
        self.rnd = random.Random(seed)
        self.prefix = prefix
        self.stage = bytearray(customers)  # 0 anonymous, 1 identified
        self.counter = 0
        self.recent: list[tuple[str, dict[str, Any]]] = []
        self.stats = GenStats()
        # about 5% of devices have a clock that is minutes to hours off
        self.offset_ms = {i: self.rnd.choice([-1, 1]) * self.rnd.randint(60_000, 7_200_000)
                          for i in self.rnd.sample(range(customers), max(1, customers // 20))}

    def _ids(self, i: int) -> dict[str, str]:
        return {"anon": f"{self.prefix}anon-{i:07d}-{(i * 2654435761) % 99991:05d}",
                "user": f"{self.prefix}cust-{i:07d}", "email": f"{self.prefix}c{i}@example.com",
                "phone": f"+86 138{i % 10**8:08d}", "fp": f"fp{(i * 40503) % 10**9:09d}"}

    def _base(self, i: int, kind: str, channel: str, now: datetime) -> dict[str, Any]:
        self.counter += 1
        ids = self._ids(i)
        skew = self.offset_ms.get(i, 0)
        happened = now - timedelta(milliseconds=self.rnd.randint(0, 2000))
        sent = happened + timedelta(milliseconds=self.rnd.randint(20, 1500))
        event: dict[str, Any] = {
            "type": kind, "messageId": f"{self.prefix}m{self.counter:09d}",
            "timestamp": (happened + timedelta(milliseconds=skew)).isoformat(),
            "sentAt": (sent + timedelta(milliseconds=skew)).isoformat(),
            "anonymousId": ids["anon"],
            "context": {"channel": channel, "locale": "zh-CN", "library": {"name": "rapport.js"},
                        "device": {"fingerprint": ids["fp"]},
                        "session": {"id": f"s-{i}-{self.counter // 50}"}},
        }
        if self.stage[i]:
            event["userId"] = ids["user"]
        return event

    def next_event(self, now: datetime) -> tuple[str, dict[str, Any]]:
        rnd = self.rnd
        roll = rnd.random()
        stats = self.stats
        if roll < 0.01 and self.recent:  # a client retry: the same messageId again
            stats.duplicates += 1
            stats.events += 1
            return rnd.choice(self.recent)
        i = rnd.randrange(self.n)
        stats.customers_seen.add(i)
        ids = self._ids(i)
        pick = rnd.random()
        if not self.stage[i]:
            if pick < 0.65:
                source, event = "bench-web", self._base(i, "page", "web", now)
                event["name"] = rnd.choice(PAGES)
                event["properties"] = {"path": event["name"], "referrer": "https://www.baidu.com/"}
            elif pick < 0.85:
                source, event = "bench-web", self._document(i, now)
            else:
                source, event = "bench-web", self._base(i, "identify", "web", now)
                self.stage[i] = 1
                event["userId"] = ids["user"]
                event["traits"] = {"email": ids["email"], "name": f"Customer {i}"}
                if i % 3 == 0:
                    event["traits"]["phone"] = ids["phone"]
        elif pick < 0.3:
            source, event = "bench-web", self._base(i, "page", "web", now)
            event["name"] = rnd.choice(PAGES)
            event["properties"] = {"path": event["name"]}
        elif pick < 0.5:
            source, event = "bench-web", self._document(i, now)
        elif pick < 0.7:
            source, event = "bench-app", self._base(i, "screen", "app", now)
            event["name"] = rnd.choice(SCREENS)
            event["context"]["device"]["type"] = rnd.choice(["ios", "android"])
        elif pick < 0.8:
            source, event = "bench-app", self._base(i, "track", "app", now)
            sku, name, price = rnd.choice(PRODUCTS)
            event["event"] = "Product Viewed"
            event["properties"] = {"sku": sku, "name": name, "price": price}
        elif pick < 0.92:  # point of sale: an order file row, no device or session
            source, event = "bench-pos", self._base(i, "track", "pos", now)
            event["context"] = {"channel": "pos", "store": f"store-{i % 37}"}
            del event["sentAt"]
            sku, name, price = rnd.choice(PRODUCTS)
            qty = rnd.randint(1, 20)
            event["event"] = "Order Completed"
            event["traits"] = {"email": ids["email"]}
            event["properties"] = {"order_id": f"{self.prefix}o{self.counter}",
                                   "revenue": round(price * qty, 2), "currency": "CNY",
                                   "products": [{"sku": sku, "quantity": qty, "price": price}]}
        else:
            source, event = "bench-web", self._base(i, "identify", "web", now)
            event["traits"] = {"phone": ids["phone"], "email": ids["email"]}
        kind = event.get("event") or event["type"]
        stats.by_kind[kind] = stats.by_kind.get(kind, 0) + 1
        junk = rnd.random()
        if junk < 0.003:  # junk identifiers the identity guards must refuse to merge on
            stats.junk += 1
            if "userId" not in event:
                event["anonymousId"] = rnd.choice(JUNK_ANONYMOUS)
            else:
                event.setdefault("traits", {})["email"] = "test@test.com"
        elif junk < 0.008:  # bad: no identity at all, or a timestamp nobody can read
            stats.bad += 1
            if rnd.random() < 0.5:
                event.pop("anonymousId", None)
                event.pop("userId", None)
            else:
                event["timestamp"] = "yesterday at noon"
        self.recent.append((source, event))
        if len(self.recent) > 2000:
            self.recent = self.recent[-1000:]
        stats.events += 1
        return source, event

    def _document(self, i: int, now: datetime) -> dict[str, Any]:
        event = self._base(i, "track", "web", now)
        event["event"] = "Document Read"
        event["properties"] = {"document": self.rnd.choice(DOCUMENTS),
                               "dwell_ms": int(self.rnd.expovariate(1 / 45_000)),
                               "printed": self.rnd.random() < 0.08}
        return event


def generate(events: int, customers: int, seed: int = 7, prefix: str = "",
             batch_events: int = BATCH_EVENTS) -> tuple[list[Batch], GenStats]:
    """Batch bodies per source, in journey order (an SDK flushes each source's buffer)."""
    journeys = Journeys(customers, seed, prefix)
    now = datetime.now(UTC)
    buffers: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in SOURCES}
    batches: list[Batch] = []
    for _ in range(events):
        source, event = journeys.next_event(now)
        buffer = buffers[source]
        buffer.append(event)
        if len(buffer) >= batch_events:
            batches.append(Batch(source, orjson.dumps({"batch": buffer}), len(buffer)))
            buffers[source] = []
    for source, buffer in buffers.items():
        if buffer:
            batches.append(Batch(source, orjson.dumps({"batch": buffer}), len(buffer)))
    return batches, journeys.stats


# ------------------------------------------------------------------------ the floor

FLOOR_COLUMNS = ("source_id", "message_id", "type", "name", "user_id", "anonymous_id",
                 "timestamp", "sent_at", "received_at", "channel", "fingerprint", "session_id",
                 "properties", "traits", "context", "partition")
FLOOR_TABLE = """
CREATE TABLE IF NOT EXISTS floor_events (
  id INTEGER PRIMARY KEY, source_id INTEGER NOT NULL, message_id VARCHAR(200) NOT NULL,
  type VARCHAR(10) NOT NULL, name VARCHAR(200), user_id VARCHAR(200), anonymous_id VARCHAR(200),
  timestamp {ts}, sent_at {ts}, received_at {ts} NOT NULL, skew_ms INTEGER,
  channel VARCHAR(10), fingerprint VARCHAR(128), session_id VARCHAR(128),
  properties {js}, traits {js}, context {js}, partition INTEGER NOT NULL,
  profile_id BIGINT, processed_at {ts},
  UNIQUE (source_id, message_id))
"""
FLOOR_INDEXES = (
    "CREATE INDEX IF NOT EXISTS ix_floor_pending ON floor_events (partition, processed_at, id)",
    "CREATE INDEX IF NOT EXISTS ix_floor_profile ON floor_events (profile_id, timestamp)",
    "CREATE INDEX IF NOT EXISTS ix_floor_received ON floor_events (received_at)",
    "CREATE INDEX IF NOT EXISTS ix_floor_unprocessed ON floor_events (id) "
    "WHERE processed_at IS NULL",
)


def floor_rows(source_id: int, body: bytes, received: str) -> list[tuple[Any, ...]]:
    """The simplest decoding that fills the same columns: no validation, no derivation."""
    rows = []
    for e in orjson.loads(body)["batch"]:
        ctx = e.get("context") or {}
        key = f"a:{e['anonymousId']}" if e.get("anonymousId") else f"u:{e.get('userId') or ''}"
        rows.append((
            source_id, e.get("messageId"), e.get("type"), e.get("event") or e.get("name"),
            e.get("userId"), e.get("anonymousId"), e.get("timestamp"), e.get("sentAt"), received,
            ctx.get("channel"), (ctx.get("device") or {}).get("fingerprint"),
            (ctx.get("session") or {}).get("id"), orjson.dumps(e.get("properties") or {}).decode(),
            orjson.dumps(e.get("traits") or {}).decode(), orjson.dumps(ctx).decode(),
            zlib.crc32(key.encode()) % PARTITIONS,
        ))
    return rows


def floor_sqlite(batches: list[Batch], path: Path) -> dict[str, Any]:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in SQLITE_PRAGMAS:
        conn.execute(f"PRAGMA {pragma}")
    conn.execute(FLOOR_TABLE.format(ts="DATETIME", js="JSON"))
    for statement in FLOOR_INDEXES:
        conn.execute(statement)
    sql = (f"INSERT OR IGNORE INTO floor_events ({', '.join(FLOOR_COLUMNS)}) "
           f"VALUES ({', '.join('?' * len(FLOOR_COLUMNS))})")
    source_ids = {name: n + 1 for n, (name, _) in enumerate(SOURCES)}
    started = time.perf_counter()
    for batch in batches:
        received = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        rows = floor_rows(source_ids[batch.source], batch.body, received)
        conn.execute("BEGIN")
        conn.executemany(sql, rows)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    stored = conn.execute("SELECT count(*) FROM floor_events").fetchone()[0]
    conn.close()
    return {"events": sum(b.events for b in batches), "stored": stored,
            "seconds": round(elapsed, 2),
            "events_per_s": round(sum(b.events for b in batches) / elapsed)}


def floor_postgres(batches: list[Batch], url: str) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute("DROP TABLE IF EXISTS floor_events")
        conn.execute(FLOOR_TABLE.format(ts="TIMESTAMPTZ", js="JSONB").replace(
            "id INTEGER PRIMARY KEY", "id BIGSERIAL PRIMARY KEY").replace(
            "timestamp TIMESTAMPTZ, sent_at TIMESTAMPTZ", "timestamp TEXT, sent_at TEXT"))
        for statement in FLOOR_INDEXES:
            conn.execute(statement)
        conn.commit()
        sql = (f"INSERT INTO floor_events ({', '.join(FLOOR_COLUMNS)}) VALUES "
               f"({', '.join(['%s'] * len(FLOOR_COLUMNS))}) ON CONFLICT DO NOTHING")
        source_ids = {name: n + 1 for n, (name, _) in enumerate(SOURCES)}
        started = time.perf_counter()
        with conn.cursor() as cur:
            for batch in batches:
                received = datetime.now(UTC).isoformat()
                cur.executemany(sql, floor_rows(source_ids[batch.source], batch.body, received))
                conn.commit()
        elapsed = time.perf_counter() - started
        stored = conn.execute("SELECT count(*) FROM floor_events").fetchone()[0]
        conn.execute("DROP TABLE floor_events")
        conn.commit()
    return {"events": sum(b.events for b in batches), "stored": stored,
            "seconds": round(elapsed, 2),
            "events_per_s": round(sum(b.events for b in batches) / elapsed)}


# ------------------------------------------------------------------------ processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(cmd: list[str], env: dict[str, str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, env=env, check=True, text=True, **kwargs)  # noqa: S603


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM in MB (peak RSS), from /proc."""
    found: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                found[line.split(":")[0]] = int(line.split()[1]) // 1024
    except OSError:
        pass
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (children it waited for included)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(x) for x in fields[11:15]) / CLK_TCK


def cpu_by_name(name: str) -> float:
    """CPU seconds of every process whose command is ``name`` (postgres, nats-server)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() == name:
                total += cpu_seconds(int(entry.name))
        except OSError:
            continue
    return total


def env_for(url: str, bus_url: str = "") -> dict[str, str]:
    return {**os.environ, "RAPPORT_DATABASE_URL": url, "RAPPORT_BUS_URL": bus_url,
            "RAPPORT_HUB_PARTITIONS": str(PARTITIONS), "RAPPORT_BUS_NAME": "rapportbench"}


@contextmanager
def server(env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    errors = (OUT / "ingest-server.log").open("wb")
    proc = subprocess.Popen(  # noqa: S603
        [str(BIN / "rapport"), "serve", "--port", str(port)], env=env,
        stdout=subprocess.DEVNULL, stderr=errors,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise RuntimeError("server did not start: see bench/out/ingest-server.log")
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        errors.close()


def start_worker(env: dict[str, str], index: int, tag: str) -> subprocess.Popen[bytes]:
    out = (OUT / f"ingest-worker-{tag}-{index}.log").open("wb")
    return subprocess.Popen(  # noqa: S603
        [str(BIN / "rapport"), "worker"], env=env, stdout=out, stderr=subprocess.STDOUT)


# ------------------------------------------------------------------------ database helpers


class Store:
    """Reads the bench database from outside the server (SQLite file or PostgreSQL)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.postgres = url.startswith("postgresql")
        if self.postgres:
            import psycopg

            self.conn: Any = psycopg.connect(url, autocommit=True)
        else:
            self.conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
            self.conn.execute("PRAGMA busy_timeout=10000")

    def scalar(self, sql: str, *params: Any) -> Any:
        if self.postgres:
            sql = sql.replace("?", "%s")
        return self.conn.execute(sql, params).fetchone()[0]

    def column(self, sql: str, *params: Any) -> list[Any]:
        if self.postgres:
            sql = sql.replace("?", "%s")
        return [r[0] for r in self.conn.execute(sql, params).fetchall()]

    def pending(self) -> int:
        return int(self.scalar("SELECT count(*) FROM events WHERE processed_at IS NULL"))

    def stored(self) -> int:
        return int(self.scalar("SELECT count(*) FROM events"))

    def latencies_ms(self, since: datetime | None = None) -> list[float]:
        diff = ("EXTRACT(EPOCH FROM processed_at - received_at) * 1000" if self.postgres
                else "(julianday(processed_at) - julianday(received_at)) * 86400000.0")
        sql = f"SELECT {diff} FROM events WHERE processed_at IS NOT NULL"
        if since is None:
            return [float(v) for v in self.column(sql)]
        stamp = since.isoformat() if self.postgres else since.strftime("%Y-%m-%d %H:%M:%S.%f")
        return [float(v) for v in self.column(sql + " AND received_at >= ?", stamp)]

    def last_processed_by_partition(self) -> dict[int, Any]:
        return dict(self.conn.execute(
            "SELECT partition, max(processed_at) FROM events GROUP BY partition").fetchall())

    def close(self) -> None:
        self.conn.close()


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))], 1)


def latency_summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0, "p50_ms": None, "p99_ms": None}
    return {"n": len(values), "p50_ms": round(statistics.median(values), 1),
            "p99_ms": percentile(values, 99), "max_ms": round(max(values), 1)}


def prepare(backend: str, tag: str) -> str:
    """A fresh migrated database with the three bench sources; returns its URL."""
    OUT.mkdir(parents=True, exist_ok=True)
    if backend == "sqlite":
        path = OUT / f"ingest-{tag}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        import psycopg

        url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{PG_BENCH_DB}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {PG_BENCH_DB}")
    run([str(BIN / "rapport"), "db", "upgrade"], env_for(url), capture_output=True)
    return url


def create_sources(url: str) -> dict[str, str]:
    """Write keys of the bench sources (through the domain service, as the CLI does)."""
    from rapport.bootstrap import bootstrap
    from rapport.config import Settings
    from rapport.events import sources

    container = bootstrap(Settings(database_url=url, hub_partitions=PARTITIONS))
    keys = {}
    with container.uow() as uow:
        for name, channel in SOURCES:
            issued = sources.create_source(uow.session, name, channel)
            keys[name] = issued.write_key
        uow.commit()
    container.engine.dispose()
    return keys


# ------------------------------------------------------------------------ HTTP clients


@dataclass
class Totals:
    accepted: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    failed_requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, answer: httpx.Response) -> None:
        with self.lock:
            if answer.status_code != 200:
                self.failed_requests += 1
                return
            body = answer.json()
            self.accepted += body.get("accepted", 0)
            self.duplicates += body.get("duplicates", 0)
            self.dead_lettered += body.get("dead_lettered", 0)

    def as_json(self) -> dict[str, int]:
        return {"accepted": self.accepted, "duplicates": self.duplicates,
                "dead_lettered": self.dead_lettered, "failed_requests": self.failed_requests}


def auth_headers(keys: dict[str, str]) -> dict[str, dict[str, str]]:
    return {name: {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode(),
                   "Content-Type": "application/json"} for name, key in keys.items()}


def post_all(base: str, keys: dict[str, str], batches: list[Batch], threads: int,
             schedule: Callable[[int], float] | None = None) -> Totals:
    """Post every batch from ``threads`` keep-alive clients; ``schedule(i)`` is the
    perf_counter time batch i may leave at (paced), or None (as fast as answered)."""
    headers = auth_headers(keys)
    totals = Totals()
    index = iter(range(len(batches)))
    take = threading.Lock()

    def worker() -> None:
        with httpx.Client(base_url=base, timeout=60) as client:
            while True:
                with take:
                    i = next(index, None)
                if i is None:
                    return
                if schedule is not None:
                    delay = schedule(i) - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                batch = batches[i]
                for attempt in range(5):
                    try:
                        answer = client.post("/v1/batch", content=batch.body,
                                             headers=headers[batch.source])
                    except httpx.HTTPError:
                        time.sleep(0.2 * (attempt + 1))
                        continue
                    if answer.status_code in (429, 503):
                        time.sleep(0.2 * (attempt + 1))
                        continue
                    totals.add(answer)
                    break
                else:
                    with totals.lock:
                        totals.failed_requests += 1

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return totals


def wait_processed(store: Store, timeout: float, progress_every: float = 15.0) -> tuple[bool, int]:
    """Until no stored event waits for processing (or no progress for ``timeout`` s)."""
    last_pending, last_change, last_note = -1, time.monotonic(), time.monotonic()
    while True:
        pending = store.pending()
        now = time.monotonic()
        if pending == 0:
            return True, 0
        if pending != last_pending:
            last_pending, last_change = pending, now
        elif now - last_change > timeout:
            return False, pending
        if now - last_note > progress_every:
            log(f"    … {pending:,} events waiting for processing")
            last_note = now
        time.sleep(0.25)


# ------------------------------------------------------------------------ phases


def sqlite_ingest(batches: list[Batch], args: argparse.Namespace) -> dict[str, Any]:
    url = prepare("sqlite", "embedded")
    keys = create_sources(url)
    env = env_for(url)
    store = Store(url)
    result: dict[str, Any] = {}
    with server(env) as (base, proc):
        events = sum(b.events for b in batches)
        log(f"[sqlite] posting {events:,} events in {len(batches):,} batches "
            f"({args.threads} clients)")
        cpu0 = cpu_seconds(proc.pid)
        started = time.perf_counter()
        totals = post_all(base, keys, batches, args.threads)
        sent = time.perf_counter() - started
        done, left = wait_processed(store, args.stall_timeout)
        elapsed = time.perf_counter() - started
        memory = proc_status(proc.pid)
        cpu = cpu_seconds(proc.pid) - cpu0
        stored = store.stored()
        latency = latency_summary(store.latencies_ms())
        result["throughput"] = {
            **totals.as_json(), "stored": stored, "all_processed": done,
            "left_unprocessed": left, "send_seconds": round(sent, 2),
            "ingest_events_per_s": round(totals.accepted / sent),
            "seconds": round(elapsed, 2),
            "end_to_end_events_per_s": round(totals.accepted / elapsed) if done else None,
            "latency": latency, "server_rss_mb": memory.get("VmRSS"),
            "server_peak_rss_mb": memory.get("VmHWM"), "server_cpu_s": round(cpu, 1),
        }
        log(f"[sqlite] accepted {totals.accepted:,} (dup {totals.duplicates:,}, dead "
            f"{totals.dead_lettered:,}) in {sent:.1f} s = {totals.accepted / sent:,.0f}/s "
            f"ingest; all processed={done} after {elapsed:.1f} s = "
            f"{totals.accepted / elapsed:,.0f}/s end to end; latency {latency}; "
            f"peak RSS {memory.get('VmHWM')} MB")
        if args.rate and args.duration:
            result["paced"] = paced(base, keys, store, args, proc)
    store.close()
    return result


def paced(base: str, keys: dict[str, str], store: Store, args: argparse.Namespace,
          proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    """Send ``rate`` events/s on a fixed clock; measure backlog and latency of those events."""
    total = int(args.rate * args.duration)
    per_batch = 50
    batches, _ = generate(total, max(1000, args.customers // 2), seed=11, prefix="p-",
                          batch_events=per_batch)
    interval = per_batch / args.rate
    log(f"[sqlite] paced: {args.rate:,}/s for {args.duration:.0f} s ({len(batches):,} batches "
        f"every {interval * 1000:.0f} ms)")
    since = datetime.now(UTC)
    t0 = time.perf_counter() + 0.5
    totals = post_all(base, keys, batches, threads=8, schedule=lambda i: t0 + i * interval)
    sent_for = time.perf_counter() - t0
    backlog = store.pending()
    t_sent = time.perf_counter()
    done, left = wait_processed(store, args.stall_timeout)
    drain = time.perf_counter() - t_sent
    latency = latency_summary(store.latencies_ms(since))
    achieved = totals.accepted / sent_for
    kept_up = bool(done and achieved >= 0.95 * args.rate and latency["p99_ms"] is not None
                   and latency["p99_ms"] <= 1000)
    log(f"[sqlite] paced: sent {totals.accepted:,} at {achieved:,.0f}/s; backlog when sending "
        f"stopped {backlog:,}, drained in {drain:.1f} s; latency {latency}; kept up: {kept_up}")
    return {"target_rate": args.rate, "achieved_rate": round(achieved), **totals.as_json(),
            "backlog_at_end": backlog, "drain_seconds": round(drain, 2), "all_processed": done,
            "left_unprocessed": left, "latency": latency, "kept_up": kept_up,
            "server_peak_rss_mb": proc_status(proc.pid).get("VmHWM")}


def reset_nats() -> None:
    from rapport.config import Settings
    from rapport.events.nats_bus import delete_all, names_for

    asyncio.run(delete_all(NATS_URL, names_for(Settings(bus_name="rapportbench"))))


def nats_drain(batches: list[Batch], workers: int, args: argparse.Namespace,
               kill_after: float | None = None) -> dict[str, Any]:
    """Pre-load the stream through the server (no processor running), then drain it."""
    reset_nats()
    url = prepare("postgres", f"nats{workers}")
    keys = create_sources(url)
    env = env_for(url, NATS_URL)
    store = Store(url)
    result: dict[str, Any] = {"workers": workers}
    with server(env) as (base, proc):
        cpu_server0 = cpu_seconds(proc.pid)
        started = time.perf_counter()
        totals = post_all(base, keys, batches, args.threads)
        loaded = time.perf_counter() - started
        time.sleep(2)  # the asynchronous publisher flushes its queue
        result["preload"] = {**totals.as_json(), "seconds": round(loaded, 2),
                             "events_per_s": round(totals.accepted / loaded),
                             "server_cpu_s": round(cpu_seconds(proc.pid) - cpu_server0, 1)}
        log(f"[nats] pre-loaded {totals.accepted:,} events in {loaded:.1f} s "
            f"({totals.accepted / loaded:,.0f}/s)")
        pg0, nats0 = cpu_by_name("postgres"), cpu_by_name("nats-server")
        server0 = cpu_seconds(proc.pid)
        started = time.perf_counter()
        procs = []
        for i in range(workers):  # one after the other, as an operator starts them
            procs.append(start_worker(env, i, f"{workers}{'k' if kill_after else ''}"))
            if i + 1 < workers:
                time.sleep(STAGGER)
        cpu_workers = [0.0] * workers
        takeover: dict[str, Any] | None = None
        if kill_after is not None:
            target = totals.accepted * (1 - kill_after)
            while store.pending() > target:
                time.sleep(0.1)
            before = store.last_processed_by_partition()
            cpu_workers[0] = cpu_seconds(procs[0].pid)
            procs[0].send_signal(signal.SIGKILL)
            procs[0].wait()
            killed_at = datetime.now(UTC)
            log(f"[nats] killed worker 0 with {store.pending():,} events pending")
            takeover = {"pending_at_kill": store.pending()}
        done, left = wait_processed(store, args.stall_timeout)
        elapsed = time.perf_counter() - started
        for i, p in enumerate(procs):
            if p.poll() is None:
                cpu_workers[i] = cpu_seconds(p.pid)
        cpu = {"server": round(cpu_seconds(proc.pid) - server0, 1),
               "workers": [round(c, 1) for c in cpu_workers],
               "postgres": round(cpu_by_name("postgres") - pg0, 1),
               "nats": round(cpu_by_name("nats-server") - nats0, 1)}
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        if takeover is not None:
            takeover.update(_takeover(store, before, killed_at))
        result["drain"] = {"all_processed": done, "left_unprocessed": left,
                           "stored": store.stored(), "seconds": round(elapsed, 2),
                           "events_per_s": round(totals.accepted / elapsed) if done else None,
                           "cpu_seconds": cpu, "latency_from_acceptance": None}
        if takeover is not None:
            result["takeover"] = takeover
        log(f"[nats] {workers} worker(s) drained: {result['drain']}"
            + (f"; takeover {takeover}" if takeover else ""))
    store.close()
    return result


def _takeover(store: Store, before: dict[int, Any], killed_at: datetime) -> dict[str, Any]:
    """Seconds from the kill until every partition that still had work processed again."""
    stamp = killed_at if store.postgres else killed_at.strftime("%Y-%m-%d %H:%M:%S.%f")
    firsts = dict(store.conn.execute(
        "SELECT partition, min(processed_at) FROM events WHERE processed_at > %s "
        "GROUP BY partition" if store.postgres else
        "SELECT partition, min(processed_at) FROM events WHERE processed_at > ? GROUP BY partition",
        (stamp,)).fetchall())
    gaps = [(first - killed_at).total_seconds() for first in firsts.values()
            if isinstance(first, datetime)]
    return {"partitions_resumed": len(firsts), "partitions": len(before),
            "max_seconds_to_resume": round(max(gaps), 2) if gaps else None}


# ------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--backend", choices=["sqlite", "postgres-nats", "both"], default="sqlite")
    parser.add_argument("--rate", type=int, default=5000, help="paced run: events/s (0: skip)")
    parser.add_argument("--duration", type=float, default=30.0, help="paced run: seconds")
    parser.add_argument("--threads", type=int, default=4, help="HTTP client threads")
    parser.add_argument("--nats-events", type=int, default=None,
                        help="events pre-loaded for the NATS drain runs (default: --events)")
    parser.add_argument("--skip-floor", action="store_true")
    parser.add_argument("--quick", action="store_true", help="20k events, 2k customers, 5 s paced")
    parser.add_argument("--stall-timeout", type=float, default=60.0,
                        help="give up waiting when nothing was processed for this long")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.customers, args.duration = 20_000, 2_000, 5.0
    OUT.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"bench": "ingest", "events": args.events,
                               "customers": args.customers, "backend": args.backend,
                               "cpus": os.cpu_count()}
    started = time.perf_counter()
    batches, stats = generate(args.events, args.customers)
    summary["generated"] = {**stats.as_json(), "batches": len(batches),
                            "mb": round(sum(len(b.body) for b in batches) / 1e6, 1),
                            "seconds": round(time.perf_counter() - started, 1)}
    log(f"generated {stats.events:,} events of {len(stats.customers_seen):,} customers in "
        f"{len(batches):,} batches ({summary['generated']['mb']} MB) "
        f"in {summary['generated']['seconds']} s")

    if args.backend in ("sqlite", "both"):
        if not args.skip_floor:
            floor = floor_sqlite(batches, OUT / "ingest-floor.db")
            summary["sqlite_floor"] = floor
            log(f"[sqlite] floor: {floor['events_per_s']:,} events/s ({floor['seconds']} s)")
        summary["sqlite"] = sqlite_ingest(batches, args)
        ours = summary["sqlite"]["throughput"].get("end_to_end_events_per_s")
        if not args.skip_floor and ours:
            summary["sqlite_ratio"] = round(ours / summary["sqlite_floor"]["events_per_s"], 3)
            log(f"[sqlite] our/floor = {summary['sqlite_ratio']}")
    if args.backend in ("postgres-nats", "both"):
        nats_batches = batches
        if args.nats_events and args.nats_events != args.events:
            nats_batches, _ = generate(args.nats_events, args.customers)
        if not args.skip_floor:
            url = prepare("postgres", "floor")
            summary["postgres_floor"] = floor_postgres(nats_batches, url)
            log(f"[postgres] floor: {summary['postgres_floor']['events_per_s']:,} events/s")
        one = nats_drain(nats_batches, 1, args)
        two = nats_drain(nats_batches, 2, args)
        killed = nats_drain(nats_batches, 2, args, kill_after=1 / 3)
        summary["nats"] = {"one": one, "two": two, "kill": killed}
        reset_nats()  # leave no bench stream behind on a shared NATS
        r1, r2 = one["drain"].get("events_per_s"), two["drain"].get("events_per_s")
        if r1 and r2:
            summary["nats"]["two_over_one"] = round(r2 / r1, 2)
            log(f"[nats] two workers / one = {summary['nats']['two_over_one']}")
    summary["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(summary, default=str))  # noqa: T201 - last line: one JSON object
    return summary


if __name__ == "__main__":
    main()
