"""Adapter folders as fine-tuning leaves them: PEFT files plus `repomend_adapter.json`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.tiny_models import build_adapter

MANIFEST = "repomend_adapter.json"


def manifest(base_model: str, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "format": 1,
        "base_model": base_model,
        "dataset": {"path": "datasets/stats/3", "version": "3", "hash": "sha256:ab12"},
        "training": {"r": 4, "alpha": 8, "epochs": 2, "lr": 1e-4},
        "metrics": {"train_loss": 0.42, "eval_loss": 0.51},
        "created_at": "2026-11-23T20:00:00+00:00",
    }
    data.update(overrides)
    return data


def write_manifest(folder: Path, base_model: str, eval_report: dict | None = None, **overrides: Any) -> None:
    (folder / MANIFEST).write_text(json.dumps(manifest(base_model, **overrides)))
    if eval_report is not None:
        (folder / "eval_report.json").write_text(json.dumps(eval_report))


def fake_adapter(folder: Path, base_model: str = "scripted", **overrides: Any) -> Path:
    """The files a registry checks for, without real weights (the registry never loads them)."""
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4}))
    (folder / "adapter_model.safetensors").write_bytes(b"\0" * 4096)
    (folder / "README.md").write_text("adapter\n")
    (folder / "checkpoint-10").mkdir()
    (folder / "checkpoint-10" / "optimizer.pt").write_bytes(b"\0" * 1024)
    write_manifest(folder, base_model, **overrides)
    return folder


def lora_adapter(model_folder: Path, folder: Path, seed: int, base_model: str) -> Path:
    """A real PEFT LoRA adapter with random weights for the model in `model_folder`, with its manifest."""
    build_adapter(model_folder, folder, seed=seed)
    write_manifest(folder, base_model)
    return folder
