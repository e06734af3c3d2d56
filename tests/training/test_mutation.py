"""Mutation operators: one plausible bug at one place of the body, the rest of the file untouched."""

from __future__ import annotations

import difflib

import pytest

from repomend.source import find_method
from training.mutation import in_trial_order, mutants

SOURCE = '''"""Module."""

import math


class Window:
    def first_over(self, values, limit):
        """The first value above `limit`, or -1."""
        for index in range(0, len(values)):
            if values[index] > limit:
                return values[index]
        return -1

    def ratio(self, a, b):
        return math.pow(a, b) / max(a, 1)

    def is_empty(self, items):
        return len(items) == 0


def after(x):
    return x  # not a target here
'''


def changed_lines(mutated: str) -> list[str]:
    diff = difflib.unified_diff(SOURCE.splitlines(), mutated.splitlines(), lineterm="", n=0)
    return [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")]


def of(qualname: str, operator: str) -> list[list[str]]:
    method = find_method(SOURCE, qualname)
    return [changed_lines(m.source) for m in mutants(SOURCE, method, [operator])]


def test_comparison_flip_negates_the_operator_in_place():
    assert of("Window.first_over", "comparison_flip") == [
        ["-            if values[index] > limit:", "+            if values[index] <= limit:"]
    ]
    assert of("Window.is_empty", "comparison_flip") == [
        ["-        return len(items) == 0", "+        return len(items) != 0"]
    ]


def test_off_by_one_shifts_integers_and_boundaries():
    found = of("Window.first_over", "off_by_one")
    assert [
        "-        for index in range(0, len(values)):",
        "+        for index in range(1, len(values)):",
    ] in found
    assert ["-            if values[index] > limit:", "+            if values[index] >= limit:"] in found
    assert ["-        return -1", "+        return -2"] in found
    assert ["-        return -1", "+        return -0"] in found


def test_wrong_variable_uses_another_local_name():
    found = of("Window.first_over", "wrong_variable")
    assert ["-            if values[index] > limit:", "+            if values[index] > values:"] in found
    assert all("self" not in line for change in found for line in change if line.startswith("+"))


def test_dropped_statement_removes_whole_lines_and_keeps_blocks_valid():
    found = of("Window.first_over", "dropped_statement")
    assert [
        "-                return values[index]",
        "+                pass",
    ] in found  # the block's only statement
    assert ["-        return -1"] in found


def test_swapped_arguments_swaps_neighbours():
    assert of("Window.ratio", "swapped_arguments") == [
        ["-        return math.pow(a, b) / max(a, 1)", "+        return math.pow(b, a) / max(a, 1)"],
        ["-        return math.pow(a, b) / max(a, 1)", "+        return math.pow(a, b) / max(1, a)"],
    ]


def test_wrong_return_returns_none_or_the_negation():
    assert of("Window.ratio", "wrong_return") == [
        ["-        return math.pow(a, b) / max(a, 1)", "+        return None"]
    ]
    assert of("Window.is_empty", "wrong_return") == [
        ["-        return len(items) == 0", "+        return not (len(items) == 0)"]
    ]


@pytest.mark.parametrize("qualname", ["Window.first_over", "Window.ratio", "Window.is_empty"])
def test_every_mutant_compiles_and_touches_only_the_body(qualname):
    method = find_method(SOURCE, qualname)
    found = mutants(SOURCE, method)
    assert found
    head, tail = SOURCE[: method.start_byte], SOURCE[method.end_byte :]
    for mutant in found:
        compile(mutant.source, "<mutant>", "exec")
        assert mutant.source != SOURCE
        assert mutant.source.startswith(head) and mutant.source.endswith(tail)
        mutated = find_method(mutant.source, qualname)
        assert mutated.declaration == method.declaration and mutated.docstring == method.docstring
    assert len({m.source for m in found}) == len(found)


def test_trial_order_is_reproducible_and_alternates_operators():
    method = find_method(SOURCE, "Window.first_over")
    found = mutants(SOURCE, method)
    first = in_trial_order(found, key="m", seed=0)
    assert first == in_trial_order(found, key="m", seed=0)
    assert sorted(m.source for m in first) == sorted(m.source for m in found)
    operators = {m.operator for m in found}
    assert {m.operator for m in first[: len(operators)]} == operators
    assert [m.source for m in in_trial_order(found, key="m", seed=1)] != [m.source for m in first]


def test_unknown_operator_is_refused():
    with pytest.raises(ValueError, match="unknown mutation operators"):
        mutants(SOURCE, find_method(SOURCE, "after"), ["typo"])
