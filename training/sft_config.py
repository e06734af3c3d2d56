"""The settings of supervised fine-tuning (`SFTConfig`), in one place the adapter's manifest records."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from training.errors import SFTError

BF16_HELP = (
    "bf16 mixed precision; None = where the hardware runs bf16 natively (a GPU, a CPU with AVX512-BF16 "
    "or AMX), fp32 elsewhere"
)
"""What `bf16: None` means to SFT and DPO (`training.starting_model.chosen_bf16`)."""

ATTENTION_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj")


@dataclass(frozen=True)
class SFTConfig:
    """Settings of one SFT run of a LoRA adapter (TRL `SFTTrainer` + PEFT).

    Defaults are the recipe of *Fixing on the Fly* (domain-specific program repair for small models,
    summarised in DESIGN.md): LoRA r=32, alpha=64, dropout 0.05 on the attention projections
    q/k/v/o, lr 1e-4 with a cosine schedule and 10 warm-up steps, weight decay 0.001, gradient
    clipping at 1.0, an effective batch of 8. A field's `help` is the help of its flag
    (`repomend train sft`) and of the retraining policy's field of that name, which also takes
    its default.

    Parameters:
        > Length of the run: epochs, max_steps (None runs every epoch).

        > Optimiser: learning_rate, lr_scheduler, warmup_steps, weight_decay, max_grad_norm.

        > Batches: effective_batch_size, per_device_batch_size, max_length. Gradient accumulation
          makes up the effective batch; one row per forward pass wastes nothing on padding and
          bounds memory on a CPU (raise it on a GPU). Rows longer than `max_length` are left out
          and counted, never cut (a cut answer teaches a cut answer); it is capped at the model's
          context. Prompts hold at most `FILE_CONTEXT_CHARS` of the file (about 1,000 tokens of
          code) plus up to 3,000 characters of test output per turn.

        > The adapter: lora_r, lora_alpha, lora_dropout, target_modules, upper_layers. With
          `upper_layers` the lower layers have no LoRA weights and their activations take no part in
          the backward pass (the embeddings' output does not require gradients), which saves the
          backward through them.

        > The loss: changed_token_weight (see `training.answer_weights`).

        > Run-time: seed, gradient_checkpointing, logging_steps, extra. Checkpointing recomputes
          activations in the backward pass: measured on SmolLM2-135M, CPU, one 2,048-token row,
          peak memory 4.6 GB instead of 8.7 GB for about the same time (the CPU is compute-bound).
    """

    epochs: float = field(default=3.0, metadata={"help": "passes over the training rows"})
    max_steps: int | None = field(
        default=None, metadata={"help": "stop after this many optimiser steps (short CPU runs)"}
    )
    learning_rate: float = field(default=1e-4, metadata={"help": "peak learning rate"})
    lr_scheduler: str = field(default="cosine", metadata={"help": "learning-rate schedule"})
    warmup_steps: int = field(default=10, metadata={"help": "warm-up steps; fewer for runs of a few steps"})
    weight_decay: float = field(default=0.001, metadata={"help": "AdamW weight decay"})
    max_grad_norm: float = field(default=1.0, metadata={"help": "gradient clipping"})
    effective_batch_size: int = field(default=8, metadata={"help": "rows per optimiser step"})
    per_device_batch_size: int = field(default=1, metadata={"help": "rows per forward pass"})
    max_length: int = field(
        default=8192, metadata={"help": "tokens; longer conversations are left out, never cut"}
    )
    lora_r: int = field(default=32, metadata={"help": "LoRA rank"})
    lora_alpha: int = field(default=64, metadata={"help": "LoRA scaling numerator"})
    lora_dropout: float = field(default=0.05, metadata={"help": "dropout on the LoRA input"})
    target_modules: tuple[str, ...] = field(
        default=ATTENTION_PROJECTIONS, metadata={"help": "modules that get LoRA weights"}
    )
    upper_layers: int | None = field(
        default=None,
        metadata={
            "help": "LoRA on the top N decoder layers only, so the backward pass stops below them "
            "(less compute per step on a CPU); None = every layer"
        },
    )
    max_seconds: float | None = field(
        default=None,
        metadata={
            "help": "training time budget: the run ends, as finished, before the first optimiser step "
            "that would end past it (a CPU job's limit); None = the whole recipe"
        },
    )
    changed_token_weight: float = field(
        default=1.0,
        metadata={
            "help": "loss weight of the answer tokens a fix changes (not copied from the prompt) against "
            "the copied ones, each answer keeping its total weight; 1 = plain cross-entropy"
        },
    )
    validation_rows: int | None = field(
        default=None,
        metadata={
            "help": "validation rows the loss is measured on, the first N (about 4 s a row of the "
            "0.5B on a 2-core CPU in bf16); None = all"
        },
    )
    bf16: bool | None = field(default=None, metadata={"help": BF16_HELP})
    seed: int = field(default=0, metadata={"help": "seed of the adapter's initialisation and data order"})
    gradient_checkpointing: bool = field(
        default=True, metadata={"help": "recompute activations in the backward pass (half the memory)"}
    )
    logging_steps: int = field(default=5, metadata={"help": "optimiser steps between log lines"})
    extra: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "free-form notes for the manifest (e.g. who asked for the run)"},
    )

    def __post_init__(self) -> None:
        if self.epochs <= 0:
            raise SFTError("epochs must be positive")
        if self.max_steps is not None and self.max_steps < 1:
            raise SFTError("max steps must be at least 1")
        if self.per_device_batch_size < 1 or self.effective_batch_size < 1:
            raise SFTError("batch sizes must be at least 1")
        if self.effective_batch_size % self.per_device_batch_size:
            raise SFTError(
                f"the effective batch ({self.effective_batch_size}) must be a multiple of the per-device "
                f"batch ({self.per_device_batch_size})"
            )
        if self.lora_r < 1 or self.max_length < 16 or self.learning_rate <= 0:
            raise SFTError("lora r, max length and learning rate must be positive")
        if not self.target_modules:
            raise SFTError("name at least one target module")
        if self.upper_layers is not None and self.upper_layers < 1:
            raise SFTError("upper layers must be at least 1 (or None for every layer)")
        if self.max_seconds is not None and self.max_seconds <= 0:
            raise SFTError("max seconds must be positive (or None for no limit)")
        if self.changed_token_weight <= 0:
            raise SFTError("the changed tokens' weight must be positive")
        if self.validation_rows is not None and self.validation_rows < 1:
            raise SFTError("validation rows must be at least 1 (or None for all)")

    @property
    def gradient_accumulation_steps(self) -> int:
        return self.effective_batch_size // self.per_device_batch_size

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["target_modules"] = list(self.target_modules)
        data["gradient_accumulation_steps"] = self.gradient_accumulation_steps
        return data

    def lora(self, num_layers: int | None = None) -> Any:
        """PEFT's LoraConfig for a causal language model of `num_layers` decoder layers."""
        from peft import LoraConfig

        layers = None
        if self.upper_layers is not None:
            if num_layers is None:
                raise SFTError("LoRA on the upper layers needs the model's number of layers")
            layers = list(range(max(0, num_layers - self.upper_layers), num_layers))
        return LoraConfig(
            r=self.lora_r,
            lora_alpha=self.lora_alpha,
            lora_dropout=self.lora_dropout,
            target_modules=list(self.target_modules),
            layers_to_transform=layers,
            bias="none",
            task_type="CAUSAL_LM",
        )

    def sft_arguments(self, output_dir: str, *, has_eval: bool, progress: bool, gpu: bool, bf16: bool) -> Any:
        """TRL's SFTConfig: loss on the completion only, a checkpoint (and evaluation) per epoch."""
        from trl import SFTConfig as TrlSFTConfig

        return TrlSFTConfig(
            output_dir=output_dir,
            num_train_epochs=self.epochs,
            max_steps=self.max_steps if self.max_steps is not None else -1,
            learning_rate=self.learning_rate,
            lr_scheduler_type=self.lr_scheduler,
            warmup_steps=self.warmup_steps,
            weight_decay=self.weight_decay,
            max_grad_norm=self.max_grad_norm,
            per_device_train_batch_size=self.per_device_batch_size,
            per_device_eval_batch_size=self.per_device_batch_size,
            gradient_accumulation_steps=self.gradient_accumulation_steps,
            gradient_checkpointing=self.gradient_checkpointing,
            max_length=self.max_length,
            completion_only_loss=True,
            assistant_only_loss=False,
            packing=False,
            seed=self.seed,
            data_seed=self.seed,
            bf16=bf16,
            fp16=False,
            use_cpu=not gpu,  # transformers refuses bf16 on a CPU unless told it is one
            save_strategy="epoch",
            save_total_limit=2,
            eval_strategy="epoch" if has_eval else "no",
            logging_steps=self.logging_steps,
            logging_first_step=True,
            report_to="none",
            disable_tqdm=not progress,
            dataloader_num_workers=0,
            dataloader_pin_memory=gpu,  # pinned memory only helps copies to a GPU
            dataset_num_proc=None,
            include_num_input_tokens_seen="non_padding",
            remove_unused_columns=True,
        )
