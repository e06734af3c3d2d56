"""Sandbox fixtures: strict isolation or a skip, a unique marker, tiny repositories on disk."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path

import pytest

from sandbox.runner import check_isolation
from tests.support.sandbox_repos import RepoFactory


@pytest.fixture
def strict() -> None:
    missing = check_isolation()
    if missing:
        pytest.skip("strict sandbox isolation unavailable here: " + "; ".join(missing))


@pytest.fixture
def marker() -> str:
    """A unique string to find the run's processes and files on the host."""
    return f"repomend_mark_{uuid.uuid4().hex}"


@pytest.fixture
def make_repo(tmp_path: Path) -> RepoFactory:
    def build(files: dict[str, str]) -> Path:
        root = tmp_path / "repo"
        for relpath, content in files.items():
            path = root / relpath
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(content))
        if not (root / "pyproject.toml").exists():
            (root / "pyproject.toml").write_text('[tool.pytest.ini_options]\npythonpath = ["."]\n')
        return root

    return build
