"""`repomend repos add|list|remove` on a real database, with the suite run in the real sandbox."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from repomend.cli import main
from server.db.engine import default_database_url, make_engine, session_factory
from server.db.models import Repository
from tests.support.repos import make_repo


@pytest.fixture
def env(monkeypatch, tmp_path: Path) -> Path:
    """A data directory with no database yet: the first command of a fresh machine."""
    for name in ("REPOMEND_DATABASE_URL", "REPOMEND_SANDBOX__ISOLATION"):
        monkeypatch.delenv(name, raising=False)
    data = tmp_path / "data"
    monkeypatch.setenv("REPOMEND_DATA_DIR", str(data))
    monkeypatch.setenv("REPOMEND_SANDBOX__WALL_SECONDS", "60")
    return data


def repos(*args: str) -> int:
    return main(["repos", *args])


def registered(data: Path) -> dict[str, Repository]:
    from repomend.settings import Settings

    engine = make_engine(default_database_url(Settings(data_dir=data, _env_file=None)))
    try:
        with session_factory(engine)() as session:
            return {r.name: r for r in session.scalars(select(Repository))}
    finally:
        engine.dispose()


def test_add_reports_the_suite_then_list_and_remove(env: Path, tmp_path: Path, capsys):
    repo = make_repo(tmp_path / "my stats")

    assert repos("add", str(repo)) == 0

    out = capsys.readouterr().out
    assert f"{sys.executable} -m pytest" in out
    assert "4 collected" in out
    assert "2 passed, 2 failed in" in out  # mean is broken: its two tests fail
    assert "coverage      works" in out
    assert "registered `my-stats`" in out
    (row,) = registered(env).values()
    assert (row.name, row.path, row.python) == ("my-stats", str(repo), sys.executable)
    assert row.test_command == f"{sys.executable} -m pytest"

    assert repos("list") == 0
    assert "my-stats" in capsys.readouterr().out
    assert repos("list", "--json") == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["name"] == "my-stats" and listed["adapter"] is None and listed["repairs"] == 0

    assert repos("remove", "my-stats") == 0
    assert "removed `my-stats`" in capsys.readouterr().out
    assert registered(env) == {}
    assert repos("remove", "my-stats") == 2
    assert capsys.readouterr().err.strip() == "repomend: error: no registered repository `my-stats`"


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("repomend: error: ")
    return err.removeprefix("repomend: error: ")


def test_refusals_are_one_line_and_register_nothing(env: Path, tmp_path: Path, capsys):
    assert repos("add", str(tmp_path / "missing")) == 2
    assert one_line_error(capsys) == f"no such folder: {tmp_path / 'missing'}"

    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "README.md").write_text("not code\n")
    assert repos("add", str(notes)) == 2
    assert "is not a Python project" in one_line_error(capsys)

    repo = make_repo(tmp_path / "stats")
    bare = tmp_path / "bare-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    assert repos("add", str(repo), "--python", str(bare / "bin" / "python")) == 2
    assert f"{bare / 'bin' / 'python'} has no pytest" in one_line_error(capsys)

    # The repository's own .venv is the default interpreter, and it is checked the same way.
    own = make_repo(tmp_path / "own-venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(own / ".venv")], check=True)
    assert repos("add", str(own)) == 2
    assert f"{own / '.venv' / 'bin' / 'python'} has no pytest" in one_line_error(capsys)

    assert repos("add", str(tmp_path / "missing"), "--name", "x") == 2
    capsys.readouterr()
    assert registered(env) == {}

    assert repos("add", str(repo), "--name", "stats") == 0
    capsys.readouterr()
    other = make_repo(tmp_path / "other")
    assert repos("add", str(other), "--name", "stats") == 2
    assert "a repository named `stats` is already registered" in one_line_error(capsys)
    assert repos("add", str(repo), "--name", "again") == 2
    assert one_line_error(capsys) == f"{repo} is already registered as `stats`"
    assert list(registered(env)) == ["stats"]


def test_tests_that_do_not_collect_are_refused(env: Path, tmp_path: Path, capsys):
    repo = make_repo(tmp_path / "broken", tests="import no_such_module\n\ndef test_x():\n    pass\n")
    assert repos("add", str(repo)) == 2
    error = one_line_error(capsys)
    assert error.startswith("its tests do not collect") and "no_such_module" in error
    assert registered(env) == {}


def test_the_report_says_what_a_repair_will_lack():
    from server.onboarding import InterpreterInfo, SuiteReport
    from server.repos_commands import report_lines

    report = SuiteReport(
        interpreter=InterpreterInfo("/venv/bin/python", (3, 12), has_coverage=False),
        test_command="/venv/bin/python -m pytest",
        tests=120,
        collect_seconds=1.2,
        passed=80,
        failed=0,
        skipped=3,
        suite_seconds=300.0,
        timed_out=True,
        limit_seconds=300.0,
        coverage=False,
        coverage_problem="coverage is not installed for /venv/bin/python (Python 3.12)",
    )
    text = "\n".join(report_lines(report))
    assert "Python 3.12" in text and "120 collected in 1.2 s" in text
    assert "did not finish within 300 s (80 passed, 0 failed, 3 skipped in 300.0 s so far)" in text
    assert "unavailable (coverage is not installed" in text and "tests named after the method" in text
