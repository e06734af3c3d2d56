"""The server's database: models, engines and sessions, and the Alembic migrations that shape it."""

from server.db.engine import default_database_url, make_engine, session_factory
from server.db.migrate import DatabaseNotMigrated, check_up_to_date, current_revision, upgrade
from server.db.models import (
    Adapter,
    AdapterStatus,
    Base,
    Feedback,
    Repair,
    RepairStatus,
    Repository,
    TrainingRun,
    TrainingState,
    Turn,
    Verdict,
)

__all__ = [
    "Adapter",
    "AdapterStatus",
    "Base",
    "DatabaseNotMigrated",
    "Feedback",
    "Repair",
    "RepairStatus",
    "Repository",
    "TrainingRun",
    "TrainingState",
    "Turn",
    "Verdict",
    "check_up_to_date",
    "current_revision",
    "default_database_url",
    "make_engine",
    "session_factory",
    "upgrade",
]
