"""A tiny real model for the llama.cpp engine, built on the spot: no download, seconds to make.

A two-layer Llama with random weights and SmolLM2's real tokenizer (read from the SmolLM2 GGUF
the set-up installs), saved as a Hugging Face folder (what training and adapters start from)
and converted to GGUF with llama.cpp's own script (what llama-server serves).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from repomend.settings import Settings
from tests.support.tiny_models import build_model


@dataclass(frozen=True)
class TinyGguf:
    folder: Path
    """The Hugging Face form (config, weights, tokenizer with its chat template)."""
    gguf: Path


def smollm2_tokenizer(folder: Path):
    """SmolLM2-135M-Instruct's tokenizer and chat template, saved as a Hugging Face tokenizer."""
    from transformers import AutoTokenizer

    from repomend.backends.catalogue import catalogue_model, require_gguf

    model = catalogue_model("smollm2-135m")
    assert model is not None
    gguf = require_gguf(Settings(_env_file=None), model)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tokenizer.save_pretrained(folder)
    return tokenizer


def build_tiny_gguf(root: Path, settings: Settings) -> TinyGguf:
    from repomend.llamacpp.convert import hf_to_gguf

    folder = root / "tiny-smol"
    folder.mkdir(parents=True)
    tokenizer = smollm2_tokenizer(folder)
    build_model(folder, tokenizer, hidden_size=64, intermediate_size=128, max_position_embeddings=4096)
    gguf = hf_to_gguf(folder, root / "tiny-smol.gguf", settings, outtype="f32")
    return TinyGguf(folder, gguf)
