"""The customer list (``/profiles``), the customer 360 page: one stitched customer with traits,
counters, journey stage, the merged timeline (hub events and CRM activities), identities,
merges and linked records; and the merge-review queue (``/admin/merge-reviews``).

Access and masking are the API's (``rapport.profiles.service``): a profile is shown to whoever
may read its linked contact or lead, or reads every profile; e-mails and phones are masked
as on the CRM pages. Undoing a merge and the review queue need ``profiles.merge``, and a
review is decided with the API's call (``merges.resolve_review``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from rapport.errors import Conflict, Forbidden, NotFound, RapportError, ValidationFailed
from rapport.events.hub_models import CHANNELS, Source
from rapport.identity import merges
from rapport.identity.identifiers import Identifier, parse_lookup
from rapport.profiles import service
from rapport.trust import audit
from rapport.trust.actor import Actor
from rapport.web.deps import UI, Form, User, actor_for
from rapport.web.display import Display
from rapport.web.i18n import N_
from rapport.web.record_page import ICONS as ACTIVITY_ICONS
from rapport.web.rendering import query_string

router = APIRouter()
TIMELINE_PAGE = 30
REVIEW_PAGE = 20
CUSTOMER_PAGE = 50
MAX_CUSTOMER_PAGE = 2_000  # deeper than this, search or filter
WHAT_REVIEWS = "deciding merge reviews"

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
REVIEW_STATUS_LABELS = {"open": N_("Waiting for review"), "merged": N_("Merged"),
                        "dismissed": N_("Kept apart")}
# The reasons the stitcher gives (identity/stitching.py), so the page can translate them.
REVIEW_REASONS = (
    N_("the profiles hold different user ids"),
    N_("the profiles are linked to different CRM contacts"),
    N_("a new user id arrived with an identifier of a profile that holds another user id"),
    N_("a new CRM contact arrived with an identifier of a profile linked to another contact"),
)
REVIEW_NOTICES = {"merge": N_("Merged: the two profiles are one now."),
                  "dismiss": N_("Kept apart: the two profiles stay separate.")}


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


# ---- the customer list -----------------------------------------------------------------------

LINKED_CHOICES = {"yes": True, "no": False}
SORT_LABELS = {"last_seen": N_("Last seen"), "first_seen": N_("First seen")}
CHANNEL_LABELS = {"web": N_("Web"), "app": N_("App"), "pos": N_("Point of sale"),
                  "iot": N_("Devices"), "api": N_("API"), "import": N_("Import"), "crm": N_("CRM")}


def _search(session: Session, q: str, default_region: str) -> int:
    """The live profile an identifier names: ``kind:value``, an e-mail, else a user id or an
    anonymous id; 0 (no profile) when none holds it. A malformed value raises its message."""
    if ":" in q:
        wanted: list[Identifier] = [parse_lookup(q, default_region)]
    elif "@" in q:
        wanted = [parse_lookup(f"email:{q}", default_region)]
    else:
        wanted = [parse_lookup(f"{kind}:{q}", default_region) for kind in ("user_id", "anonymous_id")]
    for identifier in wanted:
        try:
            return service.resolve(session, service.lookup(session, identifier)).profile.id
        except NotFound:
            continue
    return 0


def _customer_name(display: Display, row: service.ProfileRow) -> str:
    """The ``name`` trait, else the (masked) e-mail, else an anonymous visitor by id."""
    for trait in ("name", "email"):
        value = row.traits.get(trait, {}).get("value")
        if isinstance(value, str) and value:
            return value
    return display.gettext("Anonymous visitor #%(id)s") % {"id": row.id}


@router.get("/profiles")
def customers_page(
    request: Request, ui: UI, user: User,
    q: Annotated[str, Query(max_length=400)] = "",
    stage: Annotated[str, Query(max_length=12)] = "",
    linked: Annotated[str, Query(max_length=3)] = "",
    channel: Annotated[str, Query(max_length=10)] = "",
    sort: Annotated[str, Query(max_length=12)] = "last_seen",
    page: Annotated[int, Query(ge=1, le=MAX_CUSTOMER_PAGE)] = 1,
) -> Response:
    """Live customer profiles the user may read (the 360 page's rule, applied in SQL)."""
    display = ui.display(request, user)
    actor = display.actor
    q = q.strip()
    keep = {"q": q, "stage": stage if stage in service.JOURNEY_STAGES else "",
            "linked": linked if linked in LINKED_CHOICES else "",
            "channel": channel if channel in CHANNELS else "",
            "sort": sort if sort in service.LIST_SORTS else "last_seen"}
    error = None
    listing = service.ProfileList((), 0, more=False)
    with ui.container.session_factory() as session:
        found: int | None = None
        if q:
            try:
                found = _search(session, q, ui.container.settings.default_phone_region)
            except ValidationFailed as exc:
                error = display.gettext(exc.detail)
        if error is None:
            filters = service.ProfileFilters(
                stage=keep["stage"], linked=LINKED_CHOICES.get(keep["linked"]),
                channel=keep["channel"], profile_id=found, sort=keep["sort"])
            listing = service.list_profiles(ui.container.records, session, actor, filters,
                                            limit=CUSTOMER_PAGE, offset=(page - 1) * CUSTOMER_PAGE)
    rows = [{
        "id": r.id, "name": _customer_name(display, r),
        "stage": display.gettext(STAGE_LABELS.get(r.journey_stage, r.journey_stage)),
        "channels": [display.gettext(CHANNEL_LABELS.get(c, c)) for c in r.channels],
        "events": display.fmt.number(r.events),
        "last_seen": display.fmt.datetime(r.last_seen) if r.last_seen else "",
        "first_seen": display.fmt.datetime(r.first_seen) if r.first_seen else "",
        "linked": [{"object": link.object_name, "id": link.id, "title": link.title,
                    "label": display.gettext(N_("Contact") if link.object_name == "contacts"
                                             else N_("Lead"))} for link in r.linked],
        # linked to a record the user may not read (they read every profile): say so, no link
        "unreadable": [display.gettext("Contact #%(id)s") % {"id": i} if name == "contacts"
                       else display.gettext("Lead #%(id)s") % {"id": i}
                       for name, i in (("contacts", r.contact_id), ("leads", r.lead_id))
                       if i is not None and all(link.object_name != name for link in r.linked)],
    } for r in listing.items]
    first = (page - 1) * CUSTOMER_PAGE + 1
    return ui.render(request, "profiles.html", {
        "section": "profiles", "rows": rows, "count": listing.count, "filters": keep,
        "error": error, "first": first, "last": first + len(rows) - 1,
        "filtered": any(keep[k] for k in ("q", "stage", "linked", "channel")),
        "stages": [(s, display.gettext(STAGE_LABELS[s])) for s in service.JOURNEY_STAGES],
        "channels": [(c, display.gettext(CHANNEL_LABELS.get(c, c))) for c in CHANNELS],
        "sorts": [(s, display.gettext(SORT_LABELS[s])) for s in service.LIST_SORTS],
        "previous": query_string({**keep, "page": page - 1 if page > 2 else None})
        if page > 1 else None,
        "next": query_string({**keep, "page": page + 1})
        if listing.more and page < MAX_CUSTOMER_PAGE else None,
    }, user=user)


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


# ---- the merge-review queue ------------------------------------------------------------------


def _translated(display: Display, text: str | None) -> str:
    """Stored text (a reason, a status label) in the page's language, as a sentence."""
    translated = display.gettext(text) if text else ""
    return translated[:1].upper() + translated[1:]


def _side(display: Display, side: service.ReviewSide | None, requested: int) -> dict[str, Any]:
    if side is None:
        return {"requested_id": requested, "id": None, "readable": False, "gone": True}
    title = (_title(display, {"id": side.id, "traits": side.traits}) if side.readable
             else display.gettext("Customer #%(id)s") % {"id": side.id})
    return {
        "requested_id": side.requested_id, "id": side.id, "readable": side.readable,
        "gone": False, "title": title,
        "stage": display.gettext(STAGE_LABELS.get(side.journey_stage, side.journey_stage)),
        "first_seen": display.fmt.datetime(side.first_seen) if side.first_seen else "",
        "last_seen": display.fmt.datetime(side.last_seen) if side.last_seen else "",
        "events": side.events,
        "linked": [{"object": r.object_name, "id": r.id, "title": r.title,
                    "label": N_("Contact") if r.object_name == "contacts" else N_("Lead")}
                   for r in side.linked],
    }


def _reviews_page(request: Request, ui: UI, user: User, *, status: str, cursor: str,
                  error: str | None = None, code: int = 200) -> Response:
    display = ui.display(request, user)
    actor = display.actor
    after = int(cursor) if cursor.isascii() and cursor.isdigit() and len(cursor) < 19 else None
    with ui.container.session_factory() as session:
        listing = service.list_reviews(session, actor, status=status, limit=REVIEW_PAGE,
                                       after=after)
        counts = service.review_counts(session)
        sides = service.review_sides(
            ui.container.records, session, actor,
            [i for r in listing["items"] for i in (r["profile_a_id"], r["profile_b_id"])])
        deciders = {r["resolved_by"] for r in listing["items"] if r["resolved_by"]}
        users = (ui.container.records.get_many(session, "users", sorted(deciders), actor=actor)
                 if deciders else {})
    rows = [{
        **r, "label": _kind_label(display, r["identifier_kind"]),
        "reason": _translated(display, r["reason"]),
        "a": _side(display, sides.get(r["profile_a_id"]), r["profile_a_id"]),
        "b": _side(display, sides.get(r["profile_b_id"]), r["profile_b_id"]),
        "created": display.fmt.datetime(r["created_at"]),
        "resolved": display.fmt.datetime(r["resolved_at"]) if r["resolved_at"] else "",
        "decision": _translated(display, REVIEW_STATUS_LABELS.get(r["status"], r["status"])),
        "resolver": (users[r["resolved_by"]].values.get("name") if r["resolved_by"] in users
                     else None),
    } for r in listing["items"]]
    done = request.query_params.get("done") or ""
    return ui.render(request, "merge_reviews.html", {
        "section": "merge_reviews", "reviews": rows, "status": status, "counts": counts,
        "statuses": [(s, REVIEW_STATUS_LABELS[s]) for s in merges.REVIEW_STATUSES],
        "next": query_string({"status": status, "cursor": listing["next_cursor"]})
        if listing["next_cursor"] else None,
        "first": query_string({"status": status}) if after is not None else None,
        "notice": REVIEW_NOTICES.get(done), "error": error,
    }, user=user, status=code)


@router.get("/admin/merge-reviews")
def merge_reviews_page(
    request: Request, ui: UI, user: User,
    status: Annotated[str, Query(max_length=12)] = "open",
    cursor: Annotated[str, Query(max_length=19)] = "",
) -> Response:
    """The profiles the identity guards kept apart; ``status`` open, merged or dismissed."""
    actor_for(user, request).require("profiles.merge", WHAT_REVIEWS)
    chosen = status if status in merges.REVIEW_STATUSES else "open"
    return _reviews_page(request, ui, user, status=chosen, cursor=cursor)


@router.post("/admin/merge-reviews/{review_id:int}/{decision}")
def decide_from_queue(review_id: int, decision: str, request: Request, ui: UI, user: User,
                      form: Form) -> Response:
    """``merge`` or ``dismiss`` (keep apart) one review, as the API does."""
    if decision not in REVIEW_NOTICES:
        raise NotFound("No such decision")
    actor = actor_for(user, request)
    actor.require("profiles.merge", WHAT_REVIEWS)
    back = str(form.get("status") or "open")
    back = back if back in merges.REVIEW_STATUSES else "open"
    try:
        with ui.container.uow() as uow:
            merges.resolve_review(uow.session, ui.container.settings.secret_key, review_id,
                                  decision, user_id=actor.user_id)
            uow.commit()
    except (NotFound, Conflict) as exc:  # decided or erased meanwhile: say so on the list
        display = ui.display(request, user)
        return _reviews_page(request, ui, user, status=back, cursor="",
                             error=display.gettext(exc.detail), code=exc.status)
    return RedirectResponse("/admin/merge-reviews" + query_string(
        {"status": back, "done": decision}), 303)
