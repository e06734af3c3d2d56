"""DPO after SFT on a tiny random Llama: pairs file, reference policy, the adapter folder it writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from repomend.contract import prompts
from repomend.settings import Settings
from tests.support.sft_datasets import MUTANT, TRUTH, conversation, tiny_chat_model
from tests.support.tiny_models import build_adapter
from training.adapter_manifest import AdapterManifest, DatasetRef, read_manifest, write_manifest
from training.errors import PreferenceError
from training.pairs import PairsError
from training.pairs import write_pairs as pairs_from_trajectories
from training.preference_config import PreferenceConfig
from training.preference_data import PreferenceDataError, read_pairs
from training.preference_trainer import train_dpo
from training.starting_model import use_bf16

__all__ = ["tiny_chat_model"]

TWO_STEPS = PreferenceConfig(
    max_steps=2,
    effective_batch_size=2,
    per_device_batch_size=2,
    learning_rate=1e-3,
    warmup=0,
    logging_steps=1,
)


def pair(index: int) -> dict:
    """Prompt = the repair conversation up to the feedback; chosen = the fix, rejected = the mutant again."""
    messages = conversation(index)
    return {
        "prompt": messages[:4],
        "chosen": [{"role": "assistant", "content": prompts.as_code_reply(TRUTH)}],
        "rejected": prompts.as_code_reply(MUTANT),
        "meta": {"method": "pkg/m.py::double"},
    }


def write_pairs(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def sft_adapter(tiny_chat_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished adapter folder like SFT's: PEFT files (non-zero LoRA weights) and a manifest."""
    folder = tmp_path_factory.mktemp("sft") / "adapter"
    build_adapter(tiny_chat_model, folder)
    write_manifest(
        folder,
        AdapterManifest(
            base_model=str(tiny_chat_model),
            dataset=DatasetRef("d", "1", "sha256:x"),
            training={"method": "sft"},
            metrics={},
        ),
    )
    return folder


def settings_for(model: Path, tmp_path: Path) -> Settings:
    return Settings(model=str(model), data_dir=tmp_path / "data", _env_file=None)


def lora_weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "adapter_model.safetensors"))


def test_replies_take_the_form_the_model_answers_in_and_history_loses_reasoning(tmp_path):
    row = pair(1)
    row["prompt"][2]["content"] = "<think>\nhmm\n</think>\n\n" + prompts.as_code_reply(MUTANT)
    thinking = "<think>\nmultiply by two\n</think>\n\n" + prompts.as_code_reply(TRUTH)
    data = read_pairs(write_pairs(tmp_path / "p.jsonl", [row, {**pair(2), "chosen": thinking}]))
    first, second = data.pairs
    assert first.prompt[2]["content"] == prompts.as_code_reply(MUTANT)
    assert first.chosen == [{"role": "assistant", "content": prompts.as_code_reply(TRUTH)}]
    assert first.rejected[0]["content"] == prompts.as_code_reply(MUTANT)
    assert second.chosen[0]["content"] == thinking  # an answer with its reasoning stays as written


def test_bad_pairs_are_refused_with_the_line_and_identical_replies_skipped(tmp_path):
    same = {**pair(1), "rejected": pair(1)["chosen"]}
    data = read_pairs(write_pairs(tmp_path / "ok.jsonl", [pair(0), same]))
    assert len(data.pairs) == 1 and data.skipped == {"identical": 1}
    no_user_last = {**pair(1), "prompt": conversation(1)[:3]}
    with pytest.raises(PreferenceDataError, match=r"bad\.jsonl:2: .*end with a user turn"):
        read_pairs(write_pairs(tmp_path / "bad.jsonl", [pair(0), no_user_last]))
    with pytest.raises(PreferenceDataError, match=r":1: .*missing `rejected`"):
        read_pairs(write_pairs(tmp_path / "bad2.jsonl", [{"prompt": pair(0)["prompt"], "chosen": "x"}]))


def trajectory_folder(folder: Path, items: list[dict]) -> Path:
    folder.mkdir()
    for name, rows in (("items.jsonl", items), ("done.jsonl", items)):
        (folder / name).write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return folder


def test_pairs_prefer_the_passing_answer_over_each_answer_the_tests_rejected(tmp_path):
    messages = conversation(1)  # [system, prompt, mutant, feedback, fix]
    other_try = prompts.as_code_reply("def double(x):\n    return x + x + 1")
    longer = [*messages[:4], {"role": "assistant", "content": other_try}, messages[3], messages[4]]
    same_fix = {"role": "assistant", "content": prompts.as_code_reply(TRUTH + "  # same")}
    relaid = [*messages[:2], same_fix, *messages[3:]]
    meta = {"teacher": "t", "variant": "generate", "hash": "h"}
    items = [
        {**meta, "method": "m1", "split": "train", "messages": longer},
        {**meta, "method": "m2", "split": "train", "messages": relaid},  # "rejected" = the fix re-laid out
        {**meta, "method": "m3", "split": "validation", "messages": messages},
    ]
    out = tmp_path / "pairs.jsonl"
    assert pairs_from_trajectories([trajectory_folder(tmp_path / "traj", items)], out) == 2
    data = read_pairs(out)
    assert [p.prompt for p in data.pairs] == [messages[:2], messages[:2]]
    assert {p.rejected[0]["content"] for p in data.pairs} == {
        prompts.as_code_reply(MUTANT),
        other_try,
    }
    assert all(p.chosen[0]["content"] == messages[4]["content"] for p in data.pairs)
    with pytest.raises(PairsError, match="no item"):
        pairs_from_trajectories([trajectory_folder(tmp_path / "v", items[2:])], tmp_path / "none.jsonl")


def test_pairs_at_the_last_turn_prefer_the_fix_over_repeating_a_failed_answer(tmp_path):
    messages = conversation(1)  # [system, prompt, mutant, feedback, fix]
    other_try = prompts.as_code_reply("def double(x):\n    return x + x + 1")
    longer = [*messages[:4], {"role": "assistant", "content": other_try}, messages[3], messages[4]]
    item = {"teacher": "t", "variant": "mutant", "hash": "h", "method": "m1", "split": "train"}
    item["messages"] = longer
    folder = trajectory_folder(tmp_path / "traj", [item])
    out = tmp_path / "pairs.jsonl"
    assert pairs_from_trajectories([folder], out, "last") == 2
    data = read_pairs(out)
    # The whole conversation before the passing answer, both failed answers in it.
    assert [p.prompt for p in data.pairs] == [longer[:-1], longer[:-1]]
    assert {p.rejected[0]["content"] for p in data.pairs} == {prompts.as_code_reply(MUTANT), other_try}
    assert all(p.chosen[0]["content"] == messages[4]["content"] for p in data.pairs)
    with pytest.raises(PairsError, match="one of first, last"):
        pairs_from_trajectories([folder], tmp_path / "bad.jsonl", "middle")


def test_an_adapter_of_another_base_model_is_refused(tiny_chat_model, sft_adapter, tmp_path):
    settings = Settings(model=str(tmp_path / "other"), data_dir=tmp_path / "data", _env_file=None)
    pairs = write_pairs(tmp_path / "p.jsonl", [pair(0)])
    with pytest.raises(PreferenceError, match="was trained on"):
        train_dpo(pairs, sft_adapter, tmp_path / "out", settings, TWO_STEPS, progress=False)
    assert not (tmp_path / "out").exists()


def test_dpo_continues_the_sft_adapter_and_writes_a_new_adapter_folder(
    tiny_chat_model, sft_adapter, tmp_path
):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    pairs = write_pairs(tmp_path / "pairs.jsonl", [pair(i) for i in range(4)])
    out = train_dpo(
        pairs,
        sft_adapter,
        tmp_path / "dpo",
        settings_for(tiny_chat_model, tmp_path),
        TWO_STEPS,
        progress=False,
    )
    assert out == (tmp_path / "dpo").resolve()
    assert not list(tmp_path.glob(".dpo*"))  # the staging folder is gone

    manifest = read_manifest(out)
    assert manifest.training["method"] == "dpo" and manifest.training["beta"] == 0.1
    assert manifest.parent == str(sft_adapter.resolve())
    assert manifest.metrics["steps"] == 2 and manifest.metrics["pairs"] == 4
    assert manifest.dataset.path == str(pairs.resolve())
    # bf16 wherever the hardware multiplies it, a CPU included, as SFT does
    assert manifest.training["bf16"] == use_bf16(cpu=True)
    log = [row for row in json.loads((out / "training_log.json").read_text()) if "rewards/chosen" in row]
    # the reference is the SFT adapter itself (not the bare base model): the first step starts at 0
    assert log[0]["rewards/chosen"] == pytest.approx(0.0, abs=1e-6)
    assert log[0]["rewards/rejected"] == pytest.approx(0.0, abs=1e-6)

    before, after = lora_weights(sft_adapter), lora_weights(out)
    assert before.keys() == after.keys()  # only the trained adapter, not TRL's frozen reference copy
    assert any(not before[k].equal(after[k]) for k in before)
    base = AutoModelForCausalLM.from_pretrained(tiny_chat_model)
    loaded = PeftModel.from_pretrained(base, str(out))
    assert list(loaded.peft_config) == ["default"]
