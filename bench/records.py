"""Records benchmark: list, search and record-page latency through the HTTP API, CSV import
and export throughput, on SQLite and PostgreSQL.

    .venv/bin/python bench/records.py --backend both --scale 1000

Each figure is printed with a floor measured in the same run (the same SQL through the bare
driver, or the simplest possible insert/fetch loop), so the ratio says what Rapport's layers
cost on this machine at this moment. The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
BIN = Path(sys.executable).parent
PG_ADMIN_URL = os.environ.get("RAPPORT_BENCH_POSTGRES_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_BENCH_DB = "rapport_bench"

SURNAMES = ["王", "李", "张", "刘", "陈", "杨", "Müller", "Smith", "Johnson", "Andersson", "黄", "周"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(ms: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(ms), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "n": len(ms),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(cmd: list[str], env: dict[str, str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, env=env, check=True, text=True, **kwargs)  # noqa: S603


def prepare_database(backend: str, scale: int, reuse: bool) -> str:
    OUT.mkdir(parents=True, exist_ok=True)
    if backend == "sqlite":
        path = OUT / f"records-{scale}.db"
        url = f"sqlite:///{path}"
        if reuse and path.exists():
            return url
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    else:
        import psycopg

        url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{PG_BENCH_DB}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (PG_BENCH_DB,)).fetchone()
            if exists and reuse:
                with psycopg.connect(url) as bench_conn:
                    loaded = bench_conn.execute(
                        "SELECT count(*) FROM pg_tables WHERE tablename = 'contacts'"
                    ).fetchone()
                if loaded and loaded[0]:
                    return url
            conn.execute(f"DROP DATABASE IF EXISTS {PG_BENCH_DB}")
            conn.execute(f"CREATE DATABASE {PG_BENCH_DB}")
    env = {**os.environ, "RAPPORT_DATABASE_URL": url}
    print(f"[{backend}] migrating and loading demo data at scale {scale} ...", flush=True)
    started = time.perf_counter()
    run([str(BIN / "rapport"), "db", "upgrade"], env)
    run([str(BIN / "rapport"), "demo", "load", "--scale", str(scale)], env)
    print(f"[{backend}] loaded in {time.perf_counter() - started:.0f} s", flush=True)
    return url


def api_token(url: str) -> str:
    env = {**os.environ, "RAPPORT_DATABASE_URL": url}
    email = "bench@example.com"
    subprocess.run(  # noqa: S603 - may already exist
        [str(BIN / "rapport"), "user", "create", "--email", email, "--password", "bench-password-1",
         "--admin"], env=env, capture_output=True, text=True, check=False,
    )
    out = run([str(BIN / "rapport"), "token", "create", "--user", email], env, capture_output=True)
    return out.stdout.strip().splitlines()[-1]


@contextmanager
def server(url: str) -> Any:
    port = free_port()
    env = {**os.environ, "RAPPORT_DATABASE_URL": url}
    proc = subprocess.Popen(  # noqa: S603
        [str(BIN / "rapport"), "serve", "--port", str(port)], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
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
            raise RuntimeError("server did not start")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def sample_ids(url: str) -> dict[str, Any]:
    """Owners, stages and contact ids to vary the requests (read once, outside the timing)."""
    rnd = random.Random(7)
    from sqlalchemy import create_engine, text

    from rapport.db.engine import normalise_url

    engine = create_engine(normalise_url(url))
    with engine.connect() as conn:
        owners = [r[0] for r in conn.execute(text("SELECT DISTINCT owner_id FROM contacts WHERE owner_id IS NOT NULL LIMIT 200"))]
        max_contact = conn.execute(text("SELECT max(id) FROM contacts")).scalar_one()
        stages = [r[0] for r in conn.execute(text("SELECT id FROM pipeline_stages"))]
        emails = [r[0] for r in conn.execute(text(
            "SELECT email FROM contacts WHERE email IS NOT NULL AND id % 997 = 0 LIMIT 200"
        ))]
    engine.dispose()
    contact_ids = [rnd.randint(1, max_contact) for _ in range(2000)]
    return {"owners": owners, "stages": stages, "contacts": contact_ids, "emails": emails}


def list_requests(ids: dict[str, Any], n: int, rnd: random.Random) -> list[tuple[str, dict[str, Any]]]:
    reqs: list[tuple[str, dict[str, Any]]] = []
    for i in range(n):
        if i % 2 == 0:
            reqs.append(("/api/v1/contacts", {
                "filter": [f"owner_id:eq:{rnd.choice(ids['owners'])}"], "sort": "-updated_at", "limit": 50,
            }))
        else:
            reqs.append(("/api/v1/opportunities", {
                "filter": [f"stage_id:eq:{rnd.choice(ids['stages'])}", "amount:gt:10000"],
                "sort": "-amount", "limit": 50,
            }))
    return reqs


def search_requests(ids: dict[str, Any], n: int, rnd: random.Random) -> list[tuple[str, dict[str, Any]]]:
    reqs = []
    for i in range(n):
        if i % 3 == 0 and ids["emails"]:
            q = rnd.choice(ids["emails"])
        elif i % 3 == 1:
            q = rnd.choice(SURNAMES)
        else:
            q = rnd.choice(SURNAMES) + rnd.choice(["伟", "芳", "a", "e", "明", "o"])
        reqs.append(("/api/v1/contacts", {"q": q, "limit": 50}))
    return reqs


def time_requests(client: httpx.Client, reqs: list[tuple[str, dict[str, Any]]]) -> list[float]:
    for path, params in reqs[:10]:  # warm up
        client.get(path, params=params)
    timings = []
    for path, params in reqs:
        started = time.perf_counter()
        answer = client.get(path, params=params)
        timings.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 200:
            raise RuntimeError(f"{path} {params} -> {answer.status_code} {answer.text[:300]}")
    return timings


def time_record_pages(client: httpx.Client, ids: dict[str, Any], n: int) -> list[float]:
    timings = []
    for contact_id in ids["contacts"][: n + 10]:
        started = time.perf_counter()
        record = client.get(f"/api/v1/contacts/{contact_id}")
        if record.status_code == 404:
            continue
        timeline = client.get(f"/api/v1/contacts/{contact_id}/timeline", params={"limit": 20})
        timings.append((time.perf_counter() - started) * 1000)
        if timeline.status_code != 200:
            raise RuntimeError(timeline.text[:300])
    return timings[10:]


def floor_list(url: str, ids: dict[str, Any], n: int) -> list[float]:
    """The same list query through the bare driver: the floor for our API."""
    rnd = random.Random(11)
    timings = []
    if url.startswith("sqlite"):
        conn: Any = sqlite3.connect(url.removeprefix("sqlite:///"))
        sql = "SELECT * FROM contacts WHERE owner_id = ? ORDER BY updated_at DESC, id DESC LIMIT 51"
        sql2 = ("SELECT * FROM opportunities WHERE stage_id = ? AND amount > 10000 "
                "ORDER BY amount DESC, id DESC LIMIT 51")
    else:
        import psycopg

        conn = psycopg.connect(url)
        sql = "SELECT * FROM contacts WHERE owner_id = %s ORDER BY updated_at DESC, id DESC LIMIT 51"
        sql2 = ("SELECT * FROM opportunities WHERE stage_id = %s AND amount > 10000 "
                "ORDER BY amount DESC, id DESC LIMIT 51")
    for i in range(n):
        started = time.perf_counter()
        if i % 2 == 0:
            conn.execute(sql, (rnd.choice(ids["owners"]),)).fetchall()
        else:
            conn.execute(sql2, (rnd.choice(ids["stages"]),)).fetchall()
        timings.append((time.perf_counter() - started) * 1000)
    conn.close()
    return timings


def write_import_csv(path: Path, rows: int, seed: int) -> None:
    rnd = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["external_id", "first_name", "last_name", "email", "phone", "job_title", "city"])
        for i in range(rows):
            writer.writerow([
                f"bench-{seed}-{i}", rnd.choice(["Anna", "Lars", "伟", "芳", "Maria"]),
                rnd.choice(SURNAMES), f"person{seed}x{i}@example.com",
                f"+86 13{rnd.randint(0, 9)}{rnd.randint(10_000_000, 99_999_999)}",
                rnd.choice(["Engineer", "Buyer", "采购经理", "CTO"]), rnd.choice(["Shanghai", "Berlin"]),
            ])


def bench_import(url: str, rows: int) -> dict[str, Any]:
    env = {**os.environ, "RAPPORT_DATABASE_URL": url}
    path = OUT / f"import-{rows}.csv"
    seed = int(time.time())
    write_import_csv(path, rows, seed)
    started = time.perf_counter()
    run([str(BIN / "rapport"), "import", "contacts", str(path), "--upsert-on", "external_id"], env,
        capture_output=True)
    elapsed = time.perf_counter() - started
    floor = floor_import(url, path)
    rate = rows / elapsed
    return {"rows": rows, "seconds": round(elapsed, 2), "rows_per_s": round(rate),
            "floor_rows_per_s": round(floor), "ratio_to_floor": round(rate / floor, 3)}


def floor_import(url: str, path: Path) -> float:
    """Decode the CSV and executemany-insert it into a scratch table: the import floor."""
    started = time.perf_counter()
    with path.open(encoding="utf-8") as fh:
        reader = csv.reader(fh)
        next(reader)
        rows = [tuple(r) for r in reader]
    if url.startswith("sqlite"):
        conn: Any = sqlite3.connect(url.removeprefix("sqlite:///"))
        conn.execute("CREATE TEMP TABLE floor_import (a, b, c, d, e, f, g)")
        conn.executemany("INSERT INTO floor_import VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        conn.commit()
    else:
        import psycopg

        conn = psycopg.connect(url)
        conn.execute("CREATE TEMP TABLE floor_import (a text, b text, c text, d text, e text, f text, g text)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO floor_import VALUES (%s, %s, %s, %s, %s, %s, %s)", rows)
        conn.commit()
    conn.close()
    return len(rows) / (time.perf_counter() - started)


def bench_export(url: str) -> dict[str, Any]:
    env = {**os.environ, "RAPPORT_DATABASE_URL": url}
    target = OUT / "export.csv"
    started = time.perf_counter()
    with target.open("w") as fh:
        run([str(BIN / "rapport"), "export", "contacts"], env, stdout=fh, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - started
    with target.open(encoding="utf-8") as fh:
        rows = sum(1 for _ in fh) - 1
    floor = floor_export(url)
    rate = rows / elapsed
    return {"rows": rows, "seconds": round(elapsed, 2), "rows_per_s": round(rate),
            "floor_rows_per_s": round(floor), "ratio_to_floor": round(rate / floor, 3)}


def floor_export(url: str) -> float:
    """Fetch every contact through the bare driver and csv-write it to /dev/null."""
    started = time.perf_counter()
    count = 0
    with open(os.devnull, "w", newline="") as sink:
        writer = csv.writer(sink)
        if url.startswith("sqlite"):
            conn: Any = sqlite3.connect(url.removeprefix("sqlite:///"))
            for row in conn.execute("SELECT * FROM contacts"):
                writer.writerow(row)
                count += 1
        else:
            import psycopg

            conn = psycopg.connect(url)
            with conn.cursor(name="floor") as cur:
                cur.itersize = 10_000
                cur.execute("SELECT * FROM contacts")
                for row in cur:
                    writer.writerow(row)
                    count += 1
        conn.close()
    return count / (time.perf_counter() - started)


def table_counts(url: str) -> dict[str, int]:
    from sqlalchemy import create_engine, text

    from rapport.db.engine import normalise_url

    engine = create_engine(normalise_url(url))
    with engine.connect() as conn:
        counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()  # noqa: S608
                  for t in ("contacts", "accounts", "opportunities", "activities")}
    engine.dispose()
    return counts


def bench_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    url = prepare_database(backend, args.scale, args.reuse)
    counts = table_counts(url)
    print(f"[{backend}] rows: {counts}", flush=True)
    token = api_token(url)
    ids = sample_ids(url)
    rnd = random.Random(3)
    result: dict[str, Any] = {"counts": counts}
    with server(url) as base, httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        result["list"] = summary(time_requests(client, list_requests(ids, args.requests, rnd)))
        result["list"]["floor"] = summary(floor_list(url, ids, args.requests))
        result["list"]["ratio_p50_to_floor"] = round(result["list"]["p50_ms"] / max(result["list"]["floor"]["p50_ms"], 0.001), 1)
        result["search"] = summary(time_requests(client, search_requests(ids, args.requests, rnd)))
        result["record_page"] = summary(time_record_pages(client, ids, args.requests))
    for name in ("list", "search", "record_page"):
        print(f"[{backend}] {name:12s} p50 {result[name]['p50_ms']:7.2f} ms  p95 {result[name]['p95_ms']:7.2f} ms", flush=True)
    if not args.skip_transfer:
        result["export"] = bench_export(url)
        print(f"[{backend}] export {result['export']}", flush=True)
        result["import"] = bench_import(url, args.import_rows)
        print(f"[{backend}] import {result['import']}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--scale", type=int, default=1000, help="demo scale (1000 = 1M contacts)")
    parser.add_argument("--requests", type=int, default=300, help="timed requests per kind")
    parser.add_argument("--import-rows", type=int, default=100_000)
    parser.add_argument("--reuse", action="store_true", help="reuse an already loaded database")
    parser.add_argument("--skip-transfer", action="store_true", help="skip import/export")
    args = parser.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    results = {"scale": args.scale, "targets": {"p95_ms": 50, "import_rows_per_s": 20_000, "export_rows_per_s": 50_000}}
    for backend in backends:
        results[backend] = bench_backend(backend, args)
    print(json.dumps(results, ensure_ascii=False))


if __name__ == "__main__":
    main()
