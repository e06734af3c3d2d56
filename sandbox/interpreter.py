"""What a repository's interpreter needs to run: its prefixes, import path and version."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

_PROBE = """
import importlib.util, json, sys
print(json.dumps({
    "version": list(sys.version_info[:2]),
    "prefixes": sorted({sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}),
    "executable": sys.executable,
    "path": [p for p in sys.path if p],
    "coverage": importlib.util.find_spec("coverage") is not None,
    "pytest": importlib.util.find_spec("pytest") is not None,
}))
"""


@dataclass(frozen=True)
class Interpreter:
    path: str
    """As given by the caller, its folders resolved: the file itself stays a symlink (a venv's
    bin/python must, to find its pyvenv.cfg), but a folder reached through a link (a `.venv`
    that points at a shared or tool-managed environment) is named by its real place, which
    is what the sandbox mounts."""
    version: tuple[int, int]
    prefixes: tuple[str, ...]
    executable: str
    import_path: tuple[str, ...]
    has_coverage: bool
    has_pytest: bool

    def readable_paths(self) -> list[str]:
        """Everything the interpreter reads to start and import its packages."""
        paths = {*self.prefixes, *self.import_path}
        chain = Path(self.path)
        for _ in range(16):  # follow the symlink chain venv/bin/python -> ... -> real binary
            paths.add(str(chain.parent.resolve()))
            if not chain.is_symlink():
                break
            chain = chain.parent / os.readlink(chain)
        paths.add(str(Path(self.executable).resolve().parent))
        real = sorted(p for p in {os.path.realpath(p) for p in paths} if os.path.exists(p))
        # A path inside another one adds nothing to a bind mount of the outer one.
        return [p for p in real if not any(p.startswith(q.rstrip("/") + "/") for q in real)]


def probe(python: str | os.PathLike[str]) -> Interpreter:
    """Ask the interpreter about itself; cached per binary (it costs a Python start-up)."""
    given = os.path.abspath(os.fspath(python))
    path = os.path.join(os.path.realpath(os.path.dirname(given)), os.path.basename(given))
    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError as exc:
        raise FileNotFoundError(f"interpreter not found: {path}") from exc
    return _probe(path, stamp)


@functools.lru_cache(maxsize=32)
def _probe(path: str, _stamp: int) -> Interpreter:
    done = subprocess.run([path, "-I", "-c", _PROBE], capture_output=True, text=True, timeout=60, cwd="/")
    if done.returncode != 0:
        raise RuntimeError(f"interpreter {path} failed to start: {done.stderr.strip()[-2000:]}")
    info = json.loads(done.stdout)
    return Interpreter(
        path=path,
        version=(info["version"][0], info["version"][1]),
        prefixes=tuple(info["prefixes"]),
        executable=info["executable"],
        import_path=tuple(info["path"]),
        has_coverage=info["coverage"],
        has_pytest=info["pytest"],
    )


def own_coverage_package(target: Interpreter) -> tuple[Path | None, str | None]:
    """Our coverage package, lent to an interpreter that lacks it (same Python version only,
    because coverage ships a compiled tracer). Returns (package dir, reason if unavailable)."""
    if target.has_coverage:
        return None, None
    if target.version != sys.version_info[:2]:
        return None, (
            f"coverage is not installed for {target.path} (Python "
            f"{target.version[0]}.{target.version[1]}) and ours is built for "
            f"{sys.version_info[0]}.{sys.version_info[1]}"
        )
    try:
        import coverage
    except ImportError:
        return None, f"coverage is not installed for {target.path} nor for the runner"
    return Path(coverage.__file__).resolve().parent, None
