"""Chat rendering: the one place a conversation becomes the text a model reads.

Training, the in-process engine and llama.cpp all render through `render_prompt`, so the prompt
an adapter was trained on is the prompt every engine serves, token for token. The template is the
model's own Jinja chat template, taken from its Hugging Face tokenizer or from its GGUF metadata
(the same text: GGUF conversion copies it), and rendered with transformers' own Jinja renderer.

Think / no-think: templates with native `enable_thinking` (Qwen3) handle both themselves. For
the others, think mode opens the block (`<think>\n`) and the model closes it; no-think adds
nothing: the model answers as it was instruction-tuned, and answers in history never carry a
think block in either mode (reasoning is stripped). An empty `<think></think>` block in front
of a no-think answer is what Qwen3 writes, not what these models know: measured on
Qwen2.5-Coder-0.5B, it made the model write a bare fence and stop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repomend.contract.conversation import THINK_PREFILL, Message, Mode


@dataclass(frozen=True)
class ChatTemplate:
    source: str
    """The Jinja template text."""
    special_tokens: dict[str, str] = field(default_factory=dict)
    """`bos_token`, `eos_token`, ...: the names templates may refer to."""

    @property
    def native_thinking(self) -> bool:
        """Qwen3-style templates open and close the think block themselves."""
        return "enable_thinking" in self.source

    @classmethod
    def from_tokenizer(cls, tokenizer: Any) -> ChatTemplate:
        source = getattr(tokenizer, "chat_template", None)
        if not source:
            raise ValueError("the tokenizer has no chat template; use an instruct/chat model")
        tokens = {k: v for k, v in tokenizer.special_tokens_map.items() if isinstance(v, str)}
        return cls(source, tokens)

    @classmethod
    def from_gguf(cls, path: Path) -> ChatTemplate:
        """The template and special tokens stored in a GGUF file's metadata (no weights are read)."""
        from gguf import GGUFReader

        reader = GGUFReader(path)

        def value(key: str) -> Any:
            entry = reader.fields.get(key)
            return None if entry is None else entry.contents()

        source = value("tokenizer.chat_template")
        if not source:
            raise ValueError(f"{path} holds no chat template; use an instruct/chat model")
        tokens_field = reader.fields.get("tokenizer.ggml.tokens")
        special: dict[str, str] = {}
        for name, key in (
            ("bos_token", "bos_token_id"),
            ("eos_token", "eos_token_id"),
            ("pad_token", "padding_token_id"),
            ("unk_token", "unknown_token_id"),
        ):
            token_id = value(f"tokenizer.ggml.{key}")
            if token_id is None or tokens_field is None:
                continue
            part = tokens_field.data[int(token_id)]
            special[name] = bytes(tokens_field.parts[part]).decode("utf-8")
        return cls(str(source), special)


def render_prompt(template: ChatTemplate, messages: list[Message], mode: Mode) -> str:
    """The exact text the model reads, ending where the assistant starts writing."""
    from transformers.utils.chat_template_utils import render_jinja_template

    thinking = mode is Mode.THINK
    rendered, _ = render_jinja_template(
        conversations=[[dict(message) for message in messages]],
        chat_template=template.source,
        add_generation_prompt=True,
        enable_thinking=thinking,
        **template.special_tokens,
    )
    text = rendered[0]
    if thinking and not template.native_thinking:
        text += THINK_PREFILL
    return text


def completion_prefix(template: ChatTemplate, mode: Mode) -> str:
    """What the rendered prompt already holds of the reply: the open think block in think mode."""
    return "" if template.native_thinking or mode is not Mode.THINK else THINK_PREFILL
