"""What the repository adapter is worth: the 0.5B with its adapter vs the 0.5B base vs the 1.5B base.

One command for the whole comparison. Per development package it trains the adapter
(`adapter_training.py`, on the train split of the very extraction the engine benchmark replays,
so no held-out body is in any training prompt), then replays the stored engine benchmark
(`engine_repairs.py`: the same broken methods for every model) for each model, mode and start
that has no stored run yet, and prints one table per mode and start: Pass@1..5 pooled with 95%
bootstrap intervals, Pass@5 per package, the paired difference of the adapter against the
student's base and against the reference model (95% bootstrap, methods resampled), exact match,
CodeBLEU, think-mode reasoning tokens and seconds per method. The gain-vs-training-tokens curve
(every adapter tag trained so far, the base at 0 tokens; one line per recipe, i.e. the teachers,
dataset and loss of each package) is drawn into `<work>/adapter_gain.png`, and everything is written to
`<work>/adapter_gain.json`.

Run: `.venv/bin/python benchmarks/adapter_gain.py [--packages isodate,itsdangerous,toolz]
[--tag t1] [--max-steps 10] [--modes no-think,think] [--starts mutant,generate] [--report-only]`.
Runs are named `<model>`'s `base-<start>` and `adapter-<tag>-<start>` (think mode: `@think`);
`--base-run mutant=TAG` reuses a stored base run instead (one made by `engine_repairs.py` with
the same loop, turns and samples). One heavy job at a time: it runs its steps one after another.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine_repairs import adapter_folder, load, paired_difference, pooled_figures, stored_methods
from train_real_packages import log

from repomend.contract.conversation import Mode

HERE = Path(__file__).resolve().parent
TURNS = 5


def base_tag(args: argparse.Namespace, start: str) -> str:
    """The base models' run for this start: `base-<start>`, or the stored run `--base-run` names."""
    return dict(text.split("=", 1) for text in args.base_run).get(start, f"base-{start}")


def run_name(tag: str, mode: str) -> str:
    return tag if mode == str(Mode.NO_THINK) else f"{tag}@{mode}"


def ensure_run(
    args: argparse.Namespace, model: str, tag: str, mode: str, start: str, adapter: str | None = None
) -> None:
    """Replay the benchmark for this model, mode and start unless every package has its report."""
    missing = [name for name in args.packages.split(",")
               if not (args.work / name / f"engine-{model}-{mode}-{tag}.json").is_file()]  # fmt: skip
    if not missing or args.report_only:
        return
    command = [sys.executable, str(HERE / "engine_repairs.py"), "--work", str(args.work),
               "--packages", ",".join(missing), "--models", model, "--limit", str(args.limit),
               "--turns", str(TURNS), "--mode", mode, "--start", start, "--tag", tag]  # fmt: skip
    if adapter:
        command += ["--adapter", adapter]
    log(f"replaying: {' '.join(command[2:])} [{load()}]")
    subprocess.run(command, check=True)


def table(args: argparse.Namespace, mode: str, start: str) -> dict[str, Any]:
    """The three models' figures on the methods all of them have, and the adapter's differences."""
    packages = args.packages.split(",")
    runs = {
        "student": (args.student, base_tag(args, start)),
        "student+adapter": (args.student, f"adapter-{args.tag}-{start}"),
        "reference": (args.reference, base_tag(args, start)),
    }
    stored = {who: stored_methods(args.work, packages, model, run_name(tag, mode))
              for who, (model, tag) in runs.items()}  # fmt: skip
    shared = sorted(set.intersection(*(set(found) for found in stored.values())))
    out: dict[str, Any] = {"mode": mode, "start": start, "methods": len(shared), "rows": {}}
    if not shared:
        return out
    fixed = {who: [stored[who][key]["fixed_at"] for key in shared] for who in runs}
    for who, (model, tag) in runs.items():
        methods = [stored[who][key] for key in shared]
        row = {"model": model, "run": run_name(tag, mode), **pooled_figures(methods, TURNS)}
        row["per_package"] = {
            name: pooled_figures(
                [m for key, m in zip(shared, methods, strict=True) if key.startswith(name + ":")], TURNS
            )["pooled_pass_at"][str(TURNS)]
            for name in packages
        }
        if who == "student+adapter":
            row["minus_student"] = paired_difference(fixed["student"], fixed[who], TURNS)
            row["minus_reference"] = paired_difference(fixed["reference"], fixed[who], TURNS)
        out["rows"][who] = row
    return out


def print_table(result: dict[str, Any]) -> None:
    print(f"\n{result['mode']}, from {result['start']}s, {result['methods']} methods pooled")
    print(
        "| model | Pass@1 | Pass@5 [95%] | per package Pass@5 | exact | CodeBLEU | reasoning tok | s/method |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for who, row in result["rows"].items():
        p1, p5 = row["pooled_pass_at"]["1"], row["pooled_pass_at"][str(TURNS)]
        packages = ", ".join(f"{name} {cell['value']:.0%}" for name, cell in row["per_package"].items())
        reasoning = (row["reasoning_tokens"] or {}).get("mean", "-")
        print(f"| {who} ({row['model']}) | {p1['value']:.1%} | {p5['value']:.1%} {p5['ci95']} | {packages} "
              f"| {row['exact_match']:.1%} | {row['codebleu_mean']:.2f} | {reasoning} "
              f"| {row['seconds_per_method']} |")  # fmt: skip
    adapter = result["rows"].get("student+adapter", {})
    for versus in ("student", "reference"):
        if f"minus_{versus}" in adapter:
            d = adapter[f"minus_{versus}"]
            print(f"adapter minus {versus}: Pass@5 {d['value']:+.1%} {d['ci95']}")


def gain_curve(args: argparse.Namespace, start: str) -> list[dict[str, Any]]:
    """Pooled no-think Pass@5 of every adapter tag trained so far, by its training tokens, each
    with its recipe (teachers, dataset versions and loss): only points of one recipe make one line.
    Every point is measured on the methods all of them have, so points compare."""
    packages = args.packages.split(",")
    points: list[tuple[dict[str, Any], dict[str, dict[str, Any]]]] = []
    base = stored_methods(args.work, packages, args.student, base_tag(args, start))
    if base:
        points.append(({"tag": "base", "tokens": 0, "recipe": None}, base))
    for figures in sorted(args.work.glob("*/adapter-*/figures.json")):
        tag = figures.parent.name.removeprefix("adapter-")
        if any(point["tag"] == tag for point, _ in points):
            continue
        tokens, recipe = 0, []
        for name in packages:
            folder = adapter_folder(args.work, name, tag)
            if (folder / "figures.json").is_file():
                trained = json.loads((folder / "figures.json").read_text(encoding="utf-8"))
                tokens += trained["train"]["metrics"].get("train_tokens", 0)
                manifest = json.loads((folder / "dataset" / "manifest.json").read_text(encoding="utf-8"))
                recipe.append(f"{name}:{trained['teachers']}:{manifest['version']}{loss_of(folder)}")
        found = stored_methods(args.work, packages, args.student, f"adapter-{tag}-{start}")
        if found:
            points.append(({"tag": tag, "tokens": tokens, "recipe": " ".join(recipe)}, found))
    if not points:
        return []
    shared = set.intersection(*(set(found) for _, found in points))
    curve = [{**point, **pass_at_5([found[key] for key in sorted(shared)])} for point, found in points]
    return sorted(curve, key=lambda p: p["tokens"])


def loss_of(folder: Path) -> str:
    """The recipe's loss when it is not plain cross-entropy: `:changed×W`."""
    from training.adapter_manifest import read_manifest

    weight = read_manifest(folder / "adapter").training.get("changed_token_weight", 1.0)
    return "" if weight == 1.0 else f":changed×{weight:g}"


def pass_at_5(methods: list[dict[str, Any]]) -> dict[str, Any]:
    cell = pooled_figures(methods, TURNS)["pooled_pass_at"][str(TURNS)]
    return {"methods": len(methods), "pass_at_5": cell["value"], "ci95": cell["ci95"]}


def draw_curve(points: list[dict[str, Any]], out: Path) -> None:
    """One line per recipe, each from the base at 0 tokens through its adapters."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    base = [p for p in points if p["recipe"] is None]
    recipes = sorted({p["recipe"] for p in points} - {None})
    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=100)
    try:
        for number, recipe in enumerate(recipes or [None], start=1):
            line = base + [p for p in points if p["recipe"] == recipe and recipe is not None]
            xs = [p["tokens"] / 1000 for p in line]
            ys = [100 * p["pass_at_5"] for p in line]
            low = [100 * (p["pass_at_5"] - p["ci95"][0]) for p in line]
            high = [100 * (p["ci95"][1] - p["pass_at_5"]) for p in line]
            tags = ", ".join(p["tag"] for p in line if p["recipe"] is not None)
            axes.errorbar(xs, ys, yerr=[low, high], marker="o", capsize=3, label=f"recipe {number}: {tags}")
            for p, x, y in zip(line, xs, ys, strict=True):
                axes.annotate(p["tag"], (x, y), textcoords="offset points", xytext=(4, 4))
        axes.set_xlabel("training tokens (thousands, all packages)")
        axes.set_ylabel("Pass@5, no-think (%)")
        axes.set_title("Held-out Pass@5 of the adapted student vs training tokens")
        axes.grid(alpha=0.3)
        if recipes:
            axes.legend(fontsize="small")
        figure.tight_layout()
        figure.savefig(out)
    finally:
        plt.close(figure)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packages", default="isodate,itsdangerous,toolz")
    parser.add_argument("--work", type=Path, default=Path("/tmp/repomend-real-packages"))
    parser.add_argument("--tag", default="t1", help="the adapter: adapter_training.py --tag")
    parser.add_argument("--max-steps", type=int, default=10, help="optimiser steps of 8 rows per package")
    parser.add_argument("--upper-layers", type=int, default=6)
    parser.add_argument("--student", default="qwen2.5-coder-0.5b")
    parser.add_argument("--reference", default="qwen2.5-coder-1.5b")
    parser.add_argument(
        "--limit", type=int, default=10, help="held-out methods per package (stored benchmark)"
    )
    parser.add_argument("--modes", default="no-think,think")
    parser.add_argument("--starts", default="mutant,generate")
    parser.add_argument("--base-run", action="append", default=[], metavar="START=TAG",
                        help="reuse the stored base runs TAG for START (e.g. mutant=after)")  # fmt: skip
    parser.add_argument(
        "--report-only", action="store_true", help="train and run nothing; tabulate stored runs"
    )
    args = parser.parse_args()
    if not args.report_only:
        subprocess.run([sys.executable, str(HERE / "adapter_training.py"), "--work", str(args.work),
                        "--packages", args.packages, "--tag", args.tag, "--model", args.student,
                        "--max-steps", str(args.max_steps), "--upper-layers", str(args.upper_layers)],
                       check=True)  # fmt: skip
    results: dict[str, Any] = {"tables": [], "curves": {}}
    for start in args.starts.split(","):
        for mode in args.modes.split(","):
            ensure_run(args, args.student, base_tag(args, start), mode, start)
            ensure_run(args, args.student, f"adapter-{args.tag}-{start}", mode, start, args.tag)
            ensure_run(args, args.reference, base_tag(args, start), mode, start)
            result = table(args, mode, start)
            results["tables"].append(result)
            print_table(result)
        results["curves"][start] = gain_curve(args, start)
    curve = results["curves"].get("mutant") or next(iter(results["curves"].values()), [])
    if curve:
        draw_curve(curve, args.work / "adapter_gain.png")
        print(
            f"\ngain vs training tokens (from mutants): {curve}; drawn into {args.work / 'adapter_gain.png'}"
        )
        for number, recipe in enumerate(sorted({p["recipe"] for p in curve} - {None}), start=1):
            print(f"recipe {number}: {recipe}")
    (args.work / "adapter_gain.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
