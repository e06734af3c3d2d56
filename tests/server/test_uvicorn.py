"""One real HTTP server on a free loopback port: what an editor actually talks to."""

from __future__ import annotations

import threading
import time

import httpx
import uvicorn

from repomend.backends.scripted import ScriptedBackend
from server.app import create_app
from tests.server.test_app import ADMIN, FIXED_MEAN, MEAN_TESTS, USER, repair_body, reply


def test_repair_over_real_http(server_settings, stats_repo, python):
    app = create_app(server_settings, ScriptedBackend([reply(FIXED_MEAN)]))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not (server.started and server.servers) and time.monotonic() < deadline:
            time.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            assert http.get("/v1/health").json()["status"] == "ok"
            registered = http.post(
                "/v1/admin/repositories",
                json={"name": "stats", "path": str(stats_repo), "python": str(python)},
                headers=ADMIN,
            )
            assert registered.status_code == 201
            result = http.post("/v1/repairs?wait=true", json=repair_body(tests=MEAN_TESTS), headers=USER)
            assert result.status_code == 202 and result.json()["status"] == "fixed"
    finally:
        server.should_exit = True
        thread.join(30)
    assert not thread.is_alive()
