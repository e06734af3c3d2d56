"""Run a repository's tests against candidate code, contained; results come back per test.

Guarantees of ``isolation="strict"`` (the default; `IsolationUnavailable` is raised rather
than ever running unprotected):
  * the original repository is never written: the candidate's files go into a throw-away copy
    that is mounted at the repository's path inside the sandbox;
  * the host filesystem is read-only and mostly invisible: only /usr, a few harmless /etc
    files, the interpreter's prefixes and import path, the repository's venv/.git (read-only)
    and private size-capped tmpfs for /tmp, /dev/shm and $HOME exist inside, so files
    elsewhere (secrets under $HOME or /tmp) cannot be read;
  * no network: a private network namespace with only its own loopback;
  * a wall-clock limit that kills the whole process tree (PID namespace + cgroup), including
    children that called setsid or double-forked; nothing outlives the run;
  * per-process address space (RLIMIT_AS), total memory (memory cgroup, where available),
    process count (cgroup pids controller), file size (RLIMIT_FSIZE) and captured output
    (killed beyond the limit) are bounded;
  * the run cannot signal the runner (separate PID namespace).
System requirements: bubblewrap (`apt-get install bubblewrap`), working user/network/PID
namespaces and a writable cgroup pids controller; `check_isolation()` lists what is missing.

``isolation="none"`` is the explicit opt-out for trusted code: still a throw-away copy and
rlimits, and a process-group kill, but no namespaces (a setsid child can survive it, and an
editable install of the repository still imports the original files).

Integrity of the results (both modes): the per-test records come back through
`sandbox.channel` (a descriptor with no path, an HMAC under a per-run key), and they count only
when complete and consistent with what the supervisor sees from outside: the process's own exit
status equals the one the plugin reported in its `done` record, every collected test has exactly
one report and the count matches, and pytest's own exit status and summary line agree with the
outcomes. Anything else sets `RunResult.integrity` and `crashed`. Test module functions and
builtins replaced while the tests ran are listed in `RunResult.replaced` (the verdict compares
them with the reference run's, where a fixture may replace things on purpose). In strict
isolation the repository's test files and conftest.py files are read-only inside the sandbox, so
a candidate cannot rewrite or remove the tests that judge it.

Not guaranteed: the candidate runs in the same process as pytest; code that reaches pytest's
objects in memory (through `gc`, frames, `sys.modules`) could still change what pytest reports.
That is why candidates are screened before they run (`repomend.contract.screen`) and a fix is run a
second time in a fresh sandbox. CPU time is not limited beyond the wall clock.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sandbox import cgroups, isolation
from sandbox.channel import Channel, Received
from sandbox.interpreter import Interpreter, own_coverage_package, probe
from sandbox.isolation import IsolationUnavailable, check_isolation
from sandbox.limits import Limits
from sandbox.process import Finished, launch, rlimit_prefix, watch
from sandbox.results import CollectResult, RunResult, TestResult
from sandbox.workspace import apply_overrides, copy_repository, test_files

__all__ = [
    "IsolationUnavailable",
    "Limits",
    "check_interpreter",
    "check_isolation",
    "collect_tests",
    "run_tests",
]

Isolation = Literal["strict", "none"]
START_FAILURE = "the interpreter could not start pytest in the sandbox"
"""How `RunResult.integrity` begins when not even the plugin started (see RunResult.start_failure)."""
PLUGIN_MODULE = "_repomend_sandbox_plugin"
PLUGIN_SOURCE = Path(__file__).with_name("pytest_plugin.py")
OUTCOMES = frozenset({"passed", "failed", "error", "skipped", "xfailed", "xpassed"})
PYTEST_OPTIONS = (
    "-p", PLUGIN_MODULE, "-p", "no:cacheprovider", "-q", "--tb=no", "--no-header",
    "--continue-on-collection-errors", "-W", "ignore::pytest.PytestAssertRewriteWarning",
)  # fmt: skip


def run_tests(
    repo: Path,
    test_ids: Sequence[str],
    *,
    python: str | Path,
    overrides: Mapping[str, str] | None = None,
    limits: Limits = Limits(),  # noqa: B008 - frozen dataclass, safe as a default
    isolation: Literal["strict", "none"] = "strict",
    coverage_include: Sequence[str] | None = None,
) -> RunResult:
    """Run `test_ids` (node ids relative to the repo root; empty = the repo's whole suite)."""
    with _Session(repo, python, isolation, overrides or {}) as session:
        select = list(dict.fromkeys(test_ids))
        paths, missing = session.paths_for(select)
        coverage_error = None
        if coverage_include:
            coverage_error = session.lend_coverage()
        env = run_environment(select, coverage_include if coverage_error is None else None)
        if select and not paths:
            finished, received = Finished(None, "", 0.0), Received()
        else:
            finished, received = session.run_pytest([*PYTEST_OPTIONS, *paths], env, limits)
    return run_result(
        finished, received, ran=bool(paths), missing=missing,
        coverage_include=coverage_include, coverage_error=coverage_error,
    )  # fmt: skip


def run_environment(select: list[str], coverage: Sequence[str] | None) -> dict[str, str]:
    """What the plugin inside the sandbox reads: the selection and the files to measure."""
    env = {"REPOMEND_SANDBOX_SELECT": json.dumps(select) if select else ""}
    if coverage:
        env["REPOMEND_SANDBOX_COVERAGE"] = json.dumps(list(coverage))
    return env


def run_result(
    finished: Finished,
    received: Received,
    *,
    ran: bool,
    missing: list[str],
    coverage_include: Sequence[str] | None,
    coverage_error: str | None,
) -> RunResult:
    """Fold what the supervisor saw and the plugin's records into one RunResult."""
    parsed = _Parsed.from_records(received.records)
    integrity = integrity_problem(received, parsed, finished) if ran else None
    not_found = missing + [n for n in parsed.not_found if n not in missing]
    if coverage_include and coverage_error is None:
        coverage_error = parsed.coverage_error or (
            None if parsed.coverage is not None else "the run ended before coverage was saved"
        )
    return RunResult(
        tests=parsed.tests,
        timed_out=finished.timed_out,
        crashed=ran and (integrity is not None or not parsed.done) and not finished.timed_out,
        exit_code=finished.exit_code,
        collection_errors=parsed.collection_errors + [f"not found: {n}" for n in not_found],
        output=finished.output,
        duration=finished.duration,
        killed_reason=finished.killed_reason,
        not_found=not_found,
        coverage=parsed.coverage if coverage_include and coverage_error is None else None,
        coverage_error=coverage_error,
        collected=parsed.collected,
        marked=parsed.marked,
        not_run=[n for n in parsed.collected if n not in {t.nodeid for t in parsed.tests}],
        integrity=integrity,
        replaced=parsed.tampered,
    )


def integrity_problem(received: Received, parsed: _Parsed, finished: Finished) -> str | None:
    """Why the records cannot be trusted as the run's own account; None when they can.

    A run stopped by a limit is judged by that limit: its records are cut short by design."""
    if finished.timed_out or finished.killed_reason:
        return None
    if received.problem is not None:
        return received.problem
    if not received.records:
        last = next((line for line in reversed(finished.output.splitlines()) if line.strip()), "no output")
        return f"{START_FAILURE} (exit status {finished.exit_code}): {last.strip()[:300]}"
    if not parsed.done:
        return f"the test process ended (exit status {finished.exit_code}) without its done record"
    if parsed.exit_code != finished.exit_code:
        return (
            f"pytest reported exit status {parsed.exit_code} but its process exited with {finished.exit_code}"
        )
    if parsed.reports != parsed.test_records:
        return f"{parsed.test_records} test reports arrived, the plugin counted {parsed.reports}"
    if parsed.duplicates:
        return f"a test was reported twice: {parsed.duplicates[0]}"
    collected = set(parsed.collected)
    strays = [t.nodeid for t in parsed.tests if t.nodeid not in collected]
    if strays:
        return f"a report for a test that was not collected: {strays[0]}"
    return _disagreement(parsed, finished.output)


SUMMARY = re.compile(r"^=*\s*((?:\d+ \w+(?:, )?)+) in [\d.]+s", re.MULTILINE)


def _disagreement(parsed: _Parsed, output: str) -> str | None:
    """Where the records contradict pytest's own bookkeeping: its exit status (1 only when a test
    failed or a file did not collect) and the counts of its last summary line, when printed."""
    failing = sum(1 for t in parsed.tests if t.outcome in ("failed", "error"))
    broken = failing + len(parsed.collection_errors)
    if parsed.exit_code == 0 and broken:
        return f"pytest exited 0 although {broken} test(s) failed or did not collect"
    if parsed.exit_code == 1 and not broken:
        return "pytest says tests failed, but every record says otherwise"
    found = SUMMARY.findall(output)
    if found:
        counts = {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", found[-1])}
        said = counts.get("passed", 0)
        recorded = sum(1 for t in parsed.tests if t.outcome == "passed")
        if recorded > said:
            return f"pytest's summary counts {said} passed test(s), the records {recorded}"
    return None


def check_interpreter(
    repo: Path,
    *,
    python: str | Path,
    limits: Limits = Limits(),  # noqa: B008 - frozen dataclass, safe as a default
    isolation: Literal["strict", "none"] = "strict",
) -> str | None:
    """One line saying why `python` cannot run pytest inside the sandbox, or None when it can.

    Cheap (one start of the interpreter), so callers ask before anything slow: a model."""
    with _Session(repo, python, isolation, {}) as session:
        start = time.monotonic()
        proc, group = session.launch(["-c", "import pytest"], {}, limits)
        try:
            finished = watch(proc, limits=limits, group=group, start=start)
        finally:
            if group is not None:
                group.remove()
    if finished.exit_code == 0:
        return None
    last = next((line for line in reversed(finished.output.splitlines()) if line.strip()), "no output")
    return f"the interpreter {python} cannot run pytest in the sandbox: {last.strip()[:300]}"


def collect_tests(
    repo: Path,
    *,
    python: str | Path,
    paths: Sequence[str] = (),
    limits: Limits = Limits(),  # noqa: B008 - frozen dataclass, safe as a default
    isolation: Literal["strict", "none"] = "strict",
) -> CollectResult:
    """Node ids of the repository's tests (under `paths`, default: its configured suite)."""
    with _Session(repo, python, isolation, {}) as session:
        finished, received = session.run_pytest([*PYTEST_OPTIONS, "--collect-only", *paths], {}, limits)
        parsed = _Parsed.from_records(received.records)
    integrity = integrity_problem(received, parsed, finished)
    return CollectResult(
        node_ids=parsed.collected,
        collection_errors=parsed.collection_errors,
        timed_out=finished.timed_out,
        crashed=integrity is not None and not finished.timed_out,
        exit_code=finished.exit_code,
        output=finished.output,
        duration=finished.duration,
        killed_reason=finished.killed_reason,
    )


class _Session:
    """One throw-away workspace: the copy and the plugin; removed on exit."""

    def __init__(self, repo: Path, python: str | Path, mode: Isolation, overrides: Mapping[str, str]) -> None:
        if mode not in ("strict", "none"):
            raise ValueError(f"isolation must be 'strict' or 'none', not {mode!r}")
        if mode == "strict":
            isolation.require_isolation()
        self.mode = mode
        self.repo = Path(repo).resolve()
        if not self.repo.is_dir():
            raise FileNotFoundError(f"repository not found: {repo}")
        self.interpreter: Interpreter = probe(python)
        self.overrides = overrides
        self.extra_readable: list[str] = []
        self.channel: Channel | None = None

    def __enter__(self) -> _Session:
        self.tmp = Path(tempfile.mkdtemp(prefix="repomend-sandbox-"))
        try:
            self.workspace = copy_repository(self.repo, self.tmp / "repo")
            apply_overrides(self.workspace.root, self.overrides)
            self.support = self.tmp / "support"
            self.support.mkdir()
            shutil.copyfile(PLUGIN_SOURCE, self.support / f"{PLUGIN_MODULE}.py")
        except BaseException:
            _remove_tree(self.tmp)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.channel is not None:
            self.channel.close()
        _remove_tree(self.tmp)

    def paths_for(self, test_ids: Sequence[str]) -> tuple[list[str], list[str]]:
        """Files to hand to pytest, and requested ids whose file does not exist in the copy."""
        paths: list[str] = []
        missing: list[str] = []
        for nodeid in test_ids:
            path = nodeid.split("::", 1)[0]
            unsafe = not path or os.path.isabs(path) or ".." in Path(path).parts
            if unsafe or not (self.workspace.root / path).exists():
                missing.append(nodeid)
            elif path not in paths:
                paths.append(path)
        return paths, missing

    def lend_coverage(self) -> str | None:
        """Make coverage importable for the repository's interpreter; the reason if not."""
        package, reason = own_coverage_package(self.interpreter)
        if package is not None:
            (self.support / "coverage").symlink_to(package, target_is_directory=True)
            self.extra_readable.append(str(package))
        return reason

    def run_pytest(
        self, args: list[str], extra_env: Mapping[str, str], limits: Limits
    ) -> tuple[Finished, Received]:
        start = time.monotonic()
        proc, group = self.launch(["-m", "pytest", *args], extra_env, limits)
        try:
            finished = watch(proc, limits=limits, group=group, start=start)
        finally:
            if group is not None:
                group.remove()
        return finished, self.records()

    def launch(
        self,
        python_args: list[str],
        extra_env: Mapping[str, str],
        limits: Limits,
        *,
        stdin: int = subprocess.DEVNULL,
    ) -> tuple[subprocess.Popen[bytes], cgroups.RunGroup | None]:
        """Start the repository's interpreter with `python_args` in this workspace's sandbox, with
        a fresh results channel; the caller supervises it and removes the group."""
        strict = self.mode == "strict"
        if self.channel is not None:
            self.channel.close()
        self.channel = channel = Channel()
        support = isolation.INSIDE_SUPPORT if strict else str(self.support)
        home = _host_home() if strict else str(self.tmp / "home")
        python_bin = str(Path(self.interpreter.path).parent)
        env = {
            "PATH": f"{python_bin}:/usr/local/bin:/usr/bin:/bin",
            "HOME": home,
            "TMPDIR": "/tmp" if strict else str(self.tmp),
            "LANG": "C.UTF-8",
            "PYTHONPATH": support,
            "PYTHONNOUSERSITE": "1",
            "PY_COLORS": "0",
            **channel.environment(),
            **extra_env,
        }
        command = [self.interpreter.path, *python_args]
        if not strict:
            Path(home).mkdir(exist_ok=True)
            argv = [*rlimit_prefix(limits), *command]
            cwd = str(self.workspace.root)
            proc = launch(argv, env=env, cwd=cwd, group=None, stdin=stdin, pass_fds=channel.pass_fds)
            channel.handed_over()
            return proc, None
        group = cgroups.create(limits.max_processes, limits.memory_mb)
        argv = isolation.bwrap_argv(
            repo=str(self.repo),
            copy=str(self.workspace.root),
            shared=self.workspace.shared,
            readable=[*self.interpreter.readable_paths(), *self.extra_readable],
            support=str(self.support),
            home=home,
            tmp_bytes=limits.file_size_mb * 1024 * 1024,
            protected=test_files(self.workspace.root),
        )
        argv = [*rlimit_prefix(limits), *argv, "--", *command]
        try:
            proc = launch(
                argv, env=env, cwd=str(self.tmp), group=group, stdin=stdin, pass_fds=channel.pass_fds
            )
        except BaseException:
            group.remove()
            raise
        channel.handed_over()
        return proc, group

    def records(self) -> Received:
        """What the plugin reported so far, authenticated."""
        return self.channel.receive() if self.channel is not None else Received()


@dataclass
class _Parsed:
    tests: list[TestResult] = field(default_factory=list)
    collected: list[str] = field(default_factory=list)
    collection_errors: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)
    coverage: dict[str, dict[str, list[int]]] | None = None
    coverage_error: str | None = None
    done: bool = False
    exit_code: int | None = None
    marked: dict[str, str] = field(default_factory=dict)
    reports: int = 0
    """Test reports the plugin says it wrote (from its done record)."""
    test_records: int = 0
    duplicates: list[str] = field(default_factory=list)
    tampered: list[str] = field(default_factory=list)

    @classmethod
    def from_records(cls, records: list[dict]) -> _Parsed:
        parsed = cls()
        by_id: dict[str, TestResult] = {}
        for record in records:
            kind = record.get("kind")
            if kind == "test" and record.get("outcome") in OUTCOMES:
                parsed.test_records += 1
                if str(record["nodeid"]) in by_id:
                    parsed.duplicates.append(str(record["nodeid"]))
                by_id[str(record["nodeid"])] = TestResult(
                    nodeid=str(record["nodeid"]),
                    outcome=record["outcome"],
                    duration=float(record.get("duration") or 0.0),
                    exception_type=record.get("exception_type"),
                    message=record.get("message"),
                    traceback=record.get("traceback"),
                )
            elif kind == "collection_error":
                parsed.collection_errors.append(str(record.get("message")))
            elif kind == "not_found":
                parsed.not_found.append(str(record.get("nodeid")))
            elif kind == "collected":
                parsed.collected = [str(n) for n in record.get("nodeids", [])]
                parsed.marked = {str(k): str(v) for k, v in (record.get("marked") or {}).items()}
            elif kind == "tampered":
                parsed.tampered.extend(str(name) for name in record.get("replaced", []))
            elif kind == "coverage":
                parsed.coverage = record.get("data")
            elif kind == "coverage_error":
                parsed.coverage_error = f"coverage failed inside the sandbox: {record['message']}"
            elif kind == "done":
                parsed.done, parsed.exit_code = True, int(record.get("exitstatus", -1))
                parsed.reports = int(record.get("reports", -1))
        parsed.tests = list(by_id.values())
        return parsed


def _host_home() -> str:
    home = os.environ.get("HOME") or os.path.expanduser("~")
    return os.path.realpath(home) if home and home != "/" else "/tmp/home"


def _remove_tree(path: Path) -> None:
    """Remove the workspace even if the run chmod-ed parts of it unreadable."""

    def make_writable(function, target, _exc) -> None:  # type: ignore[no-untyped-def]
        try:
            parent = os.path.dirname(target)
            os.chmod(parent, stat.S_IRWXU)
            if os.path.isdir(target) and not os.path.islink(target):
                os.chmod(target, stat.S_IRWXU)
            function(target)
        except OSError:
            pass

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=make_writable)
    else:
        shutil.rmtree(path, onerror=make_writable)
