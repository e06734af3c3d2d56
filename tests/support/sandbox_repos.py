"""What sandbox tests build and inspect: tiny repositories (`RepoFactory`, the type of the `make_repo`
fixture), the files a run leaves (`snapshot`) and the host processes it leaves (`processes_with`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

PYTHON = Path(sys.executable)

RepoFactory = Callable[[dict[str, str]], Path]
"""Writes {relative path: content} as a repository and returns its root."""


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
