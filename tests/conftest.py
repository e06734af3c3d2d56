"""Shared fixtures: small real repositories on disk."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from repomend.settings import SandboxSettings, Settings

STATS_SOURCE = '''"""Statistics."""


class Stats:
    def __init__(self, xs):
        self.xs = xs

    def mean(self):
        """Arithmetic mean."""
        return sum(self.xs) / (len(self.xs) - 1)

    def total(self):
        return sum(self.xs)


def clamp(x, low, high):
    return max(low, min(x, high))
'''

STATS_TESTS = """from pkg.stats import Stats, clamp


def test_mean():
    assert Stats([1, 2, 3, 4]).mean() == 2.5


def test_mean_single():
    assert Stats([7]).mean() == 7


def test_total():
    assert Stats([1, 2]).total() == 3


def test_clamp():
    assert clamp(5, 0, 3) == 3
"""

FIXED_MEAN = "def mean(self):\n    return sum(self.xs) / len(self.xs)"
WRONG_MEAN = "def mean(self):\n    return sum(self.xs)"


def make_repo(root: Path, source: str = STATS_SOURCE, tests: str = STATS_TESTS) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "stats.py").write_text(source)
    (root / "tests").mkdir()
    (root / "tests" / "test_stats.py").write_text(tests)
    (root / "pyproject.toml").write_text('[tool.pytest.ini_options]\npythonpath = ["."]\n')
    return root


@pytest.fixture
def stats_repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", sandbox=SandboxSettings(wall_seconds=30), _env_file=None)


@pytest.fixture
def python() -> Path:
    return Path(sys.executable)


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory):
    """A tiny real model served by llama.cpp (GGUF) and trainable by transformers (its folder)."""
    from repomend.llamacpp.build import engine_files
    from tests.support.gguf_models import build_tiny_gguf

    files = engine_files()
    if not files.is_complete():
        pytest.fail(f"llama-server is not built ({files.server}): run `repomend engine build` (set-up does)")
    root = tmp_path_factory.mktemp("tiny-gguf")
    return build_tiny_gguf(root, Settings(data_dir=root / "data", _env_file=None))
