"""What access control and the anomaly detector's counters cost on the read path.

    .venv/bin/python bench/access_overhead.py --database sqlite:///bench/out/access.db [--scale 20]

Loads demo data at ``--scale`` into a fresh database (unless it already has accounts), then
times the same list pages in process, as the system (no access checks: what the code did
before permissions existed), as an administrator (masking, anomaly counters) and as a sales
rep (record scope too). Prints medians, p95 and the ratio to the system baseline; the last
line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from rapport.bootstrap import bootstrap
from rapport.config import Settings
from rapport.crm.query import Filter, ListQuery
from rapport.db.migrate import upgrade
from rapport.demo import load_demo
from rapport.demo.load import has_accounts
from rapport.trust.actor import SYSTEM, Actor
from rapport.trust.models import Role, User, UserRole
from rapport.trust.roles import policy_for_user


def timed(runs: int, call: Callable[[], Any]) -> list[float]:
    call()  # warm caches
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": round(statistics.median(ordered), 3),
            "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1], 3)}


def actor_for_role(container: Any, role: str) -> Actor:
    with container.session_factory() as session:
        row = session.execute(
            select(User.id, User.team_id, User.region_id).join(UserRole, UserRole.user_id == User.id)
            .join(Role, Role.id == UserRole.role_id).where(Role.name == role).limit(1)).one()
        policy = policy_for_user(session, row.id)
    return Actor(user_id=row.id, source="bench", is_admin=policy.admin, policy=policy,
                 team_id=row.team_id, region_id=row.region_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="sqlite:///bench/out/access.db")
    parser.add_argument("--scale", type=int, default=20)
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    upgrade(args.database)
    # ceilings far above this run: we measure the counters' cost, not a lock
    settings = Settings(database_url=args.database, anomaly_read_ceiling=10**9,
                        anomaly_high_value_ceiling=10**9, anomaly_export_ceiling=10**9)
    container = bootstrap(settings)
    if not has_accounts(container.engine):
        load_demo(container.engine, scale=args.scale)
    actors = {"system": SYSTEM, "admin": actor_for_role(container, "admin"),
              "sales_rep": actor_for_role(container, "sales_rep")}
    queries = {
        "contacts page": ListQuery(limit=50, sort=["-updated_at"]),
        "accounts tier A": ListQuery(limit=50, filters=[Filter("tier", "eq", "A")]),
        "contacts search": ListQuery(limit=20, q="wang"),
    }
    results: dict[str, Any] = {}
    for label, query in queries.items():
        obj = "accounts" if label.startswith("accounts") else "contacts"
        row: dict[str, Any] = {}
        for who, actor in actors.items():
            def call(actor: Actor = actor, obj: str = obj, query: ListQuery = query) -> None:
                with container.session_factory() as session:
                    container.records.list(session, obj, query, actor=actor)
            row[who] = summary(timed(args.runs, call))
        base = row["system"]["p50_ms"]
        for who in ("admin", "sales_rep"):
            row[who]["ratio_to_system"] = round(row[who]["p50_ms"] / base, 2) if base else None
        results[label] = row
        print(f"{label:18} system p50 {row['system']['p50_ms']:7.2f} ms | "
              f"admin {row['admin']['p50_ms']:7.2f} ms ({row['admin']['ratio_to_system']}x) | "
              f"rep {row['sales_rep']['p50_ms']:7.2f} ms ({row['sales_rep']['ratio_to_system']}x)")
    container.engine.dispose()
    print(json.dumps({"bench": "access_overhead", "database": args.database.split(":")[0],
                      "scale": args.scale, "runs": args.runs, "results": results}))


if __name__ == "__main__":
    main()
