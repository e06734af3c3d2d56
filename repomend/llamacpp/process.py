"""One `llama-server` child process, owned by whoever serves repairs (`repomend serve`, the CLI).

The child listens on a free loopback port, is health-checked before use, dies with its parent
(Linux `PR_SET_PDEATHSIG`, plus a stop at interpreter exit), and is started again when it has
died. Its output goes to a log file whose tail is quoted when it fails to start.

Its OpenMP threads sleep rather than spin while they wait (`OMP_WAIT_POLICY=PASSIVE`): with as
many threads as cores, one busy process beside it (the sandboxed tests, an editor) made spinning
threads wait on each other and decoding fell from ~20 to under 1 token/s on 2 cores; passive
waiting kept 19 tokens/s in the same conditions (Qwen2.5-Coder-0.5B).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

_PR_SET_PDEATHSIG = 1


class EngineStartError(RuntimeError):
    """llama-server did not come up; the message quotes its log."""


@dataclass(frozen=True)
class ServerConfig:
    binary: Path
    model: Path
    """The base model, GGUF."""
    loras: tuple[Path, ...] = ()
    """GGUF adapters, loaded at scale 0 and chosen per request by their position here."""
    threads: int = 2
    slots: int = 1
    """Parallel sequences: samples of one turn decode side by side, one per slot."""
    context: int = 8192
    """Tokens of context, shared by the slots (unified KV cache)."""
    log: Path | None = None
    extra_args: tuple[str, ...] = field(default_factory=tuple)

    def command(self, port: int) -> list[str]:
        args = [
            str(self.binary),
            "--model",
            str(self.model),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--threads",
            str(self.threads),
            "--threads-batch",
            str(self.threads),
            "--parallel",
            str(self.slots),
            "--kv-unified",
            "--ctx-size",
            str(self.context),
            "--no-webui",
            "--metrics",
            "--slots",
            "--jinja",
            "--fit",
            "off",
        ]
        for lora in self.loras:
            args += ["--lora", str(lora)]
        if self.loras:
            args.append("--lora-init-without-apply")
        return args + list(self.extra_args)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """Runs in the child before exec: the kernel sends SIGTERM when the parent thread exits."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class LlamaServer:
    """Starts, watches and stops one llama-server; `url` is valid while `running()`."""

    def __init__(self, config: ServerConfig, *, start_timeout: float = 180.0) -> None:
        self.config = config
        self._start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._port = 0
        self._lock = threading.RLock()
        self.restarts = 0
        """How often the child was started again after dying."""
        atexit.register(self.stop)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def ensure_running(self) -> str:
        """The URL of a healthy server, starting (or restarting) the child when needed."""
        with self._lock:
            if self.running():
                return self.url
            if self._process is not None:
                self.restarts += 1
            self._start()
            return self.url

    def restart(self, config: ServerConfig | None = None) -> str:
        """Stop the child and start it again, optionally with another configuration (new adapters)."""
        with self._lock:
            self.stop()
            if config is not None:
                self.config = config
            self._start()
            return self.url

    def stop(self) -> None:
        with self._lock:
            process, self._process = self._process, None
            if process is None or process.poll() is not None:
                return
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    def _start(self) -> None:
        config = self.config
        if not os.access(config.binary, os.X_OK):
            raise EngineStartError(
                f"llama-server is not built ({config.binary}); run `repomend engine build` (the set-up does)"
            )
        self._port = free_port()
        log = config.log or Path(os.devnull)
        if config.log:
            config.log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            self._process = subprocess.Popen(
                config.command(self._port),
                env={**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
                close_fds=True,
            )
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self._start_timeout
        with httpx.Client(timeout=5.0) as client:
            while time.monotonic() < deadline:
                assert self._process is not None
                if self._process.poll() is not None:
                    code = self._process.returncode
                    self._process = None
                    raise EngineStartError(
                        f"llama-server exited with status {code} while starting{self._tail()}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{self.url}/health").status_code == 200:
                        return
                time.sleep(0.1)
        self.stop()
        raise EngineStartError(f"llama-server was not ready after {self._start_timeout:g} s{self._tail()}")

    def _tail(self) -> str:
        if self.config.log is None or not self.config.log.is_file():
            return ""
        lines = self.config.log.read_text(errors="replace").splitlines()[-12:]
        return f"; its log ({self.config.log}) ends:\n" + "\n".join(lines)
