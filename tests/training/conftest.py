"""A small, correct sample project whose covered methods are known, and fixtures around it."""

from __future__ import annotations

from pathlib import Path

import pytest

from repomend.settings import SandboxSettings, Settings
from tests.conftest import make_repo

SHAPES_SOURCE = '''"""Shapes."""


class Box:
    def __init__(self, items):
        self.items = list(items)

    def count(self):
        """How many items."""
        return len(self.items)

    def largest(self):
        best = None
        for item in self.items:
            if best is None or item > best:
                best = item
        return best

    def unused(self):
        return "never called"

    def todo(self):
        raise NotImplementedError


def clamp(x, low, high):
    if x < low:
        return low
    if x > high:
        return high
    return x


def scale(values, factor):
    return [v * factor for v in values]


def untested(a, b):
    return a - b


def double(x):
    return x * 2
'''

SHAPES_TESTS = """import pytest

from pkg.stats import Box, clamp, double, scale


def test_count():
    assert Box([1, 2, 3]).count() == 3


def test_largest():
    assert Box([3, 9, 2]).largest() == 9


def test_largest_of_nothing():
    assert Box([]).largest() is None


def test_clamp():
    assert clamp(5, 0, 3) == 3
    assert clamp(-1, 0, 3) == 0
    assert clamp(2, 0, 3) == 2


def test_clamp_wrong_expectation():
    assert clamp(1, 0, 3) == 99


def test_scale():
    assert scale([1, 2], 3) == [3, 6]


def test_double_wrong_expectation():
    assert double(2) == 5


def test_todo_is_not_there_yet():
    with pytest.raises(NotImplementedError):
        Box([]).todo()
"""

COVERED = ["pkg/stats.py::Box.__init__", "pkg/stats.py::Box.count", "pkg/stats.py::Box.largest",
           "pkg/stats.py::clamp", "pkg/stats.py::scale"]  # fmt: skip
"""Methods a passing test executes (Box.todo is a placeholder, `double` has only a failing test)."""


@pytest.fixture(autouse=True)
def strict_sandbox(monkeypatch):
    monkeypatch.setenv("REPOMEND_SANDBOX__ISOLATION", "strict")


@pytest.fixture
def shapes_repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "shapes", source=SHAPES_SOURCE, tests=SHAPES_TESTS)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return sandbox_settings(tmp_path / "data")


def sandbox_settings(data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir, sandbox=SandboxSettings(isolation="strict", wall_seconds=30), _env_file=None
    )


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
