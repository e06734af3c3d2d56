"""How long each dashboard page takes with 10,000 stored repairs (target: under 200 ms).

A fresh SQLite database is migrated and seeded (two repositories, adapter versions with evaluation
reports and a Pass@k plot, retraining jobs, 10,000 repairs with their turns and user verdicts
spread over 120 days), then `server.app` is served by uvicorn on a loopback port and every page is
fetched over HTTP with the admin token: a few warm-up requests, then `--runs` timed ones. Prints the
median, 95th percentile and slowest time per page, and the load average of the machine beside them.
Exits 1 if a page's median is over the target.

    .venv/bin/python benchmarks/dashboard_pages.py [--repairs 10000] [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from repomend.backends.scripted import ScriptedBackend  # noqa: E402
from repomend.settings import ServerSettings, Settings  # noqa: E402
from server.app import create_app  # noqa: E402
from server.db.migrate import upgrade  # noqa: E402
from tests.support.dashboard import seed_dashboard  # noqa: E402

TARGET_MS = 200.0
WARM_UP = 3


@contextmanager
def serving(app) -> str:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not (server.started and server.servers) and time.monotonic() < deadline:
            time.sleep(0.05)
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repairs", type=int, default=10_000, help="repairs stored in all")
    parser.add_argument("--runs", type=int, default=20, help="timed requests per page")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="repomend-dashboard-") as tmp:
        folder = Path(tmp)
        url = f"sqlite:///{folder / 'server.db'}"
        upgrade(url)
        settings = Settings(
            data_dir=folder / "data",
            database_url=url,
            engine="openai",
            openai_model="base-model",
            server=ServerSettings(token="user", admin_token="admin"),
            _env_file=None,
        )
        app = create_app(settings, ScriptedBackend([]))
        started = time.perf_counter()
        stats_share = round(args.repairs * 3 / 4)  # seed_dashboard gives `geo` a third of `stats`' count
        seeded = seed_dashboard(
            app.state.repomend.sessions, settings, folder / "seed", repairs=stats_share, days=120
        )
        print(f"seeded {len(seeded.repair_ids)} repairs in {time.perf_counter() - started:.1f} s")
        newest, oldest = max(seeded.repair_ids), min(seeded.repair_ids)
        deep_page = len(seeded.repair_ids) // 50 // 2
        urls = [
            "/ui",
            "/ui/repositories/stats",
            "/ui/repairs",
            f"/ui/repairs?page={deep_page}",
            "/ui/repairs?repository=geo&status=fixed&verdict=accepted",
            f"/ui/repairs/{newest}",
            f"/ui/repairs/{oldest}",
            "/ui/repositories/stats/adapters/v2",
            "/ui/jobs",
            f"/ui/jobs/{seeded.jobs['succeeded']}",
            f"/ui/jobs/{seeded.jobs['queued']}/live",
            "/ui/engine",
        ]
        over = []
        with (
            serving(app) as base,
            httpx.Client(base_url=base, headers={"Authorization": "Bearer admin"}, timeout=30) as http,
        ):
            print(f"{'page':<58} {'median':>8} {'p95':>8} {'max':>8}   ({load()})")
            for page in urls:
                for _ in range(WARM_UP):
                    assert http.get(page).status_code == 200, page
                times = []
                for _ in range(args.runs):
                    start = time.perf_counter()
                    response = http.get(page)
                    times.append(1000 * (time.perf_counter() - start))
                    assert response.status_code == 200, (page, response.status_code)
                times.sort()
                median = statistics.median(times)
                p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
                flag = "" if median < TARGET_MS else "  OVER"
                print(f"{page:<58} {median:7.1f}ms {p95:7.1f}ms {times[-1]:7.1f}ms{flag}")
                if flag:
                    over.append(page)
        print(f"{len(urls)} pages, {args.runs} requests each, {len(seeded.repair_ids)} repairs; {load()}")
        if over:
            print(f"over {TARGET_MS:.0f} ms: {', '.join(over)}")
            return 1
        print(f"every page under {TARGET_MS:.0f} ms (median)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
