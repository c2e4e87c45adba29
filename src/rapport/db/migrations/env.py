"""Alembic environment: one history for SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from alembic import context

from rapport.db.all_models import metadata
from rapport.db.engine import make_engine

config = context.config


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    # Full-text tables are dialect-specific and created by hand in the migrations.
    return not (type_ == "table" and name is not None and name.startswith("search_"))


def run_migrations_online() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            include_name=include_name,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
