"""Preference pairs from trajectory folders: the passing answer over an answer the tests rejected.

Every kept trajectory item ends with an answer that passed the method's tests, and every
earlier assistant turn in it is one the tests rejected (the loop only goes on after a failure:
a mutant, a teacher's failed try). Each such rejected answer, distinct from the final one,
gives a pair. Only training-split items are used.

Where the pair's prompt ends (`at`):
- `first`: the method's first-turn prompt, a preference over what to write first;
- `last`: the whole conversation before the passing answer, where each rejected answer is code
  the tests already failed. This is the state a repair from a broken method is served in (the
  broken body was the first answer), and the pair is the fix over repeating a failed answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Literal, get_args

from training.errors import PairsError
from training.normalize import normalize_message
from training.storage import write_jsonl
from training.trajectory_store import ITEMS_FILE, read_items


def _code(content: str) -> str:
    """The answer's code tree: two answers that differ only in layout are the same answer."""
    return normalize_message({"role": "assistant", "content": content}).split("\n", 1)[1]


PairPrompt = Literal["first", "last"]
PAIR_PROMPTS: tuple[str, ...] = get_args(PairPrompt)


def pairs_from_item(item: dict, at: PairPrompt = "first") -> list[dict]:
    messages = item.get("messages") or []
    answers = [i for i, m in enumerate(messages) if m.get("role") == "assistant"]
    if len(answers) < 2 or answers[-1] != len(messages) - 1 or answers[0] < 2:
        return []
    end = answers[0] if at == "first" else answers[-1]
    prompt = [{"role": m["role"], "content": m["content"]} for m in messages[:end]]
    chosen = messages[-1]["content"]
    pairs, seen = [], {_code(chosen)}
    for index in answers[:-1]:
        rejected = messages[index]["content"]
        if _code(rejected) in seen:
            continue
        seen.add(_code(rejected))
        pairs.append(
            {
                "prompt": prompt,
                "chosen": [{"role": "assistant", "content": chosen}],
                "rejected": [{"role": "assistant", "content": rejected}],
                "meta": {
                    "method": item.get("method"),
                    "teacher": item.get("teacher"),
                    "variant": item.get("variant"),
                    "item": item.get("hash"),
                    "at": at,
                },
            }
        )
    return pairs


def pairs_from_trajectories(folders: Iterable[Path], at: PairPrompt = "first") -> list[dict]:
    if at not in PAIR_PROMPTS:
        raise PairsError(f"a pair's prompt ends at one of {', '.join(PAIR_PROMPTS)}, not {at!r}")
    found: list[dict] = []
    seen: set[str] = set()
    for folder in folders:
        folder = Path(folder)
        if not (folder / ITEMS_FILE).is_file():
            raise PairsError(f"{folder} holds no {ITEMS_FILE}: pass a `repomend train generate` folder")
        for item in read_items(folder):
            if item.get("split") != "train":
                continue
            for pair in pairs_from_item(item, at):
                key = json.dumps([pair["prompt"], pair["chosen"], pair["rejected"]], sort_keys=True)
                if key not in seen:
                    seen.add(key)
                    found.append(pair)
    return found


def write_pairs(folders: Iterable[Path], out: Path, at: PairPrompt = "first") -> int:
    """Write the pairs of `folders` to `out` (JSON lines, atomically); returns how many."""
    pairs = pairs_from_trajectories(folders, at)
    if not pairs:
        raise PairsError("no item holds a rejected answer before its passing one")
    return write_jsonl(out, pairs)
