"""Alembic environment: one history for SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import context

from rapport.db.all_models import metadata
from rapport.db.engine import make_engine
from rapport.db.migrate import include_name

config = context.config


def run_migrations_online() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        version_schema = None
        if connection.dialect.name == "postgresql":
            # The version table lives in the schema the tables go to (the first of the search
            # path), so a schema of its own is never mistaken for one migrated elsewhere.
            version_schema = connection.exec_driver_sql("SELECT current_schema()").scalar()
            connection.commit()  # end the autobegun transaction: migrations commit their own
        context.configure(
            connection=connection,
            target_metadata=metadata,
            include_name=include_name,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            version_table_schema=version_schema,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
