"""The trainers' flags are made from their config dataclasses: names, defaults and values agree."""

from __future__ import annotations

import pytest

from repomend.cli import build_parser
from training.commands import dpo, grpo, sft
from training.commands.options import config_values
from training.preference_config import PreferenceConfig
from training.rewards import RewardConfig
from training.rl_config import RLConfig
from training.sft_config import SFTConfig


def parse(*argv: str):
    return build_parser().parse_args(["train", *argv])


def test_unset_flags_are_the_configs_defaults():
    assert SFTConfig(**config_values(parse("sft", "ds"), sft.FLAGS)) == SFTConfig()
    args = parse("dpo", "p.jsonl", "--adapter", "a")
    assert PreferenceConfig(**config_values(args, dpo.FLAGS)) == PreferenceConfig()
    args = parse("grpo", "ex")
    assert RLConfig(**config_values(args, grpo.FLAGS)) == RLConfig()
    assert RewardConfig(**config_values(args, grpo.REWARD_FLAGS)) == RewardConfig()


def test_flags_keep_their_names_and_types():
    args = parse("sft", "ds", "--epochs", "1.5", "--max-steps", "3", "--max-length", "512", "--seed", "7",
                 "--warmup-steps", "0", "--changed-token-weight", "4")  # fmt: skip
    assert config_values(args, sft.FLAGS) == {
        "epochs": 1.5, "max_steps": 3, "max_seconds": None, "warmup_steps": 0, "max_length": 512,
        "upper_layers": None, "validation_rows": None, "changed_token_weight": 4.0, "seed": 7,
    }  # fmt: skip
    assert config_values(parse("sft", "ds", "--upper-layers", "6"), sft.FLAGS)["upper_layers"] == 6
    args = parse("dpo", "p.jsonl", "--adapter", "a", "--lr", "1e-6", "--batch", "4", "--beta", "0.2")
    assert (args.learning_rate, args.effective_batch_size, args.beta) == (1e-6, 4, 0.2)
    args = parse("grpo", "ex", "--steps", "5", "--generations", "2", "--lr", "2e-5", "--mode", "think")
    assert (args.max_steps, args.num_generations, args.learning_rate, args.mode) == (5, 2, 2e-5, "think")
    assert parse("grpo", "ex", "--workers", "3").workers == 3
    with pytest.raises(SystemExit):
        parse("grpo", "ex", "--setting", "neither")
