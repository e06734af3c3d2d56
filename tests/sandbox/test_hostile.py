"""Containment: each attack runs as a repository test inside the sandbox; every assertion
looks at the HOST afterwards."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from sandbox.runner import Limits, run_tests
from tests.support.sandbox_repos import PYTHON, RepoFactory, processes_with, snapshot

pytestmark = pytest.mark.usefixtures("strict")


def test_infinite_loop_is_killed_with_its_tree(make_repo: RepoFactory, marker: str) -> None:
    repo = make_repo({f"tests/test_{marker}.py": "def test_spin():\n    while True:\n        pass\n"})
    started = time.monotonic()
    result = run_tests(repo, [f"tests/test_{marker}.py"], python=PYTHON, limits=Limits(wall_seconds=3))
    assert result.timed_out and result.killed_reason == "wall-clock"
    assert not result.passed
    assert time.monotonic() - started < 15
    assert processes_with(marker) == []


def test_fork_bomb_is_bounded(make_repo: RepoFactory, marker: str) -> None:
    repo = make_repo(
        {
            f"tests/test_{marker}.py": """
            import os, time

            def test_bomb():
                while True:
                    try:
                        os.fork()
                    except OSError:
                        time.sleep(0.01)
            """
        }
    )
    baseline = len([p for p in os.listdir("/proc") if p.isdigit()])
    peak = [baseline]
    running = threading.Event()
    running.set()

    def watch() -> None:
        while running.is_set():
            peak[0] = max(peak[0], len([p for p in os.listdir("/proc") if p.isdigit()]))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = run_tests(
            repo,
            [f"tests/test_{marker}.py"],
            python=PYTHON,
            limits=Limits(wall_seconds=4, max_processes=32),
        )
    finally:
        running.clear()
        watcher.join()
    assert result.timed_out and not result.passed
    # bwrap, its init and the shell wrapper sit outside the count; leave room for the host.
    assert peak[0] - baseline < 32 + 20, (baseline, peak[0])
    assert processes_with(marker) == []
    assert subprocess.run(["true"]).returncode == 0  # the host can still start processes


def test_huge_allocation_fails_inside(make_repo: RepoFactory) -> None:
    repo = make_repo({"tests/test_alloc.py": "def test_alloc():\n    bytearray(30 * 1024**3)\n"})
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = run_tests(repo, ["tests/test_alloc.py"], python=PYTHON, limits=Limits(memory_mb=1024))
    [test] = result.tests
    assert test.outcome == "failed" and test.exception_type == "MemoryError"
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 200 * 1024


def test_writes_outside_the_copy_never_reach_the_host(make_repo: RepoFactory, marker: str) -> None:
    home = Path.home()
    repo = make_repo(
        {
            "pkg/__init__.py": "",
            "pkg/m.py": "VALUE = 1\n",
            "tests/test_write.py": f"""
            import os
            from pathlib import Path

            TARGETS = [
                Path.home() / "{marker}",
                Path("{home}") / "{marker}",
                Path("/etc/{marker}"),
                Path("/{marker}"),
                Path("{Path.cwd()}") / "{marker}",
            ]

            def test_write():
                for target in TARGETS:
                    try:
                        target.write_text("pwned")
                    except OSError:
                        pass
                # The repository's path inside is the copy: this edits the copy only.
                Path(os.getcwd(), "pkg", "m.py").write_text("VALUE = 666\\n")
                Path(os.getcwd(), "pkg", "{marker}.py").write_text("pwned")
            """,
        }
    )
    before = snapshot(repo)
    result = run_tests(repo, ["tests/test_write.py"], python=PYTHON)
    assert [t.outcome for t in result.tests] == ["passed"]
    assert snapshot(repo) == before
    for target in (home / marker, Path("/etc") / marker, Path("/") / marker, Path.cwd() / marker):
        assert not target.exists(), target


def test_files_outside_the_repository_are_unreadable(
    make_repo: RepoFactory, tmp_path: Path, marker: str
) -> None:
    secrets = [tmp_path / "secret.txt", Path.home() / f".{marker}-secret"]
    for secret in secrets:
        secret.write_text(f"TOP-SECRET-{marker}")
    try:
        repo = make_repo(
            {
                "tests/test_read.py": f"""
                def test_read():
                    leaked = []
                    for path in {[str(s) for s in secrets]!r}:
                        try:
                            leaked.append(open(path).read())
                        except OSError:
                            pass
                    assert leaked == []
                """
            }
        )
        result = run_tests(repo, ["tests/test_read.py"], python=PYTHON)
    finally:
        for secret in secrets:
            secret.unlink()
    assert [t.outcome for t in result.tests] == ["passed"], result.tests
    assert marker not in result.output


def test_host_loopback_listener_is_unreachable(make_repo: RepoFactory) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    accepted: list[object] = []
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            try:
                accepted.append(listener.accept())
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept)
    thread.start()
    try:
        repo = make_repo(
            {
                "tests/test_net.py": f"""
                import socket

                def test_connect():
                    try:
                        with socket.create_connection(("127.0.0.1", {port}), timeout=2) as s:
                            s.sendall(b"exfiltrated")
                    except OSError:
                        return
                    raise AssertionError("connected to the host")
                """
            }
        )
        result = run_tests(repo, ["tests/test_net.py"], python=PYTHON)
    finally:
        done.set()
        thread.join()
        listener.close()
    assert accepted == []
    assert [t.outcome for t in result.tests] == ["passed"]


def test_background_children_do_not_outlive_the_run(make_repo: RepoFactory, marker: str) -> None:
    repo = make_repo(
        {
            "tests/test_bg.py": f"""
            import os, subprocess, sys

            def test_escape():
                sleeper = [sys.executable, "-c", "import time; time.sleep(120)", "{marker}"]
                subprocess.Popen(sleeper, start_new_session=True)
                if os.fork() == 0:  # double fork + setsid
                    os.setsid()
                    if os.fork() == 0:
                        os.execv(sys.executable, sleeper)
                    os._exit(0)
            """
        }
    )
    started = time.monotonic()
    result = run_tests(repo, ["tests/test_bg.py"], python=PYTHON, limits=Limits(wall_seconds=30))
    assert [t.outcome for t in result.tests] == ["passed"]
    assert time.monotonic() - started < 20  # did not wait for the sleepers
    assert processes_with(marker) == []


def test_print_flood_is_cut_off(make_repo: RepoFactory) -> None:
    repo = make_repo(
        {
            "tests/test_flood.py": """
            import sys

            def test_flood(capfd):
                chunk = "x" * (1024 * 1024)
                with capfd.disabled():  # straight to the runner's pipe
                    for _ in range(2048):
                        sys.stdout.write(chunk)
            """
        }
    )
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    result = run_tests(repo, ["tests/test_flood.py"], python=PYTHON, limits=Limits(output_kb=64))
    assert result.killed_reason == "output-limit" and not result.passed
    assert len(result.output.encode()) <= 64 * 1024 + 200
    assert time.monotonic() - started < 30
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 200 * 1024


def test_captured_flood_is_bounded_by_file_size(make_repo: RepoFactory) -> None:
    repo = make_repo(
        {
            "tests/test_flood.py": """
            def test_flood():
                chunk = "y" * (1024 * 1024)
                for _ in range(2048):
                    print(chunk)
            """
        }
    )
    result = run_tests(repo, ["tests/test_flood.py"], python=PYTHON, limits=Limits(file_size_mb=16))
    assert not result.passed
    assert len(result.output.encode()) <= 1024 * 1024 + 200


def test_killing_the_parent_only_crashes_the_run(make_repo: RepoFactory) -> None:
    canary = subprocess.Popen(["sleep", "60"])
    try:
        repo = make_repo(
            {
                "tests/test_kill.py": """
                import os, signal

                def test_kill():
                    for attempt in (
                        lambda: os.kill(-1, signal.SIGKILL),
                        lambda: os.kill(os.getppid(), signal.SIGKILL),
                        lambda: os.kill(1, signal.SIGKILL),
                        lambda: os.killpg(os.getpgid(os.getppid()), signal.SIGKILL),
                        lambda: os.killpg(0, signal.SIGKILL),
                        lambda: os.kill(os.getpid(), signal.SIGKILL),  # finally, die
                    ):
                        try:
                            attempt()
                        except OSError:
                            pass
                """
            }
        )
        result = run_tests(repo, ["tests/test_kill.py"], python=PYTHON)
        assert result.crashed and not result.passed
        assert canary.poll() is None  # the host's processes were out of reach
    finally:
        canary.send_signal(signal.SIGKILL)
        canary.wait()
