"""Which code actions a position gets: a local parse, never a request to the server.

Editors ask for code actions at every cursor move, so this must stay cheap: one tree-sitter
parse per distinct text (cached by repomend.source) and a walk down the lines of one method.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import attrs
from lsprotocol import types

from repomend.contract.conversation import Mode
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


@attrs.frozen(kw_only=True)
class FixArgument:
    """The one argument of `repomend.fixMethod`: where the fix was asked for, in which mode, on
    which version of the document.

    pygls' converter sends it as a JSON object and leaves out fields at their default, so every
    field is required: the editor always gets all five. The handler reads it back with `parse`
    rather than through pygls' own structuring, which would coerce types and answer bad input
    with a protocol error instead of a message the user sees.
    """

    uri: str
    line: int
    """0-based, as the position the action was offered at."""
    character: int
    mode: Mode
    version: int | None

    @classmethod
    def at(cls, uri: str, position: types.Position, mode: Mode, version: int | None) -> FixArgument:
        return cls(uri=uri, line=position.line, character=position.character, mode=mode, version=version)

    @classmethod
    def parse(cls, arguments: Sequence[Any], default_mode: Mode) -> FixArgument:
        """The command's arguments as the editor sent them back; a ValueError says what is wrong."""
        first = arguments[0] if len(arguments) == 1 else None
        if not isinstance(first, dict):
            names = ", ".join(field.name for field in attrs.fields(cls))
            raise ValueError(f"{FIX_METHOD} takes one argument {{{names}}}")
        uri, line = first.get("uri"), first.get("line")
        character, mode, version = first.get("character", 0), first.get("mode"), first.get("version")
        if not isinstance(uri, str) or not isinstance(line, int) or line < 0:
            raise ValueError(f"{FIX_METHOD} needs `uri` (a string) and `line` (0-based)")
        try:
            mode = Mode(mode or default_mode)
        except ValueError:
            raise ValueError(f"{FIX_METHOD}: `mode` must be one of {', '.join(sorted(Mode))}") from None
        if not isinstance(character, int) or (version is not None and not isinstance(version, int)):
            raise ValueError(f"{FIX_METHOD}: `character` and `version` must be whole numbers")
        return cls(uri=uri, line=line, character=character, mode=mode, version=version)


def code_actions(
    source: str,
    uri: str,
    language_id: str | None,
    selection: types.Range,
    *,
    version: int | None,
    mode: Mode,
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
                arguments=[FixArgument.at(uri, position, action_mode, version)],
            ),
        )
        for title, action_mode in ((FIX_TITLE, mode), (FIX_THINK_TITLE, Mode.THINK))
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
