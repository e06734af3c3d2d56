"""The verdict through the repair loop, with scripted answers and the real sandbox: screened
answers never run, dodged tests are named, a fix is confirmed by a second fresh run, and an
interpreter that cannot run is said before any model call."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from repomend.backends.scripted import ScriptedBackend
from repomend.contract import prompts
from repomend.contract.verdict import Reference, judge
from repomend.loop import RepairRequest, SandboxUnusable, TestRunner, repair, sandbox_test_runner
from repomend.trajectory import Status
from sandbox.results import RunResult, TestResult
from tests.support.repos import FIXED_MEAN, STATS_TESTS, make_repo

MEAN_TESTS = ["tests/test_stats.py::test_mean", "tests/test_stats.py::test_mean_single"]


def code(text: str) -> str:
    return prompts.as_code_reply(text)


def request(repo: Path, tests: Sequence[str] = MEAN_TESTS) -> RepairRequest:
    return RepairRequest(repo=repo, path="pkg/stats.py", qualname="Stats.mean", tests=tests)


@pytest.fixture
def run(settings, python) -> TestRunner:
    return sandbox_test_runner(settings, python)


def test_a_screened_answer_never_runs_and_the_model_hears_why(stats_repo: Path, run: TestRunner) -> None:
    forged = "def mean(self):\n    import pytest\n    pytest.skip('later')"
    backend = ScriptedBackend([code(forged), code(FIXED_MEAN)])
    trajectory = repair(request(stats_repo), backend, run)
    first = trajectory.turns[0].answer
    assert first.results is None and first.rejection is not None
    assert "`pytest`" in first.rejection and "(test-framework control)" in first.rejection
    assert first.rejection in (trajectory.turns[0].feedback or "")
    assert trajectory.status is Status.FIXED


def test_a_fix_is_confirmed_by_a_second_fresh_run(stats_repo: Path, run: TestRunner) -> None:
    trajectory = repair(request(stats_repo), ScriptedBackend([code(FIXED_MEAN)]), run)
    assert trajectory.status is Status.FIXED
    assert trajectory.confirmation is not None and trajectory.confirmation.passed
    basis = trajectory.basis
    assert basis is not None and basis["second_run"] == "agreed"
    assert basis["reference"] == "the method as given"
    assert sorted(basis["passed"]) == sorted(MEAN_TESTS) and basis["dodged"] == {}
    assert "2 of 2 tests ran and passed" in basis["summary"]


def test_an_answer_that_passes_only_once_is_unverified(stats_repo: Path, run: TestRunner) -> None:
    """Flaky: the answer depends on state outside the copy (a file in the repository's shared,
    read-only `.venv`), which changes between the first run and the second."""
    (stats_repo / ".venv").mkdir()
    flag = stats_repo / ".venv" / "second"
    calls: list[int] = []

    def flaky_world(repo: Path, test_ids: Sequence[str], *, overrides: Mapping[str, str]) -> RunResult:
        result = run(repo, test_ids, overrides=overrides)
        calls.append(1)
        if len(calls) == 2:  # the reference, then the answer: the world changes now
            flag.write_text("")
        return result

    flaky = (
        "def mean(self):\n    import os\n"
        "    return sum(self.xs) / (len(self.xs) - os.path.exists('.venv/second'))"
    )
    trajectory = repair(request(stats_repo), ScriptedBackend([code(flaky)]), flaky_world)
    assert trajectory.status is Status.UNVERIFIED
    assert trajectory.turns[0].answer.passed  # the first run passed ...
    assert trajectory.confirmation is not None and not trajectory.confirmation.passed  # ... the second not
    assert trajectory.basis is not None and trajectory.basis["second_run"] == "disagreed"
    assert trajectory.fixed_source is None
    assert "did not pass a second, fresh run" in (trajectory.turns[0].feedback or "")


def test_feedback_names_the_tests_an_answer_dodged(tmp_path: Path, run: TestRunner) -> None:
    tests = STATS_TESTS + (
        "\n\ndef test_mean_or_skip():\n    import pytest\n    value = Stats([2, 4]).mean()\n"
        "    if value is None:\n        pytest.skip('not there yet')\n    assert value == 3\n"
    )
    repo = make_repo(tmp_path / "repo", tests=tests)
    chosen = [*MEAN_TESTS, "tests/test_stats.py::test_mean_or_skip"]
    dodging = (
        "def mean(self):\n    if len(self.xs) == 2:\n        return None\n"
        "    return sum(self.xs) / len(self.xs)"
    )
    trajectory = repair(request(repo, chosen), ScriptedBackend([code(dodging), code(FIXED_MEAN)]), run)
    first = trajectory.turns[0]
    assert not first.passed and first.answer.verdict is not None
    assert first.answer.verdict.dodged == {"tests/test_stats.py::test_mean_or_skip": "skipped"}
    assert "tests/test_stats.py::test_mean_or_skip (skipped)" in (first.feedback or "")
    assert trajectory.status is Status.FIXED


def test_an_interpreter_that_cannot_start_is_said_before_any_model_call(
    stats_repo: Path, settings, tmp_path: Path, python: Path
) -> None:
    """It runs on the host (it sees a file there) but not in the sandbox, which hides that file."""
    from sandbox.runner import check_isolation

    if check_isolation():
        pytest.skip("strict sandbox isolation unavailable here")
    host_only = tmp_path / "host-only"
    host_only.write_text("")
    wrapper = tmp_path / "bin" / "python"
    wrapper.parent.mkdir()
    wrapper.write_text(
        f"#!/bin/sh\n[ -e {host_only} ] || {{ echo 'needs {host_only}' >&2; exit 3; }}\n"
        f'exec {python} "$@"\n'
    )
    wrapper.chmod(0o755)
    backend = ScriptedBackend([code(FIXED_MEAN)])
    with pytest.raises(SandboxUnusable, match=r"could not start pytest in the sandbox.*needs"):
        repair(request(stats_repo), backend, sandbox_test_runner(settings, wrapper))
    assert backend.calls == []


def test_judge_without_reference_keeps_only_static_marks_neutral() -> None:
    result = RunResult(
        tests=[
            TestResult("t::a", "passed"),
            TestResult("t::b", "skipped"),
            TestResult("t::c", "xfailed"),
        ],
        collected=["t::a", "t::b", "t::c", "t::d"],
        marked={"t::b": "skip"},
        not_run=["t::d"],
    )
    verdict = judge(result, None)
    assert not verdict.passed and verdict.neutral == ["t::b"]
    assert verdict.dodged == {"t::c": "xfailed", "t::d": "did not run"}
    reference = Reference(label="ref", outcomes={"t::a": "failed", "t::b": "skipped", "t::c": "xfailed"})
    assert judge(RunResult(tests=result.tests, collected=["t::a", "t::b", "t::c"]), reference).passed
