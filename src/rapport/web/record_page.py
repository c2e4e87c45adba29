"""What a record page shows besides its fields: related records, timeline, stage path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from rapport.crm.board import pipeline_stages
from rapport.crm.query import Filter, ListQuery
from rapport.crm.registry import OBJECTS, WORK_OBJECTS, FieldSpec, ObjectSpec
from rapport.crm.service import Page, Record, RecordService
from rapport.crm.timeline import ACTIVITY_LINK
from rapport.web.display import Display, collect_titles
from rapport.web.i18n import N_
from rapport.web.listing import DEFAULT_COLUMNS

RELATED_LIMIT = 5
HIDDEN_ON_PAGE = {"id", "version", "created_at", "updated_at"}


@dataclass
class RelatedList:
    spec: ObjectSpec
    via: FieldSpec
    label: str
    page: Page
    columns: list[FieldSpec]
    new_params: dict[str, Any]
    all_params: dict[str, Any]


def reverse_references(object_name: str) -> list[tuple[ObjectSpec, FieldSpec]]:
    """(object, field) pairs whose field points at ``object_name`` (activities: timeline)."""
    pairs = []
    for name in WORK_OBJECTS:
        if name == "activities":
            continue
        spec = OBJECTS[name]
        for f in spec.fields.values():
            if f.reference == object_name and f.writable:
                pairs.append((spec, f))
    return pairs


def related_lists(session: Session, records: RecordService, display: Display,
                  object_name: str, record_id: int) -> list[RelatedList]:
    pairs = reverse_references(object_name)
    out: list[RelatedList] = []
    for spec, via in pairs:
        if not display.actor.access.allows(spec.name, "read"):
            continue
        flt = f"{via.name}:eq:{record_id}"
        page = records.list(session, spec.name, ListQuery(filters=[Filter.parse(flt)],
                                                          limit=RELATED_LIMIT), actor=display.actor)
        columns = [spec.fields[c] for c in DEFAULT_COLUMNS.get(spec.name, [])
                   if c in spec.fields and c != via.name][:3]
        label = display.gettext(spec.label)
        if len([p for p in pairs if p[0].name == spec.name]) > 1 or spec.name == object_name:
            label = f"{label} · {display.label(via)}"
        out.append(RelatedList(spec, via, label, page, columns, {via.name: record_id},
                               {"filter": [flt]}))
    display.titles.update(collect_titles(
        session, records,
        [c for r in out for c in r.columns],
        [item.values for r in out for item in r.page.items],
        display.actor,
    ))
    return out


@dataclass
class ChangeLine:
    label: str
    before: str
    after: str


@dataclass
class TimelineEntry:
    kind: str
    at: str
    title: str
    body: str
    icon: str
    lines: list[ChangeLine]


ICONS = {"email": "✉", "call": "☎", "meeting": "👥", "chat": "💬", "note": "📝",
         "created": "✚", "updated": "✎", "deleted": "✖"}


def timeline_entries(session: Session, records: RecordService, display: Display,
                     spec: ObjectSpec, record: Record,
                     custom: dict[str, FieldSpec]) -> tuple[list[TimelineEntry], bool]:
    data = records.timeline(session, spec.name, record.id, actor=display.actor, limit=30)
    users = {
        i["actor_user_id"] for i in data["items"] if i["kind"] == "change" and i["actor_user_id"]
    } | {i["owner_id"] for i in data["items"] if i["kind"] == "activity" and i["owner_id"]}
    names = {uid: str(r.values["title"])
             for uid, r in records.get_many(session, "users", list(users), actor=display.actor).items()}
    # Reference values mentioned in changes get their titles too.
    rows: list[dict[str, Any]] = []
    for item in data["items"]:
        if item["kind"] != "change":
            continue
        for key, pair in (item["changes"] or {}).items():
            if key in spec.fields and isinstance(pair, list) and len(pair) == 2:
                rows.extend([{key: pair[0]}, {key: pair[1]}])
    display.titles.update(collect_titles(session, records, spec.fields.values(), rows, display.actor))
    currency = record.values.get("currency")
    entries: list[TimelineEntry] = []
    for item in data["items"]:
        at = display.fmt.short_datetime(item["at"])
        if item["kind"] == "activity":
            who = names.get(item["owner_id"], "")
            entries.append(TimelineEntry(
                "activity", at, item["subject"] or display.option(item["type"]),
                item["body"] or "", ICONS.get(item["type"], "•"),
                [ChangeLine(display.gettext(N_("By")), "", who)] if who else [],
            ))
            continue
        lines = _change_lines(display, spec, custom, item["changes"] or {}, currency)
        if item["action"] == "created":
            lines = [ChangeLine(line.label, "", line.after) for line in lines]
        who = names.get(item["actor_user_id"], display.gettext("System"))
        title = {
            "created": display.gettext("Created by %(name)s"),
            "updated": display.gettext("Changed by %(name)s"),
            "deleted": display.gettext("Deleted by %(name)s"),
        }.get(item["action"], item["action"]) % {"name": who}
        entries.append(TimelineEntry("change", at, title, "", ICONS.get(item["action"], "•"), lines))
    return entries, data["next_cursor"] is not None


def _change_lines(display: Display, spec: ObjectSpec, custom: dict[str, FieldSpec],
                  changes: dict[str, Any], currency: str | None) -> list[ChangeLine]:
    lines: list[ChangeLine] = []
    for key, pair in changes.items():
        if not isinstance(pair, list) or len(pair) != 2 or key in ("version", "updated_at"):
            continue
        before, after = pair
        if key == "custom":
            old, new = before or {}, after or {}
            for name in sorted(set(old) | set(new)):
                if old.get(name) == new.get(name):
                    continue
                f = custom.get(name)
                if f is None:
                    lines.append(ChangeLine(name, str(old.get(name) or "—"), str(new.get(name) or "—")))
                    continue
                lines.append(ChangeLine(
                    display.label(f),
                    display.text(f, {"custom": {name: old.get(name)}, "currency": currency}) or "—",
                    display.text(f, {"custom": {name: new.get(name)}, "currency": currency}) or "—",
                ))
            continue
        f = spec.fields.get(key)
        if f is None:
            continue
        lines.append(ChangeLine(
            display.label(f),
            display.text(f, {"currency": currency, key: before}) or "—",
            display.text(f, {"currency": currency, key: after}) or "—",
        ))
    return lines


def stage_path(session: Session, record: Record) -> list[dict[str, Any]]:
    """The stages of an opportunity's pipeline, marking where it stands."""
    pipeline_id = record.values.get("pipeline_id")
    if not pipeline_id:
        return []
    current = record.values.get("stage_id")
    stages = pipeline_stages(session, int(pipeline_id))
    position = next((s.position for s in stages if s.id == current), None)
    return [
        {"id": s.id, "name": s.name, "current": s.id == current,
         "done": position is not None and s.position < position,
         "won": s.is_won, "lost": s.is_lost}
        for s in stages
    ]


def quick_links(object_name: str, record_id: int) -> list[tuple[str, str, dict[str, Any]]]:
    """(object, label msgid, prefill) for 'log activity' and 'add task' on a record page."""
    links: list[tuple[str, str, dict[str, Any]]] = []
    link_field = f"{OBJECTS[object_name].singular}_id"
    if object_name in ACTIVITY_LINK:
        links.append(("activities", N_("Log activity"), {link_field: record_id}))
    if link_field in OBJECTS["tasks"].fields:
        links.append(("tasks", N_("Add task"), {link_field: record_id}))
    return links
