"""One engine per base model: an adapter is answered by the engine of the base it was trained on,
which starts on first need; everything else by the served model's engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from repomend.backends import GenerationConfig, serving_backend
from repomend.backends.adapter_files import ADAPTER_CONFIG, ADAPTER_MANIFEST, adapter_base_model
from repomend.backends.by_base import ByBase, same_model
from repomend.backends.scripted import ScriptedBackend
from repomend.contract.conversation import Mode
from repomend.settings import Settings

ASK = [{"role": "user", "content": "fix it"}]


def adapter(root: Path, name: str, base: str | None) -> str:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / ADAPTER_CONFIG).write_text("{}")
    if base is not None:
        (folder / ADAPTER_MANIFEST).write_text(json.dumps({"format": 1, "base_model": base}))
    return str(folder)


@pytest.fixture
def routed(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", model="qwen2.5-coder-1.5b", _env_file=None)
    started: list[Settings] = []

    def load(other: Settings) -> ScriptedBackend:
        started.append(other)
        return ScriptedBackend(["small"] * 3, name=other.model)

    served = ScriptedBackend(["big"] * 3, name="qwen2.5-coder-1.5b")
    return ByBase(settings, served, load), served, started, tmp_path


def test_an_adapter_is_answered_by_the_engine_of_its_base(routed):
    backend, served, started, root = routed
    small = adapter(root, "stats-v2", "qwen2.5-coder-0.5b")
    [answer] = backend.generate(ASK, mode=Mode.NO_THINK, config=GenerationConfig(), adapter=small)
    assert answer.content == "small" and served.calls == []
    assert [s.model for s in started] == ["qwen2.5-coder-0.5b"] and started[0].engine_url is None
    assert backend.describe(small) == f"qwen2.5-coder-0.5b+{small}"  # the record says which base
    backend.generate(ASK, mode=Mode.NO_THINK, config=GenerationConfig(), adapter=small)
    assert len(started) == 1  # started once, then kept
    assert backend.bases() == ["qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"]


def test_the_served_model_answers_without_an_adapter_and_for_its_own(routed):
    backend, served, started, root = routed
    own = adapter(root, "stats-v1", "Qwen2.5-Coder-1.5B-Instruct")  # the catalogue title names it too
    unknown = adapter(root, "legacy", None)  # no manifest: the served model, as before
    for name in (None, own, unknown):
        [answer] = backend.generate(ASK, mode=Mode.NO_THINK, config=GenerationConfig(), adapter=name)
        assert answer.content == "big"
    assert started == [] and [call[3] for call in served.calls] == [None, own, unknown]


def test_closing_stops_every_engine(routed):
    backend, _, _, root = routed
    backend.generate(
        ASK, mode=Mode.NO_THINK, config=GenerationConfig(), adapter=adapter(root, "a", "qwen2.5-coder-0.5b")
    )
    closed = []
    for engine in backend.engines():
        engine.close = lambda engine=engine: closed.append(engine.name)  # type: ignore[method-assign]
    backend.close()
    assert closed == ["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"]


def test_names_of_one_model_match():
    assert same_model("qwen2.5-coder-0.5b", "/models/qwen2.5-coder-0.5b/")
    assert not same_model("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b")


def test_base_model_of_a_broken_manifest_is_unknown(tmp_path):
    settings = Settings(data_dir=tmp_path, _env_file=None)
    name = adapter(tmp_path, "x", None)
    (Path(name) / ADAPTER_MANIFEST).write_text("not json")
    assert adapter_base_model(settings, name) is None
    assert adapter_base_model(settings, str(tmp_path / "missing")) is None


def test_an_openai_server_is_used_as_it_is(tmp_path):
    settings = Settings(data_dir=tmp_path, engine="openai", engine_url="http://127.0.0.1:9", _env_file=None)
    backend = serving_backend(settings)
    try:
        assert not isinstance(backend, ByBase)
    finally:
        backend.close()


def test_an_adapter_of_another_base_is_converted_against_that_base(tmp_path):
    """llama.cpp's conversion reads the base's config: the adapter's own base, not the served one."""
    from repomend.backends.model_files import adapter_base_config

    served, small = tmp_path / "served", tmp_path / "small"
    for folder in (served, small):
        folder.mkdir()
        (folder / "config.json").write_text("{}")
    settings = Settings(data_dir=tmp_path / "data", model=str(served), _env_file=None)
    assert adapter_base_config(Path(adapter(tmp_path, "a", str(small))), settings) == small
    assert adapter_base_config(Path(adapter(tmp_path, "b", None)), settings) == served
