"""The in-process backend on a tiny random Llama: prompts, budgets, sampling, adapters, errors."""

from __future__ import annotations

import pytest

from repomend.backends.base import BackendError, GenerationConfig
from repomend.contract.conversation import THINK_CLOSE, THINK_PREFILL, Mode
from repomend.contract.prompts import SYSTEM_PROMPT
from repomend.settings import Settings
from tests.support.tiny_models import SCRIPTED_ANSWER, SCRIPTED_REASONING

MESSAGES = [
    {"role": "system", "content": SYSTEM_PROMPT},
    {"role": "user", "content": "Fix `mean`:\n```python\ndef mean(xs):\n    return sum(xs)\n```"},
]
GREEDY = GenerationConfig(max_new_tokens=12, thinking_budget=6, temperature=0.0)


def test_generation_returns_text_and_token_counts(tiny_backend) -> None:
    [completion] = tiny_backend.generate(MESSAGES, mode=Mode.NO_THINK, config=GREEDY)

    prompt = tiny_backend.render_prompt(MESSAGES, Mode.NO_THINK)
    assert completion.prompt_tokens == len(tiny_backend._tokenizer(prompt)["input_ids"])
    # The tiny model never emits end-of-turn tokens, so it always runs to the limit.
    assert completion.completion_tokens == GREEDY.max_new_tokens
    assert completion.truncated
    assert completion.content.strip()
    assert completion.reasoning is None
    assert not completion.budget_forced
    assert completion.seconds > 0


def test_greedy_generation_is_deterministic(tiny_backend) -> None:
    first = tiny_backend.generate(MESSAGES, mode=Mode.NO_THINK, config=GREEDY)
    second = tiny_backend.generate(MESSAGES, mode=Mode.NO_THINK, config=GREEDY)
    assert first[0].content == second[0].content


def test_prompt_keeps_our_system_message_and_opens_the_think_block_only_in_think_mode(tiny_backend) -> None:
    no_think = tiny_backend.render_prompt(MESSAGES, Mode.NO_THINK)
    think = tiny_backend.render_prompt(MESSAGES, Mode.THINK)

    assert no_think.endswith("<|im_start|>assistant\n")  # no-think: the model answers at once
    assert think.endswith("<|im_start|>assistant\n" + THINK_PREFILL)
    assert no_think.startswith("<|im_start|>system\n" + SYSTEM_PROMPT + "<|im_end|>")
    assert "helpful AI assistant" not in no_think


def test_thinking_budget_forces_the_close_and_still_answers(tiny_backend) -> None:
    short = GenerationConfig(max_new_tokens=8, thinking_budget=5)
    longer = GenerationConfig(max_new_tokens=8, thinking_budget=10)

    [forced] = tiny_backend.generate(MESSAGES, mode=Mode.THINK, config=short)
    [forced_longer] = tiny_backend.generate(MESSAGES, mode=Mode.THINK, config=longer)

    assert forced.budget_forced
    assert forced.reasoning
    assert forced.content.strip()
    assert THINK_CLOSE not in forced.content
    assert forced.completion_tokens == 5 + 8  # reasoning stopped at the budget, answer at its limit
    # Greedy reasoning under a larger budget extends the shorter one: the budget cut it.
    assert forced_longer.reasoning.startswith(forced.reasoning)
    assert len(forced_longer.reasoning) > len(forced.reasoning)
    assert forced_longer.completion_tokens == 10 + 8


def test_reasoning_closed_within_budget_is_not_forced(scripted_backend) -> None:
    config = GenerationConfig(max_new_tokens=20, thinking_budget=50)
    [completion] = scripted_backend.generate(MESSAGES, mode=Mode.THINK, config=config)

    tokens = scripted_backend._tokenizer(
        SCRIPTED_REASONING + THINK_CLOSE + SCRIPTED_ANSWER, add_special_tokens=False
    )["input_ids"]
    assert completion.reasoning == SCRIPTED_REASONING
    assert completion.content == SCRIPTED_ANSWER
    assert not completion.budget_forced
    assert not completion.truncated  # the model ended its turn
    assert completion.completion_tokens == len(tokens)


def test_budget_shorter_than_the_reasoning_cuts_it(scripted_backend) -> None:
    config = GenerationConfig(max_new_tokens=20, thinking_budget=1)
    [completion] = scripted_backend.generate(MESSAGES, mode=Mode.THINK, config=config)

    assert completion.budget_forced
    assert completion.reasoning == scripted_backend._tokenizer.decode(
        scripted_backend._tokenizer("ab", add_special_tokens=False)["input_ids"][:1]
    )


@pytest.mark.parametrize("mode", [Mode.NO_THINK, Mode.THINK])
def test_n_samples_give_n_completions(tiny_backend, mode: Mode) -> None:
    config = GenerationConfig(max_new_tokens=10, thinking_budget=4, temperature=1.0, seed=3)

    completions = tiny_backend.generate(MESSAGES, mode=mode, config=config, n=4)

    assert len(completions) == 4
    assert all(c.content.strip() for c in completions)
    assert len({c.content for c in completions}) > 1


def test_seed_makes_sampling_reproducible(tiny_backend) -> None:
    def sample(seed: int) -> list[str]:
        config = GenerationConfig(max_new_tokens=10, temperature=1.0, seed=seed)
        return [c.content for c in tiny_backend.generate(MESSAGES, mode=Mode.NO_THINK, config=config, n=2)]

    assert sample(7) == sample(7)
    assert sample(7) != sample(8)


def test_several_greedy_samples_are_refused(tiny_backend) -> None:
    with pytest.raises(ValueError, match="temperature"):
        tiny_backend.generate(MESSAGES, mode=Mode.NO_THINK, config=GREEDY, n=2)


def test_adapter_selected_by_name_changes_the_output_and_base_stays_available(
    tiny_backend,
) -> None:
    [base] = tiny_backend.generate(MESSAGES, mode=Mode.NO_THINK, config=GREEDY)
    [adapted] = tiny_backend.generate(MESSAGES, mode=Mode.NO_THINK, config=GREEDY, adapter="a1")
    [base_again] = tiny_backend.generate(MESSAGES, mode=Mode.NO_THINK, config=GREEDY)
    [adapted_again] = tiny_backend.generate(MESSAGES, mode=Mode.NO_THINK, config=GREEDY, adapter="a1")

    assert adapted.content != base.content
    assert base_again.content == base.content
    assert adapted_again.content == adapted.content
    assert tiny_backend.describe() == "tiny-chat"
    assert tiny_backend.describe("a1") == "tiny-chat+a1"


@pytest.mark.parametrize("name", ["nope", "../a1", ""])
def test_unknown_adapter_lists_the_available_ones(tiny_backend, name: str) -> None:
    with pytest.raises(BackendError, match=r"unknown adapter .*available: a1"):
        tiny_backend.generate(MESSAGES, mode=Mode.NO_THINK, config=GREEDY, adapter=name)


def test_missing_model_folder_is_a_clear_error(tmp_path) -> None:
    from repomend.backends.transformers_backend import TransformersBackend

    missing = tmp_path / "no-such-model"
    with pytest.raises(BackendError, match="does not exist"):
        TransformersBackend(Settings(model=str(missing), data_dir=tmp_path))


def test_uncached_hub_id_is_not_downloaded(tmp_path) -> None:
    from repomend.backends.transformers_backend import TransformersBackend

    with pytest.raises(BackendError, match="local Hugging Face cache"):
        TransformersBackend(Settings(model="repomend-test/not-a-model", data_dir=tmp_path))


def test_folder_without_config_is_rejected(tmp_path) -> None:
    from repomend.backends.transformers_backend import TransformersBackend

    (tmp_path / "empty").mkdir()
    with pytest.raises(BackendError, match=r"no config\.json"):
        TransformersBackend(Settings(model=str(tmp_path / "empty"), data_dir=tmp_path))
