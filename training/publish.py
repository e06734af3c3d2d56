"""Where a trainer writes: a hidden work folder beside the output, renamed into place when done.

Every trainer's result is an adapter folder in one format (PEFT files + `repomend_adapter.json`);
staging it under a hidden name means a crash never leaves a half-written adapter under the final one.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from training.adapter_manifest import AdapterManifest, fsync_tree, is_finished_adapter, write_manifest
from training.errors import TrainerSetupError

LOG_FILE = "training_log.json"
"""In the adapter folder: the trainer's log history (loss, rewards per logging step)."""


def work_folder(out: Path) -> Path:
    """Hidden sibling where a run stages its adapter before the rename."""
    return out.with_name(f".{out.name}.partial")


def check_out(out: Path) -> Path:
    out = out.resolve()
    if out.exists():
        what = "a finished adapter" if is_finished_adapter(out) else "files"
        raise TrainerSetupError(f"{out} already holds {what}; choose another --out")
    return out


def publish(model: Any, out: Path, manifest: AdapterManifest, log_history: list[dict]) -> Path:
    """Save the trained adapter ("default" only: TRL may have added a frozen reference copy),
    the manifest and the log under a hidden name, flush them, and rename into place."""
    staged = work_folder(out) / "adapter"
    shutil.rmtree(staged, ignore_errors=True)
    staged.parent.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(staged), selected_adapters=["default"])
    (staged / LOG_FILE).write_text(json.dumps(log_history, indent=1) + "\n", encoding="utf-8")
    write_manifest(staged, manifest)
    fsync_tree(staged)
    out.parent.mkdir(parents=True, exist_ok=True)
    os.rename(staged, out)
    shutil.rmtree(work_folder(out), ignore_errors=True)
    return out
