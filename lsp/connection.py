"""What one editor connection keeps, and what the fix flow asks of the editor and of the server.

`RepomendServer` holds the settings, the fixes under way (`RunningFix`) and the applied ones
(`lsp.session.FixBook`); `lsp.fixing` runs a fix through it and `lsp.server` wires the LSP
messages to both, so neither of those two imports the other's module.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from lsp.client import RepomendClient, ServerProblem
from lsp.config import SECTION, LspConfig, merge
from lsp.pygls_compat import CancelAwareProtocol
from lsp.session import ACCEPTED, AppliedFix, FixBook, kept_text

log = logging.getLogger("repomend.lsp")


@dataclass
class RunningFix:
    """A fix between its request and its outcome; what cancelling it needs."""

    token: str
    uri: str
    qualname: str
    request_id: Any
    repair_id: str | None = None
    cancelled: bool = False


class RepomendServer(LanguageServer):
    """One editor connection's language server: the handlers in `lsp.server` and the fix flow in
    `lsp.fixing` work through it."""

    def __init__(self) -> None:
        super().__init__("repomend", "0.1.0", protocol_cls=CancelAwareProtocol)
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

    async def background_done(self) -> None:
        """Wait for the work started with `background` (what shutdown must not cut short)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks))

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
            self.background(self.cancel_on_server(running.repair_id))

    async def cancel_on_server(self, repair_id: str) -> None:
        try:
            async with self.http() as client:
                await client.cancel(repair_id)
        except ServerProblem as err:
            log.warning("could not cancel repair %s: %s", repair_id, err)

    def request_cancelled(self, msg_id: Any) -> None:
        for running in list(self.running.values()):
            if running.request_id == msg_id:
                self.cancel(running)
