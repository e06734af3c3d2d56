"""The pygls wiring: which LSP messages the server answers.

The work itself lives elsewhere: `lsp.connection` (the state one connection keeps), `lsp.actions`
(which actions a position gets), `lsp.fixing` (running a fix), `lsp.session` (accept / reject),
`lsp.client` (HTTP to the repomend server).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import unquote

from lsprotocol import types

from lsp import fixing
from lsp.actions import FIX_METHOD, KIND, REJECT_LAST_FIX, code_actions, is_python
from lsp.connection import RepomendServer
from lsp.pygls_compat import pending_request
from lsp.session import REJECTED

log = logging.getLogger("repomend.lsp")
SHUTDOWN_SECONDS = 5.0
"""How long shutdown may spend telling the server about cancelled and kept fixes."""


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
            ls.send_feedback(fix, REJECTED, fix.original_readable, reason="edited back to the original")
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
        if (pending := pending_request(ls.protocol, running.request_id)) is not None:
            pending.cancel()

    async def settle() -> None:
        for running in list(ls.running.values()):
            if running.repair_id is not None:
                await ls.cancel_on_server(running.repair_id)
        await ls.finalise(ls.book.close_all())
        await ls.background_done()

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
