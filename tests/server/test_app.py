"""The HTTP API in-process: scripted model, real sandbox, migrated SQLite."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from repomend.backends.scripted import ScriptedBackend
from repomend.contract import prompts
from repomend.settings import ServerSettings
from server.app import ServerConfigError, create_app
from server.db.migrate import DatabaseNotMigrated
from tests.support.repos import FIXED_MEAN, MEAN_TESTS, WRONG_MEAN
from tests.support.server_client import ADMIN, USER, register, repair_body


def reply(code: str) -> str:
    return prompts.as_code_reply(code)


def make_client(server_settings, replies):
    backend = ScriptedBackend(replies)
    return TestClient(create_app(server_settings, backend)), backend


@pytest.fixture
def client(server_settings, stats_repo, python):
    test_client, backend = make_client(server_settings, [reply(WRONG_MEAN), reply(FIXED_MEAN)])
    with test_client:
        register(test_client, stats_repo, python)
        test_client.backend = backend
        yield test_client


def test_repair_waits_for_a_verified_fix_and_takes_feedback(client):
    response = client.post("/v1/repairs?wait=true", json=repair_body(tests=MEAN_TESTS), headers=USER)
    assert response.status_code == 202, response.text
    result = response.json()
    assert result["status"] == "fixed"
    assert "return sum(self.xs) / len(self.xs)" in result["new_method"]
    assert "+        return sum(self.xs) / len(self.xs)" in result["diff"]
    assert [t["passed"] for t in result["turns"]] == [False, True]
    assert result["model"] == "scripted"

    # the record survives the in-memory job
    client.app.state.repomend.queue.forget(result["id"])
    shown = client.get(f"/v1/repairs/{result['id']}", headers=USER).json()
    assert shown["status"] == "fixed" and shown["diff"] == result["diff"]
    assert result["fix_type"] == shown["fix_type"] == "off by one"  # stored with the row
    assert [(t["tests_passed"], t["tests_failed"]) for t in shown["turns"]] == [(1, 1), (2, 0)]

    accepted = {"verdict": "accepted", "final_text": result["new_method"]}
    first = client.post(f"/v1/repairs/{result['id']}/feedback", json=accepted, headers=USER)
    again = client.post(f"/v1/repairs/{result['id']}/feedback", json=accepted, headers=USER)
    assert first.status_code == again.status_code == 200
    assert first.json()["verdict"] == again.json()["verdict"] == "accepted"
    missing = client.post("/v1/repairs/999/feedback", json=accepted, headers=USER)
    assert missing.status_code == 404 and missing.json()["code"] == "repair_not_found"


def test_events_stream_turns_then_done(client):
    created = client.post("/v1/repairs", json=repair_body(tests=MEAN_TESTS), headers=USER)
    assert created.status_code == 202
    with client.stream("GET", f"/v1/repairs/{created.json()['id']}/events", headers=USER) as stream:
        text = "".join(stream.iter_text())
    events = [
        (block.split("\n")[0].removeprefix("event: "), json.loads(block.split("data: ", 1)[1]))
        for block in text.strip().split("\n\n")
        if block.startswith("event:")
    ]
    kinds = [data.get("type") for name, data in events if name == "progress"]
    assert kinds.count("attempt_tested") == 2 and kinds[0] == "started"
    assert events[-1][0] == "done" and events[-1][1]["status"] == "fixed"


def test_tests_are_found_by_coverage_when_not_given(client):
    result = client.post("/v1/repairs?wait=true", json=repair_body(), headers=USER).json()
    assert result["status"] == "fixed"
    assert result["tests"] == MEAN_TESTS


def test_tokens_are_required(client):
    assert client.post("/v1/repairs", json=repair_body()).status_code == 401
    denied = client.get("/v1/admin/repositories", headers=USER)
    assert denied.status_code == 401 and denied.json()["code"] == "unauthorized"
    assert client.get("/v1/admin/repositories", headers=ADMIN).json()[0]["name"] == "stats"


def test_errors_are_json_with_stable_codes(client):
    cases = [
        (repair_body(path="../../etc/passwd"), 400, "path_outside_repository"),
        (repair_body(repository="nope"), 404, "repository_not_found"),
        (repair_body(target={"qualname": "Stats.median"}), 422, "method_not_found"),
        ({"repository": "stats"}, 422, "invalid_request"),
        (repair_body(max_turns=0), 422, "invalid_request"),
    ]
    for body, status, code in cases:
        response = client.post("/v1/repairs", json=body, headers=USER)
        assert (response.status_code, response.json()["code"]) == (status, code), body
        assert "Traceback" not in response.text
    huge = client.post(
        "/v1/repairs", content=b"x" * (3 * 1024 * 1024), headers={**USER, "content-type": "application/json"}
    )
    assert huge.status_code == 413 and huge.json()["code"] == "body_too_large"
    assert client.get("/v1/repairs/12345", headers=USER).json()["code"] == "repair_not_found"


def test_queue_full_gives_503_with_retry_after(server_settings, stats_repo, python):
    import threading

    gate = threading.Event()

    def slow(messages):
        gate.wait(30)
        return reply(FIXED_MEAN)

    test_client, _ = make_client(server_settings, [slow, slow, slow])
    with test_client:
        register(test_client, stats_repo, python)
        body = repair_body(tests=MEAN_TESTS)
        statuses = [test_client.post("/v1/repairs", json=body, headers=USER) for _ in range(4)]
        gate.set()
        codes = [r.status_code for r in statuses]
        assert codes.count(503) >= 1 and codes[0] == 202
        refused = next(r for r in statuses if r.status_code == 503)
        assert refused.json()["code"] == "queue_full" and int(refused.headers["Retry-After"]) >= 1


def test_server_refuses_an_unmigrated_database(settings, tmp_path):
    unmigrated = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'empty.db'}"})
    with pytest.raises(DatabaseNotMigrated, match="repomend db upgrade"):
        create_app(unmigrated, ScriptedBackend([]))


def test_listening_beyond_localhost_needs_a_token(server_settings):
    exposed = server_settings.model_copy(update={"server": ServerSettings(host="0.0.0.0")})
    with pytest.raises(ServerConfigError, match="REPOMEND_SERVER_TOKEN"):
        create_app(exposed, ScriptedBackend([]))


def test_metrics_count_repairs(client):
    client.post("/v1/repairs?wait=true", json=repair_body(tests=MEAN_TESTS), headers=USER)
    text = client.get("/metrics").text
    assert 'repomend_repairs_total{outcome="fixed"} 1.0' in text
    assert "repomend_queue_depth" in text


def test_openapi_schema_is_served(client):
    schema = client.get("/openapi.json").json()
    assert "/v1/repairs" in schema["paths"] and "/v1/repairs/{repair_id}/feedback" in schema["paths"]


def test_cancel_and_feedback_rules(client):
    done = client.post("/v1/repairs?wait=true", json=repair_body(tests=MEAN_TESTS), headers=USER).json()
    late = client.post(f"/v1/repairs/{done['id']}/cancel", headers=USER)
    assert late.status_code == 409 and late.json()["code"] == "repair_not_running"
    rejected = client.post(
        f"/v1/repairs/{done['id']}/feedback", json={"verdict": "rejected", "reason": "style"}, headers=USER
    )
    assert rejected.json()["verdict"] == "rejected"  # a changed mind replaces the verdict
    bad = client.post(f"/v1/repairs/{done['id']}/feedback", json={"verdict": "maybe"}, headers=USER)
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_request"


def test_no_covering_tests_fails_the_repair_with_a_code(client, stats_repo):
    (stats_repo / "tests" / "test_stats.py").write_text("def test_unrelated():\n    assert True\n")
    result = client.post("/v1/repairs?wait=true", json=repair_body(), headers=USER).json()
    assert result["status"] == "failed"
    assert result["error"]["code"] == "tests_not_found"
    assert "no tests found for `Stats.mean`" in result["error"]["message"]


def test_serve_on_an_unmigrated_database_says_what_to_run(tmp_path, monkeypatch, capsys):
    from repomend.cli import main
    from repomend.errors import EXIT_ERROR

    monkeypatch.setenv("REPOMEND_DATABASE_URL", f"sqlite:///{tmp_path / 'fresh.db'}")
    assert main(["serve"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "run `repomend db upgrade`" in err and len(err.strip().splitlines()) == 1


def test_an_engine_failure_mid_repair_keeps_the_turns_made(server_settings, stats_repo, python):
    test_client, _ = make_client(server_settings, [reply(WRONG_MEAN)])  # no reply for turn 2
    with test_client:
        register(test_client, stats_repo, python)
        result = test_client.post("/v1/repairs?wait=true", json=repair_body(tests=MEAN_TESTS), headers=USER)
        result = result.json()
        assert result["status"] == "failed"
        assert result["error"] == {
            "code": "engine_failed",
            "message": "the engine failed on turn 2: the scripted backend ran out of replies",
        }
        assert [t["passed"] for t in result["turns"]] == [False]
        test_client.app.state.repomend.queue.forget(result["id"])
        shown = test_client.get(f"/v1/repairs/{result['id']}", headers=USER).json()
        assert shown["status"] == "failed" and shown["error"]["code"] == "engine_failed"
        assert [(t["tests_passed"], t["tests_failed"]) for t in shown["turns"]] == [(1, 1)]
        assert "AssertionError" in shown["failure"]
