"""Interpreters reached through symbolic links run in the sandbox; one that cannot run is said in
one line."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sandbox.interpreter import probe
from sandbox.runner import check_interpreter, run_tests
from tests.support.sandbox_repos import RepoFactory

pytestmark = pytest.mark.usefixtures("strict")

FILES = {"calc.py": "def add(a, b):\n    return a + b\n", "tests/test_calc.py": "from calc import add\n\n\n"
         "def test_add():\n    assert add(1, 2) == 3\n"}  # fmt: skip


@pytest.fixture
def environment() -> Path:
    """A virtual environment with pytest: the one running these tests."""
    if sys.prefix == sys.base_prefix:
        pytest.skip("these tests need to run from a virtual environment")
    return Path(sys.prefix)


def test_a_venv_that_is_a_symlink_runs(make_repo: RepoFactory, environment: Path) -> None:
    repo = make_repo(FILES)
    (repo / ".venv").symlink_to(environment, target_is_directory=True)
    result = run_tests(repo, ["tests/test_calc.py"], python=repo / ".venv" / "bin" / "python")
    assert result.passed, result.output[-2000:]


def test_a_venv_reached_through_a_linked_folder_runs(
    make_repo: RepoFactory, environment: Path, tmp_path: Path
) -> None:
    repo = make_repo(FILES)
    (repo / ".venv").symlink_to(environment, target_is_directory=True)
    linked = tmp_path / "linked"
    linked.symlink_to(repo.parent, target_is_directory=True)
    python = linked / repo.name / ".venv" / "bin" / "python"
    assert probe(python).path == str(environment.resolve() / "bin" / "python")
    result = run_tests(linked / repo.name, ["tests/test_calc.py"], python=python)
    assert result.passed and result.integrity is None, result.output[-2000:]


def test_an_interpreter_that_cannot_run_inside_is_said_in_one_line(
    make_repo: RepoFactory, tmp_path: Path
) -> None:
    host_only = tmp_path / "host-only"
    host_only.write_text("")
    wrapper = tmp_path / "bin" / "python"
    wrapper.parent.mkdir()
    wrapper.write_text(
        f"#!/bin/sh\n[ -e {host_only} ] || {{ echo 'missing {host_only}' >&2; exit 3; }}\n"
        f'exec {sys.executable} "$@"\n'
    )
    wrapper.chmod(0o755)
    repo = make_repo(FILES)
    problem = check_interpreter(repo, python=wrapper)
    assert problem is not None and "\n" not in problem
    assert problem.startswith(f"the interpreter {wrapper} cannot run pytest in the sandbox")
    assert "missing" in problem
    result = run_tests(repo, ["tests/test_calc.py"], python=wrapper)
    assert result.crashed and not result.passed
    assert result.start_failure is not None and "missing" in result.start_failure
    assert check_interpreter(repo, python=sys.executable) is None
