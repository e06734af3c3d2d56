"""A dataset folder (`train.jsonl` / `validation.jsonl` in TRL conversational form + `manifest.json`)
turned into prompt/completion rows for supervised fine-tuning.

The loss covers the last assistant turn only. Earlier assistant turns are answers the tests
rejected (a mutant, a teacher's failed try): training on them would teach the bug. The
history is shown the way the repair loop shows it at serve time, reasoning removed (the loop
keeps only the answer of earlier turns), so the model learns from the prompts it will read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from repomend.contract.conversation import Message, history_reply, split_reasoning
from training.errors import DatasetFolderError

SPLIT_FILES = {"train": "train.jsonl", "validation": "validation.jsonl"}
MANIFEST_FILE = "manifest.json"
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class SFTRow:
    prompt: list[Message]
    completion: list[Message]
    """One assistant message: the answer the loss is computed on."""

    def as_dict(self) -> dict[str, Any]:
        return {"prompt": [dict(m) for m in self.prompt], "completion": [dict(m) for m in self.completion]}


@dataclass
class SFTData:
    path: Path
    version: str
    hash: str
    """sha256 of the TRL files as read: names exactly what was trained on."""
    train: list[SFTRow]
    validation: list[SFTRow]
    skipped: dict[str, int] = field(default_factory=dict)
    """Rows left out and why (too long for `max_length`)."""
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def repository(self) -> str | None:
        """The repository the dataset was built from, when its manifest says."""
        for source in self.manifest.get("sources") or []:
            name = (source.get("extraction") or {}).get("name")
            if name:
                return str(name)
        return None


def to_row(messages: list[Message]) -> SFTRow:
    """Split a conversation before its last assistant turn; earlier answers lose their reasoning."""
    if not messages or messages[-1]["role"] != "assistant":
        raise ValueError("the conversation must end with an assistant turn")
    prompt: list[Message] = []
    for message in messages[:-1]:
        if message["role"] == "assistant":
            content = history_reply(split_reasoning(message["content"]).content)
            prompt.append({"role": "assistant", "content": content})
        else:
            prompt.append({"role": message["role"], "content": message["content"]})
    if not any(m["role"] == "user" for m in prompt):
        raise ValueError("the conversation has no user turn before its answer")
    last = messages[-1]
    return SFTRow(prompt, [{"role": "assistant", "content": last["content"]}])


def _read_rows(file: Path) -> tuple[list[SFTRow], bytes]:
    if not file.is_file():
        return [], b""
    data = file.read_bytes()
    rows: list[SFTRow] = []
    for number, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            messages = item["messages"]
            for message in messages:
                if message["role"] not in ROLES or not isinstance(message["content"], str):
                    raise ValueError(f"unexpected message {str(message)[:80]}")
            rows.append(to_row([{"role": m["role"], "content": m["content"]} for m in messages]))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
            raise DatasetFolderError(f"{file}:{number}: not a TRL conversation row ({err})") from err
    return rows, data


def load_sft_data(folder: Path) -> SFTData:
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetFolderError(f"no such dataset folder: {folder}")
    if not (folder / SPLIT_FILES["train"]).is_file():
        raise DatasetFolderError(
            f"{folder} holds no {SPLIT_FILES['train']}: pass a `repomend train dataset` folder"
        )
    manifest: dict[str, Any] = {}
    if (folder / MANIFEST_FILE).is_file():
        try:
            manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise DatasetFolderError(f"{folder / MANIFEST_FILE} is not valid JSON: {err}") from err
    train, train_bytes = _read_rows(folder / SPLIT_FILES["train"])
    validation, validation_bytes = _read_rows(folder / SPLIT_FILES["validation"])
    if not train:
        raise DatasetFolderError(f"{folder / SPLIT_FILES['train']} holds no rows")
    digest = hashlib.sha256(train_bytes + b"\0" + validation_bytes).hexdigest()
    version = str(manifest.get("version") or digest[:12])
    return SFTData(folder.resolve(), version, f"sha256:{digest}", train, validation, manifest=manifest)


def drop_too_long(data: SFTData, length: Callable[[SFTRow], int], max_length: int) -> SFTData:
    """Leave out rows whose whole conversation exceeds `max_length` tokens (counted in `skipped`)."""
    kept: dict[str, list[SFTRow]] = {}
    skipped = dict(data.skipped)
    for split in ("train", "validation"):
        rows = getattr(data, split)
        kept[split] = [row for row in rows if length(row) <= max_length]
        if len(rows) - len(kept[split]):
            skipped[f"{split}_too_long"] = len(rows) - len(kept[split])
    if not kept["train"]:
        raise DatasetFolderError(f"every training row is longer than {max_length} tokens; raise --max-length")
    return SFTData(
        data.path, data.version, data.hash, kept["train"], kept["validation"], skipped, data.manifest
    )


def first_validation_rows(data: SFTData, rows: int | None) -> SFTData:
    """Keep the first `rows` validation rows (None: all); the rest are counted in `skipped`."""
    if rows is None or len(data.validation) <= rows:
        return data
    skipped = {**data.skipped, "validation_over_cap": len(data.validation) - rows}
    return replace(data, validation=data.validation[:rows], skipped=skipped)
