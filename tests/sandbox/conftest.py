"""Helpers for sandbox tests: tiny repositories on disk and a look at the host's processes."""

from __future__ import annotations

import os
import sys
import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox.runner import check_isolation

PYTHON = Path(sys.executable)


@pytest.fixture
def strict() -> None:
    missing = check_isolation()
    if missing:
        pytest.skip("strict sandbox isolation unavailable here: " + "; ".join(missing))


@pytest.fixture
def marker() -> str:
    """A unique string to find the run's processes and files on the host."""
    return f"repomend_mark_{uuid.uuid4().hex}"


RepoFactory = Callable[[dict[str, str]], Path]


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


def processes_with(marker: str) -> list[int]:
    """Host pids whose command line mentions `marker` (excluding this test process)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline:
            found.append(int(entry))
    return found


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under `root` with its content (symlinks as their target)."""
    files = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            files[rel] = os.readlink(path).encode()
        elif path.is_file():
            files[rel] = path.read_bytes()
    return files
