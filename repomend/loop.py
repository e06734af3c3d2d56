"""The multi-turn repair loop: generate, splice, test in the sandbox, feed failures back.

The one loop behind the server, training teachers and evaluation: a method given with its
body removed is *generated*; a method given with a broken body is treated as a failed first
answer, so the conversation has the same shape as the training trajectories.
"""

from __future__ import annotations

import ast
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, Protocol

from repomend.backends.base import Backend, BackendError, Completion, GenerationConfig
from repomend.context_window import fit_conversation
from repomend.contract import prompts
from repomend.contract.answers import read_answer
from repomend.contract.conversation import Message, Mode, history_reply
from repomend.contract.feedback import format_rejection, format_test_output
from repomend.contract.verdict import Reference, Verdict, judge
from repomend.settings import Settings
from repomend.source import (
    Method,
    code_key,
    find_method,
    method_text,
    prompt_view,
    spliced_key,
)
from repomend.trajectory import Attempt, Status, Trajectory, Turn
from sandbox.results import RunResult


class TestRunner(Protocol):
    __test__ = False

    def __call__(self, repo: Path, test_ids: Sequence[str], *, overrides: Mapping[str, str]) -> RunResult: ...


class SandboxUnusable(RuntimeError):
    """The repository's interpreter cannot run its tests in the sandbox; one line, said before
    any model is asked (no answer could ever pass)."""


def second_runner(run: TestRunner) -> TestRunner:
    """The runner of the second opinion: a fresh cold sandbox per call. A runner that reuses
    anything between calls (pre-started sandboxes, memoised results) names its cold
    counterpart in a `confirm` attribute; a plain cold runner is its own."""
    return getattr(run, "confirm", run)


def sandbox_test_runner(settings: Settings, python: str | Path) -> TestRunner:
    """Run tests in the sandbox with the repository's interpreter and the configured limits."""
    from sandbox.runner import run_tests

    limits = settings.sandbox.limits()

    def run(repo: Path, test_ids: Sequence[str], *, overrides: Mapping[str, str]) -> RunResult:
        return run_tests(
            repo,
            test_ids,
            python=python,
            overrides=overrides,
            limits=limits,
            isolation=settings.sandbox.isolation,
        )

    return run


@dataclass(frozen=True)
class RepairRequest:
    repo: Path
    path: str
    """Repository-relative path of the file."""
    qualname: str
    tests: Sequence[str]
    source: str | None = None
    """Unsaved file content; None reads the file from the repository."""
    description: str | None = None
    reference: RunResult | None = None
    """The run that says which tests must pass (evaluation and training: the ground truth's);
    None: the loop runs the method as given."""
    ground_truth: str | None = None
    """The known-good method, where there is one (evaluation, training): the screen allows what
    it uses as well as what the method as given uses."""
    hidden_bodies: Sequence[str] = ()
    """Methods of the file whose bodies the prompt leaves out while the tests run them (training:
    the held-out ones, so no training prompt shows their code)."""


@dataclass(frozen=True)
class RepairOptions:
    mode: Mode = Mode.NO_THINK
    max_turns: int = 5
    samples_per_turn: int = 1
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    sample_temperature: float = 0.7
    """Used for every sample but the first of turn 1 (which uses generation.temperature)."""
    adapter: str | None = None
    start: Literal["auto", "generate", "repair"] = "auto"
    """auto: a body that is only a docstring / `...` / `pass` / NotImplementedError is generated."""
    second_run: bool = True
    """Re-run a passing answer once in a fresh cold sandbox before calling it fixed."""
    test_workers: int = field(default_factory=lambda: max(1, len(os.sched_getaffinity(0))))
    """Candidates of one turn tested side by side (samples_per_turn > 1)."""

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> RepairOptions:
        options = cls(
            mode=Mode(settings.mode),
            max_turns=settings.max_turns,
            samples_per_turn=settings.samples_per_turn,
            generation=GenerationConfig(
                max_new_tokens=settings.max_new_tokens,
                thinking_budget=settings.thinking_budget,
                temperature=settings.temperature,
                seed=settings.seed,
            ),
            sample_temperature=settings.sample_temperature,
        )
        return replace(options, **overrides)  # type: ignore[arg-type]


class RepairCancelled(Exception):
    """Raised inside the loop when the caller's cancel check says stop."""


@dataclass(frozen=True)
class TurnStarted:
    turn: int
    max_turns: int


@dataclass(frozen=True)
class AttemptTested:
    turn: int
    max_turns: int
    sample: int
    attempt: Attempt


@dataclass(frozen=True)
class InitialTestsRun:
    results: RunResult


Event = TurnStarted | AttemptTested | InitialTestsRun
EventSink = Callable[[Event], None]


def _is_placeholder_statement(node: ast.stmt) -> bool:
    if isinstance(node, ast.Pass):
        return True
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
        return node.value.value is Ellipsis or isinstance(node.value.value, str)
    if isinstance(node, ast.Raise) and node.exc is not None:
        exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"
    return False


def is_placeholder(source: str, method: Method) -> bool:
    """True when the body holds only a docstring, `...`, `pass` or `raise NotImplementedError`."""
    tree = ast.parse(method_text(source, method))
    function = tree.body[0]
    assert isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
    return all(_is_placeholder_statement(node) for node in function.body)


RESAMPLES = 2
"""Extra draws for an answer that repeats tested code, each hotter than the last."""
RESAMPLE_HEAT = 0.3
MAX_TEMPERATURE = 1.3
SEED_STRIDE = 1000
"""Seeds: the configured one + turn × stride + draw × 100; the engines add the sample's index,
so no two samples of a repair share a seed."""


def _temperature(options: RepairOptions, turn: int, sample: int) -> float:
    if turn == 1 and sample == 0:
        return options.generation.temperature
    return options.sample_temperature or options.generation.temperature


def _seed(options: RepairOptions, turn: int, draw: int = 0) -> int | None:
    base = options.generation.seed
    return None if base is None else base + turn * SEED_STRIDE + draw * 100


def _generate(
    backend: Backend, messages: list[Message], options: RepairOptions, turn: int
) -> list[Completion]:
    """First sample of turn 1 follows the configured temperature (greedy by default); the rest sample."""
    first_temperature = _temperature(options, turn, 0)
    n = options.samples_per_turn
    config = replace(options.generation, temperature=first_temperature, seed=_seed(options, turn))
    if n == 1 or first_temperature > 0:
        return backend.generate(messages, mode=options.mode, config=config, n=n, adapter=options.adapter)
    first = backend.generate(messages, mode=options.mode, config=config, n=1, adapter=options.adapter)
    rest_config = replace(config, temperature=_temperature(options, turn, 1), seed=_seed(options, turn, 1))
    rest = backend.generate(messages, mode=options.mode, config=rest_config, n=n - 1, adapter=options.adapter)
    return first + rest


def _resample(
    backend: Backend, messages: list[Message], options: RepairOptions, turn: int, draw: int
) -> Completion:
    """One more answer after a repeat: a new seed and a higher temperature each draw."""
    heat = max(_temperature(options, turn, 1), RESAMPLE_HEAT) + RESAMPLE_HEAT * draw
    config = replace(
        options.generation, temperature=min(heat, MAX_TEMPERATURE), seed=_seed(options, turn, 1 + draw)
    )
    [completion] = backend.generate(messages, mode=options.mode, config=config, n=1, adapter=options.adapter)
    return completion


def _prepare(
    completion: Completion,
    request: RepairRequest,
    source: str,
    method: Method,
    tested: dict[str, str | None],
) -> Attempt:
    """The answer extracted, spliced and screened, not yet tested; `repeat` when its code was
    tested before (`tested` maps code keys to the feedback they got, and gains this one)."""
    attempt = Attempt(
        reply=completion.content,
        reasoning=completion.reasoning,
        candidate=None,
        rejection=None,
        results=None,
        generation_seconds=completion.seconds,
        test_seconds=0.0,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        budget_forced=completion.budget_forced,
    )
    answer = read_answer(completion.content, source, method, request.qualname, request.ground_truth)
    attempt.candidate, attempt.new_source = answer.code, answer.new_source
    attempt.rejection = answer.rejection
    if answer.key is None:
        return attempt
    if answer.key in tested:
        attempt.repeat = True
        # a key whose feedback is not in yet belongs to another answer of this very turn
        attempt.rejection = (
            "the answer repeats another answer of this turn"
            if tested[answer.key] is None
            else "the answer repeats code that was already tested"
        )
        return attempt
    tested[answer.key] = None
    return attempt


def _test(attempt: Attempt, request: RepairRequest, run: TestRunner, reference: Reference) -> Attempt:
    assert attempt.new_source is not None
    started = time.perf_counter()
    attempt.results = run(request.repo, request.tests, overrides={request.path: attempt.new_source})
    attempt.test_seconds = time.perf_counter() - started
    attempt.verdict = judge(attempt.results, reference)
    return attempt


def _test_all(
    attempts: list[Attempt], request: RepairRequest, run: TestRunner, reference: Reference, workers: int
) -> None:
    """Test the untested candidates side by side (the first in `run`'s sandbox, the others in
    cold ones) and stop starting new ones once one passes."""
    if len(attempts) <= 1 or workers <= 1:
        for attempt in attempts:
            if _test(attempt, request, run, reference).passed:
                break
        return
    cold = second_runner(run)
    with ThreadPoolExecutor(max_workers=min(workers, len(attempts)), thread_name_prefix="tests") as pool:
        futures = [
            pool.submit(_test, attempt, request, run if index == 0 else cold, reference)
            for index, attempt in enumerate(attempts)
        ]
        for future in as_completed(futures):
            if future.result().passed:
                for other in futures:
                    other.cancel()
                break


def _best(attempts: list[Attempt]) -> int:
    """The passing attempt, else the one closest to passing (most tests passed; tested over
    rejected over repeated; the latest among equals, so a repeat resampled away is not chosen)."""
    for index, attempt in enumerate(attempts):
        if attempt.passed:
            return index
    scores = [(a.results is not None, not a.repeat, a.tests_passed, i) for i, a in enumerate(attempts)]
    return max(range(len(attempts)), key=lambda i: scores[i])


def _feedback(attempt: Attempt, request: RepairRequest, method: Method, tested: dict[str, str | None]) -> str:
    """The TEST_RESULT text of the turn's chosen answer; for a repeat, what that code got before."""
    if attempt.repeat:
        assert attempt.new_source is not None
        return tested.get(spliced_key(attempt.new_source, request.qualname)) or ""
    if attempt.rejection is not None:
        return format_rejection(attempt.rejection)
    assert attempt.results is not None
    return format_test_output(attempt.results, attempt.verdict, target=(request.path, method.name))


def _failed_ids(attempt: Attempt) -> frozenset[str] | None:
    if attempt.results is None or attempt.passed:
        return None
    return frozenset(test.nodeid for test in attempt.results.failures)


def _reference(request: RepairRequest, source: str, run: TestRunner) -> tuple[RunResult, Reference]:
    """The reference run and what it says; the method as given unless the caller brought one."""
    if request.reference is not None:
        return request.reference, Reference.of(request.reference, "the ground truth")
    given = run(request.repo, request.tests, overrides={request.path: source})
    if given.start_failure:
        raise SandboxUnusable(given.start_failure)
    return given, Reference.of(given, "the method as given")


def _second_opinion(
    request: RepairRequest, attempt: Attempt, reference: Reference, run: TestRunner
) -> tuple[RunResult, Verdict, bool]:
    """Run the passing answer again, fresh and cold; it agrees when the same tests pass."""
    assert attempt.new_source is not None and attempt.verdict is not None
    again = second_runner(run)(request.repo, request.tests, overrides={request.path: attempt.new_source})
    verdict = judge(again, reference)
    agreed = verdict.passed and set(verdict.passed_tests) == set(attempt.verdict.passed_tests)
    return again, verdict, agreed


def read_source(request: RepairRequest) -> str:
    if request.source is not None:
        return request.source
    return (request.repo / request.path).read_text(encoding="utf-8")


def repair(
    request: RepairRequest,
    backend: Backend,
    run: TestRunner,
    options: RepairOptions = RepairOptions(),
    *,
    on_event: EventSink | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> Trajectory:
    """Repair (or generate) one method in at most `options.max_turns` model turns."""
    if options.max_turns < 1 or options.samples_per_turn < 1:
        raise ValueError("max_turns and samples_per_turn must be at least 1")
    if not request.tests:
        raise ValueError("a repair needs at least one test to judge it")
    emit = on_event or (lambda _event: None)
    started = time.perf_counter()
    source = read_source(request)
    method = find_method(source, request.qualname)
    trajectory = Trajectory(
        path=request.path,
        qualname=request.qualname,
        mode=options.mode,
        model=backend.describe(options.adapter),
        tests=list(request.tests),
        original_source=source,
        original_method=method_text(source, method),
    )
    stub, line = prompt_view(source, request.qualname, request.hidden_bodies)
    messages = prompts.opening_messages(
        method=method.name,
        class_name=method.class_name,
        declaration=method.declaration,
        docstring=method.docstring,
        file_content=stub,
        path=request.path,
        line=line,
        description=request.description,
    )
    generate_from_scratch = options.start == "generate" or (
        options.start == "auto" and is_placeholder(source, method)
    )
    reference_run, reference = _reference(request, source, run)
    trajectory.reference = reference.label
    tested: dict[str, str | None] = {}
    """Code keys of everything tested in this repair, with the feedback each got."""
    last_failed: frozenset[str] | None = None
    if not generate_from_scratch:
        initial = (
            reference_run
            if request.reference is None
            else run(request.repo, request.tests, overrides={request.path: source})
        )
        trajectory.initial_results = initial
        trajectory.verdict = judge(initial, reference)
        emit(InitialTestsRun(initial))
        if trajectory.verdict.passed:
            trajectory.status = Status.ALREADY_PASSING
            trajectory.seconds = time.perf_counter() - started
            return trajectory
        messages.append({"role": "assistant", "content": prompts.history_code(trajectory.original_method)})
        feedback = format_test_output(initial, trajectory.verdict, target=(request.path, method.name))
        tested[code_key(trajectory.original_method)] = feedback
        last_failed = frozenset(test.nodeid for test in initial.failures)
        messages.append({"role": "user", "content": prompts.iteration_prompt(feedback)})
    head = len(messages)
    """The opening kept in every request: system, first turn and, for a repair, the method as given."""

    def check_cancel() -> None:
        if should_cancel and should_cancel():
            raise RepairCancelled

    try:
        for index in range(1, options.max_turns + 1):
            check_cancel()
            emit(TurnStarted(index, options.max_turns))
            turn = Turn(index=index, prompt=messages[-1]["content"])
            trajectory.turns.append(turn)
            try:
                window, turn.left_out = _window(messages, head, backend, options)
                for completion in _generate(backend, window, options, index):
                    turn.attempts.append(_prepare(completion, request, source, method, tested))
                draw = 0
                while all(attempt.repeat for attempt in turn.attempts) and draw < RESAMPLES:
                    check_cancel()
                    draw += 1
                    completion = _resample(backend, window, options, index, draw)
                    turn.attempts.append(_prepare(completion, request, source, method, tested))
            except BackendError as err:
                trajectory.status = Status.FAILED
                trajectory.error = f"the engine failed on turn {index}: {err}"
                trajectory.turns.pop()  # nothing of this turn was tested; the turns before stand
                break
            check_cancel()
            candidates = [a for a in turn.attempts if a.rejection is None and a.results is None]
            _test_all(candidates, request, run, reference, options.test_workers)
            for sample, attempt in enumerate(turn.attempts):
                if attempt.results is not None or attempt.rejection is not None:
                    emit(AttemptTested(index, options.max_turns, sample, attempt))
            turn.chosen = _best(turn.attempts)
            answer = turn.answer
            messages.append({"role": "assistant", "content": _history(answer, turn.passed)})
            if turn.passed:
                trajectory.verdict = answer.verdict
                trajectory.status = Status.FIXED
                if options.second_run:
                    second = _second_opinion(request, answer, reference, run)
                    trajectory.confirmation, trajectory.confirmation_verdict, agreed = second
                    if not agreed:
                        trajectory.status = Status.UNVERIFIED
                        turn.feedback = "The same answer did not pass a second, fresh run.\n\n" + (
                            format_test_output(second[0], second[1])
                        )
                break
            for attempt in turn.attempts:
                if attempt.new_source is not None and not attempt.repeat:
                    key = spliced_key(attempt.new_source, request.qualname)
                    tested[key] = _feedback(attempt, request, method, tested)
            turn.feedback = _feedback(answer, request, method, tested)
            failed = _failed_ids(answer)
            turn.follow_up = prompts.iteration_prompt(
                turn.feedback, repeat=answer.repeat, stuck=failed is not None and failed == last_failed
            )
            last_failed = failed if failed is not None else last_failed
            if index < options.max_turns:
                messages.append({"role": "user", "content": turn.follow_up})
    except RepairCancelled:
        trajectory.status = Status.CANCELLED
        if trajectory.turns and all(a.results is None for a in trajectory.turns[-1].attempts):
            trajectory.turns.pop()  # cancelled before any of its answers was tested
    if trajectory.verdict is None and trajectory.final is not None:
        trajectory.verdict = trajectory.final.verdict
    trajectory.messages = messages
    trajectory.seconds = time.perf_counter() - started
    return trajectory


def _history(answer: Attempt, passed: bool) -> str:
    """The answer as the conversation keeps it: a failed one as its code without the docstring
    (what later turns read), else its words; a passing one as the model wrote it (the target a
    teacher's trajectory trains on)."""
    if answer.candidate is not None and not passed:
        return prompts.history_code(answer.candidate)
    return history_reply(answer.reply)


def _window(
    messages: list[Message], head: int, backend: Backend, options: RepairOptions
) -> tuple[list[Message], int]:
    """The conversation cut to fit the engine's context (`repomend.context_window`), counted in
    the model's own tokens; uncut when the engine does not say its size."""
    context = backend.context_size()
    if context is None:
        return messages, 0
    per_sample = options.generation.max_new_tokens
    if options.mode is Mode.THINK:
        per_sample += options.generation.thinking_budget or 0
    limit = context - per_sample * options.samples_per_turn

    def fits(window: list[Message]) -> bool:
        return backend.count_prompt_tokens(window, options.mode) < limit

    return fit_conversation(messages, head, fits)
