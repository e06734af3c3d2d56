"""The retraining policy's trainer settings come from the trainers' config dataclasses."""

from __future__ import annotations

from server.retraining.policy import CPU_UPPER_LAYERS, JOB_SFT_SECONDS, SFT_FIELDS, RetrainingPolicy
from training.rl_config import RLConfig
from training.sft_config import SFTConfig


def test_sft_fields_default_to_the_sft_config_and_make_one():
    policy = RetrainingPolicy()
    recipe = [name for name in SFT_FIELDS if name != "max_seconds"]
    defaults = SFTConfig()
    assert {n: getattr(policy, n) for n in recipe} == {n: getattr(defaults, n) for n in recipe}
    # a job's SFT ends within 2 hours: the recipe on a GPU; on a CPU LoRA on the upper layers
    assert policy.sft_config(gpu=True) == SFTConfig(max_seconds=JOB_SFT_SECONDS) and JOB_SFT_SECONDS == 7200
    on_cpu = SFTConfig(max_seconds=JOB_SFT_SECONDS, upper_layers=CPU_UPPER_LAYERS)
    assert policy.sft_config(gpu=False) == on_cpu
    assert RetrainingPolicy(upper_layers=0).sft_config(gpu=False) == SFTConfig(max_seconds=JOB_SFT_SECONDS)
    custom = RetrainingPolicy(
        epochs=1, max_steps=2, learning_rate=5e-4, warmup_steps=1, max_length=2000, upper_layers=6,
        validation_rows=8, changed_token_weight=4, max_seconds=None, seed=3,
    )  # fmt: skip
    assert custom.sft_config() == SFTConfig(
        epochs=1, max_steps=2, learning_rate=5e-4, warmup_steps=1, max_length=2000, upper_layers=6,
        validation_rows=8, changed_token_weight=4.0, seed=3,
    )  # fmt: skip


def test_grpo_takes_the_jobs_steps_method_cap_and_seed():
    config = RetrainingPolicy(grpo_steps=7, max_methods=4, seed=2).grpo_config()
    assert config == RLConfig(max_steps=7, max_methods=4, seed=2)


def test_think_items_get_their_reasoning_from_the_local_teacher_when_there_is_one():
    from server.retraining.training_steps import reasoning_teacher

    assert reasoning_teacher(RetrainingPolicy()) == "local:qwen2.5-coder-1.5b"  # the defaults have it
    assert reasoning_teacher(RetrainingPolicy(teachers=["mutation"])) == "student"


def test_model_teachers_repair_a_fixed_sample_spread_over_the_training_methods():
    from server.retraining.training_steps import model_teacher_methods

    methods = [f"pkg/m{i // 10}.py::f{i}" for i in range(40)]
    chosen = model_teacher_methods(methods, RetrainingPolicy(model_teacher_methods=12, seed=3))
    assert len(chosen) == 12 and chosen == [m for m in methods if m in chosen]  # in the given order
    assert chosen == model_teacher_methods(methods, RetrainingPolicy(model_teacher_methods=12, seed=3))
    assert len({m.split("::")[0] for m in chosen}) > 1  # not the first file's methods only
    assert model_teacher_methods(methods[:5], RetrainingPolicy()) == methods[:5]
    assert model_teacher_methods(methods, RetrainingPolicy(model_teacher_methods=None)) == methods
