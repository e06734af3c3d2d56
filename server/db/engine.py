"""Engines and sessions: SQLite by default (a file under the data directory), PostgreSQL by URL."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from repomend.settings import Settings

DATABASE_FILE = "repomend.db"
SQLITE_BUSY_TIMEOUT_MS = 10_000
"""How long a writer waits for another (the web process and a job worker share one file)."""


def default_database_url(settings: Settings) -> str:
    """The SQLite file under the data directory; used unless a URL is configured."""
    return f"sqlite:///{Path(settings.data_dir).expanduser().resolve() / DATABASE_FILE}"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`; SQLite files get WAL (readers never block the writer) and enforced
    foreign keys (off by default in SQLite, and the cascades depend on them)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(url, **kwargs)
    if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **kwargs)
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes after commit, so API handlers can still read them."""
    return sessionmaker(bind=engine, expire_on_commit=False)
