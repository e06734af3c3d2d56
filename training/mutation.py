"""AST mutation operators: plausible single-site bugs in a method's body, for a teacher without a model.

Each mutant changes one place of the body and leaves every other byte of the file as it was
(the edit replaces the source span of one node), so the "broken" method differs from the
ground truth exactly where the bug is. Whether a mutant is a real bug is for the tests to say.
"""

from __future__ import annotations

import ast
import random
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from repomend.source import Method

OPERATORS = (
    "comparison_flip",
    "off_by_one",
    "wrong_variable",
    "dropped_statement",
    "swapped_arguments",
    "wrong_return",
)
FIX_TYPES: dict[str, str] = {
    "comparison_flip": "comparison",
    "off_by_one": "off by one",
    "wrong_variable": "wrong variable",
    "dropped_statement": "missing statement",
    "swapped_arguments": "swapped arguments",
    "wrong_return": "return value",
}
"""The kind of fix (`repomend.fix_types`' words) that undoing each operator's mutation is."""

_NEGATED: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.GtE,
    ast.LtE: ast.Gt,
    ast.Gt: ast.LtE,
    ast.GtE: ast.Lt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
_BOUNDARY: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
}
_SPELLING: dict[type[ast.cmpop], str] = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
}
_IMPLICIT_NAMES = frozenset({"self", "cls"})


@dataclass(frozen=True)
class Mutant:
    operator: str
    description: str
    """Where and what, e.g. "line 4: `<` -> `>=`" (1-based line in the file)."""
    source: str
    """The whole file with the mutation applied."""


@dataclass(frozen=True)
class _Edit:
    start: int
    end: int
    text: str


class _File:
    """Offsets in the text for AST positions (which count UTF-8 bytes within a line)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines = source.split("\n")
        self.starts = [0]
        for line in self.lines[:-1]:
            self.starts.append(self.starts[-1] + len(line) + 1)

    def offset(self, lineno: int, col: int) -> int:
        line = self.lines[lineno - 1]
        return self.starts[lineno - 1] + len(line.encode("utf-8")[:col].decode("utf-8", "replace"))

    def span(self, node: ast.AST) -> tuple[int, int] | None:
        """Text span of `node`, checked against Python's own view of it."""
        end_lineno, end_col = getattr(node, "end_lineno", None), getattr(node, "end_col_offset", None)
        if end_lineno is None or end_col is None:
            return None
        start = self.offset(node.lineno, node.col_offset)  # type: ignore[attr-defined]
        end = self.offset(end_lineno, end_col)
        if self.source[start:end] != ast.get_source_segment(self.source, node):
            return None
        return start, end

    def text(self, node: ast.AST) -> str | None:
        span = self.span(node)
        return None if span is None else self.source[span[0] : span[1]]

    def line_prefix(self, offset: int) -> str:
        return self.source[self.source.rfind("\n", 0, offset) + 1 : offset]

    def line_rest(self, offset: int) -> str:
        end = self.source.find("\n", offset)
        return self.source[offset : len(self.source) if end < 0 else end]


def _function_node(tree: ast.Module, method: Method) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.lineno == method.start_line + 1
            and node.name == method.name
        ):
            return node
    return None


def _body(func: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.stmt]:
    """The statements that count as the method's behaviour: the docstring is not one."""
    body = list(func.body)
    first = body[0] if body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        body = body[1:]
    return body


def _nodes(statements: Sequence[ast.stmt]) -> list[ast.AST]:
    """Every node under the statements, except those inside f-strings (their positions are unreliable)."""
    found: list[ast.AST] = []

    def visit(node: ast.AST) -> None:
        found.append(node)
        if isinstance(node, ast.JoinedStr):
            return
        for child in ast.iter_child_nodes(node):
            visit(child)

    for statement in statements:
        visit(statement)
    return found


def _blocks(statements: Sequence[ast.stmt]) -> Iterator[list[ast.stmt]]:
    """Each statement list (block) at or below these statements, the top one included."""
    yield list(statements)
    for statement in statements:
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            block = getattr(statement, name, None)
            if not isinstance(block, list) or not block:
                continue
            if name in ("handlers", "cases"):
                for inner in block:
                    yield from _blocks(inner.body)
            elif isinstance(block[0], ast.stmt):
                yield from _blocks(block)


def _line_of(file: _File, offset: int) -> int:
    return file.source.count("\n", 0, offset) + 1


def _comparison_flips(file: _File, nodes: list[ast.AST], table: dict, operator: str) -> Iterator[tuple]:
    for node in nodes:
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        for index, op in enumerate(node.ops):
            new = table.get(type(op))
            left, right = file.span(operands[index]), file.span(operands[index + 1])
            if new is None or left is None or right is None:
                continue
            gap = file.source[left[1] : right[0]]
            old_spelling = _SPELLING[type(op)]
            pattern = re.compile(
                r"(?<![\w<>=!])" + r"\s+".join(map(re.escape, old_spelling.split())) + r"(?![\w<>=])"
            )
            found = list(pattern.finditer(gap))
            if len(found) != 1:
                continue
            match = found[0]
            start = left[1] + match.start()
            edit = _Edit(start, left[1] + match.end(), _SPELLING[new])
            yield operator, f"line {_line_of(file, start)}: `{old_spelling}` -> `{_SPELLING[new]}`", [edit]


def _off_by_one(file: _File, nodes: list[ast.AST]) -> Iterator[tuple]:
    for node in nodes:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            span = file.span(node)
            if span is None:
                continue
            for new in (node.value + 1, node.value - 1):
                if new < 0:
                    continue
                line = _line_of(file, span[0])
                yield "off_by_one", f"line {line}: {node.value} -> {new}", [_Edit(*span, str(new))]
    yield from _comparison_flips(file, nodes, _BOUNDARY, "off_by_one")


def _local_names(func: ast.FunctionDef | ast.AsyncFunctionDef, statements: Sequence[ast.stmt]) -> list[str]:
    """Parameters and assigned names in order of first appearance (self / cls excluded)."""
    args = func.args
    names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
    names += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
    for node in _nodes(statements):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.append(node.id)
    return [n for n in dict.fromkeys(names) if n not in _IMPLICIT_NAMES]


def _wrong_variables(file: _File, nodes: list[ast.AST], names: list[str]) -> Iterator[tuple]:
    if len(names) < 2:
        return
    for node in nodes:
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in names:
            span = file.span(node)
            if span is None:
                continue
            other = names[names.index(node.id) - 1]  # the name introduced just before it (cyclic)
            line = _line_of(file, span[0])
            yield "wrong_variable", f"line {line}: `{node.id}` -> `{other}`", [_Edit(*span, other)]


def _dropped_statements(file: _File, statements: Sequence[ast.stmt]) -> Iterator[tuple]:
    for block in _blocks(statements):
        for statement in block:
            span = file.span(statement)
            if span is None:
                continue
            start, end = span
            prefix = file.line_prefix(start)
            rest = file.line_rest(end)
            if prefix.strip() or (rest.strip() and not rest.strip().startswith("#")):
                continue  # shares its line with something else (`a; b`, `elif`, one-line body)
            line_start = start - len(prefix)
            line_end = end + len(rest) + 1  # through the newline
            replacement = f"{prefix}pass\n" if len(block) == 1 else ""
            first_line = _line_of(file, start)
            what = file.source[start:end].split("\n", 1)[0].strip()
            yield (
                "dropped_statement",
                f"line {first_line}: dropped `{what}`",
                [_Edit(line_start, min(line_end, len(file.source)), replacement)],
            )


def _swapped_arguments(file: _File, nodes: list[ast.AST]) -> Iterator[tuple]:
    for node in nodes:
        if not isinstance(node, ast.Call) or any(isinstance(a, ast.Starred) for a in node.args):
            continue
        for first, second in zip(node.args, node.args[1:], strict=False):
            a, b = file.span(first), file.span(second)
            if a is None or b is None:
                continue
            text_a, text_b = file.source[a[0] : a[1]], file.source[b[0] : b[1]]
            if text_a == text_b:
                continue
            line = _line_of(file, a[0])
            yield (
                "swapped_arguments",
                f"line {line}: swapped `{text_a}` and `{text_b}`",
                [
                    _Edit(*a, text_b),
                    _Edit(*b, text_a),
                ],
            )


def _is_boolean(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Compare | ast.BoolOp)
        or (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not))
        or (isinstance(node, ast.Constant) and isinstance(node.value, bool))
    )


def _wrong_returns(file: _File, nodes: list[ast.AST]) -> Iterator[tuple]:
    for node in nodes:
        if not isinstance(node, ast.Return) or node.value is None:
            continue
        value = node.value
        if isinstance(value, ast.Constant) and value.value is None:
            continue
        span = file.span(value)
        if span is None:
            continue
        text = file.source[span[0] : span[1]]
        if isinstance(value, ast.Constant) and isinstance(value.value, bool):
            new = str(not value.value)
        elif _is_boolean(value):
            new = f"not ({text})"
        else:
            new = "None"
        line = _line_of(file, span[0])
        yield "wrong_return", f"line {line}: `return {text}` -> `return {new}`", [_Edit(*span, new)]


def _apply(source: str, edits: list[_Edit]) -> str:
    for edit in sorted(edits, key=lambda e: e.start, reverse=True):
        source = source[: edit.start] + edit.text + source[edit.end :]
    return source


def _compiles(source: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(source, "<mutant>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return True


def mutants(source: str, method: Method, operators: Sequence[str] = OPERATORS) -> list[Mutant]:
    """Every single-site mutant of `method`'s body by the given operators, in file order per operator.

    Mutants that do not compile or repeat another one are left out; an empty list means the
    body offers no site (or the file does not parse with this Python).
    """
    unknown = set(operators) - set(OPERATORS)
    if unknown:
        raise ValueError(f"unknown mutation operators: {', '.join(sorted(unknown))}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    func = _function_node(tree, method)
    if func is None:
        return []
    file = _File(source)
    statements = _body(func)
    nodes = _nodes(statements)
    generators = {
        "comparison_flip": lambda: _comparison_flips(file, nodes, _NEGATED, "comparison_flip"),
        "off_by_one": lambda: _off_by_one(file, nodes),
        "wrong_variable": lambda: _wrong_variables(file, nodes, _local_names(func, statements)),
        "dropped_statement": lambda: _dropped_statements(file, statements),
        "swapped_arguments": lambda: _swapped_arguments(file, nodes),
        "wrong_return": lambda: _wrong_returns(file, nodes),
    }
    seen = {source}
    found: list[Mutant] = []
    for operator in operators:
        for name, description, edits in generators[operator]():
            mutated = _apply(source, edits)
            if mutated in seen or not _compiles(mutated):
                continue
            seen.add(mutated)
            found.append(Mutant(name, description, mutated))
    return found


def in_trial_order(candidates: Sequence[Mutant], *, key: str, seed: int) -> list[Mutant]:
    """A reproducible order that alternates operators, so the first few mutants are diverse."""
    rng = random.Random(f"{seed}\0{key}")
    groups: dict[str, list[Mutant]] = {}
    for mutant in candidates:
        groups.setdefault(mutant.operator, []).append(mutant)
    order = sorted(groups)
    rng.shuffle(order)
    for operator in order:
        rng.shuffle(groups[operator])
    result: list[Mutant] = []
    while any(groups.values()):
        for operator in order:
            if groups[operator]:
                result.append(groups[operator].pop(0))
    return result
