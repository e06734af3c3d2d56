"""The model a trainer starts from: the base model, or the base model with a trainable adapter.

SFT and a fresh GRPO run start from the base model (and add a new LoRA adapter); DPO, and GRPO
after SFT or DPO, continue an existing adapter loaded trainable onto it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from repomend.settings import Settings
from training.adapter_manifest import PEFT_FILES, AdapterManifest, read_manifest
from training.errors import ManifestError, TrainerSetupError


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
        raise TrainerSetupError(str(err)) from err
    except (OSError, ValueError) as err:
        raise TrainerSetupError(f"cannot load the base model {settings.model!r}: {err}") from err
    if not getattr(tokenizer, "chat_template", None):
        raise TrainerSetupError(f"{source.location} has no chat template; training needs a chat model")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, model, source.location


def check_adapter(adapter: Path, settings: Settings) -> AdapterManifest | None:
    """The adapter's manifest (None for a plain PEFT folder); refuses one made for another base model."""
    if not adapter.is_dir():
        raise TrainerSetupError(f"no such adapter folder: {adapter}")
    if not (adapter / PEFT_FILES[0]).is_file():
        raise TrainerSetupError(f"{adapter} is not a PEFT adapter folder: no {PEFT_FILES[0]}")
    try:
        manifest = read_manifest(adapter)
    except ManifestError:
        return None
    if manifest.base_model != settings.model:
        raise TrainerSetupError(
            f"{adapter} was trained on {manifest.base_model!r}, not on {settings.model!r}; "
            "set REPOMEND_MODEL to its base model"
        )
    return manifest


def load_trainable_adapter(settings: Settings, adapter: Path) -> tuple[Any, Any, str]:
    """Tokenizer, base model with `adapter` loaded trainable (as PEFT's "default"), model location."""
    from peft import PeftModel

    check_adapter(adapter, settings)
    tokenizer, base, location = load_tokenizer_and_base(settings)
    try:
        model = PeftModel.from_pretrained(base, str(adapter), is_trainable=True)
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        raise TrainerSetupError(f"cannot load the adapter {adapter} onto {settings.model!r}: {err}") from err
    return tokenizer, model, location


BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
"""`/proc/cpuinfo` flags of x86 CPUs with bf16 arithmetic in hardware (oneDNN's bf16 matmuls use them)."""


def cpu_runs_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU multiplies bf16 natively; without it bf16 is emulated and slower than fp32."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    lines = text.splitlines()
    flags = next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), [])
    return not BF16_CPU_FLAGS.isdisjoint(flags)


def use_bf16(*, cpu: bool = False) -> bool:
    """Mixed precision where bf16 is native: a CUDA GPU that has it, and with `cpu` also a CPU with
    AVX512-BF16 or AMX. SFT and DPO ask for both (measured in the training README); GRPO asks for the
    GPU only, not having been measured in bf16 on a CPU."""
    import torch

    if torch.cuda.is_available():
        return bool(torch.cuda.is_bf16_supported())
    return cpu and cpu_runs_bf16()


def chosen_bf16(choice: bool | None) -> bool:
    """A trainer config's `bf16` (see `training.sft_config.BF16_HELP`): as given, or where it is native."""
    return use_bf16(cpu=True) if choice is None else choice
