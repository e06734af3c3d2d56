"""Alembic environment: runs migrations on the connection `server.db.migrate` hands over, or, from
the alembic command line, on the URL given with `-x url=...` (default: the data directory's file)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from server.db.engine import default_database_url, make_engine
from server.db.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from repomend.settings import Settings

    return default_database_url(Settings())


def _run(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Batch migrations rebuild SQLite tables (copy, drop, rename); with foreign keys enforced,
        # dropping a parent would cascade-delete its children's rows.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=sqlite,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    if sqlite:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
