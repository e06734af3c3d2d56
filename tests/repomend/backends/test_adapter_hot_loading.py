"""Adapters appearing, switching and disappearing while a backend runs: no restart needed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from repomend.backends.base import BackendError, GenerationConfig
from repomend.backends.openai_backend import OpenAIBackend
from repomend.contract.conversation import Mode
from repomend.settings import Settings
from tests.support.model import StubServer, chat_reply
from tests.support.tiny_models import build_adapter

MESSAGES = [{"role": "user", "content": "Fix mean."}]
GREEDY = GenerationConfig(max_new_tokens=6, temperature=0.0)
ANSWER = "```python\ndef mean(xs):\n    return sum(xs) / len(xs)\n```"


def lora(model_folder: Path, target: Path, seed: int) -> Path:
    """A random LoRA for the tiny model; different seeds give visibly different outputs."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(model_folder)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(base, config).save_pretrained(target)
    return target


# -- transformers ------------------------------------------------------------------------------------


@pytest.fixture
def fresh_backend(tiny_model, tmp_path):
    """Its own adapters folder, empty at start, so adapters can come and go under it."""
    from repomend.backends.transformers_backend import TransformersBackend

    settings = Settings(model=str(tiny_model.folder), adapters_dir=tmp_path / "adapters", data_dir=tmp_path)
    backend = TransformersBackend(settings)
    yield backend, settings.resolved_adapters_dir
    backend.close()


def say(backend, adapter: str | None = None) -> str:
    [completion] = backend.generate(MESSAGES, mode=Mode.NO_THINK, config=GREEDY, adapter=adapter)
    return completion.content


def test_registry_names_and_absolute_paths_load_on_first_use(fresh_backend, tiny_model, tmp_path) -> None:
    backend, root = fresh_backend
    base = say(backend)
    with pytest.raises(BackendError, match=r"unknown adapter 'stats/v1'.*available: none"):
        say(backend, "stats/v1")

    lora(tiny_model.folder, root / "stats" / "v1", seed=1)  # appears after the backend started
    first = say(backend, "stats/v1")
    outside = lora(tiny_model.folder, tmp_path / "elsewhere" / "v1.5", seed=2)
    second = say(backend, str(outside))

    assert len({base, first, second}) == 3
    assert backend.loaded_adapters() == sorted(["stats/v1", str(outside)])
    assert say(backend) == base and say(backend, "stats/v1") == first
    assert backend.describe("stats/v1") == "tiny-chat+stats/v1"
    assert backend.available_adapters() == ["stats/v1"]


@pytest.mark.parametrize("name", ["../stats/v1", "stats/../stats/v1", "stats/v1/x", ".hidden", "stats\\v1"])
def test_names_never_leave_the_adapters_folder(fresh_backend, tiny_model, name) -> None:
    backend, root = fresh_backend
    lora(tiny_model.folder, root / "stats" / "v1", seed=1)
    with pytest.raises(BackendError, match="unknown adapter"):
        say(backend, name)


def test_unloading_frees_the_adapter_and_restores_the_base_model(fresh_backend, tiny_model) -> None:
    backend, root = fresh_backend
    base = say(backend)
    lora(tiny_model.folder, root / "stats" / "v1", seed=1)
    lora(tiny_model.folder, root / "stats" / "v2", seed=2)
    v1, v2 = say(backend, "stats/v1"), say(backend, "stats/v2")

    backend.unload_adapter("stats/v2")
    assert backend.loaded_adapters() == ["stats/v1"]
    assert say(backend, "stats/v1") == v1 and say(backend) == base

    backend.unload_adapter("stats/v1")
    backend.unload_adapter("never-loaded")
    assert backend.loaded_adapters() == []
    assert say(backend) == base
    assert say(backend, "stats/v2") == v2  # loads again from its folder


def test_an_adapter_whose_folder_was_deleted_is_dropped_from_memory(fresh_backend, tiny_model) -> None:
    backend, root = fresh_backend
    lora(tiny_model.folder, root / "stats" / "v1", seed=1)
    say(backend, "stats/v1")
    shutil.rmtree(root / "stats" / "v1")  # deleted by another process (the CLI)

    say(backend)  # any request notices
    assert backend.loaded_adapters() == []
    with pytest.raises(BackendError, match="unknown adapter 'stats/v1'"):
        say(backend, "stats/v1")


def test_a_corrupt_adapter_is_refused_and_the_others_keep_working(fresh_backend, tiny_model) -> None:
    backend, root = fresh_backend
    lora(tiny_model.folder, root / "stats" / "v1", seed=1)
    v1 = say(backend, "stats/v1")
    lora(tiny_model.folder, root / "stats" / "v2", seed=2)
    (root / "stats" / "v2" / "adapter_model.safetensors").write_bytes(b"not safetensors")

    with pytest.raises(BackendError, match="could not load adapter 'stats/v2'"):
        say(backend, "stats/v2")
    assert backend.loaded_adapters() == ["stats/v1"]
    assert say(backend, "stats/v1") == v1


def test_the_session_adapter_fixture_still_loads_by_its_flat_name(tiny_model, tmp_path) -> None:
    from repomend.backends.transformers_backend import TransformersBackend

    adapters = tmp_path / "adapters"
    build_adapter(tiny_model.folder, adapters / "a1.v2")  # a dot is fine in a name
    backend = TransformersBackend(
        Settings(model=str(tiny_model.folder), adapters_dir=adapters, data_dir=tmp_path)
    )
    try:
        assert say(backend, "a1.v2") != say(backend)
    finally:
        backend.close()


# -- openai (vLLM) -----------------------------------------------------------------------------------


@pytest.fixture
def stub(model_stub: StubServer) -> StubServer:
    model_stub.reset()
    model_stub.check_models = True
    return model_stub


def openai_backend(stub: StubServer, adapters_dir: Path) -> OpenAIBackend:
    settings = Settings(
        openai_base_url=stub.base_url,
        openai_timeout=5.0,
        openai_retries=1,
        adapters_dir=adapters_dir,
        data_dir=adapters_dir.parent,
    )
    return OpenAIBackend(settings, backoff=0.01, continuation=False)


def fake_peft(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text("{}")
    (folder / "adapter_model.safetensors").write_bytes(b"\0")
    return folder


def test_a_new_adapter_is_loaded_into_vllm_once_then_chosen_by_model_name(stub, tmp_path) -> None:
    folder = fake_peft(tmp_path / "adapters" / "stats" / "v3")
    backend = openai_backend(stub, tmp_path / "adapters")
    stub.script += [chat_reply(ANSWER), chat_reply(ANSWER), chat_reply(ANSWER)]

    backend.generate(MESSAGES, mode=Mode.NO_THINK, config=GREEDY, adapter="stats/v3")
    backend.generate(MESSAGES, mode=Mode.NO_THINK, config=GREEDY, adapter="stats/v3")
    backend.generate(MESSAGES, mode=Mode.NO_THINK, config=GREEDY)

    assert stub.lora_calls == [("load", {"lora_name": "stats/v3", "lora_path": str(folder.resolve())})]
    assert [r.body["model"] for r in stub.requests] == ["stats/v3", "stats/v3", "base-model"]
    assert backend.loaded_adapters() == ["stats/v3"]

    backend.unload_adapter("stats/v3")
    assert stub.lora_calls[-1] == ("unload", {"lora_name": "stats/v3"})
    assert stub.loras == {} and backend.loaded_adapters() == []
    backend.unload_adapter("stats/v3")  # the server no longer has it: not an error


def test_an_adapter_vllm_already_has_is_not_an_error(stub, tmp_path) -> None:
    fake_peft(tmp_path / "adapters" / "stats" / "v1")
    stub.script += [chat_reply(ANSWER), chat_reply(ANSWER)]
    for _ in range(2):  # a second client (a restarted repomend server) finds it loaded
        openai_backend(stub, tmp_path / "adapters").generate(
            MESSAGES, mode=Mode.NO_THINK, config=GREEDY, adapter="stats/v1"
        )
    assert [call for call, _ in stub.lora_calls] == ["load", "load"]
    assert [r.body["model"] for r in stub.requests] == ["stats/v1", "stats/v1"]


def test_a_restarted_vllm_gets_the_adapter_loaded_again(stub, tmp_path) -> None:
    fake_peft(tmp_path / "adapters" / "stats" / "v1")
    backend = openai_backend(stub, tmp_path / "adapters")
    stub.script += [chat_reply(ANSWER), chat_reply(ANSWER)]
    backend.generate(MESSAGES, mode=Mode.NO_THINK, config=GREEDY, adapter="stats/v1")

    stub.loras.clear()  # vLLM restarted: runtime-loaded adapters are gone
    [completion] = backend.generate(MESSAGES, mode=Mode.NO_THINK, config=GREEDY, adapter="stats/v1")

    assert completion.content == ANSWER
    assert [call for call, _ in stub.lora_calls] == ["load", "load"]
    assert [r.body["model"] for r in stub.requests] == ["stats/v1", "stats/v1", "stats/v1"]


def test_vllm_without_runtime_lora_updating_is_a_clear_error(stub, tmp_path) -> None:
    fake_peft(tmp_path / "adapters" / "stats" / "v1")
    stub.runtime_lora = False
    backend = openai_backend(stub, tmp_path / "adapters")
    with pytest.raises(BackendError, match="VLLM_ALLOW_RUNTIME_LORA_UPDATING=True"):
        backend.generate(MESSAGES, mode=Mode.NO_THINK, config=GREEDY, adapter="stats/v1")
    assert stub.requests == []


def test_vllm_that_cannot_read_the_folder_says_so(stub, tmp_path) -> None:
    fake_peft(tmp_path / "adapters" / "stats" / "v1")
    stub.sees_files = False  # vLLM on another machine without the data directory mounted
    backend = openai_backend(stub, tmp_path / "adapters")
    with pytest.raises(
        BackendError, match=r"could not load adapter 'stats/v1'.*must see that path.*No adapter"
    ):
        backend.generate(MESSAGES, mode=Mode.NO_THINK, config=GREEDY, adapter="stats/v1")
    assert backend.loaded_adapters() == [] and stub.requests == []


def test_adapters_vllm_was_started_with_are_used_as_they_are(stub, tmp_path) -> None:
    stub.loras["sql"] = "/models/sql-lora"  # --lora-modules sql=/models/sql-lora
    stub.script.append(chat_reply(ANSWER))
    openai_backend(stub, tmp_path / "adapters").generate(
        MESSAGES, mode=Mode.NO_THINK, config=GREEDY, adapter="sql"
    )
    assert stub.lora_calls == [] and stub.requests[0].body["model"] == "sql"
