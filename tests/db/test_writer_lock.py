"""The in-process SQLite writer lock: one writer at a time per engine, re-entrant, no-op on
PostgreSQL."""

from __future__ import annotations

import threading
import time
from contextlib import nullcontext
from pathlib import Path

from rapport.db.engine import make_engine, writer_lock


def test_writers_of_one_engine_take_turns_and_a_writer_may_nest(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    spans: list[tuple[float, float]] = []

    def write() -> None:
        with writer_lock(engine), writer_lock(engine):  # nested on one thread: no self-wait
            began = time.monotonic()
            time.sleep(0.05)
            spans.append((began, time.monotonic()))

    threads = [threading.Thread(target=write) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)

    assert len(spans) == 3
    ordered = sorted(spans)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(ordered, ordered[1:], strict=False))
    with engine.connect() as connection:
        assert writer_lock(connection) is writer_lock(engine)  # a connection maps to its engine
    assert writer_lock(make_engine(f"sqlite:///{tmp_path / 'other.db'}")) is not writer_lock(engine)
    engine.dispose()


def test_postgresql_needs_no_lock_of_ours() -> None:
    engine = make_engine("postgresql://postgres@127.0.0.1:5432/unused")  # never connects
    assert isinstance(writer_lock(engine), nullcontext)
