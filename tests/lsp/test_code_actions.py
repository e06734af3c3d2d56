"""Which code actions the language server offers where: computed locally, no repomend server needed."""

from __future__ import annotations

import asyncio

import pytest
from lsprotocol import types

from tests.support.lsp_editor import Editor
from tests.support.repos import STATS_SOURCE, make_repo

pytestmark = pytest.mark.asyncio

# Lines (0-based) of STATS_SOURCE.
MODULE_DOCSTRING, CLASS_LINE, INIT_BODY, BLANK_BETWEEN, MEAN_DEF, MEAN_RETURN, CLAMP_BODY = (
    0,
    3,
    5,
    6,
    7,
    9,
    16,
)
UNREACHABLE = "http://127.0.0.1:9"


@pytest.fixture
def repo(tmp_path):
    return make_repo(tmp_path / "stats")


def fixes(actions: list) -> list[tuple[str, str, dict]]:
    return [(a.title, a.command.command, a.command.arguments[0]) for a in actions]


async def test_two_fix_actions_inside_a_method_and_none_elsewhere(editor: Editor, repo):
    await editor.start(repo, serverUrl=UNREACHABLE)
    uri = editor.open(repo / "pkg" / "stats.py")
    assert STATS_SOURCE.splitlines()[MEAN_RETURN].strip().startswith("return sum")

    inside = await editor.actions(uri, MEAN_RETURN, 12)
    assert fixes(inside) == [
        (
            "Fix this method",
            "repomend.fixMethod",
            {"uri": uri, "line": MEAN_RETURN, "character": 12, "mode": "no-think", "version": 1},
        ),
        (
            "Fix this method (think)",
            "repomend.fixMethod",
            {"uri": uri, "line": MEAN_RETURN, "character": 12, "mode": "think", "version": 1},
        ),
    ]
    assert all(a.kind == types.CodeActionKind.QuickFix for a in inside)
    for line in (MEAN_DEF, INIT_BODY, CLAMP_BODY):
        assert [a.title for a in await editor.actions(uri, line)] == [
            "Fix this method",
            "Fix this method (think)",
        ]
    for line in (MODULE_DOCSTRING, CLASS_LINE, BLANK_BETWEEN):
        assert await editor.actions(uri, line) == [], f"line {line} is outside every method"
    # A selection starting outside a method and ending inside one is about that method.
    assert len(await editor.actions(uri, BLANK_BETWEEN, end_line=MEAN_RETURN)) == 2


async def test_no_actions_for_files_that_are_not_python(editor: Editor, repo):
    await editor.start(repo, serverUrl=UNREACHABLE)
    notes = repo / "notes.txt"
    notes.write_text(STATS_SOURCE)
    uri = editor.open(notes, language_id="plaintext")
    assert await editor.actions(uri, MEAN_RETURN) == []


async def test_no_actions_while_the_file_does_not_parse(editor: Editor, repo):
    await editor.start(repo, serverUrl=UNREACHABLE)
    uri = editor.open(repo / "pkg" / "stats.py")
    editor.replace_all(uri, STATS_SOURCE.replace("def total(self):", "def total(self:"))
    assert await editor.actions(uri, MEAN_RETURN) == []
    editor.replace_all(uri, STATS_SOURCE)
    assert len(await editor.actions(uri, MEAN_RETURN)) == 2


async def test_only_quickfix_kinds_are_offered(editor: Editor, repo):
    await editor.start(repo, serverUrl=UNREACHABLE)
    uri = editor.open(repo / "pkg" / "stats.py")
    refactor = await editor.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(MEAN_RETURN, 0), end=types.Position(MEAN_RETURN, 0)),
            context=types.CodeActionContext(diagnostics=[], only=[types.CodeActionKind.Refactor]),
        )
    )
    assert not refactor


async def test_mode_follows_the_settings_and_their_changes(editor: Editor, repo):
    editor.set_configuration({"mode": "think"}, section="repomend")
    await editor.start(repo, serverUrl=UNREACHABLE, mode="no-think")
    uri = editor.open(repo / "pkg" / "stats.py")
    # workspace/configuration (asked after initialized) wins over initializationOptions.
    await _eventually_mode(editor, uri, "think")
    modes = [a.command.arguments[0]["mode"] for a in await editor.actions(uri, MEAN_RETURN)]
    assert modes == ["think", "think"]

    editor.set_configuration({"mode": "no-think"}, section="repomend")
    editor.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    await _eventually_mode(editor, uri, "no-think")


async def test_a_bad_setting_is_reported_and_ignored(editor: Editor, repo):
    await editor.start(repo, serverUrl=UNREACHABLE, mode="fast", maxTurns=99)
    await editor.wait_until(lambda: editor.messages, what="a settings warning")
    (message,) = editor.messages
    assert message.type == types.MessageType.Warning
    assert "repomend.mode" in message.message and "repomend.maxTurns" in message.message
    uri = editor.open(repo / "pkg" / "stats.py")
    first = (await editor.actions(uri, MEAN_RETURN))[0]
    assert first.command.arguments[0]["mode"] == "no-think"


async def _eventually_mode(editor: Editor, uri: str, mode: str) -> None:
    for _ in range(100):
        actions = await editor.actions(uri, MEAN_RETURN)
        if actions[0].command.arguments[0]["mode"] == mode:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the mode never became {mode}")
