"""The embedded SmolLM2 default: converted once from the GGUF, then reloaded from the cache."""

from __future__ import annotations

import time

import pytest

from repomend.backends.base import GenerationConfig
from repomend.backends.model_files import DEFAULT_MODEL_NAME
from repomend.backends.transformers_backend import TransformersBackend
from repomend.contract.conversation import Mode, extract_code
from repomend.contract.prompts import SYSTEM_PROMPT
from repomend.settings import Settings

BROKEN = "def mean(xs):\n    return sum(xs) / (len(xs) - 1)\n"
MESSAGES = [
    {"role": "system", "content": SYSTEM_PROMPT},
    {
        "role": "user",
        "content": "Fix the function `mean` so that the tests pass.\n```python\n"
        + BROKEN
        + "```\nThe test failed: assert mean([1, 2, 3]) == 2 (got 3.0)",
    },
]


@pytest.mark.slow
def test_default_model_converts_once_and_proposes_a_python_fix(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path)
    config = GenerationConfig(max_new_tokens=128)

    started = time.perf_counter()
    first = TransformersBackend(settings)
    first_load = time.perf_counter() - started
    [answer] = first.generate(MESSAGES, mode=Mode.NO_THINK, config=config)
    first.close()

    cache = settings.model_cache_dir / DEFAULT_MODEL_NAME
    assert (cache / "config.json").is_file()
    assert [p.name for p in settings.model_cache_dir.iterdir()] == [DEFAULT_MODEL_NAME]

    started = time.perf_counter()
    second = TransformersBackend(settings)
    second_load = time.perf_counter() - started
    [again] = second.generate(MESSAGES, mode=Mode.NO_THINK, config=config)

    assert second.describe() == DEFAULT_MODEL_NAME
    assert second_load < first_load / 2
    assert again.content == answer.content
    assert "def " in extract_code(answer.content)
