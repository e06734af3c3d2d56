"""The first-turn prompt shows a bounded excerpt of long files, centred on the target."""

from __future__ import annotations

import re

from repomend.contract import prompts
from repomend.contract.prompts import FILE_CONTEXT_CHARS, file_excerpt

HEADER = '"""Shapes."""\n\nimport math\nfrom dataclasses import dataclass\n\nSCALE = 2\n\n'


def filler(name: str, index: int, indent: str = "") -> str:
    return f"{indent}def {name}_{index}(x):\n{indent}    return x + {index}  # padding padding padding\n\n"


def long_file() -> tuple[str, int]:
    """A module with many functions, then a class whose `area` method sits far down."""
    parts = [HEADER]
    parts += [filler("helper", i) for i in range(80)]
    parts.append("class Circle:\n    radius: float\n\n")
    parts += [filler("method", i, "    ") for i in range(40)]
    parts.append('    def area(self):\n        """Area."""\n        ...\n\n')
    parts += [filler("after", i, "    ") for i in range(40)]
    text = "".join(parts)
    return text, text.split("\n").index("    def area(self):")


def omitted_total(excerpt: str) -> int:
    return sum(int(n) for n in re.findall(r"# \.\.\. \((\d+) lines omitted\)", excerpt))


def test_a_short_file_is_shown_whole():
    text = HEADER + filler("f", 1)
    assert file_excerpt(text, 7) == text


def test_a_long_file_keeps_the_target_its_class_and_the_imports_within_budget():
    text, line = long_file()
    assert len(text) > 2 * FILE_CONTEXT_CHARS
    excerpt = file_excerpt(text, line)

    assert '    def area(self):\n        """Area."""\n        ...' in excerpt
    assert "import math\nfrom dataclasses import dataclass" in excerpt
    assert "\nclass Circle:\n" in excerpt
    assert "def method_39(x)" in excerpt and "def after_0(x)" in excerpt  # the nearest code
    assert "def helper_40(x)" not in excerpt  # far away
    shown = [row for row in excerpt.split("\n") if "lines omitted" not in row]
    assert sum(len(row) + 1 for row in shown) <= FILE_CONTEXT_CHARS
    # every line of the file is either shown or counted as omitted
    assert len(shown) + omitted_total(excerpt) == len(text.split("\n"))


def test_the_window_does_not_start_inside_a_statement():
    text, line = long_file()
    excerpt = file_excerpt(text, line, budget=700)
    window = excerpt.split("\n")
    first = window.index(next(row for row in window if "def " in row and "area" not in row)) - 1
    assert "lines omitted" in window[first] or not window[first].strip()
    assert not any(row.startswith("        return") for row in window[: first + 1])


def test_the_prompt_uses_the_excerpt_for_training_and_serving_alike():
    text, line = long_file()
    prompt = prompts.first_turn_prompt(
        method="area", class_name="Circle", declaration="def area(self):",
        docstring="Area.", file_content=text, path="shapes.py", line=line,
    )  # fmt: skip
    assert file_excerpt(text, line) in prompt and len(prompt) < FILE_CONTEXT_CHARS + 1000
