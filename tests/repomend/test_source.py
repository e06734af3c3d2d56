"""The source model: listing, locating, removing bodies and splicing model answers back."""

from __future__ import annotations

import ast
import random
import sysconfig
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from repomend.source import (
    CandidateRejected,
    Method,
    SourceError,
    find_method,
    method_at,
    method_text,
    parse_methods,
    remove_body,
    splice,
)

STATS = '''\
"""Statistics helpers — façade for the ünït tests."""
import functools
from typing import Iterable


def mean(xs: list[float]) -> float:
    """Arithmetic mean.

    Raises ZeroDivisionError on an empty list.
    """
    return sum(xs) / len(xs)


class Stats:
    """Running statistics."""

    unit = "µs"

    def __init__(self, values: Iterable[float] = ()) -> None:
        self.values = list(values)

    @property
    def count(self) -> int:
        return len(self.values)

    @staticmethod
    @functools.cache
    def label(name: str = "naïve €") -> str:
        return f"{name} ✓"

    def variance(
        self,
        ddof: int = 0,  # delta degrees of freedom
    ) -> float:
        m = mean(self.values)

        def sq(x: float) -> float:
            return (x - m) ** 2

        return sum(map(sq, self.values)) / (len(self.values) - ddof)

    async def fetch(self, url: str) -> bytes:
        """Fetch «raw» data."""
        return url.encode()

    class Config:
        def describe(self) -> str:
            return """multi
line"""


def median(xs): return sorted(xs)[len(xs) // 2]
'''


def _line_of(source: str, needle: str) -> int:
    for number, line in enumerate(source.split("\n")):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in source")


def _compiles(source: str) -> None:
    compile(source, "<test>", "exec", dont_inherit=True)


# --------------------------------------------------------------------------- listing


def test_lists_functions_and_methods_in_file_order() -> None:
    names = [m.qualname for m in parse_methods(STATS)]
    assert names == [
        "mean",
        "Stats.__init__",
        "Stats.count",
        "Stats.label",
        "Stats.variance",
        "Stats.fetch",
        "Stats.Config.describe",
        "median",
    ]


def test_nested_functions_are_not_listed() -> None:
    assert "sq" not in {m.name for m in parse_methods(STATS)}


def test_class_name_is_the_innermost_class() -> None:
    by_name = {m.qualname: m for m in parse_methods(STATS)}
    assert by_name["mean"].class_name is None
    assert by_name["Stats.count"].class_name == "Stats"
    assert by_name["Stats.Config.describe"].class_name == "Config"
    assert by_name["Stats.Config.describe"].name == "describe"


def test_declaration_keeps_multiline_parameters_and_drops_decorators() -> None:
    variance = find_method(STATS, "Stats.variance")
    assert variance.declaration == (
        "def variance(\n        self,\n        ddof: int = 0,  # delta degrees of freedom\n    ) -> float:"
    )
    label = find_method(STATS, "Stats.label")
    assert label.declaration == 'def label(name: str = "naïve €") -> str:'
    fetch = find_method(STATS, "Stats.fetch")
    assert fetch.declaration == "async def fetch(self, url: str) -> bytes:"


def test_docstrings_are_unquoted_and_dedented() -> None:
    assert find_method(STATS, "mean").docstring == (
        "Arithmetic mean.\n\nRaises ZeroDivisionError on an empty list."
    )
    assert find_method(STATS, "Stats.fetch").docstring == "Fetch «raw» data."
    assert find_method(STATS, "Stats.count").docstring is None


def test_spans_of_a_decorated_method() -> None:
    label = find_method(STATS, "Stats.label")
    lines = STATS.split("\n")
    assert label.decorated_start_line == _line_of(STATS, "@staticmethod")
    assert label.start_line == _line_of(STATS, "def label")
    assert label.start_col == 4
    assert label.body_start_line == label.start_line + 1
    assert label.end_line == label.body_start_line
    assert label.end_col == len(lines[label.end_line])  # code points, not bytes
    assert label.indent == "    "
    assert label.body_indent == "        "


def test_spans_agree_with_bytes_and_text() -> None:
    data = STATS.encode()
    lines = STATS.split("\n")
    for method in parse_methods(STATS):
        assert data[method.start_byte : method.end_byte].decode() == method.source_text
        assert method.source_text.startswith(("def ", "async def "))
        assert lines[method.start_line][method.start_col :].startswith(method.source_text[:10])
        assert lines[method.end_line][: method.end_col].endswith(method.source_text[-5:])
        assert lines[method.start_line].startswith(method.indent)


def test_one_line_method() -> None:
    median = find_method(STATS, "median")
    assert median.start_line == median.end_line == median.body_start_line
    assert median.body_indent == "    "
    assert median.source_text == "def median(xs): return sorted(xs)[len(xs) // 2]"


def test_async_method_starts_at_async_keyword() -> None:
    fetch = find_method(STATS, "Stats.fetch")
    assert fetch.source_text.startswith("async def fetch")
    assert STATS.split("\n")[fetch.start_line][fetch.start_col :].startswith("async")


def test_functions_under_module_level_blocks_are_listed() -> None:
    source = textwrap.dedent(
        """\
        import sys
        if sys.platform == "win32":
            def sep():
                return "\\\\"
        else:
            def sep():
                return "/"
        try:
            import fast
        except ImportError:
            def speedup():
                return None
        """
    )
    assert [m.qualname for m in parse_methods(source)] == ["sep", "sep", "speedup"]
    assert find_method(source, "sep").start_line == 2  # the first one


def test_methods_of_decorated_and_conditional_classes() -> None:
    source = textwrap.dedent(
        """\
        from dataclasses import dataclass


        @dataclass(frozen=True)
        class Point:
            x: int

            if True:
                def norm(self) -> int:
                    return abs(self.x)
        """
    )
    (norm,) = parse_methods(source)
    assert norm.qualname == "Point.norm"
    assert norm.indent == "        "
    assert method_at(source, _line_of(source, "return abs"), 0) == norm
    assert method_at(source, _line_of(source, "@dataclass"), 0) is None
    assert method_at(source, _line_of(source, "x: int"), 0) is None


def test_unparsable_file_raises_source_error_with_python_message() -> None:
    with pytest.raises(SourceError, match=r"does not parse: line 2: "):
        parse_methods("def f():\n    return (1,\n")


def test_trailing_comment_stays_outside_the_method() -> None:
    source = "class A:\n    def f(self):\n        return 1\n        # later\n\n    x = 1\n"
    f = find_method(source, "A.f")
    assert f.source_text == "def f(self):\n        return 1"
    assert f.end_line == 2


# --------------------------------------------------------------------------- locating


@pytest.mark.parametrize(
    ("needle", "expected"),
    [
        ("@staticmethod", "Stats.label"),
        ("@functools.cache", "Stats.label"),
        ("def label", "Stats.label"),
        ('return f"{name} ✓"', "Stats.label"),
        ("ddof: int = 0", "Stats.variance"),
        ("return (x - m) ** 2", "Stats.variance"),  # nested function: its method
        ('line"""', "Stats.Config.describe"),
        ("def median", "median"),
        ("@property", "Stats.count"),
    ],
)
def test_method_at_lines_of_a_method(needle: str, expected: str) -> None:
    line = _line_of(STATS, needle)
    found = method_at(STATS, line, 10)
    assert found is not None
    assert found.qualname == expected


def test_method_at_blank_line_inside_body() -> None:
    variance = find_method(STATS, "Stats.variance")
    blank = _line_of(STATS, "def sq") - 1
    assert STATS.split("\n")[blank] == ""
    assert method_at(STATS, blank, 0) == variance


@pytest.mark.parametrize(
    "needle", ['unit = "µs"', "class Stats:", "import functools", '"""Running statistics."""']
)
def test_method_at_outside_methods(needle: str) -> None:
    assert method_at(STATS, _line_of(STATS, needle), 4) is None


def test_method_at_between_methods_and_past_the_end() -> None:
    init = find_method(STATS, "Stats.__init__")
    assert STATS.split("\n")[init.end_line + 1] == ""
    assert method_at(STATS, init.end_line + 1, 0) is None
    assert method_at(STATS, init.end_line, 0) == init
    assert method_at(STATS, len(STATS.split("\n")) + 10, 0) is None


def test_find_method_lists_what_the_file_has() -> None:
    with pytest.raises(SourceError) as err:
        find_method(STATS, "Stats.median")
    message = str(err.value)
    assert message.startswith("no method `Stats.median` in this file; it has: mean, Stats.__init__")
    assert "Stats.Config.describe" in message


def test_find_method_in_file_without_functions() -> None:
    with pytest.raises(SourceError, match="no method `f` in this file"):
        find_method("x = 1\n", "f")


def test_stale_method_is_refused() -> None:
    mean = find_method(STATS, "mean")
    edited = "# a new first line\n" + STATS
    with pytest.raises(SourceError, match="changed"):
        remove_body(edited, mean)


# --------------------------------------------------------------------------- remove_body


def test_remove_body_keeps_docstring_and_the_rest_byte_identical() -> None:
    mean = find_method(STATS, "mean")
    result = remove_body(STATS, mean)
    _compiles(result)
    expected_body = (
        '    """Arithmetic mean.\n\n    Raises ZeroDivisionError on an empty list.\n    """\n    ...'
    )
    head_end = STATS.index("-> float:\n") + len("-> float:\n")
    assert result.startswith(STATS[:head_end] + expected_body)
    assert result.endswith(STATS[STATS.index("\n\n\nclass Stats") :])
    assert "return sum(xs) / len(xs)" not in result


def test_remove_body_without_docstring_leaves_ellipsis_at_body_indent() -> None:
    variance = find_method(STATS, "Stats.variance")
    result = remove_body(STATS, variance)
    _compiles(result)
    assert variance.declaration + "\n        ...\n\n    async def fetch" in result
    assert "def sq" not in result
    # Everything before and after the body is untouched.
    body_start = STATS.index("        m = mean(self.values)")
    assert result.startswith(STATS[:body_start])
    assert result.endswith(STATS[STATS.index("\n\n    async def fetch") :])


def test_remove_body_of_one_line_method() -> None:
    result = remove_body(STATS, find_method(STATS, "median"))
    _compiles(result)
    assert result.endswith("\n\ndef median(xs): ...\n")


def test_remove_body_result_still_lists_the_method() -> None:
    for method in parse_methods(STATS):
        result = remove_body(STATS, method)
        _compiles(result)
        again = find_method(result, method.qualname)
        assert again.declaration == method.declaration
        assert again.docstring == method.docstring


# --------------------------------------------------------------------------- splice


def test_splice_column_zero_candidate_into_class() -> None:
    variance = find_method(STATS, "Stats.variance")
    candidate = "def variance(self, ddof=0):\n    n = len(self.values)\n    return n - ddof\n"
    result = splice(STATS, variance, candidate)
    _compiles(result)
    assert (
        "    def variance(self, ddof=0):\n        n = len(self.values)\n        return n - ddof\n\n"
        "    async def fetch"
    ) in result
    assert result.startswith(STATS[: variance.start_byte])
    assert result.endswith(STATS[STATS.index("\n\n    async def fetch") :])


def test_splice_candidate_indented_as_inside_class() -> None:
    count = find_method(STATS, "Stats.count")
    candidate = "    def count(self) -> int:\n        return len(self.values) or 0\n"
    result = splice(STATS, count, candidate)
    assert "    @property\n    def count(self) -> int:\n        return len(self.values) or 0\n" in (result)
    _compiles(result)


def test_splice_into_tab_indented_file_uses_tabs() -> None:
    source = "class A:\n\tdef f(self):\n\t\treturn 1\n\n\tdef g(self):\n\t\treturn 2\n"
    candidate = "def f(self):\n    if self:\n        return 3\n    return 4\n"
    result = splice(source, find_method(source, "A.f"), candidate)
    assert result == (
        "class A:\n\tdef f(self):\n\t\tif self:\n\t\t\treturn 3\n\t\treturn 4\n\n"
        "\tdef g(self):\n\t\treturn 2\n"
    )


def test_splice_tab_candidate_into_space_file() -> None:
    source = "class A:\n  def f(self):\n    return 1\n"
    candidate = "def f(self):\n\tfor x in self:\n\t\treturn x\n"
    result = splice(source, find_method(source, "A.f"), candidate)
    assert result == "class A:\n  def f(self):\n    for x in self:\n      return x\n"


def test_splice_drops_decorators_imports_and_usage() -> None:
    label = find_method(STATS, "Stats.label")
    candidate = textwrap.dedent(
        """\
        import functools

        @staticmethod
        def label(name: str = "x") -> str:
            return name.upper()

        print(label("a"))

        if __name__ == "__main__":
            print(label())
        """
    )
    result = splice(STATS, label, candidate)
    _compiles(result)
    assert (
        "    @staticmethod\n    @functools.cache\n"
        '    def label(name: str = "x") -> str:\n        return name.upper()\n\n    def variance('
    ) in result
    assert "print(label" not in result
    assert result.count("import functools") == 1


def test_splice_picks_the_named_def_among_several() -> None:
    mean = find_method(STATS, "mean")
    candidate = "def helper(xs):\n    return len(xs)\n\ndef mean(xs):\n    return sum(xs) / helper(xs)\n"
    result = splice(STATS, mean, candidate)
    assert "def mean(xs):\n    return sum(xs) / helper(xs)\n\n\nclass Stats" in result
    assert "def helper" not in result


def test_splice_class_wrapper_candidate() -> None:
    describe = find_method(STATS, "Stats.Config.describe")
    candidate = "class Stats:\n    class Config:\n        def describe(self):\n            return 'ok'\n"
    result = splice(STATS, describe, candidate)
    _compiles(result)
    assert "    class Config:\n        def describe(self):\n            return 'ok'\n" in result


def test_splice_preserves_multiline_string_in_body() -> None:
    source = "class A:\n    def f(self):\n        return 1\n"
    candidate = 'def f(self):\n    text = """first\n  indented two\nno indent"""\n    return text\n'
    result = splice(source, find_method(source, "A.f"), candidate)
    _compiles(result)
    strings = [
        node.value
        for node in ast.walk(ast.parse(result))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]
    assert strings == ["first\n  indented two\nno indent"]
    assert result.endswith('no indent"""\n        return text\n')


def test_splice_indented_candidate_with_string_at_column_zero() -> None:
    source = "def top():\n    return 0\n"
    candidate = '    def top():\n        return """a\nb"""\n'
    result = splice(source, find_method(source, "top"), candidate)
    assert result == 'def top():\n    return """a\nb"""\n'


def test_splice_keeps_crlf_line_endings() -> None:
    source = "class A:\r\n    def f(self):\r\n        return 1\r\n\r\nx = 1\r\n"
    result = splice(source, find_method(source, "A.f"), "def f(self):\n    return 2\n")
    assert result == "class A:\r\n    def f(self):\r\n        return 2\r\n\r\nx = 1\r\n"


def test_splice_wrong_name_is_rejected() -> None:
    with pytest.raises(CandidateRejected) as err:
        splice(STATS, find_method(STATS, "mean"), "def average(xs):\n    return 0\n")
    assert str(err.value) == "it defines `average`, expected `mean`"


def test_splice_without_def_is_rejected() -> None:
    with pytest.raises(CandidateRejected, match=r"^it defines no function$"):
        splice(STATS, find_method(STATS, "mean"), "x = sum([1, 2])\n")
    with pytest.raises(CandidateRejected, match=r"^it defines no function$"):
        splice(STATS, find_method(STATS, "mean"), "   \n# nothing\n")


def test_splice_syntax_error_is_rejected_with_line() -> None:
    candidate = "def mean(xs):\n    total = 0\n    return (total\n"
    with pytest.raises(CandidateRejected) as err:
        splice(STATS, find_method(STATS, "mean"), candidate)
    message = str(err.value)
    assert message.startswith("the code does not parse: line 3: ")
    assert "\n" not in message


def test_splice_syntax_error_line_counts_the_candidate_as_given() -> None:
    candidate = "    def mean(xs):\n        return )\n"
    with pytest.raises(CandidateRejected, match=r"^the code does not parse: line 2: "):
        splice(STATS, find_method(STATS, "mean"), candidate)


def test_splice_into_file_with_syntax_newer_than_this_python() -> None:
    # Type parameters and `type` statements are Python 3.12; the server may run an older one.
    source = "def first[T](xs: list[T]) -> T:\n    return xs[-1]\n\ntype Alias = int\n"
    first = find_method(source, "first")
    assert first.declaration == "def first[T](xs: list[T]) -> T:"
    result = splice(source, first, "def first[T](xs: list[T]) -> T:\n    return xs[0]\n")
    assert result == "def first[T](xs: list[T]) -> T:\n    return xs[0]\n\ntype Alias = int\n"
    with pytest.raises(CandidateRejected, match=r"^the code does not parse: line 2: "):
        splice(source, first, "def first[T](xs: list[T]) -> T:\n    return xs[0\n")


def test_splice_result_lists_the_same_methods() -> None:
    variance = find_method(STATS, "Stats.variance")
    result = splice(STATS, variance, "def variance(self):\n    return 0.0\n")
    assert [m.qualname for m in parse_methods(result)] == [m.qualname for m in parse_methods(STATS)]


# --------------------------------------------------------------------------- round trips


def test_method_text_is_dedented_to_column_zero() -> None:
    describe = find_method(STATS, "Stats.Config.describe")
    assert method_text(STATS, describe) == 'def describe(self) -> str:\n    return """multi\nline"""'


def test_round_trip_on_the_fixture() -> None:
    for method in parse_methods(STATS):
        assert splice(STATS, method, method_text(STATS, method)) == STATS


_STDLIB = Path(sysconfig.get_paths()["stdlib"])
_STDLIB_FILES = sorted(p for p in _STDLIB.glob("*.py") if p.stat().st_size < 60_000)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
@given(st.sampled_from(_STDLIB_FILES), st.randoms(use_true_random=False))
def test_round_trip_on_standard_library(path: Path, rng: random.Random) -> None:
    source = _read(path)
    if source is None:
        return
    methods = parse_methods(source)
    for method in rng.sample(methods, min(5, len(methods))):
        text = method_text(source, method)
        assert splice(source, method, text) == source, (path.name, method.qualname)
        assert text.startswith(("def ", "async def "))
        stripped = remove_body(source, method)
        _compiles(stripped)
        # Same methods, same declarations (qualnames may repeat: `if`/`else` variants).
        assert [m.declaration for m in parse_methods(stripped)] == [m.declaration for m in methods]


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    indent=st.sampled_from(["", "  ", "    ", "\t", "        "]),
    step=st.sampled_from(["  ", "    ", "\t"]),
    value=st.integers(-5, 5),
)
def test_splice_accepts_any_consistent_candidate_indentation(indent: str, step: str, value: int) -> None:
    candidate = (
        f"{indent}def mean(xs):\n"
        f"{indent}{step}if not xs:\n"
        f"{indent}{step}{step}return {value}\n"
        f'{indent}{step}doc = """keep\n   this"""\n'
        f"{indent}{step}return sum(xs) / len(xs)\n"
    )
    result = splice(STATS, find_method(STATS, "mean"), candidate)
    _compiles(result)
    assert (
        f"def mean(xs):\n    if not xs:\n        return {value}\n"
        '    doc = """keep\n   this"""\n    return sum(xs) / len(xs)\n\n\nclass Stats'
    ) in result


# --------------------------------------------------------------------------- speed


def _big_file() -> str:
    parts = [STATS]
    for number in range(100):
        parts.append(
            textwrap.dedent(
                f'''\

                class Generated{number}:
                    """Class number {number} — ünïcode."""

                    def first(self, a: int, b: int = {number}) -> int:
                        total = a + b
                        for i in range(b):
                            total += i * {number}
                        return total

                    @property
                    def second(self) -> str:
                        """Text."""
                        return "value {number}"

                    async def third(self, *args, **kwargs):
                        if args:
                            return args[0]
                        return kwargs
                '''
            )
        )
    return "".join(parts)


def test_locating_in_a_large_file_parses_it_once_and_builds_only_that_method(monkeypatch) -> None:
    # The language server asks on every code-action request, usually for a freshly edited text;
    # its latency is measured by benchmarks/lsp_code_actions.py.
    import repomend.source as source_module

    source = _big_file()
    assert source.count("\n") > 1900
    target = _line_of(source, "total += i * 41")
    parses, built = [], []
    real_parser, real_make = source_module._PARSER, source_module._make_method

    class CountingParser:
        def parse(self, data: bytes):
            parses.append(len(data))
            return real_parser.parse(data)

    def counting_make(*args):
        built.append(args)
        return real_make(*args)

    monkeypatch.setattr(source_module, "_PARSER", CountingParser())
    monkeypatch.setattr(source_module, "_make_method", counting_make)
    text = source + "\n# a new edit\n"  # a text never seen: nothing cached
    found = method_at(text, target, 8)
    assert found is not None and found.qualname == "Generated41.first"
    assert (len(parses), len(built)) == (1, 1)  # one parse, one of the 200 methods built
    assert method_at(text, target, 0) == found  # the same text again: answered from the cache
    assert (len(parses), len(built)) == (1, 1)


def test_method_is_frozen() -> None:
    method = find_method(STATS, "mean")
    assert isinstance(method, Method)
    with pytest.raises(AttributeError):
        method.name = "other"  # type: ignore[misc]


def test_keep_docstring_restores_a_dropped_docstring():
    from repomend.source import keep_docstring

    source = 'class A:\n    def f(self):\n        """Doc\n        more."""\n        return 1\n'
    method = find_method(source, "A.f")
    spliced = splice(source, method, "def f(self):\n    return 2")
    restored = keep_docstring(source, method, spliced)
    assert restored == 'class A:\n    def f(self):\n        """Doc\n        more."""\n        return 2\n'
    # an answer with its own docstring, or a method without one, is left alone
    own = splice(source, method, 'def f(self):\n    """New."""\n    return 2')
    assert keep_docstring(source, method, own) == own
    bare = "def g():\n    return 1\n"
    g = find_method(bare, "g")
    assert keep_docstring(bare, g, splice(bare, g, "def g():\n    return 3")) == "def g():\n    return 3\n"
