"""Server figures: overhead around the loop, and behaviour under a burst of repairs.

1. Overhead: repairs whose model and tests are scripted to be instant, over real HTTP
   (uvicorn on loopback); the median latency is what the server adds around the loop.
2. Load: N concurrent repairs against a queue bound of B; counts completed and refused (503)
   and checks that every accepted request has a database row in a final state.

    .venv/bin/python benchmarks/server_load.py [--requests 100] [--burst 50] [--bound 8]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import uvicorn

from repomend.backends.scripted import ScriptedBackend
from repomend.contract import prompts
from repomend.settings import ServerSettings, Settings
from sandbox.results import RunResult, TestResult
from server.app import create_app
from server.db.engine import make_engine, session_factory
from server.db.migrate import upgrade
from server.db.models import Repair, RepairStatus

SOURCE = "def mean(xs):\n    return sum(xs) / (len(xs) - 1)\n"
FIX = prompts.as_code_reply("def mean(xs):\n    return sum(xs) / len(xs)")
TESTS = ["test_m.py::test_mean"]


def instant_runner(settings, python):
    def run(repo, test_ids, *, overrides):
        source = next(iter(overrides.values()))
        passed = "(len(xs) - 1)" not in source
        return RunResult(tests=[TestResult(TESTS[0], "passed" if passed else "failed")])

    return run


class EndlessModel(ScriptedBackend):
    """Always answers with the fix, after `delay` seconds of pretend generation."""

    def __init__(self, delay: float) -> None:
        super().__init__([])
        self.delay = delay

    def generate(self, messages, **kwargs):
        time.sleep(self.delay)
        self._replies = [FIX] * kwargs.get("n", 1)
        return super().generate(messages, **kwargs)


def serve(settings: Settings, delay: float) -> tuple[uvicorn.Server, threading.Thread, str]:
    app = create_app(settings, EndlessModel(delay), runner_factory=instant_runner)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not (server.started and server.servers):
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, thread, f"http://127.0.0.1:{port}"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--bound", type=int, default=8)
    parser.add_argument("--delay", type=float, default=0.2, help="pretend generation seconds under load")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="repomend-bench-"))
    repo = tmp / "repo"
    repo.mkdir()
    (repo / "m.py").write_text(SOURCE)
    url = f"sqlite:///{tmp / 'bench.db'}"
    upgrade(url)
    body = {"repository": "m", "path": "m.py", "target": {"qualname": "mean"}, "tests": TESTS}

    for label, delay in (("overhead", 0.0), ("load", args.delay)):
        settings = Settings(
            data_dir=tmp / label,
            database_url=url,
            server=ServerSettings(queue_capacity=args.bound if label == "load" else 1000),
        )
        server, thread, base = serve(settings, delay)
        with httpx.Client(base_url=base, timeout=120) as http:
            if label == "overhead":
                http.post(
                    "/v1/admin/repositories", json={"name": "m", "path": str(repo), "python": sys.executable}
                )
                latencies = []
                for _ in range(args.requests):
                    started = time.perf_counter()
                    response = http.post("/v1/repairs?wait=true", json=body)
                    latencies.append((time.perf_counter() - started) * 1000)
                    assert response.json()["status"] == "fixed", response.text
                print(
                    f"overhead: median {statistics.median(latencies):.1f} ms, "
                    f"p95 {sorted(latencies)[int(0.95 * len(latencies)) - 1]:.1f} ms "
                    f"over {args.requests} instant repairs (HTTP on loopback, wait=true)"
                )
            else:
                with ThreadPoolExecutor(args.burst) as pool:
                    responses = list(
                        pool.map(lambda _: http.post("/v1/repairs?wait=true", json=body), range(args.burst))
                    )
                accepted = [r.json()["id"] for r in responses if r.status_code == 202]
                refused = sum(1 for r in responses if r.status_code == 503)
                with session_factory(make_engine(url))() as session:
                    rows = {str(row.id): row.status for row in session.query(Repair)}
                final = {
                    RepairStatus.FIXED,
                    RepairStatus.UNFIXED,
                    RepairStatus.FAILED,
                    RepairStatus.CANCELLED,
                }
                lost = [i for i in accepted if rows.get(i) not in final]
                print(
                    f"load: {args.burst} concurrent repairs, queue bound {args.bound}, "
                    f"{args.delay:.1f}s per generation: {len(accepted)} completed, {refused} refused "
                    f"with 503, {len(lost)} accepted without a final row"
                )
        server.should_exit = True
        thread.join(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
