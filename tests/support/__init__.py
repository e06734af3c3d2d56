"""What tests share, in one place: conftest files hold only fixtures and test modules import helpers
from here, never from a conftest or from another test module.

- `repos`: the sample projects on disk (stats, with its right and wrong `mean`; shapes, with its
  covered methods) and `make_repo`, which writes one.
- `settings`: settings that run candidates in the strict sandbox (`sandbox_settings`).
- `sandbox_repos`: what sandbox tests build and inspect: the `RepoFactory` type, `snapshot` of a
  folder, `processes_with` a marker on the host.
- `server_client`: driving the server in-process: tokens and auth headers, `register` a repository,
  `repair_body`, and `instant_runner` (repairs without a sandbox).
- `model`: the stand-in OpenAI-compatible model server (`StubServer`) and its scripted replies.
- `serve`: a real `repomend serve` process (`serve_process`, `RunningServe`).
- `fixtures`: pytest fixtures over `model` and `serve` (`model_stub`, `repomend_server`,
  `stats_workspace`); import them into a conftest.py to use them.
- `lsp_editor`: a scripted editor (`Editor`) driving `repomend lsp` through pytest-lsp.
- `tiny_models`: tiny chat models built on the spot (random, scripted) and LoRA adapters for them.
- `gguf_models`: a tiny model with SmolLM2's tokenizer, converted to GGUF for llama.cpp.
- `adapter_folders`: adapter folders as fine-tuning leaves them (PEFT files and the manifest).
- `sft_datasets`: small fine-tuning datasets and the `tiny_chat_model` fixture to train.
- `heldout`: a held-out extraction of the shapes project and scripted models of known Pass@k.
- `dashboard`: a server database seeded with everything the dashboard shows.
"""
