"""The kind of fix a repair made, read from the two syntax trees; the mutation teacher's operators
imply the same kinds."""

from __future__ import annotations

import pytest

from repomend.fix_types import fix_type
from repomend.source import find_method, method_text
from training.mutation import FIX_TYPES, OPERATORS, mutants


def method(body: str, args: str = "self, xs") -> str:
    return f"def f({args}):\n" + "".join(f"    {line}\n" for line in body.splitlines())


@pytest.mark.parametrize(
    ("before", "after", "kind"),
    [
        ("return sum(xs) / (len(xs) - 1)", "return sum(xs) / len(xs)", "off by one"),
        ("return xs[0] < xs[1]", "return xs[0] <= xs[1]", "comparison"),
        (
            "for i in range(len(xs) - 1):\n    print(xs[i])",
            "for i in range(len(xs)):\n    print(xs[i])",
            "loop bound",
        ),
        ("return xs[1:]", "return xs[:1]", "indexing"),
        ("return xs[0]", "if not xs:\n    return None\nreturn xs[0]", "missing case"),
        ("y = xs\nreturn self", "y = xs\nreturn y", "return value"),
        ("y = self\nprint(y)", "y = xs\nprint(y)", "wrong variable"),
        ("return pow(xs, self)", "return pow(self, xs)", "swapped arguments"),
        ("return xs + self", "return xs - self", "arithmetic operator"),
        ("return xs and self", "return xs or self", "boolean operator"),
        ("return 1", "a = 1\nb = 2\nc = 3\nd = 4\nreturn a + b + c + d", "rewrite"),
    ],
)
def test_the_kind_of_fix_is_read_from_the_two_trees(before: str, after: str, kind: str):
    assert fix_type(method(before), method(after)) == kind


def test_unknown_fixes_have_no_kind():
    same = method("return xs")
    assert fix_type(same, same) is None
    assert fix_type(same, "def f(:\n") is None
    assert fix_type(None, same) is None
    documented = 'def f(self, xs):\n    """Docs."""\n    return xs\n'
    assert fix_type(documented, same) is None, "a dropped docstring is no fix"


SAMPLE = """\
def pick(self, xs, low, high):
    found = []
    total = 0
    for i in range(len(xs)):
        if xs[i] > low:
            found.append(xs[i])
        total = max(total, xs[i])
    if total == 0:
        return min(low, high)
    return found
"""


FAMILIES = {
    "comparison": {"comparison"},
    "off by one": {"off by one", "comparison", "loop bound", "indexing"},  # a boundary is a comparison
    "wrong variable": {"wrong variable", "loop bound", "indexing", "return value"},  # read where it is
    "missing statement": {"missing statement", "missing case", "condition", "return value"},
    "swapped arguments": {"swapped arguments"},
    "return value": {"return value"},
}
"""What the classifier, which reads where a fix is, may call the undoing of each operator's mutation,
whose kind says what was wrong."""


def test_every_operator_implies_a_kind_the_classifier_agrees_with_on_its_mutants():
    """A mutation item's fix type comes from its operator, a model teacher's from the classifier:
    on the mutation teacher's own mutants the two name the same family of fix."""
    assert set(FIX_TYPES) == set(OPERATORS) and set(FIX_TYPES.values()) == set(FAMILIES)
    method = find_method(SAMPLE, "pick")
    truth = method_text(SAMPLE, method)
    seen = set()
    for mutant in mutants(SAMPLE, method):
        read = fix_type(method_text(mutant.source, find_method(mutant.source, "pick")), truth)
        assert read in FAMILIES[FIX_TYPES[mutant.operator]], (mutant.operator, mutant.description, read)
        seen.add(mutant.operator)
    assert seen == set(OPERATORS)
