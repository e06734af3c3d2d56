#!/usr/bin/env bash
# System packages the sandbox and the editor tests rely on (Debian); skipped when present or when not root.
set -euo pipefail
missing=()
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
# The editor end-to-end test drives Neovim's built-in LSP client.
command -v nvim >/dev/null 2>&1 || missing+=(neovim)
# llama-server is compiled from source at set-up.
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v c++ >/dev/null 2>&1 || missing+=(g++)
# The dashboard test drives Debian's chromium through its chromedriver (no browser download).
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "repomend: please install: ${missing[*]} (the sandbox needs bubblewrap, the engine cmake and g++, the editor tests neovim, the dashboard test chromium)" >&2
    exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
