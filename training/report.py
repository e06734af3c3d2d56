"""An evaluation report on disk: `eval_report.json` (everything), `eval_report.md` (the tables a
person reads) and `pass_at.png` (Pass@k curves, one line per model and mode).

Each file is written under a temporary name and renamed, so a reader never sees half of one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from repomend.contract.conversation import Mode
from training.adapter_manifest import EVAL_REPORT_FILE
from training.evaluate import EvalReport

MARKDOWN_FILE = "eval_report.md"
PLOT_FILE = "pass_at.png"


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _cells(report: EvalReport) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (model, mode, cell)
        for model, by_mode in report.data["results"].items()
        for mode, cell in by_mode.items()
    ]


def markdown(report: EvalReport) -> str:
    data = report.data
    turns = data["config"]["turns"]
    extraction = data["extraction"]
    bench = data["benchmark"]
    counts = bench["counts"]
    lines = [
        f"# Held-out evaluation: {extraction.get('name') or extraction['repository']}",
        "",
        f"Extraction `{extraction['version']}`"
        + (f" at commit `{extraction['commit'][:12]}`" if extraction.get("commit") else "")
        + f"; {counts['methods']} held-out methods ("
        + ", ".join(f"{k} {v}" for k, v in counts.items() if k != "methods")
        + f"), up to {turns} turns, seed {bench['seed']}; {data['created_at']}; {data['seconds']:.0f} s.",
        "",
    ]
    header = ["model", "mode", *[f"Pass@{k}" for k in range(1, turns + 1)], "exact match", "CodeBLEU"]
    header += ["reasoning tokens (mean)", "seconds"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for model, mode, cell in _cells(report):
        reasoning = cell.get("reasoning")
        row = [model, mode, *[_percent(cell["pass_at"][str(k)]) for k in range(1, turns + 1)]]
        row += [
            _percent(cell["exact_match"]),
            f"{cell['codebleu']['codebleu']:.3f}" if cell.get("codebleu") else "–",
            f"{reasoning['mean_tokens']:.0f}" if reasoning else "–",
            f"{cell['seconds']:.0f}",
        ]
        lines.append("| " + " | ".join(row) + " |")
    failures = [(model, mode, cell["failures"]) for model, mode, cell in _cells(report) if cell["failures"]]
    if failures:
        lines += ["", "## Unresolved methods by failure", "", "| model | mode | failures |", "|---|---|---|"]
        for model, mode, kinds in failures:
            lines.append(f"| {model} | {mode} | " + ", ".join(f"{k} {v}" for k, v in kinds.items()) + " |")
    kinds = sorted({kind for _, _, cell in _cells(report) for kind in cell.get("by_fix_type") or {}})
    if kinds:  # reports from before fix types have none
        lines += ["", f"## Pass@{turns} by fix type", "", "| model | mode | " + " | ".join(kinds) + " |"]
        lines.append("|" + "---|" * (len(kinds) + 2))
        for model, mode, cell in _cells(report):
            by_kind = cell.get("by_fix_type") or {}
            shown = [
                f"{_percent(by_kind[k]['pass_at'][str(turns)])} of {by_kind[k]['n']}" if k in by_kind else "–"
                for k in kinds
            ]
            lines.append(f"| {model} | {mode} | " + " | ".join(shown) + " |")
    models = data["models"]
    lines += ["", "## Models", ""]
    for name, info in models.items():
        lines.append(
            f"- `{name}`: " + (f"adapter `{info['adapter']}`" if info.get("adapter") else "base model")
        )
    return "\n".join(lines) + "\n"


def plot(report: EvalReport, path: Path) -> None:
    """Pass@k against k for every model and mode (Agg backend: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    turns = report.data["config"]["turns"]
    ks = list(range(1, turns + 1))
    figure, axes = plt.subplots(figsize=(6, 4), dpi=100)
    try:
        for model, mode, cell in _cells(report):
            values = [100 * cell["pass_at"][str(k)] for k in ks]
            axes.plot(
                ks,
                values,
                marker="o",
                linestyle="-" if mode == Mode.NO_THINK else "--",
                label=f"{model} ({mode})",
            )
        axes.set_xlabel("repair turns k")
        axes.set_ylabel("Pass@k (%)")
        axes.set_xticks(ks)
        axes.set_ylim(0, 100)
        axes.grid(alpha=0.3)
        axes.set_title(f"held-out Pass@k, {report.data['benchmark']['counts']['methods']} methods")
        axes.legend(loc="lower right")
        figure.tight_layout()
        tmp = path.with_name(f".{path.name}.tmp.png")
        figure.savefig(tmp, format="png")
        tmp.replace(path)
    finally:
        plt.close(figure)


def write_report(report: EvalReport, out_dir: Path) -> dict[str, Path]:
    """Write the three files into `out_dir` (created when missing); returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out_dir / EVAL_REPORT_FILE,
        "markdown": out_dir / MARKDOWN_FILE,
        "plot": out_dir / PLOT_FILE,
    }
    _atomic_write(paths["json"], report.to_json().encode("utf-8"))
    _atomic_write(paths["markdown"], markdown(report).encode("utf-8"))
    plot(report, paths["plot"])
    return paths
