"""Headless Neovim fixes a method through its built-in LSP client, `repomend lsp` and a real `repomend serve`.

The editor side is editors/neovim/repomend.lua, loaded as a user would load it; the model behind
the server is the stand-in OpenAI-compatible server (tests.support) answering with the right method.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.model import code_reply
from tests.support.repos import FIXED_MEAN, STATS_SOURCE
from tests.support.serve import repomend_command

NVIM = shutil.which("nvim")
pytestmark = pytest.mark.skipif(NVIM is None, reason="nvim is not installed (Debian package `neovim`)")

ROOT = Path(__file__).resolve().parents[2]
SNIPPET = ROOT / "editors" / "neovim" / "repomend.lua"
DRIVER = Path(__file__).with_name("fix_in_neovim.lua")
BROKEN = "return sum(self.xs) / (len(self.xs) - 1)"
FIXED = "return sum(self.xs) / len(self.xs)"
BROKEN_LINE = STATS_SOURCE.splitlines().index(f"        {BROKEN}") + 1
"""1-based, as Neovim counts; the cursor goes on the broken line, inside `Stats.mean`."""


def run_neovim(repo: Path, server, tmp_path: Path, *, reject: bool = False) -> dict:
    """Neovim opens pkg/stats.py of `repo`, fixes `Stats.mean` (and rejects it), writes and quits."""
    report = tmp_path / "neovim-report.json"
    settings = {"serverUrl": server.base_url, "token": server.token, "mode": "no-think", "maxTurns": 3}
    env = {key: value for key, value in os.environ.items() if not key.startswith("REPOMEND_")}
    env.update(
        {
            "REPOMEND_NVIM_SNIPPET": str(SNIPPET),
            "REPOMEND_NVIM_CMD": json.dumps([*repomend_command(), "lsp"]),
            "REPOMEND_NVIM_SETTINGS": json.dumps(settings),
            "REPOMEND_NVIM_FILE": str(repo / "pkg" / "stats.py"),
            "REPOMEND_NVIM_LINE": str(BROKEN_LINE),
            "REPOMEND_NVIM_COLUMN": "8",
            "REPOMEND_NVIM_MODE": "no-think",
            "REPOMEND_NVIM_TIMEOUT_MS": "90000",
            "REPOMEND_NVIM_REPORT": str(report),
            "REPOMEND_NVIM_REJECT": "1" if reject else "0",
        }
    )
    done = subprocess.run(
        [NVIM, "--headless", "--clean", "-u", str(DRIVER)],
        env=env,
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=180,
    )
    seen = json.loads(report.read_text()) if report.exists() else {}
    assert done.returncode == 0 and not seen.get("failure"), (
        f"neovim failed ({done.returncode}): {seen.get('failure')} (steps at {seen.get('seconds')} s)\n"
        f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}\n--- repomend serve:\n{server.log_tail()}"
    )
    return seen


def repo_tests_pass(repo: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_fix_this_method_from_neovim(stats_workspace, repomend_server, model_stub, tmp_path):
    repo = stats_workspace
    assert repo_tests_pass(repo).returncode != 0, "the sample method should start broken"
    model_stub.script.append(code_reply(FIXED_MEAN))

    seen = run_neovim(repo, repomend_server, tmp_path)

    assert seen["filetype"] == "python" and seen["client"] == "repomend"
    assert seen["fix"]["status"] == "fixed" and seen["fix"]["applied"] is True, seen["fix"]
    assert seen["changed"]
    written = (repo / "pkg" / "stats.py").read_text()
    assert FIXED in written and BROKEN not in written
    assert '"""Arithmetic mean."""' in written, "the rest of the method and file must be kept"
    assert "def total(self):" in written and "def clamp(x, low, high):" in written
    outcome = repo_tests_pass(repo)
    assert outcome.returncode == 0, outcome.stdout[-2000:]

    assert len(model_stub.requests) == 1, "one model turn should have been enough"
    repair = repomend_server.repair(seen["fix"]["repairId"])
    assert repair["status"] == "fixed" and repair["repository"] == repo.name
    assert FIXED in repair["new_method"]
    feedback = repomend_server.feedback(seen["fix"]["repairId"])
    assert feedback is not None and feedback["verdict"] == "accepted"


def test_reject_last_fix_from_neovim_restores_the_method(
    stats_workspace, repomend_server, model_stub, tmp_path
):
    repo = stats_workspace
    before = (repo / "pkg" / "stats.py").read_text()
    model_stub.script.append(code_reply(FIXED_MEAN))

    seen = run_neovim(repo, repomend_server, tmp_path, reject=True)

    assert seen["changed"] and FIXED in seen["fixed_text"]
    assert seen["reject"]["status"] == "rejected" and seen["restored"], seen["reject"]
    assert (repo / "pkg" / "stats.py").read_text() == before
    feedback = repomend_server.feedback(seen["fix"]["repairId"])
    assert feedback is not None and feedback["verdict"] == "rejected"
