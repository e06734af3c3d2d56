"""Driving the server in-process: its tokens and their headers, registering a repository, the body of
a repair of the stats repository's `Stats.mean`, and a runner that makes repairs take milliseconds."""

from __future__ import annotations

from typing import Any

from sandbox.results import RunResult, TestResult

USER_TOKEN = "user-secret"
ADMIN_TOKEN = "admin-secret"
USER = {"Authorization": f"Bearer {USER_TOKEN}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def register(http, repo, python, name: str = "stats") -> None:
    """Register `repo` through the admin API of `http` (a TestClient or an httpx client)."""
    response = http.post(
        "/v1/admin/repositories", json={"name": name, "path": str(repo), "python": str(python)}, headers=ADMIN
    )
    assert response.status_code == 201, response.text


def repair_body(**extra: Any) -> dict[str, Any]:
    return {"repository": "stats", "path": "pkg/stats.py", "target": {"qualname": "Stats.mean"}, **extra}


def instant_runner(settings, python):
    """The mean test passes once the off-by-one is gone; no sandbox, so repairs take milliseconds."""

    def run(repo, test_ids, *, overrides):
        source = next(iter(overrides.values()))
        outcome = "failed" if "(len(self.xs) - 1)" in source else "passed"
        return RunResult(tests=[TestResult(test_ids[0], outcome)])

    return run
