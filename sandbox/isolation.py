"""Strict isolation through bubblewrap namespaces plus cgroups.

What a strict run sees: a fresh mount namespace whose root is read-only and holds only /usr
(and its /bin, /lib symlinks), a short list of harmless /etc files, the interpreter's
prefixes and import path (read-only), the copy of the repository mounted read-write AT THE
REPOSITORY'S OWN PATH (so editable installs resolve to the copy), the repository's venv / .git
/ node_modules read-only at their place, and size-capped tmpfs for /tmp, /dev/shm and $HOME.
It has its own network namespace (only a private loopback: the host's 127.0.0.1 listeners
are unreachable), its own PID namespace (killing its init kills every descendant, setsid and
double forks included), IPC and UTS namespaces, no capabilities, and it dies with the runner.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass

from sandbox import cgroups

#: Paths of /etc that programs commonly read and that carry no secrets.
ETC_FILES = (
    "/etc/passwd", "/etc/group", "/etc/hosts", "/etc/localtime", "/etc/timezone",
    "/etc/nsswitch.conf", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
    "/etc/ssl", "/etc/ca-certificates", "/etc/alternatives", "/etc/mime.types",
    "/etc/os-release", "/etc/debian_version",
)  # fmt: skip
ROOT_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
INSIDE_SUPPORT = "/run/repomend/support"
OPT_OUT = "pass isolation='none' to run unprotected (trusted code only)"


class IsolationUnavailable(RuntimeError):
    """Strict isolation was requested but a primitive it relies on is missing."""


def check_isolation() -> list[str]:
    """Names of the missing primitives; an empty list means strict isolation is available."""
    return list(_missing())


@functools.lru_cache(maxsize=1)
def _missing() -> tuple[str, ...]:
    missing = []
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        missing.append("bubblewrap (no 'bwrap' on PATH; Debian: apt-get install bubblewrap)")
    else:
        probe = subprocess.run(
            [bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if probe.returncode != 0:
            missing.append(
                "user/network/PID namespaces (bwrap --unshare-all failed: "
                f"{probe.stderr.strip() or probe.returncode})"
            )
    problem = cgroups.pids_problem()
    if problem is not None:
        missing.append(f"writable cgroup pids controller ({problem})")
    return tuple(missing)


def require_isolation() -> None:
    missing = check_isolation()
    if missing:
        raise IsolationUnavailable(
            "strict sandbox isolation is unavailable, missing: "
            + "; ".join(missing)
            + f". Install/enable them, or {OPT_OUT}."
        )


@dataclass(frozen=True)
class Mount:
    kind: str  # "ro-bind", "bind", "tmpfs"
    dest: str
    src: str = ""
    size: int = 0


def bwrap_argv(
    *,
    repo: str,
    copy: str,
    shared: Iterable[str],
    readable: Iterable[str],
    support: str,
    home: str,
    tmp_bytes: int,
    protected: Iterable[str] = (),
) -> list[str]:
    """bwrap options (without the command) for one run; `protected` (paths relative to the
    repository: its test files) are read-only inside, so a run cannot rewrite its judges."""
    mounts = [
        Mount("tmpfs", "/tmp", size=tmp_bytes),
        Mount("tmpfs", "/dev/shm", size=tmp_bytes),
        Mount("ro-bind", "/usr", "/usr"),
        Mount("bind", repo, copy),
        Mount("ro-bind", INSIDE_SUPPORT, support),
    ]
    if home not in ("/", "/tmp", "/usr") and not _inside(repo, home):
        mounts.append(Mount("tmpfs", home, size=tmp_bytes))
    mounts += [Mount("ro-bind", p, p) for p in ETC_FILES if os.path.exists(p)]
    mounts += [Mount("ro-bind", p, p) for p in readable if _may_expose(p, repo, home)]
    mounts += [Mount("ro-bind", os.path.join(repo, rel), os.path.join(repo, rel)) for rel in shared]
    mounts += [Mount("ro-bind", os.path.join(repo, rel), os.path.join(copy, rel)) for rel in protected]
    # Parents before children, so nested mounts land on top of their parent.
    mounts.sort(key=lambda m: m.dest.rstrip("/").count("/"))

    argv = [
        "bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
        "--proc", "/proc", "--dev", "/dev",
    ]  # fmt: skip
    for link in ROOT_LINKS:
        if os.path.islink(link):
            argv += ["--symlink", os.readlink(link), link]
        elif os.path.isdir(link):
            argv += ["--ro-bind", link, link]
    for mount in mounts:
        if mount.kind == "tmpfs":
            argv += ["--size", str(mount.size), "--tmpfs", mount.dest]
        else:
            argv += [f"--{mount.kind}", mount.src, mount.dest]
    argv += ["--remount-ro", "/", "--chdir", repo]
    return argv


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _may_expose(path: str, repo: str, home: str) -> bool:
    """Paths inside the repository come from the copy, never from the host; and an import
    path entry that contains $HOME or /tmp (or is /) would expose what they hide."""
    return not (_inside(path, repo) or _inside(home, path) or _inside("/tmp", path))
