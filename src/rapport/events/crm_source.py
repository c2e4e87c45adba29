"""The CRM as a source: contact and lead changes from the outbox become hub events.

The outbox relay publishes ``crm.contact.created`` / ``.updated`` / ``.deleted`` (and the same
for leads) on the in-process bus after the change committed. This source turns each into a
track event (``Contact Created``, ``Lead Updated`` ...) and, while the record exists, an
identify event with its e-mail, phone and name, so the stitcher links the CRM record and the
behavioural profile (identifiers ``contact_id``/``lead_id``, ``email``, ``phone``), whichever
was seen first: a record created or changed after the person was seen links back the same
way. A contact's mobile is an identifier too (the stitcher matches it), and a converted
lead also names its contact. Events go to a built-in source named ``crm`` (channel ``crm``,
created on first use).

No userId is set: a CRM id must never block a merge with the userId a website or app gives
the same person. The anonymousId is ``crm-contact-<id>``. Message ids derive from the
outbox message id, so a relay that delivers twice stores once.

The bus handler only queues (the relay must not wait for the hub: on SQLite its open write
would block ours); a worker thread ingests, started on demand. A process that stops with
messages still queued loses nothing for good: ``catch_up`` re-reads recently published CRM
outbox messages (idempotent), and the server runs it when it starts.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rapport.config import Settings
from rapport.crm.service import SYSTEM, RecordService
from rapport.errors import Conflict, NotFound
from rapport.events import sources
from rapport.events.bus import DomainEvent
from rapport.events.collector import ingest
from rapport.events.hub_bus import EventBus
from rapport.events.models import OutboxMessage
from rapport.events.sources import SourceInfo

if TYPE_CHECKING:
    from rapport.bootstrap import Container

log = logging.getLogger(__name__)

SOURCE_NAME = "crm"
OBJECTS = {"contacts": "contact", "leads": "lead"}
TOPICS = tuple(f"crm.{singular}." for singular in OBJECTS.values())
# record fields copied into identify traits (names as the Segment spec spells them)
TRAIT_FIELDS = {"email": "email", "phone": "phone", "mobile": "mobile",
                "first_name": "firstName", "last_name": "lastName", "job_title": "title",
                "company": "company", "city": "city", "country": "country"}
# the record's phone numbers, in the order they fill the ``phone`` identifier
NUMBER_FIELDS = ("phone", "mobile")
BATCH = 200
IDLE_EXIT_SECONDS = 5.0
MAX_ATTEMPTS = 5
USER_AGENT = "rapport-crm"


def crm_source(session: Session) -> SourceInfo:
    """The built-in ``crm`` source, created on first use (its write key is never shown:
    nothing outside Rapport sends as the CRM)."""
    try:
        return sources.find_source(session, SOURCE_NAME)
    except NotFound:
        pass
    try:
        with session.begin_nested():
            issued = sources.create_source(session, SOURCE_NAME, "crm", {}, allow_crm=True)
        return issued.source
    except Conflict:  # another process created it a moment ago
        return sources.find_source(session, SOURCE_NAME)


def _title(word: str) -> str:
    return word[:1].upper() + word[1:]


def _values(records: RecordService, session: Session, object_name: str,
            record_id: int) -> dict[str, Any] | None:
    try:
        return dict(records.load_for_write(session, object_name, record_id, SYSTEM).values)
    except NotFound:
        return None


def events_for(message: DomainEvent, values: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The hub events of one CRM change (``values``: the record now, None if deleted)."""
    payload = message.payload
    object_name = payload.get("object")
    singular = OBJECTS.get(str(object_name))
    record_id = payload.get("id")
    if singular is None or not isinstance(record_id, int):
        return []
    action = str(payload.get("action") or message.topic.rsplit(".", 1)[-1])
    raw_changes = payload.get("changes")
    changes: dict[str, Any] = raw_changes if isinstance(raw_changes, dict) else {}
    when = payload.get("occurred_at")
    identity: dict[str, Any] = {f"{singular}_id": str(record_id)}
    traits: dict[str, Any] = dict(identity)
    numbers: list[str] = []
    if values is not None:
        for field, trait in TRAIT_FIELDS.items():
            value = values.get(field)
            if value not in (None, ""):
                traits[trait] = value
        if traits.get("firstName") or traits.get("lastName"):
            traits["name"] = " ".join(str(traits[k]) for k in ("firstName", "lastName")
                                      if traits.get(k))
        converted = values.get("converted_contact_id")
        if singular == "lead" and isinstance(converted, int):
            traits["contact_id"] = str(converted)  # one person: the lead's profile is the contact's
        numbers = list(dict.fromkeys(str(values[f]) for f in NUMBER_FIELDS if values.get(f)))
        if numbers:
            traits["phone"] = numbers[0]  # a contact with only a mobile: that is their phone
    link = {k: traits[k] for k in ("contact_id", "lead_id", "email", "phone") if k in traits}
    base = {"anonymousId": f"crm-{singular}-{record_id}", "timestamp": when,
            "context": {"channel": "crm", "library": {"name": USER_AGENT, "version": "1"},
                        "traits": link}}
    track = {**base, "type": "track", "messageId": f"crm-outbox-{message.id}",
             "event": f"{_title(singular)} {_title(action)}",
             "properties": {"object": object_name, "record_id": record_id, "action": action,
                            # names only: values live in the CRM, behind its permissions
                            "changed_fields": sorted(k for k in changes
                                                     if k not in ("version", "updated_at")),
                            "actor_user_id": payload.get("actor_user_id"),
                            "via": payload.get("source")}}
    if len(numbers) > 1:
        # The second number (a mobile beside the phone) is an identifier as well. Top-level
        # traits of a track call name identifiers without setting profile traits, so the
        # profile's ``phone`` trait stays the record's phone.
        track["traits"] = {"phone": numbers[1]}
    events = [track]
    if values is not None and action != "deleted":
        events.append({**base, "type": "identify", "messageId": f"crm-outbox-{message.id}-identify",
                       "traits": traits})
    return events


class CrmEventSource:
    """Queues CRM changes from the bus and ingests them on a worker thread."""

    def __init__(self, session_factory: Callable[[], Session], settings: Settings,
                 records: RecordService, event_bus: Callable[[], EventBus]) -> None:
        self._factory = session_factory
        self._settings = settings
        self._records = records
        self._event_bus = event_bus
        self._inbox: queue.Queue[DomainEvent] = queue.Queue()
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._idle = threading.Event()
        self._idle.set()
        self.ingested = 0
        self.failures = 0

    def handle(self, message: DomainEvent) -> None:
        """The bus handler: queue and return (never blocks the outbox relay)."""
        if not message.topic.startswith(TOPICS):
            return
        self._idle.clear()
        self._inbox.put(message)
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._run, name="crm-event-source",
                                                daemon=True)
                self._worker.start()

    def _run(self) -> None:
        while True:
            try:
                first = self._inbox.get(timeout=IDLE_EXIT_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self._inbox.empty():
                        self._worker = None
                        self._idle.set()
                        return
                continue
            batch = [first]
            while len(batch) < BATCH:
                try:
                    batch.append(self._inbox.get_nowait())
                except queue.Empty:
                    break
            for attempt in range(1, MAX_ATTEMPTS + 1):
                try:
                    self.ingest(batch)
                    break
                except Exception:  # the database: retry with back-off, keep the order
                    self.failures += 1
                    log.exception("CRM source could not store %d change(s) (attempt %d of %d)",
                                  len(batch), attempt, MAX_ATTEMPTS)
                    if attempt < MAX_ATTEMPTS:
                        threading.Event().wait(min(30.0, 0.5 * 2 ** attempt))
            else:
                log.error("CRM source gave up on %d change(s); the next start's catch-up "
                          "stores them", len(batch))
            if self._inbox.empty():
                self._idle.set()

    def ingest(self, messages: list[DomainEvent]) -> int:
        """Store the events of these CRM changes (one transaction); returns how many were
        stored (duplicates of an earlier delivery are not counted)."""
        with self._factory() as session:
            source = crm_source(session)
            items: list[dict[str, Any]] = []
            for message in messages:
                payload = message.payload
                object_name = str(payload.get("object"))
                record_id = payload.get("id")
                values = (_values(self._records, session, object_name, record_id)
                          if object_name in OBJECTS and isinstance(record_id, int) else None)
                items.extend(events_for(message, values))
            if not items:
                return 0
            result = ingest(session, self._settings, source, items,
                            received_at=datetime.now(UTC), user_agent=USER_AGENT)
            session.commit()
        self._event_bus().publish(result.stored)
        self.ingested += result.accepted
        return result.accepted

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued is stored (tests, shutdown)."""
        return self._idle.wait(timeout)

    def catch_up(self, hours: float = 24.0) -> int:
        """Ingest CRM outbox messages published in the last ``hours`` again (duplicates are
        no-ops): covers changes queued by a process that stopped before storing them."""
        since = datetime.now(UTC) - timedelta(hours=hours)
        with self._factory() as session:
            rows = list(session.execute(
                select(OutboxMessage.id, OutboxMessage.topic, OutboxMessage.payload)
                .where(OutboxMessage.published_at.is_not(None), OutboxMessage.published_at >= since,
                       OutboxMessage.topic.like("crm.%"))
                .order_by(OutboxMessage.id)))
        stored = 0
        wanted = [DomainEvent(r.id, r.topic, r.payload) for r in rows if r.topic.startswith(TOPICS)]
        for start in range(0, len(wanted), BATCH):
            stored += self.ingest(wanted[start:start + BATCH])
        return stored


def attach(container: Container) -> CrmEventSource:
    """Subscribe the CRM source to the container's bus (the composition root calls this)."""
    source = CrmEventSource(container.session_factory, container.settings, container.records,
                            lambda: container.event_bus)
    container.bus.subscribe("crm.", source.handle)
    return source


def start(container: Container, *, catch_up_hours: float = 24.0) -> CrmEventSource:
    """Attach, then catch up in the background (the server's start-up calls this)."""
    source = attach(container)

    def _catch_up() -> None:
        try:
            source.catch_up(catch_up_hours)
        except Exception:
            log.exception("CRM source catch-up failed; live changes still flow")

    threading.Thread(target=_catch_up, name="crm-source-catch-up", daemon=True).start()
    return source
