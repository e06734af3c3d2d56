"""Turn sandbox results into the TEST_RESULT text of the iteration prompt.

Part of the train/serve contract: training trajectories and live repairs feed the model the
same rendering of the same structured results.
"""

from __future__ import annotations

from sandbox.results import RunResult, TestResult

MAX_FEEDBACK_CHARS = 3000
MAX_TRACEBACK_LINES = 12


def _describe_failure(test: TestResult) -> str:
    headline = f"{test.nodeid} {test.outcome.upper()}"
    if test.exception_type or test.message:
        detail = ": ".join(part for part in (test.exception_type, test.message) if part)
        headline += f" - {detail}"
    lines = [headline]
    if test.traceback:
        lines.extend(test.traceback.rstrip().splitlines()[-MAX_TRACEBACK_LINES:])
    return "\n".join(lines)


def format_test_output(result: RunResult) -> str:
    """A bounded, model-readable account of why the tests did not pass."""
    parts: list[str] = []
    if result.timed_out:
        parts.append("The tests were stopped: they ran past the time limit (an infinite loop?).")
    elif result.killed_reason:
        parts.append(f"The tests were stopped: {result.killed_reason}.")
    elif result.crashed:
        parts.append("The test process crashed before reporting.")
    parts.extend(f"Collection error: {error.strip()}" for error in result.collection_errors)
    parts.extend(_describe_failure(test) for test in result.failures)
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
