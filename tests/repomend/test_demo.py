"""`repomend demo` end to end on the embedded default model (slow: loads SmolLM2-135M)."""

from __future__ import annotations

import pytest

from repomend.cli import main
from repomend.demo import BROKEN_LINE, CORRECT_LINE, copy_demo_repo


def test_demo_copy_is_broken_and_original_untouched(tmp_path):
    repo = copy_demo_repo(tmp_path / "statkit")
    assert BROKEN_LINE in (repo / "statkit/stats.py").read_text()
    from importlib import resources

    assert CORRECT_LINE in (resources.files("repomend") / "demo_repo/statkit/stats.py").read_text()


@pytest.mark.slow
def test_demo_repairs_the_broken_method(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "tests pass" in out
    assert f"+    {CORRECT_LINE}" in out
