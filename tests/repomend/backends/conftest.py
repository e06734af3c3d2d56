"""Fixtures: tiny real models built once per session from `tests.support.tiny_models`."""

from __future__ import annotations

import pytest

from tests.support.fixtures import model_stub  # noqa: F401
from tests.support.tiny_models import (
    TinyModel,
    build_adapter,
    build_model,
    build_scripted_model,
    build_tokenizer,
)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    root = tmp_path_factory.mktemp("tiny")
    folder = root / "tiny-chat"
    folder.mkdir()
    tokenizer = build_tokenizer(folder)
    build_model(folder, tokenizer)
    adapters = root / "adapters"
    build_adapter(folder, adapters / "a1")
    return TinyModel(folder, adapters)


@pytest.fixture(scope="session")
def scripted_backend(tiny_model: TinyModel, tmp_path_factory: pytest.TempPathFactory):
    """The tiny tokenizer with a model that closes its think block and ends its turn."""
    from transformers import AutoTokenizer

    from repomend.backends.transformers_backend import TransformersBackend
    from repomend.settings import Settings

    folder = tmp_path_factory.mktemp("scripted") / "scripted-chat"
    tokenizer = AutoTokenizer.from_pretrained(tiny_model.folder)
    tokenizer.save_pretrained(folder)
    build_scripted_model(folder, tokenizer)
    backend = TransformersBackend(
        Settings(model=str(folder), data_dir=tmp_path_factory.mktemp("scripted-data"))
    )
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def tiny_settings(tiny_model: TinyModel, tmp_path_factory: pytest.TempPathFactory):
    from repomend.settings import Settings

    return Settings(
        model=str(tiny_model.folder),
        adapters_dir=tiny_model.adapters_dir,
        data_dir=tmp_path_factory.mktemp("data"),
    )


@pytest.fixture(scope="session")
def tiny_backend(tiny_settings):
    from repomend.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend(tiny_settings)
    yield backend
    backend.close()
