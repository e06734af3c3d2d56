"""Fine-tuning on a tiny random Llama: what is trained on, the adapter folder, resuming, loading it."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from repomend.contract.conversation import Mode
from repomend.settings import Settings
from tests.support.sft_datasets import MUTANT, conversation, tiny_chat_model, write_dataset
from training.adapter_manifest import MANIFEST_FILE, ManifestError, is_finished_adapter, read_manifest
from training.errors import SFTError, TrainingCancelled
from training.publish import work_folder
from training.sft_config import SFTConfig
from training.sft_data import DatasetFolderError, load_sft_data, to_row
from training.sft_trainer import build_trainer, train_adapter

__all__ = ["tiny_chat_model"]

SMALL = SFTConfig(epochs=2, effective_batch_size=4, per_device_batch_size=2, warmup_steps=1, logging_steps=1)
"""8 rows, batches of 4: two optimiser steps per epoch."""


def settings_for(model: Path, data_dir: Path) -> Settings:
    return Settings(model=str(model), data_dir=data_dir, _env_file=None)


def test_history_answers_lose_their_think_block_and_only_the_last_answer_is_the_completion():
    row = to_row(conversation(3, think=True))
    assert [m["role"] for m in row.prompt] == ["system", "user", "assistant", "user"]
    assert row.prompt[2]["content"] == f"```python\n{MUTANT}\n```"  # as the loop feeds it back
    assert row.completion == [conversation(3, think=True)[-1]]
    assert row.completion[0]["content"].startswith("<think>\nstep 3")


def test_labels_are_masked_everywhere_but_the_final_answer(tiny_chat_model, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_chat_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_chat_model)
    data = load_sft_data(write_dataset(tmp_path / "ds", train=4, validation=0))
    trainer = build_trainer(data, tokenizer, model, SMALL, tmp_path / "work", progress=False)
    prepared = trainer.train_dataset
    assert len(prepared) == 4
    for index, example in enumerate(prepared):
        ids, labels = example["input_ids"], example["labels"]
        assert len(ids) == len(labels)
        trained = [token for token, label in zip(ids, labels, strict=True) if label != -100]
        assert all(label in (-100, token) for token, label in zip(ids, labels, strict=True))
        answer = conversation(index, think=index % 2 == 1)[-1]["content"]
        assert tokenizer.decode(trained) == answer + "<|im_end|>\n"
        first = labels.index(next(label for label in labels if label != -100))
        prompt_text = tokenizer.decode(ids[:first])
        assert MUTANT in prompt_text  # the rejected answer is read, never trained on
        assert prompt_text.endswith("<|im_start|>assistant\n")
        assert "<think>" not in prompt_text


def test_bad_inputs_give_one_line_errors(tmp_path, tiny_chat_model):
    with pytest.raises(DatasetFolderError, match=r"holds no train\.jsonl"):
        load_sft_data(tmp_path)
    folder = write_dataset(tmp_path / "ds", train=2)
    (folder / "train.jsonl").write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    with pytest.raises(DatasetFolderError, match=r"train.jsonl:1: .*assistant"):
        load_sft_data(folder)
    with pytest.raises(SFTError, match="multiple"):
        SFTConfig(effective_batch_size=8, per_device_batch_size=3)
    taken = tmp_path / "taken"
    taken.mkdir()
    good = write_dataset(tmp_path / "good", train=2)
    with pytest.raises(SFTError, match="already holds"):
        train_adapter(good, taken, settings=settings_for(tiny_chat_model, tmp_path / "data"), config=SMALL)


@pytest.fixture(scope="module")
def interrupted_then_resumed(tiny_chat_model, tmp_path_factory):
    """One run stopped after its first step, refused without --resume, then resumed to the end."""
    root = tmp_path_factory.mktemp("sft")
    dataset = write_dataset(root / "ds", train=8, validation=2)
    settings = settings_for(tiny_chat_model, root / "data")
    out = root / "adapters" / "shapes-v1"
    seen: dict[str, list] = {"out_existed": [], "steps": []}

    def stop_after_first_step() -> bool:
        seen["out_existed"].append(out.exists())
        return True

    with pytest.raises(TrainingCancelled, match="resume"):
        train_adapter(
            dataset, out, settings=settings, config=SMALL, progress=False, should_cancel=stop_after_first_step
        )
    checkpoints = sorted(p.name for p in work_folder(out).glob("checkpoint-*"))
    with pytest.raises(SFTError, match="--resume"):
        train_adapter(dataset, out, settings=settings, config=SMALL, progress=False)

    def watch() -> bool:
        seen["out_existed"].append(out.exists())
        return False

    folder = train_adapter(
        dataset, out, settings=settings, config=SMALL, resume=True, progress=False, should_cancel=watch
    )
    return {"folder": folder, "out": out, "checkpoints": checkpoints, "seen": seen, "settings": settings}


def test_cancelled_run_leaves_a_checkpoint_and_resume_finishes_it(interrupted_then_resumed):
    run = interrupted_then_resumed
    assert run["checkpoints"] == ["checkpoint-1"]
    metrics = read_manifest(run["folder"]).metrics
    assert metrics["resumed_from_step"] == 1
    assert metrics["steps"] == 4  # 2 epochs of 2 steps, the first one done before the stop
    assert metrics["epochs"] == pytest.approx(2.0)
    assert len(run["seen"]["out_existed"]) == 1 + 3  # one step before the stop, three after resuming


def test_adapter_folder_appears_only_when_complete(interrupted_then_resumed):
    run = interrupted_then_resumed
    folder: Path = run["folder"]
    assert folder == run["out"].resolve()
    assert not any(run["seen"]["out_existed"])  # never visible while training
    assert not work_folder(folder).exists()  # checkpoints are gone once the adapter is there
    assert {"adapter_config.json", "adapter_model.safetensors", MANIFEST_FILE} <= {
        p.name for p in folder.iterdir()
    }
    assert is_finished_adapter(folder)
    assert not list(folder.glob("*.tmp"))


def test_manifest_records_base_model_dataset_recipe_and_metrics(interrupted_then_resumed):
    run = interrupted_then_resumed
    raw = json.loads((run["folder"] / MANIFEST_FILE).read_text())
    assert raw["format"] == 1
    assert raw["base_model"] == run["settings"].model
    assert raw["dataset"]["version"] == "d1"
    assert raw["dataset"]["hash"].startswith("sha256:") and len(raw["dataset"]["hash"]) == 71
    training = raw["training"]
    assert (training["lora_r"], training["lora_alpha"], training["lora_dropout"]) == (32, 64, 0.05)
    assert training["target_modules"] == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert training["per_device_batch_size"] * training["gradient_accumulation_steps"] == 4
    assert training["rows"] == {"train": 8, "validation": 2}
    metrics = raw["metrics"]
    for key in (
        "train_loss",
        "eval_loss",
        "seconds",
        "seconds_per_epoch",
        "train_tokens",
        "tokens_per_second",
    ):
        assert metrics[key] > 0, key
    config = json.loads((run["folder"] / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"]) == (32, 64)
    assert sorted(config["target_modules"]) == ["k_proj", "o_proj", "q_proj", "v_proj"]


def test_training_moved_the_lora_weights(interrupted_then_resumed):
    from safetensors.torch import load_file

    weights = load_file(str(interrupted_then_resumed["folder"] / "adapter_model.safetensors"))
    b_matrices = [tensor for name, tensor in weights.items() if "lora_B" in name]
    assert b_matrices and all(tensor.abs().sum() > 0 for tensor in b_matrices)  # PEFT starts B at zero


def test_adapter_loads_in_the_transformers_backend(interrupted_then_resumed):
    from repomend.backends.base import GenerationConfig
    from repomend.backends.transformers_backend import TransformersBackend

    run = interrupted_then_resumed
    folder: Path = run["folder"]
    settings = run["settings"].model_copy(update={"adapters_dir": folder.parent})
    backend = TransformersBackend(settings)
    try:
        messages = conversation(0)[:2]
        config = GenerationConfig(max_new_tokens=4)
        [answer] = backend.generate(messages, mode=Mode.NO_THINK, config=config, adapter=folder.name)
        assert backend.loaded_adapters() == [folder.name]
        assert answer.completion_tokens == 4
        assert backend.describe(folder.name).endswith(f"+{folder.name}")
    finally:
        backend.close()


def test_cli_trains_an_adapter(tiny_chat_model, tmp_path, monkeypatch):
    from repomend.cli import main

    monkeypatch.setenv("REPOMEND_DATA_DIR", str(tmp_path / "data"))
    dataset = write_dataset(tmp_path / "ds", train=4, validation=0)
    out = tmp_path / "adapter"
    code = main(
        ["train", "sft", str(dataset), "--model", str(tiny_chat_model), "--out", str(out), "--max-steps", "1"]
    )
    assert code == 0
    manifest = read_manifest(out)
    assert manifest.metrics["steps"] == 1 and "eval_loss" not in manifest.metrics
    assert main(["train", "sft", str(tmp_path / "nothing"), "--model", str(tiny_chat_model)]) == 2


def _train_by_cli(tiny_chat_model, tmp_path, monkeypatch, validation: int, *flags: str) -> dict:
    """`repomend train sft` on 4 training rows; the manifest it wrote, as JSON."""
    from repomend.cli import main

    monkeypatch.setenv("REPOMEND_DATA_DIR", str(tmp_path / "data"))
    dataset = write_dataset(tmp_path / "ds", train=4, validation=validation)
    out = tmp_path / "adapter"
    argv = ["train", "sft", str(dataset), "--model", str(tiny_chat_model), "--out", str(out), *flags]
    assert main(argv) == 0
    assert (out / "adapter_model.safetensors").is_file()
    return json.loads((out / MANIFEST_FILE).read_text())


def test_validation_loss_on_the_first_rows_only_when_capped(tiny_chat_model, tmp_path, monkeypatch):
    """On a CPU the validation pass costs as much as steps; a cap measures it on fewer rows."""
    flags = ("--max-steps", "1", "--validation-rows", "1")
    raw = _train_by_cli(tiny_chat_model, tmp_path, monkeypatch, 3, *flags)
    assert raw["training"]["rows"] == {"train": 4, "validation": 1}
    assert raw["training"]["skipped_rows"] == {"validation_over_cap": 2}
    assert "eval_loss" in raw["metrics"]


def test_reading_a_folder_without_manifest_is_a_clear_error(tmp_path):
    with pytest.raises(ManifestError, match=r"no repomend_adapter\.json"):
        read_manifest(tmp_path)


@pytest.mark.slow
def test_default_model_trains_and_serves_an_adapter(tmp_path):
    """The embedded SmolLM2-135M: two optimiser steps on CPU, then the adapter answers."""
    from repomend.backends.base import GenerationConfig
    from repomend.backends.transformers_backend import TransformersBackend

    dataset = write_dataset(tmp_path / "ds", train=4, validation=0)
    settings = Settings(_env_file=None)  # the default model, converted cache in the default data dir
    out = tmp_path / "adapters" / "smol"
    folder = train_adapter(
        dataset,
        out,
        settings=settings,
        config=SFTConfig(max_steps=2, effective_batch_size=2, per_device_batch_size=1),
        progress=False,
    )
    assert read_manifest(folder).base_model == "smollm2-135m"
    backend = TransformersBackend(settings.model_copy(update={"adapters_dir": out.parent}))
    try:
        [answer] = backend.generate(
            conversation(0)[:2],
            mode=Mode.NO_THINK,
            config=GenerationConfig(max_new_tokens=48),
            adapter="smol",
        )
        assert answer.completion_tokens > 0
    finally:
        backend.close()


def test_lora_on_the_upper_layers_leaves_the_lower_ones_out_of_the_backward_pass(tiny_chat_model, tmp_path):
    """What saves the time: below the adapted layers no activation requires a gradient, so autograd
    has nothing to do there; the adapted layer still learns."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    data = load_sft_data(write_dataset(tmp_path / "ds", train=4, validation=0))
    tokenizer = AutoTokenizer.from_pretrained(tiny_chat_model)

    def train(config: SFTConfig, work: str) -> tuple[object, list[bool]]:
        model = AutoModelForCausalLM.from_pretrained(tiny_chat_model)
        trainer = build_trainer(data, tokenizer, model, config, tmp_path / work, progress=False)
        needs_grad: list[bool] = []
        lowest = next(m for name, m in trainer.model.named_modules() if name.endswith("layers.0"))
        lowest.register_forward_hook(lambda _m, _i, out: needs_grad.append(out[0].requires_grad))
        trainer.train()
        return trainer.model, needs_grad

    upper = replace(SMALL, upper_layers=1)
    model, needs_grad = train(upper, "upper")
    lora = [name for name, _ in model.named_parameters() if "lora_" in name]
    adapted = {name.split(".layers.")[1].split(".")[0] for name in lora}
    assert adapted == {"1"}  # the tiny model has two layers: only the top one has LoRA weights
    assert needs_grad and not any(needs_grad)
    lora_b = [p for name, p in model.named_parameters() if "lora_B" in name]
    assert lora_b and all(p.abs().sum() > 0 for p in lora_b)  # B starts at zero: it was trained

    _, needs_grad = train(SMALL, "all")
    assert needs_grad and all(needs_grad)  # every layer adapted: the backward goes all the way down


def test_a_time_budget_ends_the_run_as_finished_before_a_step_that_would_not_fit(
    tiny_chat_model, tmp_path, monkeypatch
):
    """A CPU job keeps its hours: the adapter is what was learnt when the budget ran out."""
    raw = _train_by_cli(tiny_chat_model, tmp_path, monkeypatch, 1, "--epochs", "3", "--max-seconds", "0.001")
    # one step of 4 rows per epoch: the first step shows that a second would not fit
    assert raw["metrics"]["steps"] == 1 and raw["metrics"]["stopped_by_time_budget"] == 0.001
    assert "eval_loss" in raw["metrics"]


def test_a_time_budget_decays_the_trainer_s_own_schedule(tiny_chat_model, tmp_path):
    """The budget spent in the first step: the schedule reads the run as ended, and the rate after it
    is the cosine's last (by steps it would be 75% of the peak, one step of three)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.callbacks import time_budget_callback

    data = load_sft_data(write_dataset(tmp_path / "ds", train=4, validation=0))
    budget = time_budget_callback(1e-6)
    config = replace(SMALL, epochs=3, warmup_steps=0, max_steps=3)
    tokenizer = AutoTokenizer.from_pretrained(tiny_chat_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_chat_model)
    work = tmp_path / "work"
    trainer = build_trainer(data, tokenizer, model, config, work, progress=False, callbacks=[budget])
    trainer.train()
    assert budget.reached and trainer.state.global_step == 1
    assert trainer.lr_scheduler.get_last_lr()[0] == 0.0


def test_the_answer_only_projection_gives_trl_s_loss_and_gradients(tiny_chat_model, tmp_path):
    """On a CPU the vocabulary is projected at the answer's positions only: the loss and the LoRA
    gradients must be the ones TRL's full projection gives, padding and accumulation included."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    data = load_sft_data(write_dataset(tmp_path / "ds", train=4, validation=0))
    tokenizer = AutoTokenizer.from_pretrained(tiny_chat_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_chat_model)
    fp32 = replace(SMALL, bf16=False)
    trainer = build_trainer(data, tokenizer, model, fp32, tmp_path / "w", progress=False)
    assert type(trainer).__name__ == "AnswerLogitsSFTTrainer"
    batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    assert (batch["attention_mask"] == 0).any()  # rows of two lengths: the shorter is padded
    answer_tokens = int((batch["labels"][:, 1:] != -100).sum())

    def loss_and_grads(compute_loss, count):
        trainer.model.zero_grad()
        loss = compute_loss(trainer.model, dict(batch), num_items_in_batch=count)
        loss.backward()
        grads = [p.grad.clone() for p in trainer.model.parameters() if p.requires_grad]
        return loss.detach(), grads

    trainer.model.eval()  # no LoRA dropout: both passes see the same network
    for count in (None, torch.tensor(3 * answer_tokens)):  # alone, and one micro-batch of an accumulation
        ours, our_grads = loss_and_grads(trainer.compute_loss, count)
        theirs, their_grads = loss_and_grads(super(type(trainer), trainer).compute_loss, count)
        assert torch.allclose(ours, theirs, rtol=1e-5), (ours, theirs)
        pairs = zip(our_grads, their_grads, strict=True)
        assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-7) for a, b in pairs)


def test_bf16_is_chosen_where_the_cpu_multiplies_it_natively(tmp_path):
    from training.starting_model import cpu_runs_bf16

    flags = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f {}\n"
    (tmp_path / "native").write_text(flags.format("avx512_bf16 avx512_vnni"))
    (tmp_path / "emulated").write_text(flags.format("avx512_vnni"))
    assert cpu_runs_bf16(tmp_path / "native")
    assert not cpu_runs_bf16(tmp_path / "emulated")
    assert not cpu_runs_bf16(tmp_path / "missing")
