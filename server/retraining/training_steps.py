"""Each pipeline step as one call into `training`, writing under the job's own folder."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from repomend.contract.conversation import Mode
from server.retraining.context import JobCancelled, JobContext
from server.retraining.gate import GATE_K, GATE_MODE

if TYPE_CHECKING:
    from server.retraining.pipeline import Candidate

EVAL_WORKERS = 2


@contextmanager
def _cancellable() -> Iterator[None]:
    """Training stops at the next optimiser step when the job is cancelled; the job ends cancelled."""
    from training.sft import TrainingCancelled

    try:
        yield
    except TrainingCancelled as err:
        raise JobCancelled from err


def extract(context: JobContext, state: dict) -> dict:
    from training.extract import extract as run_extract

    repo = context.repository
    extraction = run_extract(
        repo.path,
        python=repo.python,
        settings=context.settings,
        seed=context.policy.seed,
        out=context.folder / "extract",
        on_status=context.log,
    )
    state["extraction"] = extraction.folder
    state["records"] = extraction.records
    counts = extraction.manifest.counts
    if not counts.get("heldout"):
        raise ValueError("the repository has no held-out methods to judge a new adapter on (too few covered)")
    return {"commit": extraction.manifest.commit, **counts}


def generate(context: JobContext, state: dict) -> dict:
    from training.generate import GenerationOptions
    from training.generate import generate as run_generate
    from training.teachers import load_teacher, parse_teacher

    policy = context.policy
    methods = sorted(r.id for r in state["records"] if r.split != "heldout")
    if policy.max_methods is not None:
        methods = methods[: policy.max_methods]
    teachers = [load_teacher(parse_teacher(spec), context.settings) for spec in policy.teachers]
    try:
        summary = run_generate(
            state["extraction"],
            teachers,
            settings=context.settings,
            options=GenerationOptions(turns=policy.turns, seed=policy.seed),
            python=context.repository.python,
            out=context.folder / "trajectories",
            methods=methods,
            progress=False,
        )
    finally:
        for teacher in teachers:
            teacher.close()
    state["trajectories"] = summary.folder
    if not summary.items_written and not summary.units_skipped:
        raise ValueError(
            f"the teachers produced no training items ({'; '.join(summary.errors[:3]) or 'none kept'})"
        )
    return {"units": summary.units_run, "items": summary.items_written, "counts": summary.counts}


def dataset(context: JobContext, state: dict, from_use: Path | None) -> dict:
    from training.dataset import DatasetOptions, build_dataset
    from training.teachers import load_teacher, parse_teacher

    sources = [state["trajectories"], *([from_use] if from_use else [])]
    reasoner = None
    if context.policy.mode != "no-think":
        reasoner = load_teacher(parse_teacher("student"), context.settings)
    try:
        built = build_dataset(
            sources,
            settings=context.settings,
            options=DatasetOptions(mode=context.policy.mode),
            reasoning_teacher=reasoner,
            out=context.folder / "dataset",
            progress=False,
        )
    finally:
        if reasoner is not None:
            reasoner.close()
    state["dataset"] = built.folder
    counts = built.manifest.get("counts", {})
    return {"version": built.manifest.get("version"), **state["from_use"], "counts": counts}


def sft(context: JobContext, state: dict, candidate: Candidate) -> dict:
    from training.adapter_manifest import read_manifest
    from training.lora_config import TrainConfig
    from training.sft import train_adapter

    policy = context.policy
    config = TrainConfig(
        epochs=policy.epochs,
        max_steps=policy.max_steps,
        learning_rate=policy.learning_rate,
        warmup_steps=policy.warmup_steps,
        seed=policy.seed,
        **({"max_length": policy.max_length} if policy.max_length else {}),
    )
    with _cancellable():
        candidate.folder = train_adapter(
            state["dataset"],
            context.folder / "adapters" / "sft",
            settings=context.settings,
            config=config,
            resume=True,
            progress=False,
            should_cancel=context.cancel_requested,
            on_status=context.log,
        )
    return read_manifest(candidate.folder).metrics


def dpo(context: JobContext, state: dict, parent: Candidate, candidate: Candidate) -> dict:
    from training.adapter_manifest import read_manifest
    from training.preference import train_dpo

    with _cancellable():
        candidate.folder = train_dpo(
            state["folder_pairs"],
            parent.folder,
            context.folder / "adapters" / "dpo",
            context.settings,
            progress=False,
            should_cancel=context.cancel_requested,
            on_status=context.log,
        )
    return read_manifest(candidate.folder).metrics


def grpo(context: JobContext, state: dict, parent: Candidate, candidate: Candidate) -> dict:
    from training.adapter_manifest import read_manifest
    from training.rl import RLConfig, train_grpo

    policy = context.policy
    with _cancellable():
        candidate.folder = train_grpo(
            state["extraction"],
            context.repository.path,
            context.repository.python,
            parent.folder,
            context.folder / "adapters" / "grpo",
            context.settings,
            RLConfig(max_steps=policy.grpo_steps, max_methods=policy.max_methods, seed=policy.seed),
            progress=False,
            should_cancel=context.cancel_requested,
            on_status=context.log,
        )
    return read_manifest(candidate.folder).metrics


def evaluate(
    context: JobContext, state: dict, candidates: list[Candidate], baseline_adapter: Path | None
) -> dict:
    """Every candidate and what serves now, on the same held-out broken methods."""
    from training.adapter_manifest import EVAL_REPORT_FILE
    from training.evaluate import ModelUnderTest
    from training.evaluate import evaluate as run_evaluate
    from training.report import PLOT_FILE, write_report

    baseline = ModelUnderTest("active" if baseline_adapter else "base", str(baseline_adapter or "") or None)
    models = [baseline, *(ModelUnderTest(c.name, str(c.folder)) for c in candidates)]
    modes = [Mode(GATE_MODE)] + ([Mode.THINK] if context.policy.mode != "no-think" else [])
    report = run_evaluate(
        state["extraction"],
        models,
        modes,
        settings=context.settings,
        turns=context.policy.turns,
        workers=EVAL_WORKERS,
        limit=context.policy.max_heldout,
        seed=context.policy.seed,
        python=context.repository.python,
        progress=False,
        should_cancel=context.cancel_requested,
    )
    context.check_cancelled()
    write_report(report, context.folder / "eval")
    k = min(GATE_K, context.policy.turns)
    for candidate in candidates:
        shutil.copyfile(context.folder / "eval" / EVAL_REPORT_FILE, candidate.folder / EVAL_REPORT_FILE)
        shutil.copyfile(context.folder / "eval" / PLOT_FILE, candidate.folder / PLOT_FILE)  # the dashboard's
        candidate.pass_at_k = report.pass_at(candidate.name, GATE_MODE, k)
    return {
        "k": k,
        "baseline": report.pass_at(baseline.name, GATE_MODE, k),
        **{f"{c.name}_pass@{k}": c.pass_at_k for c in candidates},
    }
