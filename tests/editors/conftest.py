"""A real `repomend serve` behind the stand-in model, shared by the editor tests of a module."""

from tests.support.fixtures import model_stub, repomend_server, stats_workspace  # noqa: F401
