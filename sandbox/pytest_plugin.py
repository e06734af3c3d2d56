"""pytest plugin loaded inside the sandbox: reports one authenticated record per event.

Standalone on purpose (stdlib + pytest, coverage only when asked): it runs under the
repository's own interpreter, which knows nothing of this project. Records are written as they
happen so a run that is killed half-way still leaves the results it reached.

The records go to the results channel (see `sandbox.channel` for the format): a descriptor with
no path and a per-run key, both taken over while this module is imported, before any of the
repository's modules are. After `pytest_configure` this module keeps neither (it even leaves
`sys.modules`): the plugin object alone can sign, and a fresh import of the module gets nothing.

Beyond the outcomes it records what the supervisor needs to cross-check them: the collected ids
with their static skip / xfail marks, the number of test reports, a `done` record with the
session's exit status, and `tampered` when a test module's functions or the builtins were
replaced while the tests ran.

Environment:
  REPOMEND_SANDBOX_CHANNEL    "<key fd>,<results fd>" (required; removed on import)
  REPOMEND_SANDBOX_SELECT     JSON list of requested node ids ("" or absent: keep everything)
  REPOMEND_SANDBOX_COVERAGE   JSON list of repo-relative files to measure per test
  REPOMEND_SANDBOX_MAX_TEXT   bound on each message / traceback in characters
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import json
import os
import sys
from collections.abc import Callable
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


def _open_channel() -> Callable[[dict[str, Any]], None] | None:
    """Take the key and the results descriptor over; the writer closes over both, nothing else
    holds them. None when no channel was given (the plugin then stays inert)."""
    spec = os.environ.pop("REPOMEND_SANDBOX_CHANNEL", "")
    if not spec:
        return None
    key_fd, results_fd = (int(part) for part in spec.split(","))
    chunks = []
    while chunk := os.read(key_fd, 4096):
        chunks.append(chunk)
    os.close(key_fd)
    mac = hmac.new(bytes.fromhex(b"".join(chunks).decode()), digestmod=hashlib.sha256)
    del chunks
    write, dumps, copy = os.write, json.dumps, mac.copy
    seq = [0]

    def send(record: dict[str, Any]) -> None:
        body = dumps({**record, "seq": seq[0]}).encode()
        signer = copy()
        signer.update(str(seq[0]).encode() + b":" + body)
        line = signer.hexdigest().encode() + b" " + body + b"\n"
        while line:
            line = line[write(results_fd, line) :]
        seq[0] += 1

    return send


_send = _open_channel()


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


class _Snapshot:
    """Who the test modules' functions and classes (and those of the repository modules they
    name) and the builtins are at collection; replaced ones are named after each test."""

    def __init__(self, items: list[pytest.Item], root: str) -> None:
        self._watched: list[tuple[str, Any, dict[str, int]]] = [("builtins", builtins, _identities(builtins))]
        seen: set[int] = {id(builtins)}
        for item in items:
            module = getattr(item, "module", None)
            if module is None or id(module) in seen:
                continue
            seen.add(id(module))
            self._watched.append((module.__name__, module, _identities(module)))
            for value in list(vars(module).values()):
                origin = getattr(value, "__file__", None) if isinstance(value, type(sys)) else None
                if origin and id(value) not in seen and _own(os.path.realpath(origin), root):
                    seen.add(id(value))
                    self._watched.append((value.__name__, value, _identities(value)))

    def replaced(self) -> list[str]:
        found = []
        for name, module, identities in self._watched:
            namespace = vars(module)
            for attr, ident in identities.items():
                if id(namespace.get(attr)) != ident:
                    found.append(f"{name}.{attr}")
        return found


def _own(path: str, root: str) -> bool:
    """A module of the repository itself, not of an environment kept inside it."""
    return path.startswith(root + os.sep) and "site-packages" not in path.split(os.sep)


def _identities(module: Any) -> dict[str, int]:
    return {
        name: id(value)
        for name, value in list(vars(module).items())
        if callable(value) and not name.startswith("__")
    }


def _static_mark(item: pytest.Item) -> str | None:
    """'skip' / 'xfail' when the test's own marks (conditions evaluated) say so before it runs."""
    try:
        from _pytest.skipping import evaluate_skip_marks, evaluate_xfail_marks

        if evaluate_skip_marks(item) is not None:
            return "skip"
        if evaluate_xfail_marks(item) is not None:
            return "xfail"
    except Exception:
        return None
    return None


class _Report:
    def __init__(self, send: Callable[[dict[str, Any]], None]) -> None:
        self._send = send
        self.tests = 0

    def write(self, record: dict[str, Any]) -> None:
        if record.get("kind") == "test":
            self.tests += 1
        self._send(record)


class SandboxPlugin:
    def __init__(self, config: pytest.Config, send: Callable[[dict[str, Any]], None]) -> None:
        self._report = _Report(send)
        self._snapshot: _Snapshot | None = None
        self._tampered: set[str] = set()
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
        marked = {i.nodeid: mark for i in session.items if (mark := _static_mark(i)) is not None}
        self._report.write(
            {"kind": "collected", "nodeids": [i.nodeid for i in session.items], "marked": marked}
        )
        self._snapshot = _Snapshot(session.items, os.path.realpath(str(session.config.rootpath)))

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
        if self._snapshot is not None:
            replaced = [name for name in self._snapshot.replaced() if name not in self._tampered]
            if replaced:
                self._tampered.update(replaced)
                self._report.write({"kind": "tampered", "nodeid": item.nodeid, "replaced": replaced})

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

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self._coverage is not None:
            try:
                self._report.write({"kind": "coverage", "data": self._coverage.finish()})
            except Exception as exc:
                self._report.write({"kind": "coverage_error", "message": repr(exc)})
        status = int(session.exitstatus)
        self._report.write({"kind": "done", "exitstatus": status, "reports": self._report.tests})


def _short_traceback(item: pytest.Item, call: pytest.CallInfo[None]) -> str:
    """--tb=short rendering with pytest's own frames pruned, whatever the repo's --tb says."""
    excinfo = call.excinfo
    assert excinfo is not None
    try:
        return str(item._repr_failure_py(excinfo, style="short"))  # type: ignore[attr-defined]
    except Exception:
        return str(excinfo.getrepr(style="short"))


def pytest_configure(config: pytest.Config) -> None:
    global _send
    send, _send = _send, None
    sys.modules.pop(__name__, None)
    if send is not None:
        send({"kind": "started"})
        config.pluginmanager.register(SandboxPlugin(config, send), "repomend-sandbox")
