.PHONY: demo test test-slow lint bench setup editors

STAMP := .venv/.installed

$(STAMP): pyproject.toml scripts/setup.sh scripts/system-deps.sh
	bash scripts/setup.sh
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	.venv/bin/repomend demo

test: $(STAMP) editors
	.venv/bin/ruff check .
	.venv/bin/python -m pytest -q

editors:
	bash scripts/build-vscode.sh

test-slow: $(STAMP)
	.venv/bin/python -m pytest -q -m slow

bench: $(STAMP)
	.venv/bin/python benchmarks/sandbox_overhead.py
	.venv/bin/python benchmarks/generation_speed.py
	.venv/bin/python benchmarks/server_load.py
