"""Structured results of sandboxed runs: what callers (the repair loop, training) rely on."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import sandbox.isolation
from sandbox.runner import IsolationUnavailable, collect_tests, run_tests
from tests.support.sandbox_repos import PYTHON, RepoFactory, snapshot

pytestmark = pytest.mark.usefixtures("strict")

MODULE = """
def add(a, b):
    return a - b


def double(x):
    return x * 2
"""

TESTS = """
import pytest

from pkg.calc import add, double


def test_add():
    assert add(2, 2) == 4


def test_double():
    assert double(3) == 6


@pytest.mark.skip(reason="not today")
def test_skipped():
    pass


@pytest.fixture
def broken():
    raise RuntimeError("fixture exploded")


def test_uses_broken(broken):
    pass


@pytest.mark.xfail(reason="known")
def test_known_bug():
    assert add(1, 1) == 2


@pytest.mark.parametrize("x", [1, 2])
def test_param(x):
    assert double(x) == 2 * x
"""

FIXED = "def add(a, b):\n    return a + b\n\n\ndef double(x):\n    return x * 2\n"


@pytest.fixture
def repo(make_repo: RepoFactory) -> Path:
    return make_repo({"pkg/__init__.py": "", "pkg/calc.py": MODULE, "tests/test_calc.py": TESTS})


def by_id(result) -> dict:  # type: ignore[no-untyped-def]
    return {t.nodeid.split("::")[-1]: t for t in result.tests}


def test_outcomes_and_failure_details(repo: Path) -> None:
    result = run_tests(repo, ["tests/test_calc.py"], python=PYTHON)
    tests = by_id(result)
    assert {name: t.outcome for name, t in tests.items()} == {
        "test_add": "failed",
        "test_double": "passed",
        "test_skipped": "skipped",
        "test_uses_broken": "error",
        "test_known_bug": "xfailed",
        "test_param[1]": "passed",
        "test_param[2]": "passed",
    }
    failed = tests["test_add"]
    assert failed.exception_type == "AssertionError"
    assert "0 == 4" in (failed.message or "")
    assert "tests/test_calc.py:" in (failed.traceback or "")
    assert "assert add(2, 2) == 4" in (failed.traceback or "")
    assert tests["test_uses_broken"].exception_type == "RuntimeError"
    assert tests["test_uses_broken"].message == "fixture exploded"
    assert "not today" in (tests["test_skipped"].message or "")
    assert not result.passed and not result.crashed and not result.timed_out
    assert [t.nodeid for t in result.failures] == [
        "tests/test_calc.py::test_add",
        "tests/test_calc.py::test_uses_broken",
    ]


def test_override_fixes_the_copy_only(repo: Path) -> None:
    before = snapshot(repo)
    result = run_tests(
        repo, ["tests/test_calc.py::test_add"], python=PYTHON, overrides={"pkg/calc.py": FIXED}
    )
    assert result.passed
    assert [t.nodeid for t in result.tests] == ["tests/test_calc.py::test_add"]
    assert snapshot(repo) == before


def test_parametrised_family_selected_by_function_id(repo: Path) -> None:
    result = run_tests(repo, ["tests/test_calc.py::test_param"], python=PYTHON)
    assert sorted(t.nodeid for t in result.tests) == [
        "tests/test_calc.py::test_param[1]",
        "tests/test_calc.py::test_param[2]",
    ]
    assert result.passed


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        ("def add(a, b:\n    return a + b\n", "SyntaxError"),
        ("def add(a, b):\n    return a + b\n\nundefined_name\n", "NameError"),
    ],
)
def test_broken_candidate_is_a_collection_error(repo: Path, candidate: str, expected: str) -> None:
    result = run_tests(
        repo, ["tests/test_calc.py::test_add"], python=PYTHON, overrides={"pkg/calc.py": candidate}
    )
    assert not result.passed and not result.crashed
    assert result.tests == []
    assert any(expected in e and "tests/test_calc.py" in e for e in result.collection_errors)


def test_unknown_node_ids_are_reported(repo: Path) -> None:
    result = run_tests(
        repo,
        ["tests/test_calc.py::test_double", "tests/test_calc.py::nope", "tests/missing.py::x"],
        python=PYTHON,
    )
    assert [t.nodeid for t in result.tests] == ["tests/test_calc.py::test_double"]
    assert sorted(result.not_found) == ["tests/missing.py::x", "tests/test_calc.py::nope"]
    assert not result.passed  # a test that vanished never counts as passing


def test_repository_venv_interpreter_is_used(make_repo: RepoFactory) -> None:
    repo = make_repo(
        {
            "tests/test_env.py": """
            import os, sys

            def test_interpreter():
                assert sys.prefix == os.path.join(os.getcwd(), ".venv")
            """
        }
    )
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(repo / ".venv")], check=True)
    [site] = (repo / ".venv" / "lib").glob("python3*/site-packages")
    # pytest for the new venv comes from ours, as a site .pth entry (no network needed)
    (site / "ours.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    venv_python = repo / ".venv" / "bin" / "python"
    result = run_tests(repo, ["tests/test_env.py"], python=venv_python)
    assert result.passed, result


def test_coverage_maps_tests_to_lines(repo: Path) -> None:
    result = run_tests(
        repo,
        ["tests/test_calc.py::test_add", "tests/test_calc.py::test_double"],
        python=PYTHON,
        coverage_include=["pkg/calc.py"],
    )
    assert result.coverage_error is None
    assert result.coverage == {
        "tests/test_calc.py::test_add": {"pkg/calc.py": [3]},
        "tests/test_calc.py::test_double": {"pkg/calc.py": [7]},
    }


def test_overrides_cannot_escape_the_copy(make_repo: RepoFactory, tmp_path: Path) -> None:
    outside = tmp_path / "outside.py"
    outside.write_text("ORIGINAL = True\n")
    repo = make_repo({"tests/test_ok.py": "def test_ok():\n    pass\n"})
    (repo / "link.py").symlink_to(outside)
    result = run_tests(repo, ["tests/test_ok.py"], python=PYTHON, overrides={"link.py": "X = 1\n"})
    assert result.passed
    assert outside.read_text() == "ORIGINAL = True\n"
    assert (repo / "link.py").is_symlink()
    with pytest.raises(ValueError, match="relative"):
        run_tests(repo, ["tests/test_ok.py"], python=PYTHON, overrides={"../evil.py": ""})


def test_collect_tests_lists_ids_and_errors(repo: Path) -> None:
    (repo / "tests" / "test_broken.py").write_text("import nonexistent_module\n")
    result = collect_tests(repo, python=PYTHON)
    assert "tests/test_calc.py::test_add" in result.node_ids
    assert "tests/test_calc.py::test_param[2]" in result.node_ids
    assert any("nonexistent_module" in e for e in result.collection_errors)


def test_opt_out_still_runs_on_a_copy(repo: Path) -> None:
    before = snapshot(repo)
    result = run_tests(
        repo,
        ["tests/test_calc.py::test_add"],
        python=PYTHON,
        overrides={"pkg/calc.py": FIXED},
        isolation="none",
    )
    assert result.passed
    assert snapshot(repo) == before


def test_missing_isolation_refuses_to_run(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox.isolation, "_missing", lambda: ("bubblewrap (no 'bwrap')",))
    with pytest.raises(IsolationUnavailable, match=r"bubblewrap.*isolation='none'"):
        run_tests(repo, ["tests/test_calc.py"], python=PYTHON)


def test_run_result_round_trips_through_its_dict():
    from sandbox.results import RunResult, TestResult

    result = RunResult(
        tests=[TestResult("t::a", "passed"), TestResult("t::b", "failed", exception_type="AssertionError")],
        collection_errors=["not found: t::c"],
        coverage={"t::a": {"m.py": [1, 2]}},
    )
    back = RunResult.from_dict(result.to_dict())
    assert back == result
    assert (back.passed_count, [t.nodeid for t in back.failures], back.passed) == (1, ["t::b"], False)
