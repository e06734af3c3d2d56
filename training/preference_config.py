"""The settings of preference learning after SFT (`PreferenceConfig`, TRL `DPOTrainer`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from training.errors import PreferenceError
from training.sft_config import BF16_HELP


@dataclass(frozen=True)
class PreferenceConfig:
    """Settings of one DPO run that continues an SFT adapter on accepted-vs-rejected pairs.

    `beta` is how far from the SFT adapter the preferences may pull (higher = closer); the
    reference policy is the SFT adapter itself (see `training.preference_trainer`). Each field's
    `help` is its flag's help where `repomend train dpo` makes it a flag.

    Parameters:
        > DPO: beta, loss_type.

        > Length of the run: epochs, max_steps (None runs every epoch).

        > Optimiser: learning_rate, lr_scheduler, warmup (an integer count, or a fraction below 1
          of all steps), weight_decay, max_grad_norm.

        > Batches: effective_batch_size, per_device_batch_size, max_length. Gradient accumulation
          makes up the effective batch; pairs longer than `max_length` (prompt + longer reply,
          tokens) are left out, never cut.

        > Run-time: seed, logging_steps, gradient_checkpointing, bf16.
    """

    beta: float = field(default=0.1, metadata={"help": "pull towards the SFT adapter"})
    learning_rate: float = field(default=5e-6, metadata={"help": "learning rate", "flag": "--lr"})
    epochs: float = field(default=2.0, metadata={"help": "passes over the pairs"})
    max_steps: int | None = field(default=None, metadata={"help": "stop after this many optimiser steps"})
    effective_batch_size: int = field(
        default=8, metadata={"help": "pairs per optimiser step", "flag": "--batch"}
    )
    per_device_batch_size: int = field(default=2, metadata={"help": "pairs per forward pass"})
    max_length: int = field(default=2048, metadata={"help": "tokens; longer pairs are left out, never cut"})
    loss_type: str = field(default="sigmoid", metadata={"help": "TRL's DPO loss"})
    lr_scheduler: str = field(default="cosine", metadata={"help": "learning-rate schedule"})
    warmup: float = field(default=0.1, metadata={"help": "warm-up steps, or a fraction (below 1) of all"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    max_grad_norm: float = field(default=1.0, metadata={"help": "gradient clipping"})
    seed: int = field(default=0, metadata={"help": "seed of the data order"})
    logging_steps: int = field(default=5, metadata={"help": "optimiser steps between log lines"})
    gradient_checkpointing: bool = field(
        default=False, metadata={"help": "recompute activations in the backward pass"}
    )
    bf16: bool | None = field(default=None, metadata={"help": BF16_HELP})

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
        import torch
        from trl import DPOConfig

        from training.starting_model import chosen_bf16

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
            bf16=chosen_bf16(self.bf16),
            fp16=False,
            use_cpu=not torch.cuda.is_available(),  # transformers refuses bf16 on a CPU unless told it is one
            seed=self.seed,
            data_seed=self.seed,
            save_strategy="no",
            logging_steps=self.logging_steps,
            logging_first_step=True,
            report_to="none",
            disable_tqdm=not progress,
            dataloader_num_workers=0,
        )
