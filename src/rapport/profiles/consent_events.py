"""Consent decisions sent by the web SDK (``Consent Updated`` events) that reach the ledger.

A write key is public, so an event cannot prove who clicked: a *grant* from the SDK is not
recorded (anyone could grant consent for anyone; record grants through your backend and
``POST /api/v1/consents/collect``). A *withdrawal* or *denial* only ever restricts processing,
so the hub records it for the contact or lead the event's profile is linked to, with source
``web_sdk`` and the event as evidence, unless that decision is already the one in force.
Withdrawing ``analytics`` keeps the person's later events out of the profile (the pipeline's
consent check), as the SDK already stops sending from that browser.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from rapport.config import Settings
from rapport.errors import NotFound
from rapport.profiles.live import ProfileState
from rapport.trust import consent

CONSENT_EVENT = "Consent Updated"
RECORDED_STATUSES = ("withdrawn", "denied")
SOURCE = "web_sdk"


def _decision(event: Any) -> tuple[str, str] | None:
    """(purpose, status) of a Consent Updated event that restricts processing, else None."""
    if event.type != "track" or event.name != CONSENT_EVENT:
        return None
    properties = event.properties if isinstance(event.properties, dict) else {}
    purpose, status = properties.get("purpose"), properties.get("status")
    if purpose in consent.PURPOSES and status in RECORDED_STATUSES:
        return str(purpose), str(status)
    return None


def record_withdrawals(session: Session, settings: Settings, events: Sequence[Any],
                       targets: Sequence[ProfileState | None]) -> int:
    """Record the batch's SDK withdrawals and denials in the ledger; returns how many."""
    recorded = 0
    for event, target in zip(events, targets, strict=True):
        decision = _decision(event)
        if decision is None or target is None:
            continue
        purpose, status = decision
        evidence = f"Consent Updated event {event.id} from source {event.source_id}"
        given = event.properties.get("evidence") if isinstance(event.properties, dict) else None
        if isinstance(given, str) and given.strip():
            evidence += f": {given.strip()[:500]}"
        for subject in sorted(target.live().subjects()):
            in_force = next((s for s in consent.current(session, subject)
                             if s.purpose == purpose), None)
            if in_force is not None and in_force.state == status:
                continue
            try:
                consent.record(session, settings.secret_key, None, subject, purpose, status,
                               "consent", SOURCE, evidence)
            except NotFound:  # the record went away (erased) since the profile was linked
                continue
            recorded += 1
    return recorded
