"""Small fine-tuning datasets in the dataset step's format, and a tiny chat model to train (the
`tiny_chat_model` fixture: import it into the test module that uses it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from repomend.contract import prompts
from tests.support.tiny_models import build_model, build_tokenizer

MUTANT = "def double(x):\n    return x * 3"
TRUTH = "def double(x):\n    return x * 2"


def conversation(index: int, think: bool = False) -> list[dict]:
    """[system, generate prompt, broken answer, test feedback, fixed answer] like a mutation item."""
    first = prompts.first_turn_prompt(
        method="double",
        class_name=None,
        declaration="def double(x):",
        docstring=None,
        file_content=f"def double(x):\n\n\nN = {index}",
        path="pkg/m.py",
        line=0,
    )
    answer = prompts.as_code_reply(TRUTH)
    opening = f"<think>\nstep {index}: multiply by two\n</think>\n\n" if think else ""
    return [
        {"role": "system", "content": prompts.SYSTEM_PROMPT},
        {"role": "user", "content": first},
        {"role": "assistant", "content": prompts.as_code_reply(MUTANT)},
        {
            "role": "user",
            "content": prompts.iteration_prompt(f"FAILED test_double: assert {index * 3} == {index * 2}"),
        },
        {"role": "assistant", "content": opening + answer},
    ]


def write_dataset(folder: Path, train: int = 16, validation: int = 2, version: str = "d1") -> Path:
    folder.mkdir(parents=True)
    rows = {"train": range(train), "validation": range(train, train + validation)}
    for split, indices in rows.items():
        lines = [json.dumps({"messages": conversation(i, think=i % 2 == 1)}) for i in indices]
        (folder / f"{split}.jsonl").write_text("".join(line + "\n" for line in lines))
    manifest = {
        "version": version,
        "hash": "sha256:fixture",
        "sources": [{"extraction": {"name": "shapes"}}],
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


@pytest.fixture(scope="session")
def tiny_chat_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-sft") / "tiny-chat"
    folder.mkdir()
    build_model(folder, build_tokenizer(folder))
    return folder
