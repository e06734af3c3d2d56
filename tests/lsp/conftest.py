"""`repomend lsp` as a process driven by a scripted editor; the end-to-end fixtures of tests.support."""

from __future__ import annotations

import pytest_lsp
from pytest_lsp import ClientServerConfig

from tests.support.fixtures import model_stub, repomend_server, stats_workspace  # noqa: F401
from tests.support.lsp_editor import Editor
from tests.support.serve import repomend_command

LSP_COMMAND = [*repomend_command(), "lsp"]


@pytest_lsp.fixture(config=ClientServerConfig(server_command=LSP_COMMAND, client_factory=Editor))
async def editor(client: Editor):
    """A started `repomend lsp`; the test initializes it (`await editor.start(folder, **settings)`)."""
    yield
    if client._server is not None and client._server.returncode is None:  # not shut down by the test
        await client.shutdown_session()
