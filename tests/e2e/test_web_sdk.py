"""The web SDK in headless Chromium against a live server: /sdk/rapport.js loaded by a page
the server serves (a test-only router), events asserted in the ``events`` table."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from fastapi import APIRouter
from sqlalchemy import select
from starlette.responses import HTMLResponse, Response

from rapport.api.app import create_app
from rapport.bootstrap import Container, bootstrap
from rapport.config import Settings
from rapport.db.migrate import upgrade
from rapport.events import sources
from rapport.events.hub_models import HubEvent
from tests.e2e.conftest import _free_port, shot

pytest.importorskip("playwright.sync_api")


@dataclass
class SdkServer:
    url: str
    container: Container
    write_key: str
    source_id: int


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>EMC test report · Acme Robotics</title>
<link rel="stylesheet" href="/sdk-test/page.css">
<script src="{sdk_origin}/sdk/rapport.js" data-write-key="{key}" data-flush-at="{flush_at}"
        data-flush-interval="{flush_interval}"></script>
</head><body>
<main data-document="emc-test-report" data-document-title="EMC test report 2024">
  <h1>EMC test report</h1>
  <p>Radiated emissions of the RX-200 drive measured 30 MHz – 1 GHz: 6 dB below the
     EN 55011 class A limit at every frequency.</p>
</main>
<p><button id="sample" data-track="Sample Requested" data-track-product="RX-200">
  Request a sample</button></p>
<form id="contact" action="/sdk-test/thanks" method="post" data-track="Contact Form Submitted">
  <label>E-mail <input name="email" value="ana@example.com"></label>
  <label>Company <input name="company" value="Acme Robotics"></label>
  <label>Password <input type="password" name="password" value="hunter2-secret"></label>
  <button type="submit">Send</button>
</form>
<form id="newsletter" action="/sdk-test/thanks" method="post" data-track-values="company">
  <input name="company" value="Globex"><input name="email" value="bo@example.com">
  <button type="submit">Subscribe</button>
</form>
</body></html>"""


CSS = """body{font:16px system-ui;margin:2rem;max-width:46rem} main{border:1px solid #ccd;
padding:1rem 1.5rem;border-radius:8px} button{padding:.4rem 1rem} form{margin-top:1.5rem;
display:grid;gap:.5rem;max-width:22rem}"""


def _test_router(write_key: str) -> APIRouter:
    router = APIRouter()

    @router.get("/sdk-test/page")
    def test_page(flush_at: int = 20, flush_interval: int = 500, sdk_origin: str = "") -> Response:
        html = PAGE.format(key=write_key, flush_at=flush_at, flush_interval=flush_interval,
                           sdk_origin=sdk_origin)
        if not sdk_origin:
            return HTMLResponse(html)
        # a customer's site: its own policy lets it load the SDK from and send to Rapport
        policy = (f"default-src 'self'; script-src 'self' {sdk_origin}; "
                  f"connect-src 'self' {sdk_origin}; style-src 'self'")
        return HTMLResponse(html, headers={"Content-Security-Policy": policy})

    @router.get("/sdk-test/page.css")
    def test_css() -> Response:
        return Response(CSS, media_type="text/css")

    @router.post("/sdk-test/thanks")
    @router.get("/sdk-test/thanks")
    def thanks() -> Response:
        return HTMLResponse("<!doctype html><title>Thanks</title><p>Thanks!</p>")

    return router


@pytest.fixture(scope="module")
def sdk_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SdkServer]:
    url = f"sqlite:///{tmp_path_factory.mktemp('sdk') / 'rapport.db'}"
    upgrade(url)
    container = bootstrap(Settings(database_url=url, environment="test",
                                   secret_key="e2e-sdk-secret-key-not-for-production"))
    with container.uow() as uow:
        issued = sources.create_source(uow.session, "website", "web")
        uow.commit()
    app = create_app(container)
    for route in reversed(_test_router(issued.write_key).routes):  # before the UI's catch-alls
        app.router.routes.insert(0, route)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield SdkServer(f"http://127.0.0.1:{port}", container, issued.write_key, issued.source.id)
    server.should_exit = True
    thread.join(timeout=10)
    container.engine.dispose()


@pytest.fixture
def browser_context(chromium: Any, sdk_server: SdkServer) -> Iterator[Any]:
    context = chromium.new_context(base_url=sdk_server.url, viewport={"width": 1100, "height": 800})
    context.set_default_timeout(10_000)
    yield context
    context.close()


def _events(server: SdkServer, **where: Any) -> list[HubEvent]:
    with server.container.session_factory() as session:
        stmt = select(HubEvent).order_by(HubEvent.id)
        for column, value in where.items():
            stmt = stmt.where(getattr(HubEvent, column) == value)
        return list(session.scalars(stmt))


def _wait_for(find: Callable[[], list[HubEvent]], count: int = 1,
              timeout: float = 10.0, page: Any = None) -> list[HubEvent]:
    """Poll the event log; with ``page``, wait through Playwright so its route handlers run
    (the sync API dispatches them only inside its own calls)."""
    deadline = time.monotonic() + timeout
    while True:
        found = find()
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {count} event(s), found {len(found)}")
        if page is not None:
            page.wait_for_timeout(100)
        else:
            time.sleep(0.1)


def _anonymous_id(page: Any) -> str:
    return str(page.evaluate("rapport.user().anonymousId"))


def test_page_view_click_and_context_reach_the_event_log(browser_context: Any,
                                                         sdk_server: SdkServer) -> None:
    page = browser_context.new_page()
    page.goto("/sdk-test/page")
    page.click("#sample")
    anonymous = _anonymous_id(page)

    events = _wait_for(lambda: _events(sdk_server, anonymous_id=anonymous), 2)

    view, click = events[:2]
    assert (view.type, view.channel, view.source_id) == ("page", "web", sdk_server.source_id)
    assert view.properties["path"] == "/sdk-test/page"
    assert view.properties["title"] == "EMC test report · Acme Robotics"
    assert (click.type, click.name) == ("track", "Sample Requested")
    assert click.properties["product"] == "RX-200"
    assert click.properties["text"] == "Request a sample"
    # the SDK always sends session and fingerprint: nothing is derived by the collector
    assert view.session_id == click.session_id
    assert not view.session_derived
    assert view.fingerprint.startswith("fp1_")
    assert not view.fingerprint_derived
    assert page.evaluate("JSON.parse(localStorage.getItem('rapport.anonymousId'))") == anonymous
    shot(page, "web-sdk-test-page")


def test_form_submit_sends_field_names_never_values_then_the_beacon_on_unload(
        browser_context: Any, sdk_server: SdkServer) -> None:
    page = browser_context.new_page()
    page.goto("/sdk-test/page?flush_at=100&flush_interval=60000")  # only the unload sends
    anonymous = _anonymous_id(page)
    beacons: list[str] = []
    page.on("request", lambda r: beacons.append(r.resource_type)
            if r.url.endswith("/v1/batch") else None)

    page.click("#contact button[type=submit]")
    page.wait_for_url("**/sdk-test/thanks")
    events = _wait_for(lambda: _events(sdk_server, anonymous_id=anonymous, type="track"))

    form = next(e for e in events if e.name == "Contact Form Submitted")
    assert form.properties["fields"] == ["email", "company", "password"]
    assert "values" not in form.properties
    text = str(form.properties) + str(form.context)
    assert "ana@example.com" not in text
    assert "hunter2" not in text
    assert beacons == ["ping"]  # one sendBeacon on pagehide carried the queue
    assert page.evaluate("JSON.parse(localStorage.getItem('rapport.queue'))") == []


def test_data_track_values_sends_only_the_named_fields(browser_context: Any,
                                                      sdk_server: SdkServer) -> None:
    page = browser_context.new_page()
    page.goto("/sdk-test/page")
    anonymous = _anonymous_id(page)

    page.click("#newsletter button[type=submit]")
    page.wait_for_url("**/sdk-test/thanks")
    [form] = _wait_for(lambda: _events(sdk_server, anonymous_id=anonymous, name="Form Submitted"))

    assert form.properties["values"] == {"company": "Globex"}


def test_document_read_counts_visible_time_and_detects_printing(browser_context: Any,
                                                                sdk_server: SdkServer) -> None:
    page = browser_context.new_page()
    page.goto("/sdk-test/page?flush_at=100&flush_interval=60000")
    anonymous = _anonymous_id(page)
    page.wait_for_timeout(1500)
    page.emulate_media(media="print")  # matchMedia('print') fires, as in a print preview
    page.emulate_media(media="screen")
    page.wait_for_timeout(1000)

    page.goto("/sdk-test/thanks")  # leaving the page ends the reading
    [read] = _wait_for(lambda: _events(sdk_server, anonymous_id=anonymous, name="Document Read"))

    assert read.properties["document_id"] == "emc-test-report"
    assert read.properties["title"] == "EMC test report 2024"
    assert read.properties["printed"] is True
    assert 2.2 <= read.properties["dwell_seconds"] <= 6


def test_a_hidden_tab_pauses_the_dwell_clock(browser_context: Any,
                                             sdk_server: SdkServer) -> None:
    page = browser_context.new_page()
    page.goto("/sdk-test/page?flush_at=100&flush_interval=60000")
    anonymous = _anonymous_id(page)
    page.wait_for_timeout(1200)
    # the tab goes to the background: the reading so far is reported, then nothing counts
    page.evaluate("""() => {
        Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true});
        document.dispatchEvent(new Event('visibilitychange'));
    }""")
    page.wait_for_timeout(2000)
    page.evaluate("""() => {
        Object.defineProperty(document, 'visibilityState', {value: 'visible', configurable: true});
        document.dispatchEvent(new Event('visibilitychange'));
    }""")
    page.wait_for_timeout(1200)
    page.goto("/sdk-test/thanks")

    reads = _wait_for(lambda: _events(sdk_server, anonymous_id=anonymous, name="Document Read"), 2)
    seconds = [r.properties["dwell_seconds"] for r in reads]
    assert all(1.0 <= s <= 2.0 for s in seconds), seconds  # 2 s hidden counted in neither
    assert reads[0].properties["reading_id"] == reads[1].properties["reading_id"]
    assert [r.properties["segment"] for r in reads] == [1, 2]


def test_events_are_batched_and_5xx_is_retried_but_4xx_is_not(browser_context: Any,
                                                              sdk_server: SdkServer) -> None:
    page = browser_context.new_page()
    answers = iter([503, None, 400])  # None: let the request through to the collector
    seen: list[int] = []

    def route(r: Any) -> None:
        status = next(answers, None)
        seen.append(len(r.request.post_data_json["batch"]))
        if status is None:
            r.continue_()
        else:
            r.fulfill(status=status, body="{}", content_type="application/json")

    page.route("**/v1/batch", route)
    page.goto("/sdk-test/page?flush_at=5&flush_interval=60000")
    anonymous = _anonymous_id(page)
    page.evaluate("for (let i = 0; i < 4; i++) rapport.track('Step ' + i, {i})")  # +page view
    _wait_for(lambda: _events(sdk_server, anonymous_id=anonymous), 5, timeout=15, page=page)
    page.evaluate("for (let i = 4; i < 9; i++) rapport.track('Step ' + i, {i})")
    page.wait_for_timeout(1000)

    assert seen == [5, 5, 5]  # one batch of 5, retried after the 503; the next refused (400)
    assert len(_events(sdk_server, anonymous_id=anonymous)) == 5
    assert page.evaluate("JSON.parse(localStorage.getItem('rapport.queue'))") == []


def test_a_site_on_another_origin_sends_through_cors_and_the_beacon(
        browser_context: Any, sdk_server: SdkServer) -> None:
    site = sdk_server.url.replace("127.0.0.1", "localhost")  # another origin, same server
    page = browser_context.new_page()
    page.goto(f"{site}/sdk-test/page?flush_at=2&flush_interval=60000"
              f"&sdk_origin={sdk_server.url}")
    anonymous = _anonymous_id(page)
    page.click("#sample")  # page view + click = 2: a fetch with Basic auth, after a preflight
    _wait_for(lambda: _events(sdk_server, anonymous_id=anonymous), 2, page=page)
    page.evaluate("rapport.track('Left Without Flushing')")
    page.goto(f"{site}/sdk-test/thanks")  # the beacon: text/plain, writeKey in the body

    events = _wait_for(lambda: _events(sdk_server, anonymous_id=anonymous), 3)
    assert [e.name for e in events] == [None, "Sample Requested", "Left Without Flushing"]
    assert events[0].properties["url"].startswith("http://localhost:")


def test_the_sdk_file_is_served_with_caching_and_its_content_type(
        browser_context: Any, sdk_server: SdkServer) -> None:
    answer = browser_context.request.get("/sdk/rapport.js")

    assert answer.status == 200
    assert answer.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "max-age=86400" in answer.headers["cache-control"]
    assert answer.headers["access-control-allow-origin"] == "*"
    again = browser_context.request.get("/sdk/rapport.js",
                                        headers={"If-None-Match": answer.headers["etag"]})
    assert again.status == 304
