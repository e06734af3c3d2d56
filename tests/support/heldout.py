"""A held-out extraction of the shapes sample project, written directly (no coverage run), and scripted
models whose Pass@k is known in advance."""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from pathlib import Path

from repomend.backends.base import Backend, Completion, GenerationConfig
from repomend.backends.scripted import ScriptedBackend
from repomend.contract import prompts
from repomend.contract.conversation import Message, Mode
from repomend.source import find_method, method_text, remove_body
from tests.support.repos import SHAPES_SOURCE, SHAPES_TESTS, make_repo
from training.records import ExtractionManifest, MethodRecord, write_manifest, write_records

HELDOUT = {
    "pkg/stats.py::clamp": ["tests/test_stats.py::test_clamp"],
    "pkg/stats.py::Box.largest": [
        "tests/test_stats.py::test_largest",
        "tests/test_stats.py::test_largest_of_nothing",
    ],
    "pkg/stats.py::scale": ["tests/test_stats.py::test_scale"],
    "pkg/stats.py::Box.count": ["tests/test_stats.py::test_count"],
}


def heldout_extraction(root: Path) -> Path:
    """The sample project with four covered methods, all held out."""
    repo = make_repo(root / "shapes", source=SHAPES_SOURCE, tests=SHAPES_TESTS)
    records = []
    for method_id, tests in HELDOUT.items():
        path, qualname = method_id.split("::")
        method = find_method(SHAPES_SOURCE, qualname)
        text = method_text(SHAPES_SOURCE, method)
        records.append(
            MethodRecord(
                id=method_id,
                path=path,
                qualname=qualname,
                class_name=method.class_name,
                declaration=method.declaration,
                docstring=method.docstring,
                body=text.split("\n", 1)[1],
                method_text=text,
                masked_file=remove_body(SHAPES_SOURCE, method),
                tests=tests,
                split="heldout",
            )
        )
    folder = root / "extraction"
    write_records(folder, records)
    manifest = ExtractionManifest(
        version="x1",
        repository=str(repo),
        commit=None,
        python=sys.executable,
        created_at="2026-01-01T00:00:00+00:00",
        counts={"heldout": len(records)},
        name="shapes",
    )
    write_manifest(folder, manifest)
    return folder


def ground_truth(qualname: str) -> str:
    return method_text(SHAPES_SOURCE, find_method(SHAPES_SOURCE, qualname))


def target_of(messages: list[Message]) -> str:
    """The qualname a conversation is about, read from its first-turn prompt."""
    found = re.search(r"(?:method|function) `(\w+)`(?: in the class `(\w+)`)?", messages[1]["content"])
    assert found, messages[1]["content"][:200]
    name, cls = found.groups()
    return f"{cls}.{name}" if cls else name


def turn_of(messages: list[Message]) -> int:
    """1-based model turn: the number of "Correct the answer" prompts not yet answered by a broken
    start (the loop's repair start adds one for the broken method itself)."""
    return sum(1 for m in messages if m["role"] == "assistant")


def fixer(fix_turn: Mapping[str, int | None], think: str = "") -> ScriptedBackend:
    """Answers the ground truth from the given turn on (counting the broken start's turn as 0)
    and a wrong body before; `None` never fixes. `think` prefixes reasoning."""

    def reply(messages: list[Message]) -> str:
        qualname = target_of(messages)
        turn = turn_of(messages)  # 1 after the broken start: the model's first answer
        due = fix_turn[qualname]
        truth = ground_truth(qualname)
        wrong = truth.split("\n", 1)[0] + f"\n    return {12345 + turn}"  # a new wrong answer each turn
        code = truth if due is not None and turn >= due else wrong
        prefix = f"<think>{think}</think>\n\n" if think else ""
        return prefix + prompts.as_code_reply(code)

    return ScriptedBackend([reply] * 500, name="fixer")


class ByAdapter(Backend):
    """Routes each request to the scripted model of its adapter (None = the base model)."""

    def __init__(self, models: Mapping[str | None, Backend]) -> None:
        self.models = dict(models)

    def generate(
        self,
        messages: list[Message],
        *,
        mode: Mode,
        config: GenerationConfig,
        n: int = 1,
        adapter: str | None = None,
    ) -> list[Completion]:
        return self.models[adapter].generate(messages, mode=mode, config=config, n=n, adapter=adapter)

    def describe(self, adapter: str | None = None) -> str:
        return "scripted" if adapter is None else f"scripted+{adapter}"
