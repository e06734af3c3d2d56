"""The retraining endpoints: start, one job at a time, watch, cancel, policy, and the schedule."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from repomend.backends.scripted import ScriptedBackend
from repomend.settings import ServerSettings
from server.app import create_app
from tests.support.server_client import ADMIN, register

BASE = "/v1/admin/repositories/stats"


@pytest.fixture
def client(server_settings, stats_repo, python):
    with TestClient(create_app(server_settings, ScriptedBackend([]))) as http:
        register(http, stats_repo, python)
        yield http


RUNS = {"student": "student-model-folder"}
"""A student the start-of-job check does not refuse (it checks catalogue models only), so these
jobs are still running when the test cancels them."""


def _until_finished(client, run_id: int, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"{BASE}/retrain/{run_id}", headers=ADMIN).json()
        if job["state"] not in ("queued", "running"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {run_id} did not finish: {job}")


def test_a_job_is_started_watched_and_cancelled_and_one_runs_at_a_time(client):
    overrides = {"epochs": 1, "dpo": True, **RUNS}
    started = client.post(f"{BASE}/retrain", json={"overrides": overrides}, headers=ADMIN)
    assert started.status_code == 202, started.text
    job = started.json()
    assert (job["state"], job["trigger"], job["config"]["epochs"], job["config"]["dpo"]) == (
        "queued",
        "manual",
        1,
        True,
    )
    second = client.post(f"{BASE}/retrain", headers=ADMIN)
    assert second.status_code == 409 and second.json()["code"] == "retraining_in_progress"

    cancelled = client.post(f"{BASE}/retrain/{job['id']}/cancel", headers=ADMIN)
    assert cancelled.status_code == 202
    finished = _until_finished(client, job["id"])
    assert finished["state"] == "cancelled" and finished["reason"] == "cancelled"
    assert [j["id"] for j in client.get(f"{BASE}/retrain", headers=ADMIN).json()] == [job["id"]]
    assert client.post(f"{BASE}/retrain", headers=ADMIN).status_code == 202  # the repository is free again


def test_errors_are_clear(client):
    assert client.post(f"{BASE}/retrain", headers={"Authorization": "Bearer user-secret"}).status_code == 401
    assert client.get(f"{BASE}/retrain/999", headers=ADMIN).json()["code"] == "training_run_not_found"
    bad = client.post(f"{BASE}/retrain", json={"overrides": {"epochs": -1}}, headers=ADMIN)
    assert bad.status_code == 422 and bad.json()["message"].startswith("epochs:")
    missing = client.post("/v1/admin/repositories/nope/retrain", headers=ADMIN)
    assert missing.status_code == 404 and missing.json()["code"] == "repository_not_found"


def test_the_policy_is_stored_per_repository(client):
    assert client.get(f"{BASE}/retraining", headers=ADMIN).json()["after_accepted"] is None
    updated = client.put(f"{BASE}/retraining", json={"after_accepted": 3, "margin": 0.05}, headers=ADMIN)
    assert updated.status_code == 200
    shown = client.get(f"{BASE}/retraining", headers=ADMIN).json()
    assert (shown["after_accepted"], shown["margin"]) == (3, 0.05)
    assert shown["teachers"] == ["mutation", "local:qwen2.5-coder-1.5b"]  # the defaults
    assert shown["model_teacher_methods"] == 12
    assert client.put(f"{BASE}/retraining", json={"margin": 5}, headers=ADMIN).status_code == 422


def test_the_server_starts_a_due_job_on_its_own(server_settings, stats_repo, python):
    settings = server_settings.model_copy(
        update={
            "server": ServerSettings(
                admin_token="admin-secret", token="user-secret", retrain_check_seconds=0.2
            )
        }
    )
    with TestClient(create_app(settings, ScriptedBackend([]))) as http:
        register(http, stats_repo, python)
        http.put(f"{BASE}/retraining", json={"every_hours": 0.0001}, headers=ADMIN)
        deadline = time.monotonic() + 30
        while not (jobs := http.get(f"{BASE}/retrain", headers=ADMIN).json()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(jobs) == 1 and jobs[0]["trigger"] == "schedule"
        http.post(f"{BASE}/retrain/{jobs[0]['id']}/cancel", headers=ADMIN)
        _until_finished(http, jobs[0]["id"])


def test_the_command_line_lists_jobs_and_names_bad_input(client, server_settings, monkeypatch, capsys):
    from repomend.cli import main

    monkeypatch.setenv("REPOMEND_DATABASE_URL", server_settings.database_url)
    job = client.post(f"{BASE}/retrain", json={"overrides": RUNS}, headers=ADMIN).json()
    client.post(f"{BASE}/retrain/{job['id']}/cancel", headers=ADMIN)
    _until_finished(client, job["id"])
    assert main(["retrain", "stats", "--jobs"]) == 0
    listed = capsys.readouterr().out
    assert listed.split()[:3] == [str(job["id"]), "cancelled", "manual"]
    assert main(["retrain", "nope"]) == 2
    assert "no registered repository `nope`" in capsys.readouterr().err
    assert main(["retrain", "stats", "--margin", "3"]) == 2
    assert "margin" in capsys.readouterr().err
