"""Build llama.cpp's `llama-server` once from the source vendored in the pinned `llama-cpp-python` sdist.

The sdist on PyPI carries the whole of llama.cpp under `vendor/llama.cpp/`, so the engine needs
nothing but the package registry, cmake and a C++ compiler. The build is cached per pin and per
CPU variant under `<engine dir>/<pin>-<variant>/` and only redone when either changes.

CPU flags come from `/proc/cpuinfo`, what the kernel says this CPU runs, never from gcc's
`-march=native`: on virtual machines gcc detects features (AMX, AVX512-FP16) the VM does not
expose and the binary dies with SIGILL.

Besides the binary, the folder keeps llama.cpp's conversion scripts (`convert_hf_to_gguf.py`,
`convert_lora_to_gguf.py`, the `conversion/` package and `gguf-py`), which turn PEFT adapters
and locally built test models into GGUF with the code that matches the server.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

LLAMA_CPP_PYTHON = "llama-cpp-python==0.3.36"
"""The pinned sdist; its vendored llama.cpp is commit 4df29be4."""
SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
_VENDOR = "vendor/llama.cpp"
_KEPT_SOURCES = ("convert_hf_to_gguf.py", "convert_lora_to_gguf.py", "conversion", "gguf-py", "LICENSE")
_X86_FLAGS = (
    # (/proc/cpuinfo flag, cmake option); order is the variant's name.
    ("avx", "GGML_AVX"),
    ("avx2", "GGML_AVX2"),
    ("fma", "GGML_FMA"),
    ("f16c", "GGML_F16C"),
    ("bmi2", "GGML_BMI2"),
    ("avx_vnni", "GGML_AVX_VNNI"),
    ("avx512f", "GGML_AVX512"),
    ("avx512vbmi", "GGML_AVX512_VBMI"),
    ("avx512_vnni", "GGML_AVX512_VNNI"),
    ("avx512_bf16", "GGML_AVX512_BF16"),
)


class EngineBuildError(RuntimeError):
    """llama-server could not be fetched or built; the message says which step failed and why."""


@dataclass(frozen=True)
class EngineFiles:
    """One finished build: the server binary and the conversion scripts that match it."""

    root: Path

    @property
    def server(self) -> Path:
        return self.root / "bin" / "llama-server"

    @property
    def sources(self) -> Path:
        return self.root / "src"

    @property
    def convert_lora(self) -> Path:
        return self.sources / "convert_lora_to_gguf.py"

    @property
    def convert_hf(self) -> Path:
        return self.sources / "convert_hf_to_gguf.py"

    def is_complete(self) -> bool:
        return os.access(self.server, os.X_OK) and self.convert_lora.is_file()


def default_engine_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "repomend" / "llama.cpp"


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The instruction-set flags the kernel reports for this CPU (empty off Linux)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return set()
    for line in cpuinfo.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    return set()


def cmake_cpu_options(flags: set[str], machine: str | None = None) -> tuple[str, list[str]]:
    """The variant's name and the cmake options that enable exactly what this CPU has."""
    machine = machine or platform.machine()
    if machine not in ("x86_64", "AMD64"):
        # ARM and others: ggml's portable defaults for the architecture, no native probing.
        return machine.lower(), []
    enabled = [name for name, _ in _X86_FLAGS if name in flags]
    options = [f"-D{option}={'ON' if name in flags else 'OFF'}" for name, option in _X86_FLAGS]
    options.append(f"-DGGML_SSE42={'ON' if 'sse4_2' in flags else 'OFF'}")
    return "-".join(enabled) or "generic", options


def engine_files(engine_dir: Path | None = None, cpuinfo: str | None = None) -> EngineFiles:
    """Where this machine's build lives (whether or not it exists yet)."""
    variant, _ = cmake_cpu_options(cpu_flags(cpuinfo))
    pin = LLAMA_CPP_PYTHON.replace("==", "-")
    return EngineFiles((engine_dir or default_engine_dir()) / f"{pin}-{variant}")


def _run(step: str, command: list[str], log: Path, cwd: Path | None = None) -> None:
    with log.open("a") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        result = subprocess.run(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-15:]
        raise EngineBuildError(f"{step} failed (exit {result.returncode}); log {log}:\n" + "\n".join(tail))


def _fetch_sdist(work: Path, log: Path) -> Path:
    """Download the pinned sdist through pip, so the user's index and proxy settings apply."""
    _run(
        "downloading the llama.cpp sources",
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            "-d",
            str(work),
            LLAMA_CPP_PYTHON,
        ],
        log,
    )
    archives = sorted(work.glob("llama_cpp_python-*.tar.gz"))
    if not archives:
        raise EngineBuildError(f"pip downloaded no sdist of {LLAMA_CPP_PYTHON} into {work}")
    return archives[0]


def _check_sdist(archive: Path) -> None:
    digest = hashlib.sha256()
    with archive.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() != SDIST_SHA256:
        raise EngineBuildError(
            f"{archive.name} has sha256 {digest.hexdigest()}, not the pinned {SDIST_SHA256}; "
            "refusing to build it"
        )


def _extract_vendor(archive: Path, target: Path) -> Path:
    """Unpack only `vendor/llama.cpp/`, refusing members that would land outside the target."""
    with tarfile.open(archive) as tar:
        members = []
        for member in tar.getmembers():
            parts = Path(member.name).parts
            if len(parts) < 3 or "/".join(parts[1:3]) != _VENDOR:
                continue
            members.append(member)
        if not members:
            raise EngineBuildError(f"{archive.name} holds no {_VENDOR}/")
        tar.extractall(target, members=members, filter="data")
    [top] = {Path(m.name).parts[0] for m in members}
    return target / top / _VENDOR


def build_engine(
    engine_dir: Path | None = None,
    *,
    sdist: Path | None = None,
    jobs: int | None = None,
    say: Callable[[str], None] = print,
) -> EngineFiles:
    """Fetch, configure and build `llama-server` unless this pin and CPU variant are built already.

    All work happens in a temporary folder beside the target, renamed into place at the end, so
    an interrupted build never leaves a folder that looks finished.
    """
    files = engine_files(engine_dir)
    if files.is_complete():
        say(f"llama-server is built: {files.server}")
        return files
    for tool in ("cmake", "c++"):
        if shutil.which(tool) is None:
            raise EngineBuildError(f"building llama-server needs `{tool}`; install cmake and a C++ compiler")
    variant, cpu_options = cmake_cpu_options(cpu_flags())
    files.root.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{files.root.name}.", dir=files.root.parent))
    log = work / "build.log"
    try:
        archive = sdist or _fetch_sdist(work, log)
        _check_sdist(archive)
        say(f"building llama-server from {archive.name} for CPU variant {variant} (a few minutes, once)")
        source = _extract_vendor(archive, work / "sdist")
        build = work / "build"
        _run(
            "configuring llama.cpp",
            [
                "cmake",
                "-S",
                str(source),
                "-B",
                str(build),
                "-DCMAKE_BUILD_TYPE=Release",
                "-DBUILD_SHARED_LIBS=OFF",
                "-DGGML_NATIVE=OFF",
                "-DGGML_BACKEND_DL=OFF",
                "-DLLAMA_BUILD_TESTS=OFF",
                "-DLLAMA_BUILD_EXAMPLES=OFF",
                "-DLLAMA_BUILD_UI=OFF",
                "-DLLAMA_USE_PREBUILT_UI=OFF",
                "-DLLAMA_CURL=OFF",
                "-DLLAMA_OPENSSL=OFF",
                *cpu_options,
            ],
            log,
        )
        _run(
            "compiling llama-server",
            [
                "cmake",
                "--build",
                str(build),
                "--target",
                "llama-server",
                "-j",
                str(jobs or os.cpu_count() or 2),
            ],
            log,
        )
        staged = work / "engine"
        (staged / "bin").mkdir(parents=True)
        shutil.copy2(build / "bin" / "llama-server", staged / "bin" / "llama-server")
        (staged / "src").mkdir()
        for name in _KEPT_SOURCES:
            origin = source / name
            if origin.is_dir():
                shutil.copytree(origin, staged / "src" / name)
            elif origin.is_file():
                shutil.copy2(origin, staged / "src" / name)
        shutil.copy2(log, staged / "build.log")
        if files.root.exists():
            shutil.rmtree(files.root)  # an incomplete earlier build
        os.rename(staged, files.root)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    say(f"llama-server is built: {files.server}")
    return files
