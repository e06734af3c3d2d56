"""Finding the tests that judge a method: coverage contexts first, names as fallback."""

from __future__ import annotations

import pytest

from repomend.discovery import (
    DiscoveryError,
    check_given_tests,
    covering_tests,
    discover_tests,
    name_matched_tests,
)
from repomend.source import find_method
from tests.support.repos import STATS_SOURCE, make_repo

IDS = [
    "tests/test_stats.py::test_mean",
    "tests/test_stats.py::test_mean_single",
    "tests/test_stats.py::test_total",
    "tests/test_stats.py::TestStats::test_mean[case1]",
    "tests/test_stats.py::test_meaning_of_life",
    "tests/test_stats.py::test_clamp",
]


def mean_method():
    return find_method(STATS_SOURCE, "Stats.mean")


def test_naming_convention_matches_whole_words():
    assert name_matched_tests(IDS, mean_method()) == [
        "tests/test_stats.py::test_mean",
        "tests/test_stats.py::test_mean_single",
        "tests/test_stats.py::TestStats::test_mean[case1]",
    ]


def test_covering_tests_need_a_body_line():
    method = mean_method()
    body_line = method.end_line + 1  # 1-based last body line
    declaration_line = method.start_line + 1
    coverage = {
        IDS[0]: {"pkg/stats.py": [body_line]},
        IDS[2]: {"pkg/stats.py": [declaration_line]},  # module import runs the def line only
        IDS[5]: {"pkg/other.py": [body_line]},
    }
    assert covering_tests(coverage, "pkg/stats.py", method, IDS) == [IDS[0]]


def test_discovery_uses_coverage(stats_repo, settings, python):
    found = discover_tests(stats_repo, "pkg/stats.py", mean_method(), python=python, settings=settings)
    assert found.how == "coverage"
    assert found.ids == ["tests/test_stats.py::test_mean", "tests/test_stats.py::test_mean_single"]


def test_discovery_finds_indirect_callers(tmp_path, settings, python):
    tests = "from pkg.stats import Stats\n\n\ndef test_report():\n    assert Stats([2, 4]).mean() == 3\n"
    repo = make_repo(tmp_path / "r", tests=tests)
    found = discover_tests(repo, "pkg/stats.py", mean_method(), python=python, settings=settings)
    assert (found.how, found.ids) == ("coverage", ["tests/test_stats.py::test_report"])


def test_discovery_without_any_covering_test_fails_clearly(tmp_path, settings, python):
    tests = "def test_unrelated():\n    assert True\n"
    repo = make_repo(tmp_path / "r", tests=tests)
    with pytest.raises(DiscoveryError, match=r"no tests found for `Stats.mean`"):
        discover_tests(repo, "pkg/stats.py", mean_method(), python=python, settings=settings)


def test_repository_whose_tests_do_not_collect(tmp_path, settings, python):
    repo = make_repo(tmp_path / "r", tests="import no_such_module\n\ndef test_x():\n    pass\n")
    with pytest.raises(DiscoveryError, match="do not collect"):
        discover_tests(repo, "pkg/stats.py", mean_method(), python=python, settings=settings)


def test_repository_without_tests(tmp_path, settings, python):
    repo = make_repo(tmp_path / "r")
    (repo / "tests" / "test_stats.py").unlink()
    with pytest.raises(DiscoveryError, match="no tests found in"):
        discover_tests(repo, "pkg/stats.py", mean_method(), python=python, settings=settings)


def test_given_tests_are_checked(stats_repo, settings, python):
    given = ["tests/test_stats.py::test_mean"]
    assert check_given_tests(stats_repo, given, python=python, settings=settings).ids == given
    with pytest.raises(DiscoveryError, match=r"no such test: tests/test_stats.py::test_typo"):
        check_given_tests(stats_repo, ["tests/test_stats.py::test_typo"], python=python, settings=settings)
