"""`repomend_adapter.json`: what a finished adapter folder says about itself (format 1).

Fine-tuning writes it beside the PEFT files; the adapter registry reads it to check the base
model and show the metrics. Shape:

    {"format": 1, "base_model": str, "dataset": {"path", "version", "hash"},
     "training": {the SFTConfig values}, "metrics": {"train_loss", "eval_loss"?, "epochs",
     "steps", "seconds", "seconds_per_epoch", "train_tokens", "tokens_per_second"},
     "created_at": ISO 8601, "parent"?: the adapter folder training started from (DPO, GRPO)}
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from repomend.backends.adapter_files import ADAPTER_MANIFEST as MANIFEST_FILE
from training.errors import ManifestError

FORMAT = 1
PEFT_FILES = ("adapter_config.json", "adapter_model.safetensors")
EVAL_REPORT_FILE = "eval_report.json"
"""Written into the adapter folder by evaluation; the registry shows it with the adapter."""


@dataclass(frozen=True)
class DatasetRef:
    path: str
    version: str
    hash: str


@dataclass(frozen=True)
class AdapterManifest:
    base_model: str
    dataset: DatasetRef
    training: dict[str, Any]
    metrics: dict[str, Any]
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    format: int = FORMAT
    parent: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def write_manifest(folder: Path, manifest: AdapterManifest) -> Path:
    """Write atomically (temporary file, flushed, renamed): a reader never sees half a manifest."""
    path = folder / MANIFEST_FILE
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(json.dumps(manifest.to_dict(), indent=2, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)
    return path


def read_manifest(folder: Path) -> AdapterManifest:
    path = folder / MANIFEST_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ManifestError(f"{folder} is not a finished adapter: no {MANIFEST_FILE}") from err
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ManifestError(f"cannot read {path}: {err}") from err
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ManifestError(f"{path} is not an adapter manifest of format {FORMAT}")
    try:
        return AdapterManifest(
            base_model=str(data["base_model"]),
            dataset=DatasetRef(**data["dataset"]),
            training=dict(data["training"]),
            metrics=dict(data["metrics"]),
            created_at=str(data["created_at"]),
            parent=data.get("parent"),
        )
    except (KeyError, TypeError) as err:
        raise ManifestError(f"{path} lacks a field or has a wrong one: {err}") from err


def is_finished_adapter(folder: Path) -> bool:
    """True when the PEFT files and a readable manifest are all there."""
    if not all((folder / name).is_file() for name in PEFT_FILES):
        return False
    try:
        read_manifest(folder)
    except ManifestError:
        return False
    return True


def fsync_tree(folder: Path) -> None:
    """Flush every file and the folder itself, so the rename that publishes an adapter publishes
    data that is on disk. Files become world-readable (safetensors writes them private): a server
    may run as another user."""
    for file in folder.iterdir():
        if file.is_file():
            file.chmod(0o644)
            with file.open("rb") as handle:
                os.fsync(handle.fileno())
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
