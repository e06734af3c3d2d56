"""A running server switches adapters between requests: register, activate, roll back, delete,
with a real (tiny, random) model on each local engine and real PEFT LoRA adapters, no server restart."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from repomend.backends import load_backend
from repomend.backends.model_files import DEFAULT_MODEL_NAME, default_model_folder
from repomend.backends.transformers_backend import TransformersBackend
from server.app import create_app
from server.db.engine import make_engine, session_factory
from server.db.models import Repair
from tests.support.adapter_folders import lora_adapter
from tests.support.repos import ONE_MEAN_TEST
from tests.support.server_client import ADMIN, USER, instant_runner, register
from tests.support.tiny_models import build_model, build_tokenizer

ADAPTERS = "/v1/admin/repositories/stats/adapters"


@pytest.fixture(scope="module", params=["transformers", "llamacpp"])
def tiny(request, tmp_path_factory) -> dict:
    """The same tiny-model check on both local engines: the in-process one, and llama.cpp with the
    adapters converted to GGUF at registration."""
    root = tmp_path_factory.mktemp("hot")
    if request.param == "llamacpp":
        gguf = request.getfixturevalue("tiny_gguf")
        model, name, served = gguf.folder, "tiny-smol", str(gguf.gguf)
    else:
        model = root / "tiny-chat"
        model.mkdir()
        build_model(model, build_tokenizer(model))
        name, served = "tiny-chat", str(model)
    return {
        "engine": request.param,
        "name": name,
        "served": served,
        "a": lora_adapter(model, root / "out-a", seed=11, base_model=name),
        "b": lora_adapter(model, root / "out-b", seed=12, base_model=name),
    }


class Server:
    """The app in-process with its own backend, and a way to read back what a repair's model wrote."""

    def __init__(self, settings, backend, stats_repo, python) -> None:
        self.backend = backend
        self.client = TestClient(create_app(settings, backend, runner_factory=instant_runner))
        self.client.__enter__()
        register(self.client, stats_repo, python)
        self.engine = make_engine(settings.database_url)

    def close(self) -> None:
        self.client.__exit__(None, None, None)
        self.engine.dispose()
        self.backend.close()

    def admin(self, method: str, path: str = "", **kwargs) -> dict:
        response = self.client.request(method, ADAPTERS + path, headers=ADMIN, **kwargs)
        assert response.status_code < 300, response.text
        return response.json() if response.content else {}

    def repair(self) -> tuple[dict, str]:
        body = {
            "repository": "stats",
            "path": "pkg/stats.py",
            "target": {"qualname": "Stats.mean"},
            "tests": ONE_MEAN_TEST,
            "max_turns": 1,
        }
        response = self.client.post("/v1/repairs?wait=true", json=body, headers=USER)
        assert response.status_code == 202, response.text
        result = response.json()
        assert result["status"] == "unfixed", result  # a random model; what matters is who answered
        with session_factory(self.engine)() as session:
            [turn] = session.get(Repair, int(result["id"])).turns
            return result, turn.reply


@pytest.fixture
def server(tiny, server_settings, stats_repo, python):
    settings = server_settings.model_copy(
        update={"engine": tiny["engine"], "model": tiny["served"], "max_new_tokens": 12, "context_size": 4096}
    )
    running = Server(settings, load_backend(settings), stats_repo, python)
    yield running
    running.close()


def test_activation_rollback_and_delete_take_effect_at_the_next_request(server, tiny, server_settings):
    base, base_reply = server.repair()
    assert (base["adapter"], base["model"]) == (None, tiny["name"])
    assert server.backend.loaded_adapters() == []

    assert server.admin("POST", json={"path": str(tiny["a"])})["version"] == "v1"
    assert server.backend.loaded_adapters() == []  # registering loads nothing; first use does
    server.admin("POST", "/v1/activate")
    first, first_reply = server.repair()
    assert (first["adapter"], first["model"]) == ("v1", f"{tiny['name']}+stats/v1")
    assert server.backend.loaded_adapters() == ["stats/v1"]
    assert first_reply != base_reply  # greedy decoding: the LoRA weights changed the answer

    server.admin("POST", json={"path": str(tiny["b"])})
    started = time.perf_counter()
    server.admin("POST", "/v2/activate")
    activated = time.perf_counter()
    second, second_reply = server.repair()
    served = time.perf_counter()
    assert second["adapter"] == "v2" and second_reply not in (base_reply, first_reply)
    assert server.backend.loaded_adapters() == ["stats/v1", "stats/v2"]
    print(
        f"\ntiny model: activate call {1000 * (activated - started):.0f} ms; first repair served by the new "
        f"adapter completed {1000 * (served - started):.0f} ms after the activate call "
        f"(repair itself {1000 * second['seconds']:.0f} ms)"
    )

    assert server.admin("POST", "/rollback")["active"] == "v1"
    again, again_reply = server.repair()
    assert again["adapter"] == "v1" and again_reply == first_reply

    server.admin("DELETE", "/v2")
    assert server.backend.loaded_adapters() == ["stats/v1"]  # its weights are freed with its files
    assert not (server_settings.resolved_adapters_dir / "stats" / "v2").exists()

    assert server.admin("POST", "/rollback")["active"] is None
    last, last_reply = server.repair()
    assert last["adapter"] is None and last_reply == base_reply


@pytest.mark.slow
def test_default_model_switches_to_a_new_adapter_without_restart(
    server_settings, stats_repo, python, tmp_path
):
    """The figure for the default model: activate, then the first repair served by the new adapter."""
    model = default_model_folder(
        server_settings.model_copy(update={"data_dir": Path.home() / ".local/share/repomend"})
    )
    adapter = lora_adapter(model, tmp_path / "out", seed=3, base_model=DEFAULT_MODEL_NAME)
    settings = server_settings.model_copy(update={"model": str(model), "max_new_tokens": 48})
    server = Server(settings, TransformersBackend(settings), stats_repo, python)
    try:
        base, _ = server.repair()
        server.admin("POST", json={"path": str(adapter)})
        started = time.perf_counter()
        server.admin("POST", "/v1/activate")
        served, _ = server.repair()
        elapsed = time.perf_counter() - started
        warm, _ = server.repair()
        assert served["adapter"] == "v1" and served["model"] == f"{DEFAULT_MODEL_NAME}+stats/v1"
        assert server.backend.loaded_adapters() == ["stats/v1"]
        print(
            f"\ndefault model: first repair served by the new adapter completed {elapsed:.2f} s after the "
            f"activate call; the same repair with the adapter already loaded {warm['seconds']:.2f} s, "
            f"on the base model {base['seconds']:.2f} s"
        )
    finally:
        server.close()


def test_llamacpp_refuses_an_adapter_it_cannot_convert(
    tiny_gguf, server_settings, stats_repo, python, tmp_path
):
    """On llama.cpp an adapter serves as GGUF: one that does not convert is not registered, and says why."""
    from repomend.backends.scripted import ScriptedBackend
    from tests.support.adapter_folders import fake_adapter

    settings = server_settings.model_copy(update={"engine": "llamacpp", "model": str(tiny_gguf.gguf)})
    with TestClient(create_app(settings, ScriptedBackend([]), runner_factory=instant_runner)) as client:
        register(client, stats_repo, python)
        broken = fake_adapter(tmp_path / "broken", base_model="tiny-smol")  # no real weights inside
        response = client.post(ADAPTERS, json={"path": str(broken)}, headers=ADMIN)
        assert response.status_code == 422, response.text
        error = response.json()
        assert error["code"] == "adapter_not_convertible" and "converting adapter" in error["message"]
        assert client.get(ADAPTERS, headers=ADMIN).json()["adapters"] == []
    assert not any((settings.resolved_adapters_dir / "stats").glob("v*"))
