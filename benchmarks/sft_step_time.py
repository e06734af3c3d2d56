"""Seconds per SFT optimiser step of a model on a CPU, LoRA on every layer vs on the upper layers only.

Run: `.venv/bin/python benchmarks/sft_step_time.py [--model qwen2.5-coder-0.5b]
[--dataset DIR] [--variants all,upper:12,upper:6] [--steps 3] [--threads 2]`; a variant may name
its precision and checkpointing, e.g. `upper:6+fp32+ckpt,upper:6+bf16+nockpt`. The dataset is a
`repomend train dataset` folder; without one, rows are built from the sample repository
(`repomend/demo_repo`): each method's first turn answered by a mutant, its test feedback and the
real body, the shape of a mutation item. Every variant trains a fresh adapter for `--steps`
optimiser steps of the recipe's effective batch (8 rows) and reports seconds per step, training
tokens per second and the load average. Only meaningful on an otherwise idle machine: run one
benchmark at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dpo_step_time import demo_pairs

from repomend.contract import prompts
from repomend.settings import Settings
from training.sft_config import SFTConfig
from training.sft_trainer import train_adapter


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def demo_dataset(folder: Path) -> Path:
    """Mutation-item-shaped rows from the sample repository, in the dataset step's format."""
    rows = []
    for pair in demo_pairs():
        feedback = prompts.iteration_prompt("FAILED tests/test_stats.py::test_it - AssertionError")
        rows.append(
            {
                "messages": [
                    *pair["prompt"],
                    {"role": "assistant", "content": pair["rejected"]},
                    {"role": "user", "content": feedback},
                    {"role": "assistant", "content": pair["chosen"]},
                ]
            }
        )
    folder.mkdir(parents=True)
    (folder / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    (folder / "validation.jsonl").write_text("", encoding="utf-8")
    manifest = {"version": "bench", "hash": "sha256:bench", "sources": [{"extraction": {"name": "demo"}}]}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


MODIFIERS = {
    "fp32": {"bf16": False},
    "bf16": {"bf16": True},
    "ckpt": {"gradient_checkpointing": True},
    "nockpt": {"gradient_checkpointing": False},
}
"""`+name` after a variant: the precision and activation checkpointing to measure it with."""


def variant_config(name: str, steps: int) -> SFTConfig:
    """`all` (LoRA on every layer) or `upper:N` (on the top N layers), then any `+fp32`, `+bf16`,
    `+ckpt`, `+nockpt` (unset: the defaults, bf16 where the CPU runs it natively, checkpointing on)."""
    layers, *modifiers = name.split("+")
    config = SFTConfig(max_steps=steps, warmup_steps=1, logging_steps=1)
    unknown = [m for m in modifiers if m not in MODIFIERS]
    kind, _, count = layers.partition(":")
    if unknown or (layers != "all" and (kind != "upper" or not count.isdigit())):
        raise SystemExit(f"unknown variant {name!r}: use all or upper:N, then +{'/+'.join(MODIFIERS)}")
    for modifier in modifiers:
        config = replace(config, **MODIFIERS[modifier])
    return config if layers == "all" else replace(config, upper_layers=int(count))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--dataset", type=Path, help="a `repomend train dataset` folder")
    parser.add_argument("--variants", default="all,upper:12,upper:6")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    settings = Settings(model=args.model, engine="transformers", threads=args.threads)
    work = Path(tempfile.mkdtemp(prefix="repomend-sft-bench-"))
    results = {}
    try:
        dataset = args.dataset or demo_dataset(work / "dataset")
        for name in args.variants.split(","):
            config = variant_config(name, args.steps)
            out = work / name.replace(":", "-").replace("+", "-")
            train_adapter(dataset, out, settings=settings, config=config, progress=False)
            metrics = json.loads((out / "repomend_adapter.json").read_text())["metrics"]
            per_step = round(metrics["seconds"] / max(metrics["steps"], 1), 2)
            results[name] = {**metrics, "seconds_per_step": per_step, "load_average": os.getloadavg()}
            print(
                f"{args.model} SFT, LoRA on {name}: {metrics['steps']} steps of "
                f"{config.effective_batch_size} rows in {metrics['seconds']} s: {per_step} s/step, "
                f"{metrics['tokens_per_second']} tokens/s [{load()}]",
                flush=True,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
