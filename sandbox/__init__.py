"""Run untrusted candidate code against a repository's tests, contained.

See `sandbox.runner` for what the sandbox guarantees and what it needs from the system.
"""

from sandbox.limits import Limits
from sandbox.results import CollectResult, RunResult, TestResult
from sandbox.runner import (
    IsolationUnavailable,
    check_interpreter,
    check_isolation,
    collect_tests,
    run_tests,
)
from sandbox.warm import WarmRunner

__all__ = [
    "CollectResult",
    "IsolationUnavailable",
    "Limits",
    "RunResult",
    "TestResult",
    "WarmRunner",
    "check_interpreter",
    "check_isolation",
    "collect_tests",
    "run_tests",
]
