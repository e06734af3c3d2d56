"""Where the weights come from: a catalogue model (pulled GGUF), a GGUF file, a folder or a cached id.

Nothing here downloads: catalogue models are fetched beforehand by `repomend models pull` (the
set-up pulls the default), and any other model must already be on disk. llama.cpp reads GGUF
(`model_gguf`); transformers reads a Hugging Face folder (`resolve_model`), so a GGUF model is
dequantised once into a safetensors folder for it, and a folder is converted once to GGUF for
llama.cpp.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from repomend.backends.adapter_files import ADAPTER_CONFIG, adapter_base_model
from repomend.backends.base import BackendError
from repomend.backends.catalogue import CatalogueModel, catalogue_model, require_gguf
from repomend.settings import Settings

SMOLLM2 = "smollm2-135m"
DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
_CACHE_MARKER = "config.json"


@dataclass(frozen=True)
class ModelSource:
    name: str
    """Human name for results and logs."""
    location: str
    """What `from_pretrained` receives: a folder or a Hugging Face id."""


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
    """SmolLM2-135M as a transformers folder (the tests' real model), created on first use."""
    target = settings.model_cache_dir / DEFAULT_MODEL_NAME
    if not (target / _CACHE_MARKER).is_file():
        smollm2 = catalogue_model(SMOLLM2)
        assert smollm2 is not None
        convert_gguf(require_gguf(settings, smollm2), target)
    return target


def _catalogue_folder(settings: Settings, model: CatalogueModel) -> Path:
    """A catalogue model dequantised for transformers (training, GPUs), converted on first use."""
    if model.name == SMOLLM2:
        return default_model_folder(settings)
    target = settings.model_cache_dir / model.name / "transformers"
    if not (target / _CACHE_MARKER).is_file():
        convert_gguf(require_gguf(settings, model), target)
    return target


def model_gguf(settings: Settings) -> tuple[str, Path]:
    """The served model as one GGUF file, for llama.cpp: (name for results, file)."""
    value = settings.model
    model = catalogue_model(value)
    if model is not None:
        return model.title, require_gguf(settings, model)
    path = Path(value).expanduser()
    if path.is_file():
        if path.suffix != ".gguf":
            raise BackendError(f"{path} is not a GGUF file; llama.cpp needs one (or give a model folder)")
        return path.stem, path
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise BackendError(f"model folder {path} has no config.json; is it a model folder?")
        from repomend.llamacpp.convert import ConversionError, hf_to_gguf

        try:
            out = settings.model_cache_dir / "gguf" / f"{path.name}.gguf"
            return path.name, hf_to_gguf(path, out, settings)
        except ConversionError as err:
            raise BackendError(str(err)) from err
    raise BackendError(
        f"model {value!r} is not a catalogue model ({', '.join(_catalogue_names())}), a GGUF file or a folder"
    )


def model_config_dir(settings: Settings) -> Path:
    """A folder holding the served model's Hugging Face `config.json` (what adapter conversion reads)."""
    value = settings.model
    model = catalogue_model(value)
    if model is None and Path(value).expanduser().is_dir():
        return Path(value).expanduser()
    name, gguf = model_gguf(settings)
    target = settings.model_cache_dir / (model.name if model else name) / "hf-config"
    if not (target / _CACHE_MARKER).is_file():
        from transformers import AutoConfig
        from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

        config = AutoConfig.from_pretrained(gguf.parent, gguf_file=gguf.name)
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        if not config.architectures:  # GGUF metadata names no class; the conversion scripts need one
            config.architectures = [MODEL_FOR_CAUSAL_LM_MAPPING_NAMES[config.model_type]]
        target.mkdir(parents=True, exist_ok=True)
        config.save_pretrained(target)
    return target


def _catalogue_names() -> list[str]:
    from repomend.backends.catalogue import CATALOGUE

    return [model.name for model in CATALOGUE]


def _gguf_folder(settings: Settings, gguf: Path) -> Path:
    target = settings.model_cache_dir / "transformers" / gguf.stem
    if not (target / _CACHE_MARKER).is_file():
        convert_gguf(gguf, target)
    return target


def _looks_like_path(value: str) -> bool:
    """Hub ids are `name` or `owner/name`; anything else with separators is meant as a folder."""
    return value.startswith(("/", ".", "~")) or value.count("/") > 1 or "\\" in value


def resolve_model(settings: Settings) -> ModelSource:
    """Turn `settings.model` into something `from_pretrained` can load offline."""
    value = settings.model
    model = catalogue_model(value)
    if model is not None:
        return ModelSource(model.title, str(_catalogue_folder(settings, model)))
    folder = Path(value).expanduser()
    if folder.is_file() and folder.suffix == ".gguf":
        return ModelSource(folder.stem, str(_gguf_folder(settings, folder)))
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise BackendError(f"model folder {folder} has no config.json; is it a model folder?")
        return ModelSource(folder.name, str(folder))
    if _looks_like_path(value):
        raise BackendError(f"model folder {folder} does not exist")
    return ModelSource(value, value)


def adapter_base_config(adapter: Path, settings: Settings) -> Path:
    """A folder with the base model's `config.json`: the one the adapter's PEFT config names, else
    that of the base its manifest names (an adapter of another base than the served one), else
    the served model's."""
    try:
        named = json.loads((adapter / ADAPTER_CONFIG).read_text()).get("base_model_name_or_path")
    except (OSError, ValueError):
        named = None
    if named and (Path(named) / "config.json").is_file():
        return Path(named)
    base = adapter_base_model(settings, str(adapter))
    if base is not None and base != settings.model and (catalogue_model(base) or Path(base).is_dir()):
        return model_config_dir(settings.model_copy(update={"model": base}))
    return model_config_dir(settings)


def adapter_gguf(adapter: Path, settings: Settings, *, force: bool = False) -> Path:
    """`adapter.gguf` beside the PEFT files (what llama-server loads with `--lora`), made on first need."""
    from repomend.llamacpp.convert import ADAPTER_GGUF, lora_to_gguf

    if (adapter / ADAPTER_GGUF).is_file() and not force:
        return adapter / ADAPTER_GGUF
    return lora_to_gguf(adapter, adapter_base_config(adapter, settings), settings)
