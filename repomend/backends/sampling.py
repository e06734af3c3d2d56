"""Request checks every backend applies the same way."""

from __future__ import annotations

from repomend.backends.base import GenerationConfig


def check_request(config: GenerationConfig, n: int) -> None:
    """Refuse requests whose answer would be meaningless rather than silently wasting compute.

    Greedy decoding is deterministic, so `n > 1` at temperature 0 would return `n` copies of
    one answer: ask for a temperature instead.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if n > 1 and config.temperature <= 0:
        raise ValueError(
            f"n={n} samples need temperature > 0: greedy decoding would return {n} identical answers"
        )
    if config.max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be at least 1, got {config.max_new_tokens}")
    if config.thinking_budget is not None and config.thinking_budget < 1:
        raise ValueError(f"thinking_budget must be at least 1 or None, got {config.thinking_budget}")
    if not 0 < config.top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {config.top_p}")
