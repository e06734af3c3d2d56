"""The small interface every model backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from repomend.contract.conversation import Message, Mode


class BackendError(RuntimeError):
    """The model could not be loaded or asked; the message is meant for the user."""


@dataclass(frozen=True)
class GenerationConfig:
    max_new_tokens: int = 768
    """Budget for the answer (after any reasoning)."""
    thinking_budget: int | None = 512
    """Think mode only: reasoning tokens before `</think>` is forced; None = unbounded."""
    temperature: float = 0.0
    """0 = greedy."""
    top_p: float = 0.95
    seed: int | None = None
    stop_after_code_block: bool = True
    """End the answer once it holds a complete fenced code block with a `def`: only that block
    is used, and small models otherwise ramble on to `max_new_tokens` (the in-process backend
    honours it; servers without regex stops ignore it)."""


@dataclass(frozen=True)
class Completion:
    content: str
    """The answer, reasoning removed."""
    reasoning: str | None
    prompt_tokens: int
    completion_tokens: int
    """Reasoning + answer tokens generated."""
    seconds: float
    budget_forced: bool = False
    """The thinking budget ran out and `</think>` was forced."""
    truncated: bool = False
    """The answer hit `max_new_tokens`."""
    cached_tokens: int = 0
    """Prompt tokens the engine took from its cache instead of evaluating (llama.cpp)."""


class Backend(ABC):
    """A chat model that answers in think or no-think mode, optionally through a named adapter."""

    @abstractmethod
    def generate(
        self,
        messages: list[Message],
        *,
        mode: Mode,
        config: GenerationConfig,
        n: int = 1,
        adapter: str | None = None,
    ) -> list[Completion]:
        """Return `n` completions of the conversation (the last message is the user's)."""

    @abstractmethod
    def describe(self, adapter: str | None = None) -> str:
        """Which model (and adapter) answers, for results and logs."""

    def context_size(self) -> int | None:
        """Tokens one request may hold, prompt and answers together; None: unknown (the loop
        then sends conversations uncut)."""
        return None

    def count_prompt_tokens(self, messages: list[Message], mode: Mode) -> int:
        """The rendered prompt's length in the model's own tokens (needed when `context_size`
        is known)."""
        raise NotImplementedError

    def loaded_adapters(self) -> list[str]:
        """Names of the adapters this backend has loaded so far (loading happens on first use)."""
        return []

    def unload_adapter(self, name: str) -> None:  # noqa: B027 - optional hook
        """Free an adapter whose files are about to be deleted; an unknown name is not an error."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release model memory or connections."""
