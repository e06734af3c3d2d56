"""`repomend.fixMethod` and `repomend.rejectLastFix`: what happens between the click and the edit.

The method is sent with the document's current (possibly unsaved) text; the server's events
become progress reports; a verified fix is applied to the method's range only, found again in
the text as it is when the fix arrives, and never over edits the user made meanwhile. A fix
that failed is not applied: the editor is told why and offered the last attempt to read.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lsprotocol import types

from lsp.actions import FixArgument, is_python
from lsp.client import RepomendClient, ServerProblem
from lsp.connection import RepomendServer, RunningFix
from lsp.edits import EditRefused, locate, located_by_name, method_edit, readable, replacement, workspace_edit
from lsp.progress import FixProgress, describe
from lsp.repository import NoRepository, NotRegistered, locate_file, workspace_folder
from lsp.session import ACCEPTED, REJECTED, AppliedFix
from repomend.contract.conversation import Mode
from repomend.source import Method, SourceError, method_at
from repomend.trajectory import Status

log = logging.getLogger("repomend.lsp")
Info, Warning_, Error = types.MessageType.Info, types.MessageType.Warning, types.MessageType.Error
SHOW_LAST_ATTEMPT = "Show last attempt"
SHOW_FIX = "Show fix"
REGISTER = "Register"


def outcome(status: str, message: str, **extra: Any) -> dict[str, Any]:
    """What `workspace/executeCommand` answers: `status` is the repair's outcome (a `Status`) or why
    none came (error, stale, busy, ...); editors may show `message`."""
    return {"status": status, "message": message, **extra}


def tell(ls: RepomendServer, kind: types.MessageType, message: str, status: str = "error") -> dict:
    ls.window_show_message(types.ShowMessageParams(type=kind, message=f"repomend: {message}"))
    return outcome(status, message)


async def fix_method(ls: RepomendServer, arguments: Sequence[Any], offer_registration: bool = True) -> dict:
    try:
        request = FixArgument.parse(arguments, ls.config.mode)
    except ValueError as err:
        return tell(ls, Error, str(err))
    doc = ls.workspace.get_text_document(request.uri)
    if not is_python(request.uri, doc.language_id):
        return tell(ls, Error, "only Python files can be fixed")
    if request.version is not None and doc.version is not None and doc.version != request.version:
        return tell(ls, Warning_, "the file changed since the action was offered; ask for it again", "stale")
    source = doc.source
    try:
        method = method_at(source, request.line, request.character)
    except SourceError as err:
        return tell(ls, Error, str(err))
    if method is None:
        return tell(ls, Warning_, f"no function or method at line {request.line + 1}", "no_method")
    if any(r.uri == request.uri and r.qualname == method.qualname for r in ls.running.values()):
        return tell(ls, Warning_, f"`{method.qualname}` is already being fixed", "busy")
    await ls.finalise(ls.book.close(request.uri, method.qualname))

    running = RunningFix(f"repomend/fix/{uuid.uuid4().hex}", request.uri, method.qualname, ls.protocol.msg_id)
    ls.running[running.token] = running
    progress = FixProgress(ls, running.token)
    try:
        async with ls.http() as client:
            await progress.begin(f"Fix `{method.qualname}`", f"sending it to {client.base_url}")
            final = await _follow(ls, client, running, progress, Path(doc.path), source, method, request.mode)
    except NotRegistered as err:
        progress.end("not a registered repository")
        ls.running.pop(running.token, None)
        return await _not_registered(ls, arguments, method, err, offer_registration)
    except (ServerProblem, NoRepository) as err:
        progress.end(str(err))
        return tell(ls, Error, str(err))
    except Exception as err:  # a bug here must still end the progress and say something
        log.exception("fixing %s failed", method.qualname)
        progress.end("failed")
        return tell(ls, Error, f"fixing `{method.qualname}` failed unexpectedly: {err!r}")
    finally:
        ls.running.pop(running.token, None)
    return await _conclude(ls, running, progress, method, final)


async def _follow(
    ls: RepomendServer,
    client: RepomendClient,
    running: RunningFix,
    progress: FixProgress,
    file: Path,
    source: str,
    method: Method,
    mode: Mode,
) -> dict:
    """Submit the repair and report its events until it is done; returns the final repair."""
    config = ls.config
    repository, path = await locate_file(config, client, file, ls.folders())
    body: dict[str, Any] = {
        "repository": repository,
        "path": path,
        "content": source,
        "target": {"line": method.start_line, "column": method.start_col},
        "mode": mode,
    }
    if config.max_turns is not None:
        body["max_turns"] = config.max_turns
    try:
        submitted = await client.submit_repair(body)
    except ServerProblem as err:
        if err.code != "repository_not_found":
            raise
        folder = workspace_folder(file.resolve(), [folder.resolve() for folder in ls.folders()])
        raise NotRegistered(file.resolve(), folder, repository) from err
    running.repair_id = str(submitted["id"])
    if running.cancelled:
        await client.cancel(running.repair_id)
    progress.report(f"repair {running.repair_id} queued", 0, cancellable=not running.cancelled)
    async for event in client.events(running.repair_id):
        if event.name == "progress":
            message, percentage = describe(event.data)
            if running.cancelled:
                message = f"cancelling... {message}"
            progress.report(message, percentage, cancellable=not running.cancelled)
        elif event.name == "done" and "id" in event.data:
            return event.data
        elif event.name == "done":
            break
    return await client.repair(running.repair_id)


async def _not_registered(
    ls: RepomendServer, arguments: Sequence[Any], method: Method, err: NotRegistered, offer: bool
) -> dict:
    """Explain that the file's folder is not registered; with an admin token, offer to register the
    workspace folder (once per folder and session) and, if the user agrees, fix the method then."""
    folder, name = err.folder, err.name
    how = (
        f"register it with `repomend repos add {folder}` where the server runs"
        if folder
        else "open the repository's folder as a workspace folder"
    )
    message = f"{err}: {how}, then fix `{method.qualname}` again"
    if not ls.config.admin_token:
        message += " (with repomend.adminToken set, the editor can register it for you)"
    if not (offer and ls.config.admin_token and folder and name and str(folder) not in ls.declined_folders):
        return tell(ls, Warning_, message, "not_registered")
    question = types.ShowMessageRequestParams(
        type=Info,
        message=f"repomend: {err}. Register {folder} as `{name}` and fix `{method.qualname}`?",
        actions=[types.MessageActionItem(title=REGISTER)],
    )
    try:
        chosen = await ls.window_show_message_request_async(question)
    except Exception as problem:  # the editor closed the prompt
        log.warning("could not offer to register %s: %s", folder, problem)
        chosen = None
    if chosen is None or chosen.title != REGISTER:
        ls.declined_folders.add(str(folder))
        return outcome("not_registered", message)
    try:
        async with ls.http() as client:
            await client.register_repository(name, str(folder))
    except ServerProblem as problem:
        return tell(ls, Error, f"could not register {folder}: {problem}")
    ls.window_show_message(
        types.ShowMessageParams(type=Info, message=f"repomend: registered {folder} as `{name}`")
    )
    return await fix_method(ls, arguments, offer_registration=False)


def _first_failure(failure: str | None) -> str | None:
    if not failure:
        return None
    line = failure.strip().splitlines()[0]
    return line if len(line) <= 300 else line[:297] + "..."


def _turns(count: int) -> str:
    return f"{count} turn{'s' if count != 1 else ''}"


def _failure_message(qualname: str, final: dict) -> str:
    turns = final.get("turns") or []
    parts = [f"could not fix `{qualname}` in {_turns(len(turns))}"]
    last = turns[-1] if turns else None
    if last and last.get("rejection"):
        parts.append(f"the last answer was not usable: {last['rejection']}")
    elif last:
        total = last.get("tests_passed", 0) + last.get("tests_failed", 0)
        parts.append(f"the last attempt failed {last.get('tests_failed', 0)} of {total} tests")
    if first := _first_failure(final.get("failure")):
        parts.append(first)
    return "; ".join(parts)


async def _conclude(
    ls: RepomendServer, running: RunningFix, progress: FixProgress, method: Method, final: dict
) -> dict:
    status = str(final.get("status"))
    qualname, repair_id = method.qualname, running.repair_id
    turns = len(final.get("turns") or [])
    extra = {"repairId": repair_id}
    if status == Status.FIXED and running.cancelled:
        progress.end("cancelled")
        message = f"the fix of `{qualname}` was cancelled after it was found; it was not applied"
        _offer_fix(ls, Info, message, qualname, final)
        return outcome(Status.CANCELLED, message, **extra)
    if status == Status.FIXED:
        progress.end(f"fixed in {_turns(turns)}; applying")
        return await _apply(ls, running, method, final)
    if status in (Status.UNFIXED, Status.UNVERIFIED):
        message = _failure_message(qualname, final)
        if status == Status.UNVERIFIED:
            message = f"an answer for `{qualname}` passed once but not in a second, fresh run; " + message
        progress.end("not fixed")
        diff = final.get("last_attempt_diff")
        if diff:
            preamble = [f"repomend: last attempt of `{qualname}` (repair {repair_id}), NOT applied", ""]
            preamble += (final.get("failure") or "").splitlines()
            content = "".join(f"# {line}".rstrip() + "\n" for line in preamble) + "\n" + diff
            ls.offer_document(
                Warning_, f"repomend: {message}", SHOW_LAST_ATTEMPT, content, f"repair-{repair_id}.diff"
            )
        else:
            tell(ls, Warning_, message)
        return outcome(status, message, **extra)
    if status == Status.ALREADY_PASSING:
        progress.end("the tests already pass")
        message = f"the tests of `{qualname}` already pass; nothing to fix"
        return {**tell(ls, Info, message, status), **extra}
    if status == Status.CANCELLED:
        progress.end("cancelled")
        return {**tell(ls, Info, f"the fix of `{qualname}` was cancelled", status), **extra}
    error = final.get("error") or {}
    message = f"the fix of `{qualname}` failed: {error.get('message') or status}"
    progress.end("failed")
    return {**tell(ls, Error, message, Status.FAILED), **extra}


def _offer_fix(ls: RepomendServer, kind: types.MessageType, message: str, qualname: str, final: dict) -> None:
    """Say why a verified fix was not applied, offering to show it."""
    repair_id = final.get("id")
    header = f"# repomend: verified fix of `{qualname}` (repair {repair_id}), not applied\n\n"
    content = header + (final.get("diff") or final.get("new_method") or "")
    ls.offer_document(kind, f"repomend: {message}", SHOW_FIX, content, f"repair-{repair_id}-fix.diff")


async def _apply(ls: RepomendServer, running: RunningFix, method: Method, final: dict) -> dict:
    """Replace the method's range with the verified fix, unless the user changed the method meanwhile."""
    qualname, repair_id, uri = method.qualname, str(running.repair_id), running.uri
    new_method = final.get("new_method")
    if not isinstance(new_method, str):
        return tell(ls, Error, f"the server reported a fix of `{qualname}` without its text")
    doc = ls.workspace.get_text_document(uri)
    current = doc.source
    try:
        located = locate(current, qualname, method.source_text)
        new_text = replacement(current, located, new_method)
    except EditRefused as err:
        message = f"the verified fix was not applied: {err}"
        _offer_fix(ls, Warning_, message, qualname, final)
        return outcome(Status.FIXED, message, repairId=repair_id, applied=False)
    edit = workspace_edit(
        uri, doc.version, method_edit(current, located, new_text, doc.position_codec), ls.versioned_edits()
    )
    label = f"repomend: fix {qualname}"
    result = await ls.workspace_apply_edit_async(types.ApplyWorkspaceEditParams(edit=edit, label=label))
    if not result.applied:
        reason = result.failure_reason or "no reason given"
        return {
            **tell(ls, Warning_, f"the editor did not apply the fix of `{qualname}`: {reason}", Status.FIXED),
            "repairId": repair_id,
            "applied": False,
        }
    fix = AppliedFix(
        repair_id=repair_id,
        uri=uri,
        qualname=qualname,
        original=located.source_text,
        fixed=new_text,
        original_readable=readable(current, located),
        reported=new_method,
    )
    ls.book.add(fix)
    await ls.send_feedback(fix, ACCEPTED, new_method)
    turns = len(final.get("turns") or [])
    kind = f" ({final['fix_type']})" if final.get("fix_type") else ""
    message = f'fixed `{qualname}`{kind} in {_turns(turns)}: its tests pass ("Reject last fix" undoes it)'
    if basis := final.get("basis"):
        message += f"; {basis.get('summary')}, second run {basis.get('second_run') or 'not run'}"
    return {
        **tell(ls, Info, message, Status.FIXED),
        "repairId": repair_id,
        "applied": True,
        "fixType": final.get("fix_type"),
    }


async def reject_last_fix(ls: RepomendServer, arguments: Sequence[Any]) -> dict:
    """Undo the newest open fix (of the method at the given position, if one is given) and say so."""
    where = arguments[0] if len(arguments) == 1 and isinstance(arguments[0], dict) else {}
    fix = None
    uri, line = where.get("uri"), where.get("line")
    if isinstance(uri, str) and isinstance(line, int):
        try:
            method = method_at(ls.workspace.get_text_document(uri).source, line)
        except SourceError:
            method = None
        fix = ls.book.last(uri, method.qualname) if method else None
        fix = fix or ls.book.last(uri)
    fix = fix or ls.book.last()
    if fix is None:
        return tell(ls, Info, "there is no fix to reject", "nothing")
    ls.book.reject(fix)  # before the edit: the change it causes must not count as a second rejection
    doc = ls.workspace.get_text_document(fix.uri)
    current = doc.source
    method = located_by_name(current, fix.qualname, prefer=fix.fixed)
    restored = False
    if method is not None and method.source_text != fix.original:
        edit = workspace_edit(
            fix.uri,
            doc.version,
            method_edit(current, method, fix.original, doc.position_codec),
            ls.versioned_edits(),
        )
        label = f"repomend: reject the fix of {fix.qualname}"
        result = await ls.workspace_apply_edit_async(types.ApplyWorkspaceEditParams(edit=edit, label=label))
        restored = result.applied
    await ls.send_feedback(fix, REJECTED, fix.original_readable, reason="rejected in the editor")
    if restored or (method is not None and method.source_text == fix.original):
        message = f"rejected the fix of `{fix.qualname}` and restored the original"
    else:
        message = f"rejected the fix of `{fix.qualname}`; the original could not be restored automatically"
    return {**tell(ls, Info, message, "rejected"), "repairId": fix.repair_id}
