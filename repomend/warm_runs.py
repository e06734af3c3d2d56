"""The test runner of one repair: a warm sandbox whose start-up overlaps the model's writing.

A repair runs the tests up to 1 + turns × samples times within seconds; a cold sandbox pays about
a second of copying and interpreter start-up each time. `WarmTestRunner` starts a spare sandbox
(`sandbox.WarmRunner`) at the first run and again after every run, while the model is busy with
the next answer. It lives for one repair only: the spare's copy of the repository is taken when
it starts, so a runner kept across repairs would test against files the user has changed since.
The second opinion on a fix is always a cold sandbox (`confirm`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from repomend.loop import TestRunner, sandbox_test_runner
from repomend.settings import Settings

if TYPE_CHECKING:
    from sandbox.results import RunResult
    from sandbox.warm import WarmRunner


class WarmTestRunner:
    """A `TestRunner` for one repair; `close()` (or the context manager) ends its spare sandbox."""

    __test__ = False

    def __init__(self, settings: Settings, python: str | Path) -> None:
        self._settings = settings
        self._python = python
        self._warm: dict[Path, WarmRunner] = {}
        self._lock = threading.Lock()
        self.confirm: TestRunner = sandbox_test_runner(settings, python)

    def __call__(self, repo: Path, test_ids: Sequence[str], *, overrides: Mapping[str, str]) -> RunResult:
        return self._runner(Path(repo)).run(test_ids, overrides)

    def _runner(self, repo: Path) -> WarmRunner:
        from sandbox.warm import WarmRunner

        with self._lock:
            if repo not in self._warm:
                self._warm[repo] = WarmRunner(
                    repo,
                    python=self._python,
                    limits=self._settings.sandbox.limits(),
                    isolation=self._settings.sandbox.isolation,
                )
            return self._warm[repo]

    def close(self) -> None:
        with self._lock:
            runners, self._warm = list(self._warm.values()), {}
        for runner in runners:
            runner.close()

    def __enter__(self) -> WarmTestRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
