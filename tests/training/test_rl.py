"""GRPO from test outcomes: the reward (through the strict sandbox), the prompts, a short run."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from repomend.contract.conversation import Mode
from repomend.settings import SandboxSettings, Settings
from tests.support.repos import FIXED_MEAN, STATS_SOURCE, WRONG_MEAN, make_repo
from tests.support.sft_datasets import tiny_chat_model
from training.adapter_manifest import read_manifest
from training.errors import RLError
from training.generate import RunnerPool
from training.rewards import RewardConfig, RewardTask, TestOutcomeReward, reasoning_penalty
from training.rl_config import RLConfig
from training.rl_tasks import build_prompts
from training.rl_trainer import pooled_runner, train_grpo

__all__ = ["tiny_chat_model"]

CORRECT_SOURCE = STATS_SOURCE.replace("(len(self.xs) - 1)", "len(self.xs)")
MEAN_TESTS = ("tests/test_stats.py::test_mean", "tests/test_stats.py::test_mean_single")


def reply(code: str, reasoning: str | None = None) -> str:
    think = f"<think>\n{reasoning}\n</think>\n\n" if reasoning is not None else ""
    return f"{think}Here is the fix:\n```python\n{code}\n```"


def make_judge(root: Path, wall_seconds: float):
    """The reward on the stats repository (mean fixed), strict isolation."""
    repo = make_repo(root / "repo", source=CORRECT_SOURCE)
    settings = Settings(
        data_dir=root / "data",
        sandbox=SandboxSettings(isolation="strict", wall_seconds=wall_seconds),
        _env_file=None,
    )
    task = RewardTask("mean", "pkg/stats.py", "Stats.mean", MEAN_TESTS, CORRECT_SOURCE)
    repair = RewardTask("mean-repair", "pkg/stats.py", "Stats.mean", MEAN_TESTS, CORRECT_SOURCE, WRONG_MEAN)
    runners = RunnerPool(repo, sys.executable, settings, size=2, warm=False)
    return TestOutcomeReward(repo, {t.id: t for t in (task, repair)}, runners, RewardConfig(workers=2))


@pytest.fixture(scope="module")
def judge(tmp_path_factory: pytest.TempPathFactory):
    reward = make_judge(tmp_path_factory.mktemp("reward"), wall_seconds=60)
    yield reward
    reward.runners.close()


def test_a_correct_fix_scores_one_and_a_wrong_one_the_share_of_passing_tests(judge):
    correct, wrong = judge.judge_all([reply(FIXED_MEAN), reply(WRONG_MEAN)], ["mean", "mean"])
    assert (correct.reward, correct.verdict, correct.tests_passed) == (1.0, "passed", 2)
    # `return sum(self.xs)` passes test_mean_single only: half the tests, at half weight
    assert (wrong.reward, wrong.verdict, wrong.tests_passed) == (0.25, "failed", 1)


def test_unusable_answers_score_zero_without_a_test_run(judge):
    prose, other_method, repeated = judge.judge_all(
        [
            "The mean is the sum divided by the count.",
            reply("def total(self):\n    return 0"),
            reply(WRONG_MEAN),
        ],
        ["mean", "mean", "mean-repair"],
    )
    assert (prose.reward, prose.verdict) == (0.0, "no_code")
    assert (other_method.reward, other_method.verdict) == (0.0, "rejected")
    assert (repeated.reward, repeated.verdict) == (0.0, "unchanged")  # the answer the tests just rejected


def test_hostile_answers_score_zero_and_leave_the_host_alone(judge, tmp_path):
    marker = tmp_path / "written-by-the-candidate"
    shell = f"def mean(self):\n    import os\n    os.system('touch {marker}')\n    return None"
    touch = f"def mean(self):\n    import pathlib\n    pathlib.Path('{marker}').touch()\n    return None"
    screened, escaped = judge.judge_all([reply(shell), reply(touch)], ["mean", "mean"])
    assert (screened.reward, screened.verdict) == (0.0, "rejected") and "os.system" in screened.detail
    assert (escaped.reward, escaped.verdict) == (0.0, "failed")  # it ran: the sandbox kept the host
    assert not marker.exists()

    impatient = make_judge(tmp_path / "spin", wall_seconds=3)
    started = time.monotonic()
    try:
        [looped] = impatient.judge_all([reply("def mean(self):\n    while True:\n        pass")], ["mean"])
    finally:
        impatient.runners.close()
    assert (looped.reward, looped.verdict) == (0.0, "killed")
    assert time.monotonic() - started < 30


def test_long_reasoning_costs_a_little_per_token_and_at_most_the_cap(judge):
    config = RewardConfig()
    assert reasoning_penalty(100, config) == 0.0
    assert reasoning_penalty(250, config) == pytest.approx(0.15)
    assert reasoning_penalty(5000, config) == config.max_penalty
    short, long = judge.judge_all(
        [reply(FIXED_MEAN, "divide by the count"), reply(FIXED_MEAN, " ".join(["step"] * 250))],
        ["mean", "mean"],
    )
    assert short.reward == 1.0 and short.reasoning_tokens == 4
    assert long.reasoning_tokens == 250 and long.reward == pytest.approx(0.85)


def test_the_trainer_calls_it_with_one_task_id_per_completion(judge):
    rewards = judge(prompts=["p", "p"], completions=[reply(FIXED_MEAN), "no code"], task_id=["mean", "mean"])
    assert rewards == [1.0, 0.0]
    assert judge.batches[-1]["pass_rate"] == 0.5 and judge.batches[-1]["verdicts"] == {
        "passed": 1,
        "no_code": 1,
    }


@pytest.fixture(scope="module")
def shapes_runner(shapes_extraction):
    repo = Path(shapes_extraction.manifest.repository)
    settings = Settings(
        data_dir=repo.parent / "rl-data",
        sandbox=SandboxSettings(isolation="strict", wall_seconds=30),
        _env_file=None,
    )
    runners = RunnerPool(repo, sys.executable, settings, size=1, warm=False)
    yield repo, pooled_runner(runners)
    runners.close()


def test_prompts_are_the_loops_first_turn_and_a_rejected_mutant_with_its_feedback(
    shapes_extraction, shapes_runner
):
    repo, run = shapes_runner
    [record] = [r for r in shapes_extraction.records if r.qualname == "clamp"]
    found, skipped = build_prompts(repo, [record], run, setting="both", mutants_per_method=1)
    assert skipped == {}
    generate, repair = found
    assert generate.setting == "generate" and generate.messages == record.opening_messages()
    assert repair.setting == "repair"
    assert [m["role"] for m in repair.messages] == ["system", "user", "assistant", "user"]
    assert repair.messages[3]["content"].startswith("Correct the answer. Tests failed:\nTEST_RESULT:\n")
    assert repair.task.rejected_answer and repair.task.rejected_answer.strip() != record.method_text.strip()
    assert repair.task.tests == tuple(record.tests) and repair.task.source == (repo / record.path).read_text()


def test_prompts_render_as_the_backend_renders_them_at_serve_time(tiny_chat_model, tmp_path):
    from transformers import AutoTokenizer

    from repomend.backends.transformers_backend import TransformersBackend
    from repomend.contract import prompts
    from repomend.contract.rendering import ChatTemplate, render_prompt

    messages = prompts.opening_messages(
        method="f",
        class_name=None,
        declaration="def f(x):",
        docstring=None,
        file_content="def f(x):\n",
        path="m.py",
        line=0,
    )
    backend = TransformersBackend(Settings(model=str(tiny_chat_model), data_dir=tmp_path, _env_file=None))
    tokenizer = AutoTokenizer.from_pretrained(tiny_chat_model)
    try:
        for mode in Mode:
            assert render_prompt(
                ChatTemplate.from_tokenizer(tokenizer), messages, mode
            ) == backend.render_prompt(messages, mode)
    finally:
        backend.close()


def test_a_short_grpo_run_on_the_tiny_model_writes_an_adapter(shapes_extraction, tiny_chat_model, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    repo = Path(shapes_extraction.manifest.repository)
    settings = Settings(
        model=str(tiny_chat_model),
        data_dir=tmp_path / "data",
        sandbox=SandboxSettings(isolation="strict", wall_seconds=30),
        _env_file=None,
    )
    config = RLConfig(
        setting="generate",
        max_steps=2,
        num_generations=2,
        prompts_per_step=1,
        max_completion_length=8,
        max_methods=1,
        reward=RewardConfig(workers=1, warm=False),
    )
    extraction = shapes_extraction.folder
    out = train_grpo(extraction, repo, sys.executable, None, tmp_path / "g", settings, config, progress=False)
    manifest = read_manifest(out)
    assert manifest.training["method"] == "grpo" and manifest.parent is None
    assert manifest.training["prompts"] == {"generate": 1, "repair": 0, "used": 1}
    assert manifest.metrics["steps"] == 2 and manifest.metrics["reward_batches"] == 2
    assert sum(manifest.metrics["verdicts"].values()) == 4  # 2 steps x 1 prompt x 2 answers, each judged
    assert manifest.dataset.version == shapes_extraction.manifest.version
    assert any("reward" in row for row in json.loads((out / "training_log.json").read_text()))
    PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_chat_model), str(out))

    with pytest.raises(RLError, match="already holds a finished adapter"):
        train_grpo(
            shapes_extraction.folder, repo, sys.executable, None, out, settings, config, progress=False
        )


def test_a_job_configuration_becomes_a_grpo_configuration():
    config = RLConfig.from_dict(
        {"max_steps": 20, "splits": ["train"], "reward": {"partial_credit": 0.0}, "lora": {"lora_r": 8}}
    )
    assert config.max_steps == 20 and config.reward.partial_credit == 0.0 and config.lora.lora_r == 8
    assert RLConfig.from_dict(config.to_dict() | {"lora": {"lora_r": 8}}) == config
    with pytest.raises(RLError, match="held-out"):
        RLConfig.from_dict({"splits": ["heldout"]})
    with pytest.raises(RLError, match="unexpected keyword"):
        RLConfig.from_dict({"steps": 3})


@pytest.mark.slow
def test_the_default_model_answers_grpo_prompts_with_code_the_tests_can_judge(tmp_path):
    """One GRPO step of SmolLM2-135M on the stats repository: its sampled answers are spliced and tested."""
    from training.extract import extract

    repo = make_repo(tmp_path / "repo", source=CORRECT_SOURCE)
    settings = Settings(sandbox=SandboxSettings(isolation="strict", wall_seconds=60))
    extraction = extract(
        repo, python=sys.executable, settings=settings, heldout_fraction=0.0, validation_fraction=0.0,
        out=tmp_path / "extract",
    )  # fmt: skip
    config = RLConfig(
        setting="repair", max_steps=1, num_generations=4, prompts_per_step=1, max_completion_length=96,
        max_methods=2, reward=RewardConfig(workers=2),
    )  # fmt: skip
    out = train_grpo(extraction.folder, repo, sys.executable, None, tmp_path / "g", settings, config,
                     progress=False)  # fmt: skip
    verdicts = read_manifest(out).metrics["verdicts"]
    assert sum(verdicts.values()) == 4
    assert verdicts.get("no_code", 0) < 4  # at least one answer held a python block that was tested
