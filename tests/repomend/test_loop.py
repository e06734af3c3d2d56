"""The repair loop's logic, with scripted model replies and the real sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from repomend import prompts
from repomend.backends.scripted import ScriptedBackend
from repomend.conversation import Mode
from repomend.loop import (
    AttemptTested,
    InitialTestsRun,
    RepairOptions,
    RepairRequest,
    TurnStarted,
    repair,
    sandbox_test_runner,
)
from repomend.trajectory import Status
from tests.conftest import FIXED_MEAN, STATS_SOURCE, WRONG_MEAN, make_repo

MEAN_TESTS = ["tests/test_stats.py::test_mean", "tests/test_stats.py::test_mean_single"]


def code(text: str) -> str:
    return prompts.as_code_reply(text)


@pytest.fixture
def run(settings, python):
    return sandbox_test_runner(settings, python)


def request(repo: Path, **kwargs) -> RepairRequest:
    return RepairRequest(repo=repo, path="pkg/stats.py", qualname="Stats.mean", tests=MEAN_TESTS, **kwargs)


def test_broken_method_is_fixed_on_second_turn_after_feedback(stats_repo, run):
    backend = ScriptedBackend([code(WRONG_MEAN), code(FIXED_MEAN)])
    events = []
    trajectory = repair(request(stats_repo), backend, run, on_event=events.append)

    assert trajectory.status is Status.FIXED
    assert trajectory.turns_used == 2
    assert trajectory.initial_results is not None and not trajectory.initial_results.passed
    first, second = trajectory.turns
    assert not first.passed and first.feedback and "test_mean" in first.feedback
    assert second.passed and second.answer.tests_passed == 2
    assert "return sum(self.xs) / len(self.xs)" in trajectory.fixed_source
    assert (
        trajectory.fixed_source.replace(
            "return sum(self.xs) / len(self.xs)", "return sum(self.xs) / (len(self.xs) - 1)"
        )
        == STATS_SOURCE
    )
    assert "-        return sum(self.xs) / (len(self.xs) - 1)" in trajectory.diff()
    assert trajectory.fixed_method == (
        'def mean(self):\n    """Arithmetic mean."""\n    return sum(self.xs) / len(self.xs)'
    )
    # the original file on disk is untouched
    assert (stats_repo / "pkg/stats.py").read_text() == STATS_SOURCE
    kinds = [type(e) for e in events]
    assert kinds == [InitialTestsRun, TurnStarted, AttemptTested, TurnStarted, AttemptTested]


def test_conversation_has_training_shape(stats_repo, run):
    """The broken body is a failed first answer; later turns carry the iteration prompt."""
    backend = ScriptedBackend([code(WRONG_MEAN), code(FIXED_MEAN)])
    trajectory = repair(request(stats_repo), backend, run)

    first_call = backend.calls[0][0]
    assert [m["role"] for m in first_call] == ["system", "user", "assistant", "user"]
    assert first_call[0]["content"] == prompts.SYSTEM_PROMPT
    assert first_call[1]["content"].startswith("Generate code for the method `mean` in the class `Stats`")
    assert "return sum(self.xs) / (len(self.xs) - 1)" not in first_call[1]["content"]  # body removed
    assert "(len(self.xs) - 1)" in first_call[2]["content"]  # the broken body as the first answer
    assert first_call[3]["content"].startswith("Correct the answer. Tests failed:\nTEST_RESULT:\n")
    second_call = backend.calls[1][0]
    assert second_call[-2]["content"] == code(WRONG_MEAN)
    assert "test_mean" in second_call[-1]["content"]
    assert trajectory.messages[-1] == {"role": "assistant", "content": code(FIXED_MEAN)}


def test_placeholder_body_is_generated_without_an_initial_run(tmp_path, run):
    source = STATS_SOURCE.replace("return sum(self.xs) / (len(self.xs) - 1)", "...")
    repo = make_repo(tmp_path / "r", source=source)
    backend = ScriptedBackend([code(FIXED_MEAN)])
    trajectory = repair(request(repo), backend, run)
    assert trajectory.status is Status.FIXED and trajectory.turns_used == 1
    assert trajectory.initial_results is None
    assert [m["role"] for m in backend.calls[0][0]] == ["system", "user"]


def test_gives_up_after_max_turns_with_last_attempt_and_reason(stats_repo, run):
    backend = ScriptedBackend([code(WRONG_MEAN)] * 3)
    trajectory = repair(request(stats_repo), backend, run, RepairOptions(max_turns=3))
    assert trajectory.status is Status.UNFIXED
    assert trajectory.turns_used == 3 and len(backend.calls) == 3
    assert trajectory.fixed_source is None
    assert trajectory.final.candidate == WRONG_MEAN
    assert "AssertionError" in trajectory.turns[-1].feedback


def test_unusable_answers_are_fed_back_with_the_reason(stats_repo, run):
    backend = ScriptedBackend(
        [
            "I think the mean is fine.",
            code("def median(self):\n    return 0"),
            code("def mean(self):\n    return (\n"),
            code(FIXED_MEAN),
        ]
    )
    trajectory = repair(request(stats_repo), backend, run)
    assert trajectory.status is Status.FIXED and trajectory.turns_used == 4
    rejections = [t.answer.rejection for t in trajectory.turns[:3]]
    assert "no ```python code block" in rejections[0]
    assert "`median`" in rejections[1]
    assert "parse" in rejections[2]
    assert all(t.answer.results is None for t in trajectory.turns[:3])
    assert backend.calls[1][0][-1]["content"].endswith(f"The answer could not be tested: {rejections[0]}")


def test_already_passing_method_asks_no_model(tmp_path, run):
    source = STATS_SOURCE.replace("(len(self.xs) - 1)", "len(self.xs)")
    repo = make_repo(tmp_path / "r", source=source)
    backend = ScriptedBackend([])
    trajectory = repair(request(repo), backend, run)
    assert trajectory.status is Status.ALREADY_PASSING
    assert backend.calls == []


def test_unsaved_content_is_repaired_instead_of_the_file_on_disk(stats_repo, run):
    unsaved = STATS_SOURCE.replace("def total(self):", "def total(self):\n        # unsaved edit")
    backend = ScriptedBackend([code(FIXED_MEAN)])
    trajectory = repair(request(stats_repo, source=unsaved), backend, run)
    assert trajectory.status is Status.FIXED
    assert "# unsaved edit" in trajectory.fixed_source
    assert "# unsaved edit" not in (stats_repo / "pkg/stats.py").read_text()


def test_best_of_n_keeps_the_passing_sample(stats_repo, run):
    backend = ScriptedBackend([code(WRONG_MEAN), code(FIXED_MEAN), code(WRONG_MEAN)])
    trajectory = repair(request(stats_repo), backend, run, RepairOptions(samples_per_turn=3))
    assert trajectory.status is Status.FIXED and trajectory.turns_used == 1
    turn = trajectory.turns[0]
    assert turn.chosen == 1 and turn.answer.candidate == FIXED_MEAN
    assert len(turn.attempts) == 2  # stops testing at the first passing sample
    # first sample greedy, the others sampled
    temperatures = [call[2].temperature for call in backend.calls]
    assert temperatures == [0.0, 0.7]


def test_think_mode_keeps_reasoning_out_of_history(stats_repo, run):
    backend = ScriptedBackend(
        [f"<think>the sum is wrong</think>{code(WRONG_MEAN)}", f"<think>divide</think>{code(FIXED_MEAN)}"]
    )
    trajectory = repair(request(stats_repo), backend, run, RepairOptions(mode=Mode.THINK))
    assert trajectory.status is Status.FIXED
    assert trajectory.turns[0].answer.reasoning == "the sum is wrong"
    assert all("<think>" not in m["content"] for m in backend.calls[1][0])
    assert backend.calls[1][1] is Mode.THINK


def test_cancellation_stops_between_turns(stats_repo, run):
    backend = ScriptedBackend([code(WRONG_MEAN)] * 5)
    calls = iter([False, False, True])
    trajectory = repair(request(stats_repo), backend, run, should_cancel=lambda: next(calls, True))
    assert trajectory.status is Status.CANCELLED
    assert len(backend.calls) == 1
    assert trajectory.turns_used == 1 and trajectory.final.candidate == WRONG_MEAN


def test_cancellation_after_generation_skips_the_tests(stats_repo, run):
    backend = ScriptedBackend([code(FIXED_MEAN)])
    calls = iter([False, True])
    trajectory = repair(request(stats_repo), backend, run, should_cancel=lambda: next(calls, True))
    assert trajectory.status is Status.CANCELLED
    assert len(backend.calls) == 1 and trajectory.turns == [] and trajectory.final is None


def test_adapter_is_passed_to_the_backend(stats_repo, run):
    backend = ScriptedBackend([code(FIXED_MEAN)])
    trajectory = repair(request(stats_repo), backend, run, RepairOptions(adapter="repo-v3"))
    assert backend.calls[0][3] == "repo-v3"
    assert trajectory.model == "scripted+repo-v3"


def test_requires_tests(stats_repo, run):
    with pytest.raises(ValueError, match="at least one test"):
        repair(RepairRequest(stats_repo, "pkg/stats.py", "Stats.mean", tests=[]), ScriptedBackend([]), run)
