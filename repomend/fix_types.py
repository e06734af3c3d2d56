"""What kind of fix a repair made, read from the syntax trees of the method before and after.

The kinds follow the bug tags the repair literature uses (comparison, loop bound, indexing, return
value, missing case) and the mutation teacher's operators (off by one, wrong variable, swapped
arguments). The trees are compared node by node; a fix that touched one place, or a few places of
the same kind, gets that kind; a larger change is a "rewrite"; anything unparsable is unknown.
"""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass

MAX_EDITS = 3
"""More separate differences than this make the fix a rewrite."""
_IGNORED_FIELDS = frozenset({"ctx", "type_comment", "kind"})


@dataclass(frozen=True)
class _Edit:
    before: object
    after: object
    ancestors: tuple[ast.AST, ...]
    field: str


def _parse(text: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    try:
        tree = ast.parse(textwrap.dedent(text))
    except (SyntaxError, ValueError):
        return None
    found = next((n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)), None)
    if found is not None and found.body and _is_docstring(found.body[0]):
        found.body = found.body[1:]
    return found


def _is_docstring(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _edits(before: object, after: object, ancestors: tuple[ast.AST, ...], field: str) -> Iterator[_Edit]:
    if type(before) is not type(after):
        yield _Edit(before, after, ancestors, field)
    elif isinstance(before, ast.AST):
        assert isinstance(after, ast.AST)
        for name in before._fields:
            if name not in _IGNORED_FIELDS:
                yield from _edits(
                    getattr(before, name, None), getattr(after, name, None), (*ancestors, before), name
                )
    elif isinstance(before, list):
        assert isinstance(after, list)
        if len(before) != len(after):
            yield _Edit(before, after, ancestors, field)
        else:
            for old, new in zip(before, after, strict=True):
                yield from _edits(old, new, ancestors, field)
    elif before != after:
        yield _Edit(before, after, ancestors, field)


def _inside(edit: _Edit, kind: type | tuple[type, ...]) -> ast.AST | None:
    return next((a for a in reversed(edit.ancestors) if isinstance(a, kind)), None)


def _in_loop_bound(edit: _Edit) -> bool:
    path = (*edit.ancestors, edit.before)
    for index, node in enumerate(path[:-1]):
        child = path[index + 1]
        if isinstance(node, ast.For) and child is node.iter:
            return True
        if isinstance(node, ast.While) and child is node.test:
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range":
            return child is not node.func
    return False


def _in_slice(edit: _Edit) -> bool:
    path = (*edit.ancestors, edit.before)
    return any(
        isinstance(node, ast.Subscript) and path[index + 1] is node.slice
        for index, node in enumerate(path[:-1])
    )


def _is_one_off(before: object, after: object) -> bool:
    numbers = (int, float)
    if isinstance(before, ast.Constant) and isinstance(after, ast.Constant):
        before, after = before.value, after.value
    if isinstance(before, bool) or isinstance(after, bool):
        return False
    if isinstance(before, numbers) and isinstance(after, numbers):
        return abs(before - after) == 1
    # `x` <-> `x + 1` / `x - 1`
    for small, big in ((before, after), (after, before)):
        if (
            isinstance(big, ast.BinOp)
            and isinstance(big.op, ast.Add | ast.Sub)
            and isinstance(big.right, ast.Constant)
            and big.right.value == 1
            and isinstance(small, ast.AST)
            and ast.dump(big.left) == ast.dump(small)
        ):
            return True
    return False


def _kind(edit: _Edit) -> str:
    before, after = edit.before, edit.after
    if isinstance(before, list) and isinstance(after, list):
        if edit.field in ("args", "elts", "keywords", "values"):
            return "call arguments" if edit.field in ("args", "keywords") else "wrong value"
        added = [n for n in after if ast.dump(n) not in {ast.dump(m) for m in before}]
        if abs(len(after) - len(before)) > MAX_EDITS - 1:
            return "rewrite"
        if len(after) > len(before):
            return (
                "missing case"
                if any(isinstance(n, ast.If | ast.Raise) for n in added)
                else "missing statement"
            )
        return "removed statement"
    if _in_loop_bound(edit):
        return "loop bound"
    if _in_slice(edit):
        return "indexing"
    if edit.field == "ops" or (isinstance(before, ast.cmpop) and isinstance(after, ast.cmpop)):
        return "comparison"
    if _is_one_off(before, after):
        return "off by one"
    if edit.field == "id" and isinstance(edit.ancestors[-1] if edit.ancestors else None, ast.Name):
        return "return value" if _inside(edit, ast.Return) else "wrong variable"
    if isinstance(before, ast.operator) and isinstance(after, ast.operator):
        return "arithmetic operator"
    if isinstance(before, ast.boolop) and isinstance(after, ast.boolop):
        return "boolean operator"
    if isinstance(before, ast.UnaryOp | ast.Compare) or isinstance(after, ast.UnaryOp | ast.Compare):
        return "condition"
    if _inside(edit, ast.Return) or isinstance(before, ast.Return) or isinstance(after, ast.Return):
        return "return value"
    if _inside(edit, ast.If | ast.While | ast.IfExp):
        return "condition"
    return "other"


def _swapped_arguments(before: ast.AST, after: ast.AST) -> bool:
    """A call whose positional arguments are the same ones in another order."""
    for old, new in zip(ast.walk(before), ast.walk(after), strict=False):
        if isinstance(old, ast.Call) and isinstance(new, ast.Call) and len(old.args) == len(new.args) > 1:
            dumped_old, dumped_new = [ast.dump(a) for a in old.args], [ast.dump(a) for a in new.args]
            if dumped_old != dumped_new and sorted(dumped_old) == sorted(dumped_new):
                return True
    return False


def fix_type(original: str | None, fixed: str | None) -> str | None:
    """The kind of change from `original` to `fixed` (method texts); None when it cannot be told."""
    if not original or not fixed:
        return None
    before, after = _parse(original), _parse(fixed)
    if before is None or after is None:
        return None
    edits = list(_edits(before.body, after.body, (before,), "body"))
    if not edits:
        return None
    if _swapped_arguments(before, after):
        return "swapped arguments"
    if len(edits) > MAX_EDITS:
        return "rewrite"
    kinds = {_kind(edit) for edit in edits}
    if len(kinds) == 1:
        kind = kinds.pop()
        return None if kind == "other" else kind
    kinds.discard("other")
    return " + ".join(sorted(kinds)) if 0 < len(kinds) <= 2 else "rewrite"
