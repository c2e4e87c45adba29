"""Saved list views: a user's named filters, sort, search and visible columns per object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rapport.crm.models import SavedView
from rapport.crm.registry import get_object
from rapport.db.uow import UnitOfWork
from rapport.errors import NotFound, ValidationFailed


@dataclass(frozen=True)
class View:
    id: int
    object_type: str
    name: str
    query: dict[str, Any]
    columns: list[str]


def _view(row: SavedView) -> View:
    return View(row.id, row.object_type, row.name, dict(row.query or {}), list(row.columns or []))


def list_views(session: Session, user_id: int, object_type: str) -> list[View]:
    rows = session.scalars(
        select(SavedView)
        .where(SavedView.user_id == user_id, SavedView.object_type == object_type)
        .order_by(SavedView.name, SavedView.id)
    )
    return [_view(row) for row in rows]


def save_view(
    uow: UnitOfWork, user_id: int, object_type: str, name: str, query: dict[str, Any],
    columns: list[str],
) -> View:
    """Create the view, or replace the user's view of the same name on that object."""
    get_object(object_type)
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationFailed("Give the view a name of 1 to 100 characters")
    row = uow.session.scalar(
        select(SavedView).where(
            SavedView.user_id == user_id, SavedView.object_type == object_type,
            SavedView.name == name,
        )
    )
    if row is None:
        row = SavedView(user_id=user_id, object_type=object_type, name=name, custom={})
        uow.session.add(row)
    row.query = query
    row.columns = columns
    uow.session.flush()
    return _view(row)


def delete_view(uow: UnitOfWork, user_id: int, view_id: int) -> None:
    row = uow.session.get(SavedView, view_id)
    if row is None or row.user_id != user_id:
        raise NotFound(f"No saved view with id {view_id}")
    uow.session.delete(row)
