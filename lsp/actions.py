"""Which code actions a position gets: a local parse, never a request to the server.

Editors ask for code actions at every cursor move, so this must stay cheap: one tree-sitter
parse per distinct text (cached by repomend.source) and a walk down the lines of one method.
"""

from __future__ import annotations

from collections.abc import Collection

from lsprotocol import types

from repomend.source import Method, SourceError, method_at

FIX_METHOD = "repomend.fixMethod"
REJECT_LAST_FIX = "repomend.rejectLastFix"
FIX_TITLE = "Fix this method"
FIX_THINK_TITLE = "Fix this method (think)"
REJECT_TITLE = "Reject last fix"
KIND = types.CodeActionKind.QuickFix
PYTHON_SUFFIXES = (".py", ".pyi")


def is_python(uri: str, language_id: str | None) -> bool:
    """Python by the editor's language id, or by the file name when the editor sent none."""
    if language_id:
        return language_id == "python"
    return uri.lower().endswith(PYTHON_SUFFIXES)


def method_in(source: str, selection: types.Range) -> Method | None:
    """The method holding the cursor (the selection's start, else its end); None outside methods.

    A file that does not parse (the user is typing) has no methods rather than an error.
    """
    try:
        found = method_at(source, selection.start.line)
        if found is None and selection.end.line != selection.start.line:
            found = method_at(source, selection.end.line)
    except SourceError:
        return None
    return found


def fix_arguments(uri: str, position: types.Position, mode: str, version: int | None) -> dict:
    """The argument of `repomend.fixMethod`: where the fix was asked for and in which mode."""
    return {
        "uri": uri,
        "line": position.line,
        "character": position.character,
        "mode": mode,
        "version": version,
    }


def code_actions(
    source: str,
    uri: str,
    language_id: str | None,
    selection: types.Range,
    *,
    version: int | None,
    mode: str,
    only: Collection[str] | None = None,
    fixed: Collection[str] = (),
) -> list[types.CodeAction]:
    """ "Fix this method" (in `mode`) and "Fix this method (think)" inside a Python method.

    `fixed`: qualified names of methods whose fix may still be rejected; inside one of them
    "Reject last fix" is offered as well. `only`: the kinds the editor asked for.
    """
    if only and not any(kind == KIND or KIND.startswith(f"{kind}.") for kind in only):
        return []
    if not is_python(uri, language_id):
        return []
    method = method_in(source, selection)
    if method is None:
        return []
    position = selection.start
    actions = [
        types.CodeAction(
            title=title,
            kind=KIND,
            command=types.Command(
                title=title,
                command=FIX_METHOD,
                arguments=[fix_arguments(uri, position, action_mode, version)],
            ),
        )
        for title, action_mode in ((FIX_TITLE, mode), (FIX_THINK_TITLE, "think"))
    ]
    if method.qualname in fixed:
        argument = {"uri": uri, "line": position.line, "character": position.character}
        actions.append(
            types.CodeAction(
                title=REJECT_TITLE,
                kind=KIND,
                command=types.Command(title=REJECT_TITLE, command=REJECT_LAST_FIX, arguments=[argument]),
            )
        )
    return actions
