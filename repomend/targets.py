"""Resolve what the user pointed at (file, method, repository, interpreter) into a repair request."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from repomend.source import Method, SourceError, find_method

REPO_MARKERS = ("pyproject.toml", "setup.cfg", "setup.py", "pytest.ini", "tox.ini", ".git")
VENV_NAMES = (".venv", "venv", "env")


class TargetError(ValueError):
    """The target cannot be repaired as given; the message is one line for the user."""


@dataclass(frozen=True)
class Target:
    repo: Path
    path: str
    """Repository-relative, POSIX separators."""
    source: str
    method: Method


def split_spec(spec: str) -> tuple[Path, str]:
    """`pkg/mod.py::Class.method` -> (Path('pkg/mod.py'), 'Class.method')."""
    file_part, sep, qualname = spec.rpartition("::")
    if not sep or not file_part or not qualname:
        raise TargetError(f"expected PATH::[Class.]method, got `{spec}`")
    return Path(file_part), qualname


def find_repo_root(file: Path) -> Path:
    """The nearest folder above `file` that looks like a project root, else the file's folder."""
    for folder in file.resolve().parents:
        if any((folder / marker).exists() for marker in REPO_MARKERS):
            return folder
    return file.resolve().parent


def repository_name(folder: Path) -> str:
    """The name a folder is registered under by default (the CLI and the editor agree on it): the
    folder's name in the characters the server allows, other runs of characters becoming `-`."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", folder.name).strip("-._")
    return name[:200] or "repository"


def find_python(repo: Path) -> Path:
    """The repository's own interpreter (a virtualenv inside it), else the one running repomend."""
    for name in VENV_NAMES:
        candidate = repo / name / "bin" / "python"
        if candidate.exists():
            return candidate
    return Path(sys.executable)


def resolve_target(file: Path, qualname: str, repo: Path | None = None, source: str | None = None) -> Target:
    if source is None:
        if not file.is_file():
            raise TargetError(f"no such file: {file}")
        try:
            source = file.read_text(encoding="utf-8")
        except UnicodeDecodeError as err:
            raise TargetError(f"{file} is not UTF-8 text: {err.reason}") from err
    root = (repo or find_repo_root(file)).resolve()
    try:
        relative = file.resolve().relative_to(root)
    except ValueError as err:
        raise TargetError(f"{file} is not inside the repository {root}") from err
    try:
        method = find_method(source, qualname)
    except SourceError as err:
        raise TargetError(f"{file}: {err}") from err
    return Target(root, relative.as_posix(), source, method)
