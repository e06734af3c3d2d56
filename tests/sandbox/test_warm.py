"""WarmRunner: same verdicts as a cold run, and nothing carried from one candidate to the next."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest

from sandbox import cgroups
from sandbox.runner import Limits, run_tests
from sandbox.warm import WarmRunner
from tests.support.sandbox_repos import PYTHON, RepoFactory, processes_with

pytestmark = pytest.mark.usefixtures("strict")

MODULE = "def answer():\n    return {value}\n"
TESTS = """
from mod import answer

def test_answer():
    assert answer() == 42

def test_other():
    assert True
"""


def _repo(make_repo: RepoFactory) -> Path:
    return make_repo({"mod.py": MODULE.format(value=0), "tests/test_mod.py": TESTS})


def _outcomes(result) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {t.nodeid: t.outcome for t in result.tests}


def test_results_equal_a_cold_run(make_repo: RepoFactory) -> None:
    repo = _repo(make_repo)
    ids = ["tests/test_mod.py::test_answer", "tests/test_mod.py::test_other", "tests/nope.py"]
    with WarmRunner(repo, python=PYTHON) as warm:
        for value in (0, 42):
            overrides = {"mod.py": MODULE.format(value=value)}
            hot = warm.run(ids, overrides=overrides)
            cold = run_tests(repo, ids, python=PYTHON, overrides=overrides)
            assert _outcomes(hot) == _outcomes(cold)
            assert hot.passed == cold.passed and hot.exit_code == cold.exit_code
            assert hot.not_found == cold.not_found == ["tests/nope.py"]
    assert _outcomes(hot)["tests/test_mod.py::test_answer"] == "passed"


def test_candidates_do_not_see_each_other(make_repo: RepoFactory) -> None:
    repo = make_repo(
        {
            "mod.py": MODULE.format(value=0),
            "tests/test_clean.py": """
            import os
            from pathlib import Path
            from mod import answer

            def test_clean():
                assert not Path("leftover.txt").exists()
                assert not Path("/tmp/leftover.txt").exists()
                Path("leftover.txt").write_text("x")
                Path("/tmp/leftover.txt").write_text("x")
                assert answer() == 0
            """,
        }
    )
    with WarmRunner(repo, python=PYTHON) as warm:
        first = warm.run(["tests/test_clean.py"], overrides={"mod.py": MODULE.format(value=42)})
        second = warm.run(["tests/test_clean.py"])
        third = warm.run(["tests/test_clean.py"])
    assert _outcomes(first) == {"tests/test_clean.py::test_clean": "failed"}
    assert second.passed and third.passed, second.output + third.output
    assert not (repo / "leftover.txt").exists()
    assert (repo / "mod.py").read_text() == MODULE.format(value=0)


def test_infinite_loop_is_killed_and_the_next_run_works(make_repo: RepoFactory, marker: str) -> None:
    repo = _repo(make_repo)
    spin = f"def answer():\n    while True:\n        pass  # {marker}\n"
    # 8 s: the next spare starts while the machine may be busy, and its start-up counts
    with WarmRunner(repo, python=PYTHON, limits=Limits(wall_seconds=8)) as warm:
        time.sleep(1)  # a ready spare: the clock must start at the run, not at its start-up
        started = time.monotonic()
        looping = warm.run(["tests/test_mod.py::test_answer"], overrides={"mod.py": spin})
        assert looping.timed_out and looping.killed_reason == "wall-clock"
        assert time.monotonic() - started < 20
        fixed = warm.run(["tests/test_mod.py::test_answer"], overrides={"mod.py": "answer = lambda: 42"})
    assert fixed.passed, fixed.output
    assert not fixed.timed_out


def test_background_child_does_not_survive_into_the_next_run(make_repo: RepoFactory, marker: str) -> None:
    repo = make_repo(
        {
            "tests/test_bg.py": f"""
            import subprocess

            def test_spawn():
                subprocess.Popen(
                    ["sleep", "300", "{marker}"], start_new_session=True,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )

            def test_alone():
                ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True)
                assert "{marker}" not in ps.stdout
            """
        }
    )
    with WarmRunner(repo, python=PYTHON) as warm:
        assert warm.run(["tests/test_bg.py::test_spawn"]).passed
        assert processes_with(marker) == []
        alone = warm.run(["tests/test_bg.py::test_alone"])
    assert alone.passed, alone.output


def _sandbox_dirs() -> set[str]:
    return {n for n in os.listdir(tempfile.gettempdir()) if n.startswith("repomend-sandbox-")}


def _our_groups() -> set[str]:
    hierarchy = cgroups._locate("pids")
    assert hierarchy is not None
    return {p.name for p in hierarchy.directory.iterdir() if p.name.startswith("repomend-")}


def test_close_leaves_nothing_behind(make_repo: RepoFactory, marker: str) -> None:
    repo = make_repo({f"tests/test_{marker}.py": "def test_ok():\n    assert True\n"})
    dirs, groups = _sandbox_dirs(), _our_groups()
    warm = WarmRunner(repo, python=PYTHON)
    assert warm.run([f"tests/test_{marker}.py"]).passed
    deadline = time.monotonic() + 30
    while not processes_with(str(repo)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_with(str(repo)), "the next spare should be waiting"
    warm.close()
    warm.close()  # idempotent
    assert processes_with(str(repo)) == []
    assert _sandbox_dirs() <= dirs
    assert _our_groups() <= groups
    with pytest.raises(RuntimeError, match="closed"):
        warm.run([f"tests/test_{marker}.py"])
