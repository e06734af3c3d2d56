"""The llama.cpp engine on a real (tiny) model: generation, think budget, samples, the prompt cache,
adapters chosen per request, one rendering shared with training, and the child process's lifecycle."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from repomend.backends.base import BackendError, GenerationConfig
from repomend.backends.llamacpp_backend import LlamaCppBackend
from repomend.contract.conversation import THINK_CLOSE, Mode
from repomend.contract.rendering import ChatTemplate, render_prompt
from repomend.settings import Settings
from tests.support.adapter_folders import lora_adapter

MESSAGES = [
    {"role": "system", "content": "You repair Python methods."},
    {"role": "user", "content": "Generate code for the method `mean`."},
]
CONVERSATION = [
    *MESSAGES,
    {"role": "assistant", "content": "```python\ndef mean(xs):\n    return sum(xs)\n```"},
    {
        "role": "user",
        "content": "Correct the answer. Tests failed:\nTEST_RESULT:\nE  assert 6 == 2.0 — ünïcode ✓",
    },
]
GREEDY = GenerationConfig(max_new_tokens=10, stop_after_code_block=False)


def _settings(tiny_gguf, tmp_path: Path, **overrides) -> Settings:
    fields = {
        "engine": "llamacpp",
        "model": str(tiny_gguf.gguf),
        "data_dir": tmp_path / "data",
        "adapters_dir": tmp_path / "adapters",
        "context_size": 2048,
        "threads": 1,
        "_env_file": None,
    }
    fields.update(overrides)
    return Settings(**fields)


@pytest.fixture(scope="module")
def engine(tiny_gguf, tmp_path_factory):
    backend = LlamaCppBackend(_settings(tiny_gguf, tmp_path_factory.mktemp("engine"), engine_slots=3))
    yield backend
    backend.close()


def test_greedy_replies_run_to_the_limit_and_repeat_exactly(engine) -> None:
    [first] = engine.generate(MESSAGES, mode=Mode.NO_THINK, config=GREEDY)
    [second] = engine.generate(MESSAGES, mode=Mode.NO_THINK, config=GREEDY)
    assert first.completion_tokens == 10 and first.truncated
    assert first.content and first.content == second.content
    assert first.prompt_tokens == second.prompt_tokens > 10
    assert engine.describe() == "tiny-smol" and engine.describe("stats/v1") == "tiny-smol+stats/v1"


def test_a_later_turn_reuses_the_cached_prefix(engine) -> None:
    engine.generate(MESSAGES, mode=Mode.NO_THINK, config=GREEDY)
    [later] = engine.generate(CONVERSATION, mode=Mode.NO_THINK, config=GREEDY)
    opening = engine.tokenize(render_prompt(engine.template, MESSAGES, Mode.NO_THINK))
    following = engine.tokenize(render_prompt(engine.template, CONVERSATION, Mode.NO_THINK))
    pairs = enumerate(zip(opening, following, strict=False))
    shared = next((i for i, (a, b) in pairs if a != b), len(opening))
    assert shared > 20 and later.cached_tokens >= shared - 1  # the shared prefix is not evaluated again
    assert later.prompt_tokens == len(following)


def test_samples_of_a_turn_come_from_one_request_and_repeat_with_their_seed(engine) -> None:
    config = GenerationConfig(max_new_tokens=8, temperature=1.0, seed=7, stop_after_code_block=False)
    first = engine.generate(MESSAGES, mode=Mode.NO_THINK, config=config, n=3)
    again = engine.generate(MESSAGES, mode=Mode.NO_THINK, config=config, n=3)
    assert len(first) == 3 and len({c.content for c in first}) > 1  # diverse samples
    assert [c.content for c in first] == [c.content for c in again]
    more = engine.generate(MESSAGES, mode=Mode.NO_THINK, config=config, n=5)  # 3 slots: two requests
    assert [c.content for c in more[:3]] == [c.content for c in first] and len(more) == 5


def test_think_mode_forces_the_close_at_the_budget_and_then_answers(engine) -> None:
    config = GenerationConfig(max_new_tokens=6, thinking_budget=5, stop_after_code_block=False)
    [completion] = engine.generate(MESSAGES, mode=Mode.THINK, config=config)
    assert completion.budget_forced
    assert completion.reasoning and THINK_CLOSE not in completion.content
    assert completion.completion_tokens == 5 + 6


def test_a_prompt_beyond_the_context_is_refused_before_generation(engine) -> None:
    long = [*MESSAGES[:1], {"role": "user", "content": "word " * 3000}]
    with pytest.raises(BackendError, match="the engine's context holds 2048"):
        engine.generate(long, mode=Mode.NO_THINK, config=GREEDY)


@pytest.mark.parametrize("mode", list(Mode))
def test_the_engine_counts_a_conversation_as_it_will_read_it(engine, mode) -> None:
    """What the loop fits conversations by: the context and the prompt's length in the model's tokens."""
    config = GenerationConfig(max_new_tokens=2, thinking_budget=2, stop_after_code_block=False)
    [completion] = engine.generate(CONVERSATION, mode=mode, config=config)
    assert engine.context_size() == 2048
    assert engine.count_prompt_tokens(CONVERSATION, mode) == completion.prompt_tokens
    assert engine.count_prompt_tokens(MESSAGES, mode) < engine.count_prompt_tokens(CONVERSATION, mode)


@pytest.mark.parametrize("mode", list(Mode))
def test_training_and_serving_read_the_same_tokens(engine, tiny_gguf, mode) -> None:
    """The chat rendering of the training path (the Hugging Face tokenizer) and the engine's request
    (the server's own template and tokenizer) agree token for token, prefills included."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_gguf.folder)
    trained_text = render_prompt(ChatTemplate.from_tokenizer(tokenizer), CONVERSATION, mode)
    served_text = render_prompt(engine.template, CONVERSATION, mode)
    assert served_text == trained_text
    trained_ids = tokenizer(trained_text, add_special_tokens=False)["input_ids"]
    assert engine.tokenize(served_text) == trained_ids
    assert ChatTemplate.from_tokenizer(tokenizer).source == engine.template.source


def test_adapters_are_chosen_per_request_and_the_base_comes_back_unchanged(tiny_gguf, tmp_path) -> None:
    settings = _settings(tiny_gguf, tmp_path)
    lora_adapter(tiny_gguf.folder, settings.resolved_adapters_dir / "stats" / "v1", seed=1, base_model="t")
    backend = LlamaCppBackend(settings)

    def reply(adapter: str | None = None) -> str:
        return backend.generate(MESSAGES, mode=Mode.NO_THINK, config=GREEDY, adapter=adapter)[0].content

    try:
        base = reply()
        first = reply("stats/v1")
        assert first != base and backend.loaded_adapters() == ["stats/v1"]
        assert (settings.resolved_adapters_dir / "stats" / "v1" / "adapter.gguf").is_file()
        assert reply() == base  # explicit zero scales: the base model, not the last adapter
        lora_adapter(
            tiny_gguf.folder, settings.resolved_adapters_dir / "stats" / "v2", seed=2, base_model="t"
        )
        second = reply("stats/v2")  # a new adapter: the engine restarts with both
        assert second not in (base, first)
        assert backend.loaded_adapters() == ["stats/v1", "stats/v2"]
        assert reply("stats/v1") == first and reply() == base
        backend.unload_adapter("stats/v1")  # its files are about to go: the others keep their answers
        assert backend.loaded_adapters() == ["stats/v2"]
        assert reply("stats/v2") == second and reply() == base
        with pytest.raises(BackendError, match="unknown adapter 'stats/v9'"):
            reply("stats/v9")
    finally:
        backend.close()


def test_a_dead_engine_is_started_again_for_the_next_request(tiny_gguf, tmp_path) -> None:
    backend = LlamaCppBackend(_settings(tiny_gguf, tmp_path))
    try:
        [before] = backend.generate(MESSAGES, mode=Mode.NO_THINK, config=GREEDY)
        assert backend.server is not None and backend.server.pid is not None
        os.kill(backend.server.pid, signal.SIGKILL)
        time.sleep(0.2)
        [after] = backend.generate(MESSAGES, mode=Mode.NO_THINK, config=GREEDY)
        assert after.content == before.content and backend.server.restarts == 1
    finally:
        backend.close()
    assert not backend.server.running()


def test_the_engine_dies_with_its_parent(tiny_gguf, tmp_path) -> None:
    """A killed `repomend serve` leaves no llama-server behind."""
    script = textwrap.dedent(
        f"""
        import sys
        from repomend.backends.llamacpp_backend import LlamaCppBackend
        from repomend.settings import Settings
        settings = Settings(engine="llamacpp", model={str(tiny_gguf.gguf)!r},
                            data_dir={str(tmp_path / "data")!r}, context_size=512, _env_file=None)
        backend = LlamaCppBackend(settings)
        print(backend.server.pid, flush=True)
        sys.stdin.read()
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    os.kill(child, 0)  # running
    parent.kill()
    parent.wait()
    for _ in range(100):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(child, signal.SIGKILL)
    pytest.fail("llama-server outlived its parent")


def test_a_missing_model_names_the_pull_command(tmp_path) -> None:
    settings = Settings(engine="llamacpp", model="qwen2.5-coder-0.5b", data_dir=tmp_path, _env_file=None)
    with pytest.raises(BackendError, match=r"repomend models pull qwen2\.5-coder-0\.5b"):
        LlamaCppBackend(settings)


def test_an_adapter_converts_with_the_config_derived_from_the_served_gguf(tiny_gguf, tmp_path) -> None:
    """An adapter whose base folder is gone still converts: the config comes from the GGUF itself."""
    import json

    from repomend.backends.model_files import adapter_gguf, model_config_dir

    settings = _settings(tiny_gguf, tmp_path)
    folder = lora_adapter(tiny_gguf.folder, tmp_path / "moved", seed=3, base_model="t")
    config_file = folder / "adapter_config.json"
    config_file.write_text(
        json.dumps({**json.loads(config_file.read_text()), "base_model_name_or_path": "/no/such/folder"})
    )
    derived = json.loads((model_config_dir(settings) / "config.json").read_text())
    assert derived["architectures"] == ["LlamaForCausalLM"]
    assert adapter_gguf(folder, settings).stat().st_size > 0
