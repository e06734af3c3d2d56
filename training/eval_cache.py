"""Evaluation cells kept on disk, so that a retraining job does not measure again what it measured
before.

Every job's gate evaluates what serves now and the served base model on the held-out benchmark,
and on a CPU each costs as long as the new adapter's own evaluation. When nothing a cell depends
on has changed (the same broken methods, loop settings, engine, model, adapter weights, mode and
repomend version), the stored cell is that measurement; anything else is a new key.
"""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from repomend.backends.catalogue import file_sha256
from training.storage import short_hash, write_json

WEIGHT_SUFFIXES = (".safetensors", ".gguf", ".bin")


def adapter_fingerprint(adapter: str | None) -> str:
    """The adapter's weights by content (a folder keeps its path across versions it is rewritten
    with); a name that is not a folder stands for itself."""
    if adapter is None:
        return "none"
    folder = Path(adapter)
    if not folder.is_dir():
        return adapter
    weights = sorted(p for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES and p.is_file())
    return short_hash(*(f"{path.name}:{file_sha256(path)}" for path in weights))


def repomend_version() -> str:
    try:
        return version("repomend")
    except PackageNotFoundError:
        return "unknown"


def cell_key(*, benchmark: dict, config: dict, described: str, weights: str, mode: str) -> str:
    """Names one model's results in one mode on one benchmark under one configuration; `weights` is
    the adapter's `adapter_fingerprint`, taken once per model."""
    return short_hash(
        json.dumps(benchmark, sort_keys=True),
        json.dumps(config, sort_keys=True),
        described,
        weights,
        mode,
        repomend_version(),
    )


def read_cell(folder: Path | None, key: str) -> dict[str, Any] | None:
    """The stored cell, or None when there is none (or it cannot be read: it is measured again)."""
    if folder is None:
        return None
    try:
        return json.loads((folder / f"{key}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_cell(folder: Path | None, key: str, cell: dict[str, Any]) -> None:
    if folder is not None:
        write_json(folder / f"{key}.json", cell)
