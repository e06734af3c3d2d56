"""Resource limits of one sandboxed run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 60.0
    """Wall-clock budget; the whole process tree is killed when it runs out."""
    memory_mb: int = 2048
    """Address space per process (RLIMIT_AS) and, where a memory cgroup exists, the total."""
    max_processes: int = 64
    """Processes and threads alive at once inside the sandbox (cgroup pids controller)."""
    file_size_mb: int = 64
    """Largest file any process may write (RLIMIT_FSIZE); also the size of the private /tmp."""
    output_kb: int = 1024
    """Captured stdout+stderr kept; a run that prints more is killed ('output-limit')."""
