"""Registering a repository from the terminal: check that repairs can work there, measure its suite.

A repair needs a folder of Python code, an interpreter that has pytest, tests that collect, and
preferably coverage (without it the tests that judge a method are guessed from their names). All of
that is checked before anything is written, so a repository that is registered is one that works;
what was found (the test command, how many tests, how long the suite takes, whether coverage
works) is returned for the user to read.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from repomend.discovery import DISCOVERY_WALL_FACTOR
from repomend.settings import Settings
from repomend.targets import find_python, repository_name
from server import service
from server.db.models import Repository
from server.schemas import RepositoryIn

PROJECT_FILES = ("pyproject.toml", "setup.py", "setup.cfg", "pytest.ini", "tox.ini", "requirements.txt")
SKIPPED_FOLDERS = frozenset({".git", ".venv", "venv", "env", "node_modules", "__pycache__", ".tox", "build"})
SEARCH_DEPTH = 3
"""How deep `is_python_project` looks for a `.py` file when no project file is at the top."""


class OnboardingError(ValueError):
    """The repository cannot be registered as given; the message is one line for the user."""


@dataclass(frozen=True)
class InterpreterInfo:
    path: str
    version: tuple[int, int]
    has_coverage: bool


@dataclass(frozen=True)
class SuiteReport:
    """What `repos add` found; every figure comes from a real run in the sandbox."""

    interpreter: InterpreterInfo
    test_command: str
    tests: int
    collect_seconds: float
    passed: int
    failed: int
    skipped: int
    suite_seconds: float
    timed_out: bool
    limit_seconds: float
    coverage: bool
    coverage_problem: str | None


def check_folder(path: Path) -> Path:
    folder = path.expanduser()
    if not folder.exists():
        raise OnboardingError(f"no such folder: {folder}")
    if not folder.is_dir():
        raise OnboardingError(f"{folder} is a file; give the repository's folder")
    return folder.resolve()


def is_python_project(folder: Path) -> bool:
    """A project file at the top, or a `.py` file within a few levels (virtualenvs not counted)."""
    if any((folder / name).is_file() for name in PROJECT_FILES):
        return True
    for root, dirs, files in os.walk(folder):
        depth = len(Path(root).relative_to(folder).parts)
        dirs[:] = [d for d in dirs if d not in SKIPPED_FOLDERS and depth < SEARCH_DEPTH]
        if any(name.endswith(".py") for name in files):
            return True
    return False


def check_interpreter(folder: Path, python: str | None) -> InterpreterInfo:
    """The repository's interpreter (given, its virtualenv, else ours); it must have pytest."""
    from sandbox.interpreter import probe

    candidate = Path(python).expanduser() if python else find_python(folder)
    if not candidate.is_absolute():
        candidate = Path.cwd() / candidate
    if not candidate.is_file():
        raise OnboardingError(f"no interpreter at {candidate}")
    try:
        found = probe(candidate)
    except (OSError, RuntimeError, ValueError) as err:
        first = str(err).strip().splitlines()
        raise OnboardingError(f"{candidate} does not start: {first[-1] if first else err}") from err
    if not found.has_pytest:
        raise OnboardingError(
            f"{candidate} has no pytest: install it there (`{candidate} -m pip install pytest`) "
            "or pass --python with an interpreter that has it"
        )
    return InterpreterInfo(str(candidate), found.version, found.has_coverage)


def check_not_registered(session: Session, name: str, folder: Path) -> None:
    by_name = session.scalar(select(Repository).where(Repository.name == name))
    if by_name is not None:
        raise OnboardingError(
            f"a repository named `{name}` is already registered (at {by_name.path}); choose another --name"
        )
    by_path = session.scalar(select(Repository).where(Repository.path == str(folder)))
    if by_path is not None:
        raise OnboardingError(f"{folder} is already registered as `{by_path.name}`")


def measure_suite(folder: Path, interpreter: InterpreterInfo, settings: Settings) -> SuiteReport:
    """Collect the suite, then run all of it once under coverage, as a repair's test discovery does."""
    from sandbox.isolation import IsolationUnavailable
    from sandbox.runner import collect_tests, run_tests

    limits = settings.sandbox.limits(DISCOVERY_WALL_FACTOR)
    isolation = settings.sandbox.isolation
    try:
        collected = collect_tests(folder, python=interpreter.path, limits=limits, isolation=isolation)
        if collected.collection_errors:
            lines = collected.collection_errors[0].strip().splitlines()
            raise OnboardingError(f"its tests do not collect: {lines[-1] if lines else 'unknown error'}")
        if collected.timed_out or collected.crashed:
            why = collected.killed_reason or ("timed out" if collected.timed_out else "crashed")
            raise OnboardingError(f"collecting its tests failed ({why})")
        if not collected.node_ids:
            raise OnboardingError(
                f"pytest collects no tests in {folder}: repomend judges every fix by the repository's tests"
            )
        measured = [collected.node_ids[0].split("::", 1)[0]]
        run = run_tests(
            folder, [], python=interpreter.path, limits=limits, isolation=isolation, coverage_include=measured
        )
    except IsolationUnavailable as err:
        raise OnboardingError(
            f"{err} (REPOMEND_SANDBOX__ISOLATION=none runs the tests without isolation)"
        ) from err
    outcomes = [test.outcome for test in run.tests]
    return SuiteReport(
        interpreter=interpreter,
        test_command=f"{shlex.quote(interpreter.path)} -m pytest",
        tests=len(collected.node_ids),
        collect_seconds=collected.duration,
        passed=sum(1 for o in outcomes if o in ("passed", "xfailed")),
        failed=sum(1 for o in outcomes if o in ("failed", "error", "xpassed")),
        skipped=sum(1 for o in outcomes if o == "skipped"),
        suite_seconds=run.duration,
        timed_out=run.timed_out,
        limit_seconds=limits.wall_seconds,
        coverage=run.coverage is not None,
        coverage_problem=None if run.coverage is not None else (run.coverage_error or "no coverage data"),
    )


def add_repository(
    session: Session, settings: Settings, path: Path, name: str | None = None, python: str | None = None
) -> tuple[Repository, SuiteReport]:
    """Check, measure, then register; nothing is written unless every check passed."""
    folder = check_folder(path)
    if not is_python_project(folder):
        raise OnboardingError(
            f"{folder} is not a Python project: no {', '.join(PROJECT_FILES[:3])} and no .py files"
        )
    chosen = name or repository_name(folder)
    try:
        body = RepositoryIn(name=chosen, path=str(folder))
    except ValidationError as err:
        raise OnboardingError(
            f"`{chosen}` cannot name a repository: use letters, digits, `.`, `_` and `-`"
        ) from err
    interpreter = check_interpreter(folder, python)
    check_not_registered(session, chosen, folder)
    report = measure_suite(folder, interpreter, settings)
    body = body.model_copy(update={"python": interpreter.path})
    repository = service.register_repository(session, body)
    repository.test_command = report.test_command
    session.commit()
    return repository, report
