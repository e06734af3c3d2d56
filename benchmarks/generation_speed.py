"""Decode speed of the configured model on a repair prompt: batch 1 greedy and batch 4 sampled.

Run: `.venv/bin/python benchmarks/generation_speed.py` (settings from REPOMEND_* variables,
e.g. REPOMEND_THREADS=2). Numbers are only meaningful on an otherwise idle machine: two
processes sharing the cores slow each other down several times over.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from repomend.backends import load_backend
from repomend.backends.base import GenerationConfig
from repomend.contract.conversation import Mode
from repomend.contract.prompts import SYSTEM_PROMPT, first_turn_prompt
from repomend.settings import Settings

FILE = '''"""Small statistics helpers."""


def mean(xs):
    """Arithmetic mean of a non-empty list."""


def variance(xs):
    """Population variance."""
    m = mean(xs)
    return sum((x - m) ** 2 for x in xs) / len(xs)
'''


def repair_messages() -> list[dict[str, str]]:
    user = first_turn_prompt(
        method="mean",
        class_name=None,
        declaration="def mean(xs):",
        docstring="Arithmetic mean of a non-empty list.",
        file_content=FILE,
        path="stats.py",
        line=FILE.split("\n").index("def mean(xs):"),
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def prefill_seconds(backend, messages) -> float:
    """Time to produce one token: almost all of it is reading the prompt."""
    config = GenerationConfig(max_new_tokens=1)
    started = time.perf_counter()
    backend.generate(messages, mode=Mode.NO_THINK, config=config)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=128, help="new tokens per answer")
    parser.add_argument("--runs", type=int, default=5, help="batch-1 repetitions")
    args = parser.parse_args()

    settings = Settings()
    started = time.perf_counter()
    backend = load_backend(settings)
    print(
        f"model: {backend.describe()}  load: {time.perf_counter() - started:.1f} s  "
        f"threads: {torch.get_num_threads()}  dtype: {settings.dtype}"
    )
    messages = repair_messages()

    prefill_seconds(backend, messages)  # warm-up
    prefills = [prefill_seconds(backend, messages) for _ in range(3)]

    greedy = GenerationConfig(max_new_tokens=args.tokens, temperature=0.0, stop_after_code_block=False)
    rates = []
    for _ in range(args.runs):
        [completion] = backend.generate(messages, mode=Mode.NO_THINK, config=greedy)
        rates.append(completion.completion_tokens / completion.seconds)
    prompt_tokens = completion.prompt_tokens
    print(f"prefill ({prompt_tokens} prompt tokens): {statistics.median(prefills):.2f} s")
    print(
        f"batch 1 greedy: median {statistics.median(rates):.1f} tokens/s "
        f"over {args.runs} runs of {completion.completion_tokens} tokens "
        f"(runs: {', '.join(f'{r:.1f}' for r in rates)})"
    )

    sampled = GenerationConfig(
        max_new_tokens=args.tokens, temperature=0.7, seed=0, stop_after_code_block=False
    )
    batch = backend.generate(messages, mode=Mode.NO_THINK, config=sampled, n=4)
    total = sum(c.completion_tokens for c in batch)
    print(
        f"batch 4 sampled: {total / batch[0].seconds:.1f} tokens/s aggregate "
        f"({total} tokens in {batch[0].seconds:.1f} s)"
    )
    backend.close()


if __name__ == "__main__":
    main()
