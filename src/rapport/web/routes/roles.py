"""Role administration, who holds which role, and the reveal action on masked values."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from markupsafe import Markup
from sqlalchemy import select
from starlette.responses import HTMLResponse, RedirectResponse, Response

from rapport.crm.custom_fields import custom_field_specs
from rapport.crm.registry import OBJECTS
from rapport.errors import Forbidden, NotFound, ValidationFailed
from rapport.trust import roles
from rapport.trust.models import Role, User, UserRole
from rapport.trust.permissions import CAPABILITIES, FIELD_ACCESS, RIGHTS, SCOPES
from rapport.web.deps import UI, Form, actor_for
from rapport.web.deps import User as SignedIn

router = APIRouter()


@router.post("/{object_name}/{record_id:int}/reveal/{field_name}")
def reveal_field(object_name: str, record_id: int, field_name: str, request: Request, ui: UI,
                 user: SignedIn, form: Form) -> Response:
    """The clear value of one masked field, as the HTML of its value cell (audited)."""
    spec = OBJECTS.get(object_name)
    if spec is None:
        raise NotFound(f"Unknown object '{object_name}'")
    display = ui.display(request, user)
    with ui.container.uow() as uow:
        values = ui.container.records.reveal(uow, display.actor, object_name, record_id,
                                             [field_name])
        custom = custom_field_specs(uow.session, object_name)
        uow.commit()
    f = (custom.get(field_name.removeprefix("custom.")) if field_name.startswith("custom.")
         else spec.fields.get(field_name))
    assert f is not None  # reveal refused unknown fields
    holder: dict[str, Any] = ({"custom": {f.name: values[field_name]}}
                              if field_name.startswith("custom.") else {f.name: values[field_name]})
    html = Markup('<span class="value revealed" title="{}">{}</span>').format(
        display.gettext("Revealed: this view was recorded in the audit log"), display.html(f, holder))
    return HTMLResponse(str(html))


def _require_roles_manager(request: Request, user: Any) -> None:
    if not actor_for(user, request).can("roles.manage"):
        raise Forbidden("Only administrators can manage roles")


def _roles_context(ui: UI) -> dict[str, Any]:
    with ui.container.session_factory() as session:
        roles.ensure_builtin_roles(session)
        session.commit()
        items = list(session.scalars(select(Role).order_by(Role.builtin.desc(), Role.name)))
        users = list(session.execute(select(User.id, User.name, User.email).order_by(User.name)
                                     .limit(500)))
        held: dict[int, list[str]] = {}
        for user_id, name in session.execute(select(UserRole.user_id, Role.name)
                                             .join(Role, Role.id == UserRole.role_id)):
            held.setdefault(user_id, []).append(name)
        return {"roles": [roles.role_json(r) for r in items], "users": users, "held": held,
                "rights": RIGHTS, "scopes": SCOPES, "field_access": FIELD_ACCESS,
                "capabilities": CAPABILITIES, "section": "roles"}


def _pretty(doc: Any) -> str:
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()


@router.get("/admin/roles")
def roles_page(request: Request, ui: UI, user: SignedIn) -> Response:
    _require_roles_manager(request, user)
    context = _roles_context(ui)
    for role in context["roles"]:
        role["json"] = _pretty(role["permissions"])
    return ui.render(request, "roles.html", {**context, "errors": {}}, user=user)


@router.post("/admin/roles/{role_name}")
def save_role(role_name: str, request: Request, ui: UI, user: SignedIn, form: Form) -> Response:
    _require_roles_manager(request, user)
    raw = str(form.get("permissions") or "")
    try:
        permissions = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return _roles_with_error(request, ui, user, role_name, raw,
                                 f"The permissions are not valid JSON: {exc}")
    version = str(form.get("version") or "")
    try:
        with ui.container.uow() as uow:
            roles.update_role(uow.session, ui.container.settings.secret_key, user.user_id,
                              role_name, label=str(form.get("label") or "") or None,
                              permissions=permissions,
                              expected_version=int(version) if version.isdigit() else None)
            uow.commit()
    except ValidationFailed as exc:
        return _roles_with_error(request, ui, user, role_name, raw, exc.detail)
    return RedirectResponse(f"/admin/roles?flash=role_saved#role-{role_name}", 303)


def _roles_with_error(request: Request, ui: UI, user: Any, role_name: str, raw: str,
                      message: str) -> Response:
    context = _roles_context(ui)
    for role in context["roles"]:
        role["json"] = raw if role["name"] == role_name else _pretty(role["permissions"])
    return ui.render(request, "roles.html", {**context, "errors": {role_name: message}},
                     user=user, status=422)


@router.post("/admin/users/{user_id:int}/roles")
def save_user_roles(user_id: int, request: Request, ui: UI, user: SignedIn, form: Form) -> Response:
    _require_roles_manager(request, user)
    names = [str(v) for v in form.getlist("roles")]
    with ui.container.uow() as uow:
        roles.set_user_roles(uow.session, ui.container.settings.secret_key, user.user_id,
                             user_id, names)
        uow.commit()
    return RedirectResponse(f"/admin/roles?flash=roles_granted#user-{user_id}", 303)
