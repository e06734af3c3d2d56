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
from pathlib import Path
from typing import Any

from repomend.settings import Settings
from training.adapter_manifest import AdapterManifest, DatasetRef
from training.callbacks import stop_callback
from training.errors import PreferenceDataError, PreferenceError, TrainerSetupError, TrainingCancelled
from training.preference_config import PreferenceConfig
from training.preference_data import PreferenceData, drop_too_long, read_pairs
from training.publish import check_out, publish, work_folder
from training.starting_model import load_trainable_adapter
from training.storage import short_hash


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
    config: PreferenceConfig | None = None,
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

    config = config or PreferenceConfig()
    status = on_status or (lambda _text: None)
    sft_adapter = Path(sft_adapter).resolve()
    try:
        out = check_out(Path(out_dir))
        data = read_pairs(Path(pairs_file))
        if settings.threads:
            torch.set_num_threads(settings.threads)
        status(f"loading {settings.model} with the adapter {sft_adapter.name}")
        tokenizer, model, location = load_trainable_adapter(settings, sft_adapter)
        data = drop_too_long(data, pair_length(tokenizer), config.max_length)
    except (TrainerSetupError, PreferenceDataError) as err:
        raise PreferenceError(str(err)) from err

    work = work_folder(out)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    stop = stop_callback(should_cancel)
    trainer = DPOTrainer(
        model=model,
        ref_model=None,
        args=config.dpo_arguments(str(work), progress=progress),
        train_dataset=Dataset.from_list([pair.as_row() for pair in data.pairs]),
        processing_class=tokenizer,
        callbacks=[stop],
    )
    status(f"DPO on {len(data.pairs)} pairs (beta {config.beta})")
    started = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - started
    if stop.stopped:
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
