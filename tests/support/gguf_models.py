"""A tiny real model for the llama.cpp engine, built on the spot: no download, seconds to make.

A two-layer Llama with random weights and SmolLM2's real tokenizer (read from the SmolLM2 GGUF
the set-up installs), saved as a Hugging Face folder (what training and adapters start from)
and converted to GGUF with llama.cpp's own script (what llama-server serves).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from repomend.settings import Settings


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
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from repomend.llamacpp.convert import hf_to_gguf

    folder = root / "tiny-smol"
    folder.mkdir(parents=True)
    tokenizer = smollm2_tokenizer(folder)
    torch.manual_seed(0)
    eos = tokenizer.convert_tokens_to_ids(tokenizer.eos_token)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        bos_token_id=tokenizer.convert_tokens_to_ids(tokenizer.bos_token),
        eos_token_id=eos,
        pad_token_id=eos,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        # A sharp head makes greedy choices robust to rounding; zero rows for the special tokens
        # (whose logit is then 0, below the best of 49,152 random ones) mean the model never ends
        # a turn on its own, so every reply runs to its token limit and tests can count tokens.
        model.lm_head.weight.mul_(20.0)
        for token in tokenizer.all_special_ids:
            model.lm_head.weight[token] = 0.0
    model.save_pretrained(folder)
    gguf = hf_to_gguf(folder, root / "tiny-smol.gguf", settings, outtype="f32")
    return TinyGguf(folder, gguf)
