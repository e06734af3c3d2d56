"""One repair through the server on a real (tiny, random) transformers model, end to end."""

from __future__ import annotations

from fastapi.testclient import TestClient

from repomend.backends.transformers_backend import TransformersBackend
from repomend.settings import Settings
from server.app import create_app
from server.db.engine import make_engine, session_factory
from server.db.models import Repair, RepairStatus
from tests.support.repos import MEAN_TESTS
from tests.support.server_client import USER, register, repair_body
from tests.support.tiny_models import build_model, build_tokenizer


def test_repair_with_a_real_model_is_recorded(server_settings, stats_repo, python, tmp_path):
    folder = tmp_path / "tiny-chat"
    folder.mkdir()
    build_model(folder, build_tokenizer(folder))
    settings = server_settings.model_copy(update={"model": str(folder), "max_new_tokens": 24})
    backend = TransformersBackend(Settings(model=str(folder), data_dir=tmp_path / "data"))
    with TestClient(create_app(settings, backend)) as client:
        register(client, stats_repo, python)
        result = client.post(
            "/v1/repairs?wait=true", json=repair_body(tests=MEAN_TESTS, max_turns=2), headers=USER
        ).json()
    # a random model cannot fix it; the server still runs both turns and keeps the record
    assert result["status"] == "unfixed", result
    assert result["model"] == "tiny-chat"
    assert len(result["turns"]) == 2 and result["failure"]
    with session_factory(make_engine(settings.database_url))() as session:
        row = session.get(Repair, int(result["id"]))
        assert row.status is RepairStatus.UNFIXED
        assert len(row.turns) == 2 and all(turn.completion_tokens > 0 for turn in row.turns)
