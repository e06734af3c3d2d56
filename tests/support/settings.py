"""Settings for tests that run candidates in the strict sandbox, as training does."""

from __future__ import annotations

from pathlib import Path

from repomend.settings import SandboxSettings, Settings


def sandbox_settings(data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir, sandbox=SandboxSettings(isolation="strict", wall_seconds=30), _env_file=None
    )
