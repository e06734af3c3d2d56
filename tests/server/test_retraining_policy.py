"""The retraining policy's trainer settings come from the trainers' config dataclasses."""

from __future__ import annotations

from server.retraining.policy import SFT_FIELDS, RetrainingPolicy
from training.rl_config import RLConfig
from training.sft_config import SFTConfig


def test_sft_fields_default_to_the_sft_config_and_make_one():
    policy = RetrainingPolicy()
    assert {name: getattr(policy, name) for name in SFT_FIELDS} == {
        name: getattr(SFTConfig(), name) for name in SFT_FIELDS
    }
    assert policy.sft_config() == SFTConfig()
    custom = RetrainingPolicy(
        epochs=1, max_steps=2, learning_rate=5e-4, warmup_steps=1, max_length=2000, seed=3
    )
    assert custom.sft_config() == SFTConfig(
        epochs=1, max_steps=2, learning_rate=5e-4, warmup_steps=1, max_length=2000, seed=3
    )


def test_grpo_takes_the_jobs_steps_method_cap_and_seed():
    config = RetrainingPolicy(grpo_steps=7, max_methods=4, seed=2).grpo_config()
    assert config == RLConfig(max_steps=7, max_methods=4, seed=2)
