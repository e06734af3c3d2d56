"""Held-out evaluation: base model vs adapters, think vs no-think, through the one repair loop.

Every (model, mode) pair repairs the same benchmark (training.benchmark) with up to `turns`
turns of test feedback. Pass@k is the share of methods fixed within k turns (cumulative over
the repair turns, k = 1..turns). For each final answer: exact match with the ground truth
(syntax trees compared, so layout and comments do not count) and CodeBLEU; in think mode the
reasoning length; for methods left unfixed, what the last answer failed with.

Methods run in parallel threads: generation in an in-process backend is serialised by its own
lock, so the threads overlap one method's sandboxed test runs with another's generation.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from repomend.backends.base import Backend, BackendError
from repomend.contract.conversation import Mode
from repomend.loop import RepairCancelled, RepairOptions, repair
from repomend.settings import Settings
from repomend.source import (
    CandidateRejected,
    SourceError,
    code_key,
    find_method,
    method_text,
    splice,
    spliced_key,
    without_docstring,
)
from repomend.trajectory import Attempt, Status, Trajectory
from training.benchmark import Benchmark, BenchmarkItem, Start, build_benchmark, choose_methods
from training.codebleu import codebleu, corpus_codebleu
from training.errors import EvaluationError
from training.eval_cache import adapter_fingerprint, cell_key, read_cell, write_cell
from training.normalize import normalize_code
from training.records import read_manifest, read_records

REPORT_FORMAT = 1
CACHED_CONFIG = (
    "engine", "model", "max_new_tokens", "thinking_budget",
    "temperature", "sample_temperature", "sampling_seed",
)  # fmt: skip
"""The settings a cell's results depend on, besides turns and samples (`training.eval_cache`).
`sampling_seed` is `Settings.seed`, which seeds the loop's sampled turns (the report's `seed`
chooses and breaks the benchmark's methods)."""


def cached_config(settings: Settings) -> dict[str, Any]:
    """The values of `CACHED_CONFIG` in these settings."""
    return {key: getattr(settings, "seed" if key == "sampling_seed" else key) for key in CACHED_CONFIG}


BASE = "base"
REPLY_EXCERPT = 400
"""Characters of each method's last reply kept in the report, to see what an unfixed answer said."""


@dataclass(frozen=True)
class ModelUnderTest:
    name: str
    """How the report names it: `base`, or the adapter's label."""
    adapter: str | None = None
    """What the backend receives as `adapter`: a name under the adapters folder or an absolute path."""


@dataclass
class EvalReport:
    """The report as JSON-ready data, with the look-ups a caller (the promotion gate) needs."""

    data: dict[str, Any]

    def cell(self, model: str, mode: str | Mode) -> dict[str, Any]:
        return self.data["results"][model][str(mode)]

    def pass_at(self, model: str, mode: str | Mode, k: int) -> float:
        """Share of held-out methods `model` fixed within `k` turns in `mode`."""
        return float(self.cell(model, mode)["pass_at"][str(k)])

    def to_json(self) -> str:
        return json.dumps(self.data, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def read(cls, path: Path) -> EvalReport:
        return cls(json.loads(Path(path).read_text(encoding="utf-8")))


# -- one method ------------------------------------------------------------------------------------


def final_method(trajectory: Trajectory) -> str | None:
    """The last answer as it reads in the file (docstring kept), or its raw code when it could not
    be spliced; None when the model never gave code."""
    attempt = trajectory.final
    if attempt is None:
        return None
    if attempt.new_source is not None:
        try:
            return method_text(attempt.new_source, find_method(attempt.new_source, trajectory.qualname))
        except SourceError:
            pass
    return attempt.candidate


def failure_kind(attempt: Attempt | None) -> str:
    """What the last answer of an unfixed method failed with, as one label."""
    if attempt is None:
        return "no answer"
    if attempt.repeat:
        return "repeated code"
    if attempt.rejection is not None:
        return "no code block" if "code block" in attempt.rejection else "rejected answer"
    results = attempt.results
    if results is None:
        return "not tested"
    if results.timed_out:
        return "Timeout"
    if results.crashed or results.killed_reason:
        return f"killed ({results.killed_reason or 'crash'})"
    if results.collection_errors:
        return "CollectionError"
    kinds = Counter(test.exception_type or "failed" for test in results.failures)
    return kinds.most_common(1)[0][0] if kinds else "failed"


def answer_key(attempt: Attempt, qualname: str) -> str | None:
    """The attempt's method as it would stand in the file, by what it does (`code_key`)."""
    if attempt.new_source is not None:
        try:
            return spliced_key(attempt.new_source, qualname)
        except SourceError:
            pass
    return code_key(attempt.candidate) if attempt.candidate is not None else None


def echo_count(trajectory: Trajectory) -> int:
    """Answers identical (by `code_key`) to the method as given or to an earlier answer: the
    model repeating code that already failed."""
    seen = {code_key(trajectory.original_method)}
    echoes = 0
    for turn in trajectory.turns:
        for attempt in turn.attempts:
            key = answer_key(attempt, trajectory.qualname)
            if key is None:
                continue
            echoes += key in seen
            seen.add(key)
    return echoes


def method_result(
    item: BenchmarkItem, trajectory: Trajectory, count_tokens: Callable[[str], int]
) -> dict[str, Any]:
    fixed_at: int | None = None
    if trajectory.status is Status.FIXED:
        fixed_at = trajectory.turns_used
    elif trajectory.status is Status.ALREADY_PASSING:
        fixed_at = 0
    answer = final_method(trajectory)
    attempts = [attempt for turn in trajectory.turns for attempt in turn.attempts]
    reasoning = [attempt.reasoning or "" for attempt in attempts]
    score = codebleu(without_docstring(answer), without_docstring(item.ground_truth)) if answer else None
    return {
        "id": item.id,
        "status": str(trajectory.status),
        "fixed_at": fixed_at,
        "turns": trajectory.turns_used,
        "exact_match": answer is not None and normalize_code(answer) == normalize_code(item.ground_truth),
        "codebleu": score.score if score else 0.0,
        "answer": answer,
        "last_reply": trajectory.final.reply[:REPLY_EXCERPT] if trajectory.final else None,
        "failure": None
        if fixed_at is not None
        else ("engine failed" if trajectory.status is Status.FAILED else failure_kind(trajectory.final)),
        "error": trajectory.error,
        "reasoning_words": [len(text.split()) for text in reasoning],
        "reasoning_tokens": [count_tokens(text) if text else 0 for text in reasoning],
        "budget_forced": sum(1 for attempt in attempts if attempt.budget_forced),
        "answers": len(attempts),
        "echoes": echo_count(trajectory),
        "completion_tokens": sum(attempt.completion_tokens for attempt in attempts),
        "generation_seconds": round(sum(attempt.generation_seconds for attempt in attempts), 3),
        "test_seconds": round(sum(attempt.test_seconds for attempt in attempts), 3),
        "seconds": round(trajectory.seconds, 3),
    }


def error_result(item: BenchmarkItem, error: Exception) -> dict[str, Any]:
    """A method the backend could not even answer (e.g. a prompt past the context): unfixed."""
    return {
        "id": item.id,
        "status": "error",
        "fixed_at": None,
        "turns": 0,
        "exact_match": False,
        "codebleu": 0.0,
        "answer": None,
        "last_reply": None,
        "failure": f"{type(error).__name__}",
        "error": str(error)[:500],
        "reasoning_words": [],
        "reasoning_tokens": [],
        "budget_forced": 0,
        "answers": 0,
        "echoes": 0,
        "completion_tokens": 0,
        "generation_seconds": 0.0,
        "test_seconds": 0.0,
        "seconds": 0.0,
    }


# -- one (model, mode) cell --------------------------------------------------------------------


def summarize(
    methods: list[dict[str, Any]], items: Sequence[BenchmarkItem], turns: int, mode: Mode
) -> dict[str, Any]:
    """Pass@1..turns, exact match, CodeBLEU (corpus), reasoning length and failures of one cell."""
    n = len(methods)
    pass_at = pass_at_k(methods, turns)
    truth = {item.id: item.ground_truth for item in items}
    pairs = [(without_docstring(m["answer"] or ""), without_docstring(truth[m["id"]])) for m in methods]
    corpus = corpus_codebleu(pairs) if pairs else None
    summary: dict[str, Any] = {
        "n": n,
        "fixed": sum(1 for m in methods if m["fixed_at"] is not None),
        "pass_at": pass_at,
        "exact_match": sum(1 for m in methods if m["exact_match"]) / n if n else 0.0,
        "codebleu": corpus.to_dict() if corpus else None,
        "codebleu_mean": statistics.fmean(m["codebleu"] for m in methods) if n else 0.0,
        "failures": dict(Counter(m["failure"] for m in methods if m["failure"]).most_common()),
        "mean_turns": statistics.fmean(m["turns"] for m in methods) if n else 0.0,
        "generation_seconds": round(sum(m["generation_seconds"] for m in methods), 2),
        "test_seconds": round(sum(m["test_seconds"] for m in methods), 2),
        "by_fix_type": by_fix_type(methods, items, turns),
    }
    if mode is Mode.THINK:
        words = [w for m in methods for w in m["reasoning_words"]]
        tokens = [t for m in methods for t in m["reasoning_tokens"]]
        summary["reasoning"] = {
            "answers": len(tokens),
            "mean_words": round(statistics.fmean(words), 1) if words else 0.0,
            "mean_tokens": round(statistics.fmean(tokens), 1) if tokens else 0.0,
            "median_tokens": statistics.median(tokens) if tokens else 0,
            "budget_forced": sum(m["budget_forced"] for m in methods),
        }
    return summary


def pass_at_k(methods: list[dict[str, Any]], turns: int) -> dict[str, float]:
    """The share of methods fixed within k turns, for k = 1..turns (0 for no methods)."""
    n = len(methods)
    return {
        str(k): sum(1 for m in methods if m["fixed_at"] is not None and m["fixed_at"] <= k) / n if n else 0.0
        for k in range(1, turns + 1)
    }


def by_fix_type(
    methods: list[dict[str, Any]], items: Sequence[BenchmarkItem], turns: int
) -> dict[str, dict[str, Any]]:
    """Pass@k per kind of fix the methods needed (`BenchmarkItem.fix_type`): which bugs a model
    repairs and which it does not."""
    kinds = {item.id: item.fix_type for item in items}
    return pass_at_by_kind(((kinds[method["id"]], method) for method in methods), turns)


def pass_at_by_kind(kinded: Iterable[tuple[str, dict[str, Any]]], turns: int) -> dict[str, dict[str, Any]]:
    """Methods, fixes and Pass@k per kind, over (kind, method result) pairs."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for kind, method in kinded:
        groups.setdefault(kind, []).append(method)
    return {
        kind: {
            "n": len(group),
            "fixed": sum(1 for m in group if m["fixed_at"] is not None),
            "pass_at": pass_at_k(group, turns),
        }
        for kind, group in sorted(groups.items())
    }


def run_cell(
    benchmark: Benchmark,
    repo: Path,
    backend: Backend,
    options: RepairOptions,
    borrow_runner: Callable[[], Any],
    *,
    workers: int,
    count_tokens: Callable[[str], int],
    on_method: Callable[[], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> list[dict[str, Any]]:
    """Every benchmark method through the loop, `workers` at a time; results in benchmark order."""
    stop = threading.Event()

    def cancelled() -> bool:
        return stop.is_set() or bool(should_cancel and should_cancel())

    def one(item: BenchmarkItem) -> dict[str, Any]:
        if cancelled():
            raise RepairCancelled
        start = "repair" if item.start == "mutant" else "generate"
        with borrow_runner() as run:
            try:
                truth = splice(item.source, find_method(item.source, item.qualname), item.ground_truth)
                reference = run(repo, item.tests, overrides={item.path: truth})  # memoised by the pool
                request = replace(item.request(repo), reference=reference, ground_truth=item.ground_truth)
                trajectory = repair(
                    request, backend, run, replace(options, start=start), should_cancel=cancelled
                )
            except (BackendError, SourceError, CandidateRejected) as err:
                return error_result(item, err)
        if trajectory.status is Status.CANCELLED:
            raise RepairCancelled
        return method_result(item, trajectory, count_tokens)

    results: dict[str, dict[str, Any]] = {}
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="eval") as executor:
        futures = {executor.submit(one, item): item for item in benchmark.items}
        try:
            for future in as_completed(futures):
                results[futures[future].id] = future.result()
                if on_method:
                    on_method()
        except BaseException:
            stop.set()
            raise
    return [results[item.id] for item in benchmark.items]


# -- the whole evaluation ------------------------------------------------------------------------


def token_counter(settings: Settings) -> tuple[Callable[[str], int], str]:
    """Reasoning tokens as the served model counts them; a tokenizer-free estimate otherwise."""
    from training.reasoning import estimate_tokens

    if settings.engine == "transformers":
        try:
            from transformers import AutoTokenizer

            from repomend.backends.model_files import resolve_model

            tokenizer = AutoTokenizer.from_pretrained(resolve_model(settings).location, local_files_only=True)
            return (
                lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])
            ), "model tokenizer"
        except Exception:  # any failure means: estimate instead
            pass
    return estimate_tokens, "estimate (words and punctuation)"


def evaluate(
    extraction_dir: Path,
    models: Sequence[ModelUnderTest],
    modes: Sequence[Mode] = (Mode.NO_THINK,),
    *,
    settings: Settings,
    backend: Backend | None = None,
    turns: int = 5,
    samples: int = 1,
    workers: int = 2,
    limit: int | None = None,
    start: Start = "mutant",
    seed: int = 0,
    python: str | Path | None = None,
    benchmark: Benchmark | None = None,
    warm: bool = True,
    progress: bool = True,
    should_cancel: Callable[[], bool] | None = None,
    count_tokens: Callable[[str], int] | None = None,
    cache: Path | None = None,
) -> EvalReport:
    """Evaluate each model in each mode on the held-out methods of an extraction.

    Pass@k counts turns; `samples` answers are tested per turn (one by default, the published
    protocol, whatever the engine serves with). `backend` defaults to `load_backend(settings)`
    (closed afterwards); `benchmark` replays the
    inputs of an earlier report instead of breaking the methods again. When `should_cancel`
    turns true, the methods in flight stop at their next turn and `repomend.loop.RepairCancelled`
    is raised (nothing is reported). With a `cache` folder, a cell measured before on the same
    benchmark under the same settings is read from it rather than run (`training.eval_cache`).
    """
    from tqdm import tqdm

    from training.generate import RunnerPool

    if turns < 1 or samples < 1 or workers < 1:
        raise EvaluationError("turns, samples and workers must be at least 1")
    if not models or not modes:
        raise EvaluationError("name at least one model and one mode")
    names = [model.name for model in models]
    if len(set(names)) != len(names):
        raise EvaluationError(f"model names must differ: {', '.join(names)}")
    try:
        manifest = read_manifest(extraction_dir)
        heldout = read_records(extraction_dir, "heldout")
    except (OSError, ValueError, TypeError) as err:
        raise EvaluationError(f"{extraction_dir} is not an extraction folder ({err})") from err
    repo = Path(manifest.repository)
    if not repo.is_dir():
        raise EvaluationError(f"the extracted repository is gone: {repo}")
    if benchmark is None and not heldout:
        raise EvaluationError(
            f"{extraction_dir} has no held-out methods (extract with --heldout-fraction > 0)"
        )

    started = time.perf_counter()
    settings_config = cached_config(settings)
    size = max(1, min(workers, len(heldout) or workers))
    pool = RunnerPool(repo, python or manifest.python, settings, size, warm)
    own_backend = backend is None
    try:
        if benchmark is None:
            chosen = choose_methods(heldout, seed=seed, limit=limit)
            benchmark = build_benchmark(chosen, repo, pool.borrow, start=start, seed=seed, workers=size)
        if not benchmark.items:
            raise EvaluationError(
                "no held-out method could be benchmarked (their files changed since extraction?)"
            )
        if backend is None:
            from repomend.backends import load_backend

            try:
                backend = load_backend(settings)
            except BackendError as err:
                raise EvaluationError(f"cannot load the model: {err}") from err
        if count_tokens is None:
            count_tokens, counter_name = token_counter(settings)
        else:
            counter_name = "given"
        results: dict[str, dict[str, Any]] = {}
        stored = benchmark.to_dict()
        same_results = {**settings_config, "turns": turns, "samples": samples, "tokens": counter_name}
        weights = {model.name: adapter_fingerprint(model.adapter) for model in models}
        cells = [(model, mode) for model in models for mode in modes]
        bar = tqdm(
            total=len(cells) * len(benchmark.items), desc="evaluating", unit="method", disable=not progress
        )
        try:
            for model, mode in cells:
                bar.set_postfix_str(f"{model.name} {mode}")
                described = backend.describe(model.adapter)
                key = cell_key(
                    benchmark=stored,
                    config=same_results,
                    described=described,
                    weights=weights[model.name],
                    mode=str(mode),
                )
                cached = read_cell(cache, key)
                if cached is not None:
                    results.setdefault(model.name, {})[str(mode)] = {**cached, "cached": key}
                    bar.update(len(benchmark.items))
                    continue
                options = RepairOptions.from_settings(
                    settings, mode=mode, max_turns=turns, samples_per_turn=samples, adapter=model.adapter
                )
                cell_started = time.perf_counter()
                methods = run_cell(
                    benchmark,
                    repo,
                    backend,
                    options,
                    pool.borrow,
                    workers=size,
                    count_tokens=count_tokens,
                    on_method=lambda: bar.update(1),
                    should_cancel=should_cancel,
                )
                summary = summarize(methods, benchmark.items, turns, Mode(mode))
                summary["seconds"] = round(time.perf_counter() - cell_started, 2)
                summary["model"] = described
                summary["methods"] = methods
                results.setdefault(model.name, {})[str(mode)] = summary
                write_cell(cache, key, summary)
        finally:
            bar.close()
    finally:
        pool.close()
        if own_backend and backend is not None:
            backend.close()

    data = {
        "format": REPORT_FORMAT,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "extraction": {
            "folder": str(Path(extraction_dir).resolve()),
            "version": manifest.version,
            "name": manifest.name,
            "repository": manifest.repository,
            "commit": manifest.commit,
        },
        "config": {
            "turns": turns,
            "samples_per_turn": samples,
            "modes": [str(mode) for mode in modes],
            "workers": size,
            "seed": seed,
            "limit": limit,
            **settings_config,
            "reasoning_tokens": counter_name,
        },
        "models": {model.name: {"adapter": model.adapter} for model in models},
        "benchmark": benchmark.to_dict(),
        "results": results,
        "seconds": round(time.perf_counter() - started, 2),
    }
    return EvalReport(data)
