"""Adapter folders on disk: what a finished adapter must hold, and copying one in atomically.

Layout: `<adapters dir>/<repository>/v<N>/` (the adapters dir defaults to `<data dir>/adapters`),
holding the PEFT files, `repomend_adapter.json` and, when evaluation wrote one, `eval_report.json`.
A version folder appears only complete: files are copied into a hidden `.incoming-*` folder,
flushed to disk and checked, then renamed into place in one step. A crash leaves at most a
hidden folder, which no listing shows and a later registration sweeps away.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

MANIFEST = "repomend_adapter.json"
EVAL_REPORT = "eval_report.json"
REQUIRED_FILES = ("adapter_config.json", "adapter_model.safetensors", MANIFEST)
INCOMING_PREFIX = ".incoming-"
DELETING_PREFIX = ".deleting-"
STALE_SECONDS = 3600.0
"""A hidden work folder untouched this long belongs to a registration that died."""
VERSION_FOLDER = re.compile(r"^v([1-9][0-9]{0,8})$")


class AdapterFolderError(ValueError):
    """The folder is not a finished adapter; the message says what is wrong, in one line."""


class DatasetRef(BaseModel):
    model_config = ConfigDict(extra="allow")

    path: str
    version: str | int
    hash: str


class AdapterManifest(BaseModel):
    """`repomend_adapter.json`, as fine-tuning writes it (format 1)."""

    model_config = ConfigDict(extra="allow")

    format: Literal[1]
    base_model: str = Field(min_length=1)
    dataset: DatasetRef
    training: dict[str, Any]
    metrics: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class AdapterFolder:
    path: Path
    manifest: AdapterManifest
    raw_manifest: dict[str, Any]
    evaluation: dict[str, Any] | None


def read_adapter_folder(path: Path) -> AdapterFolder:
    """Check that `path` holds a finished adapter and read its manifest and evaluation report."""
    where = str(path)
    if "\x00" in where or not path.is_absolute():
        raise AdapterFolderError(f"`{where[:300]}` is not an absolute path")
    try:
        if not path.is_dir():
            raise AdapterFolderError(f"`{where}` is not a folder")
        missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
        if missing:
            raise AdapterFolderError(f"`{where}` is not a finished adapter: missing {', '.join(missing)}")
        raw = _read_json(path / MANIFEST)
        evaluation = _read_json(path / EVAL_REPORT) if (path / EVAL_REPORT).is_file() else None
    except OSError as err:
        raise AdapterFolderError(f"cannot read `{where}`: {err.strerror or err}") from err
    try:
        manifest = AdapterManifest.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise AdapterFolderError(f"{path / MANIFEST}: {field}: {first['msg']}") from err
    return AdapterFolder(path, manifest, raw, evaluation)


def _read_json(file: Path) -> dict[str, Any]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise AdapterFolderError(f"{file} is not valid JSON: {err}") from err
    if not isinstance(data, dict):
        raise AdapterFolderError(f"{file} must hold a JSON object")
    return data


def highest_version_on_disk(repository_dir: Path) -> int:
    """Version folders can outlive their database rows (a crash between rename and commit):
    new versions are numbered past them too, so no number is ever given out twice."""
    if not repository_dir.is_dir():
        return 0
    found = [int(m.group(1)) for p in repository_dir.iterdir() if (m := VERSION_FOLDER.match(p.name))]
    return max(found, default=0)


def stage(source: AdapterFolder, repository_dir: Path) -> Path:
    """Copy the adapter's top-level files (not training checkpoints in sub-folders) into a hidden
    folder beside the versions, flushed to disk and checked; returns that folder."""
    repository_dir.mkdir(parents=True, exist_ok=True)
    sweep(repository_dir)
    staged = Path(tempfile.mkdtemp(prefix=INCOMING_PREFIX, dir=repository_dir))
    try:
        for file in sorted(source.path.iterdir()):
            if file.is_file():
                copy_file(file, staged / file.name)
        _fsync(staged)
        read_adapter_folder(staged)  # what was copied is what was checked
        staged.chmod(0o755)  # mkdtemp makes it private; versions are ordinary folders
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return staged


def copy_file(source: Path, target: Path) -> None:
    """One file, flushed to disk before the folder holding it can be published."""
    shutil.copyfile(source, target)
    with target.open("rb") as handle:
        os.fsync(handle.fileno())


def publish(staged: Path, target: Path) -> None:
    """Make a staged folder visible under its version name, in one rename."""
    os.rename(staged, target)  # refuses to replace a non-empty folder: versions are never overwritten
    _fsync(target.parent)


def remove(folder: Path) -> None:
    """Take a version folder out of sight in one rename, then free the space."""
    if not folder.exists():
        return
    hidden = folder.with_name(f"{DELETING_PREFIX}{folder.name}-{os.getpid()}-{time.monotonic_ns()}")
    os.rename(folder, hidden)
    shutil.rmtree(hidden, ignore_errors=True)


def sweep(repository_dir: Path, older_than: float = STALE_SECONDS) -> None:
    """Remove hidden work folders left by registrations or deletions that died."""
    now = time.time()
    for child in repository_dir.iterdir():
        if not child.name.startswith((INCOMING_PREFIX, DELETING_PREFIX)):
            continue
        try:
            if now - child.stat().st_mtime > older_than:
                shutil.rmtree(child, ignore_errors=True)
        except FileNotFoundError:
            pass


def _fsync(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
