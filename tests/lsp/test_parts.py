"""The pure parts of the language server: settings, server-sent events, progress wording, bookkeeping."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from lsprotocol import types
from pygls.protocol import default_converter

from lsp.actions import FixArgument
from lsp.client import Event, parse_events
from lsp.config import DEFAULT_SERVER_URL, LspConfig, merge
from lsp.progress import describe
from lsp.session import AppliedFix, FixBook, kept_text
from repomend.contract.conversation import Mode
from tests.support.repos import STATS_SOURCE


def test_settings_flat_or_nested_with_empty_meaning_default():
    config, problems = merge(
        LspConfig(), {"repomend": {"serverUrl": "http://h:1/", "token": " t ", "maxTurns": 3}}
    )
    assert (config.server_url, config.token, config.max_turns, problems) == ("http://h:1", "t", 3, [])
    config, problems = merge(config, {"serverUrl": "", "token": "", "repository": None, "mode": "think"})
    assert (config.server_url, config.token, config.mode) == (DEFAULT_SERVER_URL, None, "think")
    config, problems = merge(config, {"serverUrl": "ftp://x", "maxTurns": 11, "mode": "fast"})
    assert config.server_url == DEFAULT_SERVER_URL and config.max_turns == 3 and config.mode == "think"
    assert len(problems) == 3
    assert merge(config, {"maxTurns": 0}) == (replace(config, max_turns=None), []), "0: the server's default"


def test_server_sent_events_are_parsed_like_the_server_writes_them():
    lines = [
        "event: progress",
        'data: {"type": "turn_started", "turn": 1, "max_turns": 5}',
        "",
        ": keep-alive",
        "",
        "event: done",
        'data: {"id": "4",',
        'data:  "status": "fixed"}',
        "",
    ]

    async def collect():
        async def source():
            for line in lines:
                yield line

        return [event async for event in parse_events(source())]

    assert asyncio.run(collect()) == [
        Event("progress", {"type": "turn_started", "turn": 1, "max_turns": 5}),
        Event("done", {"id": "4", "status": "fixed"}),
    ]


def test_progress_says_which_turn_and_how_the_tests_went():
    assert (
        describe({"type": "tests_found", "tests": ["a", "b"]})[0] == "2 tests cover the method; running them"
    )
    assert describe({"type": "turn_started", "turn": 2, "max_turns": 5}) == (
        "turn 2 of 5: asking the model",
        20,
    )
    tested = {
        "type": "attempt_tested",
        "turn": 2,
        "max_turns": 5,
        "sample": 0,
        "passed": False,
        "tests_passed": 1,
        "tests_failed": 2,
        "rejection": None,
        "reasoning_words": 0,
        "generation_seconds": 0.5,
        "test_seconds": 0.5,
    }
    assert describe(tested) == ("turn 2 of 5: failed (1 tests passed, 2 failed)", 40)
    assert describe({**tested, "rejection": "it defines no function"})[0] == (
        "turn 2 of 5: answer not usable (it defines no function)"
    )
    assert describe({"type": "a_later_kind", "turn": 1}) == ("a_later_kind", None)


def test_the_fix_argument_goes_out_as_json_and_comes_back_checked():
    argument = FixArgument.at("file:///a.py", types.Position(line=3, character=0), Mode.THINK, None)
    sent = default_converter().unstructure(argument)
    assert sent == {"uri": "file:///a.py", "line": 3, "character": 0, "mode": "think", "version": None}
    assert FixArgument.parse([sent], Mode.NO_THINK) == argument
    assert FixArgument.parse([{"uri": "file:///a.py", "line": 3}], Mode.NO_THINK).mode is Mode.NO_THINK
    refused = {
        "repomend.fixMethod takes one argument {uri, line, character, mode, version}": [],
        "repomend.fixMethod needs `uri` (a string) and `line` (0-based)": [{**sent, "line": -1}],
        "repomend.fixMethod: `mode` must be one of no-think, think": [{**sent, "mode": "fast"}],
        "repomend.fixMethod: `character` and `version` must be whole numbers": [{**sent, "version": "1"}],
    }
    for message, arguments in refused.items():
        with pytest.raises(ValueError) as caught:
            FixArgument.parse(arguments, Mode.NO_THINK)
        assert str(caught.value) == message


def _fix(uri: str = "file:///a.py") -> AppliedFix:
    original = STATS_SOURCE.split("    def mean")[1].split("\n\n")[0]
    original = "def mean" + original
    fixed = 'def mean(self):\n        """Arithmetic mean."""\n        return sum(self.xs) / len(self.xs)'
    return AppliedFix("1", uri, "Stats.mean", original, fixed, original, fixed.replace("        ", "    "))


def test_a_fix_is_rejected_when_its_method_reads_as_before_and_closed_by_a_new_fix():
    book = FixBook()
    fix = _fix()
    book.add(fix)
    assert book.fixed_qualnames("file:///a.py") == {"Stats.mean"}
    assert book.reverted("file:///a.py", STATS_SOURCE.replace("- 1)", "- 2)")) == []
    assert book.reverted("file:///a.py", STATS_SOURCE) == [fix] and fix.verdict == "rejected"
    assert book.last() is None

    again = _fix()
    book.add(again)
    assert book.close("file:///a.py", "Stats.mean") == [again] and book.open_fixes() == []


def test_kept_text_reports_only_edits_made_after_the_fix():
    fix = _fix()
    fixed_source = STATS_SOURCE.replace(fix.original, fix.fixed)
    assert kept_text(fix, fixed_source) is None
    edited = fixed_source.replace("len(self.xs)\n", "max(len(self.xs), 1)\n")
    assert "max(len(self.xs), 1)" in kept_text(fix, edited)
