"""Anomaly detection benchmark: does the detector catch simulated exfiltration, and how often
does it lock people doing their normal work?

    .venv/bin/python bench/anomaly.py                        # SQLite
    .venv/bin/python bench/anomaly.py --backend postgres     # or: --backend both

A fresh database gets the demo data (``--scale``: 200 accounts, ~15 % of them tier A, and
1,000 contacts per unit) and ``--users`` simulated users with varied habits: reps in Shanghai,
Europe and the Americas reading 20-300 records an hour, managers reading up to ~1,500, service
agents, marketers who export a contact list once a week, analysts with ad-hoc exports,
admins; day-to-day and hour-to-hour noise, weekends, occasional late work and a few days
on an untrusted network (travel). Every read goes through ``anomaly.observe`` (the function
the record service calls) with records drawn from the database, on a fast-forwarded clock:

1. ``--history-days`` (14) of history. The first week is the learning period (ceilings
   only); locks in it are counted, and unlocked as an administrator would, with an allowance.
2. One normal week for everyone: every lock here is a false lock.
3. Exfiltration, each scenario tried by ``--attackers`` (5) different reps with three weeks
   of normal history (a lock changes a user's state, so nobody tries twice):
   - burst: every tier-A account in 10 minutes (real ``RecordService.list`` calls, 50 a
     page);
   - slow-and-low: 3x the rep's usual hourly volume for up to 10 hours from 09:00, (a)
     paging through the contact list (real ``RecordService.list`` calls), (b) with their
     usual mix of records (``observe`` called directly with realistic pages);
   - bulk export: the whole contact list through the real CSV export (``export_csv``,
     batches of 1,000), by reps who never export, and by each weekly list exporter.

``--factor`` and ``--window-factor`` try other limits (see docs/anomaly.md).

A Rich table is printed; the last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from rapport.bootstrap import bootstrap  # noqa: E402
from rapport.config import Settings  # noqa: E402
from rapport.crm.exporter import export_csv  # noqa: E402
from rapport.crm.query import Filter, ListQuery  # noqa: E402
from rapport.crm.service import RecordService  # noqa: E402
from rapport.db.migrate import upgrade  # noqa: E402
from rapport.demo import load_demo  # noqa: E402
from rapport.trust import anomaly  # noqa: E402
from rapport.trust.actor import Actor  # noqa: E402
from rapport.trust.auth import AccountHeld  # noqa: E402
from rapport.trust.models import AccessStat, SecurityAlert, User  # noqa: E402
from rapport.trust.permissions import AccessPolicy, policy_from  # noqa: E402

OUT = ROOT / "bench" / "out"
PG_ADMIN_URL = os.environ.get("RAPPORT_BENCH_POSTGRES_ADMIN",
                              "postgresql://postgres@127.0.0.1:5432/postgres")
PG_BENCH_DB = "rapport_bench_anomaly"
START = datetime(2026, 5, 4, tzinfo=UTC)  # a Monday, 00:00 UTC
console = Console()

READ_ALL: AccessPolicy = policy_from([("bench_reader", {
    "objects": {"*": {"rights": ["read", "export"], "scope": "all"}}, "fields": {"*": "clear"}})])


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


# ---- the population --------------------------------------------------------------------------


@dataclass
class Profile:
    key: str
    role: str
    utc_offset: int  # hours; working hours are 09:00-18:00 local
    rate: float  # median records an active working hour
    tier_a_share: float  # of the records read, the share that is tier-A
    objects: dict[str, float]  # what they read, weighted
    page_sizes: tuple[int, ...]
    p_active: float = 0.8  # a working hour has any reads at all
    late_work: float = 0.1  # chance a weekday has one or two evening hours
    weekend: float = 0.05  # chance of a little weekend work
    travel_days: frozenset[int] = frozenset()  # days on an untrusted network
    export_weekday: int | None = None  # weekly list export (marketers)
    export_size: tuple[int, int] = (0, 0)
    adhoc_exports_per_week: float = 0.0  # analysts
    user_id: int = 0
    start_day: int = 0  # day of the first activity (joined later)


def population(n: int, rng: random.Random) -> list[Profile]:
    reps_objects = {"accounts": 0.3, "contacts": 0.35, "opportunities": 0.2, "activities": 0.15}
    people: list[Profile] = []
    mix = (["rep"] * 30 + ["manager"] * 7 + ["agent"] * 4 + ["marketer"] * 4 + ["analyst"] * 3
           + ["admin"] * 2)
    while len(mix) < n:
        mix.append("rep")
    for i, role in enumerate(mix[:n]):
        offset = rng.choice([8] * 6 + [1] * 3 + [-5])  # Shanghai, Europe, Americas
        travel = frozenset(rng.sample(range(21), rng.randint(1, 3))) if rng.random() < 0.2 \
            else frozenset()
        if role == "rep":
            p = Profile(f"rep{i:02d}", role, offset, math.exp(rng.uniform(math.log(20), math.log(300))),
                        rng.uniform(0.05, 0.5), reps_objects, (1, 1, 1, 20, 50, 50, 100))
        elif role == "manager":
            p = Profile(f"mgr{i:02d}", role, offset, rng.uniform(300, 1200), rng.uniform(0.2, 0.45),
                        {"opportunities": 0.4, "accounts": 0.3, "activities": 0.2, "contacts": 0.1},
                        (1, 50, 100, 200, 200))
        elif role == "agent":
            p = Profile(f"agt{i:02d}", role, offset, rng.uniform(100, 400), rng.uniform(0.1, 0.3),
                        {"tickets": 0.5, "contacts": 0.3, "accounts": 0.2}, (1, 1, 20, 50))
        elif role == "marketer":
            p = Profile(f"mkt{i:02d}", role, offset, rng.uniform(50, 150), 0.2,
                        {"leads": 0.6, "contacts": 0.4}, (20, 50, 100),
                        export_weekday=rng.randint(0, 4),
                        export_size=(1500, 3500))
        elif role == "analyst":
            p = Profile(f"ana{i:02d}", role, offset, rng.uniform(50, 200), rng.uniform(0.2, 0.4),
                        {"opportunities": 0.6, "accounts": 0.4}, (50, 100, 200),
                        adhoc_exports_per_week=rng.uniform(1.5, 3.0))
        else:
            p = Profile(f"adm{i:02d}", role, offset, rng.uniform(10, 60), 0.2,
                        {"accounts": 0.5, "contacts": 0.5}, (1, 20, 50), p_active=0.4)
        p.travel_days = travel
        people.append(p)
    return people


# ---- records drawn from the database ---------------------------------------------------------


@dataclass
class Pools:
    """Record dicts as the record service would pass them to ``observe``, by tier."""

    tier_a: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    other: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def draw(self, rng: random.Random, object_name: str, size: int, share: float) -> list[dict[str, Any]]:
        a, o = self.tier_a.get(object_name) or [], self.other.get(object_name) or []
        out = []
        for _ in range(size):
            pool = a if (a and rng.random() < share) or not o else o
            out.append(rng.choice(pool))
        return out


def load_pools(engine: Engine) -> Pools:
    pools = Pools()
    with engine.connect() as conn:
        tier_a_ids = {r[0] for r in conn.execute(text("SELECT id FROM accounts WHERE tier = 'A'"))}
        accounts = [{"id": r[0], "tier": r[1]} for r in conn.execute(text("SELECT id, tier FROM accounts"))]
        pools.tier_a["accounts"] = [a for a in accounts if a["id"] in tier_a_ids]
        pools.other["accounts"] = [a for a in accounts if a["id"] not in tier_a_ids]
        pools.counts["accounts"] = len(accounts)
        pools.counts["tier_a_accounts"] = len(tier_a_ids)
        for name in ("contacts", "opportunities", "activities", "tickets"):
            rows = [{"id": r[0], "account_id": r[1]} for r in conn.execute(
                text(f"SELECT id, account_id FROM {name}"))]  # noqa: S608 - fixed names
            pools.tier_a[name] = [r for r in rows if r["account_id"] in tier_a_ids]
            pools.other[name] = [r for r in rows if r["account_id"] not in tier_a_ids]
            pools.counts[name] = len(rows)
        pools.counts["tier_a_contacts"] = len(pools.tier_a["contacts"])
        leads = [{"id": r[0]} for r in conn.execute(text("SELECT id FROM leads"))]
        pools.other["leads"] = leads
        pools.counts["leads"] = len(leads)
    return pools


# ---- the simulated work ----------------------------------------------------------------------


@dataclass(order=True)
class Call:
    at: datetime
    user: int = field(compare=False)
    object_name: str = field(compare=False)
    size: int = field(compare=False)
    kind: str = field(compare=False)
    share: float = field(compare=False)
    network: str = field(compare=False)


def plan_day(p: Profile, day: int, rng: random.Random) -> list[Call]:
    """One user's calls for one day (UTC day ``day`` after START)."""
    if day < p.start_day:
        return []
    date = START + timedelta(days=day)
    weekday = date.weekday()
    calls: list[Call] = []
    network = "untrusted" if day in p.travel_days else "trusted"
    if weekday >= 5 and rng.random() > p.weekend:
        return []
    day_factor = rng.lognormvariate(0, 0.25)
    local_hours = list(range(9, 18))
    if weekday >= 5:
        local_hours = rng.sample(local_hours, 2)
        day_factor *= 0.4
    late: list[int] = []
    if weekday < 5 and rng.random() < p.late_work:
        late = rng.sample([20, 21, 22], rng.randint(1, 2))
    for local in local_hours + late:
        if local in local_hours and rng.random() > p.p_active:
            continue
        factor = day_factor * rng.lognormvariate(0, 0.35) * (0.5 if local in late else 1.0)
        total = max(1, round(p.rate * factor))
        hour_start = date + timedelta(hours=local - p.utc_offset)
        while total > 0:
            size = min(total, rng.choice(p.page_sizes))
            total -= size
            name = rng.choices(list(p.objects), weights=list(p.objects.values()))[0]
            at = hour_start + timedelta(seconds=rng.randrange(3600))
            calls.append(Call(at, p.user_id, name, size, "read", p.tier_a_share, network))
    if p.export_weekday == weekday and weekday < 5:
        size = rng.randint(*p.export_size)
        at = date + timedelta(hours=rng.randint(10, 16) - p.utc_offset, minutes=rng.randrange(50))
        calls.extend(Call(at + timedelta(seconds=k), p.user_id, "contacts", min(1000, size - k * 1000),
                          "export", -1.0, network) for k in range(math.ceil(size / 1000)))
    if p.adhoc_exports_per_week and weekday < 5 and rng.random() < p.adhoc_exports_per_week / 5:
        size = rng.randint(100, 800)
        at = date + timedelta(hours=rng.randint(10, 16) - p.utc_offset, minutes=rng.randrange(50))
        calls.append(Call(at, p.user_id, rng.choice(["opportunities", "accounts"]), size, "export",
                          p.tier_a_share, network))
    return calls


@dataclass
class Lock:
    user: str
    role: str
    at: str
    reasons: list[str]
    learning: bool


@dataclass
class Phase:
    calls: int = 0
    records: int = 0
    seconds: float = 0.0
    user_hours: set[tuple[int, datetime]] = field(default_factory=set)
    locks: list[Lock] = field(default_factory=list)
    scores: dict[tuple[int, datetime], float] = field(default_factory=dict)  # highest per user-hour
    closest: dict[tuple[int, datetime], dict[str, Any]] = field(default_factory=dict)


def newest_alert_reasons(engine: Engine, user_id: int) -> list[str]:
    with Session(engine) as session:
        details = session.scalar(select(SecurityAlert.details).where(
            SecurityAlert.user_id == user_id).order_by(SecurityAlert.id.desc()).limit(1))
    return list((details or {}).get("reasons") or [])


def admin_unlock(engine: Engine, settings: Settings, user_id: int, at: datetime, note: str) -> None:
    with Session(engine, expire_on_commit=False) as session:
        anomaly.unlock_user(session, settings, None, user_id, note=note, now=at)
        session.commit()


def simulate(engine: Engine, settings: Settings, people: list[Profile], pools: Pools,
             days: range, rng: random.Random, *, learning_days: int = 7) -> Phase:
    by_id = {p.user_id: p for p in people}
    calls: list[Call] = []
    for day in days:
        for p in people:
            calls.extend(plan_day(p, day, rng))
    calls.sort()
    phase = Phase()
    with Session(engine) as reader:
        for call in calls:
            share = call.share if call.share >= 0 else pools.counts["tier_a_contacts"] / max(
                1, pools.counts["contacts"])
            records = pools.draw(rng, call.object_name, call.size, share)
            actor = Actor(user_id=call.user, source="api", policy=READ_ALL, network=call.network)
            started = time.perf_counter()
            key = (call.user, anomaly.hour_of(call.at))
            try:
                verdict = anomaly.observe(reader, settings, actor, call.object_name, records,
                                          call.kind, now=call.at)
                if verdict is not None and verdict.score > phase.scores.get(key, 0.0):
                    phase.scores[key] = verdict.score
                    if verdict.score > 0.8:
                        phase.closest[key] = {
                            "user": by_id[call.user].key, "role": by_id[call.user].role,
                            "hour": key[1].isoformat(timespec="minutes"), "score": verdict.score,
                            "ratios": dict(verdict.ratios), "context": {
                                k: v for k, v in verdict.context.items() if v}}
            except AccountHeld:
                phase.scores[key] = max(phase.scores.get(key, 0.0), 1.0)
                p = by_id[call.user]
                day = (call.at - START).days
                phase.locks.append(Lock(p.key, p.role, call.at.isoformat(timespec="minutes"),
                                        newest_alert_reasons(engine, call.user),
                                        day < learning_days + p.start_day))
                admin_unlock(engine, settings, call.user, call.at, "bench: reviewed, legitimate")
            finally:
                phase.seconds += time.perf_counter() - started
            phase.calls += 1
            phase.records += call.size
            phase.user_hours.add(key)
    return phase


# ---- exfiltration ----------------------------------------------------------------------------


@dataclass
class Outcome:
    scenario: str
    how: str
    detected: bool
    served_before_lock: int
    high_value_before_lock: int
    minutes_to_lock: float | None
    available: int
    reason: str = ""

    def row(self) -> dict[str, Any]:
        return self.__dict__


def _tick(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def page_through(engine: Engine, records: RecordService, settings: Settings, user_id: int,
                 object_name: str, query: ListQuery, start: datetime,
                 spacing: Callable[[int], timedelta], max_pages: int) -> tuple[bool, int, int, datetime | None]:
    """List pages until the list ends, the lock, or ``max_pages``; the clock follows ``spacing``."""
    actor = Actor(user_id=user_id, source="api", policy=READ_ALL)
    served = served_hv = 0
    cursor: str | None = None
    tier_a_ids: set[int] | None = None
    for page in range(max_pages):
        moment = start + spacing(page)
        anomaly.set_clock(_tick(moment))
        try:
            with Session(engine, expire_on_commit=False) as session:
                result = records.list(session, object_name, ListQuery(
                    filters=query.filters, sort=query.sort, limit=query.limit, cursor=cursor),
                    actor=actor)
        except AccountHeld:
            return True, served, served_hv, moment
        finally:
            anomaly.set_clock(None)
        served += len(result.items)
        if tier_a_ids is None:
            with engine.connect() as conn:
                tier_a_ids = {r[0] for r in conn.execute(text("SELECT id FROM accounts WHERE tier = 'A'"))}
        key = "id" if object_name == "accounts" else "account_id"
        served_hv += sum(1 for r in result.items if r.values.get(key) in tier_a_ids)
        cursor = result.next_cursor
        if cursor is None:
            return False, served, served_hv, None
    return False, served, served_hv, None


def usual_hourly(engine: Engine, user_id: int) -> tuple[float, float]:
    """Median reads and tier-A share of the user's active hours."""
    with Session(engine) as session:
        rows = session.execute(select(AccessStat.reads, AccessStat.high_value).where(
            AccessStat.user_id == user_id, AccessStat.reads > 0)).all()
    reads = statistics.median(r.reads for r in rows)
    share = sum(r.high_value for r in rows) / max(1, sum(r.reads for r in rows))
    return float(reads), share


def _reason(engine: Engine, user_id: int, held: bool) -> str:
    return "; ".join(newest_alert_reasons(engine, user_id)) if held else ""


def burst(engine: Engine, settings: Settings, records: RecordService, who: Profile, day: int,
          pools: Pools) -> Outcome:
    """Every tier-A account, 50 a page, in 10 minutes from 09:05 local time."""
    start = START + timedelta(days=day, hours=9 - who.utc_offset, minutes=5)
    n_a = pools.counts["tier_a_accounts"]
    pages = math.ceil(n_a / 50)
    held, served, served_hv, at = page_through(
        engine, records, settings, who.user_id, "accounts",
        ListQuery(filters=[Filter("tier", "eq", "A")], sort=["id"], limit=50), start,
        lambda k: timedelta(seconds=600 * k / pages), pages + 1)
    return Outcome("burst", f"{who.key} (usual {who.rate:.0f}/h, {who.tier_a_share:.0%} tier-A)",
                   held, served, served_hv,
                   round((at - start).total_seconds() / 60, 1) if at else None, n_a,
                   _reason(engine, who.user_id, held))


def slow_list(engine: Engine, settings: Settings, records: RecordService, who: Profile,
              day: int, pools: Pools) -> Outcome:
    """The contact list, 50 a page, at 3x the user's usual hourly reads for up to 10 hours."""
    start = START + timedelta(days=day, hours=9 - who.utc_offset)
    reads, _ = usual_hourly(engine, who.user_id)
    per_hour = max(50, round(3 * reads))
    pages_per_hour = max(1, round(per_hour / 50))
    held, served, served_hv, at = page_through(
        engine, records, settings, who.user_id, "contacts",
        ListQuery(filters=[], sort=["id"], limit=50), start,
        lambda k: timedelta(seconds=3600 * k / pages_per_hour), pages_per_hour * 10)
    return Outcome("slow-and-low, contact list",
                   f"{who.key} (usual {reads:.0f}/h; {pages_per_hour * 50}/h)", held, served,
                   served_hv, round((at - start).total_seconds() / 60, 1) if at else None,
                   min(pools.counts["contacts"], pages_per_hour * 500),
                   _reason(engine, who.user_id, held))


def slow_mix(engine: Engine, settings: Settings, who: Profile, day: int, pools: Pools,
             rng: random.Random) -> Outcome:
    """3x the user's usual hourly volume with their usual mix of records, for 10 hours."""
    start = START + timedelta(days=day, hours=9 - who.utc_offset)
    reads, share = usual_hourly(engine, who.user_id)
    per_hour = max(30, round(3 * reads))
    served = served_hv = 0
    lock_at: datetime | None = None
    actor = Actor(user_id=who.user_id, policy=READ_ALL)
    with Session(engine) as reader:
        for hour in range(10):
            remaining, second = per_hour, 0
            while remaining > 0:
                size = min(remaining, rng.choice((20, 50, 50)))
                name = rng.choices(list(who.objects), weights=list(who.objects.values()))[0]
                batch = pools.draw(rng, name, size, share)
                moment = start + timedelta(hours=hour, seconds=second)
                try:
                    anomaly.observe(reader, settings, actor, name, batch, "read", now=moment)
                except AccountHeld:
                    lock_at = moment
                    break
                served += size
                served_hv += anomaly.count_high_value(reader, name, batch)
                remaining -= size
                second = min(3599, second + 3600 * size // per_hour)
            if lock_at:
                break
    return Outcome("slow-and-low, usual mix",
                   f"{who.key} (usual {reads:.0f}/h, {share:.0%} tier-A; {per_hour}/h)",
                   lock_at is not None, served, served_hv,
                   round((lock_at - start).total_seconds() / 60, 1) if lock_at else None,
                   per_hour * 10, _reason(engine, who.user_id, lock_at is not None))


def bulk_export(engine: Engine, settings: Settings, who: Profile, day: int, pools: Pools,
                label: str) -> Outcome:
    """The whole contact list through the CSV export, 1,000 rows a batch."""
    moment = START + timedelta(days=day, hours=11 - who.utc_offset)
    anomaly.set_clock(_tick(moment))
    sink = io.BytesIO()
    held = False
    try:
        with Session(engine, expire_on_commit=False) as session:
            export_csv(session, "contacts", sink, settings=settings, chunk_rows=1000,
                       actor=Actor(user_id=who.user_id, source="api", policy=READ_ALL))
    except AccountHeld:
        held = True
    finally:
        anomaly.set_clock(None)
    rows = max(0, sink.getvalue().count(b"\r\n") - 1)  # written before the lock, less the header
    return Outcome(label, who.key, held, rows, -1, 0.0 if held else None,
                   pools.counts["contacts"], _reason(engine, who.user_id, held))


def exfiltrate(engine: Engine, settings: Settings, people: list[Profile], pools: Pools,
               rng: random.Random, day: int, per_scenario: int) -> list[Outcome]:
    """Each scenario by ``per_scenario`` different users (a lock changes the user's state)."""
    records = RecordService(settings)
    reps = [p for p in people if p.role == "rep"]
    rng.shuffle(reps)
    n = per_scenario
    groups = [reps[i * n:(i + 1) * n] for i in range(4)]
    outcomes: list[Outcome] = []
    outcomes += [burst(engine, settings, records, who, day, pools) for who in groups[0]]
    outcomes += [slow_list(engine, settings, records, who, day, pools) for who in groups[1]]
    outcomes += [slow_mix(engine, settings, who, day, pools, rng) for who in groups[2]]
    outcomes += [bulk_export(engine, settings, who, day, pools, "export, rep who never exports")
                 for who in groups[3]]
    outcomes += [bulk_export(engine, settings, who, day, pools, "export, weekly list exporter")
                 for who in people if who.role == "marketer"]
    return outcomes


def summarise(outcomes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for name in dict.fromkeys(o["scenario"] for o in outcomes):
        group = [o for o in outcomes if o["scenario"] == name]
        caught = [o for o in group if o["detected"]]
        times = [o["minutes_to_lock"] for o in caught]
        rows.append({
            "scenario": name, "attackers": len(group), "detected": len(caught),
            "served_median": statistics.median(o["served_before_lock"] for o in group),
            "served_max": max(o["served_before_lock"] for o in group),
            "tier_a_served_median": statistics.median(o["high_value_before_lock"] for o in group),
            "minutes_to_lock_median": statistics.median(times) if times else None,
            "minutes_to_lock_max": max(times) if times else None,
            "available_median": statistics.median(o["available"] for o in group),
        })
    return rows


# ---- the database ----------------------------------------------------------------------------


def make_database(backend: str, scale: int) -> str:
    OUT.mkdir(parents=True, exist_ok=True)
    if backend == "sqlite":
        path = OUT / "anomaly.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        import psycopg

        url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{PG_BENCH_DB}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {PG_BENCH_DB}")
            conn.execute(f"CREATE DATABASE {PG_BENCH_DB}")
    upgrade(url)
    return url


def add_users(engine: Engine, people: list[Profile]) -> None:
    with Session(engine) as session:
        for p in people:
            user = User(email=f"{p.key}@example.com", name=f"Bench {p.key}", custom={},
                        is_admin=p.role == "admin")
            session.add(user)
            session.flush()
            p.user_id = user.id
        session.commit()


def run(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    url = make_database(backend, args.scale)
    settings = Settings(database_url=url, environment="test", anomaly_factor=args.factor,
                        anomaly_window_factor=args.window_factor)
    container = bootstrap(settings)
    engine = container.engine
    started = time.perf_counter()
    load_demo(engine, scale=args.scale, workers=0)
    console.print(f"[{backend}] demo data at scale {args.scale} in "
                  f"{time.perf_counter() - started:.0f} s")
    pools = load_pools(engine)
    people = population(args.users, rng)
    add_users(engine, people)
    history = args.history_days
    started = time.perf_counter()
    learning = simulate(engine, settings, people, pools, range(0, history), rng)
    console.print(f"[{backend}] {history} days of history: {learning.calls:,} calls in "
                  f"{time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    week = simulate(engine, settings, people, pools, range(history, history + 7), rng,
                    learning_days=0)
    console.print(f"[{backend}] the normal week: {week.calls:,} calls in "
                  f"{time.perf_counter() - started:.0f} s")
    outcomes = exfiltrate(engine, settings, people, pools, rng, history + 7, args.attackers)
    container.engine.dispose()

    locked_users = {lock.user for lock in week.locks}
    user_hours = len(week.user_hours)
    roles = Counter(p.role for p in people)
    return {
        "backend": backend,
        "users": len(people), "roles": dict(roles),
        "data": pools.counts,
        "settings": {"read_ceiling": settings.anomaly_read_ceiling,
                     "high_value_ceiling": settings.anomaly_high_value_ceiling,
                     "export_ceiling": settings.anomaly_export_ceiling,
                     "factor": settings.anomaly_factor,
                     "window_factor": settings.anomaly_window_factor,
                     "baseline_days": settings.anomaly_baseline_days},
        "history": {"days": history, "calls": learning.calls, "records": learning.records,
                    "user_hours": len(learning.user_hours),
                    "locks_learning_week": sum(1 for lock in learning.locks if lock.learning),
                    "locks_second_week": sum(1 for lock in learning.locks if not lock.learning),
                    "locks": [lock.__dict__ for lock in learning.locks]},
        "normal_week": {
            "calls": week.calls, "records": week.records, "user_hours": user_hours,
            "locks": len(week.locks), "users_locked": len(locked_users),
            "false_lock_rate_per_user_week": round(len(locked_users) / len(people), 4),
            "locks_per_1000_user_hours": round(1000 * len(week.locks) / max(1, user_hours), 3),
            "observe_mean_us": round(1e6 * week.seconds / max(1, week.calls)),
            "score_max": max(week.scores.values(), default=0.0),
            "score_p99": round(percentile(list(week.scores.values()), 99), 3),
            "user_hours_above_0_5": sum(1 for v in week.scores.values() if v > 0.5),
            "user_hours_above_0_8": sum(1 for v in week.scores.values() if v > 0.8),
            "closest_to_locking": sorted(week.closest.values(), key=lambda c: -c["score"])[:8],
            "detail": [lock.__dict__ for lock in week.locks],
        },
        "exfiltration": summarise([o.row() for o in outcomes]),
        "exfiltration_detail": [o.row() for o in outcomes],
    }


def report(result: dict[str, Any]) -> None:
    backend = result["backend"]
    week = result["normal_week"]
    hist = result["history"]
    table = Table(title=f"Anomaly detection, {backend}: {result['users']} users, "
                        f"{result['data']['accounts']:,} accounts "
                        f"({result['data']['tier_a_accounts']:,} tier A), "
                        f"{result['data']['contacts']:,} contacts")
    table.add_column("phase")
    table.add_column("figure", justify="right")
    table.add_row("history: calls / user-hours", f"{hist['calls']:,} / {hist['user_hours']:,}")
    table.add_row("locks in the learning week (ceilings only)", str(hist["locks_learning_week"]))
    table.add_row("locks in the second history week", str(hist["locks_second_week"]))
    table.add_row("normal week: calls / user-hours", f"{week['calls']:,} / {week['user_hours']:,}")
    table.add_row("normal week: false locks (users locked / user-weeks)",
                  f"{week['users_locked']} / {result['users']} "
                  f"({week['false_lock_rate_per_user_week']:.1%})")
    table.add_row("normal week: locks per 1,000 user-hours", f"{week['locks_per_1000_user_hours']}")
    table.add_row("normal week: highest score / 99th percentile (above 1 locks)",
                  f"{week['score_max']:.2f} / {week['score_p99']:.2f}")
    table.add_row("normal week: user-hours scoring above 0.5 / 0.8",
                  f"{week['user_hours_above_0_5']} / {week['user_hours_above_0_8']}")
    table.add_row("observe() mean cost per call", f"{week['observe_mean_us']} µs")
    console.print(table)
    if week["detail"]:
        for lock in week["detail"]:
            console.print(f"  false lock: {lock['user']} ({lock['role']}) at {lock['at']}: "
                          f"{'; '.join(lock['reasons'])}")
    scenarios = Table(title=f"Exfiltration, {backend} (each scenario by different users)")
    for column in ("scenario", "detected", "served before lock (median / max)",
                   "tier-A served (median)", "time to lock (median / max)", "available"):
        scenarios.add_column(column, justify="left" if column == "scenario" else "right")
    for o in result["exfiltration"]:
        minutes = ("—" if o["minutes_to_lock_median"] is None else
                   f"{o['minutes_to_lock_median']:.0f} / {o['minutes_to_lock_max']:.0f} min")
        scenarios.add_row(
            o["scenario"], f"{o['detected']} / {o['attackers']}",
            f"{o['served_median']:,.0f} / {o['served_max']:,}",
            "—" if o["tier_a_served_median"] < 0 else f"{o['tier_a_served_median']:,.0f}",
            minutes, f"{o['available_median']:,.0f}")
    console.print(scenarios)
    for o in result["exfiltration_detail"]:
        outcome = "locked" if o["detected"] else "NOT locked"
        when = "" if o["minutes_to_lock"] is None else f" after {o['minutes_to_lock']} min"
        console.print(f"  {o['scenario']}: {o['how']}: {outcome}{when}, "
                      f"{o['served_before_lock']:,} served. {o['reason']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--scale", type=int, default=10, help="demo data scale (200 accounts each)")
    parser.add_argument("--history-days", type=int, default=14)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--factor", type=float, default=2.0, help="RAPPORT_ANOMALY_FACTOR")
    parser.add_argument("--window-factor", type=float, default=2.0,
                        help="RAPPORT_ANOMALY_WINDOW_FACTOR")
    parser.add_argument("--attackers", type=int, default=5,
                        help="different users who try each exfiltration scenario")
    args = parser.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    results = []
    for backend in backends:
        result = run(backend, args)
        report(result)
        results.append(result)
    summary = {"benchmark": "anomaly", "seed": args.seed, "results": results}
    print(json.dumps(summary, default=str))  # noqa: T201


if __name__ == "__main__":
    main()
