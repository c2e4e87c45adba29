"""``alembic check``: after ``upgrade head`` the database matches the models, on every backend."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, MetaData, String

from rapport.db.all_models import metadata
from rapport.db.engine import make_engine
from rapport.db.migrate import include_name


def _ours(name: str | None, type_: str, parent_names: Any) -> bool:
    """The migrations' filter, minus tables tests make for themselves in the reused
    PostgreSQL schemas (``tests.hub.bus_support``)."""
    if type_ == "table" and name is not None and name.startswith("hub_test_"):
        return False
    return include_name(name, type_, parent_names)


def differences(database_url: str, target: MetaData) -> list[Any]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={
                "include_name": _ours,  # the same filter as migrations/env.py
                "compare_type": True,
                "target_metadata": target,
            })
            return list(compare_metadata(context, target))
    finally:
        engine.dispose()


def test_the_migrated_schema_matches_the_models(database_url: str) -> None:
    # database_url is migrated to head by its fixture
    assert differences(database_url, metadata) == []


def test_the_check_would_notice_a_model_change(database_url: str) -> None:
    changed = MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["contacts"].append_column(
        Column("nickname", String(40), nullable=True, info={"category": "contact.name"}))
    found = differences(database_url, changed)
    assert [(d[0], d[3].name) for d in found if d[0] == "add_column"] == [("add_column", "nickname")]


@pytest.mark.parametrize(("name", "kind", "included"), [
    ("search_contacts", "table", False),
    ("search_contacts_data", "table", False),
    ("contacts", "table", True),
    ("search_like_column", "column", True),
])
def test_full_text_tables_are_left_to_their_hand_written_migration(
    name: str, kind: str, included: bool
) -> None:
    assert include_name(name, kind, {}) is included
