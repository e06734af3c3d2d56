"""Launch a command under limits and supervise it: wall clock, bounded output, tree kill."""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sandbox import cgroups
from sandbox.limits import Limits

# Joins the run's cgroups before anything else runs, so no child is ever outside them.
_JOIN = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'


@dataclass
class Finished:
    exit_code: int | None
    output: str
    duration: float
    timed_out: bool = False
    killed_reason: str | None = None


def rlimit_prefix(limits: Limits) -> list[str]:
    """prlimit(1) sets the limits between fork and exec without Python code in the child
    (preexec_fn is unsafe in a threaded server)."""
    mb = 1024 * 1024
    return [
        "prlimit",
        f"--as={limits.memory_mb * mb}",
        f"--fsize={limits.file_size_mb * mb}",
        "--core=0",
        "--",
    ]


def supervise(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str,
    limits: Limits,
    group: cgroups.RunGroup | None,
) -> Finished:
    """Run `argv` to completion or until a limit is hit; nothing it started survives."""
    start = time.monotonic()
    proc = launch(argv, env=env, cwd=cwd, group=group)
    return watch(proc, limits=limits, group=group, start=start)


def launch(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str,
    group: cgroups.RunGroup | None,
    stdin: int = subprocess.DEVNULL,
    pass_fds: Sequence[int] = (),
) -> subprocess.Popen[bytes]:
    """Start `argv` inside `group` (joined before it runs), in its own session, output piped;
    `pass_fds` are inherited under their numbers."""
    command = list(argv)
    if group is not None:
        command = ["/bin/sh", "-c", _JOIN, "sh", *group.procs_files, "--", *command]
    return subprocess.Popen(
        command,
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=dict(env),
        cwd=cwd,
        start_new_session=True,
        pass_fds=tuple(pass_fds),
    )


def watch(
    proc: subprocess.Popen[bytes],
    *,
    limits: Limits,
    group: cgroups.RunGroup | None,
    start: float,
) -> Finished:
    """Supervise a launched process from `start` (a monotonic time) on: the wall clock runs
    from there, output is capped, and the whole tree is killed when a limit is hit."""
    assert proc.stdout is not None
    cap = limits.output_kb * 1024
    kept = bytearray()
    total = 0
    timed_out, reason = False, None
    deadline = start + limits.wall_seconds
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        open_stream = True
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out, reason = True, "wall-clock"
                break
            if not open_stream:
                # Output closed: wait for the exit without spinning.
                try:
                    proc.wait(timeout=remaining)
                    break
                except subprocess.TimeoutExpired:
                    continue
            events = selector.select(timeout=min(remaining, 0.1))
            if events:
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    open_stream = False
                    selector.unregister(proc.stdout)
                    continue
                total += len(chunk)
                kept += chunk
                if len(kept) > cap:
                    del kept[: len(kept) - cap]
                if total > cap:
                    reason = "output-limit"
                    break
            elif proc.poll() is not None:
                break  # exited; a leftover holder of the pipe must not keep us waiting
    if reason is not None or proc.poll() is None:
        kill_tree(proc, group)
    exit_code = proc.wait()
    if group is not None:
        group.kill_all()  # strays that escaped the session (none expected in a PID namespace)
        if reason is None and group.oom_killed():
            reason = "memory"
    proc.stdout.close()
    text = kept.decode("utf-8", errors="replace")
    if total > len(kept):
        text = f"[... {total - len(kept)} bytes of output cut ...]\n" + text
    return Finished(
        exit_code=exit_code,
        output=text,
        duration=time.monotonic() - start,
        timed_out=timed_out,
        killed_reason=reason,
    )


def kill_tree(proc: subprocess.Popen[bytes], group: cgroups.RunGroup | None) -> None:
    """SIGKILL the session, the process and every member of its groups."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    if group is not None:
        group.kill_all()
