"""The stand-in model: an OpenAI-compatible server answering from a script, started in the test process."""

from __future__ import annotations

from repomend.contract import prompts
from tests.repomend.backends.openai_stub import Reply, StubServer, chat_reply

__all__ = ["Reply", "StubServer", "chat_reply", "code_reply"]


def code_reply(code: str, delay: float = 0.0) -> Reply:
    """A chat completion answering with `code` as the system prompt asks (one python block)."""
    reply = chat_reply(prompts.as_code_reply(code))
    reply.delay = delay
    return reply
