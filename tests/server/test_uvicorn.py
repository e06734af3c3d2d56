"""One real HTTP server on a free loopback port: what an editor actually talks to."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import httpx
import pytest
import uvicorn

from repomend.backends.scripted import ScriptedBackend
from repomend.contract.prompts import as_code_reply
from server.app import create_app
from tests.support.repos import FIXED_MEAN, MEAN_TESTS, WRONG_MEAN
from tests.support.server_client import USER, register, repair_body


@contextmanager
def running(app):
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
    assert not thread.is_alive()


def test_repair_over_real_http(server_settings, stats_repo, python):
    app = create_app(server_settings, ScriptedBackend([as_code_reply(FIXED_MEAN)]))
    with running(app) as base, httpx.Client(base_url=base, timeout=60) as http:
        assert http.get("/v1/health").json()["status"] == "ok"
        register(http, stats_repo, python)
        result = http.post("/v1/repairs?wait=true", json=repair_body(tests=MEAN_TESTS), headers=USER)
        assert result.status_code == 202 and result.json()["status"] == "fixed"


def test_client_disconnect_cancels_the_repair(server_settings, stats_repo, python):
    def slow_wrong(messages):
        time.sleep(1.0)
        return as_code_reply(WRONG_MEAN)

    backend = ScriptedBackend([slow_wrong] * 5)
    with running(create_app(server_settings, backend)) as base:
        with httpx.Client(base_url=base, timeout=60) as http:
            register(http, stats_repo, python)
        with pytest.raises(httpx.ReadTimeout), httpx.Client(base_url=base, timeout=2.5) as impatient:
            impatient.post("/v1/repairs?wait=true", json=repair_body(tests=MEAN_TESTS), headers=USER)
        with httpx.Client(base_url=base, timeout=60) as http:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                shown = http.get("/v1/repairs/1", headers=USER).json()
                if shown["status"] not in ("queued", "running"):
                    break
                time.sleep(0.2)
    assert shown["status"] == "cancelled"
    assert len(backend.calls) < 5
