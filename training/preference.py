"""Preference learning after SFT: DPO (TRL DPOTrainer) on accepted-vs-rejected fixes.

Training continues the SFT adapter. The reference policy is the SFT adapter itself: given a
PEFT model and no reference model, TRL (>= 1.x with peft >= 0.20) adds a frozen copy of the
adapter as "ref" and computes the reference log-probabilities through it, so DPO moves the
adapter away from where SFT left it only as far as `beta` allows. The result is a new adapter
folder in SFT's format whose manifest names the SFT adapter as its parent.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from repomend.settings import Settings
from training.adapter_manifest import AdapterManifest, DatasetRef
from training.policy import (
    PolicyError,
    check_out,
    load_policy,
    publish,
    stop_callback,
    use_bf16,
    work_folder,
)
from training.preference_data import PreferenceData, PreferenceDataError, drop_too_long, read_pairs
from training.storage import short_hash


class PreferenceError(ValueError):
    """DPO cannot start or go on; the message is one line for the user."""


@dataclass(frozen=True)
class PreferenceConfig:
    beta: float = 0.1
    """How far from the SFT adapter the preferences may pull (higher = closer)."""
    learning_rate: float = 5e-6
    epochs: float = 2.0
    max_steps: int | None = None
    effective_batch_size: int = 8
    per_device_batch_size: int = 2
    """Pairs per forward pass; gradient accumulation makes up the effective batch."""
    max_length: int = 2048
    """Pairs longer than this (prompt + longer reply, tokens) are left out, never cut."""
    loss_type: str = "sigmoid"
    lr_scheduler: str = "cosine"
    warmup: float = 0.1
    """Warm-up steps: an integer count, or a fraction (below 1) of all steps."""
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    seed: int = 0
    logging_steps: int = 5
    gradient_checkpointing: bool = False

    def __post_init__(self) -> None:
        if self.beta <= 0 or self.learning_rate <= 0 or self.epochs <= 0:
            raise PreferenceError("beta, learning rate and epochs must be positive")
        if self.max_steps is not None and self.max_steps < 1:
            raise PreferenceError("max steps must be at least 1")
        if self.per_device_batch_size < 1 or self.effective_batch_size % self.per_device_batch_size:
            raise PreferenceError("the effective batch must be a positive multiple of the per-device batch")
        if self.max_length < 16:
            raise PreferenceError("max length must be at least 16 tokens")

    @property
    def gradient_accumulation_steps(self) -> int:
        return self.effective_batch_size // self.per_device_batch_size

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "gradient_accumulation_steps": self.gradient_accumulation_steps}

    def dpo_arguments(self, output_dir: str, *, progress: bool) -> Any:
        from trl import DPOConfig

        return DPOConfig(
            output_dir=output_dir,
            beta=self.beta,
            loss_type=[self.loss_type],
            learning_rate=self.learning_rate,
            num_train_epochs=self.epochs,
            max_steps=self.max_steps if self.max_steps is not None else -1,
            per_device_train_batch_size=self.per_device_batch_size,
            gradient_accumulation_steps=self.gradient_accumulation_steps,
            lr_scheduler_type=self.lr_scheduler,
            warmup_steps=self.warmup,
            weight_decay=self.weight_decay,
            max_grad_norm=self.max_grad_norm,
            max_length=self.max_length,
            gradient_checkpointing=self.gradient_checkpointing,
            bf16=use_bf16(),
            fp16=False,
            seed=self.seed,
            data_seed=self.seed,
            save_strategy="no",
            logging_steps=self.logging_steps,
            logging_first_step=True,
            report_to="none",
            disable_tqdm=not progress,
            dataloader_num_workers=0,
        )


def default_out(sft_adapter: Path, pairs_file: Path, config: PreferenceConfig) -> Path:
    """Beside the SFT adapter: `<sft name>-dpo-<hash of pairs and settings>`."""
    digest = short_hash(Path(pairs_file).read_bytes(), json.dumps(config.to_dict(), sort_keys=True))
    sft_adapter = Path(sft_adapter).resolve()
    return sft_adapter.with_name(f"{sft_adapter.name}-dpo-{digest[:8]}")


def pair_length(tokenizer: Any) -> Callable[[list], int]:
    def length(messages: list) -> int:
        text = tokenizer.apply_chat_template([dict(m) for m in messages], tokenize=False)
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    return length


def train_dpo(
    pairs_file: Path,
    sft_adapter: Path,
    out_dir: Path,
    settings: Settings,
    config: PreferenceConfig = PreferenceConfig(),
    *,
    progress: bool = True,
    should_cancel: Callable[[], bool] | None = None,
    on_status: Callable[[str], None] | None = None,
) -> Path:
    """DPO on `pairs_file` starting from `sft_adapter`; returns the new adapter folder (`out_dir`).

    `should_cancel` is polled after every optimiser step; when it says stop, nothing is
    published and TrainingCancelled is raised.
    """
    import torch
    from datasets import Dataset
    from trl import DPOTrainer

    from training.sft import TrainingCancelled

    status = on_status or (lambda _text: None)
    sft_adapter = Path(sft_adapter).resolve()
    try:
        out = check_out(Path(out_dir))
        data = read_pairs(Path(pairs_file))
        if settings.threads:
            torch.set_num_threads(settings.threads)
        status(f"loading {settings.model} with the adapter {sft_adapter.name}")
        tokenizer, model, location = load_policy(settings, sft_adapter)
        data = drop_too_long(data, pair_length(tokenizer), config.max_length)
    except (PolicyError, PreferenceDataError) as err:
        raise PreferenceError(str(err)) from err

    work = work_folder(out)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    flags: dict[str, Any] = {}
    trainer = DPOTrainer(
        model=model,
        ref_model=None,
        args=config.dpo_arguments(str(work), progress=progress),
        train_dataset=Dataset.from_list([pair.as_row() for pair in data.pairs]),
        processing_class=tokenizer,
        callbacks=[stop_callback(should_cancel, flags)],
    )
    status(f"DPO on {len(data.pairs)} pairs (beta {config.beta})")
    started = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - started
    if flags.get("cancelled"):
        shutil.rmtree(work, ignore_errors=True)
        raise TrainingCancelled(f"DPO stopped at step {trainer.state.global_step}; nothing was written")
    manifest = AdapterManifest(
        base_model=settings.model,
        dataset=DatasetRef(path=str(data.path), version=data.version, hash=data.hash),
        training={
            "method": "dpo",
            **config.to_dict(),
            "model_location": location,
            "device": str(trainer.args.device),
            "bf16": bool(trainer.args.bf16),
            "pairs": len(data.pairs),
            "skipped_pairs": data.skipped,
        },
        metrics=_metrics(result.training_loss, trainer.state, seconds, data),
        parent=str(sft_adapter),
    )
    publish(trainer.model, out, manifest, trainer.state.log_history)
    status(f"adapter written to {out}")
    return out


def _metrics(train_loss: float, state: Any, seconds: float, data: PreferenceData) -> dict[str, Any]:
    """Loss and the last logged DPO figures: reward margin and how often chosen beats rejected."""
    logged = [row for row in state.log_history if "rewards/margins" in row]
    last = logged[-1] if logged else {}
    steps = int(state.global_step)
    return {
        "train_loss": round(float(train_loss), 6),
        "epochs": round(float(state.epoch or 0.0), 4),
        "steps": steps,
        "seconds": round(seconds, 2),
        "seconds_per_step": round(seconds / steps, 3) if steps else None,
        "pairs": len(data.pairs),
        "reward_margin": _rounded(last.get("rewards/margins")),
        "reward_accuracy": _rounded(last.get("rewards/accuracies")),
        "first_reward_accuracy": _rounded(logged[0].get("rewards/accuracies")) if logged else None,
    }


def _rounded(value: Any) -> float | None:
    return None if value is None else round(float(value), 6)
