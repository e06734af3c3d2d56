"""Find the tests that judge a method: per-test coverage first, a naming convention as fallback."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from repomend.settings import Settings
from repomend.source import Method


class DiscoveryError(ValueError):
    """No usable tests; the message says what to do."""


@dataclass(frozen=True)
class DiscoveredTests:
    ids: list[str]
    how: Literal["given", "coverage", "naming"]
    detail: str


DISCOVERY_WALL_FACTOR = 5
"""Running the whole suite under coverage may take longer than one candidate's run."""


def _test_name(nodeid: str) -> str:
    return re.sub(r"\[.*\]$", "", nodeid.rsplit("::", 1)[-1]).lower()


def name_matched_tests(nodeids: Sequence[str], method: Method) -> list[str]:
    """Tests whose name mentions the method: `test_mean`, `test_mean_of_one_value`, `TestX::test_mean`."""
    name = method.name.lower().strip("_")
    words = re.compile(rf"(^|_){re.escape(name)}(_|$)")
    return [nodeid for nodeid in nodeids if words.search(_test_name(nodeid).removeprefix("test"))]


def covering_tests(
    coverage: dict[str, dict[str, list[int]]], path: str, method: Method, order: Sequence[str]
) -> list[str]:
    """Tests that executed at least one line of the method's body."""
    body = set(range(method.body_start_line + 1, method.end_line + 2))
    hits = {nodeid for nodeid, files in coverage.items() if body & set(files.get(path, ()))}
    return [nodeid for nodeid in order if nodeid in hits]


def collect_node_ids(
    repo: Path, python: str | Path, settings: Settings, paths: Sequence[str] = ()
) -> list[str]:
    """The suite's node ids; DiscoveryError when it does not collect."""
    from sandbox.runner import collect_tests

    collected = collect_tests(
        repo,
        python=python,
        paths=paths,
        limits=settings.sandbox.limits(),
        isolation=settings.sandbox.isolation,
    )
    if collected.collection_errors:
        lines = collected.collection_errors[0].strip().splitlines()
        raise DiscoveryError(
            f"the repository's tests do not collect: {lines[-1] if lines else 'unknown error'}"
        )
    if collected.timed_out or collected.crashed:
        why = collected.killed_reason or ("timed out" if collected.timed_out else "crashed")
        raise DiscoveryError(f"collecting the repository's tests failed ({why})")
    return collected.node_ids


def check_given_tests(
    repo: Path, tests: Sequence[str], *, python: str | Path, settings: Settings
) -> DiscoveredTests:
    """Tests named by the user must exist and collect; a typo should not cost five model turns."""
    files = sorted({nodeid.split("::", 1)[0] for nodeid in tests})
    known = set(collect_node_ids(repo, python, settings, files))
    missing = [
        nodeid
        for nodeid in tests
        if nodeid not in files and not any(k == nodeid or k.startswith(nodeid + "[") for k in known)
    ]
    if missing:
        raise DiscoveryError(f"no such test: {missing[0]}")
    return DiscoveredTests(list(tests), "given", f"{len(tests)} test(s) given")


def discover_tests(
    repo: Path,
    path: str,
    method: Method,
    *,
    python: str | Path,
    settings: Settings,
    source: str | None = None,
) -> DiscoveredTests:
    """Collect the suite, run it once under per-test coverage, keep the tests that run the method."""
    from sandbox.runner import run_tests

    overrides = {path: source} if source is not None else {}
    nodeids = collect_node_ids(repo, python, settings)
    if not nodeids:
        raise DiscoveryError(f"no tests found in {repo}; pass them with --tests")
    run = run_tests(
        repo,
        nodeids,
        python=python,
        overrides=overrides,
        limits=settings.sandbox.limits(DISCOVERY_WALL_FACTOR),
        isolation=settings.sandbox.isolation,
        coverage_include=[path],
    )
    if run.coverage is not None:
        ids = covering_tests(run.coverage, path, method, nodeids)
        if ids:
            return DiscoveredTests(ids, "coverage", f"{len(ids)} test(s) execute `{method.qualname}`")
        reason = f"no test executes `{method.qualname}`"
    else:
        reason = run.coverage_error or "coverage unavailable"
    ids = name_matched_tests(nodeids, method)
    if ids:
        return DiscoveredTests(ids, "naming", f"{reason}; {len(ids)} test(s) named after it")
    raise DiscoveryError(f"no tests found for `{method.qualname}` ({reason}); pass them with --tests")
