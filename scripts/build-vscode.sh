#!/usr/bin/env bash
# Build the VS Code extension: install from package-lock.json, compile, unit-test, package the .vsix.
# Skipped (exit 0, with a message) where Node.js 20+ and npm are not installed.
set -euo pipefail
cd "$(dirname "$0")/../editors/vscode"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "repomend: skipping the VS Code extension build: node and npm are not installed" >&2
    exit 0
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
    echo "repomend: skipping the VS Code extension build: it needs Node.js 20+, found $(node --version)" >&2
    exit 0
fi

started=$(date +%s)
# node_modules is reinstalled only when package-lock.json changed since the last install.
# --prefer-offline: the npm cache is enough once it holds the locked versions;
# --ignore-scripts: nothing here needs an install script (tsc and vsce are plain JavaScript).
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.installed-lock 2>/dev/null)" != "$lock_sum" ]; then
    npm ci --prefer-offline --ignore-scripts --no-audit --no-fund --loglevel=error
    echo "$lock_sum" >node_modules/.installed-lock
fi
# vsce compiles first (the vscode:prepublish script), which builds the unit tests as well.
npx --no-install vsce package --skip-license --allow-missing-repository >/dev/null
node --test --test-reporter=dot out/test/
vsix=$(ls -t ./*.vsix | head -n 1)
echo "repomend: built editors/vscode/${vsix#./} ($(du -k "$vsix" | cut -f1) KB) in $(($(date +%s) - started)) s"
