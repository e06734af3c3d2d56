.PHONY: demo test test-slow lint bench bench-engine bench-training bench-adapter setup editors

STAMP := .venv/.installed

$(STAMP): pyproject.toml scripts/setup.sh scripts/system-deps.sh repomend/llamacpp/build.py
	bash scripts/setup.sh
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	.venv/bin/repomend models pull
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
	.venv/bin/python benchmarks/lsp_code_actions.py
	.venv/bin/python benchmarks/adapter_activation.py
	.venv/bin/python benchmarks/dashboard_pages.py

bench-engine: $(STAMP)
	.venv/bin/python benchmarks/engine_speed.py
	.venv/bin/python benchmarks/engine_repairs.py

bench-training: $(STAMP)
	.venv/bin/python benchmarks/train_real_packages.py
	.venv/bin/python benchmarks/retrain_job.py
	.venv/bin/python benchmarks/grpo_demo.py

bench-adapter: $(STAMP)
	.venv/bin/python benchmarks/adapter_gain.py
