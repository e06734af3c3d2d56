"""Fixtures around the shapes sample project, run in the strict sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from repomend.settings import Settings
from tests.support.fixtures import model_stub  # noqa: F401
from tests.support.repos import SHAPES_SOURCE, SHAPES_TESTS, make_repo
from tests.support.settings import sandbox_settings


@pytest.fixture(autouse=True)
def strict_sandbox(monkeypatch):
    monkeypatch.setenv("REPOMEND_SANDBOX__ISOLATION", "strict")


@pytest.fixture
def shapes_repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "shapes", source=SHAPES_SOURCE, tests=SHAPES_TESTS)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return sandbox_settings(tmp_path / "data")


@pytest.fixture(scope="session")
def shapes_extraction(tmp_path_factory: pytest.TempPathFactory):
    """The sample project extracted once, every method in the training split."""
    import sys

    from training.extract import extract

    root = tmp_path_factory.mktemp("shared")
    repo = make_repo(root / "shapes", source=SHAPES_SOURCE, tests=SHAPES_TESTS)
    settings = sandbox_settings(root / "data")
    return extract(
        repo, python=sys.executable, settings=settings, heldout_fraction=0.0, validation_fraction=0.0
    )
