"""`repomend demo`: break a method of a bundled sample project and repair it end to end."""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

from rich.console import Console
from rich.syntax import Syntax

from repomend.console_repair import check_sandbox, choose_tests, load_model, report, run_repair
from repomend.settings import Settings
from repomend.targets import resolve_target

DEMO_FILE = "statkit/stats.py"
DEMO_METHOD = "is_even"
CORRECT_LINE = "return n % 2 == 0"
BROKEN_LINE = "return n % 2 == 1"


def copy_demo_repo(destination: Path) -> Path:
    """A fresh copy of the sample project, with `is_even` broken by a wrong comparison."""
    source = resources.files("repomend") / "demo_repo"
    with resources.as_file(source) as folder:
        shutil.copytree(folder, destination, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    stats = destination / DEMO_FILE
    text = stats.read_text(encoding="utf-8")
    if CORRECT_LINE not in text:
        raise RuntimeError(f"the bundled demo project is damaged: {DEMO_FILE}")
    stats.write_text(text.replace(CORRECT_LINE, BROKEN_LINE, 1), encoding="utf-8")
    return destination


def run_demo(settings: Settings, console: Console, *, adapter: str | None = None) -> int:
    started = time.perf_counter()
    check_sandbox(settings)
    with tempfile.TemporaryDirectory(prefix="repomend-demo-") as tmp:
        repo = copy_demo_repo(Path(tmp) / "statkit")
        target = resolve_target(repo / DEMO_FILE, DEMO_METHOD, repo=repo)
        console.print(f"[bold]sample project[/] {repo}, broken method `{DEMO_METHOD}`:")
        console.print(Syntax(target.method.source_text, "python"))
        python = Path(sys.executable)
        tests = choose_tests(target, None, python, settings, console)
        backend = load_model(settings, console)
        try:
            trajectory = run_repair(
                target, tests, python, settings, backend, console, adapter=adapter, show_code=True
            )
        finally:
            backend.close()
        code = report(trajectory, console)
    console.print(f"[dim]demo finished in {time.perf_counter() - started:.1f}s[/]")
    return code
