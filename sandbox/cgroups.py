"""Per-run control groups: a process-count cap (pids) and, where available, a memory cap.

RLIMIT_NPROC does not bind root, so the pids controller is what stops a fork bomb here.
Both cgroup v1 (one hierarchy per controller) and a delegated cgroup v2 subtree work; the
group is created under the runner's own group so it never leaves the container's limits.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class _Hierarchy:
    version: int
    directory: Path
    """Our own group inside this hierarchy (where children are created)."""


def _own_groups() -> dict[str, str]:
    """controller (or '' for v2) -> our group path, from /proc/self/cgroup."""
    groups: dict[str, str] = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            groups[name] = path
    return groups


def _mounts() -> list[tuple[str, str, str, set[str]]]:
    """(fstype, mount point, root inside the hierarchy, super options) of cgroup mounts."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, rfields = left.split(), right.split()
        if rfields and rfields[0] in ("cgroup", "cgroup2"):
            found.append((rfields[0], fields[4], fields[3], set(rfields[-1].split(","))))
    return found


def _locate(controller: str) -> _Hierarchy | None:
    groups = _own_groups()
    for fstype, mountpoint, root, options in _mounts():
        if fstype == "cgroup" and controller in options and controller in groups:
            rel = os.path.relpath(groups[controller], root)
            return _Hierarchy(1, Path(os.path.normpath(os.path.join(mountpoint, rel))))
        if fstype == "cgroup2" and "" in groups:
            rel = os.path.relpath(groups[""], root)
            directory = Path(os.path.normpath(os.path.join(mountpoint, rel)))
            with contextlib.suppress(OSError):
                if controller in (directory / "cgroup.subtree_control").read_text().split():
                    return _Hierarchy(2, directory)
    return None


def _try_create(hierarchy: _Hierarchy) -> str | None:
    probe = hierarchy.directory / f"repomend-probe-{uuid.uuid4().hex[:8]}"
    try:
        probe.mkdir()
        probe.rmdir()
    except OSError as exc:
        return f"{hierarchy.directory} is not writable ({exc.strerror})"
    return None


@functools.lru_cache(maxsize=1)
def pids_problem() -> str | None:
    """Why the pids controller is unusable, or None."""
    hierarchy = _locate("pids")
    if hierarchy is None:
        return "no cgroup pids controller mounted for this process"
    return _try_create(hierarchy)


@functools.lru_cache(maxsize=1)
def _memory_hierarchy() -> _Hierarchy | None:
    hierarchy = _locate("memory")
    return hierarchy if hierarchy is not None and _try_create(hierarchy) is None else None


@dataclass
class RunGroup:
    """The groups of one run; `procs_files` are what the launched process joins first."""

    directories: list[Path] = field(default_factory=list)
    memory_dir: Path | None = None
    memory_version: int = 0

    @property
    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.directories]

    def kill_all(self) -> None:
        for directory in self.directories:
            kill_file = directory / "cgroup.kill"
            if kill_file.exists():
                with contextlib.suppress(OSError):
                    kill_file.write_text("1")
            for _ in range(100):
                pids = _read_pids(directory)
                if not pids:
                    break
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
                time.sleep(0.005)

    def oom_killed(self) -> bool:
        if self.memory_dir is None:
            return False
        name = "memory.events" if self.memory_version == 2 else "memory.oom_control"
        with contextlib.suppress(OSError):
            for line in (self.memory_dir / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and int(value) > 0:
                    return True
        return False

    def remove(self) -> None:
        self.kill_all()
        for directory in self.directories:
            for _ in range(200):
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.005)


def _read_pids(directory: Path) -> list[int]:
    try:
        return [int(p) for p in (directory / "cgroup.procs").read_text().split()]
    except OSError:
        return []


def create(max_processes: int, memory_mb: int) -> RunGroup:
    """Create the groups of one run (the pids group is mandatory, memory best effort)."""
    problem = pids_problem()
    if problem is not None:
        raise OSError(problem)
    name = f"repomend-{uuid.uuid4().hex[:12]}"
    group = RunGroup()
    pids = _locate("pids")
    assert pids is not None
    pids_dir = pids.directory / name
    pids_dir.mkdir()
    group.directories.append(pids_dir)
    try:
        (pids_dir / "pids.max").write_text(str(max_processes))
        memory = _memory_hierarchy()
        if memory is not None:
            if memory.version == 2 and memory.directory == pids.directory:
                mem_dir = pids_dir
            else:
                mem_dir = memory.directory / name
                mem_dir.mkdir()
                group.directories.append(mem_dir)
            limit = str(memory_mb * 1024 * 1024)
            if memory.version == 2:
                (mem_dir / "memory.max").write_text(limit)
                with contextlib.suppress(OSError):
                    (mem_dir / "memory.swap.max").write_text("0")
            else:
                (mem_dir / "memory.limit_in_bytes").write_text(limit)
                with contextlib.suppress(OSError):
                    (mem_dir / "memory.memsw.limit_in_bytes").write_text(limit)
            group.memory_dir, group.memory_version = mem_dir, memory.version
    except OSError:
        group.remove()
        raise
    return group
