"""Fixing a method from the editor: `repomend lsp` against a real `repomend serve` and a stand-in model."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.uris import to_fs_path

from tests.support.lsp_editor import Editor
from tests.support.model import StubServer, code_reply
from tests.support.repos import FIXED_MEAN, STATS_SOURCE, WRONG_MEAN
from tests.support.serve import RunningServe

pytestmark = pytest.mark.asyncio

MEAN_RETURN = 9  # 0-based line of `return sum(self.xs) / (len(self.xs) - 1)` in STATS_SOURCE
BROKEN = "        return sum(self.xs) / (len(self.xs) - 1)"
FIXED = "        return sum(self.xs) / len(self.xs)"
UNSAVED_HEADER = "# edited, not saved\n"


def settings(server: RunningServe, **more) -> dict:
    return {"serverUrl": server.base_url, "token": server.token, **more}


async def fix_command(editor: Editor, uri: str, line: int = MEAN_RETURN, title: str = "Fix this method"):
    actions = {a.title: a for a in await editor.actions(uri, line)}
    return actions[title].command


def progress_messages(editor: Editor) -> list[str]:
    return [
        getattr(value, "message", None) or ""
        for reports in editor.progress_reports.values()
        for value in reports
    ]


async def test_fix_is_applied_to_the_method_only_and_undoing_it_rejects_it(
    editor: Editor, stats_workspace: Path, repomend_server: RunningServe, model_stub: StubServer
):
    model_stub.script.append(code_reply(FIXED_MEAN))
    await editor.start(stats_workspace, **settings(repomend_server))
    stats = stats_workspace / "pkg" / "stats.py"
    uri = editor.open(stats, text=UNSAVED_HEADER + STATS_SOURCE)  # unsaved: only the editor has it

    result = await editor.execute(await fix_command(editor, uri, MEAN_RETURN + 1))

    assert result["status"] == "fixed" and result["applied"] is True
    assert editor.text(uri) == UNSAVED_HEADER + STATS_SOURCE.replace(BROKEN, FIXED)
    assert stats.read_text() == STATS_SOURCE, "the file on disk is the user's business"
    (applied,) = editor.edits
    (change,) = applied.edit.document_changes
    (edit,) = change.edits
    assert (edit.range.start.line, edit.range.start.character) == (8, 4)  # `def mean` (header line moved it)
    assert (edit.range.end.line, edit.range.end.character) == (10, len(BROKEN))
    assert edit.new_text == 'def mean(self):\n        """Arithmetic mean."""\n' + FIXED  # docstring kept

    (token,) = editor.progress_reports
    kinds = [type(value).__name__ for value in editor.progress_reports[token]]
    assert kinds[0] == "WorkDoneProgressBegin" and kinds[-1] == "WorkDoneProgressEnd"
    assert editor.progress_reports[token][0].cancellable is True
    messages = progress_messages(editor)
    assert any(m.startswith("turn 1 of 5: asking the model") for m in messages)
    assert any(m.startswith("turn 1 of 5: passed (") and "2 tests passed, 0 failed" in m for m in messages)
    assert any("fixed `Stats.mean` (off by one)" in m.message for m in editor.messages)
    assert result["fixType"] == "off by one"  # `/ (len(self.xs) - 1)` became `/ len(self.xs)`

    repair = repomend_server.repair(result["repairId"])
    assert repair["status"] == "fixed" and repair["path"] == "pkg/stats.py"
    assert repair["fix_type"] == "off by one"
    feedback = repomend_server.feedback(result["repairId"])
    assert feedback is not None and feedback["verdict"] == "accepted"
    assert "return sum(self.xs) / len(self.xs)" in feedback["final_text"]

    # Editing the method back to what it was (the user's own undo) rejects the fix.
    editor.replace_all(uri, editor.text(uri).replace(FIXED, BROKEN))

    def rejected() -> bool:
        return (repomend_server.feedback(result["repairId"]) or {}).get("verdict") == "rejected"

    await editor.wait_until(rejected, what="the rejection to reach the server")
    assert "(len(self.xs) - 1)" in repomend_server.feedback(result["repairId"])["final_text"]
    assert "Reject last fix" not in [a.title for a in await editor.actions(uri, MEAN_RETURN + 1)]


async def test_reject_last_fix_restores_the_method_and_tells_the_server(
    editor: Editor, stats_workspace: Path, repomend_server: RunningServe, model_stub: StubServer
):
    """The workspace folder here is the repository's parent: the admin token places the file."""
    model_stub.script.append(code_reply(FIXED_MEAN))
    folder = stats_workspace.parent
    await editor.start(folder, **settings(repomend_server, adminToken=repomend_server.admin_token))
    uri = editor.open(stats_workspace / "pkg" / "stats.py")
    result = await editor.execute(await fix_command(editor, uri))
    assert result["status"] == "fixed", result
    assert FIXED in editor.text(uri)

    titles = [a.title for a in await editor.actions(uri, MEAN_RETURN)]
    assert titles == ["Fix this method", "Fix this method (think)", "Reject last fix"]
    assert "Reject last fix" not in [a.title for a in await editor.actions(uri, 16)]  # clamp was not fixed
    reject = (await editor.actions(uri, MEAN_RETURN))[2].command
    rejected = await editor.execute(reject)

    assert rejected["status"] == "rejected"
    assert editor.text(uri) == STATS_SOURCE
    feedback = repomend_server.feedback(result["repairId"])
    assert feedback["verdict"] == "rejected"
    assert "(len(self.xs) - 1)" in feedback["final_text"]
    assert [a.title for a in await editor.actions(uri, MEAN_RETURN)] == [
        "Fix this method",
        "Fix this method (think)",
    ]


async def test_a_failed_fix_is_not_applied_and_the_last_attempt_is_offered(
    editor: Editor, stats_workspace: Path, repomend_server: RunningServe, model_stub: StubServer
):
    model_stub.script += [code_reply("def mean(self):\n    return len(self.xs)"), code_reply(WRONG_MEAN)]
    editor.choose = "Show last attempt"
    await editor.start(stats_workspace, **settings(repomend_server, maxTurns=2))
    uri = editor.open(stats_workspace / "pkg" / "stats.py")

    result = await editor.execute(await fix_command(editor, uri))

    assert result["status"] == "unfixed"
    assert editor.text(uri) == STATS_SOURCE and editor.edits == []
    await editor.wait_until(lambda: editor.shown_documents, what="the last attempt to be shown")
    (request,) = editor.message_requests
    assert request.type == types.MessageType.Warning
    assert "could not fix `Stats.mean` in 2 turns" in request.message
    assert "test_mean" in request.message and "FAILED" in request.message  # the last test failure
    assert [a.title for a in request.actions] == ["Show last attempt"]
    (shown,) = editor.shown_documents
    attempt = Path(to_fs_path(shown.uri)).read_text()
    assert "+        return sum(self.xs)\n" in attempt and "NOT applied" in attempt
    assert repomend_server.feedback(result["repairId"]) is None


@pytest.mark.parametrize("how", ["progress", "request", "shutdown"])
async def test_cancelling_stops_the_repair_on_the_server(
    how: str, editor: Editor, stats_workspace: Path, repomend_server: RunningServe, model_stub: StubServer
):
    model_stub.script += [code_reply(WRONG_MEAN, delay=1.0) for _ in range(5)]
    await editor.start(stats_workspace, **settings(repomend_server))
    uri = editor.open(stats_workspace / "pkg" / "stats.py")
    command = await fix_command(editor, uri)
    params = types.ExecuteCommandParams(command=command.command, arguments=command.arguments)
    if how == "request":
        request = editor.protocol.send_request(types.WORKSPACE_EXECUTE_COMMAND, params)
    else:
        request = asyncio.ensure_future(editor.workspace_execute_command_async(params))

    await editor.wait_until(
        lambda: any(m.startswith("turn 1 of 5") for m in progress_messages(editor)), what="the first turn"
    )
    (token,) = editor.progress_reports
    if how == "progress":
        editor.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
        result = await request
        assert result["status"] == "cancelled"
        repair_id = result["repairId"]
    elif how == "shutdown":
        await asyncio.wait_for(editor.shutdown_session(), 30)  # the editor closes mid-fix
        with pytest.raises(Exception, match="cancel"):
            await asyncio.wait_for(request, 5)
        repair_id = repomend_server.latest_repair_id()
    else:
        request_id = next(iter(editor.protocol._request_futures))
        editor.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=request_id))
        await editor.wait_until(
            lambda: isinstance(editor.progress_reports[token][-1], types.WorkDoneProgressEnd), what="the end"
        )
        repair_id = repomend_server.latest_repair_id()
    shown = repomend_server.wait_finished(repair_id)
    assert shown["status"] == "cancelled"
    assert len(model_stub.requests) < 5
    assert editor.text(uri) == STATS_SOURCE and editor.edits == []


async def test_a_method_edited_during_the_fix_is_not_clobbered(
    editor: Editor, stats_workspace: Path, repomend_server: RunningServe, model_stub: StubServer
):
    model_stub.script.append(code_reply(FIXED_MEAN, delay=1.5))
    await editor.start(stats_workspace, **settings(repomend_server))
    uri = editor.open(stats_workspace / "pkg" / "stats.py")
    running = asyncio.ensure_future(editor.execute(await fix_command(editor, uri)))
    await editor.wait_until(lambda: any("turn 1" in m for m in progress_messages(editor)), what="turn 1")
    mine = STATS_SOURCE.replace(BROKEN, "        return sum(self.xs) / max(len(self.xs), 1)")
    editor.replace_all(uri, mine)

    result = await running

    assert result["status"] == "fixed" and result["applied"] is False
    assert editor.text(uri) == mine and editor.edits == []
    assert "was edited while it was being fixed" in result["message"]
    await editor.wait_until(lambda: editor.message_requests, what="the offer to show the fix")
    assert [a.title for a in editor.message_requests[0].actions] == ["Show fix"]


async def test_an_unregistered_repository_is_explained(editor: Editor, tmp_path: Path, repomend_server):
    from tests.support.repos import make_repo

    repo = make_repo(tmp_path / "unknown")
    await editor.start(repo, **settings(repomend_server))
    uri = editor.open(repo / "pkg" / "stats.py")
    result = await editor.execute(await fix_command(editor, uri))
    assert result["status"] == "not_registered"
    assert editor.message_requests == [], "without an admin token nothing can be offered"
    (message,) = editor.messages
    assert message.type == types.MessageType.Warning
    assert f"{repo} is not a repository registered with the repomend server (as `unknown`)" in message.message
    assert f"repomend repos add {repo}" in message.message and "repomend.adminToken" in message.message


async def test_with_an_admin_token_the_workspace_folder_is_offered_for_registration(
    editor: Editor, tmp_path: Path, repomend_server: RunningServe, model_stub: StubServer
):
    from tests.support.repos import make_repo

    model_stub.reset()
    model_stub.script.append(code_reply(FIXED_MEAN))
    repo = make_repo(tmp_path / "my project")
    editor.choose = "Register"
    await editor.start(repo, **settings(repomend_server, adminToken=repomend_server.admin_token))
    uri = editor.open(repo / "pkg" / "stats.py")

    result = await editor.execute(await fix_command(editor, uri))

    (request,) = editor.message_requests
    assert request.type == types.MessageType.Info
    assert f"Register {repo} as `my-project` and fix `Stats.mean`?" in request.message
    assert [a.title for a in request.actions] == ["Register"]
    assert result["status"] == "fixed" and result["applied"] is True, result
    assert FIXED in editor.text(uri)
    assert any(f"registered {repo} as `my-project`" in m.message for m in editor.messages)
    with repomend_server.http(admin=True) as http:
        shown = http.get("/v1/admin/repositories/my-project").json()
    assert shown["path"] == str(repo)
    assert repomend_server.repair(result["repairId"])["repository"] == "my-project"


async def test_a_declined_registration_is_not_offered_again(
    editor: Editor, tmp_path: Path, repomend_server: RunningServe
):
    from tests.support.repos import make_repo

    repo = make_repo(tmp_path / "declined")
    editor.choose = None
    await editor.start(repo, **settings(repomend_server, adminToken=repomend_server.admin_token))
    uri = editor.open(repo / "pkg" / "stats.py")

    first = await editor.execute(await fix_command(editor, uri))
    second = await editor.execute(await fix_command(editor, uri))

    assert first["status"] == second["status"] == "not_registered"
    assert len(editor.message_requests) == 1, "asked once"
    (message,) = editor.messages
    assert message.type == types.MessageType.Warning and f"repomend repos add {repo}" in message.message
    with repomend_server.http(admin=True) as http:
        assert http.get("/v1/admin/repositories/declined").status_code == 404


async def test_an_unreachable_server_gives_one_clear_error(editor: Editor, tmp_path: Path):
    from tests.support.repos import make_repo
    from tests.support.serve import free_port

    repo = make_repo(tmp_path / "stats")
    url = f"http://127.0.0.1:{free_port()}"
    await editor.start(repo, serverUrl=url)
    uri = editor.open(repo / "pkg" / "stats.py")

    result = await asyncio.wait_for(editor.execute(await fix_command(editor, uri)), 15)

    assert result["status"] == "error"
    (message,) = editor.messages
    assert message.type == types.MessageType.Error
    assert f"cannot reach the repomend server at {url}" in message.message
    assert "repomend serve" in message.message
    assert editor.text(uri) == STATS_SOURCE
