"""``rapport worker`` as real processes: the in-process log, and NATS with shared partitions.

The workers run the fake processing step of ``tests.hub.bus_support`` (``--processor``), whose
effect table shows whether an event was processed never, once or twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import nats
import nats.js.errors
import pytest
from sqlalchemy import select

from rapport.bootstrap import Container, bootstrap
from rapport.events.nats_bus import NatsEventBus, NatsNames, delete_all
from tests.hub.bus_support import (
    create_effects_table,
    effect_counts,
    effects,
    make_source,
    pending_count,
    profile_event_total,
    run_sync,
    store_events,
    unlinked_count,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[2]


def start_worker(database_url: str, log: Path, *args: str, bus_url: str = "", bus_name: str = "rapport",
                 delay: float = 0.0, processor: str = "fake_process") -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "RAPPORT_DATABASE_URL": database_url, "RAPPORT_ENVIRONMENT": "test",
        "RAPPORT_BUS_URL": bus_url, "RAPPORT_BUS_NAME": bus_name,
        "RAPPORT_TEST_FAKE_DELAY": str(delay),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.Popen(
        [sys.executable, "-c", "from rapport.cli import app; app()", "worker", "--processor",
         f"tests.hub.bus_support:{processor}", *args],
        env=env, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )


@pytest.fixture
def workers() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_worker_on_the_in_process_log_processes_events_and_stops_cleanly_on_sigterm(
    container: Container, tmp_path: Path, workers: list[subprocess.Popen[bytes]],
) -> None:
    create_effects_table(container.engine)
    source = make_source(container.session_factory)
    refs = store_events(container.session_factory, container.settings, source, 500)
    proc = start_worker(container.settings.database_url, tmp_path / "worker.log",
                        "--concurrency", "2", "--poll", "0.1")
    workers.append(proc)

    assert wait_for(lambda: pending_count(container.session_factory) == 0, timeout=60), \
        (tmp_path / "worker.log").read_text()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    assert effect_counts(container.session_factory) == {ref.id: 1 for ref in refs}
    assert "worker stopped" in (tmp_path / "worker.log").read_text()


def _workers_seen(hub: Container) -> set[str]:
    with hub.session_factory() as session:
        return set(session.scalars(select(effects.c.worker).distinct()))


async def _stream_messages(url: str, names: NatsNames) -> int:
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().stream_info(names.stream)
        return int(info.state.messages)
    finally:
        await nc.close()


async def _leases(url: str, names: NatsNames) -> dict[int, int]:
    """partition -> pid of the worker holding its lease."""
    nc = await nats.connect(url)
    try:
        kv = await nc.jetstream().key_value(names.bucket)
        try:
            keys = await kv.keys()
        except nats.js.errors.NoKeysError:
            return {}
        held = {}
        for key in keys:
            if key.startswith("p."):
                try:
                    entry = await kv.get(key)
                except nats.js.errors.KeyNotFoundError:
                    continue
                held[int(key[2:])] = int((entry.value or b"").decode().split("-")[-2])
        return held
    except nats.js.errors.BucketNotFoundError:
        return {}
    finally:
        await nc.close()


@pytest.mark.parametrize("processor", ["fake_process", "slow_pipeline"])
def test_two_worker_processes_share_the_partitions_and_one_takes_over_when_the_other_is_killed(
    container: Container, nats_url: str, tmp_path: Path, workers: list[subprocess.Popen[bytes]],
    processor: str,
) -> None:
    """With the fake step the effect table shows each event applied once; with the real
    pipeline every event is linked to a profile and the profiles count each event once."""
    name = "t" + uuid.uuid4().hex[:10]
    names = NatsNames(name)
    settings = container.settings.model_copy(update={"bus_url": nats_url, "bus_name": name})
    hub = bootstrap(settings)
    create_effects_table(hub.engine)
    try:
        # given a pre-loaded stream of events over 16 partitions
        source = make_source(hub.session_factory)
        total = 6000 if processor == "fake_process" else 3000
        refs = store_events(hub.session_factory, settings, source, total, customers=400)
        bus = hub.event_bus
        assert isinstance(bus, NatsEventBus)
        bus.publish(refs)
        assert bus.flush(30)
        # a publish that timed out on the loaded machine is republished by the catch-up
        assert wait_for(lambda: run_sync(_stream_messages(nats_url, names)) >= total,
                        timeout=60, interval=0.5), f"{bus.failed} publishes failed"

        # when two worker processes start (each batch takes a while: kills land mid-batch)
        options = ("--concurrency", "2", "--batch", "50", "--lease-ttl", "3")
        first = start_worker(settings.database_url, tmp_path / "a.log", *options,
                             bus_url=nats_url, bus_name=name, delay=0.1, processor=processor)
        second = start_worker(settings.database_url, tmp_path / "b.log", *options,
                              bus_url=nats_url, bus_name=name, delay=0.1, processor=processor)
        workers.extend([first, second])

        # then they split the partitions between them, 8 and 8
        def split() -> bool:
            held = run_sync(_leases(nats_url, names))
            return (len(held) == 16 and sorted(held.values()).count(first.pid) == 8)
        assert wait_for(split, timeout=30, interval=0.3), _logs(tmp_path)
        assert wait_for(lambda: pending_count(hub.session_factory) < total * 0.8, timeout=60)
        if processor == "fake_process":  # both have committed batches before the kill
            assert wait_for(lambda: {str(first.pid), str(second.pid)} <= _workers_seen(hub),
                            timeout=30, interval=0.2), _logs(tmp_path)

        # when the first is killed mid-batch
        first.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        first.wait(10)

        # then the second takes over all its partitions within seconds
        assert wait_for(lambda: set(run_sync(_leases(nats_url, names)).values()) == {second.pid}
                        and len(run_sync(_leases(nats_url, names))) == 16,
                        timeout=30, interval=0.2), _logs(tmp_path)
        takeover = time.monotonic() - killed_at
        assert takeover < 15, f"takeover took {takeover:.1f} s"

        # and at the end every event was processed exactly once, visibly
        assert wait_for(lambda: pending_count(hub.session_factory) == 0, timeout=90), _logs(tmp_path)
        if processor == "slow_pipeline":
            assert unlinked_count(hub.session_factory) == 0, "an event was lost"
            assert profile_event_total(hub.session_factory) == total, "an event counted twice"
        else:
            counts = effect_counts(hub.session_factory)
            assert set(counts) == {ref.id for ref in refs}, "an event was lost"
            assert set(counts.values()) == {1}, "an event was processed twice"

            # and no partition was ever processed by both at once: per partition, in id
            # order, the worker changes at most at a rebalance and at the takeover
            with hub.session_factory() as session:
                rows = session.execute(select(effects.c.partition, effects.c.worker)
                                       .order_by(effects.c.event_id)).all()
            by_partition: dict[int, list[str]] = {}
            for partition, worker in rows:
                by_partition.setdefault(partition, []).append(worker)
            for partition, sequence in by_partition.items():
                switches = sum(1 for a, b in zip(sequence, sequence[1:], strict=False) if a != b)
                assert switches <= 2, f"partition {partition} went back and forth: {switches}"
            assert {str(first.pid), str(second.pid)} <= {worker for _, worker in rows}

        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
        assert run_sync(_leases(nats_url, names)) == {}, "leases not released on SIGTERM"
        print(f"takeover after SIGKILL: {takeover:.1f} s")  # noqa: T201
    finally:
        close = getattr(hub.event_bus, "close", None)
        if close:
            close(timeout=2)
        hub.engine.dispose()
        run_sync(delete_all(nats_url, names))


def _logs(tmp_path: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(tmp_path.glob("*.log")))
