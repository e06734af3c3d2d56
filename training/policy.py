"""The model a training step after SFT starts from, and how its result is published.

DPO and GRPO continue an existing adapter (base model + PEFT adapter, trainable) or, for GRPO,
start a fresh LoRA adapter on the base model. The result is an adapter folder in the format SFT
writes (PEFT files + `repomend_adapter.json`), staged under a hidden name and renamed into place,
so a crash never leaves a half-written adapter under the final name.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from repomend.settings import Settings
from training.adapter_manifest import (
    PEFT_FILES,
    AdapterManifest,
    ManifestError,
    fsync_tree,
    is_finished_adapter,
    read_manifest,
    write_manifest,
)

LOG_FILE = "training_log.json"
"""In the adapter folder: the trainer's log history (loss, rewards per logging step)."""


class PolicyError(ValueError):
    """The starting model or adapter cannot be used; the message is one line for the user."""


def load_tokenizer_and_base(settings: Settings) -> tuple[Any, Any, str]:
    """Tokenizer and base model from local files only (the embedded default is converted on first use)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from repomend.backends.base import BackendError
    from repomend.backends.model_files import resolve_model

    try:
        source = resolve_model(settings)
        tokenizer = AutoTokenizer.from_pretrained(source.location, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(
            source.location, dtype=torch.float32, attn_implementation="sdpa", local_files_only=True
        )
    except BackendError as err:
        raise PolicyError(str(err)) from err
    except (OSError, ValueError) as err:
        raise PolicyError(f"cannot load the base model {settings.model!r}: {err}") from err
    if not getattr(tokenizer, "chat_template", None):
        raise PolicyError(f"{source.location} has no chat template; training needs a chat model")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, model, source.location


def check_adapter(adapter: Path, settings: Settings) -> AdapterManifest | None:
    """The adapter's manifest (None for a plain PEFT folder); refuses one made for another base model."""
    if not adapter.is_dir():
        raise PolicyError(f"no such adapter folder: {adapter}")
    if not (adapter / PEFT_FILES[0]).is_file():
        raise PolicyError(f"{adapter} is not a PEFT adapter folder: no {PEFT_FILES[0]}")
    try:
        manifest = read_manifest(adapter)
    except ManifestError:
        return None
    if manifest.base_model != settings.model:
        raise PolicyError(
            f"{adapter} was trained on {manifest.base_model!r}, not on {settings.model!r}; "
            "set REPOMEND_MODEL to its base model"
        )
    return manifest


def load_policy(settings: Settings, adapter: Path) -> tuple[Any, Any, str]:
    """Tokenizer, base model with `adapter` loaded trainable (as PEFT's "default"), model location."""
    from peft import PeftModel

    check_adapter(adapter, settings)
    tokenizer, base, location = load_tokenizer_and_base(settings)
    try:
        model = PeftModel.from_pretrained(base, str(adapter), is_trainable=True)
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        raise PolicyError(f"cannot load the adapter {adapter} onto {settings.model!r}: {err}") from err
    return tokenizer, model, location


def work_folder(out: Path) -> Path:
    """Hidden sibling where a run stages its adapter before the rename."""
    return out.with_name(f".{out.name}.partial")


def check_out(out: Path) -> Path:
    out = out.resolve()
    if out.exists():
        what = "a finished adapter" if is_finished_adapter(out) else "files"
        raise PolicyError(f"{out} already holds {what}; choose another --out")
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


def use_bf16() -> bool:
    """Mixed precision only where it is fast: bf16 on this kind of CPU is slower than fp32."""
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def stop_callback(should_cancel: Any, flags: dict[str, Any]) -> Any:
    """A trainer callback that ends training after the step in which `should_cancel()` said stop."""
    from transformers import TrainerCallback

    class Stop(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            if should_cancel is not None and should_cancel():
                flags["cancelled"] = True
                control.should_training_stop = True
            return control

    return Stop()
