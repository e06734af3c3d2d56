"""Shared fixtures: the stats repository on disk, settings, the interpreter, a tiny GGUF model."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from repomend.settings import SandboxSettings, Settings
from tests.support.repos import make_repo


@pytest.fixture
def stats_repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """One answer per turn, so a scripted model's replies are its turns in order (each engine's
    own default is tested in tests/repomend/test_settings.py)."""
    return Settings(
        data_dir=tmp_path / "data",
        sandbox=SandboxSettings(wall_seconds=30),
        max_turns=5,
        samples_per_turn=1,
        _env_file=None,
    )


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
