"""The customer 360 page: one stitched customer with traits, counters, journey stage, the
merged timeline (hub events and CRM activities), identities, merges and linked records.

Access and masking are the API's (``rapport.profiles.service``): a profile is shown to whoever
may read its linked contact or lead, or reads every profile; e-mails and phones are masked
as on the CRM pages. Undoing a merge needs ``profiles.merge``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from rapport.errors import Forbidden, NotFound, RapportError
from rapport.events.hub_models import Source
from rapport.identity import merges
from rapport.profiles import service
from rapport.trust import audit
from rapport.trust.actor import Actor
from rapport.web.deps import UI, Form, User, actor_for
from rapport.web.display import Display
from rapport.web.i18n import N_
from rapport.web.record_page import ICONS as ACTIVITY_ICONS

router = APIRouter()
TIMELINE_PAGE = 30

STAGE_LABELS = {
    "anonymous": N_("Anonymous"),
    "identified": N_("Identified"),
    "engaged": N_("Engaged"),
    "customer": N_("Customer"),
}
KIND_LABELS = {
    "user_id": N_("User id"),
    "anonymous_id": N_("Anonymous id"),
    "email": N_("E-mail"),
    "phone": N_("Phone"),
    "fingerprint": N_("Device"),
    "contact_id": N_("Contact"),
    "lead_id": N_("Lead"),
    "external": N_("External id"),
    "manual": N_("Manual decision"),
}
COUNTER_LABELS = (
    ("sessions", N_("Sessions")),
    ("page_views", N_("Page views")),
    ("documents_read", N_("Documents read")),
    ("documents_printed", N_("Documents printed")),
    ("reading_seconds", N_("Reading time (s)")),
    ("orders", N_("Orders")),
    ("revenue", N_("Revenue")),
)
EVENT_TYPE_LABELS = {
    "page": N_("Page view"), "screen": N_("Screen view"), "track": N_("Event"),
    "identify": N_("Identified"), "alias": N_("Alias"), "group": N_("Group"),
}
EVENT_ICONS = {"page": "▤", "screen": "▯", "track": "⚡", "identify": "☺", "alias": "⇄",
               "group": "⌂"}


def _kind_label(display: Display, kind: str) -> str:
    base = "external" if kind.startswith("external:") else kind
    return display.gettext(KIND_LABELS.get(base, base))


def _title(display: Display, profile: dict[str, Any]) -> str:
    traits = profile["traits"]
    for name in ("name", "email", "phone"):
        value = traits.get(name, {}).get("value")
        if isinstance(value, str) and value:
            return value
    first, last = (traits.get(n, {}).get("value") for n in ("first_name", "last_name"))
    if isinstance(first, str) or isinstance(last, str):
        return " ".join(str(v) for v in (first, last) if v)
    return display.gettext("Customer #%(id)s") % {"id": profile["id"]}


def _linked(ui: UI, session: Session, actor: Actor, profile: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for object_name, key, label in (("contacts", "contact_id", N_("Contact")),
                                    ("leads", "lead_id", N_("Lead"))):
        record_id = profile.get(key)
        if record_id is None:
            continue
        try:
            record = ui.container.records.get(session, object_name, record_id, actor=actor)
        except (NotFound, Forbidden):
            continue
        out.append({"object": object_name, "id": record_id, "label": label,
                    "title": record.values.get("title") or f"#{record_id}"})
    return out


def _timeline(display: Display, items: list[dict[str, Any]], sources: dict[int, str]) -> list[dict[str, Any]]:
    rows = []
    for item in items:
        if item["kind"] == "event":
            title = item.get("name") or display.gettext(EVENT_TYPE_LABELS.get(item["type"], item["type"]))
            details = [f"{k}: {v}" for k, v in (item.get("properties") or {}).items()
                       if isinstance(v, str | int | float | bool)][:6]
            details += [f"{k}: {v}" for k, v in (item.get("traits") or {}).items()
                        if isinstance(v, str | int | float | bool)][:6]
            rows.append({
                "kind": "event", "icon": EVENT_ICONS.get(item["type"], "•"), "title": title,
                "type": item["type"], "at": display.fmt.datetime(item["at"]),
                "meta": " · ".join(x for x in (item.get("channel"), sources.get(item["source_id"])) if x),
                "details": details, "profile_id": item.get("profile_id"),
            })
        else:
            rows.append({
                "kind": "activity", "icon": ACTIVITY_ICONS.get(item.get("type") or "", "•"),
                "title": item.get("subject") or display.gettext("Activity"),
                "type": item.get("type"), "at": display.fmt.datetime(item["at"]),
                "meta": display.gettext("CRM activity"), "details": [],
                "body": item.get("body"), "activity_id": item["id"],
            })
    return rows


@router.get("/profiles/{profile_id:int}")
def profile_page(profile_id: int, request: Request, ui: UI, user: User) -> Response:
    display = ui.display(request, user)
    actor = display.actor
    cursor = request.query_params.get("cursor") or None
    with ui.container.session_factory() as session:
        found = service.readable(ui.container.records, session, actor, profile_id)
        if found.merged and cursor is None:
            # the survivor's page; the address says which profile is shown
            return RedirectResponse(f"/profiles/{found.profile.id}?from={profile_id}", 303)
        profile = service.profile_json(actor, found)
        try:
            page = service.timeline(ui.container.records, session, actor, found,
                                    limit=TIMELINE_PAGE, cursor=cursor)
        except RapportError:
            page = service.timeline(ui.container.records, session, actor, found, limit=TIMELINE_PAGE)
        graph = service.identity_graph(session, actor, found)
        source_names = {row.id: row.name for row in session.execute(select(Source.id, Source.name))}
        linked = _linked(ui, session, actor, profile)
        session.commit()  # the record service counts reads for the anomaly detector
    traits = [{"name": name, "value": entry["value"],
               "source": source_names.get(entry.get("source_id"), entry.get("source_id")),
               "at": display.fmt.datetime(entry.get("at"))}
              for name, entry in profile["traits"].items()]
    counters = profile["counters"]
    counter_rows = [(display.gettext(label), display.fmt.number(counters[key])
                     if key != "revenue" else display.fmt.money(counters[key]))
                    for key, label in COUNTER_LABELS if key in counters]
    by_type = sorted((counters.get("events") or {}).items(), key=lambda kv: -kv[1])
    by_name = sorted((counters.get("names") or {}).items(), key=lambda kv: -kv[1])[:10]
    identities = [{**i, "label": _kind_label(display, i["kind"]),
                   "first_seen": display.fmt.datetime(i["first_seen"])} for i in graph["identities"]]
    merge_rows = [{**m, "label": _kind_label(display, m["identifier_kind"]),
                   "when": display.fmt.datetime(m["at"]),
                   "undone": display.fmt.datetime(m["undone_at"]) if m["undone_at"] else "",
                   "undoable": m["winner_id"] == profile["id"] and not m["undone_at"]}
                  for m in graph["merges"]]
    review_rows = [{**r, "label": _kind_label(display, r["identifier_kind"]),
                    "other": r["profile_b_id"] if r["profile_a_id"] in (profile["id"], *graph["merged_profiles"])
                    else r["profile_a_id"]} for r in graph["reviews"]]
    from_id = request.query_params.get("from")
    context = {
        "section": "profiles", "profile": profile, "title": _title(display, profile),
        "stage": profile["journey_stage"],
        "stage_label": display.gettext(STAGE_LABELS.get(profile["journey_stage"], profile["journey_stage"])),
        "stages": [(s, display.gettext(label)) for s, label in STAGE_LABELS.items()],
        "traits": traits, "counter_rows": counter_rows, "by_type": by_type, "by_name": by_name,
        "timeline": _timeline(display, page["items"], source_names),
        "next_cursor": page["next_cursor"], "identities": identities, "merges": merge_rows,
        "reviews": review_rows, "merged_profiles": graph["merged_profiles"], "linked": linked,
        "can_merge": actor.can("profiles.merge"),
        "merged_from": int(from_id) if from_id and from_id.isdigit() else None,
        "undone": request.query_params.get("undone") == "1",
        "first_seen": display.fmt.datetime(profile["first_seen"]),
        "last_seen": display.fmt.datetime(profile["last_seen"]),
    }
    return ui.render(request, "profile.html", context, user=user)


@router.post("/profiles/{profile_id:int}/merges/{merge_id:int}/undo")
def undo_merge(profile_id: int, merge_id: int, request: Request, ui: UI, user: User,
               form: Form) -> Response:
    actor = actor_for(user, request)
    actor.require("profiles.merge", "undoing a merge of customer profiles")
    with ui.container.uow() as uow:
        service.readable(ui.container.records, uow.session, actor, profile_id)
        merges.undo_merge(uow.session, ui.container.settings.secret_key, merge_id,
                          actor=audit.actor_ref(actor.user_id), profile_id=profile_id)
        uow.commit()
    return RedirectResponse(f"/profiles/{profile_id}?undone=1", 303)


@router.post("/profiles/{profile_id:int}/reviews/{review_id:int}/{decision}")
def decide_review(profile_id: int, review_id: int, decision: str, request: Request, ui: UI,
                  user: User, form: Form) -> Response:
    """``merge`` or ``dismiss`` a review shown on the page (``profiles.merge``)."""
    if decision not in ("merge", "dismiss"):
        raise NotFound("No such decision")
    actor = actor_for(user, request)
    actor.require("profiles.merge", "deciding merge reviews")
    with ui.container.uow() as uow:
        found = service.readable(ui.container.records, uow.session, actor, profile_id)
        merges.resolve_review(uow.session, ui.container.settings.secret_key, review_id, decision,
                              user_id=actor.user_id)
        uow.commit()
    return RedirectResponse(f"/profiles/{found.profile.id}", 303)
