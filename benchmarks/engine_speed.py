"""Prompt and decode tokens/s of the Qwen models on llama.cpp vs transformers fp32, and engine memory.

For each model: one llama.cpp engine (the catalogue's Q4_K_M GGUF, the build `repomend engine
build` made) and one transformers engine (the same GGUF dequantised to fp32, the training path),
both on the configured threads; a repair prompt is read with nothing cached (prompt tokens/s)
and a greedy answer of `--tokens` tokens is written (decode tokens/s, prompt time subtracted).
Then the resident memory of llama-server serving the default model with two LoRA adapters
loaded (random adapters of the adapter recipe's shape, converted to GGUF).

Run: `.venv/bin/python benchmarks/engine_speed.py [--models qwen2.5-coder-0.5b,qwen2.5-coder-1.5b]
[--tokens 128] [--skip-memory]`. Needs the models pulled (`repomend models pull NAME`). One run,
on a quiet machine: the load average is printed beside every figure.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generation_speed import repair_messages

from repomend.backends import load_backend
from repomend.backends.base import GenerationConfig
from repomend.contract.conversation import Mode
from repomend.settings import DEFAULT_MODEL, Settings


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def messages() -> list[dict[str, str]]:
    """The repair prompt of `generation_speed.py`, with a nonce first so no engine serves it from a cache."""
    system, user = repair_messages()
    return [{"role": "system", "content": f"[{uuid.uuid4().hex}] {system['content']}"}, user]


def measure(settings: Settings, tokens: int) -> dict[str, float]:
    started = time.perf_counter()
    backend = load_backend(settings)
    loaded = time.perf_counter() - started
    try:
        backend.generate(messages(), mode=Mode.NO_THINK, config=GenerationConfig(max_new_tokens=4))  # warm-up
        [prompt_only] = backend.generate(
            messages(), mode=Mode.NO_THINK, config=GenerationConfig(max_new_tokens=1)
        )
        prompt_rate = prompt_only.prompt_tokens / prompt_only.seconds
        greedy = GenerationConfig(max_new_tokens=tokens, stop_after_code_block=False)
        [answer] = backend.generate(messages(), mode=Mode.NO_THINK, config=greedy)
        decode_seconds = max(answer.seconds - answer.prompt_tokens / prompt_rate, 1e-6)
        return {
            "load_s": loaded,
            "prompt_tokens": answer.prompt_tokens,
            "prompt_tps": prompt_rate,
            "decode_tokens": answer.completion_tokens,
            "decode_tps": answer.completion_tokens / decode_seconds,
        }
    finally:
        backend.close()


def engine_memory(settings: Settings) -> None:
    """llama-server's resident memory with the model alone, then with two adapters loaded."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM

    from repomend.backends.model_files import adapter_gguf, model_config_dir

    def rss_mb(pid: int) -> float:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    with tempfile.TemporaryDirectory(prefix="repomend-mem-") as tmp:
        adapters = Path(tmp) / "adapters"
        config_dir = model_config_dir(settings)
        config = AutoConfig.from_pretrained(config_dir)
        base = AutoModelForCausalLM.from_config(config, dtype=torch.float16)
        for seed in (1, 2):
            torch.manual_seed(seed)
            lora = LoraConfig(
                r=32,
                lora_alpha=64,
                target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                init_lora_weights=False,
            )
            model = get_peft_model(base, lora)
            folder = adapters / "bench" / f"v{seed}"
            model.save_pretrained(folder)
            base = model.unload()
            adapter_gguf(folder, settings)
        del base
        backend = load_backend(settings.model_copy(update={"adapters_dir": adapters}))
        try:
            server = backend.server
            assert server is not None and server.pid is not None
            short = GenerationConfig(max_new_tokens=8)
            backend.generate(messages(), mode=Mode.NO_THINK, config=short)
            alone = rss_mb(server.pid)
            for name in ("bench/v1", "bench/v2"):
                backend.generate(messages(), mode=Mode.NO_THINK, config=short, adapter=name)
            server = backend.server
            assert server is not None and server.pid is not None
            both = rss_mb(server.pid)
            sizes = (
                sum((adapters / "bench" / v / "adapter.gguf").stat().st_size for v in ("v1", "v2")) / 2**20
            )
            print(
                f"engine resident memory, {backend.describe()}: {alone:.0f} MB alone, {both:.0f} MB with two "
                f"r=32 q/k/v/o adapters loaded ({sizes:.0f} MB of adapter GGUF)  [{load()}]"
            )
        finally:
            backend.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="qwen2.5-coder-0.5b,qwen2.5-coder-1.5b")
    parser.add_argument("--engines", default="llamacpp,transformers")
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    base = Settings()
    for model in args.models.split(","):
        figures = {}
        for engine in args.engines.split(","):
            settings = base.model_copy(update={"engine": engine, "model": model})
            figures[engine] = result = measure(settings, args.tokens)
            print(
                f"{model} on {engine}: prompt {result['prompt_tps']:.0f} tok/s "
                f"({result['prompt_tokens']} tokens), "
                f"decode {result['decode_tps']:.1f} tok/s ({result['decode_tokens']} tokens), "
                f"load {result['load_s']:.1f} s  [{load()}]",
                flush=True,
            )
        if {"llamacpp", "transformers"} <= figures.keys():
            fast, slow = figures["llamacpp"], figures["transformers"]
            print(
                f"{model}: llama.cpp / transformers = {fast['decode_tps'] / slow['decode_tps']:.2f}x decode, "
                f"{fast['prompt_tps'] / slow['prompt_tps']:.2f}x prompt",
                flush=True,
            )
    if not args.skip_memory:
        engine_memory(base.model_copy(update={"engine": "llamacpp", "model": DEFAULT_MODEL}))


if __name__ == "__main__":
    main()
