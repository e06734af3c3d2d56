"""What the verdict's safeguards cost: the results channel and the screen per candidate (ms), and
the second, cold run per fixed repair (s); plus how often the screen rejects an honest answer.

- screen: `repomend.contract.screen.screen` of every method of real packages (the ground truth, as the
  candidate) against its own mutants (as the method it replaces), as the mutation teacher and the
  evaluation pair them; any rejection is a false one, and is listed;
- channel: per candidate, the supervisor's side (a channel made, handed over, every record read
  back and authenticated) and the plugin's (every record signed and written), for a run of
  --tests tests, plus the plugin's check that no test module function or builtin was replaced,
  after each test;
- warm run: a whole candidate through `WarmRunner` (channel and checks included), for scale;
- second run: a cold `run_tests` of a fixed candidate, which is what each fixed repair adds.

Each figure is printed with the load average (`uptime`) at the time it was taken.

Usage: .venv/bin/python benchmarks/verdict_cost.py [--packages click,jinja2] [--runs 5] [--tests 20]
"""

from __future__ import annotations

import argparse
import builtins
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from repomend.contract.screen import screen
from repomend.source import SourceError, method_text, parse_methods
from sandbox import pytest_plugin
from sandbox.channel import CHANNEL_ENV, Channel
from sandbox.runner import run_tests
from sandbox.warm import WarmRunner
from training.mutation import mutants

MODULE = "def add(a, b):\n    return a - b\n"
FIXED = "def add(a, b):\n    return a + b\n"


def load() -> str:
    return (
        subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip().split("load average: ")[-1]
    )


def report(label: str, value: str) -> None:
    print(f"{label:<58} {value:>16}   load average {load()}", flush=True)


def package_files(names: list[str]) -> list[Path]:
    files: list[Path] = []
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            print(f"(package {name} not installed; left out)")
            continue
        for folder in spec.submodule_search_locations:
            files += sorted(Path(folder).rglob("*.py"))
    return files


def screen_figures(names: list[str], per_method: int, max_methods: int) -> None:
    seconds, candidates, rejected, with_truth, seen = 0.0, 0, [], 0, 0
    for path in package_files(names):
        if seen >= max_methods:
            break
        try:
            source = path.read_text(encoding="utf-8")
            methods = parse_methods(source)
        except (OSError, UnicodeDecodeError, SourceError, ValueError):
            continue
        for method in methods[: max_methods - seen]:
            seen += 1
            truth = method_text(source, method)
            for mutant in mutants(source, method)[:per_method]:
                try:
                    broken = method_text(
                        mutant.source,
                        next(m for m in parse_methods(mutant.source) if m.qualname == method.qualname),
                    )
                except (StopIteration, SourceError, ValueError):
                    continue
                start = time.perf_counter()
                try:
                    reason = screen(truth, broken, source)  # a repair: only the broken method known
                except SyntaxError:
                    continue
                seconds += time.perf_counter() - start
                candidates += 1
                if reason is not None:
                    rejected.append(f"{path.name}::{method.qualname}: {reason}")
                if screen(truth, broken, source, known_good=truth) is not None:
                    with_truth += 1
    if not candidates:
        print("no candidates screened")
        return
    report(f"screen, per candidate ({candidates} honest candidates)", f"{seconds / candidates * 1000:.3f} ms")
    report("screen, false rejections, repair (broken method only)", f"{len(rejected)} of {candidates}")
    report("screen, false rejections, ground truth known", f"{with_truth} of {candidates}")
    for line in rejected[:10]:
        print("   ", line)


def channel_figures(tests: int, repeats: int) -> None:
    records = [{"kind": "started"}, {"kind": "collected", "nodeids": [f"t::{i}" for i in range(tests)]}]
    records += [
        {"kind": "test", "nodeid": f"t::{i}", "outcome": "passed", "duration": 0.001} for i in range(tests)
    ]
    records.append({"kind": "done", "exitstatus": 0, "reports": tests})
    supervisor = plugin = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        channel = Channel()
        os.environ.update(channel.environment())
        made = time.perf_counter()
        send = pytest_plugin._open_channel()  # what the plugin does on import, inside the run
        assert send is not None and CHANNEL_ENV not in os.environ
        for record in records:
            send(record)
        signed = time.perf_counter()
        channel.key_fd = None  # in this process the plugin's side has read and closed it already
        received = channel.receive()
        channel.close()
        assert received.problem is None and len(received.records) == len(records)
        supervisor += (made - start) + (time.perf_counter() - signed)
        plugin += signed - made
    report(f"channel, supervisor side per candidate ({tests} tests)", f"{supervisor / repeats * 1000:.3f} ms")
    report(f"channel, plugin side per candidate ({tests} tests)", f"{plugin / repeats * 1000:.3f} ms")
    snapshot = object.__new__(pytest_plugin._Snapshot)
    snapshot._watched = [("builtins", builtins, pytest_plugin._identities(builtins))]
    for module in (os, statistics, subprocess):
        snapshot._watched.append((module.__name__, module, pytest_plugin._identities(module)))
    start = time.perf_counter()
    for _ in range(repeats):
        for _ in range(tests):
            assert snapshot.replaced() == []
    each = (time.perf_counter() - start) / repeats
    report(f"replacement check after each test, per candidate ({tests} tests)", f"{each * 1000:.3f} ms")


def make_repo(root: Path, tests: int) -> Path:
    (root / "tests").mkdir(parents=True)
    (root / "calc.py").write_text(MODULE)
    body = "from calc import add\n\n" + "".join(
        f"\ndef test_add_{i}():\n    assert add({i}, 1) == {i + 1}\n" for i in range(tests)
    )
    (root / "tests" / "test_calc.py").write_text(body)
    (root / "pyproject.toml").write_text('[tool.pytest.ini_options]\npythonpath = ["."]\n')
    return root


def run_figures(tests: int, runs: int, pause: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repo = make_repo(Path(tmp) / "repo", tests)
        with WarmRunner(repo, python=sys.executable) as warm:
            times = []
            for _ in range(runs):
                time.sleep(pause)  # the spare starts in the background meanwhile
                start = time.perf_counter()
                result = warm.run(["tests/test_calc.py"], {"calc.py": FIXED})
                times.append(time.perf_counter() - start)
                assert result.passed, result.output[-2000:]
        report(
            f"warm run, whole candidate ({tests} tests), median", f"{statistics.median(times) * 1000:.0f} ms"
        )
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            result = run_tests(
                repo, ["tests/test_calc.py"], python=sys.executable, overrides={"calc.py": FIXED}
            )
            times.append(time.perf_counter() - start)
            assert result.passed, result.output[-2000:]
        report(
            "second run (cold sandbox), added per fixed repair, median", f"{statistics.median(times):.2f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--packages", default="attr,click,jinja2,alembic")
    parser.add_argument(
        "--mutants", type=int, default=2, help="mutants per method paired with its ground truth"
    )
    parser.add_argument("--max-methods", type=int, default=600, help="methods screened at most")
    parser.add_argument("--tests", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--pause", type=float, default=2.0)
    args = parser.parse_args()
    screen_figures([p for p in args.packages.split(",") if p], args.mutants, args.max_methods)
    channel_figures(args.tests, args.repeats)
    run_figures(args.tests, args.runs, args.pause)


if __name__ == "__main__":
    main()
