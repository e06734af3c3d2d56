"""Supervised fine-tuning of a LoRA adapter on a repository's dataset (TRL SFTTrainer + PEFT).

The result is an adapter folder: PEFT files plus `repomend_adapter.json`. Nothing half-done is
ever visible under the output name: training runs in a hidden work folder beside it
(`.<name>.partial`, which also holds the per-epoch checkpoints a crashed or cancelled run
resumes from) and the finished adapter is renamed into place in one step.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from repomend.settings import Settings
from training.adapter_manifest import AdapterManifest, DatasetRef
from training.answer_weights import changed_token_weights, copied_from_prompt
from training.callbacks import stop_callback, time_budget_callback
from training.errors import SFTError, TrainerSetupError, TrainingCancelled
from training.publish import check_out, publish, work_folder
from training.sft_config import SFTConfig
from training.sft_data import SFTData, SFTRow, drop_too_long, first_validation_rows, load_sft_data
from training.starting_model import chosen_bf16, load_tokenizer_and_base
from training.storage import short_hash, training_root

RUN_FILE = "run.json"
"""In the work folder: what the checkpoints were trained on, checked before resuming."""


@dataclass(frozen=True)
class _Session:
    """What this `train()` call did (a resumed run starts from a checkpoint's counters)."""

    seconds: float
    epochs: float
    tokens: int
    resumed_from_step: int


def default_out(settings: Settings, data: SFTData, config: SFTConfig) -> Path:
    """`<data dir>/training/<repo>/adapters/<dataset version>-<config hash>`: the same run twice
    lands in the same place (so `--resume` finds its checkpoints)."""
    repo = data.repository or data.path.name
    digest = short_hash(settings.model, json.dumps(config.to_dict(), sort_keys=True, default=str))
    return training_root(settings, repo) / "adapters" / f"{data.version}-{digest[:8]}"


def last_checkpoint(work: Path) -> Path | None:
    if not work.is_dir():
        return None
    from transformers.trainer_utils import get_last_checkpoint

    found = get_last_checkpoint(str(work))
    return Path(found) if found else None


def _run_identity(settings: Settings, data: SFTData, config: SFTConfig) -> dict[str, Any]:
    return {"base_model": settings.model, "dataset_hash": data.hash, "training": config.to_dict()}


def _prepare_work_folder(work: Path, identity: dict[str, Any], resume: bool) -> Path | None:
    """The checkpoint to resume from (None: start afresh); refuses to mix different runs."""
    checkpoint = last_checkpoint(work)
    if checkpoint is not None and not resume:
        raise SFTError(
            f"an unfinished run left checkpoints in {work}; "
            "pass --resume to continue it (or delete that folder)"
        )
    if checkpoint is not None:
        try:
            recorded = json.loads((work / RUN_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            recorded = None
        if recorded != json.loads(json.dumps(identity, default=str)):
            raise SFTError(
                f"the checkpoints in {work} come from another dataset, model or configuration; "
                "delete that folder or use another --out"
            )
        return checkpoint
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    (work / RUN_FILE).write_text(json.dumps(identity, indent=2, default=str) + "\n", encoding="utf-8")
    return None


def _load_base(settings: Settings) -> tuple[Any, Any, str]:
    try:
        return load_tokenizer_and_base(settings)
    except TrainerSetupError as err:
        raise SFTError(str(err)) from err


def conversation_length(tokenizer: Any) -> Callable[[SFTRow], int]:
    """Tokens of a whole row as the chat template renders it."""

    def length(row: SFTRow) -> int:
        text = tokenizer.apply_chat_template([dict(m) for m in row.prompt + row.completion], tokenize=False)
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    return length


def build_trainer(
    data: SFTData,
    tokenizer: Any,
    model: Any,
    config: SFTConfig,
    work: Path,
    *,
    progress: bool = True,
    callbacks: list[Any] | None = None,
) -> Any:
    """TRL's SFTTrainer on prompt/completion rows: labels are -100 everywhere but the answer."""
    import torch
    from datasets import Dataset
    from trl import SFTTrainer

    gpu = torch.cuda.is_available()
    train = Dataset.from_list([row.as_dict() for row in data.train])
    validation = Dataset.from_list([row.as_dict() for row in data.validation]) if data.validation else None
    if config.upper_layers is not None:
        callbacks = [*(callbacks or []), _no_backward_below_the_adapter()]
    bf16 = chosen_bf16(config.bf16)
    weight = config.changed_token_weight
    trainer_class = _answer_logits_trainer(SFTTrainer, weight) if weight != 1.0 or not gpu else SFTTrainer
    return trainer_class(
        model=model,
        args=config.sft_arguments(
            str(work), has_eval=validation is not None, progress=progress, gpu=gpu, bf16=bf16
        ),
        train_dataset=train,
        eval_dataset=validation,
        processing_class=tokenizer,
        peft_config=config.lora(getattr(model.config, "num_hidden_layers", None)),
        callbacks=callbacks,
    )


def _answer_logits_trainer(base: type, changed_token_weight: float = 1.0) -> type:
    """`base` (TRL's SFTTrainer) with the vocabulary projected at the answer's positions only, and the
    answer's tokens weighted by `training.answer_weights` when `changed_token_weight` is not 1.

    TRL scores every position off Triton devices, then zeroes the prompt's: on a CPU projecting a
    1,500-token row onto a Qwen model's 151,936 words (forward and backward) took 60% of a 0.5B step,
    for a loss that reads the 100-300 answer tokens. Here the model's own `logits_to_keep` (a boolean mask)
    keeps the positions whose next token is a label; the loss is the same token-summed cross-entropy
    over the same labels, divided as TRL divides it (`num_items_in_batch` across gradient
    accumulation). The validation loss is never weighted."""
    import torch
    import torch.nn.functional as F

    class AnswerLogitsSFTTrainer(base):
        def compute_loss(self, model: Any, inputs: Any, return_outputs: bool = False,
                         num_items_in_batch: Any = None) -> Any:  # fmt: skip
            if return_outputs:
                return super().compute_loss(model, inputs, True, num_items_in_batch)
            labels = inputs["labels"]
            keep = torch.zeros_like(labels, dtype=torch.bool)
            keep[:, :-1] = labels[:, 1:] != -100
            targets = labels[:, 1:][keep[:, :-1]]
            forward = {k: v for k, v in inputs.items() if k != "labels"}
            logits = model(**forward, use_cache=False, logits_to_keep=keep).logits
            logits = logits.reshape(-1, logits.size(-1)).float()
            count = targets.numel() if num_items_in_batch is None else num_items_in_batch
            losses = F.cross_entropy(logits, targets, reduction="none")
            mode = "train" if model.training else "eval"
            if changed_token_weight != 1.0:
                weights, changed = _answer_weights(inputs["input_ids"], labels, changed_token_weight)
                if model.training:  # the validation loss stays plain, comparable between runs
                    losses = losses * weights.to(losses.device)
                if changed.any():
                    hits = logits.detach()[changed.to(logits.device)].argmax(-1) == targets[changed]
                    self._metrics[mode]["changed_token_accuracy"].append(hits.float().mean().item())
            loss = losses.sum() / torch.as_tensor(count).clamp(min=1)
            if targets.numel():
                correct = (logits.detach().argmax(-1) == targets).float().mean().item()
                self._metrics[mode]["mean_token_accuracy"].append(correct)
            return loss

    return AnswerLogitsSFTTrainer


def _answer_weights(input_ids: Any, labels: Any, weight: float) -> tuple[Any, Any]:
    """The loss weights of a batch's answer tokens, in the order the loss reads them (row by row), and
    which of them a fix changed; a row's prompt is everything before its first label."""
    import torch

    weights: list[float] = []
    changed: list[bool] = []
    for ids, row_labels in zip(input_ids.tolist(), labels.tolist(), strict=True):
        answer = [token for token in row_labels[1:] if token != -100]
        start = next((i for i, token in enumerate(row_labels) if token != -100), len(ids))
        copied = copied_from_prompt(ids[:start], answer)
        weights += changed_token_weights(copied, weight)
        changed += [not was_copied for was_copied in copied]
    return torch.tensor(weights), torch.tensor(changed, dtype=torch.bool)


def _no_backward_below_the_adapter() -> Any:
    """A callback that detaches the embeddings' output again. For LoRA with checkpointing, PEFT, TRL
    and transformers each hook the embeddings so that their output requires gradients (so that
    gradients reach adapters in the lowest layer), and the hooks pile up. With LoRA on the upper
    layers only nothing below needs them: detached, the backward pass stops at the first adapted
    layer. Registered when training begins, after theirs, so it runs last; checkpointing stays
    correct because transformers runs it non-reentrant."""
    from transformers import TrainerCallback

    class NoBackwardBelow(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            model = kwargs.get("model")
            if model is not None:
                model.get_input_embeddings().register_forward_hook(lambda _m, _i, out: out.detach())

    return NoBackwardBelow()


def _measure() -> Any:
    """A callback that takes the counters at the start of this call, so a resumed run reports its own
    speed; `done(state)` is what this call did."""
    from transformers import TrainerCallback

    class Measure(TrainerCallback):
        started, step, epoch, tokens = 0.0, 0, 0.0, 0

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.started = time.perf_counter()
            self.step, self.epoch, self.tokens = (
                state.global_step,
                state.epoch or 0.0,
                state.num_input_tokens_seen,
            )

        def done(self, state: Any) -> _Session:
            return _Session(
                seconds=time.perf_counter() - self.started,
                epochs=(state.epoch or 0.0) - self.epoch,
                tokens=state.num_input_tokens_seen - self.tokens,
                resumed_from_step=self.step,
            )

    return Measure()


def train_adapter(
    dataset_dir: Path,
    out_dir: Path | None = None,
    *,
    settings: Settings,
    config: SFTConfig | None = None,
    resume: bool = False,
    progress: bool = True,
    should_cancel: Callable[[], bool] | None = None,
    on_status: Callable[[str], None] | None = None,
) -> Path:
    """Fine-tune a LoRA adapter of `settings.model` on the dataset; returns the finished adapter folder.

    `resume` continues from the last checkpoint of an interrupted run with the same dataset,
    model and configuration (and starts afresh when there is none). `should_cancel` is polled
    after every optimiser step: when it says stop, a checkpoint is saved and TrainingCancelled
    raised.
    """
    import torch

    config = config or SFTConfig()
    status = on_status or (lambda _text: None)
    data = load_sft_data(Path(dataset_dir))
    out = Path(out_dir) if out_dir is not None else default_out(settings, data, config)
    try:
        out = check_out(out)
    except TrainerSetupError as err:
        raise SFTError(str(err)) from err
    work = work_folder(out)
    identity = _run_identity(settings, data, config)
    checkpoint = _prepare_work_folder(work, identity, resume)
    if resume and checkpoint is None:
        status("no checkpoint to resume from: starting from the beginning")

    if settings.threads:
        torch.set_num_threads(settings.threads)
    status(f"loading {settings.model}")
    tokenizer, model, location = _load_base(settings)
    context = getattr(model.config, "max_position_embeddings", None) or config.max_length
    if config.max_length > context:
        config = replace(config, max_length=context)
    data = drop_too_long(data, conversation_length(tokenizer), config.max_length)
    data = first_validation_rows(data, config.validation_rows)
    measure, stop = _measure(), stop_callback(should_cancel, checkpoint=True)
    budget = time_budget_callback(config.max_seconds) if config.max_seconds is not None else None
    trainer = build_trainer(
        data, tokenizer, model, config, work, progress=progress,
        callbacks=[measure, stop, *([budget] if budget else [])],
    )  # fmt: skip
    status(
        f"training on {len(data.train)} rows ({len(data.validation)} validation)"
        + (f", resuming from {checkpoint.name}" if checkpoint else "")
    )
    result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    state = trainer.state
    if stop.stopped:
        raise TrainingCancelled(
            f"stopped at step {state.global_step}; resume with --resume (work folder {work})"
        )
    done = measure.done(state)
    eval_loss = None
    if data.validation:
        evaluations = [entry for entry in state.log_history if "eval_loss" in entry]
        if evaluations and evaluations[-1].get("step") == state.global_step:
            eval_loss = evaluations[-1]["eval_loss"]  # the last epoch's evaluation is the final one
        else:
            status("evaluating on the validation rows")
            eval_loss = trainer.evaluate().get("eval_loss")

    metrics = _metrics(result.training_loss, eval_loss, state, done)
    if budget is not None and budget.reached:
        metrics["stopped_by_time_budget"] = config.max_seconds
        status(f"time budget of {config.max_seconds:.0f} s reached at step {state.global_step}")
    manifest = AdapterManifest(
        base_model=settings.model,
        dataset=DatasetRef(path=str(data.path), version=data.version, hash=data.hash),
        training={
            **config.to_dict(),
            "model_location": location,
            "device": str(trainer.args.device),
            "bf16": bool(trainer.args.bf16),
            "rows": {"train": len(data.train), "validation": len(data.validation)},
            "skipped_rows": data.skipped,
        },
        metrics=metrics,
    )
    publish(trainer.model, out, manifest, state.log_history)
    status(f"adapter written to {out}")
    return out


def _metrics(train_loss: float, eval_loss: float | None, state: Any, done: _Session) -> dict[str, Any]:
    epochs_run = done.epochs if done.epochs > 0 else None
    metrics: dict[str, Any] = {
        "train_loss": round(float(train_loss), 6),
        "epochs": round(float(state.epoch or 0.0), 4),
        "steps": int(state.global_step),
        "seconds": round(done.seconds, 2),
        "seconds_per_epoch": round(done.seconds / epochs_run, 2) if epochs_run else None,
        "train_tokens": int(state.num_input_tokens_seen),
        "tokens_per_second": round(done.tokens / done.seconds, 1) if done.seconds > 0 else None,
    }
    if eval_loss is not None:
        metrics["eval_loss"] = round(float(eval_loss), 6)
    if done.resumed_from_step:
        metrics["resumed_from_step"] = done.resumed_from_step
    return metrics
