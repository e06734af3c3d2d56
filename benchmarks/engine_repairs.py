"""Pass@1..5 of the catalogue models through the llama.cpp engine, on held-out methods of real packages.

Each development package (its pinned sdist, with its own tests, prepared as in
`train_real_packages.py`) is extracted once; its held-out methods are broken once (mutants the
tests reject, else the body removed) into a benchmark that every model then replays, so all
models repair exactly the same inputs. Each model runs the serving loop (no-think by default, 5
turns, one sample) through `repomend`'s own llama.cpp engine. Reported, per model: Pass@k pooled
over the packages with 95% bootstrap intervals (methods resampled), per package, the fixes made
after turn 1, the echo rate (answers identical to code already tested), the mean turns to a fix,
seconds and generated tokens per method, and one repair turn's median seconds for turn 1 and for
turns 2-5 with the prompt tokens evaluated vs taken from the engine's cache.

Run: `.venv/bin/python benchmarks/engine_repairs.py [--packages isodate,itsdangerous,toolz]
[--models smollm2-135m,qwen2.5-coder-0.5b,qwen2.5-coder-1.5b] [--limit 12] [--first N]
[--methods ID,...] [--turns 5] [--samples 1] [--mode no-think|think] [--start mutant|generate]
[--tag NAME]`. The broken
methods are stored per package and seed the first time
(`<work>/<package>/benchmark-seed<S>-limit<L>.json`) and replayed by every later run, whichever
the model, variant or code version; `--first N` and `--methods` replay a part, and with
`--extend` that part is joined to the run stored under the same tag (same model, adapter and
settings): a run of `--limit 10` grows to `--limit 20` by running the ten new methods only.
`--prepare` stores the broken methods without running a model.
`--compare before,after,think@think` runs nothing: it pools the per-package reports those runs
stored (`TAG@MODE` for a mode other than no-think) on the methods all of them have, and gives each
run's Pass@k, echo rate, seconds and tokens per method, and its paired difference (95% bootstrap)
against the first run.
`--without failing-line,new-approach,repeat-prompt` measures the loop with parts of its follow-up
framing switched off (the method's failing line leading the test output; the "try a different
approach" line after the same failure twice; the repeat prompt, which says an answer was code
already tested): give each such run a tag of its own and `--compare` it with the full loop.
Needs PyPI for the package sdists the first time, and the models pulled. Results go to
`<work>/engine_repairs-<tag>.json` as each model finishes; the load average is printed beside
every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_real_packages import PACKAGES, checkout, log

from repomend.backends import load_backend
from repomend.backends.base import Backend, Completion, GenerationConfig
from repomend.contract.conversation import Message, Mode
from repomend.settings import SandboxSettings, Settings
from training.evaluate import CACHED_CONFIG, pass_at_by_kind, pass_at_k

PACKAGES.setdefault("toolz", {"version": "1.0.0", "requirements": ["pytest", "coverage"]})
MODELS = "smollm2-135m,qwen2.5-coder-0.5b,qwen2.5-coder-1.5b"


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


class Recording(Backend):
    """The engine, with each request's timing and prompt-cache use kept, split by turn."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.calls: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def generate(
        self, messages: list[Message], *, mode: Mode, config: GenerationConfig, n: int = 1, adapter=None
    ) -> list[Completion]:
        completions = self.inner.generate(messages, mode=mode, config=config, n=n, adapter=adapter)
        first = completions[0]
        # The opening turn holds at most the user's broken method as an earlier answer.
        later = sum(1 for m in messages if m["role"] == "assistant") > 1
        with self._lock:
            self.calls.append(
                {
                    "later": later,
                    "seconds": first.seconds,
                    "prompt": first.prompt_tokens,
                    "cached": first.cached_tokens,
                    "tokens": first.completion_tokens,
                }
            )
        return completions

    def context_size(self) -> int | None:
        return self.inner.context_size()

    def count_prompt_tokens(self, messages: list[Message], mode: Mode) -> int:
        return self.inner.count_prompt_tokens(messages, mode)

    def describe(self, adapter=None) -> str:
        return self.inner.describe(adapter)

    def close(self) -> None:
        self.inner.close()


FRAMING_PARTS = ("failing-line", "new-approach", "repeat-prompt")


def switch_off(parts: list[str]) -> None:
    """Run this process's loop with the named parts of the follow-up framing left out. For
    measuring what each part is worth only: serving and training always use the whole contract."""
    from repomend.contract import feedback, prompts

    unknown = sorted(set(parts) - set(FRAMING_PARTS))
    if unknown:
        raise SystemExit(f"--without: unknown parts {unknown}; known: {', '.join(FRAMING_PARTS)}")
    if "failing-line" in parts:
        feedback.failing_line = lambda result, path, name: None
    whole = prompts.iteration_prompt

    def iteration_prompt(test_output: str, *, repeat: bool = False, stuck: bool = False) -> str:
        return whole(
            test_output,
            repeat=repeat and "repeat-prompt" not in parts,
            stuck=stuck and "new-approach" not in parts,
        )

    prompts.iteration_prompt = iteration_prompt


def fixed_within(f: int | None, k: int) -> int:
    """1 when a method fixed at turn `f` (None: never) counts for Pass@k."""
    return int(f is not None and f <= k)


def resampled_interval(
    n: int, statistic: Callable[[list[int]], float], rounds: int = 2000
) -> tuple[float, float]:
    """95% bootstrap interval of `statistic` over the methods' indices resampled with replacement."""
    rng = random.Random(0)
    values = sorted(statistic([rng.randrange(n) for _ in range(n)]) for _ in range(rounds))
    return values[int(0.025 * rounds)], values[int(0.975 * rounds) - 1]


def bootstrap(fixed_at: list[int | None], k: int) -> tuple[float, float]:
    n = len(fixed_at)
    if not n:
        return (0.0, 0.0)
    return resampled_interval(n, lambda sample: sum(fixed_within(fixed_at[i], k) for i in sample) / n)


def extraction(name: str, work: Path, settings: Settings, seed: int) -> Path:
    from training.extract import extract

    repo = checkout(name, work)
    folder = work / name / "extraction-engine"
    if not (folder / "manifest.json").is_file():
        # Nothing is trained here: half the methods are held out, so the benchmark is large.
        extract(repo, python=repo / ".venv" / "bin" / "python", settings=settings, seed=seed,
                heldout_fraction=0.5, out=folder, on_status=log)  # fmt: skip
    return folder


def turn_figures(calls: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, later in (("turn 1", False), ("turns 2-5", True)):
        chosen = [c for c in calls if c["later"] is later]
        if chosen:
            out[label] = {
                "requests": len(chosen),
                "median_seconds": round(statistics.median(c["seconds"] for c in chosen), 2),
                "median_prompt_tokens": statistics.median(c["prompt"] for c in chosen),
                "median_evaluated": statistics.median(c["prompt"] - c["cached"] for c in chosen),
                "median_cached": statistics.median(c["cached"] for c in chosen),
            }
    return out


def fixed_benchmark(work: Path, name: str, limit: int, seed: int, start: str = "mutant") -> Path:
    """Where a package's broken methods are kept, so every run (model, variant, code version)
    replays exactly the same inputs; mutants and removed bodies are two benchmarks."""
    suffix = "" if start == "mutant" else f"-{start}"
    return work / name / f"benchmark-seed{seed}-limit{limit}{suffix}.json"


def adapter_folder(work: Path, name: str, tag: str) -> Path:
    """Where `adapter_training.py --tag TAG` keeps a package's trajectories, dataset and adapter."""
    return work / name / f"adapter-{tag}"


def reasoning_figures(tokens: list[int]) -> dict[str, Any] | None:
    """Think-mode reasoning length over every answer that had some."""
    if not tokens:
        return None
    mean = round(statistics.fmean(tokens), 1)
    return {"answers": len(tokens), "mean": mean, "median": statistics.median(tokens)}


def pooled_figures(methods: list[dict[str, Any]], turns: int) -> dict[str, Any]:
    """Pass@k with intervals, echo rate, turns and time over the pooled methods."""
    fixed_at = [m["fixed_at"] for m in methods]
    n = len(fixed_at)
    pooled = {}
    for k, value in pass_at_k(methods, turns).items():
        low, high = bootstrap(fixed_at, int(k))
        pooled[k] = {"value": round(value, 3), "ci95": [round(low, 3), round(high, 3)]}
    fixed_turns = [f for f in fixed_at if f]
    reasoning = [t for m in methods for t in m.get("reasoning_tokens", []) if t]
    answers = sum(m.get("answers", 0) for m in methods)
    echoes = sum(m.get("echoes", 0) for m in methods)
    return {
        "methods": n,
        "fixed": len(fixed_turns),
        "fixed_after_turn_1": sum(1 for f in fixed_turns if f > 1),
        "pooled_pass_at": pooled,
        "echo_rate": round(echoes / answers, 3) if answers else None,
        "answers": answers,
        "echoes": echoes,
        "errors": sum(1 for m in methods if m["status"] in ("error", "failed")),
        "exact_match": round(statistics.fmean(m["exact_match"] for m in methods), 3) if methods else None,
        "codebleu_mean": round(statistics.fmean(m["codebleu"] for m in methods), 3) if methods else None,
        "reasoning_tokens": reasoning_figures(reasoning),
        "mean_turns_to_fix": round(statistics.fmean(fixed_turns), 2) if fixed_turns else None,
        "seconds_per_method": round(statistics.fmean(m["seconds"] for m in methods), 1) if methods else None,
        "completion_tokens_per_method": round(statistics.fmean(m["completion_tokens"] for m in methods), 1)
        if methods
        else None,
    }


def stored_methods(work: Path, packages: list[str], model: str, run: str) -> dict[str, dict[str, Any]]:
    """The per-method results a run (`TAG` or `TAG@MODE`) left in its per-package reports, by id."""
    tag, _, mode = run.partition("@")
    mode = mode or str(Mode.NO_THINK)
    found: dict[str, dict[str, Any]] = {}
    for name in packages:
        report = work / name / f"engine-{model}-{mode}-{tag}.json"
        if report.is_file():
            # One model per report: the base, or the base with the run's adapter.
            cell = next(iter(json.loads(report.read_text(encoding="utf-8"))["results"].values()))[mode]
            found.update({f"{name}:{m['id']}": m for m in cell["methods"]})
    return found


def paired_difference(a: list[int | None], b: list[int | None], k: int) -> dict[str, Any]:
    """Pass@k of `b` minus `a` on the same methods, with a 95% bootstrap interval (methods resampled)."""
    n = len(a)

    def difference(sample: Iterable[int]) -> float:
        return sum(fixed_within(b[i], k) - fixed_within(a[i], k) for i in sample) / n

    low, high = resampled_interval(n, difference)
    return {"value": round(difference(range(n)), 3), "ci95": [round(low, 3), round(high, 3)]}


def stored_fix_types(work: Path, packages: list[str], limit: int, seed: int, start: str) -> dict[str, str]:
    """The fix type each replayed method needs, by `package:id`, from the stored benchmarks (so
    reports written before fix types were recorded are grouped too)."""
    from training.benchmark import Benchmark

    kinds: dict[str, str] = {}
    for name in packages:
        stored = fixed_benchmark(work, name, limit, seed, start)
        if stored.is_file():
            data = json.loads(stored.read_text(encoding="utf-8"))
            replay = Benchmark.from_dict(data["benchmark"], Path(data["repository"]))
            kinds.update({f"{name}:{item.id}": item.fix_type for item in replay.items})
    return kinds


def compare(
    work: Path, packages: list[str], models: list[str], runs: list[str], turns: int, kinds: dict[str, str]
) -> dict[str, Any]:
    """Pooled figures of each stored run (also per fix type) and, against the first, the paired
    difference, on the methods every run has (no model is run)."""
    out: dict[str, Any] = {}
    for model in models:
        stored = {run: stored_methods(work, packages, model, run) for run in runs}
        shared = sorted(set.intersection(*(set(found) for found in stored.values())))
        if not shared:
            continue
        rows: dict[str, Any] = {}
        first = [stored[runs[0]][key]["fixed_at"] for key in shared]
        for run in runs:
            methods = [stored[run][key] for key in shared]
            rows[run] = pooled_figures(methods, turns)
            rows[run]["by_fix_type"] = pass_at_by_kind(
                ((kinds.get(key, "other"), stored[run][key]) for key in shared), turns
            )
            if run != runs[0]:
                fixed_at = [m["fixed_at"] for m in methods]
                rows[run]["difference_vs_" + runs[0]] = {
                    str(k): paired_difference(first, fixed_at, k) for k in range(1, turns + 1)
                }
            row = rows[run]
            versus = row.get("difference_vs_" + runs[0], {}).get(str(turns))
            first_k, last = row["pooled_pass_at"]["1"], row["pooled_pass_at"][str(turns)]
            log(f"{model} [{run}] on {len(shared)} methods: Pass@1 {first_k['value']:.2f}, "
                f"Pass@{turns} {last['value']:.2f} {last['ci95']}, echo rate {row['echo_rate']}, "
                f"{row['seconds_per_method']} s and {row['completion_tokens_per_method']} tokens "
                "per method" + (f"; Pass@{turns} minus {runs[0]}'s: {versus}" if versus else ""))  # fmt: skip
        out[model] = {"methods": len(shared), "runs": rows}
    return out


def store_benchmark(
    folder: Path, stored: Path, settings: Settings, limit: int, seed: int, start: str
) -> None:
    """Break a package's held-out methods once and store them, as a first run would, so that runs of
    parts of them (`--methods`) replay the same inputs."""
    from training.benchmark import build_benchmark, choose_methods
    from training.generate import RunnerPool
    from training.records import read_manifest, read_records

    manifest = read_manifest(folder)
    repo = Path(manifest.repository)
    chosen = choose_methods(read_records(folder, "heldout"), seed=seed, limit=limit)
    pool = RunnerPool(repo, manifest.python, settings, 2, True)
    try:
        benchmark = build_benchmark(chosen, repo, pool.borrow, start=start, seed=seed, workers=2)
    finally:
        pool.close()
    write_benchmark(stored, benchmark.to_dict(), manifest.repository)


def write_benchmark(stored: Path, benchmark: dict[str, Any], repository: str) -> None:
    """The broken methods every later run of the package replays, and the repository they are in."""
    stored.write_text(json.dumps({"benchmark": benchmark, "repository": repository}), encoding="utf-8")


SAME_RUN = ("turns", "samples_per_turn", "modes", "seed", *CACHED_CONFIG)
"""Report settings two parts of one run must share (`--extend`): the ones a cell's results depend on."""


def extend_run(previous: dict[str, Any], report: dict[str, Any], turns: int) -> dict[str, Any]:
    """`report` (a run of some methods) joined to the run stored before under the same tag: same
    model, adapter and settings, so the union is one run over more methods; a method in both is
    taken from `report`."""
    from training.benchmark import Benchmark
    from training.evaluate import summarize

    name, cells = next(iter(report["results"].items()))  # one model and one mode per report
    mode, cell = next(iter(cells.items()))
    earlier = previous["results"].get(name, {}).get(mode)
    settings = [{key: run["config"].get(key) for key in SAME_RUN} for run in (previous, report)]
    same = settings[0] == settings[1] and previous["models"] == report["models"]
    if earlier is None or not same or earlier["model"] != cell["model"]:
        raise SystemExit("--extend: the stored run had another model or settings; give a new --tag")
    again = {method["id"] for method in cell["methods"]}
    methods = [m for m in earlier["methods"] if m["id"] not in again] + cell["methods"]
    items = {item["id"]: item for item in previous["benchmark"]["items"] + report["benchmark"]["items"]}
    benchmark = Benchmark.from_dict({**report["benchmark"], "items": list(items.values())},
                                    Path(report["extraction"]["repository"]))  # fmt: skip
    joined = summarize(methods, benchmark.items, turns, Mode(mode))
    joined.update(seconds=round(earlier["seconds"] + cell["seconds"], 2), model=cell["model"])
    joined["methods"] = methods
    return {**report, "benchmark": benchmark.to_dict(), "results": {name: {mode: joined}},
            "seconds": round(previous["seconds"] + report["seconds"], 2)}  # fmt: skip


def main() -> int:
    from training.benchmark import Benchmark
    from training.evaluate import BASE, EvalReport, ModelUnderTest, evaluate

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packages", default="isodate,itsdangerous,toolz")
    parser.add_argument("--models", default=MODELS)
    parser.add_argument("--work", type=Path, default=Path("/tmp/repomend-real-packages"))
    parser.add_argument("--limit", type=int, default=12, help="held-out methods per package")
    parser.add_argument("--first", type=int, help="replay only the first N stored methods of each package")
    parser.add_argument("--methods", help="replay only these stored methods (comma-separated ids)")
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--samples", type=int, default=1, help="samples per turn")
    parser.add_argument("--mode", choices=[str(m) for m in Mode], default=str(Mode.NO_THINK))
    parser.add_argument("--start", choices=("mutant", "generate"), default="mutant",
                        help="a mutant each method's tests reject, or its body removed")  # fmt: skip
    parser.add_argument("--max-new-tokens", type=int, default=512)
    parser.add_argument("--workers", type=int, default=1, help="methods in flight (tests overlap generation)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tag", default="default", help="names this run's result files")
    parser.add_argument("--without", default="", metavar="PART,...",
                        help="leave out parts of the framing: " + ",".join(FRAMING_PARTS))  # fmt: skip
    parser.add_argument("--adapter", metavar="TAG",
                        help="serve each package's adapter <work>/<package>/adapter-TAG/adapter "
                        "(made by adapter_training.py) on the base model")  # fmt: skip
    parser.add_argument("--prepare", action="store_true",
                        help="only fetch and extract the packages, store their broken methods")  # fmt: skip
    parser.add_argument("--extend", action="store_true",
                        help="join this run's methods (--methods) to the run stored under --tag "
                        "instead of replacing it")  # fmt: skip
    parser.add_argument("--compare", metavar="TAG[@MODE],...",
                        help="run nothing: pool the stored runs' reports and give each one's paired "
                        "difference against the first, on the methods all of them have")  # fmt: skip
    args = parser.parse_args()
    if args.compare:
        runs, packages = args.compare.split(","), args.packages.split(",")
        kinds = stored_fix_types(args.work, packages, args.limit, args.seed, args.start)
        figures = compare(args.work, packages, args.models.split(","), runs, args.turns, kinds)
        print(json.dumps(figures, indent=2))
        return 0
    switch_off([part for part in args.without.split(",") if part])
    mode = Mode(args.mode)
    settings = Settings(
        engine="llamacpp", sandbox=SandboxSettings(wall_seconds=120), max_new_tokens=args.max_new_tokens,
        samples_per_turn=args.samples,
    )  # fmt: skip
    folders = {name: extraction(name, args.work, settings, args.seed) for name in args.packages.split(",")}
    if args.extend and not args.methods:
        raise SystemExit("--extend joins the methods named by --methods to a stored run: name them")
    if args.prepare:
        for name, folder in folders.items():
            stored = fixed_benchmark(args.work, name, args.limit, args.seed, args.start)
            if not stored.is_file():
                store_benchmark(folder, stored, settings, args.limit, args.seed, args.start)
                log(f"{name}: broken methods stored in {stored}")
        return 0
    out_file = args.work / f"engine_repairs-{args.tag}.json"
    results: dict[str, Any] = json.loads(out_file.read_text()) if out_file.is_file() else {}
    for model in args.models.split(","):
        model_settings = settings.model_copy(update={"model": model})
        backend = Recording(load_backend(model_settings))
        per_package: dict[str, Any] = {}
        methods: list[dict[str, Any]] = []
        try:
            for name, folder in folders.items():
                report_path = args.work / name / f"engine-{model}-{mode}-{args.tag}.json"
                stored = fixed_benchmark(args.work, name, args.limit, args.seed, args.start)
                replay = None
                if stored.is_file():
                    data = json.loads(stored.read_text(encoding="utf-8"))
                    replay = Benchmark.from_dict(data["benchmark"], Path(data["repository"]))
                    replay.items = replay.items[: args.first]
                    if args.methods:
                        replay.items = [item for item in replay.items if item.id in args.methods.split(",")]
                    if not replay.items:
                        continue
                elif args.extend:
                    raise SystemExit(f"--extend replays stored broken methods: --prepare {name} first")
                started = time.perf_counter()
                served = ModelUnderTest(BASE)
                if args.adapter:
                    adapter = adapter_folder(args.work, name, args.adapter) / "adapter"
                    if not (adapter / "adapter_config.json").is_file():
                        raise SystemExit(f"no adapter at {adapter}: train it with adapter_training.py")
                    served = ModelUnderTest(f"adapter-{args.adapter}", str(adapter))
                report = evaluate(folder, [served], [mode], settings=model_settings,
                                  backend=backend, turns=args.turns, samples=args.samples,
                                  workers=args.workers, limit=args.limit, seed=args.seed,
                                  start=args.start, benchmark=replay,
                                  progress=False)  # fmt: skip
                if args.extend and report_path.is_file():
                    earlier = EvalReport.read(report_path).data
                    report = EvalReport(extend_run(earlier, report.data, args.turns))
                report_path.write_text(report.to_json(), encoding="utf-8")
                if replay is None:
                    data = report.data
                    write_benchmark(stored, data["benchmark"], data["extraction"]["repository"])
                cell = report.cell(served.name, mode)
                methods += cell["methods"]
                per_package[name] = {
                    "n": cell["n"], "pass_at": cell["pass_at"], "failures": cell["failures"],
                    "exact_match": cell["exact_match"], "codebleu_mean": round(cell["codebleu_mean"], 3),
                    "reasoning": cell.get("reasoning"),
                }  # fmt: skip
                log(f"{model} on {name}: {cell['fixed']}/{cell['n']} fixed, Pass@1..5 "
                    f"{[round(v, 2) for v in cell['pass_at'].values()]}, "
                    f"{time.perf_counter() - started:.0f} s "
                    f"[{load()}]")  # fmt: skip
        finally:
            backend.close()
        results[model] = {
            **pooled_figures(methods, args.turns),
            "mode": str(mode),
            "samples_per_turn": args.samples,
            "without": args.without,
            "adapter": args.adapter,
            "per_package": per_package,
            "turns": turn_figures(backend.calls),
            "load_average": os.getloadavg(),
        }
        out_file.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        row = results[model]
        first, last = row["pooled_pass_at"]["1"], row["pooled_pass_at"][str(args.turns)]
        log(f"{model} [{args.tag}]: pooled over {len(methods)} methods: Pass@1 {first['value']:.2f} "
            f"{first['ci95']}, Pass@{args.turns} {last['value']:.2f} {last['ci95']}; echo rate "
            f"{row['echo_rate']}; {row['seconds_per_method']} s/method [{load()}]")  # fmt: skip
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
