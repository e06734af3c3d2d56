"""A backend that plays back prepared replies: for testing the loop and the server without a model."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from repomend.backends.base import Backend, BackendError, Completion, GenerationConfig
from repomend.contract.conversation import Message, Mode, split_reasoning

Reply = str | Callable[[list[Message]], str]


class ScriptedBackend(Backend):
    """Answers each call with the next scripted reply; records every conversation it was given."""

    def __init__(self, replies: Iterable[Reply], name: str = "scripted") -> None:
        self._replies = list(replies)
        self.name = name
        self.calls: list[tuple[list[Message], Mode, GenerationConfig, str | None]] = []

    def generate(
        self,
        messages: list[Message],
        *,
        mode: Mode,
        config: GenerationConfig,
        n: int = 1,
        adapter: str | None = None,
    ) -> list[Completion]:
        self.calls.append(([dict(m) for m in messages], mode, config, adapter))  # type: ignore[misc]
        completions = []
        for _ in range(n):
            if not self._replies:
                raise BackendError("the scripted backend ran out of replies")
            reply = self._replies.pop(0)
            text = reply(messages) if callable(reply) else reply
            split = split_reasoning(text)
            completions.append(
                Completion(
                    content=split.content,
                    reasoning=split.reasoning,
                    prompt_tokens=sum(len(m["content"].split()) for m in messages),
                    completion_tokens=len(text.split()),
                    seconds=0.0,
                )
            )
        return completions

    def describe(self, adapter: str | None = None) -> str:
        return self.name if adapter is None else f"{self.name}+{adapter}"
