"""The adapter registry: atomic registration, activate / rollback / delete rules, the repair path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from repomend.backends.scripted import ScriptedBackend
from repomend.contract import prompts
from server import adapter_store, adapters
from server.app import create_app
from server.db.engine import make_engine, session_factory
from server.db.models import Adapter, AdapterStatus
from server.errors import ApiError
from tests.support.adapter_folders import fake_adapter, write_manifest
from tests.support.repos import FIXED_MEAN, ONE_MEAN_TEST
from tests.support.server_client import ADMIN, USER, instant_runner, register

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server_settings(server_settings):
    """The registry's rules hold on every engine; these folders hold no real weights, so they are
    registered for the in-process engine (llama.cpp's conversion is tested with real adapters)."""
    return server_settings.model_copy(update={"engine": "transformers"})


@pytest.fixture
def backend():
    return ScriptedBackend([prompts.as_code_reply(FIXED_MEAN)] * 20)


@pytest.fixture
def client(server_settings, stats_repo, python, backend):
    app = create_app(server_settings, backend, runner_factory=instant_runner)
    with TestClient(app) as test_client:
        register(test_client, stats_repo, python)
        yield test_client


@pytest.fixture
def sessions(server_settings):
    engine = make_engine(server_settings.database_url)
    yield session_factory(engine)
    engine.dispose()


def versions_on_disk(settings, repository: str = "stats") -> list[str]:
    folder = settings.resolved_adapters_dir / repository
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def add(client, folder: Path, **body) -> dict:
    response = client.post(
        "/v1/admin/repositories/stats/adapters", json={"path": str(folder), **body}, headers=ADMIN
    )
    assert response.status_code == 201, response.text
    return response.json()


def listing(client) -> dict:
    response = client.get("/v1/admin/repositories/stats/adapters", headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()


def post(client, path: str):
    return client.post(f"/v1/admin/repositories/stats/adapters{path}", headers=ADMIN)


def repair(client) -> dict:
    body = {
        "repository": "stats",
        "path": "pkg/stats.py",
        "target": {"qualname": "Stats.mean"},
        "tests": ONE_MEAN_TEST,
    }
    response = client.post("/v1/repairs?wait=true", json=body, headers=USER)
    assert response.status_code == 202, response.text
    return response.json()


# -- registering -----------------------------------------------------------------------------------


def test_register_copies_the_adapter_in_as_the_next_version(client, server_settings, tmp_path):
    source = fake_adapter(tmp_path / "out", eval_report={"results": [{"model": "m", "pass_at": {"1": 0.5}}]})

    first = add(client, source)
    second = add(client, source)

    assert (first["version"], second["version"]) == ("v1", "v2")
    assert first["name"] == "stats/v1" and not first["active"] and first["status"] == "registered"
    v1 = server_settings.resolved_adapters_dir / "stats" / "v1"
    assert first["path"] == str(v1.resolve())
    assert sorted(p.name for p in v1.iterdir()) == [
        "README.md",
        "adapter_config.json",
        "adapter_model.safetensors",
        "eval_report.json",
        "repomend_adapter.json",
    ]  # the training checkpoints in sub-folders stay behind
    assert (v1 / "adapter_model.safetensors").read_bytes() == (
        source / "adapter_model.safetensors"
    ).read_bytes()
    assert versions_on_disk(server_settings) == ["v1", "v2"]

    shown = client.get("/v1/admin/repositories/stats/adapters/v1", headers=ADMIN).json()
    assert shown["base_model"] == "scripted"
    assert shown["dataset"] == {"path": "datasets/stats/3", "version": "3", "hash": "sha256:ab12"}
    assert shown["training"]["r"] == 4
    assert shown["metrics"] == {"train_loss": 0.42, "eval_loss": 0.51}
    assert shown["evaluation"]["results"][0]["pass_at"] == {"1": 0.5}
    assert shown["trained_at"].startswith("2026-11-23T20:00:00")
    assert listing(client)["active"] is None


@pytest.mark.parametrize(
    ("breakage", "code", "says"),
    [
        (
            lambda f: (f / "adapter_model.safetensors").unlink(),
            "adapter_invalid",
            "missing adapter_model.safetensors",
        ),
        (lambda f: (f / "repomend_adapter.json").write_text("{oops"), "adapter_invalid", "not valid JSON"),
        (lambda f: write_manifest(f, "scripted", format=2), "adapter_invalid", "format"),
        (
            lambda f: write_manifest(f, "scripted", dataset={"path": "d"}),
            "adapter_invalid",
            "dataset.version",
        ),
        (lambda f: (f / "eval_report.json").write_text("[1, 2]"), "adapter_invalid", "JSON object"),
        (lambda f: write_manifest(f, "Qwen/Qwen3-8B"), "base_model_mismatch", "trained on `Qwen/Qwen3-8B`"),
    ],
)
def test_register_refuses_what_is_not_a_finished_adapter_for_this_model(
    client, server_settings, tmp_path, breakage, code, says
):
    source = fake_adapter(tmp_path / "out")
    breakage(source)
    response = client.post("/v1/admin/repositories/stats/adapters", json={"path": str(source)}, headers=ADMIN)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == code and says in response.json()["message"]
    assert listing(client)["adapters"] == []
    assert versions_on_disk(server_settings) == []


def test_base_model_matches_by_name_and_force_overrides_a_mismatch(client, tmp_path):
    # The served model's id, folder or cache path all name the same model.
    add(client, fake_adapter(tmp_path / "a", base_model="/models/cache/scripted/"))
    add(client, fake_adapter(tmp_path / "b", base_model="Qwen/Qwen2.5-Coder-1.5B-Instruct"))
    add(client, fake_adapter(tmp_path / "c", base_model="qwen2.5-coder-1.5b"))  # as training records it
    forced = add(client, fake_adapter(tmp_path / "d", base_model="Qwen/Qwen3-8B"), force=True)
    assert forced["version"] == "v4" and forced["base_model"] == "Qwen/Qwen3-8B"
    # a catalogue model the engine can start beside the served one (served by its own engine)
    smaller = add(client, fake_adapter(tmp_path / "e", base_model="qwen2.5-coder-0.5b"))
    assert smaller["version"] == "v5" and smaller["base_model"] == "qwen2.5-coder-0.5b"


@pytest.mark.parametrize("path", ["relative/folder", "/no/such/folder", "/tmp/\u0000x", "/" + "x" * 4000])
def test_register_refuses_bad_paths_with_a_clear_error(client, path):
    response = client.post("/v1/admin/repositories/stats/adapters", json={"path": path}, headers=ADMIN)
    assert response.status_code == 422
    assert response.json()["code"] == "adapter_invalid"


def test_a_failed_copy_leaves_no_version_and_the_next_registration_works(
    client, server_settings, tmp_path, monkeypatch
):
    source = fake_adapter(tmp_path / "out")
    real_copy = adapter_store.copy_file
    copied = []

    def copy_then_fail(src, dst):
        if copied:
            raise OSError(28, "No space left on device")
        real_copy(src, dst)
        copied.append(dst)

    monkeypatch.setattr(adapter_store, "copy_file", copy_then_fail)
    response = client.post("/v1/admin/repositories/stats/adapters", json={"path": str(source)}, headers=ADMIN)
    assert response.status_code == 500 and response.json()["code"] == "adapter_copy_failed"
    assert "No space left" in response.json()["message"]
    assert copied  # it failed part-way, after one file
    assert listing(client)["adapters"] == []
    assert versions_on_disk(server_settings) == []  # not even a hidden work folder

    monkeypatch.setattr(adapter_store, "copy_file", real_copy)
    assert add(client, source)["version"] == "v1"


CRASHING_REGISTRATION = """
import os, sys
from pathlib import Path
from repomend.settings import Settings
from server import adapter_store, adapters
from server.db.engine import make_engine, session_factory

data_dir, url, source, crash_in = sys.argv[1:5]
if crash_in == "copy":
    real = adapter_store.copy_file
    def copy(src, dst):
        real(src, dst)
        os._exit(9)  # the process dies with one file copied
    adapter_store.copy_file = copy
else:
    real = adapter_store.publish
    def publish(staged, target):
        real(staged, target)
        os._exit(9)  # dies after the rename, before the commit
    adapter_store.publish = publish
settings = Settings(engine="transformers", data_dir=data_dir, database_url=url, _env_file=None)
with session_factory(make_engine(url))() as session:
    adapters.register_adapter(session, settings, "stats", Path(source), served_models={"scripted"})
"""


def crash_registering(server_settings, source: Path, crash_in: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [str(server_settings.data_dir), server_settings.database_url, str(source), crash_in]
    result = subprocess.run(
        [sys.executable, "-c", CRASHING_REGISTRATION, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 9, result.stderr


def test_a_process_killed_mid_copy_leaves_no_visible_version(client, server_settings, tmp_path):
    source = fake_adapter(tmp_path / "out")
    crash_registering(server_settings, source, "copy")

    assert listing(client)["adapters"] == []
    left = versions_on_disk(server_settings)
    assert len(left) == 1 and left[0].startswith(".incoming-")  # hidden, half-copied

    # The next registration is v1 and sweeps the dead work folder once it is stale.
    stale = server_settings.resolved_adapters_dir / "stats" / left[0]
    os.utime(stale, (time.time() - 2 * adapter_store.STALE_SECONDS,) * 2)
    assert add(client, source)["version"] == "v1"
    assert versions_on_disk(server_settings) == ["v1"]


def test_a_process_killed_after_the_rename_never_reissues_that_version(client, server_settings, tmp_path):
    source = fake_adapter(tmp_path / "out")
    crash_registering(server_settings, source, "publish")

    assert listing(client)["adapters"] == []  # no row: the registry does not know it
    assert versions_on_disk(server_settings) == ["v1"]
    assert add(client, source)["version"] == "v2"


def test_a_registration_that_loses_the_race_for_a_number_takes_the_next(
    client, server_settings, tmp_path, monkeypatch
):
    source = fake_adapter(tmp_path / "out")
    real_publish = adapter_store.publish
    raced = []

    def publish(staged, target):
        if not raced:  # another process renamed its v1 into place a moment earlier
            raced.append(target.name)
            target.mkdir()
            (target / "adapter_config.json").write_text("{}")
        real_publish(staged, target)

    monkeypatch.setattr(adapter_store, "publish", publish)
    assert add(client, source)["version"] == "v2"
    assert raced == ["v1"]
    assert (
        server_settings.resolved_adapters_dir / "stats" / "v1" / "adapter_config.json"
    ).read_text() == "{}"


def test_version_numbers_are_never_reused_after_a_delete(client, tmp_path):
    source = fake_adapter(tmp_path / "out")
    add(client, source)
    add(client, source)
    assert client.delete("/v1/admin/repositories/stats/adapters/v2", headers=ADMIN).status_code == 204
    assert add(client, source)["version"] == "v3"


# -- activating, rolling back, deleting ------------------------------------------------------------


def test_activate_and_roll_back_walk_the_activation_history(client, sessions, tmp_path):
    source = fake_adapter(tmp_path / "out")
    for _ in range(3):
        add(client, source)

    no_history = post(client, "/rollback")
    assert no_history.status_code == 409 and no_history.json()["code"] == "no_previous_adapter"
    assert "no earlier activation" in no_history.json()["message"]

    steps = [post(client, f"/{v}/activate").json() for v in ("v1", "v2", "3")]
    assert [(s["previous"], s["active"]) for s in steps] == [(None, "v1"), ("v1", "v2"), ("v2", "v3")]
    again = post(client, "/v3/activate").json()  # no change, no history entry
    assert (again["previous"], again["active"]) == ("v3", "v3")

    backs = [post(client, "/rollback").json() for _ in range(3)]
    assert [(b["previous"], b["active"]) for b in backs] == [("v3", "v2"), ("v2", "v1"), ("v1", None)]
    exhausted = post(client, "/rollback")
    assert exhausted.status_code == 409 and exhausted.json()["code"] == "no_previous_adapter"

    history = listing(client)["history"]
    assert [(h["action"], h["version"], h["previous_version"]) for h in history] == [
        ("activate", "v1", None),
        ("activate", "v2", "v1"),
        ("activate", "v3", "v2"),
        ("rollback", "v2", "v3"),
        ("rollback", "v1", "v2"),
        ("rollback", None, "v1"),
    ]
    assert all(h["reverted"] for h in history[:3])
    with sessions() as session:
        assert session.scalars(select(Adapter).where(Adapter.active)).all() == []


def test_deactivate_serves_the_base_model_and_a_rollback_undoes_it(client, tmp_path):
    add(client, fake_adapter(tmp_path / "out"))
    post(client, "/v1/activate")
    assert post(client, "/deactivate").json() == {"repository": "stats", "active": None, "previous": "v1"}
    assert post(client, "/rollback").json()["active"] == "v1"


def test_delete_refuses_the_active_version_and_removes_an_inactive_one(client, server_settings, tmp_path):
    source = fake_adapter(tmp_path / "out")
    add(client, source)
    add(client, source)
    post(client, "/v1/activate")

    refused = client.delete("/v1/admin/repositories/stats/adapters/v1", headers=ADMIN)
    assert refused.status_code == 409 and refused.json()["code"] == "adapter_active"
    assert versions_on_disk(server_settings) == ["v1", "v2"]

    assert client.delete("/v1/admin/repositories/stats/adapters/v2", headers=ADMIN).status_code == 204
    assert versions_on_disk(server_settings) == ["v1"]
    assert [a["version"] for a in listing(client)["adapters"]] == ["v1"]
    everything = client.get(
        "/v1/admin/repositories/stats/adapters?include_deleted=true", headers=ADMIN
    ).json()
    gone = everything["adapters"][1]
    assert gone["version"] == "v2" and gone["deleted_at"] and gone["path"] is None

    twice = client.delete("/v1/admin/repositories/stats/adapters/v2", headers=ADMIN)
    assert twice.status_code == 404 and twice.json()["code"] == "adapter_not_found"
    deleted = post(client, "/v2/activate")
    assert deleted.status_code == 404 and "was deleted" in deleted.json()["message"]


def test_rollback_to_a_deleted_version_is_refused_clearly(client, tmp_path):
    source = fake_adapter(tmp_path / "out")
    add(client, source)
    add(client, source)
    post(client, "/v1/activate")
    post(client, "/v2/activate")
    client.delete("/v1/admin/repositories/stats/adapters/v1", headers=ADMIN)

    response = post(client, "/rollback")
    assert response.status_code == 409 and response.json()["code"] == "previous_adapter_deleted"
    assert listing(client)["active"] == "v2"


def test_unknown_repository_version_and_token(client):
    assert client.get("/v1/admin/repositories/nope/adapters", headers=ADMIN).status_code == 404
    missing = client.get("/v1/admin/repositories/stats/adapters/v9", headers=ADMIN)
    assert missing.status_code == 404 and missing.json()["code"] == "adapter_not_found"
    assert client.get("/v1/admin/repositories/stats/adapters/latest", headers=ADMIN).status_code == 422
    user = client.post("/v1/admin/repositories/stats/adapters/rollback", headers=USER)
    assert user.status_code == 401 and "admin token" in user.json()["message"]


# -- the repair path --------------------------------------------------------------------------------


def test_each_repair_uses_and_records_the_adapter_active_when_it_was_asked(
    client, backend, sessions, tmp_path
):
    add(client, fake_adapter(tmp_path / "out"), activate=True)

    served = repair(client)
    assert served["status"] == "fixed"
    assert served["adapter"] == "v1" and served["model"] == "scripted+stats/v1"
    assert backend.calls[-1][3] == "stats/v1"

    post(client, "/rollback")
    base = repair(client)
    assert base["adapter"] is None and base["model"] == "scripted"
    assert backend.calls[-1][3] is None

    # The record outlives the job and the adapter's files.
    client.app.state.repomend.queue.forget(served["id"])
    client.delete("/v1/admin/repositories/stats/adapters/v1", headers=ADMIN)
    assert client.get(f"/v1/repairs/{served['id']}", headers=USER).json()["adapter"] == "v1"
    with sessions() as session:
        adapter = session.scalars(select(Adapter)).one()
        assert adapter.deleted_at is not None


def test_python_api_registers_and_activates_for_a_retraining_job(
    server_settings, sessions, stats_repo, python
):
    with TestClient(create_app(server_settings, ScriptedBackend([]))) as http:
        register(http, stats_repo, python)
    source = fake_adapter(stats_repo.parent / "trained", base_model="Qwen2.5-Coder-1.5B-Instruct")
    with sessions() as session:
        adapter = adapters.register_adapter(
            session, server_settings, "stats", source, status=AdapterStatus.PROMOTED
        )
        assert adapters.active_adapter(session, "stats") is None
        adapters.activate(session, "stats", adapter.version)
        assert adapters.active_adapter(session, "stats").label == "v1"
        assert adapter.status is AdapterStatus.PROMOTED
        with pytest.raises(ApiError, match="trained on `Qwen/Qwen3-8B`") as refused:
            other = fake_adapter(stats_repo.parent / "other", base_model="Qwen/Qwen3-8B")
            adapters.register_adapter(session, server_settings, "stats", other)
        assert refused.value.status == 422


# -- the CLI ---------------------------------------------------------------------------------------


def cli(monkeypatch, server_settings, *args: str) -> int:
    from repomend.cli import main

    monkeypatch.setenv("REPOMEND_DATA_DIR", str(server_settings.data_dir))
    monkeypatch.setenv("REPOMEND_DATABASE_URL", server_settings.database_url)
    monkeypatch.setenv("REPOMEND_ENGINE", server_settings.engine)
    return main(["adapters", *args])


def test_cli_registers_lists_activates_rolls_back_and_deletes(
    monkeypatch, capsys, server_settings, stats_repo, python, tmp_path
):
    with TestClient(create_app(server_settings, ScriptedBackend([]))) as http:
        register(http, stats_repo, python)
    source = fake_adapter(tmp_path / "out", base_model="Qwen2.5-Coder-1.5B-Instruct")

    assert cli(monkeypatch, server_settings, "register", "stats", str(source)) == 0
    assert cli(monkeypatch, server_settings, "register", "stats", str(source), "--activate") == 0
    out = capsys.readouterr().out
    assert "registered stats/v1" in out and "registered stats/v2" in out and "`stats` now uses v2" in out

    assert cli(monkeypatch, server_settings, "list", "stats") == 0
    table = capsys.readouterr().out
    assert "v1" in table and "v2" in table and "active: v2" in table and "train_loss=0.42" in table

    assert cli(monkeypatch, server_settings, "show", "stats", "v1") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["metrics"]["eval_loss"] == 0.51 and shown["dataset"]["version"] == "3"

    assert cli(monkeypatch, server_settings, "delete", "stats", "v2") == 2
    assert "v2 is the active adapter" in capsys.readouterr().err
    assert cli(monkeypatch, server_settings, "activate", "stats", "v1") == 0
    assert cli(monkeypatch, server_settings, "rollback", "stats") == 0
    assert "`stats` now uses v2" in capsys.readouterr().out.splitlines()[-1]
    assert cli(monkeypatch, server_settings, "deactivate", "stats") == 0
    assert cli(monkeypatch, server_settings, "delete", "stats", "v1") == 0
    assert "deleted stats/v1" in capsys.readouterr().out

    assert cli(monkeypatch, server_settings, "register", "stats", str(tmp_path / "missing")) == 2
    assert "is not a folder" in capsys.readouterr().err
