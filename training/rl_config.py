"""The settings of reinforcement learning from the repository's tests (`RLConfig`, TRL `GRPOTrainer`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from repomend.contract.conversation import Mode
from training.errors import RLError
from training.rewards import RewardConfig
from training.sft_config import SFTConfig

Setting = Literal["generate", "repair", "both"]
"""generate: the method with its body removed; repair: a rejected mutant and its test feedback."""


@dataclass(frozen=True)
class RLConfig:
    """Settings of one GRPO run, rewarded by the covering tests in the sandbox.

    Each field's `help` is its flag's help where `repomend train grpo` makes it a flag; a
    retraining job (`RetrainingPolicy.grpo_config`) sets a few fields and keeps these defaults.

    Parameters:
        > Prompts: setting, mode, splits, max_methods, mutants_per_method, max_mutant_trials,
          max_prompt_length. In think mode the completion limit bounds reasoning and answer
          together; the reward's reasoning penalty keeps reasoning short. Held-out methods are
          never trained on.

        > Sampling: num_generations, prompts_per_step, max_completion_length, temperature, top_p.
          GRPO compares each answer with its group's mean. The temperature is the repair loop's:
          a small model at 1.0 writes mostly unusable answers, and a group whose answers all
          score 0 teaches nothing.

        > Optimiser: max_steps, learning_rate, beta, loss_type, lr_scheduler, warmup,
          weight_decay, max_grad_norm. `beta` 0 skips the reference forward pass (TRL's default).

        > Reward and adapter: reward (`training.rewards.RewardConfig`), lora (the LoRA shape of a
          fresh adapter, used only when training starts without one).

        > Run-time: seed, logging_steps.
    """

    setting: Setting = field(
        default="both", metadata={"help": "prompts: write the removed body, fix a rejected mutant, or both"}
    )
    mode: Mode | None = field(
        default=None, metadata={"help": "the mode the adapter will serve in (default: REPOMEND_MODE)"}
    )
    max_steps: int = field(default=100, metadata={"help": "optimiser steps", "flag": "--steps"})
    num_generations: int = field(default=4, metadata={"help": "answers per prompt", "flag": "--generations"})
    prompts_per_step: int = field(default=2, metadata={"help": "prompts per step"})
    max_completion_length: int = field(default=256, metadata={"help": "tokens per answer"})
    max_prompt_length: int = field(default=2048, metadata={"help": "tokens; longer prompts are left out"})
    temperature: float = field(default=0.7, metadata={"help": "sampling temperature"})
    top_p: float = field(default=1.0, metadata={"help": "nucleus sampling"})
    learning_rate: float = field(default=1e-5, metadata={"help": "learning rate", "flag": "--lr"})
    beta: float = field(default=0.0, metadata={"help": "KL weight against the start"})
    loss_type: str = field(default="dapo", metadata={"help": "TRL's GRPO loss"})
    lr_scheduler: str = field(default="constant", metadata={"help": "learning-rate schedule"})
    warmup: float = field(default=0.0, metadata={"help": "warm-up steps, or a fraction (below 1) of all"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    max_grad_norm: float = field(default=1.0, metadata={"help": "gradient clipping"})
    splits: tuple[str, ...] = field(default=("train",), metadata={"help": "splits the methods come from"})
    max_methods: int | None = field(
        default=None, metadata={"help": "use a reproducible sample of this many methods"}
    )
    mutants_per_method: int = field(default=1, metadata={"help": "repair prompts per method"})
    max_mutant_trials: int = field(default=6, metadata={"help": "mutants tried per method at most"})
    seed: int = field(default=0, metadata={"help": "seed of sampling and data order"})
    logging_steps: int = field(default=1, metadata={"help": "optimiser steps between log lines"})
    reward: RewardConfig = field(default_factory=RewardConfig, metadata={"help": "how answers are scored"})
    lora: SFTConfig = field(default_factory=SFTConfig, metadata={"help": "LoRA shape of a fresh adapter"})

    def __post_init__(self) -> None:
        if self.num_generations < 2:
            raise RLError("GRPO needs at least 2 generations per prompt")
        if self.max_steps < 1 or self.prompts_per_step < 1 or self.max_completion_length < 1:
            raise RLError("max steps, prompts per step and completion length must be at least 1")
        if self.learning_rate <= 0 or self.temperature <= 0:
            raise RLError("learning rate and temperature must be positive")
        if not set(self.splits) <= {"train", "validation"}:
            raise RLError("GRPO trains on the train and validation splits only, never on held-out methods")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RLConfig:
        """From a job's configuration (JSON): nested `reward` and `lora` objects, lists for tuples."""
        values = dict(values)
        if isinstance(values.get("reward"), dict):
            values["reward"] = RewardConfig(**values["reward"])
        if isinstance(values.get("lora"), dict):
            lora = dict(values["lora"])
            if "target_modules" in lora:
                lora["target_modules"] = tuple(lora["target_modules"])
            values["lora"] = SFTConfig(**lora)
        if "splits" in values:
            values["splits"] = tuple(values["splits"])
        try:
            return cls(**values)
        except (TypeError, ValueError) as err:
            raise RLError(f"bad GRPO configuration: {err}") from err

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["splits"] = list(self.splits)
        data["lora"] = {k: data["lora"][k] for k in ("lora_r", "lora_alpha", "lora_dropout")} | {
            "target_modules": list(self.lora.target_modules)
        }
        return data

    def grpo_arguments(self, output_dir: str, *, progress: bool) -> Any:
        from trl import GRPOConfig

        from training.starting_model import use_bf16

        return GRPOConfig(
            output_dir=output_dir,
            max_steps=self.max_steps,
            num_generations=self.num_generations,
            per_device_train_batch_size=self.num_generations,
            gradient_accumulation_steps=self.prompts_per_step,
            max_completion_length=self.max_completion_length,
            temperature=self.temperature,
            top_p=self.top_p,
            learning_rate=self.learning_rate,
            beta=self.beta,
            loss_type=self.loss_type,
            lr_scheduler_type=self.lr_scheduler,
            warmup_steps=self.warmup,
            weight_decay=self.weight_decay,
            max_grad_norm=self.max_grad_norm,
            gradient_checkpointing=False,
            bf16=use_bf16(),
            fp16=False,
            seed=self.seed,
            data_seed=self.seed,
            save_strategy="no",
            logging_steps=self.logging_steps,
            report_to="none",
            disable_tqdm=not progress,
            dataloader_num_workers=0,
            log_completions=False,
        )
