"""pytest fixtures for end-to-end tests: a stand-in model, a real `repomend serve`, a registered repository.

Use them from a conftest.py:

    from tests.support.fixtures import model_stub, repomend_server, stats_workspace  # noqa: F401

`model_stub` and `repomend_server` live for one test module (starting the server takes a couple of
seconds); the stub's script is emptied before every test that asks for `stats_workspace`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.model import StubServer
from tests.support.repos import make_repo
from tests.support.serve import RunningServe, serve_process


@pytest.fixture(scope="module")
def model_stub() -> Iterator[StubServer]:
    stub = StubServer()
    stub.start()
    try:
        yield stub
    finally:
        stub.stop()


@pytest.fixture(scope="module")
def repomend_server(
    model_stub: StubServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServe]:
    with serve_process(model_stub.base_url, tmp_path_factory.mktemp("serve")) as running:
        yield running


@pytest.fixture
def stats_workspace(tmp_path: Path, repomend_server: RunningServe, model_stub: StubServer) -> Path:
    """A fresh copy of the stats sample repository, registered under its folder's (unique) name."""
    model_stub.reset()
    repo = make_repo(tmp_path / f"stats-{uuid.uuid4().hex[:8]}")
    repomend_server.register(repo)
    return repo
