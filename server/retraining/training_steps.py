"""Each training step of a job as one call into `training`, writing under the job's own folder.

Every step is a `step_outputs.Step`: it reads what earlier steps left in the `StepOutputs`, sets its
own fields and returns its summary.
"""

from __future__ import annotations

import json
import random
import shutil
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from repomend.backends.base import BackendError
from repomend.contract.conversation import Mode
from server.retraining import from_use
from server.retraining.context import JobCancelled, JobContext
from server.retraining.gate import GATE_K, GATE_MODE, Contender
from server.retraining.policy import RetrainingPolicy
from server.retraining.step_outputs import Candidate, StepOutputs
from training.errors import EvaluationError
from training.exports import DatasetMode

if TYPE_CHECKING:
    from training.evaluate import EvalReport

EVAL_WORKERS = 2


@contextmanager
def _cancellable() -> Iterator[None]:
    """Training stops at the next optimiser step when the job is cancelled; the job ends cancelled."""
    from training.errors import TrainingCancelled

    try:
        yield
    except TrainingCancelled as err:
        raise JobCancelled from err


def check_student(context: JobContext) -> None:
    """Fail in the job's first second, not after hours of data making, when the student base
    the adapters are trained on is not on this machine (the error names the pull command)."""
    from repomend.backends.catalogue import catalogue_model, require_gguf

    student = context.student_settings
    if (model := catalogue_model(student.model)) is not None:
        require_gguf(student, model)


def extract(context: JobContext, state: StepOutputs) -> dict:
    from training.extract import extract as run_extract

    check_student(context)

    repo = context.repository
    extraction = run_extract(
        repo.path,
        python=repo.python,
        settings=context.settings,
        seed=context.policy.seed,
        out=context.folder / "extract",
        on_status=context.log,
    )
    state.extraction = extraction.folder
    state.records = extraction.records
    counts = extraction.manifest.counts
    if not counts.get("heldout"):
        raise ValueError("the repository has no held-out methods to judge a new adapter on (too few covered)")
    return {"commit": extraction.manifest.commit, **counts}


def generate(context: JobContext, state: StepOutputs) -> dict:
    from training.generate import GenerationOptions
    from training.generate import generate as run_generate
    from training.teachers import load_teacher, parse_teacher

    policy = context.policy
    methods = sorted(r.id for r in state.records if r.split != "heldout")
    if policy.max_methods is not None:
        methods = methods[: policy.max_methods]
    # `student` names the model being trained; `local:MODEL` teachers name their own.
    teachers = [load_teacher(parse_teacher(spec), context.student_settings) for spec in policy.teachers]
    mutation = [t for t in teachers if t.backend is None]
    models = [t for t in teachers if t.backend is not None]
    options = GenerationOptions(turns=policy.turns, seed=policy.seed)
    summaries = []
    try:
        for group, chosen in ((mutation, methods), (models, model_teacher_methods(methods, policy))):
            if group and chosen:
                context.log(f"generate: {', '.join(t.name for t in group)} on {len(chosen)} methods")
                summaries.append(
                    run_generate(
                        state.extraction,
                        group,
                        settings=context.settings,
                        options=options,
                        python=context.repository.python,
                        out=context.folder / "trajectories",
                        methods=chosen,
                        progress=False,
                    )
                )
    finally:
        for teacher in teachers:
            teacher.close()
    if not summaries:
        raise ValueError("the repository has no training methods for the teachers (all are held out)")
    state.trajectories = summaries[-1].folder
    if not any(s.items_written or s.units_skipped for s in summaries):
        errors = [e for s in summaries for e in s.errors]
        raise ValueError(f"the teachers produced no training items ({'; '.join(errors[:3]) or 'none kept'})")
    return {
        "units": sum(s.units_run for s in summaries),
        "items": sum(s.items_written for s in summaries),
        "counts": summaries[-1].counts,
    }


def model_teacher_methods(methods: list[str], policy: RetrainingPolicy) -> list[str]:
    """The methods the model teachers repair: a fixed sample for the seed, spread over the files
    (not the first files' methods only), in the order given."""
    cap = policy.model_teacher_methods
    if cap is None or cap >= len(methods):
        return methods
    chosen = set(random.Random(policy.seed).sample(methods, cap))
    return [m for m in methods if m in chosen]


def dataset(context: JobContext, state: StepOutputs) -> dict:
    """The teachers' trajectories plus what users accepted, as one dataset."""
    from training.dataset import DatasetOptions, build_dataset
    from training.teachers import load_teacher, parse_teacher

    _gather_from_use(context, state)
    sources = [state.trajectories, *([state.accepted] if state.accepted else [])]
    reasoner = None
    if context.policy.mode != DatasetMode.NO_THINK:
        reasoner = load_teacher(parse_teacher(reasoning_teacher(context.policy)), context.settings)
    try:
        built = build_dataset(
            sources,
            settings=context.settings,
            options=DatasetOptions(mode=context.policy.mode, compress=True),
            reasoning_teacher=reasoner,
            out=context.folder / "dataset",
            progress=False,
        )
    finally:
        if reasoner is not None:
            reasoner.close()
    state.dataset = built.folder
    counts = built.manifest.get("counts", {})
    return {"version": built.manifest.get("version"), **state.from_use, "counts": counts}


def reasoning_teacher(policy: RetrainingPolicy) -> str:
    """Who writes think-mode items' reasoning: the policy's first local model teacher (shown the
    answer, compressed to `DatasetOptions.compress_tokens`), else the student itself."""
    from training.teachers import LOCAL_PREFIX

    return next((t for t in policy.teachers if t.startswith(LOCAL_PREFIX)), "student")


def _gather_from_use(context: JobContext, state: StepOutputs) -> None:
    """Accepted fixes as a trajectory folder, and accepted-vs-rejected pairs for DPO."""
    from training.records import read_records
    from training.trajectory_store import ITEMS_FILE, MANIFEST_FILE

    assert state.extraction is not None
    heldout = read_records(state.extraction, "heldout")
    texts: dict[str, list[str]] = defaultdict(list)
    for record in heldout:
        texts[record.path].append(record.method_text)
    with context.sessions() as session:
        judged = from_use.judged_repairs(session, context.repository.id, {r.id for r in heldout})
        judged, showed_heldout = from_use.without_heldout_bodies(judged, texts)
        items = from_use.accepted_items(judged)
        pairs = from_use.preference_pairs(judged)
    folder = context.folder / "from_use"
    folder.mkdir(parents=True, exist_ok=True)
    if pairs:
        state.pairs = folder / "pairs.jsonl"
        state.pairs.write_text("".join(json.dumps(p) + "\n" for p in pairs), encoding="utf-8")
    state.from_use = {
        "accepted_items": len(items),
        "preference_pairs": len(pairs),
        "left_out_showing_heldout": showed_heldout,
    }
    if not items:
        return
    (folder / ITEMS_FILE).write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    manifest = {"extraction": {"folder": str(state.extraction), "name": context.repository.name}}
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest), encoding="utf-8")
    state.accepted = folder


def sft(context: JobContext, state: StepOutputs) -> dict:
    from training.adapter_manifest import read_manifest
    from training.sft_trainer import train_adapter

    with _cancellable():
        folder = train_adapter(
            state.dataset,
            context.folder / "adapters" / "sft",
            settings=context.student_settings,
            config=context.policy.sft_config(),
            resume=True,
            progress=False,
            should_cancel=context.cancel_requested,
            on_status=context.log,
        )
    state.candidates.append(Candidate("sft", folder))
    return {"base_model": context.student_settings.model, **read_manifest(folder).metrics}


def dpo(context: JobContext, state: StepOutputs) -> dict:
    """Continues the SFT adapter on the users' accepted-vs-rejected pairs."""
    from training.adapter_manifest import read_manifest
    from training.preference_trainer import train_dpo

    assert state.pairs is not None
    with _cancellable():
        folder = train_dpo(
            state.pairs,
            state.candidates[0].folder,
            context.folder / "adapters" / "dpo",
            context.student_settings,
            progress=False,
            should_cancel=context.cancel_requested,
            on_status=context.log,
        )
    state.candidates.append(Candidate("dpo", folder))
    return read_manifest(folder).metrics


def grpo(context: JobContext, state: StepOutputs) -> dict:
    """Continues the newest candidate (DPO's, else SFT's) with the tests as reward."""
    from training.adapter_manifest import read_manifest
    from training.rl_trainer import train_grpo

    with _cancellable():
        folder = train_grpo(
            state.extraction,
            context.repository.path,
            context.repository.python,
            state.candidates[-1].folder,
            context.folder / "adapters" / "grpo",
            context.student_settings,
            context.policy.grpo_config(),
            progress=False,
            should_cancel=context.cancel_requested,
            on_status=context.log,
        )
    state.candidates.append(Candidate("grpo", folder))
    return read_manifest(folder).metrics


def evaluate(context: JobContext, state: StepOutputs) -> dict:
    """Every candidate, what serves now (`state.baseline`) and, when that is an adapter, the
    served base model without one, on the same held-out broken methods, each through the engine
    of its own base (the candidates' is the student's). A cell measured by an earlier job on the
    same benchmark and settings (what serves now, the base) is read from the repository's cache."""
    from repomend.backends import serving_backend
    from training.adapter_manifest import EVAL_REPORT_FILE
    from training.evaluate import BASE, ModelUnderTest
    from training.evaluate import evaluate as run_evaluate
    from training.report import PLOT_FILE, write_report
    from training.storage import eval_cache_dir

    candidates = state.candidates
    current = ModelUnderTest("active" if state.baseline else BASE, str(state.baseline or "") or None)
    models = [current, *([ModelUnderTest(BASE)] if state.baseline else [])]
    models += [ModelUnderTest(c.name, str(c.folder)) for c in candidates]
    modes = [Mode(GATE_MODE)] + ([Mode.THINK] if context.policy.mode != DatasetMode.NO_THINK else [])
    try:
        backend = serving_backend(context.settings)
    except BackendError as err:
        raise EvaluationError(f"cannot load the model: {err}") from err
    try:
        report = run_evaluate(
            state.extraction,
            models,
            modes,
            settings=context.settings,
            backend=backend,
            turns=context.policy.turns,
            workers=EVAL_WORKERS,
            limit=context.policy.max_heldout,
            seed=context.policy.seed,
            python=context.repository.python,
            progress=False,
            should_cancel=context.cancel_requested,
            cache=eval_cache_dir(context.settings, context.repository.name),  # what serves, measured before
        )
    finally:
        backend.close()
    context.check_cancelled()
    write_report(report, context.folder / "eval")
    k = state.k = min(GATE_K, context.policy.turns)
    for candidate in candidates:
        shutil.copyfile(context.folder / "eval" / EVAL_REPORT_FILE, candidate.folder / EVAL_REPORT_FILE)
        shutil.copyfile(context.folder / "eval" / PLOT_FILE, candidate.folder / PLOT_FILE)  # the dashboard's
        candidate.pass_at_k = report.pass_at(candidate.name, GATE_MODE, k)
        candidate.seconds = seconds_per_method(report, candidate.name)
    state.baseline_pass_at_k = report.pass_at(current.name, GATE_MODE, k)
    state.baseline_seconds = seconds_per_method(report, current.name)
    if state.baseline:
        state.base = Contender(BASE, report.pass_at(BASE, GATE_MODE, k), seconds_per_method(report, BASE))
    return {
        "k": k,
        "baseline": state.baseline_pass_at_k,
        **({f"base_pass@{k}": state.base.pass_at_k} if state.base else {}),
        **{f"{c.name}_pass@{k}": c.pass_at_k for c in candidates},
        "seconds_per_method": {m.name: seconds_per_method(report, m.name) for m in models},
        "cached": [m.name for m in models if "cached" in report.cell(m.name, GATE_MODE)],
    }


def seconds_per_method(report: EvalReport, name: str) -> float:
    """How long the model took per held-out method in the gate's mode: what "faster" compares."""
    cell = report.cell(name, GATE_MODE)
    return round(cell["seconds"] / cell["n"], 2) if cell["n"] else 0.0
