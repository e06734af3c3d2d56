"""GRPO on the sample repository with the default model: wall time and reward before vs after.

Run: `.venv/bin/python benchmarks/grpo_demo.py [--setting repair] [--steps 10] [--eval-samples 2]`.
The sample repository (`repomend/demo_repo`, four tested functions) is copied to a temporary
folder and extracted; GRPO trains a fresh LoRA adapter of the configured model (default
SmolLM2-135M) on its prompts (default: repair a rejected mutant; from-scratch generation is
beyond the 135M model, so it earns no reward to learn from) with the tests as reward. Printed:
the training wall time, the mean reward of the first vs last training batches, and (with
--eval-samples > 0) the mean reward and pass rate of the base model and of the trained adapter
on every prompt, sampled the same way, before and after. Timings need an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

from repomend.contract.conversation import Mode
from repomend.contract.rendering import ChatTemplate, completion_prefix
from repomend.settings import SandboxSettings, Settings
from training.extract import extract
from training.generate import RunnerPool
from training.rewards import RewardConfig, TestOutcomeReward
from training.rl_config import RLConfig
from training.rl_tasks import build_prompts
from training.rl_trainer import pooled_runner, prompt_rows, train_grpo
from training.starting_model import load_tokenizer_and_base

DEMO_REPO = Path(__file__).resolve().parent.parent / "repomend" / "demo_repo"


def evaluate(model, tokenizer, rows, reward, config: RLConfig, samples: int, seed: int) -> dict:
    """Mean reward and pass rate of `samples` answers per prompt, sampled as in training,
    all prompts in one left-padded batch."""
    torch.manual_seed(seed)
    model.eval()
    tokenizer.padding_side = "left"
    inputs = tokenizer([row["prompt"] for row in rows], return_tensors="pt", padding=True)
    with torch.inference_mode():
        output = model.generate(
            **inputs,
            do_sample=True,
            temperature=config.temperature,
            max_new_tokens=config.max_completion_length,
            num_return_sequences=samples,
            pad_token_id=tokenizer.pad_token_id,
        )
    texts = tokenizer.batch_decode(output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    judged = reward.judge_all(texts, [row["task_id"] for row in rows for _ in range(samples)])
    count = len(judged)
    return {
        "mean_reward": round(sum(j.reward for j in judged) / count, 4),
        "pass_rate": round(sum(j.verdict == "passed" for j in judged) / count, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", choices=("generate", "repair", "both"), default="repair")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--generations", type=int, default=4)
    parser.add_argument("--prompts-per-step", type=int, default=1)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--max-completion-length", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--eval-samples", type=int, default=2, help="answers per prompt, 0: skip")
    parser.add_argument("--keep", type=Path, help="copy the trained adapter here")
    args = parser.parse_args()

    settings = Settings().model_copy(update={"sandbox": SandboxSettings(isolation="strict", wall_seconds=60)})
    work = Path(tempfile.mkdtemp(prefix="repomend-grpo-demo-"))
    evaluation = None
    try:
        repo = work / "statkit-repo"
        shutil.copytree(DEMO_REPO, repo)
        python = sys.executable
        started = time.perf_counter()
        extraction = extract(
            repo, python=python, settings=settings, heldout_fraction=0.0, validation_fraction=0.0,
            out=work / "extract",
        )  # fmt: skip
        print(f"extracted {len(extraction.records)} methods in {time.perf_counter() - started:.1f} s")
        config = RLConfig(
            setting=args.setting,
            max_steps=args.steps,
            num_generations=args.generations,
            prompts_per_step=args.prompts_per_step,
            max_completion_length=args.max_completion_length,
            learning_rate=args.lr,
            temperature=args.temperature,
            reward=RewardConfig(workers=2),
        )
        before = after = None
        evaluation = Evaluation(settings, extraction, repo, python, config) if args.eval_samples else None
        if evaluation:
            print(f"{len(evaluation.prompts)} prompts")
            before = evaluation.run(None, args.eval_samples)
            print(f"before: {json.dumps(before)}")
        started = time.perf_counter()
        out = train_grpo(
            extraction.folder, repo, python, None, work / "grpo", settings, config, progress=False,
            on_status=print,
        )  # fmt: skip
        wall = time.perf_counter() - started
        metrics = json.loads((out / "repomend_adapter.json").read_text())["metrics"]
        if evaluation:
            after = evaluation.run(out, args.eval_samples)
        m = metrics
        print(f"GRPO: {m['steps']} steps in {wall:.0f} s wall ({m['seconds_per_step']} s/step, "
              f"reward runs {m['reward_seconds']} s)")  # fmt: skip
        print(f"training batches: mean reward {m['reward_mean_start']} -> {m['reward_mean_end']}, "
              f"pass rate {m['pass_rate_start']} -> {m['pass_rate_end']}")  # fmt: skip
        print(f"reward per batch: {m['reward_history']}")
        print(f"verdicts: {m['verdicts']}")
        if before and after:
            print(f"evaluation ({args.eval_samples} answers per prompt): "
                  f"mean reward {before['mean_reward']} -> {after['mean_reward']}, "
                  f"pass rate {before['pass_rate']} -> {after['pass_rate']}")  # fmt: skip
        if args.keep:
            shutil.copytree(out, args.keep)
            print(f"adapter copied to {args.keep}")
    finally:
        if evaluation:
            evaluation.close()
        shutil.rmtree(work, ignore_errors=True)


class Evaluation:
    """The prompts GRPO trains on, built once, and their reward, for the before/after figures."""

    def __init__(self, settings, extraction, repo, python, config) -> None:
        self.settings, self.config = settings, config
        self.runners = RunnerPool(repo, python, settings, size=2, warm=True)
        prompts, _ = build_prompts(
            repo, extraction.records, pooled_runner(self.runners), setting=config.setting, seed=config.seed
        )
        self.prompts = prompts
        tasks = {p.task.id: p.task for p in prompts}
        self.reward = TestOutcomeReward(repo, tasks, self.runners, config.reward)

    def run(self, adapter: Path | None, samples: int) -> dict:
        from peft import PeftModel

        tokenizer, model, _ = load_tokenizer_and_base(self.settings)
        if adapter is not None:
            model = PeftModel.from_pretrained(model, str(adapter))
        rows, _ = prompt_rows(self.prompts, tokenizer, Mode.NO_THINK, self.config.max_prompt_length)
        self.reward.completion_prefix = completion_prefix(
            ChatTemplate.from_tokenizer(tokenizer), Mode.NO_THINK
        )
        return evaluate(model, tokenizer, rows, self.reward, self.config, samples, seed=1)

    def close(self) -> None:
        self.runners.close()


if __name__ == "__main__":
    main()
