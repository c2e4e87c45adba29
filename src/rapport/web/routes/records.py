"""List, record, create/edit and inline-edit pages for every work object."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from markupsafe import Markup
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.responses import HTMLResponse, RedirectResponse, Response

from rapport.crm.custom_fields import custom_field_specs
from rapport.crm.leads import convert_lead
from rapport.crm.query import Filter, ListQuery
from rapport.crm.registry import OBJECTS, WORK_OBJECTS, FieldSpec, ObjectSpec
from rapport.crm.saved_views import delete_view, list_views, save_view
from rapport.crm.service import Page, Record
from rapport.errors import FieldError, NotFound, RapportError, ValidationFailed, VersionConflict
from rapport.trust.auth import Principal
from rapport.web.deps import UI, Form, User, actor_for
from rapport.web.display import Display, collect_titles, input_name
from rapport.web.forms import (
    ReferenceOptions,
    build_fields,
    editable_fields,
    field_errors,
    parse_form,
)
from rapport.web.labels import NEW_LABELS
from rapport.web.listing import (
    OPERATOR_LABELS,
    ListState,
    all_fields,
    filter_chips,
    filter_reference_rows,
    sort_key_field,
    view_params,
)
from rapport.web.record_page import (
    HIDDEN_ON_PAGE,
    quick_links,
    related_lists,
    stage_path,
    timeline_entries,
)
from rapport.web.rendering import WebUI, query_string

router = APIRouter()
DUPLICATE = "A record with this value already exists (SKU, number or external id must be unique)"


def work_object(object_name: str) -> ObjectSpec:
    if object_name not in WORK_OBJECTS:
        raise NotFound(f"There is no page for '{object_name}'")
    return OBJECTS[object_name]


def _custom_field(custom: dict[str, FieldSpec], spec: ObjectSpec, name: str) -> FieldSpec:
    if name.startswith("custom."):
        found = custom.get(name.removeprefix("custom."))
    else:
        found = spec.fields.get(name)
    if found is None or not found.writable:
        raise NotFound(f"{spec.label} have no editable field '{name}'")
    return found


# ---- reference search --------------------------------------------------------------------


@router.get("/lookup/{target}")
def lookup(
    target: str, request: Request, ui: UI, user: User,
    q: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    """``<option>`` elements of records matching ``q`` (the search box of a reference)."""
    spec = OBJECTS.get(target)
    if spec is None:
        raise NotFound(f"Unknown object '{target}'")
    query = ListQuery(limit=50, sort=[spec.title_fields[-1]])
    if q.strip():
        if spec.search_table:
            query = ListQuery(limit=50, q=q)
        else:
            query.filters = [Filter(spec.title_fields[-1], "contains", q.strip())]
    with ui.container.session_factory() as session:
        page = ui.container.records.list(session, target, query, actor=actor_for(user, request),
                                         observe=False)
    html = Markup('<option value="">—</option>') + Markup("").join(
        Markup('<option value="{}">{}</option>').format(r.id, r.values["title"]) for r in page.items
    )
    return HTMLResponse(str(html))


# ---- lists ------------------------------------------------------------------------------


@router.get("/{object_name}")
def list_page(object_name: str, request: Request, ui: UI, user: User) -> Response:
    spec = work_object(object_name)
    params = request.query_params
    display = ui.display(request, user)
    records = ui.container.records
    with ui.container.session_factory() as session:
        custom = custom_field_specs(session, object_name)
        known = all_fields(spec, custom)
        state = ListState.from_params(object_name, params, known)
        if params.get("ff"):  # the add-filter form: continue on the canonical URL
            return RedirectResponse(f"/{object_name}{query_string(state.params())}", 303)
        error: RapportError | None = None
        try:
            page = records.list(session, object_name, state.query(), actor=display.actor)
        except ValidationFailed as exc:
            error, page = exc, Page([], None, 0, False)
        columns = [(key, known[key]) for key in state.columns]
        display.titles = collect_titles(session, records, [f for _, f in columns],
                                        [r.values for r in page.items], display.actor)
        display.titles.update(collect_titles(
            session, records, known.values(), filter_reference_rows(state), display.actor))
        views = list_views(session, user.user_id, object_name)
    return ui.render(request, "list.html", {
        "spec": spec, "state": state, "page": page, "columns": columns, "known": known,
        "chips": filter_chips(state, known, display, display.titles), "views": views,
        "view_params": view_params, "error": error, "display": display,
        "title_sort": sort_key_field(spec), "operators": OPERATOR_LABELS,
        "section": object_name,
    }, user=user)


@router.post("/{object_name}/views")
def create_view(object_name: str, request: Request, ui: UI, user: User, form: Form) -> Response:
    spec = work_object(object_name)
    with ui.container.session_factory() as session:
        known = all_fields(spec, custom_field_specs(session, object_name))
    state = ListState(
        object_name=object_name,
        q=str(form.get("q") or ""),
        filters=[str(f) for f in form.getlist("filter") if f],
        sort=str(form.get("sort") or ""),
        columns=[str(c) for c in form.getlist("cols") if c in known],
    )
    with ui.container.uow() as uow:
        view = save_view(uow, user.user_id, object_name, str(form.get("name") or ""),
                         state.as_view_query(), state.columns)
        uow.commit()
    return RedirectResponse(
        f"/{object_name}{query_string({**view_params(view), 'flash': 'view_saved'})}", 303
    )


@router.post("/{object_name}/views/{view_id:int}/delete")
def remove_view(object_name: str, view_id: int, ui: UI, user: User, form: Form) -> Response:
    work_object(object_name)
    with ui.container.uow() as uow:
        delete_view(uow, user.user_id, view_id)
        uow.commit()
    return RedirectResponse(f"/{object_name}?flash=view_deleted", 303)


# ---- create and edit --------------------------------------------------------------------


def _defaults(spec: ObjectSpec, user: Principal, display: Display) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    for name in ("owner_id", "assignee_id"):
        if name in spec.fields:
            defaults[name] = str(user.user_id)
    if spec.name == "activities":
        defaults["occurred_at"] = display.fmt.local_input(datetime.now(UTC))
        defaults["type"] = "note"
    return defaults


def _render_form(
    request: Request, ui: UI, user: Principal, session: Session, display: Display,
    spec: ObjectSpec, fields: list[FieldSpec], *, record: Record | None,
    submitted: dict[str, Any] | None, errors: dict[str, str] | None = None,
    general: list[str] | None = None, status: int = 200,
) -> Response:
    form_fields = build_fields(
        fields, record.values if record else {}, display,
        ReferenceOptions(session, ui.container.records, display.actor), submitted=submitted,
        errors=errors,
    )
    return ui.render(request, "form.html", {
        "spec": spec, "record": record, "fields": form_fields, "general": general or [],
        "new_label": NEW_LABELS[spec.name],
        "display": display, "section": spec.name,
    }, user=user, status=status)


def _errors(display: Display, exc: RapportError, fields: list[FieldSpec]
            ) -> tuple[dict[str, str], list[str]]:
    """Field errors to show next to inputs (translated) and the rest for a banner."""
    translated = [FieldError(e.field, display.error(e), e.code) for e in exc.errors]
    by_field, general = field_errors(translated, [input_name(f) for f in fields])
    if not exc.errors:
        general.insert(0, display.gettext(exc.detail))
    return by_field, general


@router.get("/{object_name}/new")
def new_form(object_name: str, request: Request, ui: UI, user: User) -> Response:
    spec = work_object(object_name)
    display = ui.display(request, user)
    with ui.container.session_factory() as session:
        fields = editable_fields(spec, custom_field_specs(session, object_name))
        names = {input_name(f) for f in fields}
        submitted = _defaults(spec, user, display)
        submitted.update({k: v for k, v in request.query_params.items() if k in names})
        return _render_form(request, ui, user, session, display, spec, fields, record=None,
                            submitted=submitted)


@router.post("/{object_name}/new")
def create(object_name: str, request: Request, ui: UI, user: User, form: Form) -> Response:
    spec = work_object(object_name)
    display = ui.display(request, user)
    with ui.container.uow() as uow:
        fields = editable_fields(spec, custom_field_specs(uow.session, object_name))
        parsed = parse_form(fields, form, display.fmt)
        errors = {k: display.gettext(v) for k, v in parsed.errors.items()}
        general: list[str] = []
        if not errors:
            try:
                record = ui.container.records.create(uow, actor_for(user, request), object_name, parsed.data)
                uow.commit()
                return RedirectResponse(f"/{object_name}/{record.id}?flash=created", 303)
            except ValidationFailed as exc:
                uow.rollback()
                errors, general = _errors(display, exc, fields)
            except IntegrityError:
                uow.rollback()
                general = [display.gettext(DUPLICATE)]
        return _render_form(request, ui, user, uow.session, display, spec, fields, record=None,
                            submitted=parsed.submitted, errors=errors, general=general,
                            status=422)


@router.get("/{object_name}/{record_id:int}/edit")
def edit_form(object_name: str, record_id: int, request: Request, ui: UI, user: User) -> Response:
    spec = work_object(object_name)
    display = ui.display(request, user)
    with ui.container.session_factory() as session:
        record = ui.container.records.get(session, object_name, record_id, actor=display.actor)
        fields = editable_fields(spec, custom_field_specs(session, object_name))
        return _render_form(request, ui, user, session, display, spec, fields, record=record,
                            submitted=None)


@router.post("/{object_name}/{record_id:int}/edit")
def update(object_name: str, record_id: int, request: Request, ui: UI, user: User,
           form: Form) -> Response:
    spec = work_object(object_name)
    display = ui.display(request, user)
    with ui.container.uow() as uow:
        records = ui.container.records
        record = records.get(uow.session, object_name, record_id, actor=display.actor)
        fields = editable_fields(spec, custom_field_specs(uow.session, object_name))
        parsed = parse_form(fields, form, display.fmt, current=record.values)
        errors = {k: display.gettext(v) for k, v in parsed.errors.items()}
        general: list[str] = []
        version = str(form.get("version") or "")
        if not errors:
            try:
                records.update(uow, actor_for(user, request), object_name, record_id, parsed.data,
                               int(version) if version.isdigit() else None)
                uow.commit()
                return RedirectResponse(f"/{object_name}/{record_id}?flash=saved", 303)
            except (ValidationFailed, VersionConflict) as exc:
                uow.rollback()
                errors, general = _errors(display, exc, fields)
            except IntegrityError:
                uow.rollback()
                general = [display.gettext(DUPLICATE)]
        submitted = dict(parsed.submitted)
        return _render_form(request, ui, user, uow.session, display, spec, fields,
                            record=record, submitted=submitted, errors=errors, general=general,
                            status=422)


@router.post("/{object_name}/{record_id:int}/delete")
def delete(request: Request, object_name: str, record_id: int, ui: UI, user: User, form: Form) -> Response:
    work_object(object_name)
    with ui.container.uow() as uow:
        ui.container.records.delete(uow, actor_for(user, request), object_name, record_id)
        uow.commit()
    return RedirectResponse(f"/{object_name}?flash=deleted", 303)


# ---- record page and inline edit ----------------------------------------------------------


def _field_rows(display: Display, spec: ObjectSpec, fields: list[FieldSpec],
                record: Record) -> list[dict[str, Any]]:
    """Rows of the record page: hidden fields left out, masked ones marked (and revealable)."""
    policy = display.actor.access
    may_update = policy.allows(spec.name, "update")
    rows = []
    for f in fields:
        if policy.field_view(f.category) == "hidden":
            continue
        name = input_name(f)
        masked = name in record.masked
        rows.append({
            "name": name, "label": display.label(f), "html": display.html(f, record.values),
            "editable": f.writable and may_update and policy.field_writable(f.category),
            "kind": f.kind, "masked": masked, "revealable": masked and policy.may_reveal(),
        })
    return rows


def _page_fields(spec: ObjectSpec) -> list[FieldSpec]:
    return [f for f in spec.fields.values() if f.name not in HIDDEN_ON_PAGE]


@router.get("/{object_name}/{record_id:int}")
def record_page(object_name: str, record_id: int, request: Request, ui: UI,
                user: User) -> Response:
    spec = work_object(object_name)
    display = ui.display(request, user)
    records = ui.container.records
    with ui.container.session_factory() as session:
        record = records.get(session, object_name, record_id, actor=display.actor)
        custom = custom_field_specs(session, object_name)
        fields = _page_fields(spec)
        display.titles = collect_titles(session, records, [*fields, *custom.values()],
                                        [record.values], display.actor)
        context = {
            "spec": spec, "record": record, "display": display, "section": object_name,
            "rows": _field_rows(display, spec, fields, record),
            "custom_rows": _field_rows(display, spec, list(custom.values()), record),
            "related": related_lists(session, records, display, object_name, record_id),
            "stages": stage_path(session, record) if object_name == "opportunities" else [],
            "quick_links": quick_links(object_name, record_id),
        }
        context["timeline"], context["timeline_more"] = timeline_entries(
            session, records, display, spec, record, custom
        )
        context["can_update"] = display.actor.access.allows(object_name, "update")
        context["can_delete"] = display.actor.access.allows(object_name, "delete")
        if object_name in ("contacts", "leads"):  # the customer 360 of a stitched customer
            from rapport.profiles.service import linked_profile_id

            context["profile_id"] = linked_profile_id(session, object_name, record_id)
    return ui.render(request, "record.html", context, user=user)


def _inline(ui: WebUI, request: Request, user: Principal, object_name: str, record_id: int,
            field_name: str) -> tuple[ObjectSpec, Display, FieldSpec, Record, Session]:
    spec = work_object(object_name)
    display = ui.display(request, user)
    session = ui.container.session_factory()
    record = ui.container.records.get(session, object_name, record_id, actor=display.actor)
    field = _custom_field(custom_field_specs(session, object_name), spec, field_name)
    display.titles = collect_titles(session, ui.container.records, [field], [record.values],
                                    display.actor)
    return spec, display, field, record, session


def _row_fragment(ui: WebUI, request: Request, user: Principal, display: Display,
                  spec: ObjectSpec, field: FieldSpec, record: Record, saved: bool = False
                  ) -> Response:
    row = _field_rows(display, spec, [field], record)[0]
    return ui.render(request, "partials/field_row.html",
                     {"row": row, "record": record, "spec": spec, "saved": saved,
                      "display": display}, user=user)


def _edit_fragment(ui: WebUI, request: Request, user: Principal, session: Session,
                   display: Display, spec: ObjectSpec, field: FieldSpec, record: Record,
                   submitted: dict[str, Any] | None = None, error: str | None = None) -> Response:
    form_field = build_fields([field], record.values, display,
                              ReferenceOptions(session, ui.container.records, display.actor),
                              submitted=submitted,
                              errors={input_name(field): error} if error else None)[0]
    return ui.render(request, "partials/field_edit.html",
                     {"field": form_field, "record": record, "spec": spec, "display": display},
                     user=user)


@router.get("/{object_name}/{record_id:int}/field/{field_name}")
def field_row(object_name: str, record_id: int, field_name: str, request: Request, ui: UI,
              user: User) -> Response:
    spec, display, field, record, session = _inline(ui, request, user, object_name, record_id,
                                                    field_name)
    with session:
        return _row_fragment(ui, request, user, display, spec, field, record)


@router.get("/{object_name}/{record_id:int}/field/{field_name}/edit")
def field_edit(object_name: str, record_id: int, field_name: str, request: Request, ui: UI,
               user: User) -> Response:
    spec, display, field, record, session = _inline(ui, request, user, object_name, record_id,
                                                    field_name)
    with session:
        return _edit_fragment(ui, request, user, session, display, spec, field, record)


@router.post("/{object_name}/{record_id:int}/field/{field_name}")
def field_save(object_name: str, record_id: int, field_name: str, request: Request, ui: UI,
               user: User, form: Form) -> Response:
    spec, display, field, record, session = _inline(ui, request, user, object_name, record_id,
                                                    field_name)
    session.close()
    name = input_name(field)
    parsed = parse_form([field], form, display.fmt, current=record.values)
    version = str(form.get("version") or "")
    with ui.container.uow() as uow:
        error = parsed.errors.get(name)
        if error is None and parsed.data:
            try:
                record = ui.container.records.update(
                    uow, actor_for(user, request), object_name, record_id, parsed.data,
                    int(version) if version.isdigit() else None,
                )
                uow.commit()
            except (ValidationFailed, VersionConflict) as exc:
                uow.rollback()
                by_field, general = _errors(display, exc, [field])
                error = by_field.get(name) or "; ".join(general)
            except IntegrityError:
                uow.rollback()
                error = DUPLICATE
        if error is not None:
            return _edit_fragment(ui, request, user, uow.session, display, spec, field, record,
                                  submitted=parsed.submitted, error=display.gettext(error))
        display.titles.update(
            collect_titles(uow.session, ui.container.records, [field], [record.values],
                           display.actor)
        )
        return _row_fragment(ui, request, user, display, spec, field, record, saved=True)


# ---- lead conversion ----------------------------------------------------------------------


@router.post("/leads/{lead_id:int}/convert")
def convert(request: Request, lead_id: int, ui: UI, user: User, form: Form) -> Response:
    with ui.container.uow() as uow:
        result = convert_lead(uow, actor_for(user, request), ui.container.records, lead_id,
                              create_opportunity=form.get("create_opportunity") != "false")
        uow.commit()
    target = (f"/opportunities/{result.opportunity_id}" if result.opportunity_id
              else f"/contacts/{result.contact_id}")
    return RedirectResponse(f"{target}?flash=converted", 303)
