"""A real `repomend serve` process behind a stand-in model server, for end-to-end tests.

`serve_process(model_url, folder)` runs `repomend db upgrade` and `repomend serve` on a free
loopback port with a fresh data directory, the `openai` backend pointed at `model_url` (a
`StubServer` from tests.support.model), and user/admin tokens; it yields a `RunningServe`
that registers repositories and reads repairs and feedback back.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from repomend.settings import Settings
from server.db.engine import default_database_url
from server.db.models import Feedback, Repair
from tests.support.server_client import ADMIN_TOKEN, USER_TOKEN

START_SECONDS = 60.0


def repomend_command() -> list[str]:
    """The `repomend` executable of the interpreter running the tests."""
    script = Path(sys.executable).with_name("repomend")
    return [str(script)] if script.exists() else [sys.executable, "-m", "repomend.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningServe:
    base_url: str
    data_dir: Path
    database_url: str
    log: Path
    process: subprocess.Popen
    token: str = USER_TOKEN
    admin_token: str = ADMIN_TOKEN

    def http(self, admin: bool = False) -> httpx.Client:
        token = self.admin_token if admin else self.token
        return httpx.Client(base_url=self.base_url, timeout=30, headers={"Authorization": f"Bearer {token}"})

    def register(self, repo: Path, name: str | None = None, python: Path | None = None) -> str:
        """Register `repo` (default name: its folder's name) with the test interpreter; returns the name."""
        name = name or repo.name
        body = {"name": name, "path": str(repo), "python": str(python or sys.executable)}
        with self.http(admin=True) as http:
            response = http.post("/v1/admin/repositories", json=body)
        assert response.status_code == 201, response.text
        return name

    def repair(self, repair_id: str | int) -> dict:
        with self.http() as http:
            response = http.get(f"/v1/repairs/{repair_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def wait_finished(self, repair_id: str | int, timeout: float = 240.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            shown = self.repair(repair_id)
            if shown["status"] not in ("queued", "running") or time.monotonic() > deadline:
                return shown
            time.sleep(0.1)

    def latest_repair_id(self) -> str | None:
        """The newest repair's id, read from the database (for repairs a client started)."""
        engine = create_engine(self.database_url)
        try:
            with Session(engine) as session:
                found = session.scalar(select(Repair.id).order_by(Repair.id.desc()))
        finally:
            engine.dispose()
        return None if found is None else str(found)

    def feedback(self, repair_id: str | int) -> dict | None:
        """The feedback row of a repair, read from the server's database (None if there is none)."""
        engine = create_engine(self.database_url)
        try:
            with Session(engine) as session:
                row = session.scalar(select(Feedback).where(Feedback.repair_id == int(repair_id)))
                if row is None:
                    return None
                return {"verdict": row.verdict.value, "reason": row.reason, "final_text": row.final_text}
        finally:
            engine.dispose()

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def serve_environment(model_url: str, data_dir: Path, port: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("REPOMEND_")}
    env.update(
        {
            "REPOMEND_DATA_DIR": str(data_dir),
            "REPOMEND_ENGINE": "openai",
            "REPOMEND_OPENAI_BASE_URL": model_url,
            "REPOMEND_OPENAI_MODEL": "base-model",
            "REPOMEND_OPENAI_RETRIES": "0",
            "REPOMEND_SERVER_PORT": str(port),
            "REPOMEND_SERVER_TOKEN": USER_TOKEN,
            "REPOMEND_SERVER_ADMIN_TOKEN": ADMIN_TOKEN,
            "REPOMEND_SANDBOX__WALL_SECONDS": "60",
        }
    )
    return env


@contextmanager
def serve_process(
    model_url: str, folder: Path, prepare: Callable[[Path], None] | None = None
) -> Iterator[RunningServe]:
    """`repomend serve` with its own data directory under `folder`; stopped (and waited for) on exit.

    `prepare(data_dir)` runs between migrating the database and starting the server (to seed it)."""
    data_dir = folder / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = serve_environment(model_url, data_dir, port)
    upgrade = subprocess.run(
        [*repomend_command(), "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120
    )
    assert upgrade.returncode == 0, upgrade.stderr
    if prepare is not None:
        prepare(data_dir)
    log = folder / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [*repomend_command(), "serve", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    running = RunningServe(
        base_url=f"http://127.0.0.1:{port}",
        data_dir=data_dir,
        database_url=default_database_url(Settings(data_dir=data_dir, _env_file=None)),
        log=log,
        process=process,
    )
    try:
        _wait_healthy(running)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _wait_healthy(running: RunningServe) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            raise RuntimeError(f"repomend serve exited ({running.process.returncode}):\n{running.log_tail()}")
        try:
            if httpx.get(f"{running.base_url}/v1/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"repomend serve did not answer within {START_SECONDS:g} s:\n{running.log_tail()}")
