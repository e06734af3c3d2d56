"""The sample projects tests repair and train on, written to disk by `make_repo`.

- stats (the default): `Stats.mean` divides by one too few; `FIXED_MEAN` / `WRONG_MEAN` are a right
  and a wrong answer, `MEAN_TESTS` the tests that tell them apart.
- shapes: a small, correct project whose covered methods (`COVERED`) are known.
"""

from __future__ import annotations

from pathlib import Path

STATS_SOURCE = '''"""Statistics."""


class Stats:
    def __init__(self, xs):
        self.xs = xs

    def mean(self):
        """Arithmetic mean."""
        return sum(self.xs) / (len(self.xs) - 1)

    def total(self):
        return sum(self.xs)


def clamp(x, low, high):
    return max(low, min(x, high))
'''

STATS_TESTS = """from pkg.stats import Stats, clamp


def test_mean():
    assert Stats([1, 2, 3, 4]).mean() == 2.5


def test_mean_single():
    assert Stats([7]).mean() == 7


def test_total():
    assert Stats([1, 2]).total() == 3


def test_clamp():
    assert clamp(5, 0, 3) == 3
"""

FIXED_MEAN = "def mean(self):\n    return sum(self.xs) / len(self.xs)"
WRONG_MEAN = "def mean(self):\n    return sum(self.xs)"


MEAN_TESTS = ["tests/test_stats.py::test_mean", "tests/test_stats.py::test_mean_single"]
"""The stats tests that `Stats.mean`'s off-by-one fails."""
ONE_MEAN_TEST = ["tests/test_stats.py::test_mean"]
"""The first of them alone, for runners that answer for one test."""

SHAPES_SOURCE = '''"""Shapes."""


class Box:
    def __init__(self, items):
        self.items = list(items)

    def count(self):
        """How many items."""
        return len(self.items)

    def largest(self):
        best = None
        for item in self.items:
            if best is None or item > best:
                best = item
        return best

    def unused(self):
        return "never called"

    def todo(self):
        raise NotImplementedError


def clamp(x, low, high):
    if x < low:
        return low
    if x > high:
        return high
    return x


def scale(values, factor):
    return [v * factor for v in values]


def untested(a, b):
    return a - b


def double(x):
    return x * 2
'''

SHAPES_TESTS = """import pytest

from pkg.stats import Box, clamp, double, scale


def test_count():
    assert Box([1, 2, 3]).count() == 3


def test_largest():
    assert Box([3, 9, 2]).largest() == 9


def test_largest_of_nothing():
    assert Box([]).largest() is None


def test_clamp():
    assert clamp(5, 0, 3) == 3
    assert clamp(-1, 0, 3) == 0
    assert clamp(2, 0, 3) == 2


def test_clamp_wrong_expectation():
    assert clamp(1, 0, 3) == 99


def test_scale():
    assert scale([1, 2], 3) == [3, 6]


def test_double_wrong_expectation():
    assert double(2) == 5


def test_todo_is_not_there_yet():
    with pytest.raises(NotImplementedError):
        Box([]).todo()
"""

COVERED = ["pkg/stats.py::Box.__init__", "pkg/stats.py::Box.count", "pkg/stats.py::Box.largest",
           "pkg/stats.py::clamp", "pkg/stats.py::scale"]  # fmt: skip
"""Methods a passing test executes (Box.todo is a placeholder, `double` has only a failing test)."""


def make_repo(root: Path, source: str = STATS_SOURCE, tests: str = STATS_TESTS) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "stats.py").write_text(source)
    (root / "tests").mkdir()
    (root / "tests" / "test_stats.py").write_text(tests)
    (root / "pyproject.toml").write_text('[tool.pytest.ini_options]\npythonpath = ["."]\n')
    return root
