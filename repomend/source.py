"""The Python source model every face of repomend shares.

The repair loop, the language server and training all need the same answers to the same
questions -- which methods does this file have, where exactly is this one, what does the file
look like with its body removed, and how does a model's answer go back in -- so they are
answered once, here, with tree-sitter (fast, and it keeps exact byte positions).

Conventions:
- Lines are 0-based. Columns (``start_col``, ``end_col``, ``character``) count Unicode code
  points, not UTF-16 units or bytes; ``method_at`` only looks at the line, so the column
  convention never changes which method a position belongs to.
- Lines are split on ``\\n`` only (``\\r\\n`` files work; a lone ``\\r`` is not a line break).
- A method's range runs from its ``def`` (or ``async``) keyword to the end of the last
  statement of its body: decorators stay outside (the file keeps its own), and comments after
  the last statement stay in the file.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import warnings
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from functools import cached_property, lru_cache

import tree_sitter_python
from tree_sitter import Language, Node, Parser, Query, QueryCursor, Tree

__all__ = [
    "CandidateRejected",
    "Method",
    "SourceError",
    "find_method",
    "method_at",
    "method_text",
    "parse_methods",
    "remove_body",
    "splice",
]

_LANGUAGE = Language(tree_sitter_python.language())
_PARSER = Parser(_LANGUAGE)
_STRINGS = Query(_LANGUAGE, "(string) @string")
# Statements whose blocks still count as "module level" or "class level" for listing methods
# (a function under `if TYPE_CHECKING:` or `try:` is still a module-level function).
_CONTAINERS = frozenset(
    {
        "module",
        "block",
        "decorated_definition",
        "if_statement",
        "elif_clause",
        "else_clause",
        "try_statement",
        "except_clause",
        "except_group_clause",
        "finally_clause",
        "with_statement",
        "for_statement",
        "while_statement",
        "match_statement",
        "case_clause",
    }
)
_ENCODING = "utf-8"
_ERRORS = "surrogatepass"  # keeps lone surrogates (from surrogateescape reads) round-tripping
_MAX_LISTED = 20


class SourceError(ValueError):
    """The file cannot be used as given (it does not parse, or has no such method)."""


class CandidateRejected(ValueError):
    """A model's code cannot be spliced; ``str(err)`` is a one-line reason for the model."""


@dataclass(frozen=True)
class Method:
    """A function or method of a file, with the positions every caller needs."""

    name: str
    class_name: str | None
    qualname: str
    declaration: str
    docstring: str | None
    start_line: int
    start_col: int
    end_line: int
    end_col: int
    decorated_start_line: int
    body_start_line: int
    indent: str
    body_indent: str
    start_byte: int
    end_byte: int
    source_text: str


# --------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class _Entry:
    """A listed function: enough to find it; its Method is built only when asked for."""

    func: Node
    outer: Node  # the decorated definition, or the function itself
    classes: tuple[str, ...]

    @property
    def qualname(self) -> str:
        return ".".join((*self.classes, _name(self.func)))


class _Parsed:
    """One parse of one text, with what has been derived from it so far."""

    def __init__(self, data: bytes, tree: Tree) -> None:
        self.data = data
        self.tree = tree
        self._built: dict[int, Method] = {}

    @cached_property
    def entries(self) -> tuple[_Entry, ...]:
        return tuple(_Entry(*found) for found in _function_defs(self.tree.root_node, ()))

    def method(self, entry: _Entry) -> Method:
        key = entry.func.start_byte
        if key not in self._built:
            self._built[key] = _make_method(self.data, entry.func, entry.outer, entry.classes)
        return self._built[key]

    def methods(self) -> list[Method]:
        return [self.method(entry) for entry in self.entries]


def _encode(text: str) -> bytes:
    return text.encode(_ENCODING, _ERRORS)


def _decode(data: bytes) -> str:
    return data.decode(_ENCODING, _ERRORS)


def _compile_error(text: str, filename: str) -> SyntaxError | None:
    """Python's own verdict, used to confirm (and word) what tree-sitter flags."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(text, filename, "exec", dont_inherit=True)
    except SyntaxError as err:
        return err
    except ValueError as err:  # source code string cannot contain null bytes (Python < 3.12)
        return SyntaxError(str(err))
    return None


def _describe(err: SyntaxError, line_offset: int = 0) -> str:
    if err.lineno is None:
        return err.msg or str(err)
    return f"line {err.lineno - line_offset}: {err.msg}"


def _has_error(tree: Tree) -> bool:
    return tree.root_node.has_error


def _tree_error(tree: Tree, line_offset: int = 0) -> str:
    """Where tree-sitter gave up, for files whose syntax this Python cannot judge."""
    node = tree.root_node
    while True:
        bad = next((c for c in node.children if c.has_error or c.is_missing), None)
        if bad is None or bad.is_error or bad.is_missing:
            node = bad or node
            break
        node = bad
    line = node.start_point.row + 1 - line_offset
    if node.is_missing:
        return f"line {line}: missing `{node.type}`"
    return f"line {line}: invalid syntax"


@lru_cache(maxsize=16)
def _parse(source: str) -> _Parsed:
    """Parse once per distinct text: the language server asks about the same file repeatedly."""
    data = _encode(source)
    tree = _PARSER.parse(data)
    if _has_error(tree):
        err = _compile_error(source, "<file>")
        if err is not None:
            raise SourceError(f"the file does not parse: {_describe(err)}")
        # Valid Python that this grammar does not know: list what it did understand.
    return _Parsed(data, tree)


def _function_defs(node: Node, classes: tuple[str, ...]) -> Iterator[tuple[Node, Node, tuple]]:
    """Yield (function_definition, outermost node incl. decorators, enclosing classes).

    Function bodies are not entered: nested functions are implementation details of the
    method that holds them.
    """
    for child in node.named_children:
        kind = child.type
        if kind == "function_definition":
            yield child, child, classes
        elif kind == "decorated_definition":
            inner = child.child_by_field_name("definition")
            if inner is None:
                continue
            if inner.type == "function_definition":
                yield inner, child, classes
            elif inner.type == "class_definition":
                yield from _class_defs(inner, classes)
        elif kind == "class_definition":
            yield from _class_defs(child, classes)
        elif kind in _CONTAINERS:
            yield from _function_defs(child, classes)


def _function_at(node: Node, line: int, classes: tuple[str, ...]) -> tuple | None:
    """The listed function whose node spans ``line``, descending only along that line.

    Visits the few nodes on the way down instead of every function in the file, so a lookup
    costs little more than the parse itself.
    """
    for child in node.named_children:
        if child.start_point.row > line:
            return None
        if child.end_point.row < line:
            continue
        kind = child.type
        if kind == "decorated_definition":
            inner = child.child_by_field_name("definition")
            if inner is not None and inner.type == "function_definition":
                return inner, child, classes
            kind, child = ("class_definition", inner) if inner is not None else ("", child)
        if kind == "function_definition":
            return child, child, classes
        if kind == "class_definition":
            name = child.child_by_field_name("name")
            body = child.child_by_field_name("body")
            if name is None or body is None or name.text is None:
                return None
            return _function_at(body, line, (*classes, _decode(name.text)))
        if kind in _CONTAINERS:
            return _function_at(child, line, classes)
        return None
    return None


def _class_defs(node: Node, classes: tuple[str, ...]) -> Iterator[tuple[Node, Node, tuple]]:
    name = node.child_by_field_name("name")
    body = node.child_by_field_name("body")
    if name is None or body is None or name.text is None:
        return
    yield from _function_defs(body, (*classes, _decode(name.text)))


def _statements(block: Node) -> list[Node]:
    return [c for c in block.named_children if c.type != "comment"]


def _last_statement(func: Node) -> Node:
    """Where the method ends: trailing comments belong to the file, not the body."""
    body = func.child_by_field_name("body")
    statements = _statements(body) if body is not None else []
    return statements[-1] if statements else func


def _header_colon(func: Node) -> Node | None:
    for child in func.children:
        if child.type == ":" and not child.is_named:
            return child
    return None


def _docstring_node(func: Node) -> Node | None:
    """The string node that Python would take as the docstring, if any."""
    body = func.child_by_field_name("body")
    statements = _statements(body) if body is not None else []
    if not statements or statements[0].type != "expression_statement":
        return None
    parts = statements[0].named_children
    if len(parts) != 1 or parts[0].type not in ("string", "concatenated_string"):
        return None
    return parts[0]


def _docstring_text(node: Node | None) -> str | None:
    if node is None or node.text is None:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = ast.literal_eval(_decode(node.text))
    except (ValueError, SyntaxError):  # f-strings are not docstrings
        return None
    return inspect.cleandoc(value) if isinstance(value, str) else None


def _line_start(data: bytes, byte: int) -> int:
    return data.rfind(b"\n", 0, byte) + 1


def _indent_of(data: bytes, byte: int) -> str:
    """Whitespace from the start of the line up to ``byte``."""
    prefix = _decode(data[_line_start(data, byte) : byte])
    return prefix[: len(prefix) - len(prefix.lstrip(" \t\f"))]


def _column(data: bytes, byte: int) -> int:
    return len(_decode(data[_line_start(data, byte) : byte]))


def _indent_unit(indent: str) -> str:
    return "\t" if "\t" in indent else "    "


def _make_method(data: bytes, func: Node, outer: Node, classes: tuple[str, ...]) -> Method:
    name = _name(func)
    last = _last_statement(func)
    start, end = func.start_byte, last.end_byte
    colon = _header_colon(func)
    header_end = colon.end_byte if colon is not None else start
    indent = _indent_of(data, start)
    body = func.child_by_field_name("body")
    statements = _statements(body) if body is not None else []
    first = statements[0] if statements else body
    if first is not None and first.start_point.row > func.start_point.row:
        body_start_line = first.start_point.row
        body_indent = _indent_of(data, first.start_byte)
    else:  # one-line body: where a multi-line body would go
        body_start_line = func.start_point.row
        body_indent = indent + _indent_unit(indent)
    return Method(
        name=name,
        class_name=classes[-1] if classes else None,
        qualname=".".join((*classes, name)),
        declaration=_decode(data[start:header_end]),
        docstring=_docstring_text(_docstring_node(func)),
        start_line=func.start_point.row,
        start_col=_column(data, start),
        end_line=last.end_point.row,
        end_col=_column(data, end),
        decorated_start_line=outer.start_point.row,
        body_start_line=body_start_line,
        indent=indent,
        body_indent=body_indent,
        start_byte=start,
        end_byte=end,
        source_text=_decode(data[start:end]),
    )


# --------------------------------------------------------------------------- queries


def parse_methods(source: str) -> list[Method]:
    """All module-level functions and class methods (nested classes included), in file order.

    Raises SourceError when the file does not parse. Tree-sitter flags the problem and Python's
    compiler confirms and words it; the file is never executed.
    """
    return _parse(source).methods()


def find_method(source: str, qualname: str) -> Method:
    """The first method called ``qualname`` ("Stats.mean", "main")."""
    parsed = _parse(source)
    for entry in parsed.entries:
        if entry.qualname == qualname:
            return parsed.method(entry)
    names = list(dict.fromkeys(entry.qualname for entry in parsed.entries))
    if not names:
        raise SourceError(f"no method `{qualname}` in this file; it defines no functions")
    listed = ", ".join(names[:_MAX_LISTED])
    if len(names) > _MAX_LISTED:
        listed += f", and {len(names) - _MAX_LISTED} more"
    raise SourceError(f"no method `{qualname}` in this file; it has: {listed}")


def method_at(source: str, line: int, character: int = 0) -> Method | None:
    """The method whose lines (decorators, declaration, body) include ``line``.

    Listed methods never share a line, so ``character`` (kept for LSP positions) cannot change
    the answer. A position inside a nested function answers the method that holds it.
    """
    del character
    parsed = _parse(source)
    found = _function_at(parsed.tree.root_node, line, ())
    if found is None:
        return None
    method = parsed.method(_Entry(*found))
    return method if line <= method.end_line else None  # not on a trailing comment


def _checked(source: str, method: Method) -> _Parsed:
    """Refuse a Method located in another version of the file: its offsets would be wrong."""
    parsed = _parse(source)
    if _decode(parsed.data[method.start_byte : method.end_byte]) != method.source_text:
        raise SourceError(f"the file changed since `{method.qualname}` was located; locate it again")
    return parsed


def _function_node(parsed: _Parsed, method: Method) -> Node:
    for entry in parsed.entries:
        if entry.func.start_byte == method.start_byte:
            return entry.func
    raise SourceError(f"`{method.qualname}` is not a method of this file")


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _protected_rows(node: Node, first_row: int) -> set[int]:
    """Rows (relative to ``first_row``) that begin inside a multi-line string literal.

    Their leading whitespace is string content, so re-indenting must leave them alone.
    """
    rows: set[int] = set()
    cursor = QueryCursor(_STRINGS)
    cursor.set_byte_range(node.start_byte, node.end_byte)
    for string in cursor.captures(node).get("string", []):
        start, end = string.start_point.row, string.end_point.row
        rows.update(range(start + 1 - first_row, end + 1 - first_row))
    return rows


def _split_lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").split("\n")


def method_text(source: str, method: Method) -> str:
    """The method as a model reads and writes it: ``def`` at column 0, ``\\n`` line ends.

    Lines inside multi-line strings are left exactly as in the file; ``splice`` re-indents
    this text back to the same bytes (lines indented less than the ``def``, such as a comment
    at column 0 inside a class method, come back at the method's indentation).
    """
    parsed = _checked(source, method)
    func = _function_node(parsed, method)
    protected = _protected_rows(func, method.start_line)
    lines = _split_lines(method.source_text)
    out = [lines[0]]
    for row, line in enumerate(lines[1:], start=1):
        if row not in protected and line.startswith(method.indent):
            line = line[len(method.indent) :]
        out.append(line)
    return "\n".join(out)


def remove_body(source: str, method: Method) -> str:
    """The file with the method's body reduced to its docstring and ``...``.

    This is what the model sees of the file in the first turn; everything outside the body is
    byte-identical.
    """
    parsed = _checked(source, method)
    func = _function_node(parsed, method)
    data = parsed.data
    docstring = _docstring_node(func)
    colon = _header_colon(func)
    if colon is None:
        raise SourceError(f"`{method.qualname}` has no body to remove")
    doc = _decode(docstring.text) if docstring is not None and docstring.text else None
    if method.body_start_line == method.start_line:  # `def f(): return 1`
        head = _decode(data[: colon.end_byte])
        body = f" {doc}; ..." if doc else " ..."
    else:
        line_end = data.find(b"\n", colon.end_byte)
        head = _decode(data[: line_end + 1])
        newline = "\r\n" if head.endswith("\r\n") else "\n"
        body = f"{method.body_indent}..."
        if doc:
            body = f"{method.body_indent}{doc}{newline}{body}"
    return head + body + _decode(data[method.end_byte :])


def prompt_view(source: str, qualname: str, hidden: Collection[str] = ()) -> tuple[str, int]:
    """What the first-turn prompt shows of the file: `source` with the body of `qualname` and of
    every `hidden` method removed, and the 0-based line of `qualname`'s `def` there (where the
    excerpt centres). Training hides its held-out methods this way; serving hides none."""
    if not hidden:
        method = find_method(source, qualname)
        return remove_body(source, method), method.start_line
    text = source
    # Bottom-up, so each removal leaves the positions of the ones still to come unchanged.
    for name in sorted({qualname, *hidden}, key=lambda q: find_method(source, q).start_byte, reverse=True):
        text = remove_body(text, find_method(text, name))
    return text, find_method(text, qualname).start_line


# --------------------------------------------------------------------------- splicing


def _first_code_line(text: str) -> str | None:
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return line
    return None


def _candidate_defs(root: Node) -> list[Node]:
    return [func for func, _outer, _classes in _function_defs(root, ())]


def _leading_ws(text: str) -> str:
    return text[: len(text) - len(text.lstrip(" \t\f"))]


def _convert_unit(ws: str, unit_from: str, unit_to: str) -> str:
    levels = 0
    while unit_from and ws.startswith(unit_from, levels * len(unit_from)):
        levels += 1
    return unit_to * levels + ws[levels * len(unit_from) :]


def _reindent(
    lines: list[str],
    protected: set[int],
    old: str,
    new: str,
    units: tuple[str, str] | None,
) -> list[str]:
    """Move the body from the candidate's indentation ``old`` to the file's ``new``.

    ``units`` = (candidate's indent step, file's indent step) converts the step as well, so a
    tab-indented file gets tabs whatever the model wrote. Lines indented less than ``old``
    (comments, bracket continuations) are kept as they are; empty lines stay empty.
    """
    out = [lines[0]]
    for row, line in enumerate(lines[1:], start=1):
        if row in protected or not line or not line.startswith(old):
            out.append(line)
            continue
        rest = line[len(old) :]
        if units is not None:
            ws = _leading_ws(rest)
            rest = _convert_unit(ws, *units) + rest[len(ws) :]
        out.append(new + rest)
    return out


def _file_unit(method: Method) -> str:
    if method.body_indent.startswith(method.indent) and method.body_indent != method.indent:
        return method.body_indent[len(method.indent) :]
    return _indent_unit(method.indent)


def _candidate_unit(data: bytes, func: Node, def_indent: str) -> str | None:
    body = func.child_by_field_name("body")
    statements = _statements(body) if body is not None else []
    if not statements or statements[0].start_point.row == func.start_point.row:
        return None
    body_indent = _indent_of(data, statements[0].start_byte)
    if body_indent.startswith(def_indent) and body_indent != def_indent:
        return body_indent[len(def_indent) :]
    return None


def _name(func: Node) -> str:
    node = func.child_by_field_name("name")
    return _decode(node.text) if node is not None and node.text is not None else ""


def _pick(root: Node, name: str) -> Node:
    defs = _candidate_defs(root)
    if not defs:
        raise CandidateRejected("it defines no function")
    for func in defs:
        if _name(func) == name:
            return func
    found = ", ".join(f"`{_name(func)}`" for func in defs)
    raise CandidateRejected(f"it defines {found}, expected `{name}`")


def _file_compiles(source: str) -> bool:
    return _compile_error(source, "<file>") is None


def splice(source: str, method: Method, candidate: str) -> str:
    """The file with ``method`` replaced by the candidate's definition of the same name.

    The candidate is a model's answer: it may be indented anyhow, use tabs, carry decorators
    (dropped: the file keeps its own), imports, usage examples or a class around the method;
    only the ``def`` named like the method is used, re-indented to the file's style. Raises
    CandidateRejected with a one-line reason the model can act on.
    """
    parsed = _checked(source, method)
    text = candidate.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    first = _first_code_line(text)
    if first is None:
        raise CandidateRejected("it defines no function")
    # An indented answer (written as inside a class) is valid inside a block; wrap it in one
    # rather than guessing how much to dedent, which multi-line strings would make unsafe.
    offset = 1 if first[:1] in (" ", "\t", "\f") else 0
    wrapped = "if True:\n" + text if offset else text

    file_compiles: bool | None = None
    err = _compile_error(wrapped, "<candidate>")
    tree = _PARSER.parse(_encode(wrapped))
    if err is not None:
        file_compiles = _file_compiles(source)
        # A file in newer syntax than this interpreter knows: trust tree-sitter alone.
        if file_compiles:
            raise CandidateRejected(f"the code does not parse: {_describe(err, offset)}")
        if _has_error(tree):
            raise CandidateRejected(f"the code does not parse: {_tree_error(tree, offset)}")
    data = _encode(wrapped)
    func = _pick(tree.root_node, method.name)

    def_indent = _indent_of(data, func.start_byte)
    lines = _split_lines(_decode(data[func.start_byte : _last_statement(func).end_byte]))
    protected = _protected_rows(func, func.start_point.row)
    cand_unit = _candidate_unit(data, func, def_indent)
    file_unit = _file_unit(method)
    attempts: list[tuple[str, str] | None] = [None]
    if cand_unit is not None and cand_unit != file_unit:
        attempts.insert(0, (cand_unit, file_unit))

    newline = _newline(method.source_text) if "\n" in method.source_text else None
    if newline is None:
        line_end = parsed.data.find(b"\n", method.end_byte)
        newline = "\r\n" if line_end > 0 and parsed.data[line_end - 1 : line_end] == b"\r" else "\n"
    before = _decode(parsed.data[: method.start_byte])
    after = _decode(parsed.data[method.end_byte :])
    last_error: SyntaxError | None = None
    for units in attempts:
        body = newline.join(_reindent(lines, protected, def_indent, method.indent, units))
        result = before + body + after
        last_error = _compile_error(result, "<file>")
        if last_error is None:
            return result
    if file_compiles is None:
        file_compiles = _file_compiles(source)
    if not file_compiles:
        # Python here cannot judge this file (newer syntax, or it was already broken): fall
        # back to tree-sitter's verdict on the result.
        body = newline.join(_reindent(lines, protected, def_indent, method.indent, attempts[0]))
        result = before + body + after
        if not _has_error(_PARSER.parse(_encode(result))):
            return result
    assert last_error is not None
    raise CandidateRejected(f"the method does not fit in the file: {_describe(last_error)}")


def keep_docstring(source: str, method: Method, spliced: str) -> str:
    """Put the method's docstring back when the candidate dropped it.

    Models often answer without the docstring; a fix should not cost the user their
    documentation. Returns `spliced` unchanged when there is nothing to restore or it
    cannot be restored cleanly.
    """
    if method.docstring is None:
        return spliced
    new = find_method(spliced, method.qualname)
    header_lines = new.declaration.count("\n")
    if new.docstring is not None or new.body_start_line <= new.start_line + header_lines:
        return spliced
    try:
        function = ast.parse(method_text(source, method)).body[0]
    except SyntaxError:  # syntax newer than this interpreter: leave it to the user
        return spliced
    assert isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
    first = function.body[0]
    assert first.end_lineno is not None
    original = method.source_text.splitlines(keepends=True)[first.lineno - 1 : first.end_lineno]
    original[0] = new.body_indent + original[0].lstrip(" \t")
    lines = spliced.splitlines(keepends=True)
    newline = _newline(spliced) if "\n" in spliced else "\n"
    if not original[-1].endswith(("\n", "\r")):
        original[-1] += newline
    result = "".join(lines[: new.body_start_line] + original + lines[new.body_start_line :])
    return result if _compile_error(result, "<file>") is None else spliced


def _is_docstring(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def code_key(method_code: str) -> str:
    """What a method *does*, for telling a new answer from one already tested: its syntax tree
    without docstring, comments or layout. Falls back to the text when it does not parse.
    (Training rows are deduplicated by `training.normalize.normalize_code`, which keeps
    docstrings: there the text a row teaches matters, not only what it does.)"""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(textwrap.dedent(method_code))
    except SyntaxError:
        return " ".join(method_code.split())
    for node in ast.walk(tree):
        is_definition = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        if is_definition and node.body and _is_docstring(node.body[0]):
            node.body = node.body[1:] or [ast.Pass()]
    return ast.unparse(tree)


def spliced_key(source: str, qualname: str) -> str:
    """`code_key` of the method `qualname` as it stands in `source` (a file with an answer spliced in)."""
    return code_key(method_text(source, find_method(source, qualname)))


def without_docstring(code: str) -> str:
    """`code` (one method) minus its docstring lines; unchanged when it has none, has nothing
    else, or does not parse. Answers are compared and fed back without it: the loop restores it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(textwrap.dedent(code))
    except SyntaxError:
        return code
    function = tree.body[0] if tree.body else None
    if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef) or len(function.body) < 2:
        return code
    first = function.body[0]
    if not _is_docstring(first):
        return code
    assert first.end_lineno is not None
    lines = code.split("\n")
    return "\n".join(lines[: first.lineno - 1] + lines[first.end_lineno :])
