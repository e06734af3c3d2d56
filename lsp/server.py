"""The pygls wiring: which LSP messages the server answers, and the state one connection keeps.

The work itself lives elsewhere: `lsp.actions` (which actions a position gets), `lsp.fixing`
(running a fix), `lsp.session` (accept / reject), `lsp.client` (HTTP to the repomend server).
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.uris import from_fs_path, to_fs_path

from lsp import fixing
from lsp.actions import FIX_METHOD, KIND, REJECT_LAST_FIX, code_actions, is_python
from lsp.client import RepomendClient, ServerProblem
from lsp.config import SECTION, LspConfig, merge
from lsp.fixing import RunningFix
from lsp.session import ACCEPTED, AppliedFix, FixBook, kept_text

log = logging.getLogger("repomend.lsp")
SHUTDOWN_SECONDS = 5.0
"""How long shutdown may spend telling the server about cancelled and kept fixes."""


class RepomendProtocol(LanguageServerProtocol):
    """Also tells the server when the editor cancels a request (`$/cancelRequest`)."""

    def _handle_cancel_notification(self, msg_id: Any) -> None:
        server = self._server
        if isinstance(server, RepomendServer):
            server.request_cancelled(msg_id)
        super()._handle_cancel_notification(msg_id)


class RepomendServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("repomend", "0.1.0", protocol_cls=RepomendProtocol)
        self.config = LspConfig()
        self.book = FixBook()
        self.running: dict[str, RunningFix] = {}
        self.declined_folders: set[str] = set()
        """Workspace folders whose registration the user declined: not offered again."""
        self._problems: tuple[str, ...] = ()
        self._tasks: set[asyncio.Task] = set()
        self._scratch: Path | None = None

    # -- settings ---------------------------------------------------------------------------

    def apply_settings(self, options: Any) -> None:
        self.config, problems = merge(self.config, options)
        if problems and tuple(problems) != self._problems:
            self.window_show_message(
                types.ShowMessageParams(
                    type=types.MessageType.Warning, message="repomend: " + "; ".join(problems)
                )
            )
        self._problems = tuple(problems)

    async def pull_settings(self) -> None:
        """Ask the editor for the "repomend" section, where it can answer that."""
        workspace = self.client_capabilities.workspace
        if not (workspace and workspace.configuration):
            return
        try:
            answer = await self.workspace_configuration_async(
                types.ConfigurationParams(items=[types.ConfigurationItem(section=SECTION)])
            )
        except Exception as err:  # an editor without an answer keeps the settings it sent before
            log.warning("workspace/configuration failed: %s", err)
            return
        if answer and isinstance(answer[0], dict):
            self.apply_settings(answer[0])

    # -- what the fix flow needs --------------------------------------------------------------

    def http(self) -> RepomendClient:
        config = self.config
        return RepomendClient(config.server_url, config.token, config.admin_token)

    def folders(self) -> list[Path]:
        found = [to_fs_path(folder.uri) for folder in self.workspace.folders.values()]
        if not found and self.workspace.root_path:
            found = [self.workspace.root_path]
        return [Path(path) for path in found if path]

    def versioned_edits(self) -> bool:
        workspace = self.client_capabilities.workspace
        edit = workspace.workspace_edit if workspace else None
        return bool(edit and edit.document_changes)

    def background(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def send_feedback(self, fix: AppliedFix, verdict: str, text: str | None, reason: str | None = None):
        """Tell the server the user's verdict; a server that is gone only costs a log line."""
        fix.reported = text if text is not None else fix.reported
        try:
            async with self.http() as client:
                await client.feedback(fix.repair_id, verdict, text, reason)
        except ServerProblem as err:
            log.warning("feedback on repair %s not recorded: %s", fix.repair_id, err)
            self.window_log_message(
                types.LogMessageParams(
                    type=types.MessageType.Warning, message=f"repomend: feedback lost: {err}"
                )
            )

    async def finalise(self, fixes: list[AppliedFix]) -> None:
        """Fixes that can no longer be rejected: re-send "accepted" where the user edited the method."""
        for fix in fixes:
            doc = self.workspace.text_documents.get(unquote(fix.uri))  # pygls keys them unquoted
            if (text := kept_text(fix, doc.source if doc else None)) is not None:
                await self.send_feedback(fix, ACCEPTED, text, reason="kept with the user's edits")

    def scratch_file(self, name: str, content: str) -> Path:
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="repomend-lsp-"))
        path = self._scratch / name
        path.write_text(content, encoding="utf-8")
        return path

    def offer_document(
        self, kind: types.MessageType, message: str, action: str, content: str, name: str
    ) -> None:
        """Show `message`; if the user picks `action`, open `content` (saved to a temporary file)."""
        window = self.client_capabilities.window
        path = self.scratch_file(name, content)
        if not (window and window.show_document and window.show_document.support):
            text = f"{message} ({action.lower()}: {path})"
            self.window_show_message(types.ShowMessageParams(type=kind, message=text))
            return

        async def ask() -> None:
            try:
                chosen = await self.window_show_message_request_async(
                    types.ShowMessageRequestParams(
                        type=kind, message=message, actions=[types.MessageActionItem(title=action)]
                    )
                )
                if chosen is not None and chosen.title == action:
                    await self.window_show_document_async(
                        types.ShowDocumentParams(uri=from_fs_path(str(path)) or str(path), take_focus=True)
                    )
            except Exception as err:  # the editor closed the prompt or cannot show documents
                log.warning("could not offer %s: %s", path, err)

        self.background(ask())

    # -- cancelling ---------------------------------------------------------------------------

    def cancel(self, running: RunningFix) -> None:
        if running.cancelled:
            return
        running.cancelled = True
        if running.repair_id is not None:
            self.background(self._cancel_on_server(running.repair_id))

    async def _cancel_on_server(self, repair_id: str) -> None:
        try:
            async with self.http() as client:
                await client.cancel(repair_id)
        except ServerProblem as err:
            log.warning("could not cancel repair %s: %s", repair_id, err)

    def request_cancelled(self, msg_id: Any) -> None:
        for running in list(self.running.values()):
            if running.request_id == msg_id:
                self.cancel(running)


def initialize(ls: RepomendServer, params: types.InitializeParams) -> None:
    ls.apply_settings(params.initialization_options)


async def initialized(ls: RepomendServer, params: types.InitializedParams) -> None:
    await ls.pull_settings()


async def configuration_changed(ls: RepomendServer, params: types.DidChangeConfigurationParams) -> None:
    ls.apply_settings(params.settings)
    await ls.pull_settings()


def code_action(ls: RepomendServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    uri = params.text_document.uri
    doc = ls.workspace.text_documents.get(unquote(uri))  # pygls keys them unquoted
    if doc is None or not is_python(uri, doc.language_id):
        return []
    return code_actions(
        doc.source,
        uri,
        doc.language_id,
        params.range,
        version=doc.version,
        mode=ls.config.mode,
        only=params.context.only,
        fixed=ls.book.fixed_qualnames(uri),
    )


def did_change(ls: RepomendServer, params: types.DidChangeTextDocumentParams) -> None:
    """A fixed method edited back to its original text counts as a rejection."""
    uri = params.text_document.uri
    if not ls.book.open_fixes(uri):
        return
    for fix in ls.book.reverted(uri, ls.workspace.get_text_document(uri).source):
        ls.background(
            ls.send_feedback(fix, "rejected", fix.original_readable, reason="edited back to the original")
        )


def progress_cancelled(ls: RepomendServer, params: types.WorkDoneProgressCancelParams) -> None:
    if (running := ls.running.get(str(params.token))) is not None:
        ls.cancel(running)


async def shutdown(ls: RepomendServer, *args: Any) -> None:
    """Cancel running fixes and make the open ones final, within a few seconds."""
    for running in list(ls.running.values()):
        running.cancelled = True
        # Answer their requests now: pygls cancels pending requests after this handler while
        # iterating the very table that cancelling shrinks.
        if (pending := ls.protocol._request_futures.get(running.request_id)) is not None:
            pending.cancel()

    async def settle() -> None:
        for running in list(ls.running.values()):
            if running.repair_id is not None:
                await ls._cancel_on_server(running.repair_id)
        await ls.finalise(ls.book.close_all())
        if ls._tasks:
            await asyncio.wait(list(ls._tasks))

    try:
        await asyncio.wait_for(settle(), SHUTDOWN_SECONDS)
    except TimeoutError:
        log.warning("shutdown: the server did not answer in time; some feedback may be lost")


async def fix_method(ls: RepomendServer, *arguments: Any) -> dict:
    return await fixing.fix_method(ls, arguments)


async def reject_last_fix(ls: RepomendServer, *arguments: Any) -> dict:
    return await fixing.reject_last_fix(ls, arguments)


def create_server() -> RepomendServer:
    """A language server with every handler registered (one per editor connection)."""
    server = RepomendServer()
    server.feature(types.INITIALIZE)(initialize)
    server.feature(types.INITIALIZED)(initialized)
    server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)(configuration_changed)
    server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[KIND], resolve_provider=False),
    )(code_action)
    server.feature(types.TEXT_DOCUMENT_DID_CHANGE)(did_change)
    server.feature(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)(progress_cancelled)
    server.feature(types.SHUTDOWN)(shutdown)
    server.command(FIX_METHOD)(fix_method)
    server.command(REJECT_LAST_FIX)(reject_last_fix)
    return server
