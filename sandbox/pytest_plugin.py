"""pytest plugin loaded inside the sandbox: writes one JSON line per event to a report file.

Standalone on purpose (stdlib + pytest, coverage only when asked): it runs under the
repository's own interpreter, which knows nothing of this project. Lines are flushed as they
happen so a run that is killed half-way still leaves the results it reached.

Environment:
  REPOMEND_SANDBOX_REPORT     path of the JSON-lines report (required)
  REPOMEND_SANDBOX_SELECT     JSON list of requested node ids ("" or absent: keep everything)
  REPOMEND_SANDBOX_COVERAGE   JSON list of repo-relative files to measure per test
  REPOMEND_SANDBOX_MAX_TEXT   bound on each message / traceback in characters
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

_MAX_TEXT = int(os.environ.get("REPOMEND_SANDBOX_MAX_TEXT", "4000"))


def _bounded(text: str | None) -> str | None:
    if text is None or len(text) <= _MAX_TEXT:
        return text
    half = _MAX_TEXT // 2
    return f"{text[:half]}\n... [{len(text) - _MAX_TEXT} characters cut] ...\n{text[-half:]}"


def _matches(nodeid: str, requested: str) -> bool:
    """A request names a test, a parametrisation family, a class or a file."""
    return nodeid == requested or nodeid.startswith(requested + "::") or nodeid.startswith(requested + "[")


class _Report:
    def __init__(self, path: str) -> None:
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives for the session

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class _Coverage:
    """Per-test line coverage through coverage.py dynamic contexts."""

    def __init__(self, files: list[str]) -> None:
        import coverage

        self._root = os.getcwd()
        self._cov = coverage.Coverage(
            data_file=None,
            include=[os.path.join(self._root, f) for f in files],
            config_file=False,
        )
        self._cov.start()

    def switch(self, context: str) -> None:
        self._cov.switch_context(context)

    def finish(self) -> dict[str, dict[str, list[int]]]:
        self._cov.stop()
        data = self._cov.get_data()
        result: dict[str, dict[str, list[int]]] = {}
        for measured in data.measured_files():
            rel = os.path.relpath(measured, self._root)
            for line, contexts in data.contexts_by_lineno(measured).items():
                for context in contexts:
                    if context:
                        result.setdefault(context, {}).setdefault(rel, []).append(line)
        for files in result.values():
            for lines in files.values():
                lines.sort()
        return result


class SandboxPlugin:
    def __init__(self, config: pytest.Config) -> None:
        self._report = _Report(os.environ["REPOMEND_SANDBOX_REPORT"])
        select = os.environ.get("REPOMEND_SANDBOX_SELECT")
        self._requested: list[str] | None = json.loads(select) if select else None
        self._tests: dict[str, dict[str, Any]] = {}
        self._coverage: _Coverage | None = None
        files = os.environ.get("REPOMEND_SANDBOX_COVERAGE")
        if files:
            try:
                self._coverage = _Coverage(json.loads(files))
            except Exception as exc:  # coverage missing or broken: report, keep testing
                self._report.write({"kind": "coverage_error", "message": repr(exc)})

    # collection -----------------------------------------------------------------------
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            text = _bounded(str(report.longrepr))
            self._report.write(
                {"kind": "collection_error", "message": f"{report.nodeid or '<session>'}: {text}"}
            )

    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        if self._requested is None:
            return
        keep = [i for i in items if any(_matches(i.nodeid, r) for r in self._requested)]
        dropped = [i for i in items if i not in keep]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        items[:] = keep
        missing = [r for r in self._requested if not any(_matches(i.nodeid, r) for i in keep)]
        for nodeid in missing:
            self._report.write({"kind": "not_found", "nodeid": nodeid})

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self._report.write({"kind": "collected", "nodeids": [i.nodeid for i in session.items]})

    # running --------------------------------------------------------------------------
    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None):
        if self._coverage is not None:
            self._coverage.switch(item.nodeid)
        yield
        if self._coverage is not None:
            self._coverage.switch("")
        record = self._tests.pop(item.nodeid, None)
        if record is not None:
            self._report.write(record)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]):
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        record = self._tests.setdefault(
            item.nodeid,
            {"kind": "test", "nodeid": item.nodeid, "outcome": "passed", "duration": 0.0},
        )
        record["duration"] += report.duration
        if report.when == "call" and report.passed and hasattr(report, "wasxfail"):
            record["outcome"] = "xpassed"
        elif report.skipped:
            if record["outcome"] == "passed":
                record["outcome"] = "xfailed" if hasattr(report, "wasxfail") else "skipped"
        elif report.failed:
            if report.when == "call":
                record["outcome"] = "failed"
            elif record["outcome"] in ("passed", "skipped", "xfailed", "xpassed"):
                record["outcome"] = "error"
            if call.excinfo is not None and "exception_type" not in record:
                record["exception_type"] = call.excinfo.typename
                record["message"] = _bounded(str(call.excinfo.value))
                record["traceback"] = _bounded(_short_traceback(item, call))
            elif "exception_type" not in record:
                record["message"] = _bounded(str(report.longrepr))
        if report.skipped and "message" not in record and isinstance(report.longrepr, tuple):
            record["message"] = _bounded(str(report.longrepr[2]))

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self._coverage is not None:
            try:
                self._report.write({"kind": "coverage", "data": self._coverage.finish()})
            except Exception as exc:
                self._report.write({"kind": "coverage_error", "message": repr(exc)})
        self._report.write({"kind": "done", "exitstatus": int(exitstatus)})
        self._report.close()


def _short_traceback(item: pytest.Item, call: pytest.CallInfo[None]) -> str:
    """--tb=short rendering with pytest's own frames pruned, whatever the repo's --tb says."""
    excinfo = call.excinfo
    assert excinfo is not None
    try:
        return str(item._repr_failure_py(excinfo, style="short"))  # type: ignore[attr-defined]
    except Exception:
        return str(excinfo.getrepr(style="short"))


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("REPOMEND_SANDBOX_REPORT"):
        config.pluginmanager.register(SandboxPlugin(config), "repomend-sandbox")
