"""Edits that touch one method and nothing else, computed from the text as it is now.

A fix arrives seconds or minutes after it was asked for; meanwhile the user may have typed
above the method (it moved), in it (it must not be clobbered) or elsewhere. So the method is
found again by name and original text in the current document, and the edit replaces exactly
its range, in the position encoding the editor negotiated.
"""

from __future__ import annotations

from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec

from repomend.source import CandidateRejected, Method, SourceError, method_text, parse_methods, splice

_ENCODING, _ERRORS = "utf-8", "surrogatepass"


class EditRefused(Exception):
    """The edit cannot be made safely; `str()` says why in one line."""


def locate(source: str, qualname: str, expected: str) -> Method:
    """The method `qualname` of `source` whose text is still `expected` (its `source_text`)."""
    try:
        same_name = [m for m in parse_methods(source) if m.qualname == qualname]
    except SourceError as err:
        raise EditRefused(f"the file does not parse now ({err}); nothing was changed") from err
    for method in same_name:
        if method.source_text == expected:
            return method
    if same_name:
        raise EditRefused(f"`{qualname}` was edited while it was being fixed; your edits were kept")
    raise EditRefused(f"`{qualname}` is no longer in the file; nothing was changed")


def located_by_name(source: str, qualname: str, prefer: str | None = None) -> Method | None:
    """The method `qualname` (the one whose text is `prefer`, if several); None if absent or unparsable."""
    try:
        same_name = [m for m in parse_methods(source) if m.qualname == qualname]
    except SourceError:
        return None
    return next((m for m in same_name if m.source_text == prefer), same_name[0] if same_name else None)


def replacement(source: str, method: Method, new_method: str) -> str:
    """The text that takes `method`'s range: `new_method` (as a model writes it) in the file's indentation."""
    try:
        spliced = splice(source, method, new_method)
    except (CandidateRejected, SourceError) as err:
        raise EditRefused(f"the fix does not fit the file as it is now: {err}") from err
    data = source.encode(_ENCODING, _ERRORS)
    before = data[: method.start_byte].decode(_ENCODING, _ERRORS)
    after = data[method.end_byte :].decode(_ENCODING, _ERRORS)
    if not (spliced.startswith(before) and spliced.endswith(after)):
        raise EditRefused("the fix would change more than the method; nothing was changed")
    return spliced[len(before) : len(spliced) - len(after)]


def method_range(source: str, method: Method, codec: PositionCodec) -> types.Range:
    """The method's range in the editor's units (source.py counts code points)."""
    lines = source.split("\n")

    def position(line: int, column: int) -> types.Position:
        return types.Position(line=line, character=codec.client_num_units(lines[line][:column]))

    return types.Range(
        start=position(method.start_line, method.start_col), end=position(method.end_line, method.end_col)
    )


def method_edit(source: str, method: Method, new_text: str, codec: PositionCodec) -> types.TextEdit:
    return types.TextEdit(range=method_range(source, method, codec), new_text=new_text)


def workspace_edit(
    uri: str, version: int | None, edit: types.TextEdit, document_changes: bool
) -> types.WorkspaceEdit:
    """A versioned document change where the editor supports it (it then refuses a stale edit)."""
    if document_changes:
        document = types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version)
        return types.WorkspaceEdit(
            document_changes=[types.TextDocumentEdit(text_document=document, edits=[edit])]
        )
    return types.WorkspaceEdit(changes={uri: [edit]})


def readable(source: str, method: Method) -> str:
    """The method as the server records it (`def` at column 0), or its raw text if that fails."""
    try:
        return method_text(source, method)
    except SourceError:
        return method.source_text
