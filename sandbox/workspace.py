"""Throw-away copy of a repository with the candidate's files spliced in.

Heavy or irrelevant folders are not copied: in strict isolation they are bound read-only at
their original place instead (a repository's own .venv keeps working), caches are dropped.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

#: Folders never copied but still readable (read-only) inside the sandbox.
SHARED_NAMES = frozenset({".git", ".venv", "venv", "node_modules", ".tox"})
#: Folders neither copied nor shared: caches the run rebuilds or must not see.
DROPPED_NAMES = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"})


@dataclass
class Workspace:
    root: Path
    """The copy (writable, discarded after the run)."""
    shared: list[str] = field(default_factory=list)
    """Repo-relative folders left out of the copy that must be visible read-only."""


def _is_virtualenv(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "pyvenv.cfg"))


def copy_repository(repo: Path, dest: Path) -> Workspace:
    """Copy `repo` to `dest` (which must not exist), symlinks kept as symlinks."""
    workspace = Workspace(root=dest)

    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped: set[str] = set()
        for name in names:
            full = os.path.join(directory, name)
            if name in DROPPED_NAMES:
                skipped.add(name)
            elif name in SHARED_NAMES or (
                not os.path.islink(full) and os.path.isdir(full) and _is_virtualenv(full)
            ):
                skipped.add(name)
                workspace.shared.append(os.path.relpath(full, repo))
        return skipped

    shutil.copytree(repo, dest, symlinks=True, ignore=ignore, copy_function=shutil.copy)
    return workspace


def is_test_file(name: str) -> bool:
    """pytest's default test file names, and conftest.py (it holds fixtures and hooks)."""
    return name == "conftest.py" or (
        name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))
    )


def test_files(root: Path) -> list[str]:
    """Repo-relative test files of the copy (shared and dropped folders are not in it)."""
    found = []
    for directory, folders, names in os.walk(root):
        folders[:] = [f for f in folders if f not in DROPPED_NAMES and not f.startswith(".")]
        found += [
            os.path.relpath(os.path.join(directory, name), root)
            for name in names
            if is_test_file(name) and not os.path.islink(os.path.join(directory, name))
        ]
    return sorted(found)


def apply_overrides(root: Path, overrides: Mapping[str, str]) -> None:
    """Write each override into the copy, never through a symlink that could leave it."""
    real_root = root.resolve()
    for relpath, content in overrides.items():
        rel = PurePosixPath(relpath)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise ValueError(f"override path must be relative to the repository: {relpath!r}")
        target = root.joinpath(*rel.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        parent = target.parent.resolve()
        if parent != real_root and real_root not in parent.parents:
            raise ValueError(f"override path leaves the repository through a symlink: {relpath!r}")
        if target.is_symlink():
            target.unlink()
        target.write_text(content, encoding="utf-8")
