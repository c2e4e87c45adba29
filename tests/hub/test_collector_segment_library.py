"""The real Segment library (segment-analytics-python) pointed at a live Rapport delivers
track, identify, page and group unchanged, as it would to Segment."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import uvicorn
from fastapi import FastAPI

from rapport.bootstrap import Container
from tests.hub.collector_support import Keyed, events, web_source_fixture  # noqa: F401 - fixture

segment = pytest.importorskip("segment.analytics.client")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def live_url(app: FastAPI) -> Iterator[str]:
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.mark.parametrize("gzip", [False, True])
def test_analytics_python_delivers_its_calls_unchanged(
    container: Container, web_source: Keyed, live_url: str, gzip: bool
) -> None:
    errors: list[Exception] = []
    client = segment.Client(write_key=web_source.key, host=live_url, sync_mode=True, gzip=gzip,
                            max_retries=0, on_error=lambda error, _batch: errors.append(error))
    happened = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)

    client.identify(user_id="u-1001", traits={"email": "li.na@example.com", "plan": "pro"},
                    message_id="seg-1", timestamp=happened)
    client.track(user_id="u-1001", event="Order Completed", message_id="seg-2",
                 properties={"order_id": "SO-42", "revenue": 1999.5, "currency": "CNY"},
                 context={"ip": "203.0.113.7"}, timestamp=happened)
    client.page(user_id="u-1001", category="Docs", name="EMC test report", message_id="seg-3",
                properties={"path": "/docs/emc"})
    client.group(user_id="u-1001", group_id="acct-7", traits={"name": "Acme"}, message_id="seg-4")
    client.flush()

    assert errors == []
    stored = {e.message_id: e for e in events(container)}
    assert sorted(stored) == ["seg-1", "seg-2", "seg-3", "seg-4"]
    identify, track, page, group = (stored[f"seg-{n}"] for n in range(1, 5))
    assert identify.type == "identify"
    assert identify.traits == {"email": "li.na@example.com", "plan": "pro"}
    assert track.name == "Order Completed"
    assert track.properties == {"order_id": "SO-42", "revenue": 1999.5, "currency": "CNY"}
    assert track.context["ip"] == "203.0.113.7"
    assert track.context["library"]["name"] == "analytics-python"
    # the library stamps sentAt; this machine's clock is right, so the correction is tiny
    assert abs((track.timestamp - happened).total_seconds()) < 2
    assert track.sent_at is not None
    assert track.skew_ms is not None
    assert page.name == "EMC test report"
    assert page.properties["category"] == "Docs"
    assert group.properties["groupId"] == "acct-7"
    assert group.traits == {"name": "Acme"}
    assert all(e.user_id == "u-1001" and e.fingerprint_derived for e in stored.values())
