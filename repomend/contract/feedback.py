"""Turn sandbox results into the TEST_RESULT text of the iteration prompt.

Part of the train/serve contract: training trajectories and live repairs feed the model the
same rendering of the same structured results.
"""

from __future__ import annotations

import re

from repomend.contract.verdict import Verdict
from sandbox.results import RunResult, TestResult

MAX_FEEDBACK_CHARS = 3000
MAX_TRACEBACK_LINES = 12
MAX_DETAILED_ERRORS = 3
"""Distinct errors shown with their traceback; later ones get their headline only."""
MAX_LISTED_IDS = 8
"""Other tests named under an error they share."""


def _headline(test: TestResult) -> str:
    headline = f"{test.nodeid} {test.outcome.upper()}"
    if test.exception_type or test.message:
        detail = ": ".join(part for part in (test.exception_type, test.message) if part)
        headline += f" - {detail}"
    return headline


def _is_position_marker(line: str) -> bool:
    """Python 3.11+'s `^^^^` / `~~~` lines under a traceback's source line: no news for the
    model (the line above says it all) and many tokens each."""
    stripped = line.strip()
    return bool(stripped) and not stripped.strip("^~")


def _describe_failure(test: TestResult) -> str:
    lines = [_headline(test)]
    if test.traceback:
        frames = [line for line in test.traceback.rstrip().splitlines() if not _is_position_marker(line)]
        lines.extend(frames[-MAX_TRACEBACK_LINES:])
    return "\n".join(lines)


def _same_error_groups(failures: list[TestResult]) -> list[list[TestResult]]:
    """Failures grouped by error, in order of first appearance.

    A broken method typically fails a dozen tests with one error; repeating its traceback
    a dozen times buries everything else under the feedback limit and costs a small model
    tokens it reads as noise.
    """
    groups: dict[tuple[str | None, str | None], list[TestResult]] = {}
    for test in failures:
        groups.setdefault((test.exception_type, test.message), []).append(test)
    return list(groups.values())


def _describe_group(group: list[TestResult], detailed: bool) -> str:
    first, others = group[0], group[1:]
    text = _describe_failure(first) if detailed else _headline(first)
    if others:
        ids = ", ".join(test.nodeid for test in others[:MAX_LISTED_IDS])
        more = len(others) - MAX_LISTED_IDS
        text += f"\nThe same error in: {ids}" + (f" and {more} more" if more > 0 else "")
    return text


def format_dodged(verdict: Verdict) -> str | None:
    """The tests a candidate escaped, by name: skipping a test is not passing it."""
    if not verdict.dodged:
        return None
    listed = list(verdict.dodged.items())[:MAX_LISTED_IDS]
    names = ", ".join(f"{nodeid} ({how})" for nodeid, how in listed)
    more = len(verdict.dodged) - len(listed)
    return (
        f"These tests must run and pass, but did not: {names}"
        + (f" and {more} more" if more > 0 else "")
        + ". Skipping, xfailing or stopping a test does not fix it."
    )


def failing_line(result: RunResult, path: str, name: str) -> str | None:
    """The method's own line where the first failure was raised (the deepest frame of `name` in
    `path` in pytest's short traceback); None when no failure passed through the method."""
    frame = re.compile(rf"^{re.escape(path)}:\d+: in {re.escape(name)}$")
    for test in result.failures:
        lines = (test.traceback or "").splitlines()
        found = [lines[i + 1].strip() for i in range(len(lines) - 1) if frame.match(lines[i].strip())]
        if found and found[-1]:
            return found[-1]
    return None


def format_test_output(
    result: RunResult, verdict: Verdict | None = None, *, target: tuple[str, str] | None = None
) -> str:
    """A bounded, model-readable account of why the tests did not pass (and, given the verdict,
    which tests the answer dodged). `target` (path, function name) puts the method's failing
    line first: a small model finds it faster there than deep in a traceback."""
    parts: list[str] = []
    line = failing_line(result, *target) if target is not None else None
    if line:
        parts.append(f"The error is raised in `{target[1]}` at this line: `{line}`")  # type: ignore[index]
    if result.timed_out:
        parts.append("The tests were stopped: they ran past the time limit (an infinite loop?).")
    elif result.killed_reason:
        parts.append(f"The tests were stopped: {result.killed_reason}.")
    elif result.integrity:
        parts.append(f"The test results cannot be trusted: {result.integrity}.")
    elif result.crashed:
        parts.append("The test process crashed before reporting.")
    dodged = format_dodged(verdict) if verdict is not None else None
    if dodged:
        parts.append(dodged)
    parts.extend(f"Collection error: {error.strip()}" for error in result.collection_errors)
    parts.extend(
        _describe_group(group, detailed=index < MAX_DETAILED_ERRORS)
        for index, group in enumerate(_same_error_groups(result.failures))
    )
    parts.append(f"{result.passed_count} passed, {len(result.failures)} failed")
    if not result.tests and not result.collection_errors and result.output.strip():
        parts.append(result.output.strip()[-1000:])
    text = "\n\n".join(parts)
    if len(text) > MAX_FEEDBACK_CHARS:
        text = text[: MAX_FEEDBACK_CHARS - 20].rstrip() + "\n... (truncated)"
    return text


def format_rejection(reason: str) -> str:
    """Feedback for an answer that could not even be tested."""
    return f"The answer could not be tested: {reason}"
