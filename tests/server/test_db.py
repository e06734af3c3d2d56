"""The server's database: migrations create exactly the models' schema, and the rows behave."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from repomend.contract.conversation import Mode
from repomend.settings import Settings
from sandbox.results import RunResult, TestResult
from server.db import (
    Adapter,
    AdapterStatus,
    Base,
    DatabaseNotMigrated,
    Feedback,
    Repair,
    RepairStatus,
    Repository,
    TrainingRun,
    TrainingState,
    Turn,
    Verdict,
    check_up_to_date,
    current_revision,
    default_database_url,
    make_engine,
    session_factory,
    upgrade,
)
from server.db.migrate import alembic_config, head_revision

TABLES = {"repositories", "repairs", "turns", "feedback", "adapters", "training_runs"}


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'data' / 'repomend.db'}"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    upgrade(db_url)
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as session:
        yield session


def schema_diff(url: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def add_repository(session: Session, name: str = "stats") -> Repository:
    repository = Repository(name=name, path=f"/srv/{name}", python="/usr/bin/python3")
    session.add(repository)
    session.flush()
    return repository


def add_adapter(session: Session, repository: Repository, version: int, active: bool = False) -> Adapter:
    adapter = Adapter(
        repository=repository,
        version=version,
        path=f"/data/adapters/{repository.name}/v{version}",
        base_model="smollm2-135m",
        active=active,
    )
    session.add(adapter)
    return adapter


def test_upgrade_creates_every_table_in_a_new_file(db_url: str, tmp_path: Path) -> None:
    assert not (tmp_path / "data").exists()
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        assert set(inspect(engine).get_table_names()) >= TABLES
    finally:
        engine.dispose()
    assert current_revision(db_url) == head_revision()


def test_upgrade_twice_is_harmless(db_url: str) -> None:
    upgrade(db_url)
    upgrade(db_url)
    check_up_to_date(db_url)


def test_downgrade_to_base_removes_every_table(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        with engine.begin() as connection:
            config = alembic_config(db_url)
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    finally:
        engine.dispose()
    assert current_revision(db_url) is None


def test_unmigrated_database_is_refused_with_the_command_to_run(db_url: str) -> None:
    with pytest.raises(DatabaseNotMigrated) as caught:
        check_up_to_date(db_url)
    message = str(caught.value)
    assert f"the database at {db_url.removeprefix('sqlite:///')} is not up to date" in message
    assert f"(revision none, need {head_revision()})" in message
    assert "run `repomend db upgrade`" in message
    upgrade(db_url)
    check_up_to_date(db_url)


def test_database_from_a_newer_release_is_refused(engine: Engine, db_url: str) -> None:
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))
    with pytest.raises(DatabaseNotMigrated, match="newer repomend"):
        check_up_to_date(db_url)


def test_migrations_match_the_models(engine: Engine, db_url: str) -> None:
    assert schema_diff(db_url) == []


def test_sqlite_runs_in_wal_mode_with_foreign_keys(engine: Engine, db_url: str) -> None:
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    assert Path(db_url.removeprefix("sqlite:///") + "-wal").exists()


def test_default_url_is_a_file_in_the_data_directory(settings: Settings) -> None:
    assert default_database_url(settings) == f"sqlite:///{settings.data_dir.resolve() / 'repomend.db'}"


def test_repair_with_turns_and_feedback_round_trips(engine: Engine, session: Session) -> None:
    repository = add_repository(session)
    repository.test_paths = ["tests/test_stats.py"]
    adapter = add_adapter(session, repository, 1, active=True)
    results = RunResult(
        tests=[TestResult(nodeid="tests/test_stats.py::test_mean", outcome="failed", message="2 != 2.5")],
        exit_code=1,
        duration=0.4,
    )
    repair = Repair(
        repository=repository,
        adapter=adapter,
        model="smollm2-135m",
        mode=Mode.NO_THINK,
        max_turns=5,
        samples_per_turn=2,
        file_path="pkg/stats.py",
        qualname="Stats.mean",
    )
    repair.turns = [
        Turn(turn=1, sample=1, reply="b", reasoning_chars=0, results=None, rejection="no code block"),
        Turn(turn=1, sample=0, reply="a", reasoning_chars=12, chosen=True, results=results.to_dict()),
        Turn(turn=2, sample=0, reply="c", passed=True, chosen=True, prompt_tokens=190),
    ]
    repair.status = RepairStatus.FIXED
    repair.new_method = "def mean(self):\n    return sum(self.xs) / len(self.xs)"
    session.add(repair)
    session.commit()
    repair.give_feedback(Verdict.ACCEPTED, final_text=repair.new_method)
    session.commit()

    with session_factory(engine)() as fresh:
        loaded = fresh.scalars(select(Repair)).one()
        assert loaded.status is RepairStatus.FIXED
        assert loaded.mode is Mode.NO_THINK
        assert loaded.adapter is not None and loaded.adapter.version == 1
        assert loaded.repository.test_paths == ["tests/test_stats.py"]
        assert [(t.turn, t.sample) for t in loaded.turns] == [(1, 0), (1, 1), (2, 0)]
        first = loaded.turns[0]
        assert first.results == results.to_dict()
        assert first.results["tests"][0]["outcome"] == "failed"
        assert loaded.turns[1].rejection == "no code block"
        assert loaded.feedback is not None and loaded.feedback.verdict is Verdict.ACCEPTED
        assert loaded.feedback.final_text == repair.new_method


def test_feedback_is_idempotent_one_row_per_repair(session: Session) -> None:
    repository = add_repository(session)
    repair = Repair(
        repository=repository, model="m", mode=Mode.THINK, max_turns=5, file_path="a.py", qualname="f"
    )
    session.add(repair)
    repair.give_feedback(Verdict.ACCEPTED)
    session.commit()
    repair.give_feedback(Verdict.ACCEPTED)
    repair.give_feedback(Verdict.REJECTED, reason="changes the public signature")
    session.commit()
    rows = session.scalars(select(Feedback)).all()
    assert len(rows) == 1
    assert rows[0].verdict is Verdict.REJECTED and rows[0].reason == "changes the public signature"

    session.add(Feedback(repair_id=repair.id, verdict=Verdict.ACCEPTED))
    with pytest.raises(IntegrityError):
        session.flush()


def test_at_most_one_active_adapter_per_repository(session: Session) -> None:
    one = add_repository(session, "one")
    two = add_repository(session, "two")
    add_adapter(session, one, 1)
    add_adapter(session, one, 2)
    add_adapter(session, one, 3, active=True)
    add_adapter(session, two, 1, active=True)
    session.commit()

    add_adapter(session, one, 4, active=True)
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()

    # Switching the active adapter: deactivate first, then activate, in one transaction.
    current = session.scalars(select(Adapter).where(Adapter.repository_id == one.id, Adapter.active)).one()
    current.active = False
    session.flush()
    first = session.scalars(
        select(Adapter).where(Adapter.repository_id == one.id, Adapter.version == 1)
    ).one()
    first.active = True
    first.status = AdapterStatus.PROMOTED
    session.commit()
    active = session.scalars(select(Adapter.version).where(Adapter.repository_id == one.id, Adapter.active))
    assert active.all() == [1]
    assert first.status is AdapterStatus.PROMOTED
    assert current.status is AdapterStatus.TRAINING


def test_adapter_versions_are_unique_per_repository(session: Session) -> None:
    repository = add_repository(session)
    add_adapter(session, repository, 1)
    add_adapter(session, repository, 1)
    with pytest.raises(IntegrityError):
        session.commit()


def test_enum_columns_refuse_unknown_values(engine: Engine, session: Session) -> None:
    repository = add_repository(session)
    session.commit()
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO repairs (repository_id, model, mode, max_turns, samples_per_turn, status,"
                " file_path, qualname, created_at) VALUES (:r, 'm', 'no-think', 5, 1, 'bogus', 'a.py', 'f',"
                " CURRENT_TIMESTAMP)"
            ),
            {"r": repository.id},
        )


def test_deleting_a_repository_deletes_everything_it_owns(engine: Engine, session: Session) -> None:
    keep = add_repository(session, "keep")
    gone = add_repository(session, "gone")
    for repository in (keep, gone):
        adapter = add_adapter(session, repository, 1, active=True)
        repair = Repair(
            repository=repository,
            adapter=adapter,
            model="m",
            mode=Mode.NO_THINK,
            max_turns=5,
            file_path="a.py",
            qualname="f",
            turns=[Turn(turn=1, reply="r")],
        )
        repair.give_feedback(Verdict.REJECTED)
        session.add_all([repair, TrainingRun(repository=repository, state=TrainingState.RUNNING)])
    session.commit()
    gone_id = gone.id

    # Through the database's own ON DELETE CASCADE (what a plain SQL delete or another client gets).
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM repositories WHERE id = :id"), {"id": gone_id})
    session.expire_all()
    for model in (Adapter, Repair, TrainingRun):
        assert {row.repository_id for row in session.scalars(select(model))} == {keep.id}
    assert len(session.scalars(select(Turn)).all()) == 1
    assert len(session.scalars(select(Feedback)).all()) == 1

    # And through the ORM.
    session.delete(keep)
    session.commit()
    for model in (Repository, Adapter, Repair, Turn, Feedback, TrainingRun):
        assert session.scalars(select(model)).all() == []


def test_deleting_an_adapter_keeps_the_repairs_it_made(session: Session) -> None:
    repository = add_repository(session)
    adapter = add_adapter(session, repository, 1, active=True)
    repair = Repair(
        repository=repository,
        adapter=adapter,
        model="stats-v1",
        mode=Mode.NO_THINK,
        max_turns=5,
        file_path="a.py",
        qualname="f",
    )
    session.add(repair)
    session.commit()
    session.delete(adapter)
    session.commit()
    session.refresh(repair)
    assert repair.adapter_id is None and repair.model == "stats-v1"


POSTGRES_URL = os.environ.get("REPOMEND_TEST_POSTGRES_URL")


@pytest.mark.skipif(
    not POSTGRES_URL,
    reason="set REPOMEND_TEST_POSTGRES_URL (e.g. from scripts/postgres-for-tests.sh) to test PostgreSQL",
)
def test_postgresql_upgrade_matches_the_models_and_enforces_constraints() -> None:
    assert POSTGRES_URL is not None
    engine = make_engine(POSTGRES_URL)
    try:
        with engine.begin() as connection:
            # A clean database each run: the tests own this throw-away server.
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        with pytest.raises(DatabaseNotMigrated, match="run `repomend db upgrade`"):
            check_up_to_date(POSTGRES_URL)
        upgrade(POSTGRES_URL)
        check_up_to_date(POSTGRES_URL)
        assert set(inspect(engine).get_table_names()) >= TABLES
        assert schema_diff(POSTGRES_URL) == []

        with session_factory(engine)() as session:
            repository = add_repository(session)
            add_adapter(session, repository, 1, active=True)
            session.commit()
            add_adapter(session, repository, 2, active=True)
            with pytest.raises(IntegrityError):
                session.commit()
            session.rollback()
            repair = Repair(
                repository=repository,
                model="m",
                mode=Mode.NO_THINK,
                max_turns=5,
                file_path="a.py",
                qualname="f",
                turns=[Turn(turn=1, reply="r", results=RunResult(exit_code=0).to_dict())],
            )
            repair.give_feedback(Verdict.ACCEPTED)
            session.add(repair)
            session.commit()
            session.delete(repository)
            session.commit()
            assert session.scalars(select(Turn)).all() == []
    finally:
        engine.dispose()


def test_cli_db_upgrade_migrates_the_configured_database(tmp_path, monkeypatch, capsys):
    from repomend.cli import main
    from server.db.migrate import check_up_to_date

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("REPOMEND_DATABASE_URL", url)
    assert main(["db", "upgrade"]) == 0
    assert "is up to date" in capsys.readouterr().out
    check_up_to_date(url)
