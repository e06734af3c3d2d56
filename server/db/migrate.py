"""Schema migrations through Alembic's Python API, with the configuration built in code so the
`repomend` command needs no alembic.ini in the current folder."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import make_url

from server.db.engine import make_engine


class DatabaseNotMigrated(RuntimeError):
    """The database schema is not the one this version of repomend was written for."""


class MigrationsNotFound(RuntimeError):
    pass


def migrations_dir() -> Path:
    """The `migrations/` folder: beside the packages in a checkout or editable install, or an
    installed top-level `migrations` package when the distribution ships it."""
    candidates = [Path(__file__).resolve().parents[2] / "migrations"]
    spec = importlib.util.find_spec("migrations")
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(p) for p in spec.submodule_search_locations]
    for folder in candidates:
        if (folder / "env.py").is_file() and (folder / "versions").is_dir():
            return folder
    raise MigrationsNotFound(
        "cannot find repomend's database migrations (looked in "
        + ", ".join(str(c) for c in candidates)
        + "); reinstall repomend"
    )


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    # ConfigParser interpolation: a literal % (URL-encoded passwords) must be doubled.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision` (the newest by default); creates it if empty."""
    config = alembic_config(url)
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def head_revision() -> str:
    """The revision this version of repomend needs."""
    head = ScriptDirectory(str(migrations_dir())).get_current_head()
    assert head is not None, "the migrations folder holds no revision"
    return head


def current_revision(url: str) -> str | None:
    """The revision the database is at; None for an empty (never migrated) database."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def describe(url: str) -> str:
    """The URL without its password, for messages; a SQLite database as its file path."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return parsed.database
    return parsed.render_as_string(hide_password=True)


def check_up_to_date(url: str) -> None:
    """Refuse to work on a database whose schema differs from the one the code expects."""
    current = current_revision(url)
    head = head_revision()
    if current == head:
        return
    known = {script.revision for script in ScriptDirectory(str(migrations_dir())).walk_revisions()}
    if current is not None and current not in known:
        raise DatabaseNotMigrated(
            f"the database at {describe(url)} is at revision {current}, which this version of "
            f"repomend does not know (need {head}); it was migrated by a newer repomend: upgrade repomend"
        )
    raise DatabaseNotMigrated(
        f"the database at {describe(url)} is not up to date (revision {current or 'none'}, "
        f"need {head}); run `repomend db upgrade`"
    )
