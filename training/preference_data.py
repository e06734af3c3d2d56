"""Preference pairs for DPO, read from JSON lines in TRL's conversational preference format.

Each line: `{"prompt": [system, user, (assistant, user)*], "chosen": reply, "rejected": reply,
"meta": {...}}`, a reply being a string or `[{"role": "assistant", "content": ...}]`. Replies are
brought into the form SFT trains on and the model answers in at serve time: an answer without a
think block gets the empty one (no-think mode); earlier assistant turns of the prompt lose their
reasoning, as the repair loop's history does.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repomend.contract.conversation import THINK_OPEN, Message, history_reply, split_reasoning
from training.errors import PreferenceDataError
from training.normalize import normalize_text

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class PreferencePair:
    prompt: list[Message]
    chosen: list[Message]
    rejected: list[Message]
    meta: dict[str, Any] = field(default_factory=dict)

    def as_row(self) -> dict[str, Any]:
        """TRL's conversational preference row (no `meta`: the trainer reads only these keys)."""
        return {
            "prompt": [dict(m) for m in self.prompt],
            "chosen": [dict(m) for m in self.chosen],
            "rejected": [dict(m) for m in self.rejected],
        }


@dataclass
class PreferenceData:
    path: Path
    version: str
    hash: str
    pairs: list[PreferencePair]
    skipped: dict[str, int] = field(default_factory=dict)


def answer_form(content: str) -> str:
    """An answer as the model writes it: with its think block in think mode, bare otherwise."""
    if content.lstrip().startswith(THINK_OPEN):
        return content
    return content.lstrip("\n")


def _reply(value: Any, name: str) -> list[Message]:
    if isinstance(value, str):
        content = value
    elif (
        isinstance(value, list)
        and len(value) == 1
        and isinstance(value[0], dict)
        and value[0].get("role") == "assistant"
        and isinstance(value[0].get("content"), str)
    ):
        content = value[0]["content"]
    else:
        raise ValueError(f"`{name}` must be a string or one assistant message")
    if not content.strip():
        raise ValueError(f"`{name}` is empty")
    return [{"role": "assistant", "content": answer_form(content)}]


def _prompt(value: Any) -> list[Message]:
    if not isinstance(value, list) or not value:
        raise ValueError("`prompt` must be a non-empty list of messages")
    prompt: list[Message] = []
    for message in value:
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise ValueError(f"unexpected prompt message {str(message)[:80]}")
        if not isinstance(message.get("content"), str):
            raise ValueError("every prompt message needs a string `content`")
        content = message["content"]
        if message["role"] == "assistant":
            content = history_reply(split_reasoning(content).content)
        prompt.append({"role": message["role"], "content": content})
    if prompt[-1]["role"] != "user":
        raise ValueError("the prompt must end with a user turn")
    return prompt


def parse_pair(item: Any) -> PreferencePair:
    if not isinstance(item, dict):
        raise ValueError("a line must hold a JSON object")
    for key in ("prompt", "chosen", "rejected"):
        if key not in item:
            raise ValueError(f"missing `{key}`")
    meta = item.get("meta") or {}
    if not isinstance(meta, dict):
        raise ValueError("`meta` must be an object")
    return PreferencePair(
        _prompt(item["prompt"]), _reply(item["chosen"], "chosen"), _reply(item["rejected"], "rejected"), meta
    )


def read_pairs(file: Path) -> PreferenceData:
    """Every pair of the file; a malformed line stops with its number, identical replies are skipped."""
    file = Path(file)
    if not file.is_file():
        raise PreferenceDataError(f"no such pairs file: {file}")
    data = file.read_bytes()
    pairs: list[PreferencePair] = []
    skipped: Counter[str] = Counter()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise PreferenceDataError(f"{file} is not UTF-8 text: {err}") from err
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            pair = parse_pair(json.loads(line))
        except (json.JSONDecodeError, ValueError) as err:
            raise PreferenceDataError(f"{file}:{number}: not a preference pair ({err})") from err
        if normalize_text(pair.chosen[0]["content"]) == normalize_text(pair.rejected[0]["content"]):
            skipped["identical"] += 1
            continue
        pairs.append(pair)
    if not pairs:
        raise PreferenceDataError(f"{file} holds no usable preference pair")
    digest = hashlib.sha256(data).hexdigest()
    return PreferenceData(file.resolve(), digest[:12], f"sha256:{digest}", pairs, dict(skipped))


def drop_too_long(
    data: PreferenceData, length: Callable[[list[Message]], int], max_length: int
) -> PreferenceData:
    """Leave out pairs whose prompt + longer reply exceeds `max_length` tokens: a truncated
    answer would teach a preference between two cut-off texts."""
    kept = [
        pair
        for pair in data.pairs
        if max(length(pair.prompt + pair.chosen), length(pair.prompt + pair.rejected)) <= max_length
    ]
    skipped = dict(data.skipped)
    if len(data.pairs) - len(kept):
        skipped["too_long"] = len(data.pairs) - len(kept)
    if not kept:
        raise PreferenceDataError(f"every pair is longer than {max_length} tokens; raise --max-length")
    return PreferenceData(data.path, data.version, data.hash, kept, skipped)
