"""A scripted editor for `repomend lsp`: a pytest-lsp client that keeps documents and applies edits.

Like a real editor it answers `workspace/applyEdit` by changing its copy of the document and
sending `textDocument/didChange` back (refusing edits for another version), records
`window/showMessageRequest` and picks the action the test chose.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.protocol import default_converter
from pygls.uris import from_fs_path
from pygls.workspace import TextDocument
from pytest_lsp import LanguageClient
from pytest_lsp.client import register_lsp_features

CAPABILITIES = types.ClientCapabilities(
    workspace=types.WorkspaceClientCapabilities(
        apply_edit=True,
        configuration=True,
        workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=True),
        did_change_configuration=types.DidChangeConfigurationClientCapabilities(dynamic_registration=False),
        execute_command=types.ExecuteCommandClientCapabilities(),
        workspace_folders=True,
    ),
    text_document=types.TextDocumentClientCapabilities(
        code_action=types.CodeActionClientCapabilities(
            code_action_literal_support=types.ClientCodeActionLiteralOptions(
                code_action_kind=types.ClientCodeActionKindOptions(value_set=[types.CodeActionKind.QuickFix])
            )
        ),
        synchronization=types.TextDocumentSyncClientCapabilities(),
    ),
    window=types.WindowClientCapabilities(
        work_done_progress=True,
        show_message=types.ShowMessageRequestClientCapabilities(
            message_action_item=types.ClientShowMessageActionItemOptions(additional_properties_support=False)
        ),
        show_document=types.ShowDocumentClientCapabilities(support=True),
    ),
)


def _converter():
    """pygls' converter, reading a code action that carries a command as a CodeAction, not a Command."""
    converter = default_converter()

    def code_action(value: Any, _: type) -> types.Command | types.CodeAction:
        kind = types.Command if isinstance(value.get("command"), str) else types.CodeAction
        return converter.structure(value, kind)

    converter.register_structure_hook(types.Command | types.CodeAction, code_action)
    return converter


class Editor(LanguageClient):
    def __init__(self) -> None:
        super().__init__(converter_factory=_converter)
        register_lsp_features(self)
        self.documents: dict[str, TextDocument] = {}
        self.edits: list[types.ApplyWorkspaceEditParams] = []
        self.message_requests: list[types.ShowMessageRequestParams] = []
        self.choose: str | None = None
        """The action title to pick in the next message requests (None: dismiss them)."""
        self.feature(types.WORKSPACE_APPLY_EDIT)(_apply_edit)
        self.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)(_message_request)

    # -- what the server asks of the editor ----------------------------------------------------

    def apply_edit(self, params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        self.edits.append(params)
        by_uri: dict[str, tuple[int | None, list[types.TextEdit]]] = {}
        for change in params.edit.document_changes or []:
            assert isinstance(change, types.TextDocumentEdit)
            by_uri[change.text_document.uri] = (change.text_document.version, list(change.edits))
        for uri, edits in (params.edit.changes or {}).items():
            by_uri[uri] = (None, list(edits))
        for uri, (version, edits) in by_uri.items():
            doc = self.documents[uri]
            if version is not None and version != doc.version:
                return types.ApplyWorkspaceEditResult(applied=False, failure_reason="the document changed")
            ordered = sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True)
            self._change(
                uri, [types.TextDocumentContentChangePartial(range=e.range, text=e.new_text) for e in ordered]
            )
        return types.ApplyWorkspaceEditResult(applied=True)

    def message_request(self, params: types.ShowMessageRequestParams) -> types.MessageActionItem | None:
        self.message_requests.append(params)
        titles = [action.title for action in params.actions or []]
        return types.MessageActionItem(title=self.choose) if self.choose in titles else None

    # -- what a user does ------------------------------------------------------------------------

    async def start(self, workspace: Path, **options: Any) -> None:
        await self.initialize_session(
            types.InitializeParams(
                capabilities=CAPABILITIES,
                workspace_folders=[
                    types.WorkspaceFolder(uri=from_fs_path(str(workspace)), name=workspace.name)
                ],
                initialization_options=options,
            )
        )

    def open(self, path: Path, language_id: str = "python", text: str | None = None) -> str:
        uri = from_fs_path(str(path))
        text = path.read_text() if text is None else text
        self.documents[uri] = TextDocument(uri, text, version=1, language_id=language_id)
        self.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(uri=uri, language_id=language_id, version=1, text=text)
            )
        )
        return uri

    def text(self, uri: str) -> str:
        return self.documents[uri].source

    def replace_all(self, uri: str, text: str) -> None:
        self._change(uri, [types.TextDocumentContentChangeWholeDocument(text=text)])

    def _change(self, uri: str, changes: list) -> None:
        doc = self.documents[uri]
        for change in changes:
            doc.apply_change(change)
        doc.version = (doc.version or 0) + 1
        self.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=doc.version),
                content_changes=changes,
            )
        )

    async def actions(self, uri: str, line: int, character: int = 0, end_line: int | None = None) -> list:
        start = types.Position(line=line, character=character)
        end = types.Position(line=line if end_line is None else end_line, character=character)
        found = await self.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=types.Range(start=start, end=end),
                context=types.CodeActionContext(diagnostics=[]),
            )
        )
        return list(found or [])

    async def execute(self, command: types.Command) -> Any:
        return await self.workspace_execute_command_async(
            types.ExecuteCommandParams(command=command.command, arguments=command.arguments)
        )

    async def wait_until(self, condition, timeout: float = 240.0, what: str = "the condition") -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not condition():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.05)


def _apply_edit(ls: Editor, params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
    return ls.apply_edit(params)


def _message_request(ls: Editor, params: types.ShowMessageRequestParams) -> types.MessageActionItem | None:
    return ls.message_request(params)
