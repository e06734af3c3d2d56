"""Train a repository adapter of the 0.5B on each development package, for `engine_repairs.py --adapter`.

The data comes from the same extraction the engine benchmark replays (`<work>/<package>/
extraction-engine`), train and validation methods only, and no training prompt shows a held-out
body (`training.heldout_bodies`). Per package: the teachers' trajectories (mutation by default,
`--teachers mutation,local:qwen2.5-coder-1.5b` for the local teacher too), the no-think dataset,
and a LoRA adapter trained with `--upper-layers` (every layer when 0) for `--max-steps` optimiser
steps. It prints, and stores in `<work>/<package>/adapter-<tag>/figures.json`: rows per rule and
teacher, training tokens, seconds, seconds per step and the load average. Every step is kept and
reused by the next run with the same tag; delete the folder to start over.

Run: `.venv/bin/python benchmarks/adapter_training.py [--packages toolz] [--tag t1]
[--max-steps 10] [--upper-layers 6]`, then `.venv/bin/python benchmarks/engine_repairs.py
--limit 10 --models qwen2.5-coder-0.5b --adapter t1 --tag adapter-t1-mutant` and `--compare
after,adapter-t1-mutant`; `adapter_gain.py` does all of it for the three models.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine_repairs import adapter_folder, extraction, load
from train_real_packages import PACKAGES, brief_sft, log

from repomend.settings import SandboxSettings, Settings
from training.retention import TARGETS

PACKAGES.setdefault("toolz", {"version": "1.0.0", "requirements": ["pytest", "coverage"]})


def row_tokens(dataset: Path, settings: Settings) -> list[int]:
    """Tokens of each training row as the trainer counts them (the student's chat template)."""
    from transformers import AutoTokenizer

    from repomend.backends.model_files import resolve_model
    from training.sft_data import load_sft_data
    from training.sft_trainer import conversation_length

    length = conversation_length(AutoTokenizer.from_pretrained(resolve_model(settings).location))
    return [length(row) for row in load_sft_data(dataset).train]


def train_package(name: str, args: argparse.Namespace, settings: Settings) -> dict:
    from training.adapter_manifest import read_manifest
    from training.dataset import DatasetOptions, build_dataset
    from training.generate import GenerationOptions, generate
    from training.sft_trainer import train_adapter
    from training.teachers import load_teacher, parse_teacher
    from training.trajectory_store import summarize

    folder = extraction(name, args.work, settings, args.seed)
    out = adapter_folder(args.work, name, args.tag)
    figures: dict = {"package": name, "tag": args.tag, "teachers": args.teachers}
    started = time.perf_counter()
    if args.generate:
        teachers = [load_teacher(parse_teacher(text), settings) for text in args.teachers.split(",")]
        summary = generate(
            folder,
            teachers,
            settings=settings,
            options=GenerationOptions(
                workers=args.workers,
                mutants_per_method=args.mutants,
                seed=args.seed,
                echo_items=args.echo_items,
                starts=tuple(args.starts.split(",")),
            ),
            out=out / "trajectories",
        )
        for teacher in teachers:
            teacher.close()
        counts = summary.counts
    elif (out / "trajectories" / "items.jsonl").is_file():
        counts = summarize(out / "trajectories")  # a stopped run's part, as it is
    else:
        raise SystemExit(f"--no-generate: {out / 'trajectories'} holds no trajectories")
    figures["generate"] = {"seconds": round(time.perf_counter() - started, 1), **counts}
    log(f"{name}: trajectories {counts} ({load()})")

    dataset = out / "dataset"
    if not (dataset / "manifest.json").is_file():
        options = DatasetOptions(targets=tuple(args.targets.split(",")))
        build_dataset([out / "trajectories"], settings=settings, options=options, out=dataset)
    manifest = json.loads((dataset / "manifest.json").read_text(encoding="utf-8"))
    tokens = row_tokens(dataset, settings)
    figures["dataset"] = {"counts": manifest["counts"], "targets": manifest.get("targets"),
                          "rows": len(tokens), "tokens": sum(tokens)}  # fmt: skip
    if tokens:
        figures["dataset"]["tokens_per_row"] = {"min": min(tokens), "max": max(tokens),
                                               "mean": round(sum(tokens) / len(tokens))}  # fmt: skip
    log(f"{name}: dataset {figures['dataset']}")

    adapter = out / "adapter"
    started = time.perf_counter()
    if not (adapter / "adapter_config.json").is_file():
        train_adapter(dataset, adapter, settings=settings, config=brief_sft(args), resume=True, on_status=log)
    trained = read_manifest(adapter)
    figures["train"] = {
        "seconds": round(time.perf_counter() - started, 1),
        "metrics": trained.metrics,
        "adapter_bytes": sum(f.stat().st_size for f in adapter.glob("adapter_model*")),
        "load": load(),
    }
    log(f"{name}: trained {figures['train']}")
    (out / "figures.json").write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packages", default="isodate,itsdangerous,toolz")
    parser.add_argument("--work", type=Path, default=Path("/tmp/repomend-real-packages"))
    parser.add_argument("--tag", default="t1", help="names the adapter: <work>/<package>/adapter-<tag>")
    parser.add_argument("--model", default="qwen2.5-coder-0.5b", help="the student")
    parser.add_argument("--teachers", default="mutation")
    parser.add_argument("--targets", default=",".join(TARGETS),
                        help="whose answers end the kept items; `teacher` with `--teachers student`: "
                        "the student's own passing repairs only (rejection sampling)")  # fmt: skip
    parser.add_argument("--mutants", type=int, default=3, help="mutants kept per training method")
    parser.add_argument("--starts", default="generate,mutant",
                        help="where model teachers start; the mutation teacher writes each method from its "
                        "body removed only when `generate` is one")  # fmt: skip
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--max-steps", type=int, default=10, help="optimiser steps of 8 rows (CPU budget)")
    parser.add_argument("--warmup-steps", type=int, default=1)
    parser.add_argument("--learning-rate", type=float, default=3e-4)
    parser.add_argument("--max-length", type=int, default=3072, help="longest training row (tokens)")
    parser.add_argument("--upper-layers", type=int, default=6, help="LoRA on the top N layers; 0: all")
    parser.add_argument(
        "--changed-token-weight",
        type=float,
        default=1.0,
        help="loss weight of the tokens a fix changes against the copied ones",
    )
    parser.add_argument("--validation-rows", type=int, default=8, help="validation loss on the first N rows")
    parser.add_argument("--no-echo-items", dest="echo_items", action="store_false",
                        help="leave out the mutation teacher's repeat-then-fix items")  # fmt: skip
    parser.add_argument("--no-generate", dest="generate", action="store_false",
                        help="train on the trajectories in the tag's folder (a stopped run)")  # fmt: skip
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    unknown = set(args.packages.split(",")) - set(PACKAGES)
    if unknown:
        parser.error(f"unknown package(s): {', '.join(sorted(unknown))}; known: {', '.join(PACKAGES)}")
    settings = Settings(model=args.model, sandbox=SandboxSettings(wall_seconds=120))
    results = [train_package(name, args, settings) for name in args.packages.split(",")]
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
