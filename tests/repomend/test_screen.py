"""The static screen: every entry of `RULES` rejects a candidate that introduces it, allows one
whose original already had it, and honest fixes pass."""

from __future__ import annotations

import textwrap

import pytest

from repomend.contract.screen import RULES, Rule, screen

ORIGINAL = "def f(self, x):\n    return x\n"

SPECIAL = {
    "<patch>": "import math\nmath.pi = 3\nreturn x",
    "<global>": "global CACHE\nCACHE = x\nreturn x",
    "<dynamic attribute>": "name = 'a' + 'b'\nreturn getattr(x, name)",
    "<open for writing>": "with open(x, 'w') as handle:\n    handle.write('')\nreturn x",
    "SystemExit": "raise SystemExit(0)",
    "KeyboardInterrupt": "raise KeyboardInterrupt",
}


def _method(body: str) -> str:
    return "def f(self, x):\n" + textwrap.indent(textwrap.dedent(body).strip("\n"), "    ") + "\n"


def _using(kind: str, entry: str) -> str:
    if kind == "module":
        return _method(f"import {entry.split('.')[0]}\nreturn {entry}")
    if kind == "builtin":
        return _method(SPECIAL.get(entry, f"return {entry}"))
    if kind == "attribute":
        return _method(f"return x.{entry}")
    return _method(f"return {entry!r}")


ENTRIES = [
    pytest.param(rule, kind, entry, id=f"{rule.name}:{entry}")
    for rule in RULES
    for kind, entries in (
        ("module", rule.modules),
        ("builtin", rule.builtins),
        ("attribute", rule.attributes),
        ("string", rule.strings),
    )
    for entry in entries
]


@pytest.mark.parametrize(("rule", "kind", "entry"), ENTRIES)
def test_every_entry_rejects_what_the_original_did_not_use(rule: Rule, kind: str, entry: str) -> None:
    candidate = _using(kind, entry)
    reason = screen(candidate, ORIGINAL)
    assert reason is not None and f"({rule.name})" in reason, (candidate, reason)
    assert "\n" not in reason


@pytest.mark.parametrize(("rule", "kind", "entry"), ENTRIES)
def test_every_entry_is_allowed_when_the_original_used_it(rule: Rule, kind: str, entry: str) -> None:
    candidate = _using(kind, entry)
    assert screen(candidate, candidate) is None


@pytest.mark.parametrize(
    ("candidate", "shown"),
    [
        ("from os import _exit as leave\nleave(0)", "os._exit"),
        ("import sys as s\ns.exit(0)", "sys.exit"),
        ("from unittest import mock\nreturn mock", "unittest"),
        ("import os.path\nreturn os.environ['HOME']", "os.environ"),
        ("setattr(builtins_module, 'len', None)", "<patch>"),
        ("x.__class__.__eq__ = lambda a, b: True\nreturn x", "__eq__"),
        ("class Same:\n    def __eq__(self, other):\n        return True\nreturn Same()", "__eq__"),
        ("return type('Same', (), {'__eq__': lambda a, b: True})()", "__eq__"),
        ("return x.__globals__['y']", "__globals__"),
        ("return (lambda: 0).__code__", "__code__"),
    ],
)
def test_names_are_resolved_through_imports(candidate: str, shown: str) -> None:
    reason = screen(_method(candidate), ORIGINAL)
    assert reason is not None and f"`{shown}" in reason, reason


def test_imports_of_the_file_resolve_names_in_the_method() -> None:
    module = "import os as operating\nfrom sys import exit as stop\n"
    assert "os.environ" in (screen(_method("return operating.environ"), ORIGINAL, module) or "")
    assert "sys.exit" in (screen(_method("stop(1)"), ORIGINAL, module) or "")


def test_parent_use_in_the_original_allows_a_child_use() -> None:
    original = _method("import os\nreturn os.environ")
    assert screen(_method("import os\nreturn os.environ.get('HOME')"), original) is None


HONEST = [
    "return sum(v for v in x if v > 0) / max(len(x), 1)",
    "self.total += x\nself.items.append(x)\nreturn self",
    "node = self.head\nwhile node.next is not None:\n    node = node.next\nnode.next = x\nreturn node",
    "if not isinstance(x, int):\n    raise TypeError(f'not an int: {x!r}')\nreturn x * 2",
    "import math\nreturn math.sqrt(x)",
    "with open(x) as handle:\n    return handle.read().splitlines()",
    "with open(x, encoding='utf-8') as handle:\n    return handle.read()",
    "result = {}\nfor key, value in sorted(x.items()):\n    result.setdefault(key, []).append(value)\n"
    "return result",
    "try:\n    return int(x)\nexcept ValueError as err:\n    raise RuntimeError(str(err)) from err",
    "return [item.strip().lower() for item in x.split(',') if item]",
    "self.__dict__.update(x)\nreturn type(self).__name__",
    "return getattr(x, 'name', None)",
    "def inner(y):\n    return y + 1\nreturn inner(x)",
    "copy = dict(x)\ncopy['seen'] = True\nreturn copy",
]


@pytest.mark.parametrize("body", HONEST)
def test_honest_fixes_pass_the_screen(body: str) -> None:
    assert screen(_method(body), ORIGINAL) is None


def test_a_reason_is_one_line_naming_the_use_and_the_rule() -> None:
    reason = screen(_method("import pytest\npytest.skip('later')"), ORIGINAL)
    assert reason == (
        "the answer uses `pytest`, which steers the test framework (skip, xfail, exit, patching); "
        "the method it replaces does not (test-framework control), so it is not tested"
    )
