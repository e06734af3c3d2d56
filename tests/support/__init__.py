"""Building blocks for end-to-end tests of the editor faces (language server, editors).

- `tests.support.model`: the stand-in OpenAI-compatible model server and scripted replies.
- `tests.support.serve`: a real `repomend serve` process (`serve_process`, `RunningServe`).
- `tests.support.fixtures`: pytest fixtures over both (`model_stub`, `repomend_server`,
  `stats_workspace`); import them into a conftest.py to use them.
"""
