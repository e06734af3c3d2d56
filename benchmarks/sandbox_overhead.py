"""Sandbox overhead: median wall time of plain pytest vs `run_tests` vs `WarmRunner.run`
on one trivial test.

Usage: .venv/bin/python benchmarks/sandbox_overhead.py [--runs 15] [--isolation strict]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.runner import run_tests
from sandbox.warm import WarmRunner

TEST = "def test_trivial():\n    assert 1 + 1 == 2\n"
NODE = "tests/test_x.py::test_trivial"


def time_ms(action) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--isolation", choices=["strict", "none"], default="strict")
    parser.add_argument("--pause", type=float, default=3.0, help="seconds between warm runs (spare start-up)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        (repo / "tests").mkdir(parents=True)
        (repo / "tests" / "test_x.py").write_text(TEST)

        def plain() -> None:
            subprocess.run(
                [sys.executable, "-m", "pytest", "-q", NODE],
                cwd=repo,
                check=True,
                capture_output=True,
            )

        def sandboxed() -> None:
            result = run_tests(repo, [NODE], python=sys.executable, isolation=args.isolation)
            if not result.passed:
                raise SystemExit(f"sandboxed run did not pass: {result}")

        plain(), sandboxed()  # warm the page cache and the interpreter probe
        plain_ms, sandbox_ms, warm_ms = [], [], []
        for _ in range(args.runs):  # interleaved, so load changes hit both alike
            plain_ms.append(time_ms(plain))
            sandbox_ms.append(time_ms(sandboxed))
        with WarmRunner(repo, python=sys.executable, isolation=args.isolation) as warm:

            def warm_run() -> None:
                result = warm.run([NODE])
                if not result.passed:
                    raise SystemExit(f"warm run did not pass: {result}")

            for _ in range(args.runs):
                time.sleep(args.pause)  # as between two candidates: the spare gets ready
                warm_ms.append(time_ms(warm_run))

    plain_median = statistics.median(plain_ms)
    sandbox_median = statistics.median(sandbox_ms)
    warm_median = statistics.median(warm_ms)
    print(f"runs: {args.runs}, isolation: {args.isolation}")
    print(f"plain pytest      median {plain_median:8.1f} ms")
    print(f"sandboxed run     median {sandbox_median:8.1f} ms")
    print(f"warm run          median {warm_median:8.1f} ms  ({args.pause:g} s pause before each)")
    print(f"ratio (sandboxed / plain): {sandbox_median / plain_median:.2f}x")
    print(f"ratio (warm / plain):      {warm_median / plain_median:.2f}x")


if __name__ == "__main__":
    main()
