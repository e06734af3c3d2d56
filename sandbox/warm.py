"""Warm sandboxed runs: the start-up of the next run is paid while the caller is busy elsewhere.

A cold `run_tests` spends about a second copying the repository, starting bubblewrap, starting
the interpreter and importing pytest, against tens of milliseconds of testing. `WarmRunner`
keeps one *spare* sandbox ready: its own throw-away copy, its own cgroup, bwrap started and the
interpreter blocked on a pipe with pytest and the result plugin imported, but none of the
repository's modules (the candidate is about to change them). A run writes the candidate's
files into the spare's copy, sends the test selection down the pipe, and supervises it exactly
like a cold run: the wall clock starts at that moment, the whole tree is killed on a limit,
output is capped. Each spare serves one run and is then destroyed; the next one is started in
the background. Nothing is shared between candidates, so the guarantees of `sandbox.runner`
hold unchanged, and so do those of the results channel: each spare has its own key, which its
plugin takes over while the spare starts, before any repository module is imported.

Differences from a cold run, by construction: pytest and its dependencies are imported from
the original files (a candidate file that shadows one of them is not picked up), and
`sys.argv[0]` names pytest's ``__main__`` without ``-m``.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from sandbox import cgroups
from sandbox.channel import Received
from sandbox.limits import Limits
from sandbox.process import Finished, kill_tree, watch
from sandbox.results import RunResult
from sandbox.runner import (
    PYTEST_OPTIONS,
    Isolation,
    _Session,
    run_environment,
    run_result,
)
from sandbox.workspace import apply_overrides

__all__ = ["WarmRunner"]

# Runs inside the sandbox. The working directory (the repository) stays off sys.path until the
# order arrives, so importing pytest cannot import any of the repository's modules.
BOOTSTRAP = """\
import importlib, json, os, sys
_path = [os.getcwd() if p == "" else p for p in sys.path]
sys.path[:] = [p for p in _path if p != os.getcwd()]
import pytest, _pytest.config
for _name in (*_pytest.config.essential_plugins, *_pytest.config.default_plugins):
    try:
        importlib.import_module("_pytest." + _name)
    except ImportError:
        pass
import _repomend_sandbox_plugin
import importlib.metadata, importlib.util
_here = os.path.realpath(os.getcwd())
def _outside(spec):
    places = [spec.origin or "", *(spec.submodule_search_locations or [])]
    return all(not os.path.realpath(p).startswith(_here + os.sep) for p in places if p)
def _load(name):
    try:
        _spec = importlib.util.find_spec(name.split(".")[0])
        if _spec is not None and _outside(_spec):
            importlib.import_module(name)
    except Exception:
        pass
for _dist in importlib.metadata.distributions():
    _entries = [e.module for e in _dist.entry_points if e.group == "pytest11"]
    if _entries:
        _tops = [f.parts[0] for f in _dist.files or () if f.parts[-1] == "__init__.py"
                 and len(f.parts) == 2 or len(f.parts) == 1 and f.suffix == ".py"]
        for _name in (*_entries, *(t.removesuffix(".py") for t in _tops)):
            _load(_name)
for _name in ("pdb", "faulthandler", "_pytest._argcomplete"):
    _load(_name)
import gc
gc.collect()
gc.freeze()  # the preloaded modules: pytest's own gc.collect() calls need not walk them again
_line = sys.stdin.readline()
if not _line:
    sys.exit(125)
_order = json.loads(_line)
_null = os.open(os.devnull, os.O_RDONLY)
os.dup2(_null, 0)
os.close(_null)
os.environ.update(_order["env"])
sys.path[:] = _path
sys.argv = [os.path.join(os.path.dirname(pytest.__file__), "__main__.py"), *_order["args"]]
sys.exit(pytest.main(_order["args"]))
"""


class _Spare:
    """One started, waiting sandbox; serves a single run and is then destroyed."""

    def __init__(
        self, repo: Path, python: str | Path, mode: Isolation, limits: Limits, coverage: bool
    ) -> None:
        self.coverage = coverage
        self.session = _Session(repo, python, mode, {}).__enter__()
        self.proc: subprocess.Popen[bytes] | None = None
        self.group: cgroups.RunGroup | None = None
        try:
            self.coverage_error = self.session.lend_coverage() if coverage else None
            self.proc, self.group = self.session.launch(["-c", BOOTSTRAP], {}, limits, stdin=subprocess.PIPE)
        except BaseException:
            self.close()
            raise

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def close(self) -> None:
        """Kill whatever is left of the sandbox and remove its copy and groups."""
        if self.proc is not None:
            if self.proc.poll() is None:
                kill_tree(self.proc, self.group)
            self.proc.wait()
            for stream in (self.proc.stdin, self.proc.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        if self.group is not None:
            self.group.remove()
        self.session.__exit__(None, None, None)


class WarmRunner:
    """`run_tests` for many candidates against one repository, with the start-up hidden.

    Thread-safe; runs are served one at a time. Use as a context manager or call `close()`,
    which kills the spare and removes its workspace and groups.
    """

    def __init__(
        self,
        repo: Path,
        *,
        python: str | Path,
        limits: Limits = Limits(),  # noqa: B008 - frozen dataclass, safe as a default
        isolation: Isolation = "strict",
    ) -> None:
        self._repo = Path(repo)
        self._python = python
        self._limits = limits
        self._mode = isolation
        # Checks the arguments (isolation available, repository and interpreter exist) now.
        _Session(self._repo, python, isolation, {})
        # Spares are always started from this one long-lived thread: bwrap --die-with-parent
        # kills the sandbox when the thread that started it ends.
        self._starter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-spare")
        self._lock = threading.Lock()
        self._closed = False
        self._next: Future[_Spare] | None = self._start(coverage=False)

    def __enter__(self) -> WarmRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(
        self,
        test_ids: Sequence[str],
        overrides: Mapping[str, str] | None = None,
        coverage_include: Sequence[str] | None = None,
    ) -> RunResult:
        """Same arguments and result as `run_tests`, with this runner's repository and limits."""
        coverage = bool(coverage_include)
        with self._lock:
            if self._closed:
                raise RuntimeError("WarmRunner is closed")
            try:
                for attempt in range(2):
                    spare = self._take(coverage)
                    try:
                        return self._serve(spare, test_ids, overrides or {}, coverage_include)
                    except BrokenPipeError:
                        if attempt:  # a fresh spare died before it could read its order
                            raise
                    finally:
                        spare.close()
                raise AssertionError("unreachable")
            finally:
                self._next = self._start(coverage)

    def close(self) -> None:
        """Kill the spare; nothing of this runner remains afterwards."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pending, self._next = self._next, None
        if pending is not None:
            with contextlib.suppress(Exception):
                pending.result().close()
        self._starter.shutdown(wait=True)

    # internals ---------------------------------------------------------------------------
    def _start(self, coverage: bool) -> Future[_Spare]:
        return self._starter.submit(_Spare, self._repo, self._python, self._mode, self._limits, coverage)

    def _take(self, coverage: bool) -> _Spare:
        """The waiting spare when it fits and is alive, otherwise a fresh one."""
        pending, self._next = self._next, None
        if pending is not None:
            try:
                spare = pending.result()
            except Exception:
                spare = None  # starting it failed; the fresh start below reports why
            if spare is not None and spare.alive and spare.coverage == coverage:
                return spare
            if spare is not None:
                spare.close()
        return self._start(coverage).result()

    def _serve(
        self,
        spare: _Spare,
        test_ids: Sequence[str],
        overrides: Mapping[str, str],
        coverage_include: Sequence[str] | None,
    ) -> RunResult:
        session = spare.session
        apply_overrides(session.workspace.root, overrides)
        select = list(dict.fromkeys(test_ids))
        paths, missing = session.paths_for(select)
        coverage_error = spare.coverage_error
        if select and not paths:
            finished, received = Finished(None, "", 0.0), Received()
        else:
            env = run_environment(select, coverage_include if coverage_error is None else None)
            order = json.dumps({"args": [*PYTEST_OPTIONS, *paths], "env": env}) + "\n"
            assert spare.proc is not None and spare.proc.stdin is not None
            start = time.monotonic()
            spare.proc.stdin.write(order.encode())
            spare.proc.stdin.close()
            finished = watch(spare.proc, limits=self._limits, group=spare.group, start=start)
            received = session.records()
        return run_result(
            finished, received, ran=bool(paths), missing=missing,
            coverage_include=coverage_include, coverage_error=coverage_error,
        )  # fmt: skip
