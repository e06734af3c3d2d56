"""Reinforcement learning from the repository's tests: GRPO (TRL GRPOTrainer) with the sandbox as judge.

For each prompt (a method to generate, or a rejected mutant to repair, see `training.rl_tasks`)
the policy samples `num_generations` answers; each is spliced into the method's file and the
covering tests run in the sandbox (`training.rewards`); GRPO raises the likelihood of answers
that score above their group's mean. Training starts from an adapter (usually SFT's or DPO's)
or from a fresh LoRA adapter, and the result is an adapter folder in SFT's format.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from repomend.contract.conversation import Mode
from repomend.contract.rendering import ChatTemplate, completion_prefix, render_prompt
from repomend.loop import TestRunner
from repomend.settings import Settings
from training.adapter_manifest import AdapterManifest, DatasetRef
from training.callbacks import stop_callback
from training.errors import RLError, TrainerSetupError, TrainingCancelled
from training.generate import RunnerPool
from training.publish import check_out, publish, work_folder
from training.records import METHODS_FILE, read_manifest, read_records
from training.rewards import RewardSummary, TestOutcomeReward
from training.rl_config import RLConfig
from training.rl_tasks import RLPrompt, build_prompts
from training.starting_model import load_tokenizer_and_base, load_trainable_adapter
from training.storage import short_hash, training_root


def _sample(records: list, limit: int | None, seed: int) -> list:
    if limit is None or len(records) <= limit:
        return records
    chosen = random.Random(seed).sample(range(len(records)), limit)
    return [records[i] for i in sorted(chosen)]


def _strip_bos(tokenizer: Any, text: str) -> str:
    """The trainer tokenizes prompt text with special tokens; a template that writes the BOS itself
    would get it twice."""
    bos = tokenizer.bos_token
    adds_bos = bool(bos) and tokenizer("", add_special_tokens=True)["input_ids"][:1] == [
        tokenizer.bos_token_id
    ]
    return text[len(bos) :] if adds_bos and text.startswith(bos) else text


def prompt_rows(
    prompts: list[RLPrompt], tokenizer: Any, mode: Mode, max_prompt_length: int
) -> tuple[list[dict[str, str]], int]:
    """Dataset rows `{"prompt": text, "task_id": id}` and how many prompts were too long."""
    rows, too_long = [], 0
    for prompt in prompts:
        text = render_prompt(ChatTemplate.from_tokenizer(tokenizer), prompt.messages, mode)
        if len(tokenizer(text, add_special_tokens=False)["input_ids"]) > max_prompt_length:
            too_long += 1
            continue
        rows.append({"prompt": _strip_bos(tokenizer, text), "task_id": prompt.task.id})
    return rows, too_long


def _token_counter(tokenizer: Any) -> Callable[[str], int]:
    return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])


def _extraction_ref(folder: Path) -> DatasetRef:
    manifest = read_manifest(folder)
    digest = hashlib.sha256((folder / METHODS_FILE).read_bytes()).hexdigest()
    return DatasetRef(path=str(folder), version=manifest.version, hash=f"sha256:{digest}")


def train_grpo(
    extraction_dir: Path,
    repo: Path,
    python: str | Path,
    start_adapter: Path | None,
    out_dir: Path,
    settings: Settings,
    config: RLConfig | None = None,
    *,
    progress: bool = True,
    should_cancel: Callable[[], bool] | None = None,
    on_status: Callable[[str], None] | None = None,
) -> Path:
    """GRPO on the extraction's methods, rewarded by their tests in `repo`; returns the adapter folder.

    `start_adapter` None trains a fresh LoRA adapter (shape from `config.lora`) on the base model.
    """
    import torch
    from datasets import Dataset
    from trl import GRPOTrainer

    config = config or RLConfig()
    status = on_status or (lambda _text: None)
    extraction_dir = Path(extraction_dir).resolve()
    repo = Path(repo).resolve()
    out = _checked_out(out_dir)
    if not (extraction_dir / METHODS_FILE).is_file():
        raise RLError(f"{extraction_dir} holds no {METHODS_FILE}: pass a `repomend train extract` folder")
    if not repo.is_dir():
        raise RLError(f"no such repository folder: {repo}")
    if not Path(python).exists():
        raise RLError(f"no such interpreter: {python}")
    records = [r for r in read_records(extraction_dir) if r.split in config.splits]
    records = _sample(records, config.max_methods, config.seed)
    if not records:
        raise RLError(f"{extraction_dir} holds no method in the {'/'.join(config.splits)} split")
    mode = Mode(config.mode or settings.mode)
    if settings.threads:
        torch.set_num_threads(settings.threads)

    runners = RunnerPool(repo, python, settings, size=config.reward.workers, warm=config.reward.warm)
    work = work_folder(out)
    try:
        prompts, skipped = build_prompts(
            repo,
            records,
            pooled_runner(runners),
            setting=config.setting,
            mutants_per_method=config.mutants_per_method,
            max_mutant_trials=config.max_mutant_trials,
            seed=config.seed,
            on_status=status,
        )
        if not prompts:
            raise RLError(f"no usable prompt: {_describe(skipped) or 'no method'}")
        status(f"loading {settings.model}" + (f" with the adapter {start_adapter}" if start_adapter else ""))
        try:
            if start_adapter is not None:
                tokenizer, model, location = load_trainable_adapter(settings, Path(start_adapter).resolve())
                peft_config = None
            else:
                tokenizer, model, location = load_tokenizer_and_base(settings)
                peft_config = config.lora.lora()
        except TrainerSetupError as err:
            raise RLError(str(err)) from err
        rows, too_long = prompt_rows(prompts, tokenizer, mode, config.max_prompt_length)
        if too_long:
            skipped["prompt_too_long"] = too_long
        if not rows:
            raise RLError(f"every prompt is longer than {config.max_prompt_length} tokens")
        reward = TestOutcomeReward(
            repo,
            {p.task.id: p.task for p in prompts},
            runners,
            config.reward,
            completion_prefix=completion_prefix(ChatTemplate.from_tokenizer(tokenizer), mode),
            count_tokens=_token_counter(tokenizer),
        )
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        stop = stop_callback(should_cancel)
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=[reward],
            args=config.grpo_arguments(str(work), progress=progress),
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=[stop],
        )
        status(
            f"GRPO on {len(rows)} prompts from {len(records)} methods, "
            f"{config.num_generations} answers each, {config.max_steps} steps"
        )
        started = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - started
        if stop.stopped:
            raise TrainingCancelled(f"GRPO stopped at step {trainer.state.global_step}; nothing was written")
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    finally:
        runners.close()

    summary = RewardSummary.of(reward.batches)
    settings_used = {
        "method": "grpo",
        **config.to_dict(),
        "mode": str(mode),
        "model_location": location,
        "device": str(trainer.args.device),
        "bf16": bool(trainer.args.bf16),
        "repository": str(repo),
        "python": str(python),
        "prompts": {
            "generate": sum(1 for p in prompts if p.setting == "generate"),
            "repair": sum(1 for p in prompts if p.setting == "repair"),
            "used": len(rows),
        },
        "skipped": skipped,
    }
    manifest = AdapterManifest(
        base_model=settings.model,
        dataset=_extraction_ref(extraction_dir),
        training=settings_used,
        metrics=_metrics(trainer.state, seconds, summary, reward.batches),
        parent=str(Path(start_adapter).resolve()) if start_adapter is not None else None,
    )
    publish(trainer.model, out, manifest, trainer.state.log_history)
    status(f"adapter written to {out}")
    return out


def default_out(
    settings: Settings, extraction_dir: Path, start_adapter: Path | None, config: RLConfig
) -> Path:
    """`<data dir>/training/<repo>/adapters/grpo-<extraction version>-<hash>`: one folder per run setup."""
    manifest = read_manifest(extraction_dir)
    digest = short_hash(
        settings.model, str(start_adapter or ""), json.dumps(config.to_dict(), sort_keys=True, default=str)
    )
    name = manifest.name or Path(manifest.repository).name
    return training_root(settings, name) / "adapters" / f"grpo-{manifest.version}-{digest[:8]}"


def _checked_out(out_dir: Path) -> Path:
    try:
        return check_out(Path(out_dir))
    except TrainerSetupError as err:
        raise RLError(str(err)) from err


def pooled_runner(runners: RunnerPool) -> TestRunner:
    """A test runner that borrows one of the pool's runners for each run."""

    def run(repo: Path, test_ids: Any, *, overrides: Any) -> Any:
        with runners.borrow() as runner:
            return runner(repo, test_ids, overrides=overrides)

    return run


def _describe(skipped: dict[str, int]) -> str:
    return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(skipped.items()))


def _metrics(state: Any, seconds: float, summary: RewardSummary, batches: list[dict]) -> dict[str, Any]:
    steps = int(state.global_step)
    return {
        "steps": steps,
        "seconds": round(seconds, 2),
        "seconds_per_step": round(seconds / steps, 3) if steps else None,
        "reward_batches": summary.batches,
        "reward_mean_start": summary.first_mean,
        "reward_mean_end": summary.last_mean,
        "pass_rate_start": summary.first_pass_rate,
        "pass_rate_end": summary.last_pass_rate,
        "verdicts": summary.verdicts,
        "reward_seconds": round(sum(b["seconds"] for b in batches), 2),
        "reward_history": [round(b["mean_reward"], 4) for b in batches],
    }
