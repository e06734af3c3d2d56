"""Seconds per DPO optimiser step on the configured model (default SmolLM2-135M), effective batch 8.

Run: `.venv/bin/python benchmarks/dpo_step_time.py [--steps 3]`. Pairs come from the sample
repository (`repomend/demo_repo`): prompt = the first turn for a function with its body removed,
chosen = the real body, rejected = a mutant of it. Training starts from a fresh LoRA adapter
(r=32, the SFT shape) standing in for an SFT adapter. Only meaningful on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from repomend.contract import prompts
from repomend.settings import Settings
from repomend.source import find_method, method_text, parse_methods, remove_body
from training.adapter_manifest import AdapterManifest, DatasetRef, write_manifest
from training.mutation import mutants
from training.preference_config import PreferenceConfig
from training.preference_trainer import train_dpo
from training.sft_config import SFTConfig
from training.starting_model import load_tokenizer_and_base

DEMO_FILE = Path(__file__).resolve().parent.parent / "repomend" / "demo_repo" / "statkit" / "stats.py"


def demo_pairs() -> list[dict]:
    source = DEMO_FILE.read_text(encoding="utf-8")
    rows = []
    for method in parse_methods(source):
        opening = prompts.opening_messages(
            method=method.name, class_name=method.class_name, declaration=method.declaration,
            docstring=method.docstring, file_content=remove_body(source, method), path="statkit/stats.py",
            line=method.start_line,
        )  # fmt: skip
        for mutant in mutants(source, method)[:2]:
            broken = method_text(mutant.source, find_method(mutant.source, method.qualname))
            rows.append(
                {
                    "prompt": opening,
                    "chosen": prompts.as_code_reply(method_text(source, method)),
                    "rejected": prompts.as_code_reply(broken),
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    settings = Settings()
    work = Path(tempfile.mkdtemp(prefix="repomend-dpo-bench-"))
    try:
        pairs = work / "pairs.jsonl"
        rows = demo_pairs()
        pairs.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        from peft import get_peft_model

        _, base, _ = load_tokenizer_and_base(settings)
        get_peft_model(base, SFTConfig().lora()).save_pretrained(str(work / "sft"))
        write_manifest(
            work / "sft",
            AdapterManifest(settings.model, DatasetRef("bench", "0", "sha256:0"), {"method": "sft"}, {}),
        )
        config = PreferenceConfig(max_steps=args.steps, logging_steps=1)
        out = train_dpo(pairs, work / "sft", work / "dpo", settings, config, progress=False)
        metrics = json.loads((out / "repomend_adapter.json").read_text())["metrics"]
        print(
            f"DPO on {settings.model}: {metrics['steps']} steps of {config.effective_batch_size} pairs "
            f"({len(rows)} pairs in the file) in {metrics['seconds']} s: {metrics['seconds_per_step']} s/step"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
