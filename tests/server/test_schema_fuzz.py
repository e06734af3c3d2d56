"""Schemathesis against the published OpenAPI schema: no generated request may produce a 5xx."""

from __future__ import annotations

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from repomend.backends.scripted import ScriptedBackend
from server.app import create_app
from tests.support.server_client import ADMIN, register

EXAMPLES_PER_OPERATION = 40


def test_no_generated_request_gets_a_server_error(server_settings, stats_repo, python):
    app = create_app(server_settings, ScriptedBackend([]))
    tried: list[tuple[str, str, int]] = []
    with TestClient(app) as client:
        register(client, stats_repo, python)
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 9

        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(
                max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck)
            )
            def check(case):
                response = case.call(headers=ADMIN)
                tried.append((case.method, case.path, response.status_code))
                assert response.status_code < 500, (case.method, case.path, response.text)
                if response.status_code >= 400:
                    assert {"code", "message"} <= set(response.json())

            check()
    statuses = sorted({status for _, _, status in tried})
    print(f"schemathesis: {len(tried)} cases over {len(operations)} operations, statuses {statuses}")
    assert len(tried) >= 100
