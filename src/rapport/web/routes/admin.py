"""Administration: the custom-field editor (list, add and remove custom fields per object)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import RedirectResponse, Response

from rapport.crm import custom_objects
from rapport.crm.custom_fields import FIELD_TYPES, known_object_types
from rapport.crm.query import Filter, ListQuery
from rapport.crm.registry import OBJECTS, WORK_OBJECTS
from rapport.errors import Conflict, ValidationFailed
from rapport.web.deps import UI, Admin, Form, actor_for
from rapport.web.forms import field_errors

router = APIRouter()
DEFINITION_FIELDS = ("name", "label", "field_type", "options", "reference_object", "required")


def _definitions(ui: UI, object_type: str) -> list[dict[str, Any]]:
    query = ListQuery(filters=[Filter("object_type", "eq", object_type)],
                      sort=["position", "name"], limit=200)
    with ui.container.session_factory() as session:
        page = custom_objects.list_fields(session, ui.container.records, query)
    return [r.values for r in page.items]


def _render(request: Request, ui: UI, user: Admin, object_type: str,
            submitted: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
            general: list[str] | None = None, status: int = 200) -> Response:
    with ui.container.session_factory() as session:
        targets = sorted(known_object_types(session) - {"custom_records", "custom_object_types"})
    return ui.render(request, "custom_fields.html", {
        "object_type": object_type, "objects": WORK_OBJECTS, "definitions":
        _definitions(ui, object_type), "field_types": FIELD_TYPES, "targets": targets,
        "submitted": submitted or {}, "errors": errors or {}, "general": general or [],
        "section": "admin",
    }, user=user, status=status)


@router.get("/admin/custom-fields")
def custom_fields_page(
    request: Request, ui: UI, user: Admin,
    object_type: Annotated[str, Query(alias="object", max_length=60)] = "contacts",
) -> Response:
    if object_type not in OBJECTS:
        object_type = "contacts"
    return _render(request, ui, user, object_type)


@router.post("/admin/custom-fields")
def add_custom_field(request: Request, ui: UI, user: Admin, form: Form) -> Response:
    display = ui.display(request, user)
    object_type = str(form.get("object_type") or "contacts")
    submitted = {k: str(form.get(k) or "") for k in DEFINITION_FIELDS}
    values: dict[str, Any] = {
        "object_type": object_type,
        "name": submitted["name"].strip(),
        "label": submitted["label"].strip() or submitted["name"].strip(),
        "field_type": submitted["field_type"],
        "required": submitted["required"] in ("on", "true"),
        "options": [o.strip() for o in submitted["options"].replace("\n", ",").split(",")
                    if o.strip()],
        "reference_object": submitted["reference_object"] or None,
    }
    try:
        with ui.container.uow() as uow:
            custom_objects.define_field(uow, actor_for(user, request), values)
            uow.commit()
    except (ValidationFailed, Conflict) as exc:
        by_field, general = field_errors(exc.errors, DEFINITION_FIELDS)
        errors = {k: display.gettext(v) for k, v in by_field.items()}
        general = [display.gettext(g) for g in general] or [display.gettext(exc.detail)]
        return _render(request, ui, user, object_type, submitted, errors, general, status=422)
    return RedirectResponse(f"/admin/custom-fields?object={object_type}&flash=field_added", 303)


@router.post("/admin/custom-fields/{field_id:int}/delete")
def remove_custom_field(request: Request, field_id: int, ui: UI, user: Admin, form: Form) -> Response:
    object_type = str(form.get("object_type") or "contacts")
    with ui.container.uow() as uow:
        custom_objects.delete_field(uow, actor_for(user, request), field_id)
        uow.commit()
    return RedirectResponse(f"/admin/custom-fields?object={object_type}&flash=field_removed", 303)
