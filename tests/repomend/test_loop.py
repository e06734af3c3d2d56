"""The repair loop's logic, with scripted model replies and the real sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from repomend.backends.base import GenerationConfig
from repomend.backends.scripted import ScriptedBackend
from repomend.contract import prompts
from repomend.contract.conversation import Mode
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
from tests.support.repos import FIXED_MEAN, STATS_SOURCE, WRONG_MEAN, make_repo

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


OTHER_WRONG = ["def mean(self):\n    return len(self.xs)", "def mean(self):\n    return max(self.xs)"]


def test_gives_up_after_max_turns_with_last_attempt_and_reason(stats_repo, run):
    backend = ScriptedBackend([code(answer) for answer in [*OTHER_WRONG, WRONG_MEAN]])
    trajectory = repair(request(stats_repo), backend, run, RepairOptions(max_turns=3))
    assert trajectory.status is Status.UNFIXED
    assert trajectory.turns_used == 3 and len(backend.calls) == 3
    assert trajectory.fixed_source is None
    assert trajectory.final.candidate == WRONG_MEAN
    assert "AssertionError" in trajectory.turns[-1].feedback


class CountingRunner:
    """The real sandbox runner, counting the candidates it was given."""

    def __init__(self, run):
        self.run, self.sources = run, []

    def __call__(self, repo, test_ids, *, overrides):
        self.sources.extend(overrides.values())
        return self.run(repo, test_ids, overrides=overrides)


def test_a_repeated_answer_is_resampled_hotter_and_never_tested_again(stats_repo, run):
    backend = ScriptedBackend([code(WRONG_MEAN), code(WRONG_MEAN + "  # same code"), code(FIXED_MEAN)])
    counting = CountingRunner(run)
    options = RepairOptions(max_turns=2, second_run=False, generation=GenerationConfig(seed=7))
    trajectory = repair(request(stats_repo), backend, counting, options)
    assert trajectory.status is Status.FIXED and trajectory.turns_used == 2
    repeat, fixed = trajectory.turns[1].attempts
    assert repeat.repeat and repeat.results is None and fixed.passed
    # the method as given, turn 1's answer and the fix: nothing twice
    assert len(counting.sources) == 3
    (_, _, turn_config, _), (_, _, resample_config, _) = backend.calls[1:]
    assert resample_config.temperature > turn_config.temperature
    assert resample_config.seed != turn_config.seed


def test_an_echo_of_the_method_as_given_is_named_as_such(stats_repo, run):
    broken = 'def mean(self):\n    """Arithmetic mean."""\n    return sum(self.xs) / (len(self.xs) - 1)'
    backend = ScriptedBackend([code(broken)] * 3 + [code(FIXED_MEAN)])
    counting = CountingRunner(run)
    trajectory = repair(request(stats_repo), backend, counting, RepairOptions(max_turns=2, second_run=False))
    first, second = trajectory.turns
    assert all(attempt.repeat for attempt in first.attempts) and len(first.attempts) == 3
    assert first.follow_up.startswith("Your answer is the same code as an answer that already failed")
    assert "test_mean" in first.follow_up  # what that code got when it was tested
    assert backend.calls[3][0][-1]["content"] == first.follow_up
    assert second.passed and len(counting.sources) == 2  # the method as given and the fix


def test_an_answer_failing_like_the_last_is_asked_for_another_approach(stats_repo, run):
    backend = ScriptedBackend([code(answer) for answer in OTHER_WRONG])
    trajectory = repair(request(stats_repo), backend, run, RepairOptions(max_turns=2))
    assert prompts.NEW_APPROACH in trajectory.turns[0].follow_up  # both tests fail, as before
    assert backend.calls[1][0][-1]["content"] == trajectory.turns[0].follow_up


def test_history_keeps_answers_without_their_docstring(stats_repo, run):
    documented = 'def mean(self):\n    """Arithmetic mean."""\n    return sum(self.xs)'
    backend = ScriptedBackend([code(documented), code(FIXED_MEAN)])
    trajectory = repair(request(stats_repo), backend, run)
    history = backend.calls[1][0]
    assert history[2]["content"] == code("def mean(self):\n    return sum(self.xs) / (len(self.xs) - 1)")
    assert history[-2]["content"] == code(WRONG_MEAN)
    assert trajectory.status is Status.FIXED
    assert '"""Arithmetic mean."""' in trajectory.fixed_method  # kept in the file all the same


class SmallContext(ScriptedBackend):
    """A scripted model whose context holds `limit` prompt words."""

    def __init__(self, replies, limit):
        super().__init__(replies)
        self.limit = limit

    def context_size(self):
        return self.limit + RepairOptions().generation.max_new_tokens

    def count_prompt_tokens(self, messages, mode):
        return sum(len(m["content"].split()) for m in messages)


def test_a_long_conversation_is_cut_to_the_engine_context(stats_repo, run):
    answers = [*OTHER_WRONG, "def mean(self):\n    return min(self.xs)", FIXED_MEAN]
    probe = ScriptedBackend([code(a) for a in answers])
    repair(request(stats_repo), probe, run)
    sizes = [sum(len(m["content"].split()) for m in call[0]) for call in probe.calls]
    backend = SmallContext([code(a) for a in answers], limit=sizes[2])
    trajectory = repair(request(stats_repo), backend, run)
    assert trajectory.status is Status.FIXED and trajectory.turns_used == 4
    assert [turn.left_out for turn in trajectory.turns] == [0, 0, 1, 1]
    for call in backend.calls:
        assert backend.count_prompt_tokens(call[0], Mode.NO_THINK) < sizes[2]
    last = backend.calls[-1][0]
    assert prompts.OMITTED_TURNS.format(count=1) in last[3]["content"]  # said after the opening
    assert "(len(self.xs) - 1)" in last[2]["content"]  # the method as given is kept
    assert last[4]["content"] == code(OTHER_WRONG[1])  # the oldest answer went first
    assert len(trajectory.messages) > len(last)  # the record keeps everything


def test_an_engine_failure_keeps_the_turns_made(stats_repo, run):
    backend = ScriptedBackend([code(OTHER_WRONG[0])])
    trajectory = repair(request(stats_repo), backend, run)
    assert trajectory.status is Status.FAILED
    assert trajectory.turns_used == 1 and trajectory.final.candidate == OTHER_WRONG[0]
    assert trajectory.error == "the engine failed on turn 2: the scripted backend ran out of replies"


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
    assert turn.attempts[2].repeat and turn.attempts[2].results is None  # same as sample 1
    assert turn.attempts[2].rejection == "the answer repeats another answer of this turn"
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
