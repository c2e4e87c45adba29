"""A record's timeline: its activities and its change records, merged newest first."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from rapport.crm.changes import ChangeRecord
from rapport.crm.models import Activity
from rapport.errors import ValidationFailed

ACTIVITY_LINK = {
    "accounts": Activity.account_id,
    "contacts": Activity.contact_id,
    "leads": Activity.lead_id,
    "opportunities": Activity.opportunity_id,
    "tickets": Activity.ticket_id,
}


def _decode(before: str | None) -> tuple[tuple[str, int] | None, int | None]:
    if not before:
        return None, None
    try:
        raw = orjson.loads(base64.urlsafe_b64decode(before.encode()))
        activity = (str(raw["a"][0]), int(raw["a"][1])) if raw.get("a") else None
        change = int(raw["c"]) if raw.get("c") is not None else None
        return activity, change
    except (ValueError, KeyError, TypeError, IndexError, orjson.JSONDecodeError) as exc:
        raise ValidationFailed("The timeline cursor is invalid; start again without it") from exc


def timeline(
    session: Session, object_name: str, record_id: int, *, limit: int = 50,
    before: str | None = None, activity_scope: Any = None,
) -> dict[str, Any]:
    """``activity_scope``: a WHERE clause on activities limiting them to the reader's scope."""
    activity_after, change_after = _decode(before)
    items: list[dict[str, Any]] = []
    link = ACTIVITY_LINK.get(object_name)
    exhausted_activities = link is None or (before is not None and activity_after is None)
    if link is not None and not exhausted_activities:
        stmt = select(Activity).where(link == record_id)
        if activity_scope is not None:
            stmt = stmt.where(activity_scope)
        if activity_after is not None:
            at = datetime.fromisoformat(activity_after[0])
            stmt = stmt.where(
                or_(Activity.occurred_at < at, and_(Activity.occurred_at == at, Activity.id < activity_after[1]))
            )
        for a in session.scalars(stmt.order_by(Activity.occurred_at.desc(), Activity.id.desc()).limit(limit + 1)):
            items.append({
                "kind": "activity", "id": a.id, "at": a.occurred_at, "type": a.type,
                "direction": a.direction, "subject": a.subject, "body": a.body,
                "owner_id": a.owner_id, "duration_seconds": a.duration_seconds,
            })
    exhausted_changes = before is not None and change_after is None
    if not exhausted_changes:
        stmt_c = select(ChangeRecord).where(
            ChangeRecord.object_type == object_name, ChangeRecord.record_id == record_id
        )
        if change_after is not None:
            stmt_c = stmt_c.where(ChangeRecord.id < change_after)
        for c in session.scalars(stmt_c.order_by(ChangeRecord.id.desc()).limit(limit + 1)):
            items.append({
                "kind": "change", "id": c.id, "at": c.occurred_at, "action": c.action,
                "changes": c.changes, "actor_user_id": c.actor_user_id, "source": c.source,
            })
    items.sort(key=lambda i: (i["at"], i["id"]), reverse=True)
    page = items[:limit]
    next_cursor = None
    if len(items) > limit:
        last_activity = next((i for i in reversed(page) if i["kind"] == "activity"), None)
        last_change = next((i for i in reversed(page) if i["kind"] == "change"), None)
        cursor: dict[str, Any] = {
            "a": [last_activity["at"].isoformat(), last_activity["id"]] if last_activity else None,
            "c": last_change["id"] if last_change else None,
        }
        # A stream with nothing on this page restarts from the top unless it is exhausted.
        if last_activity is None and not exhausted_activities and link is not None:
            cursor["a"] = [activity_after[0], activity_after[1]] if activity_after else ["9999-12-31T00:00:00+00:00", 0]
        if last_change is None and not exhausted_changes:
            cursor["c"] = change_after if change_after is not None else 2**62
        next_cursor = base64.urlsafe_b64encode(orjson.dumps(cursor)).decode()
    for item in page:
        item["at"] = item["at"].isoformat()
    return {"items": page, "next_cursor": next_cursor}
